"""Benchmark of the accountability figures' dashboard queries on a year of 1,000,000 referrals.

The first run fills ``relay_bench`` (``RELAY_BENCH_DATABASE_URL``) with a generated network: 200
organisations of every kind in 40 districts of 5 regions, each with a service, and 1,000,000
referrals sent over the year before the run with their events (eleven histories: waiting,
received, accepted, completed, declined, failed, cancelled at each step), written by plain
``INSERT … SELECT`` as the owner role; then runs the worker's job (facts of every referral, then
every quarter's counts) and prints how long that took. Later runs reuse them.

Then, through the whole application in process (httpx over ASGI: token check, one read of the
counts, suppression, JSON or CSV), each dashboard query ``--requests`` times, one after the
other, with the suppression's cache emptied before each (the cold path, as after a rebuild):
the operator's network figures (JSON and CSV), the public page of the last ended quarter (HTML),
and the figures of the largest, a middling and the smallest organisation. Beside them, the
reference: the same quarter's counts by month, area and status computed straight from the
referral table (what a dashboard without the worker's counts would do), a few times. It prints
each query's p50 and p99 (the issue's bound: p99 under 500 ms) and the reference's, and writes
``bench/results/stats-*.json``.

    usage: python -m bench.stats [--referrals N] [--requests N]
"""

import asyncio
import json
import os
import statistics as stats
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table

from api.auth.scopes import Scope
from api.config import Settings
from api.db import create_engine, create_sessionmaker, transaction
from api.main import create_app
from api.schemas.clients import ClientCreate
from api.services import clients, statistics
from api.services.statistics import figures
from api.taxonomy import NEED_CODES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SOURCE = "bench-stats"
ORGANIZATIONS = 200
REGIONS, DISTRICTS_PER_REGION = 5, 8
BATCH = 100_000
BOUND_MS = 500.0
KINDS = [
    "committee",
    "health",
    "police",
    "shelter",
    "ngo",
    "legal",
    "social_welfare",
    "hotline",
    "authority",
]
# story → its status changes: (status, reason, outcome, hours after sending)
STORIES: list[list[tuple[str, str | None, str | None, float]]] = [
    [],
    [("received", None, None, 3.0)],
    [("received", None, None, 2.0), ("accepted", None, None, 6.0)],
    [
        ("accepted", None, None, 1.0),
        ("in-progress", None, None, 2.0),
        ("completed", None, "service_provided", 90.0),
    ],
    [
        ("received", None, None, 5.0),
        ("accepted", None, None, 9.0),
        ("completed", None, "partially_provided", 200.0),
    ],
    [("received", None, None, 0.5), ("rejected", "no_capacity", None, 4.0)],
    [("rejected", "not_eligible", None, 30.0)],
    [("accepted", None, None, 12.0), ("failed", "person_unreachable", None, 100.0)],
    [("cancelled", "no_longer_needed", None, 2.0)],
    [("received", None, None, 1.5), ("cancelled", "referred_elsewhere", None, 20.0)],
    [("accepted", None, None, 4.0), ("cancelled", "consent_withdrawn", None, 50.0)],
]
console = Console()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _network(owner: asyncpg.Connection) -> tuple[list[Any], list[Any], list[Any]]:
    """The generated network's organisations, their services and consents (made the first
    time), in the same order every run."""
    rows = await owner.fetch(
        "SELECT o.id, s.id AS service, c.id AS consent FROM organization o "
        "JOIN service s ON s.organization_id = o.id JOIN consent c ON c.organization_id = o.id "
        "WHERE o.source = $1 ORDER BY split_part(o.source_id, '/', 2)::int",
        SOURCE,
    )
    if rows:
        return [r["id"] for r in rows], [r["service"] for r in rows], [r["consent"] for r in rows]
    async with owner.transaction():
        regions = []
        for region in range(REGIONS):
            regions.append(
                await owner.fetchval(
                    "INSERT INTO admin_area (id, name, level, geom, source, source_id) "
                    "VALUES (gen_random_uuid(), $1, 1, "
                    "ST_GeomFromText('MULTIPOLYGON(((0 0,0 1,1 1,1 0,0 0)))', 4326), $2, $3) "
                    "RETURNING id",
                    f"Bench region {region}",
                    SOURCE,
                    f"region/{region}",
                )
            )
        districts = []
        for index in range(REGIONS * DISTRICTS_PER_REGION):
            districts.append(
                await owner.fetchval(
                    "INSERT INTO admin_area (id, name, level, parent_id, geom, source, source_id) "
                    "VALUES (gen_random_uuid(), $1, 2, $2, "
                    "ST_GeomFromText('MULTIPOLYGON(((0 0,0 1,1 1,1 0,0 0)))', 4326), $3, $4) "
                    "RETURNING id",
                    f"Bench district {index}",
                    regions[index // DISTRICTS_PER_REGION],
                    SOURCE,
                    f"district/{index}",
                )
            )
        organizations, services, consents = [], [], []
        for index in range(ORGANIZATIONS):
            organization = await owner.fetchval(
                "INSERT INTO organization (id, name, kind, status, source, source_id) "
                "VALUES (gen_random_uuid(), $1, $2, 'active', $3, $4) RETURNING id",
                f"Bench organisation {index}",
                KINDS[index % len(KINDS)],
                SOURCE,
                f"org/{index}",
            )
            service = await owner.fetchval(
                "INSERT INTO service (id, organization_id, name, status, accepts_referrals) "
                "VALUES (gen_random_uuid(), $1, 'Bench service', 'active', true) RETURNING id",
                organization,
            )
            location = await owner.fetchval(
                "INSERT INTO location (id, organization_id, location_type, name, latitude, "
                "longitude, admin_area_id) VALUES (gen_random_uuid(), $1, 'physical', "
                "'Bench place', 0.5, 0.5, $2) RETURNING id",
                organization,
                districts[index % len(districts)],
            )
            await owner.execute(
                "INSERT INTO service_at_location (id, service_id, location_id) "
                "VALUES (gen_random_uuid(), $1, $2)",
                service,
                location,
            )
            consent = await owner.fetchval(
                "INSERT INTO consent (id, organization_id, subject_ref, given_by, age_at_consent, "
                "method, recorded_by, purposes, allowed_organizations, allowed_recipient_kinds, "
                "data_categories, valid_from) VALUES (gen_random_uuid(), $1, 'BENCH', 'self', "
                "30, 'verbal', 'bench', ARRAY['services'], ARRAY[]::uuid[], ARRAY[]::text[], "
                "ARRAY['identity'], now() - interval '2 years') RETURNING id",
                organization,
            )
            organizations.append(organization)
            services.append(service)
            consents.append(consent)
    return organizations, services, consents


async def _generate(owner: asyncpg.Connection, referrals: int) -> None:
    """The network and its referrals, unless a run made them already."""
    found = await owner.fetchval(
        "SELECT count(*) FROM referral r JOIN organization o ON o.id = r.from_organization_id "
        "WHERE o.source = $1",
        SOURCE,
    )
    if found >= referrals:
        console.print(f"reusing {found:,} generated referrals")
        return
    started = time.perf_counter()
    organizations, services, consents = await _network(owner)
    stories = [
        (story, sequence, status, reason, outcome, hours)
        for story, steps in enumerate(STORIES)
        for sequence, (status, reason, outcome, hours) in enumerate(steps, start=2)
    ]
    finals = [steps[-1][0] if steps else "requested" for steps in STORIES]
    closing = [
        steps[-1][3]
        if steps and steps[-1][0] in ("completed", "rejected", "failed", "cancelled")
        else None
        for steps in STORIES
    ]
    end = datetime.now(UTC)
    for first in range(found, referrals, BATCH):  # what an earlier, smaller run left to do
        last = min(referrals, first + BATCH)
        async with owner.transaction():
            await owner.execute(
                """
                CREATE TEMP TABLE generated ON COMMIT DROP AS
                SELECT gen_random_uuid() AS id, g,
                       1 + (g * 7 + 3) % $3 AS sender,
                       1 + ((g * 7 + 3) % $3 + 1 + (g * 13) % ($3 - 1)) % $3 AS receiver,
                       g % $4 AS story,
                       $5::timestamptz - ((g::bigint * 7919) % 31536000) * interval '1 second'
                           AS created
                FROM generate_series($1::int, $2::int) AS g
                """,
                first,
                last - 1,
                ORGANIZATIONS,
                len(STORIES),
                end,
            )
            await owner.execute(
                """
                INSERT INTO referral (id, from_organization_id, to_organization_id,
                    to_service_id, consent_id, status, priority, needs, sharing_profile, due_at,
                    created_at, updated_at, closed_at, overdue_at)
                SELECT t.id, ($1::uuid[])[t.sender], ($1::uuid[])[t.receiver],
                       ($2::uuid[])[t.receiver], ($3::uuid[])[t.sender],
                       ($4::text[])[t.story + 1],
                       (ARRAY['routine', 'urgent', 'asap', 'stat'])[1 + (t.g / 3) % 4],
                       CASE WHEN t.g % 4 = 0
                            THEN ARRAY[($5::text[])[1 + t.g % 15], ($5::text[])[1 + (t.g + 5) % 15]]
                            ELSE ARRAY[($5::text[])[1 + t.g % 15]] END,
                       'minimal', t.created + interval '72 hours', t.created, t.created,
                       t.created + ($6::float8[])[t.story + 1] * interval '1 hour',
                       CASE WHEN t.story < 2 AND t.g % 3 = 0
                            THEN t.created + interval '72 hours' END
                FROM generated t
                """,
                organizations,
                services,
                consents,
                finals,
                list(NEED_CODES),
                closing,
            )
            await owner.execute(
                """
                INSERT INTO referral_event (id, referral_id, sequence, at, organization_id,
                    client_id, type, status, reason, outcome)
                SELECT gen_random_uuid(), t.id, 1, t.created, ($1::uuid[])[t.sender], 'bench',
                       'created', NULL, NULL, NULL
                FROM generated t
                UNION ALL
                SELECT gen_random_uuid(), t.id, s.sequence, t.created + s.hours * interval '1 hour',
                       ($1::uuid[])[t.receiver], 'bench', 'status_changed', s.status, s.reason,
                       s.outcome
                FROM generated t
                JOIN unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::text[],
                            $7::float8[]) AS s(story, sequence, status, reason, outcome, hours)
                  ON s.story = t.story
                """,
                organizations,
                [row[0] for row in stories],
                [row[1] for row in stories],
                [row[2] for row in stories],
                [row[3] for row in stories],
                [row[4] for row in stories],
                [row[5] for row in stories],
            )
        console.print(f"  {last:,} referrals written ({time.perf_counter() - started:.0f} s)")
    await owner.execute("ANALYZE referral; ANALYZE referral_event; ANALYZE statistics_pending")


async def _roll_up(settings: Settings) -> dict[str, float]:
    """The worker's job until done: facts of every queued referral, then every quarter."""
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        started, facts = time.perf_counter(), 0
        while True:
            async with transaction(sessionmaker) as session:
                done = await statistics.refresh_facts(session, limit=5_000)
            facts += done
            if not done:
                break
        facts_seconds = time.perf_counter() - started
        started, quarters = time.perf_counter(), 0
        while True:
            async with transaction(sessionmaker) as session:
                built = await statistics.rebuild_changed(session, 0)
            quarters += built
            if not built:
                break
        return {
            "facts_refreshed": facts,
            "facts_seconds": facts_seconds,
            "quarters_rebuilt": quarters,
            "rebuild_seconds": time.perf_counter() - started,
            "seconds_per_quarter": (time.perf_counter() - started) / max(quarters, 1),
        }
    finally:
        await engine.dispose()


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": stats.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def _measure(work: Callable[[], Awaitable[None]], requests: int) -> dict[str, float]:
    await work()  # warm the connection pool and the plans
    latencies = []
    for _ in range(requests):
        figures._protected.cache_clear()  # the cold path: suppression computed every time
        started = time.perf_counter()
        await work()
        latencies.append(time.perf_counter() - started)
    return _summary(latencies)


async def _reference(owner: asyncpg.Connection, quarter: str, runs: int) -> dict[str, float]:
    """The quarter's counts by month, receiving area and status straight from referrals."""
    year, number = int(quarter[:4]), int(quarter[-1])
    start = datetime(year, 3 * (number - 1) + 1, 1, tzinfo=UTC)
    end = datetime(year + (number == 4), (3 * number) % 12 + 1, 1, tzinfo=UTC)
    sql = """
        SELECT date_trunc('month', r.created_at), l.admin_area_id, r.status, count(*)
        FROM referral r
        JOIN service_at_location sal ON sal.service_id = r.to_service_id
        JOIN location l ON l.id = sal.location_id
        WHERE r.created_at >= $1 AND r.created_at < $2
        GROUP BY 1, 2, 3
    """
    await owner.fetch(sql, start, end)
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        await owner.fetch(sql, start, end)
        latencies.append(time.perf_counter() - started)
    return _summary(latencies)


async def _token(client: httpx.AsyncClient, credentials: Any, scope: str) -> dict[str, str]:
    answer = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def bench(referrals: int, requests: int) -> dict[str, Any]:
    settings = Settings(
        log_level="WARNING",
        client_requests_per_minute=1_000_000,
        anonymous_requests_per_minute=1_000_000,
    )
    owner_url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or settings.owner_database_url
    owner = await asyncpg.connect(_dsn(owner_url))
    try:
        await _generate(owner, referrals)
        rollup = await _roll_up(settings)
        console.print(
            f"worker: {rollup['facts_refreshed']:,} referrals' facts in "
            f"{rollup['facts_seconds']:.1f} s, {rollup['quarters_rebuilt']} quarters rebuilt in "
            f"{rollup['rebuild_seconds']:.1f} s"
        )
        sizes = await owner.fetch(
            "SELECT o.id, count(*) AS n FROM referral r JOIN organization o "
            "ON o.id IN (r.from_organization_id, r.to_organization_id) WHERE o.source = $1 "
            "GROUP BY o.id ORDER BY n DESC",
            SOURCE,
        )
        chosen = {
            "largest organisation": sizes[0]["id"],
            "middling organisation": sizes[len(sizes) // 2]["id"],
            "smallest organisation": sizes[-1]["id"],
        }
        operator = await owner.fetchval(
            "SELECT id FROM organization WHERE source = $1 AND source_id = 'org/0'", SOURCE
        )
        quarter = str(statistics.last_ended())
        reference = await _reference(owner, quarter, max(3, requests // 20))
        engine = create_engine(settings)
        async with transaction(create_sessionmaker(engine)) as session:
            secret = settings.secret_key.get_secret_value()
            network = await clients.create(
                session,
                secret,
                ClientCreate(
                    organization_id=operator,
                    name=f"bench-stats-{uuid.uuid4().hex[:6]}",
                    scopes=[Scope.admin, Scope.stats_read],
                ),
            )
            per_organization = {}
            for name, organization in chosen.items():
                per_organization[name] = await clients.create(
                    session,
                    secret,
                    ClientCreate(
                        organization_id=organization,
                        name=f"bench-stats-{uuid.uuid4().hex[:6]}",
                        scopes=[Scope.stats_read],
                    ),
                )
        await engine.dispose()
    finally:
        await owner.close()

    results: dict[str, dict[str, float]] = {}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            operator_headers = await _token(client, network, "admin stats:read")
            params = {"quarter": quarter}

            def get(
                path: str, headers: dict[str, str] | None = None
            ) -> Callable[[], Awaitable[None]]:
                async def work() -> None:
                    answer = await client.get(path, params=params, headers=headers or {})
                    assert answer.status_code == 200, answer.text[:300]

                return work

            queries: dict[str, Callable[[], Awaitable[None]]] = {
                "network figures (JSON)": get("/v1/stats/referrals", operator_headers),
                "network figures (CSV)": get("/v1/stats/referrals.csv", operator_headers),
                "public page /stats (HTML)": get("/stats"),
            }
            for name, credentials in per_organization.items():
                headers = await _token(client, credentials, "stats:read")
                queries[f"{name} (JSON)"] = get("/v1/stats/referrals", headers)
            for name, work in queries.items():
                results[name] = await _measure(work, requests)

    report = Table(title=f"Dashboard queries, quarter {quarter}, {referrals:,} referrals")
    for column in ("query", "p50 ms", "p99 ms", "max ms", f"p99 < {BOUND_MS:.0f} ms"):
        report.add_column(column)
    for name, measured in results.items():
        report.add_row(
            name,
            f"{measured['p50_ms']:.1f}",
            f"{measured['p99_ms']:.1f}",
            f"{measured['max_ms']:.1f}",
            "yes" if measured["p99_ms"] < BOUND_MS else "NO",
        )
    report.add_row(
        "reference: straight from referrals (SQL only)",
        f"{reference['p50_ms']:.1f}",
        f"{reference['p99_ms']:.1f}",
        f"{reference['max_ms']:.1f}",
        "",
    )
    console.print(report)
    return {
        "referrals": referrals,
        "quarter": quarter,
        "requests": requests,
        "rollup": rollup,
        "queries": results,
        "reference": reference,
        "all_under_bound": all(m["p99_ms"] < BOUND_MS for m in results.values()),
    }


def main(
    referrals: int = typer.Option(1_000_000, help="Referrals over the year (generated once)."),
    requests: int = typer.Option(200, help="Requests per dashboard query."),
) -> None:
    result = asyncio.run(bench(referrals, requests))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"stats-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"wrote {path.relative_to(ROOT)}")
    if not result["all_under_bound"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
