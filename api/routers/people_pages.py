"""Relay's own pages for a person signed in (HTML, issue 20): the home page, their account
(password, recovery codes, sign out everywhere), and for an organisation's admins and the
operator, the organisation's people (invite, reset, deactivate, change role).

Every page needs a signed-in session (``SignedInVisitor``: otherwise a redirect to the sign-in
page, coming back here after), calls the same people services as the command line and the API
would with the person as the principal (who may manage whom is decided there: a page only
offers what the service would allow), and carries the session's CSRF token in each form. Each
form posts to its own page's address, which shows the form again (and a confirmation before
what cannot be undone) without JavaScript.
"""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.config import Settings
from api.deps import SessionDep, SettingsDep
from api.errors import RelayError
from api.models.people import UserRole
from api.services import notify, people
from api.services.people import Invited, Refused, SignedInUser, UserSummary, sessions
from api.services.people.errors import InvalidLanguage, PasswordNotAccepted
from api.services.people.sessions import Visitor
from api.services.referrals import workspace
from api.web import session as web
from api.web.pages import (
    FIRST_SHOWING,
    Confirmed,
    FormAnswer,
    Subject,
    app_page,
    asks_first,
    form_page,
    not_allowed,
    posted,
    redirect,
)
from api.web.paths import ACCOUNT_PATH, PEOPLE_PATH
from api.web.session import SignedInVisitor, principal_of

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _person(visitor: Visitor) -> SignedInUser:
    assert visitor.person is not None
    return visitor.person


def _manages(person: SignedInUser) -> bool:
    return person.role in {UserRole.org_admin, UserRole.operator}


# -- home and account -----------------------------------------------------------------------------


@router.get("", summary="Home of a person signed in (HTML)")
async def home(
    request: Request, database: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    return app_page(
        request,
        "app/home.html",
        manages=_manages(_person(visitor)),
        idle_minutes=max(1, round(settings.session_idle_minutes)),
        counts=await workspace.counts(database, principal_of(request, visitor)),
    )


@router.get("/account", summary="The person's own account (HTML)")
async def account(request: Request, database: SessionDep, visitor: SignedInVisitor) -> Response:
    principal = principal_of(request, visitor)
    mine = await people.own_account(database, principal)
    left = await people.recovery_codes_left(database, mine.id) if mine.second_factor else 0
    return app_page(
        request,
        "app/account.html",
        account=mine,
        recovery_codes_left=left,
    )


@router.post("/account/language", summary="Choose one's language (HTML form)")
async def choose_language(
    request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    """The language of the person's pages from now on (this session's too) and of what Relay
    sends them; an unknown code changes nothing."""
    form = await posted(request)
    try:
        await people.choose_own_language(
            database, principal_of(request, visitor), form.get("language", "")
        )
    except InvalidLanguage:
        return redirect(request, ACCOUNT_PATH)
    web.replace_visitor(
        request, await sessions.choose_language(database, visitor, form["language"])
    )
    return redirect(request, f"{ACCOUNT_PATH}?done=language")


def _password_form(request: Request, answer: FormAnswer = FIRST_SHOWING) -> Response:
    return form_page(request, "app/password.html", answer)


@router.get("/account/password", summary="Change one's password (HTML)")
async def password_page(request: Request, visitor: SignedInVisitor) -> Response:
    return _password_form(request)


@router.post("/account/password", summary="Change one's password (HTML form)")
async def change_password(
    request: Request, database: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    form = await posted(request)
    if form.get("password", "") != form.get("confirm", ""):
        return _password_form(request, FormAnswer.invalid("password.differ"))
    try:
        result = await people.change_password(
            database,
            settings,
            principal_of(request, visitor),
            form.get("current", ""),
            form.get("password", ""),
            _address(request),
        )
    except PasswordNotAccepted as error:
        return _password_form(request, FormAnswer.of(error))
    if isinstance(result, Refused):
        return _password_form(
            request, FormAnswer.refused(request, result, "password.current_wrong")
        )
    # The account's generation moved (its other sessions ended): this one goes on, anew.
    value, renewed = await sessions.signed_in(database, settings, visitor, result)
    web.remember(request, value, renewed)
    return redirect(request, f"{ACCOUNT_PATH}?done=password")


async def _own_account(request: Request, visitor: SignedInVisitor) -> Subject[None]:
    return Subject(ACCOUNT_PATH, principal_of(request, visitor), None)


@asks_first(
    router, _own_account, "/account/recovery-codes", "Make new recovery codes", name="new_codes"
)
async def new_recovery_codes(confirmed: Confirmed[None]) -> Response:
    principal = confirmed.subject.principal
    codes = await people.regenerate_recovery_codes(
        confirmed.database, confirmed.settings, principal
    )
    return app_page(confirmed.request, "app/recovery_codes.html", codes=codes, onwards=ACCOUNT_PATH)


@asks_first(
    router, _own_account, "/account/sign-out-everywhere", "Sign out everywhere", name="everywhere"
)
async def sign_out_everywhere(confirmed: Confirmed[None]) -> Response:
    await sessions.sign_out_everywhere(confirmed.database, confirmed.settings, confirmed.visitor)
    web.replace_visitor(confirmed.request, None)
    return redirect(confirmed.request, web.SIGN_IN_PATH + "?signed_out=1")


# -- an organisation's people ---------------------------------------------------------------------


def _organization(request: Request, principal: Principal) -> uuid.UUID:
    """The organisation whose people are shown: ``?org=`` (the operator's choice; a service
    refuses it to anyone else), else the person's own."""
    chosen = request.query_params.get("org", "")
    try:
        return uuid.UUID(chosen) if chosen else principal.organization_id
    except ValueError:
        return principal.organization_id


@router.get("/people", summary="An organisation's people (HTML)")
async def people_page(request: Request, database: SessionDep, visitor: SignedInVisitor) -> Response:
    principal = principal_of(request, visitor)
    organization_id = _organization(request, principal)
    try:
        organizations = await people.managed_organizations(database, principal)
        listed = await people.list_users(database, principal, organization_id)
    except RelayError as error:
        return not_allowed(request, error)
    chosen = next((item for item in organizations if item.id == organization_id), None)
    return app_page(
        request,
        "app/people.html",
        people_listed=listed,
        organizations=organizations if len(organizations) > 1 else [],
        organization=chosen,
        organization_id=organization_id,
    )


def _invite_form(
    request: Request,
    principal: Principal,
    organization_id: uuid.UUID,
    form: dict[str, str],
    answer: FormAnswer = FIRST_SHOWING,
) -> Response:
    return form_page(
        request,
        "app/invite.html",
        answer,
        roles=people.grantable_roles(principal),
        organization_id=organization_id,
        invitation_hours=max(1, round(_settings(request).invitation_lifetime_hours)),
        form=form,
    )


@router.get("/people/invite", summary="Invite a person (HTML)")
async def invite_page(request: Request, visitor: SignedInVisitor) -> Response:
    principal = principal_of(request, visitor)
    try:
        people.grantable_roles(principal)
    except RelayError as error:
        return not_allowed(request, error)
    organization_id = _organization(request, principal)
    return _invite_form(request, principal, organization_id, {"language": visitor.language})


def _invited(request: Request, invited: Invited, back: str) -> Response:
    """The invitation's code and link, shown this once."""
    return app_page(request, "app/invited.html", invited=invited, back=back)


@router.post("/people/invite", summary="Invite a person (HTML form)")
async def invite(
    request: Request, database: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    form = await posted(request)
    principal = principal_of(request, visitor)
    try:
        organization_id = uuid.UUID(form.get("org", ""))
        role = UserRole(form.get("role", ""))
    except ValueError:
        organization_id = _organization(request, principal)
        return _invite_form(
            request, principal, organization_id, form, FormAnswer.invalid("problem.role")
        )
    try:
        invited = await people.invite(
            database,
            settings,
            principal,
            organization_id=organization_id,
            role=role,
            display_name=form.get("display_name", ""),
            login_name=form.get("login", "").strip() or None,
            phone=form.get("phone", "").strip() or None,
            preferred_language=form.get("language", "en"),
        )
    except RelayError as error:
        return _invite_form(request, principal, organization_id, form, FormAnswer.of(error))
    return _invited(request, invited, f"{PEOPLE_PATH}?org={organization_id}")


async def _managed(
    request: Request, database: AsyncSession, visitor: Visitor, user_id: uuid.UUID
) -> tuple[Principal, UserSummary] | Response:
    """The person asked for, if the visitor manages them; else the page saying why not."""
    principal = principal_of(request, visitor)
    try:
        return principal, await people.get_user(database, principal, user_id)
    except RelayError as error:
        return not_allowed(request, error)


def _person_page(
    request: Request,
    principal: Principal,
    user: UserSummary,
    contact: notify.Contact | None,
    answer: FormAnswer = FIRST_SHOWING,
    *,
    typed_contact: str | None = None,
) -> Response:
    """The person's page; ``contact``: where they are told of urgent referrals (the form shows
    it, or ``typed_contact`` when what was typed is refused)."""
    return form_page(
        request,
        "app/person.html",
        answer,
        user=user,
        roles=people.grantable_roles(principal),
        itself=user.id == principal.user_id,
        contact=contact,
        typed_contact=contact.address if typed_contact is None and contact else typed_contact,
    )


async def _contact(
    database: AsyncSession, principal: Principal, user: UserSummary
) -> notify.Contact | None:
    return await notify.contact_of(database, principal, user.id)


@router.get("/people/{user_id}", summary="One of an organisation's people (HTML)")
async def person_page(
    user_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    managed = await _managed(request, database, visitor, user_id)
    if isinstance(managed, Response):
        return managed
    principal, user = managed
    return _person_page(request, principal, user, await _contact(database, principal, user))


@router.get("/people/{user_id}/role", summary="Change a person's role (HTML)")
async def role_page(
    user_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    return await person_page(user_id, request, database, visitor)


@router.post("/people/{user_id}/role", summary="Change a person's role (HTML form)")
async def change_role(
    user_id: uuid.UUID,
    request: Request,
    database: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
) -> Response:
    form = await posted(request)
    managed = await _managed(request, database, visitor, user_id)
    if isinstance(managed, Response):
        return managed
    principal, user = managed
    try:
        await people.change_role(
            database, settings, principal, user_id, UserRole(form.get("role", ""))
        )
    except ValueError:
        contact = await _contact(database, principal, user)
        return _person_page(request, principal, user, contact, FormAnswer.invalid("problem.role"))
    except RelayError as error:
        contact = await _contact(database, principal, user)
        return _person_page(request, principal, user, contact, FormAnswer.of(error))
    return redirect(request, f"{PEOPLE_PATH}/{user_id}?done=role")


@router.post(
    "/people/{user_id}/notifications",
    summary="Set or remove a person's contact for urgent referrals (HTML form)",
)
async def notification_contact(
    user_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    """The address is posted in the form's body and shown again on the person's page only: it
    never goes into a URL."""
    form = await posted(request)
    managed = await _managed(request, database, visitor, user_id)
    if isinstance(managed, Response):
        return managed
    principal, user = managed
    typed = form.get("contact", "")
    try:
        if "remove" in form:
            await notify.remove_contact(database, principal, user_id)
        else:
            await notify.set_contact(database, principal, user_id, typed)
    except RelayError as error:
        contact = await _contact(database, principal, user)
        return _person_page(
            request, principal, user, contact, FormAnswer.of(error), typed_contact=typed
        )
    return redirect(request, f"{PEOPLE_PATH}/{user_id}?done=notifications")


async def _managed_person(
    user_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Subject[UserSummary] | Response:
    """A person the visitor manages (named on the confirmation; a service's refusal is shown
    on their page), or the page saying why not."""
    managed = await _managed(request, database, visitor, user_id)
    if isinstance(managed, Response):
        return managed
    principal, user = managed
    contact = await _contact(database, principal, user)

    def refused(request: Request, error: RelayError) -> Response:
        return _person_page(request, principal, user, contact, FormAnswer.of(error))

    path = f"{PEOPLE_PATH}/{user_id}"
    return Subject(path, principal, user, shown={"user": user}, refused=refused)


@asks_first(router, _managed_person, "/people/{user_id}/reset", "Reset a person's account")
async def reset(confirmed: Confirmed[UserSummary]) -> Response:
    at = confirmed.subject
    invited = await people.reset(confirmed.database, confirmed.settings, at.principal, at.about.id)
    return _invited(confirmed.request, invited, at.path)


@asks_first(
    router, _managed_person, "/people/{user_id}/deactivate", "Deactivate a person's account"
)
async def deactivate(confirmed: Confirmed[UserSummary]) -> Response:
    at = confirmed.subject
    await people.deactivate(confirmed.database, confirmed.settings, at.principal, at.about.id)
    return redirect(confirmed.request, f"{at.path}?done=deactivated")
