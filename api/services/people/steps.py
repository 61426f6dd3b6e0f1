"""What the people services answer: the steps of a sign-in, and the person once signed in.

A refusal is a value (``Refused``), not an exception: the failure it counts and the audit event
it writes must commit with the request (an exception would roll them back).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from api.auth.principal import WEB_CLIENT_ID, Principal
from api.auth.roles import requires_second_factor, scopes_of
from api.models.organization import Organization, OrganizationStatus
from api.models.people import UserAccount, UserRole
from api.records import record_of

RESOURCE = "user_account"
TOTP_COLUMN = "totp_secret"


@dataclass(frozen=True)
class SignedInUser:
    """A person as a session (part of issue 20's web pages) or a token keeps them: who, in which
    organisation, with which role, and the ``generation`` of the account they were made in
    (``current_user`` checks it on every use)."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: UserRole
    generation: int
    display_name: str
    preferred_language: str

    @property
    def scopes(self) -> frozenset[str]:
        return scopes_of(self.role)

    def principal(
        self,
        *,
        expires_at: datetime,
        client_id: str = WEB_CLIENT_ID,
        client_pk: uuid.UUID | None = None,
        granted: frozenset[str] | None = None,
    ) -> Principal:
        """The principal the services take, for this person (through ``client_id``: Relay's
        pages, or an app acting for them with the scopes it was ``granted``)."""
        return Principal.of_person(
            user_id=self.user_id,
            organization_id=self.organization_id,
            role=self.role,
            expires_at=expires_at,
            client_id=client_id,
            client_pk=client_pk,
            granted=granted,
        )

    @classmethod
    def of(cls, user: UserAccount) -> "SignedInUser":
        return record_of(cls, user, user_id=user.id, role=UserRole(user.role))


@dataclass(frozen=True)
class Refused:
    """Not let in, and why not said: a wrong login, password or code, an unknown, used or
    expired invitation, a deactivated account all look alike. ``retry_after``: seconds before
    another try will be checked at all (0: try again now)."""

    retry_after: float = 0.0

    @property
    def throttled(self) -> bool:
        return self.retry_after > 0


@dataclass(frozen=True)
class SecondFactorNeeded:
    """The password was right; the person must now type a TOTP code (``verify_second_factor``)
    or a recovery code (``use_recovery_code``), naming this ``user_id`` and ``generation``.
    Keep both server-side, with the time, for a few minutes at most: this is not a session."""

    user_id: uuid.UUID
    generation: int


@dataclass(frozen=True)
class EnrolmentNeeded:
    """The password was right, and the role needs TOTP the account has not set up: the person
    enrols now (``enrol_totp`` then ``confirm_totp(..., during_sign_in=True)``), or does not
    get in."""

    user_id: uuid.UUID
    generation: int


@dataclass(frozen=True)
class SignedIn:
    user: SignedInUser
    device: str = ""
    """A device token for the browser the person signed in from (``throttle``: keep it in a
    long-lived cookie and give it back at the next sign-in)."""


SignInStep = Refused | SecondFactorNeeded | EnrolmentNeeded | SignedIn


@dataclass(frozen=True)
class TotpEnrolment:
    """A new TOTP secret to show the person once: as a QR code of ``uri``, or typed."""

    secret: str
    uri: str


@dataclass(frozen=True)
class TotpConfirmed:
    user: SignedInUser
    recovery_codes: list[str] = field(default_factory=list)
    """New recovery codes to show once (the first enrolment makes them; a replacement keeps
    the ones the person has)."""
    device: str = ""
    """During a sign-in, the device token of ``SignedIn``."""


def usable(user: UserAccount | None, organization: Organization | None) -> bool:
    """Whether the account may be used at all: not deactivated, its organisation active."""
    return (
        user is not None
        and user.deactivated_at is None
        and organization is not None
        and organization.status == OrganizationStatus.active.value
    )


def next_step(user: UserAccount) -> SecondFactorNeeded | EnrolmentNeeded | None:
    """After the password: the second factor, its enrolment, or nothing more (None)."""
    if user.totp_secret is not None:
        return SecondFactorNeeded(user.id, user.generation)
    if requires_second_factor(UserRole(user.role)):
        return EnrolmentNeeded(user.id, user.generation)
    return None
