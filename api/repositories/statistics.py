"""Every query of the accountability figures: the worker's refresh of each referral's facts from
``referral`` and ``referral_event``, the rebuild of a quarter's counts from those facts, and the
dashboards' one read of a scope's counts (``tallies``), which never touches the referral table.

What a fact says (``api/models/statistics.py``): the receiver *acted* at its first status change
to ``received``, ``accepted`` or ``rejected``; it *accepted* at its first change to ``accepted``.
The area is that of the receiving service's first place (as ``referrals.service_position``
takes it): its listed area's ancestor of level ``DISTRICT_LEVEL`` and of ``REGION_LEVEL`` (the
listed area itself when it is of that level), so a confidential place, listed in an area, is
never placed finer than it; a place listed at a region counts in the region, not a district.
"""

import uuid

from sqlalchemy import TextClause, Uuid, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import AdminArea
from api.models.statistics import StatisticsTally
from api.repositories.base import names_by_id

REGION_LEVEL = 1
DISTRICT_LEVEL = 2
QUARTER_FORMAT = 'YYYY"Q"Q'
REBUILD_TIMEOUT = "300s"

_TAKE_PENDING = text(
    """
    DELETE FROM statistics_pending
    WHERE referral_id IN (
        SELECT referral_id FROM statistics_pending LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING referral_id
    """
)

# Built from this module's constants only, never from input (S608).
_REFRESH = text(
    f"""
    WITH RECURSIVE batch AS (
        SELECT r.*, (
            SELECT l.admin_area_id FROM service_at_location sal
            JOIN location l ON l.id = sal.location_id
            WHERE sal.service_id = r.to_service_id
            ORDER BY l.id LIMIT 1
        ) AS listed_area_id
        FROM referral r WHERE r.id = ANY(:ids)
    ),
    chain AS (
        SELECT b.id AS referral_id, a.id, a.parent_id, a.level, 0 AS depth
        FROM batch b JOIN admin_area a ON a.id = b.listed_area_id
        UNION ALL
        SELECT c.referral_id, a.id, a.parent_id, a.level, c.depth + 1
        FROM chain c JOIN admin_area a ON a.id = c.parent_id
        WHERE c.depth < 12
    ),
    placed AS (
        SELECT referral_id,
               (array_agg(id) FILTER (WHERE level = {REGION_LEVEL}))[1] AS region_id,
               (array_agg(id) FILTER (WHERE level = {DISTRICT_LEVEL}))[1] AS district_id
        FROM chain GROUP BY referral_id
    ),
    steps AS (
        SELECT e.referral_id,
               min(e.at) FILTER (
                   WHERE e.status IN ('received', 'accepted', 'rejected')
               ) AS acted_at,
               min(e.at) FILTER (WHERE e.status = 'accepted') AS accepted_at
        FROM referral_event e JOIN batch b ON b.id = e.referral_id
        WHERE e.type = 'status_changed'
        GROUP BY e.referral_id
    )
    INSERT INTO statistics_referral AS f (
        referral_id, quarter, month, sender_organization_id, receiver_organization_id,
        sender_kind, receiver_kind, region_id, district_id, priority, needs, stage, ending,
        received_seconds, accepted_seconds, overdue, refreshed_at
    )
    SELECT b.id,
           to_char(b.created_at AT TIME ZONE 'UTC', '{QUARTER_FORMAT}'),
           date_trunc('month', b.created_at AT TIME ZONE 'UTC')::date,
           b.from_organization_id, b.to_organization_id, sender.kind, receiver.kind,
           p.region_id, p.district_id, b.priority, b.needs,
           CASE WHEN b.status IN ('in-progress', 'on-hold') THEN 'accepted' ELSE b.status END,
           CASE WHEN b.status IN ('rejected', 'failed', 'cancelled', 'completed') THEN
               coalesce((
                   SELECT coalesce(e.reason, e.outcome) FROM referral_event e
                   WHERE e.referral_id = b.id AND e.type = 'status_changed'
                     AND e.status = b.status
                   ORDER BY e.sequence DESC LIMIT 1
               ), 'unknown')
           END,
           floor(extract(epoch FROM s.acted_at - b.created_at))::int,
           floor(extract(epoch FROM s.accepted_at - b.created_at))::int,
           b.overdue_at IS NOT NULL,
           now()
    FROM batch b
    JOIN organization sender ON sender.id = b.from_organization_id
    JOIN organization receiver ON receiver.id = b.to_organization_id
    LEFT JOIN placed p ON p.referral_id = b.id
    LEFT JOIN steps s ON s.referral_id = b.id
    ON CONFLICT (referral_id) DO UPDATE SET
        region_id = excluded.region_id, district_id = excluded.district_id,
        sender_kind = excluded.sender_kind, receiver_kind = excluded.receiver_kind,
        stage = excluded.stage, ending = excluded.ending,
        received_seconds = excluded.received_seconds,
        accepted_seconds = excluded.accepted_seconds,
        overdue = excluded.overdue, refreshed_at = excluded.refreshed_at
    RETURNING f.quarter
    """  # noqa: S608
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))

_MARK_CHANGED = text(
    """
    INSERT INTO statistics_period AS p (quarter, version, built_version)
    SELECT quarter, 1, 0 FROM unnest(CAST(:quarters AS text[])) AS quarter
    ON CONFLICT (quarter) DO UPDATE SET version = p.version + 1
    """
)

_NEXT_TO_BUILD = text(
    """
    SELECT quarter, version FROM statistics_period
    WHERE version > built_version AND quarter <> 'directory'
      AND (built_at IS NULL OR built_at <= now() - make_interval(secs => :wait))
    ORDER BY quarter DESC LIMIT 1 FOR UPDATE SKIP LOCKED
    """
)

# Each scope's facts once: the network's, the sender's and the receiver's (an organisation's
# figures are the referrals it sent or received). Count cells only; totals are sums of them,
# made by the service, which also knows which cells a table shows.
_SCOPED = """
    WITH scoped AS (
        SELECT s.scope, f.* FROM statistics_referral f
        CROSS JOIN LATERAL (VALUES ('network'), (f.sender_organization_id::text),
                                   (f.receiver_organization_id::text)) AS s(scope)
        WHERE f.quarter = :quarter
    )
"""
_BUILD_COUNTS = text(
    _SCOPED  # noqa: S608
    + """
    INSERT INTO statistics_tally (scope, quarter, figure, value)
    SELECT scope, :quarter, figure, count(*) FROM (
        SELECT scope, unnest(ARRAY[
            'month:' || to_char(month, 'YYYY-MM'),
            'area:' || coalesce(region_id::text, '-') || ':' || coalesce(district_id::text, '-'),
            'priority:' || priority,
            'kind:' || sender_kind || ':' || receiver_kind,
            'stage:' || stage,
            'funnel:' || CASE
                WHEN received_seconds IS NULL THEN 'not_received'
                WHEN accepted_seconds IS NULL THEN 'not_accepted'
                WHEN stage <> 'completed' THEN 'not_completed'
            END,  -- the completed are stage:completed
            'overdue:' || CASE WHEN overdue THEN 'yes' ELSE 'no' END,
            -- a cancellation, by how far the referral had gone (its funnel step)
            CASE WHEN stage = 'cancelled' THEN 'stage:cancelled:' || CASE
                WHEN received_seconds IS NULL THEN 'not_received'
                WHEN accepted_seconds IS NULL THEN 'not_accepted'
                ELSE 'not_completed' END
            END,
            CASE WHEN ending IS NOT NULL THEN 'ending:' || stage || ':' || ending END
        ]) AS figure FROM scoped
        UNION ALL
        SELECT scope, 'need:' || unnest(needs) FROM scoped
    ) AS cells
    WHERE figure IS NOT NULL
    GROUP BY scope, figure
    """
)
_BUILD_TIMES = text(
    _SCOPED  # noqa: S608
    + """
    , times AS (
        SELECT scope, 'received' AS step, received_seconds AS seconds FROM scoped
        WHERE received_seconds IS NOT NULL
        UNION ALL
        SELECT scope, 'accepted', accepted_seconds FROM scoped WHERE accepted_seconds IS NOT NULL
    )
    INSERT INTO statistics_tally (scope, quarter, figure, value)
    SELECT scope, :quarter, 'time:' || step || ':' || measure, value FROM (
        SELECT scope, step, count(*) AS n,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) AS median,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY seconds) AS p90
        FROM times GROUP BY scope, step
    ) AS measured
    CROSS JOIN LATERAL (VALUES ('count', n), ('median', median), ('p90', p90)) AS m(measure, value)
    """
)


async def take_pending(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` queued referrals, taken off the queue (rows another worker holds are
    skipped; if this transaction fails, they stay queued)."""
    found = await session.scalars(_TAKE_PENDING, {"limit": limit})
    return list(found)


async def refresh_facts(session: AsyncSession, referral_ids: list[uuid.UUID]) -> set[str]:
    """Write the facts of these referrals; the quarters they fall in."""
    if not referral_ids:
        return set()
    # A plan for these ids, never the generic one a prepared statement turns to after five
    # runs: not knowing the batch, it reads every event of every referral (seconds on 1M).
    await session.execute(select(func.set_config("plan_cache_mode", "force_custom_plan", True)))
    found = await session.scalars(_REFRESH, {"ids": referral_ids})
    return set(found)


async def mark_changed(session: AsyncSession, quarters: set[str]) -> None:
    if quarters:
        await session.execute(_MARK_CHANGED, {"quarters": sorted(quarters)})


async def next_to_build(session: AsyncSession, wait_seconds: float) -> tuple[str, int] | None:
    """A quarter whose facts changed since its counts were built, and not built in the last
    ``wait_seconds`` (locked; another worker's is skipped)."""
    row = (await session.execute(_NEXT_TO_BUILD, {"wait": wait_seconds})).first()
    return None if row is None else (str(row[0]), int(row[1]))


async def rebuild(session: AsyncSession, quarter: str, version: int) -> None:
    """Every scope's counts of the quarter, from its facts, in place of the old ones. The worker
    may take longer over it than a request may (a quarter of 250,000 referrals takes seconds)."""
    await session.execute(select(func.set_config("statement_timeout", REBUILD_TIMEOUT, True)))
    await session.execute(
        StatisticsTally.__table__.delete().where(  # type: ignore[attr-defined]
            StatisticsTally.__table__.c.quarter == quarter  # type: ignore[attr-defined]
        )
    )
    await session.execute(_BUILD_COUNTS, {"quarter": quarter})
    await session.execute(_BUILD_TIMES, {"quarter": quarter})
    await session.execute(
        text(
            "UPDATE statistics_period SET built_version = :version, built_at = now() "
            "WHERE quarter = :quarter"
        ),
        {"quarter": quarter, "version": version},
    )


DIRECTORY = "directory"
"""The ``statistics_tally`` quarter (and ``statistics_period`` row) of the directory's health."""

_DIRECTORY_SERVICES = text(
    """
    INSERT INTO statistics_tally (scope, quarter, figure, value)
    SELECT 'network', 'directory', figure, count(*) FROM (
        SELECT unnest(ARRAY[
            'services:' || t.code,
            CASE WHEN s.assured_date >= current_date - CAST(:checked_days AS integer)
                THEN 'checked:' || t.code END
        ]) AS figure
        FROM service s
        JOIN attribute a ON a.link_entity = 'service' AND a.link_id = s.id
        JOIN taxonomy_term t ON t.id = a.taxonomy_term_id AND t.taxonomy_id = :taxonomy
        WHERE s.status = 'active'
    ) AS cells
    WHERE figure IS NOT NULL
    GROUP BY figure
    """
)


def _gaps(code: str, term: uuid.UUID) -> TextClause:
    """Districts with no place meeting the need within ``:reach`` metres of a point inside them
    (a confidential place at its listed area's point, as search ranks it). The need's term id
    is written into the statement (a constant of ours, never input) so that the scan uses the
    need's partial index of ``search_point``."""
    return text(
        f"""
        INSERT INTO statistics_tally (scope, quarter, figure, value)
        SELECT 'network', 'directory', 'gaps:{code}', count(*)
        FROM admin_area d
        WHERE d.level = {DISTRICT_LEVEL} AND NOT EXISTS (
            SELECT FROM search_point p
            WHERE p.taxonomy_term_id = '{term}'::uuid AND p.audience IS NOT NULL
              AND ST_DWithin(p.stand_in, ST_PointOnSurface(d.geom)::geography, :reach)
        )
        """  # noqa: S608
    )


_DIRECTORY_DUE = text(
    """
    SELECT quarter FROM statistics_period
    WHERE quarter = 'directory' AND built_at > now() - make_interval(secs => :wait)
    """
)


async def directory_fresh(session: AsyncSession, wait_seconds: float) -> bool:
    """Whether the directory's health was built less than ``wait_seconds`` ago (and, if not,
    this worker takes the rebuild: the row is locked, another worker's skipped)."""
    await session.execute(
        text(
            "INSERT INTO statistics_period (quarter, version, built_version) "
            "VALUES ('directory', 0, 0) ON CONFLICT DO NOTHING"
        )
    )
    if await session.scalar(_DIRECTORY_DUE, {"wait": wait_seconds}) is not None:
        return True
    locked = await session.scalar(
        text(
            "SELECT quarter FROM statistics_period WHERE quarter = 'directory' "
            "FOR UPDATE SKIP LOCKED"
        )
    )
    return locked is None


async def rebuild_directory(
    session: AsyncSession,
    needs: dict[str, uuid.UUID],
    taxonomy: uuid.UUID,
    reach_m: int,
    checked_days: int,
) -> None:
    """The directory's health: active services per need, those confirmed still correct
    (``assured_date``) in the last ``checked_days``, and districts without one within
    ``reach_m``."""
    await session.execute(select(func.set_config("statement_timeout", REBUILD_TIMEOUT, True)))
    await session.execute(
        StatisticsTally.__table__.delete().where(  # type: ignore[attr-defined]
            StatisticsTally.__table__.c.quarter == DIRECTORY  # type: ignore[attr-defined]
        )
    )
    await session.execute(_DIRECTORY_SERVICES, {"taxonomy": taxonomy, "checked_days": checked_days})
    for code, term in needs.items():
        await session.execute(_gaps(code, term), {"reach": reach_m})
    await session.execute(
        text(
            "INSERT INTO statistics_tally (scope, quarter, figure, value) "  # noqa: S608
            "SELECT 'network', 'directory', 'districts', count(*) FROM admin_area "
            f"WHERE level = {DISTRICT_LEVEL}"
        )
    )
    await session.execute(
        text("UPDATE statistics_period SET built_at = now() WHERE quarter = 'directory'")
    )


async def tallies(session: AsyncSession, scope: str, quarter: str) -> dict[str, int]:
    """A scope's counts of a quarter, by figure name (an index range of ``statistics_tally``)."""
    rows = await session.execute(
        select(col(StatisticsTally.figure), col(StatisticsTally.value)).where(
            col(StatisticsTally.scope) == scope, col(StatisticsTally.quarter) == quarter
        )
    )
    return {figure: int(value) for figure, value in rows}


async def area_names(session: AsyncSession, area_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await names_by_id(session, AdminArea, area_ids)
