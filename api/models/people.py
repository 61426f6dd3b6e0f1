"""People's accounts: who they are, how they prove it, and how they are let in.

A person belongs to one organisation and has one role (``UserRole``; what each may do is
``api/auth/roles.py``). They sign in with a login name or a phone number and a password
(Argon2id), and a TOTP second factor for the roles that read a person's data. They are let in by
a one-time invitation an administrator creates (no e-mail needed); a reset is an invitation too.

Nothing that opens an account is stored in clear: passwords as Argon2id hashes, invitation and
recovery codes as keyed hashes (HMAC-SHA256 with the server's secret key, as OAuth tokens are),
TOTP secrets sealed with the master key (AES-256-GCM, ``MasterKeys.seal``), and the sign-in
throttles by keyed hashes of the login tried and of the address it came from.
"""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, timestamp_field

LOGIN_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
"""Lower case (so that uniqueness is case-insensitive): the service lower-cases what is typed."""
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
"""E.164: a plus, the country code and the number, digits only."""


class UserRole(StrEnum):
    volunteer = "volunteer"
    caseworker = "caseworker"
    org_admin = "org_admin"
    operator = "operator"


class InvitationPurpose(StrEnum):
    first_password = "first_password"  # noqa: S105 (a purpose, not a password)
    reset = "reset"


class UserAccount(SQLModel, table=True):
    __tablename__ = "user_account"
    __table_args__ = (
        enum_check("role", UserRole),
        sa.CheckConstraint(f"login_name ~ '{LOGIN_NAME_PATTERN}'", name="login_name_format"),
        sa.CheckConstraint(f"phone ~ '{PHONE_PATTERN}'", name="phone_format"),
        sa.CheckConstraint("login_name IS NOT NULL OR phone IS NOT NULL", name="identified"),
        sa.CheckConstraint("length(display_name) BETWEEN 1 AND 100", name="display_name_length"),
        sa.CheckConstraint("preferred_language ~ '^[a-z]{2,3}$'", name="preferred_language"),
        sa.CheckConstraint("operator = (role = 'operator')", name="operator_is_role"),
        sa.CheckConstraint("generation >= 1", name="generation_positive"),
        sa.CheckConstraint(
            "(totp_secret IS NULL) = (totp_secret_version IS NULL) "
            "AND (totp_secret IS NULL) = (totp_confirmed_at IS NULL) "
            "AND (totp_pending_secret IS NULL) = (totp_pending_version IS NULL)",
            name="totp_complete",
        ),
        # An operator only in the operator's organisation, and only operators there.
        sa.ForeignKeyConstraint(
            ["organization_id", "operator"], ["organization.id", "organization.operator"]
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    """The person's pseudonymous id: what the audit trail names them by."""
    organization_id: uuid.UUID = Field(index=True)  # the foreign key is the pair above
    role: str = Field(sa_type=sa.Text)
    operator: bool = Field(default=False)
    """``role = 'operator'``, kept beside it so the foreign key above can check it."""
    login_name: str | None = Field(default=None, sa_type=sa.Text, unique=True)
    phone: str | None = Field(default=None, sa_type=sa.Text, unique=True)
    display_name: str = Field(sa_type=sa.Text)
    preferred_language: str = Field(default="en", sa_type=sa.Text)
    password_hash: str | None = Field(default=None, sa_type=sa.Text)
    """Argon2id (PHC string); None until an invitation is used, and again after a reset."""
    password_changed_at: datetime | None = timestamp_field()
    totp_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    """The confirmed TOTP secret, sealed by the master key (version ``totp_secret_version``)."""
    totp_secret_version: int | None = None
    totp_confirmed_at: datetime | None = timestamp_field()
    totp_pending_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    """A secret being enrolled, sealed likewise; it replaces ``totp_secret`` once a code of it
    is confirmed (the confirmed one keeps working meanwhile)."""
    totp_pending_version: int | None = None
    last_totp_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    """The last TOTP time step accepted: a code of it, or of an earlier step, is refused."""
    generation: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    """Bumped by a deactivation, a reset, a role change and "sign out everywhere": sessions and
    tokens carry the generation they were made in and die when it is no longer the current."""
    created_at: datetime = created_at_field()
    last_sign_in_at: datetime | None = timestamp_field()
    deactivated_at: datetime | None = timestamp_field()


class Invitation(SQLModel, table=True):
    """A one-time code that lets a person set their password (first time, or after a reset)."""

    __tablename__ = "invitation"
    __table_args__ = (enum_check("purpose", InvitationPurpose),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    code_hash: str = Field(sa_type=sa.Text, unique=True)
    purpose: str = Field(sa_type=sa.Text)
    created_at: datetime = created_at_field()
    created_by: str = Field(sa_type=sa.Text)
    """Who created it, as the audit trail names actors: ``user/<id>`` or a client id."""
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    used_at: datetime | None = timestamp_field()


class RecoveryCode(SQLModel, table=True):
    """One of a person's one-time codes for when their authenticator is lost."""

    __tablename__ = "recovery_code"
    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    code_hash: str = Field(sa_type=sa.Text)
    created_at: datetime = created_at_field()
    used_at: datetime | None = timestamp_field()


class SignInAccountFailures(SQLModel, table=True):
    """Failed sign-ins against one account (or one login that names no account, so that both
    are slowed alike): the key is a keyed hash of ``account:<id>`` or ``login:<login>``."""

    __tablename__ = "sign_in_account_failures"

    key: str = Field(sa_type=sa.Text, primary_key=True)
    failures: int
    last_failure_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    blocked_until: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class SignInAddressFailures(SQLModel, table=True):
    """Failed sign-ins (and invitation codes) from one address (an IPv6 /64 counts as one), as a
    generic cell rate: ``arrival`` moves one interval ahead per failure, and the address waits
    while it is more than the budget ahead of now. The key is a keyed hash of the address."""

    __tablename__ = "sign_in_address_failures"

    key: str = Field(sa_type=sa.Text, primary_key=True)
    arrival: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class WebSessionState(StrEnum):
    """Where a browser is in signing in (``api/services/people/sessions.py``)."""

    anonymous = "anonymous"
    """Nobody signed in: the forms' CSRF secret, the language, perhaps an invitation code."""
    second_factor = "second_factor"
    """The password was right; a TOTP or recovery code comes next (minutes only)."""
    enrolment = "enrolment"
    """The password was right; the authenticator the role needs is enrolled next (minutes only)."""
    signed_in = "signed_in"


class WebSession(SQLModel, table=True):
    """A browser's session on Relay's own pages. The key is a keyed hash (HMAC-SHA256 with the
    server's secret key) of the cookie's random value (256 bits), which is never stored; each
    step of a sign-in makes a new session (a new value) and deletes the one before."""

    __tablename__ = "web_session"
    __table_args__ = (
        enum_check("state", WebSessionState),
        sa.CheckConstraint("(state = 'anonymous') = (user_id IS NULL)", name="person_known"),
        sa.CheckConstraint("(user_id IS NULL) = (generation IS NULL)", name="generation"),
        sa.CheckConstraint(
            "(invitation_code IS NULL) = (invitation_code_version IS NULL)",
            name="invitation_code_complete",
        ),
        sa.CheckConstraint("octet_length(csrf_secret) = 32", name="csrf_secret_length"),
        sa.CheckConstraint("language ~ '^[a-z]{2,3}$'", name="language"),
    )

    token_hash: str = Field(sa_type=sa.Text, primary_key=True)
    state: str = Field(sa_type=sa.Text)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id", index=True)
    """The person signing in or signed in; None while anonymous."""
    generation: int | None = None
    """The account's generation when the session was made: ``current_user`` checks it."""
    csrf_secret: bytes = Field(sa_type=sa.LargeBinary)
    """32 random bytes; forms carry it masked (``api/web/session.py``)."""
    language: str = Field(sa_type=sa.Text)
    invitation_code: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    """An invitation code opened by its link or typed, until the password is chosen: sealed
    by the master key (version ``invitation_code_version``), so that it leaves the URL."""
    invitation_code_version: int | None = None
    created_at: datetime = created_at_field()
    last_seen_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    """The absolute end: ``RELAY_SESSION_ABSOLUTE_HOURS`` after sign-in, minutes for the
    second step; the idle end is ``last_seen_at`` + ``RELAY_SESSION_IDLE_MINUTES``."""
