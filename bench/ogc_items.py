"""Per-request cost of ``/ogc/collections/{services,areas}/items``, in process.

The app is called over ASGI (httpx's ``ASGITransport``: no HTTP server, no network), one request
at a time, over a fixed mix of requests: anonymous and partner (``directory:read``), first pages
(which count ``numberMatched``) and pages reached through ``next`` links, with and without
``bbox``, 10 and 100 features a page, and the ``areas`` collection. For each request kind it
prints the wall time and the CPU time of this process per request (PostgreSQL runs in another
process: this is the API's own Python), then the Python function calls per request under
``cProfile`` over one more pass.

    usage: RELAY_DATABASE_URL=... RELAY_MIGRATION_DATABASE_URL=... \
        python -m bench.ogc_items [--rounds R] [--profile-top K]

It needs a directory in the database (``relay demo load``; ``python -m bench.generate --points
N`` adds N generated points). It registers a partner organisation and client, and removes them
(and their tokens) at the end.
"""

import asyncio
import cProfile
import os
import pstats
import statistics
import time
import uuid

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from api.auth.scopes import Scope
from api.config import Settings
from api.main import create_app
from api.models.organization import Organization
from api.schemas.clients import ClientCreate
from api.services import clients

console = Console()
ITEMS = "/ogc/collections/services/items"
AREAS = "/ogc/collections/areas/items"
# Boxes around places the generator and the demo put points in (Dakar, Nairobi, Lagos, Kampala).
BOXES = ["-17.6,14.5,-17.2,14.9", "36.6,-1.45,37.1,-1.15", "3.2,6.4,3.6,6.7", "32.4,0.2,32.8,0.5"]


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _setup(settings: Settings, owner_url: str) -> tuple[uuid.UUID, dict[str, str]]:
    engine = create_async_engine(owner_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        organization = Organization(name=f"OGC bench {uuid.uuid4().hex[:8]}", kind="ngo")
        session.add(organization)
        await session.flush()
        credentials = await clients.create(
            session,
            settings.secret_key.get_secret_value(),
            ClientCreate(organization_id=organization.id, scopes=[Scope.directory_read]),
        )
        await session.commit()
    await engine.dispose()
    return organization.id, {
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }


async def _cleanup(owner_url: str, organization_id: uuid.UUID) -> None:
    connection = await asyncpg.connect(_dsn(owner_url))
    try:
        async with connection.transaction():
            for statement in (
                "DELETE FROM oauth_token WHERE organization_id = $1",
                "DELETE FROM oauth_client WHERE organization_id = $1",
                "DELETE FROM organization WHERE id = $1",
            ):
                await connection.execute(statement, organization_id)
    finally:
        await connection.close()


Requests = dict[str, list[tuple[str, dict[str, str]]]]


async def _requests(client: httpx.AsyncClient, token: str) -> Requests:
    """The request mix, by kind; each request as (URL, headers)."""
    partner = {"Authorization": f"Bearer {token}"}
    kinds: Requests = {
        "first page, 10": [(ITEMS, {}), (ITEMS, partner)],
        "first page, 100": [(f"{ITEMS}?limit=100", {}), (f"{ITEMS}?limit=100", partner)],
        "bbox, 10": [
            (f"{ITEMS}?bbox={box}", headers) for box in BOXES for headers in ({}, partner)
        ],
        "bbox, 100": [
            (f"{ITEMS}?limit=100&bbox={box}", headers) for box in BOXES for headers in ({}, partner)
        ],
        "areas, 10": [(AREAS, {}), (f"{AREAS}?simplify=0.01", partner)],
    }
    # Pages reached through next links: the third page of each walk.
    following: list[tuple[str, dict[str, str]]] = []
    for limit in (10, 100):
        for headers in ({}, partner):
            url: str | None = f"{ITEMS}?limit={limit}"
            for _ in range(2):
                assert url is not None
                body = (await client.get(url, headers=headers)).json()
                url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
            if url is not None:
                following.append((url, headers))
    kinds["next page, 10 and 100"] = following
    return kinds


async def bench(rounds: int, profile_top: int) -> None:
    settings = Settings(
        log_level="WARNING",
        client_requests_per_minute=1_000_000,
        anonymous_requests_per_minute=1_000_000,
    )
    owner_url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or settings.owner_database_url
    organization_id, credentials = await _setup(settings, owner_url)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                token = (
                    await client.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials", "scope": "directory:read"},
                        auth=(credentials["client_id"], credentials["client_secret"]),
                    )
                ).json()["access_token"]
                kinds = await _requests(client, token)
                await _measure(client, kinds, rounds, profile_top)
    finally:
        await _cleanup(owner_url, organization_id)


async def _measure(
    client: httpx.AsyncClient,
    kinds: Requests,
    rounds: int,
    profile_top: int,
) -> None:
    for requests in kinds.values():  # warm up: statements prepared, caches filled
        for url, headers in requests * 6:
            response = await client.get(url, headers=headers)
            assert response.status_code == 200, response.text
    table = Table("requests", "n", "wall ms/request (median round)", "CPU ms/request", "calls")
    total_wall = total_cpu = 0.0
    total_calls = total_n = 0
    for kind, requests in kinds.items():
        walls, cpus = [], []
        for _ in range(rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for url, headers in requests:
                await client.get(url, headers=headers)
            walls.append((time.perf_counter() - wall) / len(requests))
            cpus.append((time.process_time() - cpu) / len(requests))
        profiler = cProfile.Profile()
        profiler.enable()
        for url, headers in requests:
            await client.get(url, headers=headers)
        profiler.disable()
        calls = pstats.Stats(profiler).total_calls // len(requests)  # type: ignore[attr-defined]
        table.add_row(
            kind,
            str(len(requests)),
            f"{statistics.median(walls) * 1000:.2f}",
            f"{statistics.median(cpus) * 1000:.2f}",
            f"{calls:,}",
        )
        total_wall += statistics.median(walls) * len(requests)
        total_cpu += statistics.median(cpus) * len(requests)
        total_calls += calls * len(requests)
        total_n += len(requests)
        if profile_top:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(profile_top)
    table.add_row(
        "all (mean)",
        str(total_n),
        f"{total_wall / total_n * 1000:.2f}",
        f"{total_cpu / total_n * 1000:.2f}",
        f"{total_calls // total_n:,}",
    )
    console.print(table)


def main(
    rounds: int = typer.Option(20, "--rounds", min=1, help="Passes over the request mix."),
    profile_top: int = typer.Option(0, "--profile-top", help="Print the K costliest functions."),
) -> None:
    asyncio.run(bench(rounds, profile_top))


if __name__ == "__main__":
    typer.run(main)
