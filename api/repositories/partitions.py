"""SQL of the month partitions of ``audit_event`` and ``outbox_event`` (migration 0029).

The application role owns no table, so it cannot make or drop one: both steps are ``SECURITY
DEFINER`` functions of the migration, which also hold the rule that an outbox month is dropped
only once nothing still needs one of its events.
"""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

PARTITIONED = ("audit_event", "outbox_event")
# SQLSTATE of a lock not had within ``lock_timeout`` (the functions set it).
LOCK_NOT_AVAILABLE = "55P03"


async def make_months(session: AsyncSession, table: str, first: date, months: int) -> int:
    """Make the missing partitions of ``months`` months from ``first``'s; how many were made."""
    return await _unless_busy(
        session, sa.select(sa.func.relay_month_partitions(table, first, months))
    )


async def drop_outbox_months(session: AsyncSession, keep_months: int) -> int:
    """Drop the outbox's months older than ``keep_months`` whole months before this one, oldest
    first, while nothing needs their events any more; how many were dropped."""
    return await _unless_busy(session, sa.select(sa.func.relay_drop_outbox_partitions(keep_months)))


async def _unless_busy(session: AsyncSession, call: sa.Select[tuple[int]]) -> int:
    """Run one of the functions in a savepoint; 0 if a table was too busy to lock in time (the
    worker tries again on its next tick, and nothing waited behind it for long)."""
    try:
        async with session.begin_nested():
            return int(await session.scalar(call) or 0)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return 0
        raise


async def months(session: AsyncSession, table: str) -> list[tuple[str, datetime, datetime]]:
    """The partitions of ``table``, oldest first: name, first instant, instant after."""
    found = await session.execute(
        sa.text(
            """
            SELECT c.relname, bound[1]::timestamptz, bound[2]::timestamptz
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
                 regexp_match(pg_get_expr(c.relpartbound, c.oid),
                              'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS bound
            WHERE i.inhparent = CAST(:table AS regclass)
            ORDER BY 2
            """
        ),
        {"table": table},
    )
    return [(row[0], row[1], row[2]) for row in found.all()]
