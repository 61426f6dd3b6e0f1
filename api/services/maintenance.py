"""Housekeeping the worker runs: forget access tokens and client assertions long expired, the
authorization codes and families of refresh tokens long ended, the sign-in throttles that no
longer hold anyone back, invitations long expired, and web sessions ended (idle past
``RELAY_SESSION_IDLE_MINUTES`` or past their absolute end).

A token is kept a day past its expiry (so introspection and audits can still name it), an
assertion ``jti`` until its own expiry has passed (after that, the signature check refuses it
anyway). A used code is kept a day past its expiry too (a second use in that time revokes the
family it started), a family of refresh tokens, with every refresh token it rotated (a used one
presented again revokes it), a day past its absolute end. An account's failed sign-ins are
forgotten once it no longer waits and its last failure is older than
``RELAY_SIGN_IN_FAILURES_FORGOTTEN_MINUTES`` (they would not count any more), an address's once
its count has drained. An invitation is kept 30 days past its expiry (a manager
can still see that one was not used), then removed (the audit trail keeps that it was made).
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import grants, people, tokens
from api.services.people import sessions

KEEP_EXPIRED_TOKENS = timedelta(days=1)
KEEP_EXPIRED_INVITATIONS = timedelta(days=30)
BATCH = 1000


async def forget_expired_credentials(session: AsyncSession, settings: Settings) -> int:
    now = datetime.now(UTC)
    removed = await tokens.delete_expired(session, now - KEEP_EXPIRED_TOKENS, batch=BATCH)
    removed += await grants.delete_expired(session, now - KEEP_EXPIRED_TOKENS, batch=BATCH)
    forgotten = timedelta(minutes=settings.sign_in_failures_forgotten_minutes)
    removed += await people.delete_stale_throttles(session, now, now - forgotten, batch=BATCH)
    removed += await people.delete_invitations_expired_before(
        session, now - KEEP_EXPIRED_INVITATIONS, batch=BATCH
    )
    removed += await sessions.forget_ended(session, settings, batch=BATCH)
    return removed
