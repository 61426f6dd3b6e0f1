"""The month partitions of the audit trail and the outbox (migration 0029, ``docs/scaling.md``).

Two worker jobs: ``make_months_ahead`` keeps the partitions of the month before this one (a
clock a little behind at the turn of a month), this one and ``RELAY_PARTITION_MONTHS_AHEAD``
months ahead made, for both tables; ``drop_old_outbox_months`` drops the outbox's months older
than ``RELAY_OUTBOX_RETENTION_MONTHS`` whole months, oldest first, each only once every event in
it is numbered, fanned out to every enabled subscription that should hear of it, delivered or
given up (dead), and read by the notifications; the feed's horizon then moves past it, so an
older cursor is refused (410) rather than served a gap. A month still needed waits, and so do the
later ones. Relay never drops a month of the audit trail: the operator archives it
(``docs/scaling.md``).

Both take their locks with a short ``lock_timeout``: when a table is busy they do nothing and
the next tick tries again.
"""

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import partitions as repository


def first_month_kept(today: date) -> date:
    """The month before ``today``'s: the first one the job keeps made."""
    previous = date(today.year, today.month, 1).toordinal() - 1
    return date.fromordinal(previous).replace(day=1)


async def make_months_ahead(session: AsyncSession, settings: Settings) -> int:
    """Worker job: make the missing month partitions; how many were made."""
    first = first_month_kept(datetime.now(UTC).date())
    months = 2 + settings.partition_months_ahead
    made = 0
    for table in repository.PARTITIONED:
        made += await repository.make_months(session, table, first, months)
    return made


async def drop_old_outbox_months(session: AsyncSession, settings: Settings) -> int:
    """Worker job: drop the outbox's months past retention that nothing needs any more."""
    return await repository.drop_outbox_months(session, settings.outbox_retention_months)
