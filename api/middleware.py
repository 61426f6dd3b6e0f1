"""The outermost layer of every HTTP request, as one pure ASGI middleware.

It gives each request an ``X-Request-ID`` (the caller's when well-formed, a new one otherwise),
refuses bodies over the configured size with 413, turns any unexpected exception into a generic
500 problem, records Prometheus metrics by route template, and writes one log line per request:
method, route template, status, duration and request id, never the query string or the body.
"""

import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import client_ip_var, request_id_var
from api.errors import problem_response
from api.logging import exception_location, get_logger
from api.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

log = get_logger("relay.http")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; rendered as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the {limit} bytes accepted.")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _WELL_FORMED_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        client = scope.get("client")
        ip_token = client_ip_var.set(client[0] if client else None)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                response = problem_response(
                    413 if declared.isdigit() else 400,
                    detail=(
                        f"The request body is larger than the {limit} bytes accepted."
                        if declared.isdigit()
                        else "Content-Length is not a number."
                    ),
                )
                await response(scope, receive, send_with_request_id)
            else:
                await self.app(scope, receive_within_limit, send_with_request_id)
        except Exception as exc:
            log.error("unhandled_exception", request_id=request_id, **exception_location(exc))
            if response_started:
                raise
            status = 500
            await problem_response(
                500, detail="An unexpected error occurred. Quote the request id when reporting it."
            )(scope, receive, send_with_request_id)
        finally:
            duration = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            self.metrics.observe(method, route, status, duration)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 2),
                request_id=request_id,
            )
            request_id_var.reset(token)
            client_ip_var.reset(ip_token)
