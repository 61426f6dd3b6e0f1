"""Signing in on Relay's own pages (HTML, issue 20): the password, the second step (a TOTP
code or a recovery code), enrolling an authenticator the first time, taking an invitation, and
signing out. Every page works without JavaScript; every form carries the session's CSRF token.

The pages call the people services (``api/services/people/``) as an app would; the session's
steps (a new session at each: no fixation) are ``api/services/people/sessions.py``'s, the
cookie and the tokens ``api/web/session.py``'s.

An invitation's code leaves the URL at once: ``/app/invitation/{code}`` (the printed link) keeps
it in the browser's session, sealed, and redirects to ``/app/invitation/password``; typed, it is
posted. Logs name routes by their template (``/app/invitation/{code}``), never the path.
"""

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.deps import SessionDep, SettingsDep
from api.errors import RelayError
from api.models.people import WebSessionState
from api.services import people
from api.services.people import (
    EnrolmentNeeded,
    InvitationDetails,
    Refused,
    SecondFactorNeeded,
    SignedIn,
    TotpConfirmed,
    TotpEnrolment,
    sessions,
)
from api.services.people.errors import PasswordNotAccepted
from api.services.people.sessions import Visitor
from api.web import session as web
from api.web.pages import (
    FIRST_SHOWING,
    FormAnswer,
    app_page,
    confirm_page,
    form_page,
    page_visitor,
    posted,
    redirect,
)

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)

MAXIMUM_CODE_LENGTH = 64
CODE_PATH = "/app/sign-in/code"
RECOVERY_PATH = "/app/sign-in/recovery"
ENROL_PATH = "/app/sign-in/enrol"
INVITATION_PATH = "/app/invitation"
PASSWORD_PATH = "/app/invitation/password"  # noqa: S105 (a page, not a password)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _next(request: Request, form: dict[str, str] | None = None) -> str | None:
    value = form.get("next") if form is not None else request.query_params.get("next")
    return web.safe_next(value)


def _grouped(secret: str) -> str:
    """A TOTP secret in groups of four, to type into an app."""
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


async def _signed_in(
    request: Request,
    database: AsyncSession,
    settings: Settings,
    user: people.SignedInUser,
    device: str,
) -> Visitor:
    """The sign-in completed: a new session, and the browser keeps the device token."""
    value, visitor = await sessions.signed_in(database, settings, web.visitor_of(request), user)
    web.remember(request, value, visitor)
    web.remember_device(request, device)
    return visitor


# -- the password ---------------------------------------------------------------------------------


def _sign_in_form(
    request: Request,
    next_path: str | None,
    *,
    login: str = "",
    notice: str | None = None,
    answer: FormAnswer = FIRST_SHOWING,
) -> Response:
    return form_page(
        request, "app/sign_in.html", answer, next_path=next_path, login=login, notice=notice
    )


@router.get("/sign-in", summary="Sign in: login name or phone number, and password (HTML)")
async def sign_in_page(request: Request, database: SessionDep) -> Response:
    next_path = _next(request)
    visitor = await web.current_visitor(request, database)
    if visitor is not None and visitor.person is not None:
        return redirect(request, next_path or web.HOME_PATH)
    await page_visitor(request, database)
    notice = "signed_out.message" if request.query_params.get("signed_out") == "1" else None
    return _sign_in_form(request, next_path, notice=notice)


@router.post("/sign-in", summary="Sign in: the password step (HTML form)")
async def sign_in(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    await web.current_visitor(request, database)
    form = await posted(request)
    next_path = _next(request, form)
    login = form.get("login", "")
    step = await people.sign_in(
        database,
        settings,
        login,
        form.get("password", ""),
        _address(request),
        device=web.device_of(request),
    )
    if isinstance(step, Refused):
        refused = FormAnswer.refused(request, step, "sign_in.refused")
        return _sign_in_form(request, next_path, login=login[:128], answer=refused)
    if isinstance(step, SignedIn):
        await _signed_in(request, database, settings, step.user, step.device)
        return redirect(request, next_path or web.HOME_PATH)
    value, visitor = await sessions.second_step(database, settings, web.visitor_of(request), step)
    web.remember(request, value, visitor)
    path = CODE_PATH if isinstance(step, SecondFactorNeeded) else ENROL_PATH
    return redirect(request, web.with_next(path, next_path))


# -- the second step: a TOTP code, or a recovery code ---------------------------------------------


async def _pending(
    request: Request, database: AsyncSession, state: WebSessionState
) -> Visitor | None:
    """The session of a sign-in at this step, or None (then: back to the password)."""
    visitor = await web.current_visitor(request, database)
    if visitor is None or visitor.state is not state:
        return None
    return visitor


def _code_form(
    request: Request,
    next_path: str | None,
    *,
    recovery: bool,
    answer: FormAnswer = FIRST_SHOWING,
) -> Response:
    return form_page(
        request,
        "app/code.html",
        answer,
        next_path=next_path,
        recovery=recovery,
        action=RECOVERY_PATH if recovery else CODE_PATH,
        other=web.with_next(CODE_PATH if recovery else RECOVERY_PATH, next_path),
    )


@router.get("/sign-in/code", summary="Sign in: the authenticator's code (HTML)")
async def code_page(request: Request, database: SessionDep) -> Response:
    if await _pending(request, database, WebSessionState.second_factor) is None:
        return redirect(request, web.sign_in_url(_next(request)))
    return _code_form(request, _next(request), recovery=False)


@router.get("/sign-in/recovery", summary="Sign in: a recovery code instead (HTML)")
async def recovery_page(request: Request, database: SessionDep) -> Response:
    if await _pending(request, database, WebSessionState.second_factor) is None:
        return redirect(request, web.sign_in_url(_next(request)))
    return _code_form(request, _next(request), recovery=True)


@dataclass(frozen=True)
class _CodePosted:
    """A code posted at a step of a sign-in: the session at that step, the account's id and
    generation, the code and the address it came from; where the sign-in goes after."""

    visitor: Visitor
    user_id: uuid.UUID
    generation: int
    code: str
    address: str | None
    next_path: str | None

    def attempt(self) -> tuple[uuid.UUID, int, str, str | None]:
        """The arguments of the people services that check a code, after the session and the
        settings: the account, its generation, the code, the address."""
        return self.user_id, self.generation, self.code, self.address


async def _code_posted(
    request: Request, database: AsyncSession, state: WebSessionState
) -> _CodePosted | Response:
    """The code posted, if the session is at this step; else back to the password."""
    visitor = await web.current_visitor(request, database)
    form = await posted(request)
    next_path = _next(request, form)
    if visitor is None or visitor.state is not state:
        return redirect(request, web.sign_in_url(next_path))
    assert visitor.user_id is not None
    assert visitor.generation is not None
    code, address = form.get("code", ""), _address(request)
    return _CodePosted(visitor, visitor.user_id, visitor.generation, code, address, next_path)


async def _second_step(
    request: Request, database: AsyncSession, settings: Settings, *, recovery: bool
) -> Response:
    posted_code = await _code_posted(request, database, WebSessionState.second_factor)
    if isinstance(posted_code, Response):
        return posted_code
    verify = people.use_recovery_code if recovery else people.verify_second_factor
    device = web.device_of(request)
    result = await verify(database, settings, *posted_code.attempt(), device=device)
    next_path = posted_code.next_path
    if isinstance(result, Refused):
        refused = FormAnswer.refused(request, result, "code.refused")
        return _code_form(request, next_path, recovery=recovery, answer=refused)
    await _signed_in(request, database, settings, result.user, result.device)
    return redirect(request, next_path or web.HOME_PATH)


@router.post("/sign-in/code", summary="Sign in: the authenticator's code (HTML form)")
async def code(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    return await _second_step(request, database, settings, recovery=False)


@router.post("/sign-in/recovery", summary="Sign in: a recovery code (HTML form)")
async def recovery(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    return await _second_step(request, database, settings, recovery=True)


# -- enrolling an authenticator (a role that needs one, at its first sign-in) ---------------------


async def _enrolment(database: AsyncSession, settings: Settings, visitor: Visitor) -> TotpEnrolment:
    """The enrolment under way (the same secret when the page is shown again), or a new one."""
    assert visitor.user_id is not None
    assert visitor.generation is not None
    found = await people.pending_totp(database, settings, visitor.user_id, visitor.generation)
    if found is not None:
        return found
    return await people.enrol_totp(
        database, settings, visitor.user_id, visitor.generation, during_sign_in=True
    )


async def _enrol_form(
    request: Request,
    database: AsyncSession,
    settings: Settings,
    visitor: Visitor,
    next_path: str | None,
    answer: FormAnswer = FIRST_SHOWING,
) -> Response:
    """The form of the enrolment under way (its secret, to type or scan), or of a new one."""
    enrolment = await _enrolment(database, settings, visitor)
    secret = _grouped(enrolment.secret)
    return form_page(
        request, "app/enrol.html", answer, next_path=next_path, secret=secret, uri=enrolment.uri
    )


async def _end_and_sign_in_again(request: Request, database: AsyncSession) -> Response:
    visitor = web.visitor_of(request)
    if visitor is not None:
        await sessions.sign_out(database, request.app.state.settings, visitor)
        web.replace_visitor(request, None)
    return redirect(request, web.SIGN_IN_PATH)


@router.get("/sign-in/enrol", summary="Sign in: set up an authenticator app (HTML)")
async def enrol_page(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    visitor = await _pending(request, database, WebSessionState.enrolment)
    if visitor is None:
        return redirect(request, web.sign_in_url(_next(request)))
    try:
        return await _enrol_form(request, database, settings, visitor, _next(request))
    except RelayError:  # the account changed since the password (a reset, a deactivation)
        return await _end_and_sign_in_again(request, database)


@router.post("/sign-in/enrol", summary="Sign in: the first code of the new authenticator")
async def enrol(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    posted_code = await _code_posted(request, database, WebSessionState.enrolment)
    if isinstance(posted_code, Response):
        return posted_code
    visitor, next_path = posted_code.visitor, posted_code.next_path
    try:
        result = await people.confirm_totp(
            database, settings, *posted_code.attempt(), during_sign_in=True
        )
    except RelayError:  # no enrolment under way, or the account changed since the password
        return await _end_and_sign_in_again(request, database)
    if isinstance(result, Refused):
        refused = FormAnswer.refused(request, result, "code.refused")
        return await _enrol_form(request, database, settings, visitor, next_path, refused)
    return await _show_recovery_codes(request, database, settings, result, next_path)


async def _show_recovery_codes(
    request: Request,
    database: AsyncSession,
    settings: Settings,
    confirmed: TotpConfirmed,
    next_path: str | None,
) -> Response:
    """Signed in: the recovery codes, shown this once (in the answer to the form, never at
    an address that could show them again)."""
    await _signed_in(request, database, settings, confirmed.user, confirmed.device)
    return app_page(
        request,
        "app/recovery_codes.html",
        codes=confirmed.recovery_codes,
        onwards=next_path or web.HOME_PATH,
    )


# -- invitations ----------------------------------------------------------------------------------


def _invitation_form(request: Request, answer: FormAnswer = FIRST_SHOWING) -> Response:
    return form_page(request, "app/invitation.html", answer)


@router.get("/invitation", summary="Take an invitation: type its code (HTML)")
async def invitation_page(request: Request, database: SessionDep) -> Response:
    await page_visitor(request, database)
    return _invitation_form(request)


@router.post("/invitation", summary="Take an invitation: its code typed (HTML form)")
async def invitation(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    await web.current_visitor(request, database)
    form = await posted(request)
    visitor = web.visitor_of(request)
    assert visitor is not None  # the CSRF check needs one
    code = form.get("code", "").strip()[:MAXIMUM_CODE_LENGTH]
    visitor = await sessions.hold_invitation(database, settings, visitor, code or None)
    web.replace_visitor(request, visitor)
    return redirect(request, PASSWORD_PATH)


async def _password_form(
    request: Request, details: InvitationDetails, answer: FormAnswer = FIRST_SHOWING
) -> Response:
    return form_page(request, "app/set_password.html", answer, details=details)


async def _refused_invitation(
    request: Request, database: AsyncSession, settings: Settings, refused: Refused
) -> Response:
    """The code is unknown, used or expired (alike), or the address must wait: forget it."""
    visitor = web.visitor_of(request)
    if visitor is not None and not refused.throttled:
        forgotten = await sessions.hold_invitation(database, settings, visitor, None)
        web.replace_visitor(request, forgotten)
    return _invitation_form(request, FormAnswer.refused(request, refused, "invitation.refused"))


@router.get("/invitation/password", summary="Take an invitation: choose a password (HTML)")
async def password_page(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    visitor = await web.current_visitor(request, database)
    if visitor is None or visitor.invitation_code is None:
        return redirect(request, INVITATION_PATH)
    await page_visitor(request, database)
    details = await people.invitation_details(
        database, settings, visitor.invitation_code, _address(request)
    )
    if isinstance(details, Refused):
        return await _refused_invitation(request, database, settings, details)
    return await _password_form(request, details)


@router.post("/invitation/password", summary="Take an invitation: the password chosen")
async def choose_password(
    request: Request, database: SessionDep, settings: SettingsDep
) -> Response:
    visitor = await web.current_visitor(request, database)
    form = await posted(request)
    if visitor is None or visitor.invitation_code is None:
        return redirect(request, INVITATION_PATH)
    code, address = visitor.invitation_code, _address(request)
    password = form.get("password", "")
    if password != form.get("confirm", ""):
        details = await people.invitation_details(database, settings, code, address)
        if isinstance(details, Refused):
            return await _refused_invitation(request, database, settings, details)
        return await _password_form(request, details, FormAnswer.invalid("password.differ"))
    try:
        step = await people.redeem_invitation(database, settings, code, password, address)
    except PasswordNotAccepted as error:
        details = await people.invitation_details(database, settings, code, address)
        if isinstance(details, Refused):
            return await _refused_invitation(request, database, settings, details)
        return await _password_form(request, details, FormAnswer.of(error))
    if isinstance(step, Refused):
        return await _refused_invitation(request, database, settings, step)
    if isinstance(step, EnrolmentNeeded):
        value, pending = await sessions.second_step(database, settings, visitor, step)
        web.remember(request, value, pending)
        return redirect(request, ENROL_PATH)
    await _signed_in(request, database, settings, step.user, step.device)
    return redirect(request, web.HOME_PATH)


@router.get("/invitation/{code}", summary="Take an invitation: the link handed out (HTML)")
async def invitation_link(
    code: str, request: Request, database: SessionDep, settings: SettingsDep
) -> Response:
    visitor = await page_visitor(request, database)
    visitor = await sessions.hold_invitation(
        database, settings, visitor, code.strip()[:MAXIMUM_CODE_LENGTH] or None
    )
    web.replace_visitor(request, visitor)
    return redirect(request, PASSWORD_PATH)


# -- signing out ----------------------------------------------------------------------------------


@router.get("/sign-out", summary="Sign out of this browser (HTML)")
async def sign_out_page(request: Request, database: SessionDep) -> Response:
    visitor = await web.current_visitor(request, database)
    if visitor is None or visitor.person is None:
        return redirect(request, web.SIGN_IN_PATH)
    return confirm_page(request, name="sign_out", action="/app/sign-out", back="/app")


@router.post("/sign-out", summary="Sign out of this browser (HTML form)")
async def sign_out(request: Request, database: SessionDep, settings: SettingsDep) -> Response:
    visitor = await web.current_visitor(request, database)
    if visitor is None:  # nothing to end
        return redirect(request, web.SIGN_IN_PATH)
    await posted(request)
    await sessions.sign_out(database, settings, visitor)
    web.replace_visitor(request, None)
    return redirect(request, web.SIGN_IN_PATH + "?signed_out=1")
