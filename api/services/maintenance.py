"""Housekeeping the worker runs: forget access tokens and client assertions long expired.

A token is kept a day past its expiry (so introspection and audits can still name it), an
assertion ``jti`` until its own expiry has passed (after that, the signature check refuses it
anyway).
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import tokens

KEEP_EXPIRED_TOKENS = timedelta(days=1)
BATCH = 1000


async def forget_expired_credentials(session: AsyncSession, settings: Settings) -> int:
    return await tokens.delete_expired(
        session, datetime.now(UTC) - KEEP_EXPIRED_TOKENS, batch=BATCH
    )
