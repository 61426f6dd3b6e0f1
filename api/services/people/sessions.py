"""Web sessions of Relay's own pages (``/app``): server-side, one ``web_session`` row per
browser, found by a keyed hash of its cookie's random value (256 bits), which is never stored.
The cookie, CSRF tokens and redirects are ``api/web/session.py``'s; the rules are here.

**Steps.** A browser with no session gets an ``anonymous`` one when a page shows it a form (the
forms' CSRF secret, the language, an invitation code while its password is chosen). The password
right, it gets a new session ``second_factor`` or ``enrolment`` (minutes only: ``PENDING``), the
second factor or the enrolment done, a new session ``signed_in``. Every step up (and a changed
password) is a new value, and the row before it is deleted: a value known before a sign-in,
chosen by an attacker or read over a shoulder, never becomes a signed-in session (no fixation).
A value that names no row is never adopted: a new one is made.

**Ends.** ``RELAY_SESSION_IDLE_MINUTES`` (15) without a request, ``RELAY_SESSION_ABSOLUTE_HOURS``
(12) after sign-in, sign-out (this session), "sign out everywhere" (every session of the
person), and whatever moves the account's generation (deactivation, a reset, a role change, a
new authenticator, a new password elsewhere) or suspends its organisation: a signed-in session
is checked with ``current_user`` on every request. ``last_seen_at`` is written at most once a
minute (``TOUCH_AFTER``); the worker deletes the sessions past either end.
"""

import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.tokens import keyed_hash
from api.config import Settings
from api.models.people import WebSession, WebSessionState
from api.records import record_of
from api.repositories import web_sessions as repository
from api.services import audit
from api.services.audit import Action
from api.services.people.identifiers import language as known_language
from api.services.people.sign_in import current_user
from api.services.people.sign_in import sign_out_everywhere as end_generation
from api.services.people.steps import (
    RESOURCE,
    EnrolmentNeeded,
    SecondFactorNeeded,
    SignedInUser,
)

VALUE_BYTES = 32
"""The cookie's value: 256 random bits (``secrets.token_urlsafe``: 43 characters)."""
MAXIMUM_VALUE_LENGTH = 64
CSRF_SECRET_BYTES = 32
PENDING = timedelta(minutes=10)
"""How long the second step of a sign-in (a code, or enrolling an authenticator) may take."""
TOUCH_AFTER = timedelta(minutes=1)
INVITATION_COLUMN = "invitation_code"


@dataclass(frozen=True)
class Visitor:
    """What a browser's session says: where it is in signing in, and who, once signed in."""

    token_hash: str = field(repr=False)
    state: WebSessionState
    user_id: uuid.UUID | None
    generation: int | None
    csrf_secret: bytes = field(repr=False)
    language: str
    last_seen_at: datetime
    expires_at: datetime
    invitation_code: str | None = field(default=None, repr=False)
    """An invitation code held while its password is chosen (its link is left behind)."""
    person: SignedInUser | None = None
    """The person, when ``signed_in`` and their account still holds (``current_user``)."""

    def principal(self, settings: Settings) -> Principal:
        """The signed-in person as the principal the services take, for as long as this
        session may last."""
        if self.person is None:
            raise ValueError("nobody is signed in")
        idle_end = self.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
        return self.person.principal(expires_at=min(self.expires_at, idle_end))


def token_hash(settings: Settings, value: str) -> str:
    return keyed_hash(settings.secret_key.get_secret_value(), f"web-session:{value}")


def _sealed_row(hashed: str) -> uuid.UUID:
    """The row an invitation code is sealed for (the associated data of its encryption): the
    session's key, so that it opens in no other session."""
    return uuid.UUID(hex=hashed[:32])


def _visitor(settings: Settings, row: WebSession, person: SignedInUser | None = None) -> Visitor:
    code = None
    if row.invitation_code is not None and row.invitation_code_version is not None:
        code = settings.master.open(
            row.invitation_code,
            row.invitation_code_version,
            table=row.__tablename__,
            column=INVITATION_COLUMN,
            row=_sealed_row(row.token_hash),
        ).decode()
    return record_of(
        Visitor, row, state=WebSessionState(row.state), invitation_code=code, person=person
    )


def _ended(settings: Settings, row: WebSession, now: datetime) -> bool:
    idle = timedelta(minutes=settings.session_idle_minutes)
    return row.expires_at <= now or row.last_seen_at + idle <= now


async def open_visitor(
    session: AsyncSession, settings: Settings, value: str | None
) -> Visitor | None:
    """The session a cookie's value names, if it still holds; None for no value, an unknown
    one, or a session that has ended (deleted now: idle, past its end, or its person's account
    no longer as it was)."""
    if not value or len(value) > MAXIMUM_VALUE_LENGTH:
        return None
    hashed = token_hash(settings, value)
    row = await repository.find(session, hashed)
    if row is None:
        return None
    now = datetime.now(UTC)
    if _ended(settings, row, now):
        await repository.delete_one(session, hashed)
        return None
    person = None
    if row.state == WebSessionState.signed_in:
        assert row.user_id is not None
        assert row.generation is not None
        person = await current_user(session, row.user_id, row.generation)
        if person is None:
            await repository.delete_one(session, hashed)
            return None
    if now - row.last_seen_at >= TOUCH_AFTER:
        await repository.touch(session, hashed, now)
        row.last_seen_at = now
    return _visitor(settings, row, person)


async def _new(
    session: AsyncSession,
    settings: Settings,
    previous: Visitor | None,
    state: WebSessionState,
    language: str,
    *,
    user_id: uuid.UUID | None = None,
    generation: int | None = None,
    lasts: timedelta | None = None,
) -> tuple[str, WebSession]:
    """A new session (a new value) in place of ``previous``, which is deleted."""
    if previous is not None:
        await repository.delete_one(session, previous.token_hash)
    value = secrets.token_urlsafe(VALUE_BYTES)
    now = datetime.now(UTC)
    row = WebSession(
        token_hash=token_hash(settings, value),
        state=state.value,
        user_id=user_id,
        generation=generation,
        csrf_secret=secrets.token_bytes(CSRF_SECRET_BYTES),
        language=known_language(language),
        created_at=now,
        last_seen_at=now,
        expires_at=now + (lasts or timedelta(hours=settings.session_absolute_hours)),
    )
    await repository.add(session, row)
    return value, row


async def begin(session: AsyncSession, settings: Settings, language: str) -> tuple[str, Visitor]:
    """A new anonymous session (for a page with a form); returns the cookie's value, once."""
    value, row = await _new(session, settings, None, WebSessionState.anonymous, language)
    return value, _visitor(settings, row)


async def second_step(
    session: AsyncSession,
    settings: Settings,
    previous: Visitor | None,
    step: SecondFactorNeeded | EnrolmentNeeded,
) -> tuple[str, Visitor]:
    """The password was right: a new session, for the second step only, for minutes."""
    state = (
        WebSessionState.second_factor
        if isinstance(step, SecondFactorNeeded)
        else WebSessionState.enrolment
    )
    language = previous.language if previous is not None else "en"
    value, row = await _new(
        session,
        settings,
        previous,
        state,
        language,
        user_id=step.user_id,
        generation=step.generation,
        lasts=PENDING,
    )
    return value, _visitor(settings, row)


async def signed_in(
    session: AsyncSession, settings: Settings, previous: Visitor | None, user: SignedInUser
) -> tuple[str, Visitor]:
    """The person is in (or changed their password, which moved their generation): a new
    session in their preferred language."""
    value, row = await _new(
        session,
        settings,
        previous,
        WebSessionState.signed_in,
        user.preferred_language,
        user_id=user.user_id,
        generation=user.generation,
    )
    return value, _visitor(settings, row, user)


async def choose_language(session: AsyncSession, visitor: Visitor, language: str) -> Visitor:
    await repository.set_language(session, visitor.token_hash, known_language(language))
    return replace(visitor, language=language)


async def hold_invitation(
    session: AsyncSession, settings: Settings, visitor: Visitor, code: str | None
) -> Visitor:
    """Keep an invitation code in the session (sealed), or forget it (None)."""
    sealed: bytes | None = None
    version: int | None = None
    if code is not None:
        sealed, version = settings.master.seal(
            code.encode(),
            table=WebSession.__tablename__,
            column=INVITATION_COLUMN,
            row=_sealed_row(visitor.token_hash),
        )
    await repository.hold_invitation(session, visitor.token_hash, sealed, version)
    return replace(visitor, invitation_code=code)


async def sign_out(session: AsyncSession, settings: Settings, visitor: Visitor) -> None:
    """End this session (a signed-in person's sign-out is audited)."""
    await repository.delete_one(session, visitor.token_hash)
    if visitor.person is not None:
        principal = visitor.principal(settings)
        await audit.record(
            session,
            principal,
            Action.user_sign_out,
            RESOURCE,
            [visitor.person.user_id],
            [visitor.person.organization_id],
        )


async def sign_out_everywhere(session: AsyncSession, settings: Settings, visitor: Visitor) -> None:
    """End every session and token of the person signed in here, this one too (audited by
    ``sign_in.sign_out_everywhere``)."""
    if visitor.person is None:
        raise ValueError("nobody is signed in")
    await end_generation(session, visitor.principal(settings))
    await repository.delete_of_person(session, visitor.person.user_id)


async def discard(session: AsyncSession, settings: Settings, value: str) -> None:
    """Delete the session a cookie's value names, found ended (``open_visitor`` did so in a
    request whose work was then rolled back: the redirect to the sign-in page)."""
    if value and len(value) <= MAXIMUM_VALUE_LENGTH:
        await repository.delete_one(session, token_hash(settings, value))


async def forget_ended(session: AsyncSession, settings: Settings, *, batch: int) -> int:
    """Delete sessions past their end or idle too long (the worker's maintenance)."""
    now = datetime.now(UTC)
    idle_since = now - timedelta(minutes=settings.session_idle_minutes)
    return await repository.delete_expired(session, now, idle_since, batch=batch)
