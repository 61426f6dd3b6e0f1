"""What one referral pathway costs, in process: statements, wall time, the API's CPU and the
database's CPU per pathway.

The app is called over ASGI (httpx's ``ASGITransport``: no HTTP server, no network), one request
at a time, bound to one connection inside a transaction that is rolled back at the end, as the
test suite binds it: the demo network (``relay demo load``) and ``--points`` generated service
points (``bench/generate.py``) are inserted in that transaction and analysed, and nothing is
left behind. It asks ``/v1/search/pathway`` (anonymous) and the lookup's printable pathway
(``/lookup/pathway``) from the demo districts and from points near generated places, and prints
per kind: statements per pathway (every statement on the connection: the driver's, counted by
asyncpg's query logger, and SQLAlchemy's), wall time, this process's CPU time (the API's own
Python) and the CPU time of the connection's PostgreSQL backend (read from ``/proc``, as
``bench/run.py`` does), per pathway.

    usage: RELAY_DATABASE_URL=... RELAY_MIGRATION_DATABASE_URL=... \
        python -m bench.pathway [--points N] [--rounds R]

It needs a migrated database it may write to (rolled back): the test database will do. Not
``make bench``: it never touches ``relay_bench``.
"""

import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.config import Settings
from api.db import create_engine
from api.main import create_app
from api.services import demo
from bench.generate import populate

console = Console()
TICKS = os.sysconf("SC_CLK_TCK")
DEMO_AREAS = ("kounda", "sabali", "mbayene")
# Near generated places (the generator jitters real facilities by up to about 5 km).
POINTS = [(-1.2921, 36.8219), (6.5244, 3.3792), (0.3476, 32.5825), (14.7167, -17.4677)]


def _backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the backend has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def bench(points: int, rounds: int) -> None:
    settings = Settings(log_level="WARNING", anonymous_requests_per_minute=1_000_000)
    owner_url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or settings.owner_database_url
    engine = create_engine(settings, url=owner_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app), engine.connect() as connection:
        transaction = await connection.begin()
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            started = time.monotonic()
            async with AsyncSession(bind=connection) as session:
                await demo.load(session)
                await session.flush()
            await raw.execute("SET LOCAL statement_timeout = 0")  # the generator's steps
            await populate(raw, points)
            await connection.execute(text("ANALYZE"))
            console.print(
                f"{points:,} generated points and the demo network in "
                f"{time.monotonic() - started:.0f} s (rolled back at the end)"
            )
            pid = await raw.fetchval("SELECT pg_backend_pid()")
            statements: list[str] = []
            raw.add_query_logger(lambda record: statements.append(record.query))

            @event.listens_for(connection.sync_connection, "before_cursor_execute")
            def counted(*arguments: Any) -> None:
                statements.append(arguments[2])

            app.state.sessionmaker = async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            )
            areas = [str(uuid.uuid5(demo.NAMESPACE, f"area/{key}")) for key in DEMO_AREAS]
            kinds = {
                "api pathway, demo districts": [
                    ("/v1/search/pathway", {"area": area}) for area in areas
                ],
                "api pathway, generated points": [
                    ("/v1/search/pathway", {"lat": str(lat), "lon": str(lon)})
                    for lat, lon in POINTS
                ],
                "lookup pathway page, demo districts": [
                    ("/lookup/pathway", {"area": area}) for area in areas
                ],
            }
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                table = Table(title=f"A pathway, in process ({rounds} rounds)")
                for column in (
                    "kind",
                    "statements",
                    "wall ms",
                    "API CPU ms",
                    "database CPU ms",
                ):
                    table.add_column(column, justify="left" if column == "kind" else "right")
                for kind, requests in kinds.items():
                    for path, params in requests:  # warm: statements prepared, plans settled
                        for _ in range(6):
                            response = await client.get(path, params=params)
                            assert response.status_code == 200, response.text
                    counts = []
                    for path, params in requests:
                        statements.clear()
                        await client.get(path, params=params)
                        await asyncio.sleep(0)  # the query logger reports on the next tick
                        counts.append(len(statements))
                    calls = 0
                    wall, cpu = time.perf_counter(), time.process_time()
                    database = _backend_cpu(pid)
                    for _ in range(rounds):
                        for path, params in requests:
                            await client.get(path, params=params)
                            calls += 1
                    wall = time.perf_counter() - wall
                    cpu = time.process_time() - cpu
                    database = _backend_cpu(pid) - database
                    table.add_row(
                        kind,
                        "/".join(str(count) for count in sorted(set(counts))),
                        f"{wall / calls * 1000:.1f}",
                        f"{cpu / calls * 1000:.1f}",
                        f"{database / calls * 1000:.1f}",
                    )
                console.print(table)
                console.print(f"median statements: {statistics.median(counts)}")
        finally:
            await transaction.rollback()
    await engine.dispose()


def main(
    points: int = typer.Option(20_000, help="Generated service points (rolled back)."),
    rounds: int = typer.Option(30, help="Passes over each kind's requests."),
) -> None:
    asyncio.run(bench(points, rounds))


if __name__ == "__main__":
    typer.run(main)
