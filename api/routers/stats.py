"""The accountability figures for partners and people's apps (``stats:read``): a quarter's
release of the caller's scope, as JSON or as the CSV the pages offer (the same cells)."""

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth.dependencies import StatsReader
from api.deps import SessionDep, SettingsDep
from api.schemas.statistics import (
    StatsDirectory,
    StatsDirectoryNeed,
    StatsLine,
    StatsRelease,
    StatsTable,
    StatsTime,
)
from api.services import statistics
from api.services.statistics import Quarter, Release
from api.services.statistics.periods import QUARTER_PATTERN

router = APIRouter(prefix="/v1/stats", tags=["stats"])

QuarterQuery = Annotated[
    str | None,
    Query(pattern=QUARTER_PATTERN, description="YYYYQn (default: the current quarter)."),
]
PRIVATE = {"Cache-Control": "private, no-store"}


def quarter_of(text: str | None) -> Quarter:
    return Quarter.current() if text is None else Quarter.parse(text)


def release_body(release: Release) -> StatsRelease:
    return StatsRelease(
        audience=release.audience.value,
        quarter=str(release.quarter),
        threshold=release.threshold,
        tables=[
            StatsTable(
                name=table.name,
                columns=[*table.columns, *(["total"] if table.total else [])],
                lines=[
                    StatsLine(
                        key=line.key,
                        name=release.area_names.get(line.key) if table.name == "areas" else None,
                        group=line.group,
                        subtotal=line.subtotal,
                        values=[release.value(cell) for cell in (*line.cells, line.total) if cell],
                    )
                    for line in table.lines
                ],
                totals=[release.value(cell) for cell in (*table.totals, table.total) if cell],
            )
            for table in release.tables
        ],
        times=[
            StatsTime(step=time.step, median_seconds=time.median, p90_seconds=time.p90)
            for time in release.times
        ],
    )


def csv_response(release: Release, name: str, headers: dict[str, str]) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(statistics.csv_lines(release))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="relay-{name}-{release.quarter}.csv"',
            "X-Content-Type-Options": "nosniff",
            **headers,
        },
    )


async def callers_release(
    session: SessionDep, settings: SettingsDep, principal: StatsReader, quarter: QuarterQuery = None
) -> Release:
    """The release of the caller's scope (its organisation's; with ``admin``, the network's)."""
    return await statistics.referral_figures(session, principal, quarter_of(quarter), settings)


CallersRelease = Annotated[Release, Depends(callers_release)]


@router.get(
    "/referrals",
    summary="A quarter's referral figures: your organisation's (the operator: the network's)",
)
async def get_referral_figures(release: CallersRelease, response: Response) -> StatsRelease:
    response.headers.update(PRIVATE)
    return release_body(release)


@router.get(
    "/referrals.csv",
    summary="The same figures as CSV (table, group, line, column, figure, value; * when hidden)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "UTF-8 CSV with a header line: table, group, line, "
                        "column, figure, value (* when hidden).",
                    }
                }
            }
        }
    },
)
async def get_referral_figures_csv(release: CallersRelease) -> Response:
    return csv_response(release, "referrals", PRIVATE)


@router.get(
    "/directory",
    summary="The directory's health: services per need, how many checked lately, districts without",
)
async def get_directory_health(
    session: SessionDep, settings: SettingsDep, principal: StatsReader, response: Response
) -> StatsDirectory:
    health = await statistics.directory_health(session, principal, settings)
    response.headers.update(PRIVATE)
    return StatsDirectory(
        districts=health.districts,
        reach_km=health.reach_km,
        checked_within_days=health.checked_within_days,
        needs=[
            StatsDirectoryNeed(
                need=need.need,
                services=need.services,
                checked_share=need.checked_share,
                districts_without=need.districts_without,
            )
            for need in health.needs
        ],
    )
