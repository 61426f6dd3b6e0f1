"""The worker's numbering of committed events, run inside a test's transaction."""

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.services import events


async def number_events(session: AsyncSession, settings: Settings) -> int:
    """Number the events written so far, as the worker's first job does, then drop the worker's
    row-level-security switch again (it would otherwise last to the end of the test's
    transaction and let later requests see every organisation's rows)."""
    numbered = await events.sequence(session, settings)
    await session.execute(text("SELECT set_config('relay.worker', '', true)"))
    return numbered


def number_before_feed_reads(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Before each request to ``/v1/events``, number what was written, as a running worker
    would have within a tick."""

    async def hook(request: httpx.Request) -> None:
        if request.url.path == "/v1/events":
            await number_events(session, settings)

    client.event_hooks["request"].append(hook)
