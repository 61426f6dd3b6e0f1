"""People's accounts, made the way a person gets one: invited by the operator (the command line's
actor), the invitation used to set a password, an authenticator enrolled for the roles that need
one. Plain async functions."""

import itertools
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import totp
from api.auth.principal import Principal
from api.config import Settings
from api.models.organization import Organization, OrganizationKind
from api.models.people import UserRole
from api.repositories import organizations as organization_repository
from api.services import audit, people
from api.services.people import EnrolmentNeeded, SignedIn, SignedInUser, TotpConfirmed

ADDRESS = "192.0.2.10"
_serial = itertools.count(1)


@dataclass
class Person:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: UserRole
    login: str
    password: str
    totp_secret: str | None = None
    recovery_codes: list[str] = field(default_factory=list)
    generation: int = 1
    last_step_used: int | None = None

    def principal(self) -> Principal:
        return SignedInUser(
            user_id=self.user_id,
            organization_id=self.organization_id,
            role=self.role,
            generation=self.generation,
            display_name="",
            preferred_language="en",
        ).principal(expires_at=datetime.now(UTC) + timedelta(minutes=15))

    async def signed_in(self, session: AsyncSession) -> SignedInUser:
        """The person as a session holds them (``current_user``), for the authorize step."""
        found = await people.current_user(session, self.user_id, self.generation)
        assert found is not None, "the account no longer holds"
        return found

    def next_code(self) -> str:
        """A TOTP code of a step not used yet (the next 30-second step when this one is)."""
        assert self.totp_secret is not None
        now = datetime.now(UTC)
        step = int(now.timestamp()) // totp.PERIOD_SECONDS
        if self.last_step_used is not None and step <= self.last_step_used:
            step = self.last_step_used + 1
        self.last_step_used = step
        return totp.code_at(self.totp_secret, datetime.fromtimestamp(step * 30 + 1, UTC))


def unique_login(prefix: str = "person") -> str:
    return f"{prefix}{next(_serial)}.{secrets.token_hex(3)}"


def strong_password() -> str:
    return "kettle " + secrets.token_hex(6) + " harbour"


async def create_operator_organization(session: AsyncSession) -> Organization:
    found = await organization_repository.operator(session)
    if found is not None:
        return found
    return await organization_repository.add(
        session,
        Organization(name="Relay operator (test)", kind=OrganizationKind.ngo.value, operator=True),
    )


async def invite(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    role: UserRole = UserRole.caseworker,
    *,
    by: people.Manager = audit.CLI,
    login: str | None = None,
    phone: str | None = None,
) -> people.Invited:
    return await people.invite(
        session,
        settings,
        by,
        organization_id=organization.id,
        role=role,
        display_name="Test person",
        login_name=login if login or phone else unique_login(),
        phone=phone,
    )


async def create_person(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    role: UserRole = UserRole.caseworker,
    *,
    with_totp: bool | None = None,
    login: str | None = None,
) -> Person:
    """A person who has used their invitation and, for the roles that need one (or when
    ``with_totp``), enrolled an authenticator."""
    invited = await invite(session, settings, organization, role, login=login)
    password = strong_password()
    step = await people.redeem_invitation(session, settings, invited.code, password, ADDRESS)
    person = Person(
        user_id=invited.user.id,
        organization_id=organization.id,
        role=role,
        login=invited.user.login_name or "",
        password=password,
    )
    enrol = with_totp if with_totp is not None else isinstance(step, EnrolmentNeeded)
    if enrol:
        enrolment = await people.enrol_totp(
            session, settings, person.user_id, 1, during_sign_in=isinstance(step, EnrolmentNeeded)
        )
        person.totp_secret = enrolment.secret
        confirmed = await people.confirm_totp(
            session,
            settings,
            person.user_id,
            1,
            person.next_code(),
            ADDRESS,
            during_sign_in=isinstance(step, EnrolmentNeeded),
        )
        assert isinstance(confirmed, TotpConfirmed), confirmed
        person.recovery_codes = confirmed.recovery_codes
        person.generation = confirmed.user.generation
    else:
        assert isinstance(step, SignedIn), step
    return person


async def travel(session: AsyncSession, seconds: float) -> None:
    """Let ``seconds`` pass for the sign-in throttles (their stored times move back)."""
    from sqlalchemy import text

    shift = {"shift": timedelta(seconds=seconds)}
    back = "- CAST(:shift AS interval)"
    await session.execute(
        text(
            f"UPDATE sign_in_account_failures SET blocked_until = blocked_until {back}, "
            f"last_failure_at = last_failure_at {back}"
        ),
        shift,
    )
    await session.execute(
        text(f"UPDATE sign_in_address_failures SET arrival = arrival {back}"), shift
    )
