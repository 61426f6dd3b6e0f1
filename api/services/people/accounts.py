"""People's accounts as their managers see them: invitations (no e-mail: a one-time code, or a
link carrying it), resets, roles, deactivation, the list of an organisation's people.

**Who manages whom** (checked here, whatever the caller is):

- the operator (``relay users …`` at the command line, a person with the ``operator`` role, or
  an operator's client holding ``admin``): everyone, every role, in every organisation; the
  ``operator`` role only in the operator's organisation (``organization.operator``), which has
  no other;
- an ``org_admin``: the people of their own organisation, with the roles ``volunteer``,
  ``caseworker`` and ``org_admin``; another organisation's people answer as if they did not
  exist (404);
- nobody else (403), and nobody changes their own role, deactivates or resets themselves.

An invitation is a code of 12 characters a person can read aloud or type (``7K3M-Q9TX-2HRB``),
shown once, kept as a keyed hash, good once until ``RELAY_INVITATION_LIFETIME_HOURS`` (72) have
passed; creating another one for the same person ends the earlier one. A reset is an invitation
too, and takes effect at once: the password, the authenticator and the recovery codes are
removed and every session and token of the person ends, before the new code is even used.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import passwords
from api.auth.principal import Principal, person_pseudonym
from api.auth.roles import ORG_ADMIN_MAY_GRANT, requires_second_factor
from api.auth.scopes import Scope
from api.auth.tokens import (
    INVITATION_CODE_LENGTH,
    canonical_code,
    keyed_hash,
    new_invitation_code,
)
from api.config import Settings
from api.models.organization import Organization
from api.models.people import Invitation, InvitationPurpose, UserAccount, UserRole
from api.records import record_of
from api.repositories import people as repository
from api.services import audit, organizations
from api.services.audit import Action, Actor
from api.services.people import identifiers, throttle
from api.services.people.errors import (
    InvalidLogin,
    LoginTaken,
    NotAllowed,
    OperatorOrganization,
    OwnAccount,
    PasswordNotAccepted,
    UserDeactivated,
    UserNotFound,
)
from api.services.people.sign_in import audit_failure, by_themselves, complete, refuse
from api.services.people.steps import (
    RESOURCE,
    EnrolmentNeeded,
    Refused,
    SignedIn,
    SignedInUser,
    usable,
)

Manager = Principal | Actor
"""Who manages people: a principal (a person, or an operator's client), or ``audit.CLI``."""


@dataclass(frozen=True)
class UserSummary:
    """A person as their managers see them: never a password, a secret or a code."""

    id: uuid.UUID
    organization_id: uuid.UUID
    role: UserRole
    login_name: str | None
    phone: str | None
    display_name: str
    preferred_language: str
    created_at: datetime
    last_sign_in_at: datetime | None
    deactivated_at: datetime | None
    second_factor: bool
    """Whether the account has a confirmed authenticator."""
    invitation_expires_at: datetime | None
    """When the invitation (or reset) not used yet expires; None when there is none."""

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


@dataclass(frozen=True)
class Invited:
    """A new invitation: ``code`` and ``link`` are shown once, to hand to the person."""

    user: UserSummary
    code: str
    link: str
    expires_at: datetime
    purpose: InvitationPurpose


@dataclass(frozen=True)
class InvitationDetails:
    """What the page that takes an invitation code may show before the password is chosen."""

    display_name: str
    role: UserRole
    minimum_password_length: int
    expires_at: datetime


@dataclass(frozen=True)
class _Authority:
    organization_id: uuid.UUID | None
    """The one organisation whose people the manager manages; None: every one."""
    grants: frozenset[UserRole]
    self_id: uuid.UUID | None
    actor: Manager
    created_by: str


EVERY_ROLE = frozenset(UserRole)


def _authority(by: Manager) -> _Authority:
    if isinstance(by, Actor):
        if by != audit.CLI:
            raise NotAllowed("Only the operator manages people from Relay's own tools.")
        return _Authority(None, EVERY_ROLE, None, by, by.client_id or "relay-cli")
    if by.user_id is None:
        if by.has(Scope.admin):
            return _Authority(None, EVERY_ROLE, None, by, by.client_id)
        raise NotAllowed("A partner's system does not manage people.")
    created_by = person_pseudonym(by.user_id)
    if by.role is UserRole.operator:
        return _Authority(None, EVERY_ROLE, by.user_id, by, created_by)
    if by.role is UserRole.org_admin:
        return _Authority(by.organization_id, ORG_ADMIN_MAY_GRANT, by.user_id, by, created_by)
    raise NotAllowed("Only an organisation's admins and the operator manage people.")


def _may_grant(authority: _Authority, role: UserRole) -> None:
    if role not in authority.grants:
        raise NotAllowed(f"You cannot give the role {role.value}.")


def _fits(organization: Organization, role: UserRole) -> None:
    if (role is UserRole.operator) != organization.operator:
        raise OperatorOrganization(
            "The operator role exists only in the operator's organisation, and is the only "
            "role there."
        )


def summary(user: UserAccount, invitation_expires_at: datetime | None = None) -> UserSummary:
    return record_of(
        UserSummary,
        user,
        role=UserRole(user.role),
        second_factor=user.totp_secret is not None,
        invitation_expires_at=invitation_expires_at,
    )


def invitation_code_hash(settings: Settings, canonical: str) -> str:
    return keyed_hash(settings.secret_key.get_secret_value(), f"invitation:{canonical}")


def invitation_link(settings: Settings, code: str) -> str:
    """Where the person takes the invitation: the code in the link, for those who are sent it
    (the page also takes it typed)."""
    return f"{settings.issuer}/app/invitation/{code}"


async def _target(
    session: AsyncSession, authority: _Authority, user_id: uuid.UUID
) -> tuple[UserAccount, Organization]:
    """The person managed, locked; another organisation's answers as a person that does not
    exist."""
    found = await repository.get_with_organization(session, user_id, lock=True)
    if found is None or (
        authority.organization_id is not None
        and found[0].organization_id != authority.organization_id
    ):
        raise UserNotFound()
    user, organization = found
    _may_grant(authority, UserRole(user.role))
    return user, organization


def _not_self(authority: _Authority, user: UserAccount) -> None:
    if authority.self_id is not None and authority.self_id == user.id:
        raise OwnAccount("Another admin, or the operator, does this for you.")


async def _invitation(
    session: AsyncSession,
    settings: Settings,
    authority: _Authority,
    user: UserAccount,
    purpose: InvitationPurpose,
    now: datetime,
) -> Invited:
    await repository.end_open_invitations(session, user.id, now)
    code = new_invitation_code()
    expires_at = now + timedelta(hours=settings.invitation_lifetime_hours)
    await repository.add(
        session,
        Invitation(
            user_id=user.id,
            code_hash=invitation_code_hash(settings, code.replace("-", "")),
            purpose=purpose.value,
            created_at=now,
            created_by=authority.created_by,
            expires_at=expires_at,
        ),
    )
    return Invited(
        user=summary(user, expires_at),
        code=code,
        link=invitation_link(settings, code),
        expires_at=expires_at,
        purpose=purpose,
    )


async def invite(
    session: AsyncSession,
    settings: Settings,
    by: Manager,
    *,
    organization_id: uuid.UUID,
    role: UserRole,
    display_name: str,
    login_name: str | None = None,
    phone: str | None = None,
    preferred_language: str = "en",
) -> Invited:
    """A new person, and the invitation that lets them set their password."""
    authority = _authority(by)
    if authority.organization_id is not None and organization_id != authority.organization_id:
        raise NotAllowed("You manage your own organisation's people only.")
    _may_grant(authority, role)
    organization = await organizations.get(session, organization_id)
    _fits(organization, role)
    name = identifiers.login_name(login_name) if login_name else None
    number = identifiers.phone(phone) if phone else None
    if name is None and number is None:
        raise InvalidLogin("A person needs a login name or a phone number (or both).")
    if await repository.taken(session, login_name=name, phone=number):
        raise LoginTaken("Another account has this login name or phone number.")
    now = datetime.now(UTC)
    user = UserAccount(
        organization_id=organization.id,
        role=role.value,
        operator=role is UserRole.operator,
        login_name=name,
        phone=number,
        display_name=identifiers.display_name(display_name),
        preferred_language=identifiers.language(preferred_language),
        created_at=now,
    )
    if not await repository.add_if_free(session, user):
        raise LoginTaken("Another account has this login name or phone number.")
    invited = await _invitation(
        session, settings, authority, user, InvitationPurpose.first_password, now
    )
    await audit.record(
        session, authority.actor, Action.user_invite, RESOURCE, [user.id], [organization.id]
    )
    return invited


async def reset(
    session: AsyncSession, settings: Settings, by: Manager, user_id: uuid.UUID
) -> Invited:
    """Take the account from whoever holds it now: no password, no authenticator, no recovery
    codes, every session and token ended; and a new invitation for the person."""
    authority = _authority(by)
    user, _ = await _target(session, authority, user_id)
    _not_self(authority, user)
    if user.deactivated_at is not None:
        raise UserDeactivated("A deactivated account cannot be reset.")
    now = datetime.now(UTC)
    user.password_hash = None
    user.password_changed_at = now
    user.totp_secret = user.totp_secret_version = user.totp_confirmed_at = None
    user.totp_pending_secret = user.totp_pending_version = None
    user.last_totp_step = None
    await repository.add(session, user)
    await repository.delete_recovery_codes(session, user.id)
    await repository.bump_generation(session, user)
    invited = await _invitation(session, settings, authority, user, InvitationPurpose.reset, now)
    await audit.record(
        session, authority.actor, Action.user_reset, RESOURCE, [user.id], [user.organization_id]
    )
    return invited


async def _open_invitation(
    session: AsyncSession, settings: Settings, code: str, now: datetime
) -> tuple[Invitation | None, UserAccount | None]:
    """The invitation of this code with its account, locked, if it may be used now."""
    canonical = canonical_code(code, INVITATION_CODE_LENGTH)
    if canonical is None:
        return None, None
    found = await repository.invitation_by_hash(session, invitation_code_hash(settings, canonical))
    if found is None:
        return None, None
    invitation, user = found
    account = await repository.get_with_organization(session, user.id)
    organization = account[1] if account else None
    if invitation.used_at is not None or invitation.expires_at <= now:
        return None, user
    if not usable(user, organization):
        return None, user
    return invitation, user


async def _refuse_code(
    session: AsyncSession,
    settings: Settings,
    address: str | None,
    now: datetime,
    user: UserAccount | None,
) -> Refused:
    await throttle.failed_address_only(session, settings, address, now)
    await audit_failure(session, Action.user_redeem, user)
    return Refused(retry_after=await throttle.address_wait(session, settings, address, now))


async def _usable_invitation(
    session: AsyncSession, settings: Settings, code: str, address: str | None, now: datetime
) -> tuple[Invitation, UserAccount] | Refused:
    """The invitation of this code with its account, locked, if it may be used now; else
    refused alike (counted against the address), or while the address must wait."""
    wait = await throttle.address_wait(session, settings, address, now)
    if wait > 0:
        return Refused(retry_after=wait)
    invitation, user = await _open_invitation(session, settings, code, now)
    if invitation is None or user is None:
        return await _refuse_code(session, settings, address, now, user)
    return invitation, user


async def invitation_details(
    session: AsyncSession, settings: Settings, code: str, address: str | None
) -> InvitationDetails | Refused:
    """What an invitation is for, to show before the person chooses a password; an unknown,
    used or expired code is refused alike (and counted against the address)."""
    opened = await _usable_invitation(session, settings, code, address, datetime.now(UTC))
    if isinstance(opened, Refused):
        return opened
    invitation, user = opened
    role = UserRole(user.role)
    return InvitationDetails(
        display_name=user.display_name,
        role=role,
        minimum_password_length=passwords.minimum_length(role),
        expires_at=invitation.expires_at,
    )


async def redeem_invitation(
    session: AsyncSession, settings: Settings, code: str, password: str, address: str | None
) -> Refused | EnrolmentNeeded | SignedIn:
    """Set the password an invitation (or a reset) is for. The person is then signed in, or,
    for a role that needs TOTP, goes on to enrol their authenticator (``EnrolmentNeeded``).
    A password not accepted raises ``PasswordNotAccepted`` and leaves the invitation unused."""
    now = datetime.now(UTC)
    opened = await _usable_invitation(session, settings, code, address, now)
    if isinstance(opened, Refused):
        return opened
    invitation, user = opened
    role = UserRole(user.role)
    try:
        accepted = passwords.check_new_password(
            password, role, [user.login_name, user.phone, user.display_name]
        )
    except passwords.PasswordNotAccepted as error:
        raise PasswordNotAccepted(str(error), reason=error.reason, limit=error.limit) from None
    user.password_hash = await passwords.hash_password(settings, accepted)
    user.password_changed_at = now
    invitation.used_at = now
    await repository.add(session, user, invitation)
    await repository.end_open_invitations(session, user.id, now)
    await by_themselves(session, user, Action.user_redeem)
    if requires_second_factor(role) and user.totp_secret is None:
        return EnrolmentNeeded(user.id, user.generation)
    return await complete(
        session, settings, throttle.keys(settings, address, user_id=user.id), user, now
    )


async def list_users(
    session: AsyncSession, by: Manager, organization_id: uuid.UUID | None = None
) -> list[UserSummary]:
    """An organisation's people, with their last sign-in (an org admin: their own; the
    operator: the one named)."""
    authority = _authority(by)
    chosen = organization_id or authority.organization_id
    if chosen is None:
        raise InvalidLogin("Name the organisation whose people to list.")
    if authority.organization_id is not None and chosen != authority.organization_id:
        raise NotAllowed("You manage your own organisation's people only.")
    await organizations.get(session, chosen)
    users = await repository.of_organization(session, chosen)
    pending = await repository.open_invitations(
        session, [user.id for user in users], datetime.now(UTC)
    )
    await audit.record(session, authority.actor, Action.list, RESOURCE, [], [chosen])
    return [summary(user, pending.get(user.id)) for user in users]


async def get_user(session: AsyncSession, by: Manager, user_id: uuid.UUID) -> UserSummary:
    authority = _authority(by)
    found = await repository.get_with_organization(session, user_id)
    if found is None or (
        authority.organization_id is not None
        and found[0].organization_id != authority.organization_id
    ):
        raise UserNotFound()
    user = found[0]
    pending = await repository.open_invitations(session, [user.id], datetime.now(UTC))
    return summary(user, pending.get(user.id))


async def change_role(
    session: AsyncSession, settings: Settings, by: Manager, user_id: uuid.UUID, role: UserRole
) -> UserSummary:
    """Give the person another role. Their sessions and tokens end (they carry the old
    role's scopes); a role that needs TOTP makes them enrol at their next sign-in."""
    authority = _authority(by)
    user, organization = await _target(session, authority, user_id)
    _not_self(authority, user)
    _may_grant(authority, role)
    _fits(organization, role)
    if user.deactivated_at is not None:
        raise UserDeactivated("A deactivated account keeps its role.")
    if user.role != role.value:
        user.role = role.value
        user.operator = role is UserRole.operator
        await repository.add(session, user)
        await repository.bump_generation(session, user)
        await audit.record(
            session,
            authority.actor,
            Action.user_role_change,
            RESOURCE,
            [user.id],
            [user.organization_id],
        )
    pending = await repository.open_invitations(session, [user.id], datetime.now(UTC))
    return summary(user, pending.get(user.id))


async def deactivate(
    session: AsyncSession, settings: Settings, by: Manager, user_id: uuid.UUID
) -> UserSummary:
    """The person can no longer sign in; their sessions and tokens end at once (a new
    generation), their invitation not used yet too. Deactivating again changes nothing."""
    authority = _authority(by)
    user, _ = await _target(session, authority, user_id)
    _not_self(authority, user)
    if user.deactivated_at is None:
        now = datetime.now(UTC)
        user.deactivated_at = now
        await repository.add(session, user)
        await repository.bump_generation(session, user)
        await repository.end_open_invitations(session, user.id, now)
        await audit.record(
            session,
            authority.actor,
            Action.user_deactivate,
            RESOURCE,
            [user.id],
            [user.organization_id],
        )
    return summary(user)


async def change_password(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    current_password: str,
    new_password: str,
    address: str | None,
) -> Refused | SignedInUser:
    """The person signed in as ``principal`` chooses a new password, giving the current one
    (a wrong one counts as a failed sign-in). Their other sessions and tokens end: the answer is
    the person with the new generation, for the session that made the change."""
    if principal.user_id is None:
        raise NotAllowed("Only a person has a password.")
    now = datetime.now(UTC)
    keys = throttle.keys(settings, address, user_id=principal.user_id)
    wait = await throttle.begin(session, settings, keys, now)
    if wait > 0:
        return Refused(retry_after=wait)
    found = await repository.get_with_organization(session, principal.user_id, lock=True)
    user, organization = found if found else (None, None)
    stored = user.password_hash if user is not None and usable(user, organization) else None
    verified = await passwords.verify(settings, stored, current_password)
    if user is None or not verified.ok:
        return await refuse(session, settings, keys, now, user)
    try:
        accepted = passwords.check_new_password(
            new_password, UserRole(user.role), [user.login_name, user.phone, user.display_name]
        )
    except passwords.PasswordNotAccepted as error:
        raise PasswordNotAccepted(str(error), reason=error.reason, limit=error.limit) from None
    user.password_hash = await passwords.hash_password(settings, accepted)
    user.password_changed_at = now
    await repository.add(session, user)
    await repository.bump_generation(session, user)
    await throttle.succeeded(session, keys)
    await audit.record(
        session,
        principal,
        Action.user_password_change,
        RESOURCE,
        [user.id],
        [user.organization_id],
    )
    return SignedInUser.of(user)


async def own_account(session: AsyncSession, principal: Principal) -> UserSummary:
    """The account of the person signed in as ``principal``, as their account page shows it."""
    if principal.user_id is None:
        raise UserNotFound()
    user = await repository.get(session, principal.user_id)
    if user is None:
        raise UserNotFound()
    return summary(user)


async def choose_own_language(session: AsyncSession, principal: Principal, code: str) -> None:
    """The language the person's pages open in after sign-in and their notifications are
    written in. Not a credential: sessions and tokens go on (the account's generation stays)."""
    chosen = identifiers.language(code)
    if principal.user_id is None:
        raise UserNotFound()
    user = await repository.get(session, principal.user_id, lock=True)
    if user is None:
        raise UserNotFound()
    user.preferred_language = chosen
    await session.flush()


def grantable_roles(by: Manager) -> list[UserRole]:
    """The roles ``by`` may give (in ``UserRole``'s order): for a page to offer only those."""
    authority = _authority(by)
    return [role for role in UserRole if role in authority.grants]


MANAGED_ORGANIZATIONS_SHOWN = 1000


async def managed_organizations(session: AsyncSession, by: Manager) -> list[Organization]:
    """The organisations whose people ``by`` manages: an org admin's own, every one for the
    operator (the first ``MANAGED_ORGANIZATIONS_SHOWN``, by name)."""
    authority = _authority(by)
    if authority.organization_id is not None:
        return [await organizations.get(session, authority.organization_id)]
    found, _ = await organizations.page(session, limit=MANAGED_ORGANIZATIONS_SHOWN, offset=0)
    return sorted(found, key=lambda organization: organization.name.casefold())
