"""The worker's job for the figures: refresh the facts of referrals that changed, then rebuild the
counts of a quarter whose facts changed (at most one quarter a round, and a quarter at most once
every ``RELAY_STATISTICS_REFRESH_SECONDS``), so dashboards read a few hundred rows whatever the
number of referrals; and, when no quarter waits, the directory's health once an hour."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import statistics as repository
from api.repositories.base import act_as_worker
from api.taxonomy import NEED_CODES, RELAY_TAXONOMY_ID, term_id

FACTS_BATCH = 2000
DIRECTORY_SECONDS = 3600
GAP_REACH_M = 50_000
"""A district has a gap for a need when no place meeting it is within this of its centre."""


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


async def rebuild_directory(
    session: AsyncSession, checked_days: int, wait_seconds: float = DIRECTORY_SECONDS
) -> int:
    """Rebuild the directory's health if it is older than ``wait_seconds``; 1 if it was. A
    service counts as checked when confirmed within ``checked_days`` (the staleness period)."""
    await act_as_worker(session)
    if await repository.directory_fresh(session, wait_seconds):
        return 0
    needs = {code: term_id(code) for code in NEED_CODES}
    await repository.rebuild_directory(session, needs, RELAY_TAXONOMY_ID, GAP_REACH_M, checked_days)
    return 1


async def roll_up(session: AsyncSession, settings: Settings) -> int:
    """Worker job: the facts of changed referrals, then one changed quarter's counts, or else
    the directory's health when it is an hour old."""
    refreshed = await refresh_facts(session)
    rebuilt = await rebuild_changed(session, settings.statistics_refresh_seconds)
    return refreshed + (rebuilt or await rebuild_directory(session, settings.directory_stale_days))
