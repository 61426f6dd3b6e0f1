"""One error hierarchy, one shape: RFC 9457 ``application/problem+json``.

Services raise ``RelayError`` subclasses named after what happened; the handlers installed by
``install_error_handlers`` render those, the framework's own HTTP and validation errors, and
(through ``api.middleware``) any unexpected exception. A problem never carries a stack trace,
SQL, or the value a caller sent: validation errors name the field and the rule only.
"""

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import request_id_var
from api.logging import get_logger

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = get_logger("relay.errors")


class ValidationIssue(BaseModel):
    """One reason a request was refused: where, and which rule (never the value sent)."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with Relay's extensions ``request_id`` and ``errors``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = Field(
        default=None, description="The X-Request-ID of the request, for support."
    )
    errors: list[ValidationIssue] | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["request_id"] = request_id_var.get()
    if extensions:
        body.update(extensions)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class RelayError(Exception):
    """Base of every error Relay raises on purpose. What an error is, its subclass says as class
    keywords: a class per HTTP status its ``status`` (its ``title`` the status's phrase unless
    it says another), and the errors services raise their ``code``
    (``class ReferralNotFound(NotFound, code="referral-not-found"): ...``)."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    code: ClassVar[str | None] = None

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        title: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
            cls.title = _phrase(status)
        if title is not None:
            cls.title = title
        if code is not None:
            cls.code = code

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return f"urn:relay:problem:{self.code}" if self.code else "about:blank"


class BadRequest(RelayError, status=400): ...


class Forbidden(RelayError, status=403): ...


class NotFound(RelayError, status=404): ...


class Conflict(RelayError, status=409): ...


class Gone(RelayError, status=410): ...


class PreconditionFailed(RelayError, status=412): ...


class PreconditionRequired(RelayError, status=428): ...


class Unprocessable(RelayError, status=422, title="Unprocessable Content"):
    """A request that is well formed but cannot be done as asked: the values it holds do not fit
    together or with what they name (422; a conflict with the state of a record is 409).

    Given ``loc``, it is shaped like a request-validation problem: ``errors`` names where the
    request is wrong and which rule (``code``), never the value sent."""

    def __init__(
        self,
        detail: str | None = None,
        *,
        loc: Sequence[str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        if loc is not None:
            extensions["errors"] = [{"loc": list(loc), "msg": detail, "type": self.code}]
        super().__init__(detail, headers=headers, **extensions)


class UnprocessableParameter(Unprocessable, code="invalid-parameter"):
    """A query parameter that is well formed but unusable: it conflicts with another one, or
    nothing matches it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message, loc=["query", parameter])


class PayloadTooLarge(
    RelayError, status=413, title="Content Too Large", code="payload-too-large"
): ...


class Unauthenticated(RelayError, status=401, code="unauthenticated"):
    """No credentials, or a token that is malformed, unknown, expired or revoked (RFC 6750)."""

    def __init__(self, detail: str, *, invalid_token: bool) -> None:
        challenge = 'Bearer realm="relay"'
        if invalid_token:
            challenge += ', error="invalid_token", error_description="' + detail + '"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class InsufficientScope(Forbidden, code="insufficient_scope"):
    def __init__(self, required: list[str]) -> None:
        listed = " ".join(required)
        super().__init__(
            f"This operation needs the scope {listed}.",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="relay", error="insufficient_scope", scope="{listed}"'
                )
            },
            required_scope=listed,
        )


class TooManyRequests(RelayError, status=429, code="rate-limited"): ...


class ServiceUnavailable(RelayError, status=503): ...


class DatabaseUnavailable(ServiceUnavailable, code="database-unavailable"):
    """The connection to the database was lost (a restart, a failover): nothing was done, the
    connection is discarded, and the same request sent again will use a new one."""

    def __init__(self) -> None:
        super().__init__(
            "The connection to the database was lost; send the request again.",
            headers={"Retry-After": "1"},
        )


class DatabaseBusy(ServiceUnavailable, code="database-busy"):
    """Every connection of the process's pool stayed in use while the request waited for one:
    nothing was done; the same request sent a moment later will likely find one."""

    def __init__(self) -> None:
        super().__init__(
            "The service is busy; send the request again in a moment.",
            headers={"Retry-After": "2"},
        )


class MonthNotReady(ServiceUnavailable, code="month-not-ready"):
    """A write fell in a month that has no partition of the audit trail or the outbox (the
    worker's ``make_partitions_ahead`` has not run for months, or a clock is far off): nothing
    was written; the operators are told (``partition_missing``, the table only)."""

    def __init__(self) -> None:
        super().__init__(
            "Relay cannot record this change now; nothing was saved. Try again later.",
            headers={"Retry-After": "60"},
        )


def validation_issues(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without ``input`` and ``ctx``: those can hold what the caller sent."""
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


async def _relay_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RelayError)
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type_uri,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _http_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = _phrase(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(exc.status_code, detail=detail, headers=exc.headers)


def validation_problem(issues: list[dict[str, Any]]) -> ProblemResponse:
    """The 422 of a request that does not match the operation, naming where (never what)."""
    return problem_response(
        422,
        title="Unprocessable Content",
        detail="The request does not match what this operation accepts.",
        type_="urn:relay:problem:validation",
        extensions={"errors": issues},
    )


async def _validation_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(validation_issues(exc.errors()))


# SQLSTATE of a statement cancelled by ``statement_timeout`` (or by an operator).
QUERY_CANCELED = "57014"


# SQLSTATE of a row that breaks a CHECK, or that no partition of its table takes.
CHECK_VIOLATION = "23514"
# PostgreSQL's words for it; the table's name only (the row's key is in the error's detail).
_NO_PARTITION = re.compile(r'.*no partition of relation "([a-z_]+)" found for row')


def _missing_partition(exc: DBAPIError) -> str | None:
    """The table of a row no partition takes (the months ahead ran out), else None."""
    cause = exc.orig
    if getattr(cause, "sqlstate", None) != CHECK_VIOLATION:
        return None
    found = _NO_PARTITION.match(str(cause))
    return found[1] if found else None


def _canceled(exc: BaseException) -> bool:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED


async def _database_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DBAPIError)
    if _canceled(exc):
        return await _statement_canceled(request, exc)
    table = _missing_partition(exc)
    if table is not None:
        route = getattr(request.scope.get("route"), "path", None)
        log.error("partition_missing", table=table, route=route, request_id=request_id_var.get())
        return await _relay_error(request, MonthNotReady())
    if not exc.connection_invalidated:
        raise exc  # any other database error is a defect: logged, answered 500
    return await _relay_error(request, DatabaseUnavailable())


async def _statement_canceled(request: Request, exc: Exception) -> ProblemResponse:
    """A statement ran past ``RELAY_DATABASE_STATEMENT_TIMEOUT_MS`` (waiting on a lock another
    transaction holds, or an overloaded server): nothing was written (the transaction rolled
    back); the caller may try again shortly. Logged for the operators, with the route only."""
    if not _canceled(exc):
        raise exc
    route = getattr(request.scope.get("route"), "path", None)
    log.warning("statement_timeout", route=route, request_id=request_id_var.get())
    return await _relay_error(request, DatabaseBusy())


async def _pool_timeout(request: Request, exc: Exception) -> ProblemResponse:
    return await _relay_error(request, DatabaseBusy())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RelayError, _relay_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # The search's fast path reads on the driver itself: its cancelled statements arrive bare.
    app.add_exception_handler(asyncpg.exceptions.QueryCanceledError, _statement_canceled)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


# Every operation may answer a problem; build_openapi points these at the Problem schema.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Client error (problem details)"},
    "5XX": {"description": "Server error (problem details)"},
}
