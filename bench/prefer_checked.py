"""What ``prefer=checked`` costs the nearest search (issue 22), on generated points.

Inside one transaction that is rolled back at the end (nothing stays in the database): N points
of ``bench/generate.py``, a share of their services confirmed within the staleness period
(``--checked``, by a hash of the id), ``ANALYZE``; then for each case the search as the API runs
it (``nearest_found`` on the same connection, after a warm-up), without and with the
preference: median and 95th percentile, and how many nearest statements it sent (the scan reads
on, four times further, while the preferred order is not settled yet). Last, the first nearest
statement as a generic prepared plan under ``EXPLAIN (ANALYZE, BUFFERS)`` (``bench.worst``): the
same statement serves both (the preference reads ``assured_date`` from the service row the scan
joins anyway, and ranks in Python).

    usage: scripts/with-db.sh dev .venv/bin/python -m bench.prefer_checked [--points N]
           (owner URL in RELAY_MIGRATION_DATABASE_URL, else RELAY_DATABASE_URL)
"""

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from api.auth.viewer import Viewer
from api.repositories import search as repository
from api.repositories.search import SearchFilters
from api.services.search import (
    DEFAULT_RADIUS_M,
    SLACK,
    NearestQuery,
    nearest_found,
    window_for,
)
from bench.generate import populate
from bench.worst import explain

NAIROBI = (-1.2921, 36.8219)
KAMPALA = (0.3476, 32.5825)
ANONYMOUS = Viewer(sees_partner_records=False, cleared=False)
PARTNER = Viewer(sees_partner_records=True, cleared=False)
R = DEFAULT_RADIUS_M
CASES: dict[str, tuple[Viewer, tuple[float, float], SearchFilters, int]] = {
    "anonymous medical-care, Nairobi": (
        ANONYMOUS,
        NAIROBI,
        SearchFilters(("medical-care",), radius_m=R),
        10,
    ),
    "partner emergency-police, Kampala": (
        PARTNER,
        KAMPALA,
        SearchFilters(("emergency-police",), radius_m=R),
        10,
    ),
    "anonymous legal-aid, Nairobi, 50": (
        ANONYMOUS,
        NAIROBI,
        SearchFilters(("legal-aid",), radius_m=R),
        50,
    ),
    "partner any need, Nairobi": (PARTNER, NAIROBI, SearchFilters(radius_m=R), 10),
}


class Counted:
    """Counts the nearest statements a search sends."""

    def __init__(self) -> None:
        self.calls = 0
        self.original: Callable[..., Awaitable[Any]] = repository.nearest_located

    async def __call__(self, *arguments: Any, **keywords: Any) -> Any:
        self.calls += 1
        return await self.original(*arguments, **keywords)


async def run(url: str, points: int, checked: int, repeat: int) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    counted = Counted()
    repository_nearest = repository.nearest_located
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(text("SELECT 1"))  # the transaction begins now
            raw = (await connection.get_raw_connection()).driver_connection
            started = time.perf_counter()
            await populate(raw, points)
            await raw.execute(
                "UPDATE service SET assured_date = current_date - 30 "
                f"WHERE source = 'bench' AND abs(hashtext(id::text)) % 100 < {checked}"
            )
            await raw.execute("ANALYZE")
            ready = time.perf_counter() - started
            print(f"{points:,} points, {checked} % checked, ready in {ready:.0f} s")
            session = AsyncSession(bind=connection)
            since = date.today() - timedelta(days=180)
            repository.nearest_located = counted  # type: ignore[assignment]
            for name, (viewer, point, filters, limit) in CASES.items():
                line = [f"{name:38}"]
                for label, bound in (("plain", None), ("prefer", since)):
                    query = NearestQuery(*point, filters, None, limit, checked_since=bound)
                    timings, counted.calls = [], 0
                    for _ in range(repeat + 5):
                        begun = time.perf_counter()
                        await nearest_found(session, viewer, query)
                        timings.append((time.perf_counter() - begun) * 1000)
                    timings = sorted(timings[5:])
                    p95 = timings[int(len(timings) * 0.95) - 1]
                    line.append(
                        f"{label} p50 {statistics.median(timings):6.2f} ms p95 {p95:6.2f} ms "
                        f"({counted.calls / (repeat + 5):.1f} statements)"
                    )
                window = window_for(limit + SLACK)
                line.append(await explain(raw, viewer, filters, window, point))
                print(" | ".join(line))
            await transaction.rollback()
    finally:
        repository.nearest_located = repository_nearest
        await engine.dispose()


def main(
    points: int = typer.Option(50_000, "--points"),
    checked: int = typer.Option(30, "--checked", help="Percent of services checked lately."),
    repeat: int = typer.Option(40, "--repeat"),
) -> None:
    url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or os.environ["RELAY_DATABASE_URL"]
    asyncio.run(run(url, points, checked, repeat))


if __name__ == "__main__":
    typer.run(main)
