"""The worker's job for the figures: refresh the facts of referrals that changed, then rebuild the
counts of a quarter whose facts changed (at most one quarter a round, and a quarter at most once
every ``RELAY_STATISTICS_REFRESH_SECONDS``), so dashboards read a few hundred rows whatever the
number of referrals."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import statistics as repository
from api.repositories.base import act_as_worker

FACTS_BATCH = 2000


async def refresh_facts(session: AsyncSession, *, limit: int = FACTS_BATCH) -> int:
    """Take up to ``limit`` queued referrals and write their facts; how many."""
    await act_as_worker(session)
    taken = await repository.take_pending(session, limit)
    await repository.mark_changed(session, await repository.refresh_facts(session, taken))
    return len(taken)


async def rebuild_changed(session: AsyncSession, wait_seconds: float) -> int:
    """Rebuild one changed quarter's counts; 1 if one was rebuilt."""
    await act_as_worker(session)
    found = await repository.next_to_build(session, wait_seconds)
    if found is None:
        return 0
    await repository.rebuild(session, *found)
    return 1


async def roll_up(session: AsyncSession, settings: Settings) -> int:
    """Worker job: the facts of changed referrals, then one changed quarter's counts."""
    refreshed = await refresh_facts(session)
    return refreshed + await rebuild_changed(session, settings.statistics_refresh_seconds)
