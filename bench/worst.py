"""The nearest search's worst requests (issue 18), measured on the bench database.

For each case: the search as the API runs it (``nearest_found`` on a ``Reader``, sequentially,
after a warm-up that settles the generic plans), its median and maximum time; then the first
nearest statement it sends, as a generic prepared plan, under ``EXPLAIN (ANALYZE, BUFFERS)``:
execution time, shared buffers hit and read, and the rows the scan read and threw away.

    usage: scripts/with-db.sh bench python -m bench.worst [--repeat N]
"""

import asyncio
import json
import os
import statistics
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
import typer
from sqlalchemy.ext.asyncio import create_async_engine

from api.auth.viewer import Viewer
from api.db import Compiled, Reader
from api.repositories.search import PARAMETERS, SearchFilters, _values, nearest_statement
from api.services.search import (
    DEFAULT_RADIUS_M,
    MAXIMUM_RADIUS_M,
    SLACK,
    NearestQuery,
    hour_of_week,
    nearest_found,
    window_for,
)

NAIROBI = (-1.2921, 36.8219)
ANONYMOUS = Viewer(sees_partner_records=False, cleared=False)
PARTNER = Viewer(sees_partner_records=True, cleared=False)
CLEARED = Viewer(sees_partner_records=True, cleared=True)
SATURDAY_NOON = datetime.fromisoformat("2026-12-12T12:00:00+03:00")
SUNDAY_NIGHT = datetime.fromisoformat("2026-12-13T03:00:00+03:00")
R = DEFAULT_RADIUS_M
CASES: dict[str, tuple[Viewer, SearchFilters, datetime | None]] = {
    "anonymous medical-care (median)": (
        ANONYMOUS,
        SearchFilters(("medical-care",), radius_m=R),
        None,
    ),
    "partner emergency-police": (PARTNER, SearchFilters(("emergency-police",), radius_m=R), None),
    "partner safe-shelter": (PARTNER, SearchFilters(("safe-shelter",), radius_m=R), None),
    "anonymous safe-shelter": (ANONYMOUS, SearchFilters(("safe-shelter",), radius_m=R), None),
    "anonymous safe-shelter gender=male": (
        ANONYMOUS,
        SearchFilters(("safe-shelter",), gender="male", radius_m=R),
        None,
    ),
    "partner safe-shelter gender=male": (
        PARTNER,
        SearchFilters(("safe-shelter",), gender="male", radius_m=R),
        None,
    ),
    "anonymous safe-shelter, 2,000 km": (
        ANONYMOUS,
        SearchFilters(("safe-shelter",), radius_m=MAXIMUM_RADIUS_M),
        None,
    ),
    "anonymous safe-shelter gender=male, 2,000 km": (
        ANONYMOUS,
        SearchFilters(("safe-shelter",), gender="male", radius_m=MAXIMUM_RADIUS_M),
        None,
    ),
    "partner safe-shelter gender=male, 2,000 km": (
        PARTNER,
        SearchFilters(("safe-shelter",), gender="male", radius_m=MAXIMUM_RADIUS_M),
        None,
    ),
    "anonymous psychosocial-support age=12": (
        ANONYMOUS,
        SearchFilters(("psychosocial-support",), age=12, radius_m=R),
        None,
    ),
    "anonymous education-literacy age=40 male": (
        ANONYMOUS,
        SearchFilters(("education-literacy",), age=40, gender="male", radius_m=R),
        None,
    ),
    "anonymous medical-care gender=other referrals": (
        ANONYMOUS,
        SearchFilters(("medical-care",), gender="other", accepts_referrals=True, radius_m=R),
        None,
    ),
    "anonymous medical-care open Saturday noon": (
        ANONYMOUS,
        SearchFilters(("medical-care",), radius_m=R),
        SATURDAY_NOON,
    ),
    "anonymous medical-care open Sunday 03:00": (
        ANONYMOUS,
        SearchFilters(("medical-care",), radius_m=R),
        SUNDAY_NIGHT,
    ),
    "anonymous medical-care open Sunday 03:00, 2,000 km": (
        ANONYMOUS,
        SearchFilters(("medical-care",), radius_m=MAXIMUM_RADIUS_M),
        SUNDAY_NIGHT,
    ),
    "cleared legal-aid open Saturday noon": (
        CLEARED,
        SearchFilters(("legal-aid",), radius_m=R),
        SATURDAY_NOON,
    ),
}


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "'{" + ",".join(str(item) for item in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


async def explain(
    connection: Any,
    viewer: Viewer,
    filters: SearchFilters,
    window: int,
    point: tuple[float, float] = NAIROBI,
) -> str:
    """The first nearest statement from ``point``, as a generic prepared plan, under ``EXPLAIN
    (ANALYZE, BUFFERS)`` (``bench/prefer_checked.py`` reads it too)."""
    statement = nearest_statement(viewer, filters, *point, window=window)
    compiled = Compiled(statement, parameters=PARAMETERS)
    values = compiled.values(_values(filters, *point))
    await connection.execute("SET plan_cache_mode = force_generic_plan")
    await connection.execute(f"PREPARE worst AS {compiled.sql}")
    arguments = ", ".join(_literal(value) for value in values)
    try:
        [[explained]] = await connection.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE worst({arguments})"
        )
    finally:
        await connection.execute("DEALLOCATE worst")
        await connection.execute("RESET plan_cache_mode")
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]
    nodes, removed = [plan["Plan"]], 0
    while nodes:
        node = nodes.pop()
        removed += node.get("Rows Removed by Filter", 0) + node.get(
            "Rows Removed by Index Recheck", 0
        )
        nodes += node.get("Plans", [])
    top = plan["Plan"]
    return (
        f"{plan['Execution Time']:7.2f} ms  buffers hit {top.get('Shared Hit Blocks', 0):5} "
        f"read {top.get('Shared Read Blocks', 0):4}  removed {removed}"
    )


async def run(url: str, repeat: int) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with Reader(engine) as reader:
            for name, (viewer, filters, open_at) in CASES.items():
                query = NearestQuery(*NAIROBI, filters, open_at, 10)
                timings = []
                for _ in range(repeat + 6):
                    started = time.perf_counter()
                    await nearest_found(reader, viewer, query)
                    timings.append((time.perf_counter() - started) * 1000)
                timings = timings[6:]
                scanned = filters
                if open_at is not None:
                    scanned = replace(filters, open_hour=hour_of_week(open_at))
                explained = await explain(raw, viewer, scanned, window_for(10 + SLACK))
                print(
                    f"{name:48} search p50 {statistics.median(timings):7.2f} ms "
                    f"max {max(timings):7.2f} | first statement {explained}"
                )
    finally:
        await raw.close()
        await engine.dispose()


def main(repeat: int = typer.Option(20, "--repeat")) -> None:
    asyncio.run(run(os.environ["RELAY_DATABASE_URL"], repeat))


if __name__ == "__main__":
    typer.run(main)
