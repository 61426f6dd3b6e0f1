"""Benchmark of referral creation against a plain insert of the same row, and of the audit
trail's cost, in one run.

(a) ``POST /v1/referrals`` through the whole application, in process (httpx over ASGI, so the
    HTTP server is not measured): token check, validation, the consent check, the target's
    capacity and eligibility, AES-GCM sealing of the person's data and wrapping of its data key,
    the ``created`` event, row-level security, one transaction;
(b) the same ``referral`` row (a ciphertext of the same size) written by one plain ``INSERT`` on a
    raw asyncpg connection as the owner role: the floor of the write itself.
(c) (a) with the audit trail switched off (``RELAY_AUDIT_ENABLED=false``, refused in production):
    (a) and (c) alternate in rounds so the machine's noise falls on both alike; the overhead is
    (c)/(a) - 1 in creations per second (the issue's budget: 30%);
(d) the worker's sealing of the audit events the run made into the hash chain, in events/s.
Each side runs at the same concurrency; it prints creations/s, p50 and p99 of each, the ratio a/b
and the audit overhead, writes ``bench/results/referrals-*.json``, and removes every row it made
but the audit events (append-only, by design).

    usage: python -m bench.referrals [--duration S] [--concurrency C]
"""

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from api.auth.scopes import Scope
from api.config import Settings
from api.db import create_engine, create_sessionmaker, transaction
from api.main import create_app
from api.models.directory import Attribute, Service
from api.models.organization import Organization
from api.schemas.clients import ClientCreate
from api.services import audit, clients
from api.taxonomy import term_id

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console()


def keyed(headers: dict[str, str]) -> dict[str, str]:
    """Every referral creation carries its own Idempotency-Key (the API requires one)."""
    return {**headers, "Idempotency-Key": str(uuid.uuid4())}


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _drive(
    work: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> dict[str, float]:
    """Run ``work`` from ``concurrency`` tasks for ``seconds``; throughput and latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await work()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


async def _setup(settings: Settings, owner_url: str, tag: str) -> dict[str, Any]:
    engine = create_async_engine(owner_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        sender = Organization(name=f"Bench committee {tag}", kind="committee")
        receiver = Organization(name=f"Bench health centre {tag}", kind="health")
        session.add_all([sender, receiver])
        await session.flush()
        service = Service(
            organization_id=receiver.id,
            name="Bench post-rape care",
            status="active",
            accepts_referrals=True,
        )
        session.add(service)
        await session.flush()
        session.add(
            Attribute(
                link_id=service.id,
                link_entity="service",
                link_type="need",
                taxonomy_term_id=term_id("post-rape-care"),
            )
        )
        credentials = await clients.create(
            session,
            settings.secret_key.get_secret_value(),
            ClientCreate(organization_id=sender.id, scopes=[Scope.referrals_send]),
        )
        await session.commit()
    await engine.dispose()
    return {
        "sender": sender.id,
        "receiver": receiver.id,
        "service": service.id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }


async def _cleanup(owner_url: str, made: dict[str, Any]) -> None:
    connection = await asyncpg.connect(_dsn(owner_url))
    ids = [made["sender"], made["receiver"]]
    try:
        async with connection.transaction():
            for statement in (
                "DELETE FROM idempotency_record WHERE organization_id = ANY($1::uuid[])",
                "DELETE FROM referral_event WHERE referral_id IN"
                " (SELECT id FROM referral WHERE from_organization_id = ANY($1::uuid[]))",
                "DELETE FROM referral WHERE from_organization_id = ANY($1::uuid[])",
                "DELETE FROM consent WHERE organization_id = ANY($1::uuid[])",
                "DELETE FROM attribute WHERE link_id IN"
                " (SELECT id FROM service WHERE organization_id = ANY($1::uuid[]))",
                "DELETE FROM service WHERE organization_id = ANY($1::uuid[])",
                "DELETE FROM oauth_token WHERE organization_id = ANY($1::uuid[])",
                "DELETE FROM oauth_client WHERE organization_id = ANY($1::uuid[])",
                "DELETE FROM organization WHERE id = ANY($1::uuid[])",
            ):
                await connection.execute(statement, ids)
    finally:
        await connection.close()


BODY = {
    "priority": "urgent",
    "needs": ["post-rape-care"],
    "reason": {"gbv_type": "rape", "incident_date": "2026-11-21"},
    "sharing_profile": "standard",
    "subject": {"name": "Bench Person", "age": 24, "gender": "female", "language": "fr"},
    "safety": {"do_not_contact_directly": True, "safe_channel": "through_referrer"},
}


async def bench(duration: float, concurrency: int, warmup: float) -> dict[str, Any]:
    # One log line per request would be measured too; the per-client budget would stop the run.
    settings = Settings(log_level="WARNING", client_requests_per_minute=1_000_000)
    owner_url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or settings.owner_database_url
    tag = uuid.uuid4().hex[:8]
    made = await _setup(settings, owner_url, tag)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                token = (
                    await client.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials", "scope": "referrals:send"},
                        auth=(made["client_id"], made["client_secret"]),
                    )
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                consent = await client.post(
                    "/v1/consents",
                    headers=headers,
                    json={
                        "subject_ref": f"BENCH-{tag}",
                        "given_by": "self",
                        "age_at_consent": 24,
                        "method": "verbal",
                        "recorded_by": "bench",
                        "purposes": ["services"],
                        "allowed_organizations": [str(made["receiver"])],
                        "data_categories": [
                            "identity",
                            "contact",
                            "demographics",
                            "incident",
                            "safety",
                        ],
                    },
                )
                assert consent.status_code == 201, consent.text
                body = {
                    **BODY,
                    "to_service_id": str(made["service"]),
                    "consent_id": consent.json()["id"],
                }
                sample = await client.post("/v1/referrals", json=body, headers=keyed(headers))
                assert sample.status_code == 201, sample.text

                async def create_one() -> None:
                    response = await client.post("/v1/referrals", json=body, headers=keyed(headers))
                    if response.status_code != 201:
                        raise RuntimeError(f"POST /v1/referrals answered {response.status_code}")

                await _drive(create_one, concurrency, warmup)
                rounds: dict[str, list[dict[str, float]]] = {"audited": [], "unaudited": []}
                for _ in range(ROUNDS):
                    for mode in rounds:
                        enabled = mode == "audited"
                        audit.configure(settings.model_copy(update={"audit_enabled": enabled}))
                        rounds[mode].append(await _drive(create_one, concurrency, duration))
                audit.configure(settings)
                api, unaudited = _merge(rounds["audited"]), _merge(rounds["unaudited"])
            sealing = await _seal_backlog(settings)

            pool = await asyncpg.create_pool(
                _dsn(owner_url), min_size=concurrency, max_size=concurrency
            )
            assert pool is not None
            ciphertext = os.urandom(len(json.dumps(BODY)) + 28)
            row = (
                made["sender"],
                made["receiver"],
                made["service"],
                uuid.UUID(consent.json()["id"]),
            )

            async def insert_one() -> None:
                async with pool.acquire() as connection:
                    await connection.execute(
                        "INSERT INTO referral (id, from_organization_id, to_organization_id,"
                        " to_service_id, consent_id, status, priority, needs, sharing_profile,"
                        " due_at, personal_data) VALUES ($1, $2, $3, $4, $5, 'requested',"
                        " 'urgent', ARRAY['post-rape-care'], 'standard', $6, $7)",
                        uuid.uuid4(),
                        *row,
                        datetime.now(UTC) + timedelta(hours=24),
                        ciphertext,
                    )

            try:
                await _drive(insert_one, concurrency, warmup)
                plain = await _drive(insert_one, concurrency, duration)
            finally:
                await pool.close()
    finally:
        await _cleanup(owner_url, made)
    return {
        "api": api,
        "api_without_audit": unaudited,
        "plain_insert": plain,
        "ratio": api["per_second"] / plain["per_second"],
        "audit_overhead": unaudited["per_second"] / api["per_second"] - 1,
        "audit_sealing": sealing,
    }


ROUNDS = 3


def _merge(measures: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one side as one measure: summed requests over summed time, median latencies."""
    seconds = sum(m["requests"] / m["per_second"] for m in measures)
    return {
        "requests": sum(m["requests"] for m in measures),
        "per_second": sum(m["requests"] for m in measures) / seconds,
        "p50_ms": statistics.median(m["p50_ms"] for m in measures),
        "p99_ms": max(m["p99_ms"] for m in measures),
    }


async def _seal_backlog(settings: Settings) -> dict[str, float]:
    """The worker's job, run until the chain has caught up: events sealed per second."""
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    sealed = 0
    started = time.perf_counter()
    try:
        while True:
            async with transaction(sessions) as session:
                batch = await audit.seal(session, settings)
            sealed += batch
            if batch == 0:
                break
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    return {"events": sealed, "seconds": elapsed, "per_second": sealed / elapsed if sealed else 0}


def main(
    duration: float = typer.Option(
        5.0, help="Seconds of each measure (the API sides run this long in each of 3 rounds)."
    ),
    concurrency: int = typer.Option(8, min=1, max=64, help="Requests in flight."),
    warmup: float = typer.Option(3.0, help="Seconds of warm-up before each measure."),
) -> None:
    """Referral creation through the API against a plain insert of the same row."""
    result = asyncio.run(bench(duration, concurrency, warmup))
    table = Table(title=f"Referral creation, concurrency {concurrency}, {duration:.0f} s each")
    for column in ("", "per second", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for name, label in (
        ("api", "(a) POST /v1/referrals"),
        ("plain_insert", "(b) plain INSERT"),
        ("api_without_audit", "(c) (a) without the audit trail"),
    ):
        side = result[name]
        table.add_row(
            label,
            f"{side['per_second']:.0f}",
            f"{side['p50_ms']:.1f}",
            f"{side['p99_ms']:.1f}",
        )
    console.print(table)
    console.print(f"ratio a/b: [bold]{result['ratio']:.2f}[/bold]")
    console.print(
        f"audit overhead (c/a - 1): [bold]{result['audit_overhead']:.1%}[/bold] (budget 30%)"
    )
    sealing = result["audit_sealing"]
    console.print(
        f"(d) audit chain sealing: {sealing['events']} events in {sealing['seconds']:.2f} s, "
        f"[bold]{sealing['per_second']:.0f}[/bold] events/s"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    path = RESULTS / f"referrals-{stamp}.json"
    document = {
        "when": stamp,
        "duration_s": duration,
        "concurrency": concurrency,
        "cpus": os.cpu_count(),
        **result,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    typer.run(main)
