"""What a dashboard or an export reads: the release of the caller's scope for a quarter (an
organisation its own, the operator the network's, anyone the network's public summary of an
ended quarter), and the same release as CSV lines. One read of ``statistics_tally``; never a
query on referrals."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.errors import Forbidden
from api.repositories import statistics as repository
from api.repositories.base import act_as
from api.services.statistics.figures import Audience, Release, area_ids, release
from api.services.statistics.periods import Quarter, ended
from api.services.statistics.rollup import GAP_REACH_M
from api.taxonomy import NEED_CODES

NETWORK = "network"
CSV_HEADER = ("table", "group", "line", "column", "figure", "value")
HIDDEN = "*"
"""How a hidden count is written, on the pages and in CSV (JSON: ``null``)."""


class StatisticsNotAllowed(Forbidden, code="statistics-not-allowed"):
    """Reading the figures needs ``stats:read``."""


async def _release(
    session: AsyncSession, audience: Audience, scope: str, quarter: Quarter, settings: Settings
) -> Release:
    counts = await repository.tallies(session, scope, str(quarter))
    names = await repository.area_names(session, {uuid.UUID(area) for area in area_ids(counts)})
    return release(
        audience,
        quarter,
        counts,
        settings.statistics_threshold,
        {str(area): name for area, name in names.items()},
    )


async def referral_figures(
    session: AsyncSession, principal: Principal, quarter: Quarter, settings: Settings
) -> Release:
    """The caller's figures: the network's for the operator (``admin``), else its
    organisation's (the referrals it sent or received)."""
    if not principal.has(Scope.stats_read):
        raise StatisticsNotAllowed("Reading the figures needs the stats:read scope.")
    await act_as(session, principal.organization_id)
    if principal.has(Scope.admin):
        return await _release(session, Audience.network, NETWORK, quarter, settings)
    scope = str(principal.organization_id)
    return await _release(session, Audience.organization, scope, quarter, settings)


async def public_figures(session: AsyncSession, quarter: Quarter, settings: Settings) -> Release:
    """The network's public summary of an ended quarter: regions, needs, the loop."""
    return await _release(session, Audience.public, NETWORK, ended(quarter), settings)


@dataclass(frozen=True)
class DirectoryNeed:
    need: str
    services: int
    checked_share: float | None
    """Of the need's active services, the share confirmed still correct within
    ``DirectoryHealth.checked_within_days``."""
    districts_without: int
    """Districts with no place meeting the need within ``GAP_REACH_M`` of their centre."""


@dataclass(frozen=True)
class DirectoryHealth:
    districts: int
    reach_km: int
    checked_within_days: int
    needs: list[DirectoryNeed]


async def directory_health(
    session: AsyncSession, principal: Principal, settings: Settings
) -> DirectoryHealth:
    """The directory's health, as the worker last measured it (hourly): counts of services
    and districts, not of people, so nothing is hidden; no place is placed finer than its
    listed area (search ranks a confidential one at its area's point)."""
    if not principal.has(Scope.stats_read):
        raise StatisticsNotAllowed("Reading the figures needs the stats:read scope.")
    await act_as(session, principal.organization_id)
    counts = await repository.tallies(session, NETWORK, repository.DIRECTORY)
    needs = [
        DirectoryNeed(
            code,
            counts.get(f"services:{code}", 0),
            counts.get(f"checked:{code}", 0) / counts[f"services:{code}"]
            if counts.get(f"services:{code}")
            else None,
            counts.get(f"gaps:{code}", 0),
        )
        for code in NEED_CODES
    ]
    return DirectoryHealth(
        counts.get("districts", 0), GAP_REACH_M // 1000, settings.directory_stale_days, needs
    )


def csv_lines(release: Release) -> list[tuple[str, ...]]:
    """The release as CSV lines (header first): one line per cell a table shows, its value or
    ``*`` when hidden; the same cells, in the same order, as the page's tables."""
    lines: list[tuple[str, ...]] = [CSV_HEADER]
    for table in release.tables:
        for line in table.lines:
            columns = [*table.columns, *(["total"] if line.total else [])]
            for column, cell in zip(columns, [*line.cells, line.total], strict=False):
                if cell is not None:
                    lines.append(
                        _csv_line(release, table.name, line.group or "", line.key, column, cell)
                    )
        columns = [*table.columns, *(["total"] if table.total else [])]
        for column, cell in zip(columns, [*table.totals, table.total], strict=False):
            if cell is not None:
                lines.append(_csv_line(release, table.name, "", "total", column, cell))
    return lines


def _csv_line(
    release: Release, table: str, group: str, line: str, column: str, cell: str
) -> tuple[str, ...]:
    value = release.value(cell)
    return (table, group, line, column, cell, HIDDEN if value is None else str(value))
