"""Request input no route should ever see, refused once for every route, before any of them.

- A NUL character, in the path, in a query parameter, or anywhere in a JSON body (values and
  names): PostgreSQL text and JSON cannot hold it, so it would otherwise fail as a 500 halfway
  through a request. Checking the parsed input here covers every field of every schema, the
  ones added later too.
- A JSON object naming the same key twice: parsers keep the last value, while a proxy, a log
  or a signature check in front of Relay may have read the first. It is refused, naming the key.

The answer is the 422 validation problem the app gives for any invalid request, naming where
(``["query", "search"]``, ``["body", "locations", 0, "name"]``) and never the value. Form bodies
go only to the OAuth endpoints, which answer in RFC 6749's shape and compare what they are sent
with stored hashes, storing nothing of it (``tests/test_input_hardening.py`` sends them NUL too).
"""

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_response, validation_problem

NUL = "\x00"
MAXIMUM_ISSUES = 20  # a body with more is refused all the same; the first ones are named

Issue = dict[str, Any]


def _issue(loc: list[str | int], message: str, kind: str) -> Issue:
    return {"loc": loc, "msg": message, "type": kind}


def _nul(loc: list[str | int], where: str = "") -> Issue:
    message = f"{where} contains a NUL character" if where else "must not contain a NUL character"
    return _issue(loc, message, "nul_character")


def path_issues(path: str) -> list[Issue]:
    if NUL in path:
        return [_nul(["path"])]
    return []


def query_issues(query_string: bytes) -> list[Issue]:
    """NUL in a parameter's name or value; the parameter is named when its name is clean."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return []  # the only spellings of NUL in a query string
    issues = []
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if NUL in name:
            issues.append(_nul(["query"], "a parameter name"))
        elif NUL in value:
            issues.append(_nul(["query", name]))
    return issues[:MAXIMUM_ISSUES]


class _Object(dict[str, Any]):
    """A parsed JSON object that named some of its keys more than once."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in parsed:
            repeated.append(key)
        parsed[key] = value
    if not repeated:
        return parsed
    marked = _Object(parsed)
    marked.repeated = repeated
    return marked


def json_issues(body: bytes) -> list[Issue]:
    """NUL characters and repeated keys anywhere in a JSON document, in document order.

    A body that is not JSON gives none: the route's own parsing refuses it as it always did.
    """
    try:
        document = json.loads(body, object_pairs_hook=_object)
    except (ValueError, RecursionError):
        return []
    issues: list[Issue] = []
    # Depth first, without recursion (a deeply nested body must not exhaust the stack).
    pending: list[tuple[list[str | int], Any]] = [(["body"], document)]
    while pending and len(issues) < MAXIMUM_ISSUES:
        loc, value = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                issues.append(_nul(loc))
        elif isinstance(value, dict):
            for key in getattr(value, "repeated", ()):
                if NUL not in key:
                    issues.append(_issue([*loc, key], "is given more than once", "duplicate_key"))
            children: list[tuple[list[str | int], Any]] = []
            for key, item in value.items():
                if NUL in key:
                    issues.append(_nul(loc, "a key"))
                    continue
                children.append(([*loc, key], item))
            pending.extend(reversed(children))
        elif isinstance(value, list):
            pending.extend(reversed([([*loc, index], item) for index, item in enumerate(value)]))
    return issues[:MAXIMUM_ISSUES]


def _is_json(scope: Scope) -> bool:
    """Whether the route would parse the body as JSON (FastAPI's own test of the media type)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (its size limited by the outer middleware), or None on disconnect."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class InputGuardMiddleware:
    """Runs inside ``RequestContextMiddleware`` (request id, size limit, logging)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        issues = path_issues(scope["path"]) + query_issues(scope.get("query_string", b""))
        if issues:
            await validation_problem(issues)(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body size limit, raised while reading
            await problem_response(exc.status_code, detail=exc.detail)(scope, receive, send)
            return
        if body is None:
            return  # the client went away: nobody to answer
        issues = json_issues(body)
        if issues:
            await validation_problem(issues)(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)
