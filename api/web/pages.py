"""Rendering the app's pages (``/app``, people signed in): the headers every one carries, the
language it speaks, redirects, and the pages for a form refused (403), a sign-in required
(303) and a wait (429).

Every app page is sent with ``Cache-Control: no-store`` (personal data may be on it; a shared
phone's back button must not show it from the cache), ``Referrer-Policy: no-referrer``, a
``Content-Security-Policy`` that allows nothing but this origin's styles and images and form
posts to this origin (no script at all: the pages work without one), and frames nowhere. Titles
come from the catalogues only: a page title never holds a person's data.
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.auth.principal import Principal
from api.auth.roles import scopes_of
from api.auth.scopes import Scope
from api.config import Settings
from api.deps import SessionDep, SettingsDep
from api.errors import RelayError, validation_issues, validation_problem
from api.services.people import Refused
from api.services.people.errors import PasswordNotAccepted
from api.services.people.sessions import Visitor
from api.web import assets, session
from api.web.i18n import LANGUAGES, catalog, negotiate
from api.web.render import environment, switcher

APP_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
APP_HEADERS = {
    "Content-Security-Policy": APP_CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=(), interest-cohort=()",
}


def language_of(request: Request) -> str:
    """The page's language: ``?lang=`` when Relay has it, else the session's (after sign-in,
    the person's preferred one), else the browser's."""
    requested = request.query_params.get("lang")
    if requested in LANGUAGES:
        return requested
    visitor = session.visitor_of(request)
    if visitor is not None:
        return visitor.language
    return negotiate(None, request.headers.get("accept-language"))


def app_page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` with what every app page shows, and ``done``: what the change that
    redirected here did (``?done=<what>``), for the page's notice."""
    language = language_of(request)
    visitor = session.visitor_of(request)
    body = (
        environment()
        .get_template(template)
        .render(
            lang=language,
            t=catalog(language),
            asset=assets.url,
            languages=[(code, catalog(code).name) for code in LANGUAGES],
            switch=switcher(request.url.path, request.query_params),
            csrf=lambda: session.csrf_field(request),
            person=visitor.person if visitor is not None else None,
            reads_figures=visitor is not None
            and visitor.person is not None
            and Scope.stats_read.value in scopes_of(visitor.person.role),
            done=request.query_params.get("done"),
            **context,
        )
    )
    return app_document(request, body, language, status_code=status_code, headers=headers)


def app_document(
    request: Request,
    body: str,
    language: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """An app page already rendered (the printable referral form), with the app's headers and
    the session cookie as this request left it."""
    response = HTMLResponse(
        body,
        status_code=status_code,
        headers={**APP_HEADERS, "Content-Language": language, **(headers or {})},
    )
    session.finish(request, response)
    return response


def redirect(request: Request, url: str) -> Response:
    """303 See Other (after a form post, or to the sign-in page), with the session cookie as
    this request left it."""
    response = RedirectResponse(url, status_code=303, headers=dict(APP_HEADERS))
    return session.finish(request, response)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def wait_words(request: Request, seconds: float) -> str:
    """When to try again, in the page's language: seconds under two minutes, else minutes."""
    words = catalog(language_of(request))
    if seconds < 120:
        return words("wait.seconds", seconds=max(1, math.ceil(seconds)))
    return words("wait.minutes", minutes=math.ceil(seconds / 60))


def confirm_page(
    request: Request, *, name: str, action: str, back: str, **context: Any
) -> Response:
    """A page asking to confirm what cannot be undone (``<name>.title``, ``.text`` and ``.button``
    in the catalogues); its form posts to ``action``, its cancel link goes ``back``."""
    return app_page(
        request,
        "app/confirm.html",
        title_key=f"{name}.title",
        text_key=f"{name}.text",
        button_key=f"{name}.button",
        action=action,
        back=back,
        **context,
    )


def message_page(
    request: Request, *, status_code: int, title: str, message: str, back: str | None = None
) -> HTMLResponse:
    """A page that only says something (catalogue keys), with a link onwards."""
    return app_page(
        request,
        "app/message.html",
        status_code=status_code,
        title_key=title,
        message_key=message,
        message_values={},
        back=back,
    )


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, session.SignInRequired)
    await session.discard_ended(request)
    return redirect(request, session.sign_in_url(exc.next_path))


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, session.CsrfRefused)
    back = request.url.path if request.url.path.startswith("/app") else session.HOME_PATH
    return message_page(
        request,
        status_code=403,
        title="refused.title",
        message="refused.message",
        back=back,
    )


async def _too_many_sessions(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, session.TooManySessions)
    return app_page(
        request,
        "app/message.html",
        status_code=429,
        headers=retry_after(exc.retry_after),
        title_key="wait.title",
        message_key="wait.message",
        message_values={"when": wait_words(request, exc.retry_after)},
        back=None,
    )


async def _unreadable_address(request: Request, exc: Exception) -> Response:
    """An app page's address whose id does not parse names nothing: the page a missing entry
    gets (404), not the API's JSON 422. Elsewhere, the API's problem."""
    assert isinstance(exc, RequestValidationError)
    in_path = all(issue.get("loc", ("",))[0] == "path" for issue in exc.errors())
    if request.url.path.startswith("/app/") and in_path:
        return message_page(
            request,
            status_code=404,
            title="missing.title",
            message="missing.message",
            back=session.HOME_PATH,
        )
    return validation_problem(validation_issues(exc.errors()))


def install_page_handlers(app: FastAPI) -> None:
    app.add_exception_handler(session.SignInRequired, _sign_in_required)
    app.add_exception_handler(session.CsrfRefused, _csrf_refused)
    app.add_exception_handler(session.TooManySessions, _too_many_sessions)
    app.add_exception_handler(RequestValidationError, _unreadable_address)


# -- forms ----------------------------------------------------------------------------------------

MAXIMUM_FIELD_LENGTH = 1024
Problem = tuple[str, dict[str, object]]
"""What a form says went wrong: a catalogue key and its values."""


def whole_number(value: str | None, *, digits: int) -> int | None:
    """A whole number typed in a form (at most ``digits`` digits of any script: Nepali's and
    Khmer's read as 0-9), or None. ``str.isdecimal``, not ``isdigit``: "²" is a digit but no
    number ``int`` reads."""
    text = (value or "").strip()
    return int(text) if text.isdecimal() and len(text) <= digits else None


async def posted(request: Request) -> dict[str, str]:
    """The form posted (first value of each field, at most ``MAXIMUM_FIELD_LENGTH`` characters,
    a value holding NUL read as empty), once its CSRF token and origin are checked."""
    form = await request.form()
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in values:
            values[key] = "" if "\x00" in value else value[:MAXIMUM_FIELD_LENGTH]
    session.check_csrf(request, values)
    return values


async def page_visitor(request: Request, database: AsyncSession) -> Visitor:
    """This request's session (a new anonymous one if it had none, for the page's forms), in
    the language ``?lang=`` chose when it did (kept for the next pages)."""
    visitor = await session.ensure_visitor(request, database, language_of(request))
    return await session.keep_language(request, database, visitor)


def problem_of(error: RelayError) -> Problem:
    """A service's refusal in the page's words: ``problem.<code>`` (the password policy's rule
    for a password not accepted)."""
    if error.code == PasswordNotAccepted.code:
        reason = error.extensions.get("reason", "other")
        return f"password.{reason}", {"limit": error.extensions.get("limit")}
    key = f"problem.{error.code}"
    return (key if catalog("en").has(key) else "problem.other"), {}


def refusal(request: Request, refused: Refused, wrong: str) -> tuple[Problem, int, dict[str, str]]:
    """A refused sign-in step: while it must wait, 429 with ``Retry-After`` and when to try again;
    otherwise ``wrong`` (a catalogue key that never says which of login, password or code)."""
    if refused.throttled:
        return (
            ("wait.message", {"when": wait_words(request, refused.retry_after)}),
            429,
            retry_after(refused.retry_after),
        )
    return (wrong, {}), 422, {}


@dataclass(frozen=True)
class FormAnswer:
    """What a form's page says back: nothing the first time it is shown; after a post, the
    problem in words, its status and headers (``Retry-After`` while a sign-in step must wait)."""

    problem: Problem | None = None
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def invalid(cls, key: str) -> "FormAnswer":
        """A field the form itself finds wrong (catalogue key ``key``): 422."""
        return cls((key, {}), 422)

    @classmethod
    def of(cls, error: RelayError) -> "FormAnswer":
        """A service's refusal (``problem_of``), with its status."""
        return cls(problem_of(error), error.status)

    @classmethod
    def refused(cls, request: Request, refused: Refused, wrong: str) -> "FormAnswer":
        """A refused sign-in step (``refusal``)."""
        problem, status_code, headers = refusal(request, refused, wrong)
        return cls(problem, status_code, headers)


FIRST_SHOWING = FormAnswer()


def form_page(
    request: Request, template: str, answer: FormAnswer = FIRST_SHOWING, **context: Any
) -> HTMLResponse:
    """An app page with a form, showing ``answer``'s problem (as ``problem``) with its status."""
    return app_page(
        request,
        template,
        status_code=answer.status_code,
        headers=answer.headers,
        problem=answer.problem,
        **context,
    )


def not_allowed(request: Request, error: RelayError) -> HTMLResponse:
    """A service's refusal that leaves nothing to fix in a form: its status, in words."""
    key, _ = problem_of(error)
    return message_page(
        request,
        status_code=error.status,
        title="problem.title",
        message=key,
        back=session.HOME_PATH,
    )


# -- a change that asks first ----------------------------------------------------------------------

AboutT = TypeVar("AboutT")


@dataclass(frozen=True)
class Subject(Generic[AboutT]):
    """What a change that asks first is about, as its dependency found it for the visitor: the
    page it is made from (``path``: the confirmation posts to ``<path>/<segment>``, and its
    cancel link goes back there), the principal, and the record it changes (``about``)."""

    path: str
    principal: Principal
    about: AboutT
    shown: dict[str, Any] = field(default_factory=dict)
    """What the confirmation shows beside its words (``app/confirm.html``: ``user``)."""
    refused: Callable[[Request, RelayError], Response] = not_allowed
    """How a service's refusal of the change is answered: by default, a page saying it."""


@dataclass(frozen=True)
class Confirmed(Generic[AboutT]):
    """A change confirmed, to be made: the request, its database session, the settings, the
    visitor who confirmed it and what it is about."""

    request: Request
    database: AsyncSession
    settings: Settings
    visitor: Visitor
    subject: Subject[AboutT]


Change = Callable[[Confirmed[AboutT]], Awaitable[Response]]


def asks_first(
    router: APIRouter,
    find: Callable[..., Awaitable[Subject[AboutT] | Response]],
    path: str,
    summary: str,
    *,
    name: str | None = None,
) -> Callable[[Change[AboutT]], Change[AboutT]]:
    """Declare a change made after a confirmation, on ``router`` at ``path`` (its last segment
    is the one the subject's ``path`` is followed by): ``GET`` asks (``<name>.title``,
    ``.text`` and ``.button`` in the catalogues), and ``POST`` (the CSRF check first) makes it
    with the decorated function; both need a signed-in visitor. ``find``, a dependency, says
    what the change is about, or answers instead (a record the visitor may not change). The
    routes are named ``<name>_page`` and ``<name>``; ``name`` is the decorated function's own
    unless given."""
    segment = path.rsplit("/", 1)[-1]
    # What ``find`` gives, for FastAPI (the type variable cannot make an alias here).
    About = Annotated[Subject[Any] | Response, Depends(find)]

    def declare(change: Change[AboutT]) -> Change[AboutT]:
        named = name or change.__name__

        async def ask(request: Request, visitor: session.SignedInVisitor, at: About) -> Response:
            if isinstance(at, Response):
                return at
            action = f"{at.path}/{segment}"
            return confirm_page(request, name=named, action=action, back=at.path, **at.shown)

        async def make(
            request: Request,
            database: SessionDep,
            settings: SettingsDep,
            visitor: session.SignedInVisitor,
            at: About,
        ) -> Response:
            await posted(request)
            if isinstance(at, Response):
                return at
            try:
                return await change(Confirmed(request, database, settings, visitor, at))
            except RelayError as error:
                return at.refused(request, error)

        router.add_api_route(
            path, ask, methods=["GET"], name=f"{named}_page", summary=f"{summary} (HTML)"
        )
        router.add_api_route(
            path, make, methods=["POST"], name=named, summary=f"{summary} (HTML form)"
        )
        return change

    return declare
