"""What compressing responses costs and saves, in process (``api.compression``).

1. Real bodies: a search (the partner mix's ``/v1/search/nearest``, 10 results), a lookup result
   page, the pathway as JSON and as a page, an area's GeoJSON download, all from the demo
   network, written by the app itself (over ASGI) inside a transaction rolled back at the end.
   Each is compressed with gzip, brotli and zstd at a few levels: bytes, and microseconds of CPU
   per compression.
2. The middleware's cost on a request it does not compress, which is every request ``make
   bench`` sends (wrk sends no ``Accept-Encoding``): the same body sent by a bare ASGI app, called
   directly (no HTTP server, no httpx), with and without ``CompressionMiddleware`` around it;
   and the cost when it compresses, per encoding.

    usage: RELAY_DATABASE_URL=... RELAY_MIGRATION_DATABASE_URL=... \
        python -m bench.compression [--calls N]

It needs a migrated database it may write to (rolled back): the test database will do.
"""

import asyncio
import functools
import gzip
import os
import statistics
import time
import uuid
from collections.abc import Callable

import brotli
import httpx
import typer
import zstandard
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Receive, Scope, Send

from api.compression import BROTLI_QUALITY, GZIP_LEVEL, CompressionMiddleware
from api.config import Settings
from api.db import create_engine
from api.main import create_app
from api.services import demo

console = Console()
KOUNDA = str(uuid.uuid5(demo.NAMESPACE, "area/kounda"))
REGION = str(uuid.uuid5(demo.NAMESPACE, "area/region"))
REQUESTS = {
    "search (nearest, 10)": ("/v1/search/nearest", {"lat": "14.1", "lon": "-16.0"}),
    "lookup result page": ("/lookup", {"area": KOUNDA, "need": ["medical-care", "safe-shelter"]}),
    "pathway (JSON)": ("/v1/search/pathway", {"area": KOUNDA}),
    "pathway page": ("/lookup/pathway", {"area": KOUNDA}),
    "area download (GeoJSON)": ("/lookup/export", {"area": REGION, "format": "geojson"}),
}
CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip 4": lambda body: gzip.compress(body, compresslevel=4),
    "gzip 6": lambda body: gzip.compress(body, compresslevel=6),
    "gzip 9": lambda body: gzip.compress(body, compresslevel=9),
    "brotli 4": lambda body: brotli.compress(body, quality=4),
    "brotli 5": lambda body: brotli.compress(body, quality=5),
    "brotli 6": lambda body: brotli.compress(body, quality=6),
    "brotli 11": lambda body: brotli.compress(body, quality=11),
    "zstd 4": lambda body: zstandard.ZstdCompressor(level=4).compress(body),
}


async def _bodies() -> dict[str, tuple[str, bytes]]:
    """Each request's media type and body, as the app writes them (no Accept-Encoding)."""
    settings = Settings(log_level="WARNING", anonymous_requests_per_minute=1_000_000)
    owner_url = os.environ.get("RELAY_MIGRATION_DATABASE_URL") or settings.owner_database_url
    engine = create_engine(settings, url=owner_url)
    app = create_app(settings)
    bodies = {}
    async with app.router.lifespan_context(app), engine.connect() as connection:
        transaction = await connection.begin()
        try:
            async with AsyncSession(bind=connection) as session:
                await demo.load(session)
                await session.flush()
            app.state.sessionmaker = async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                for name, (path, params) in REQUESTS.items():
                    response = await client.get(
                        path, params=params, headers={"Accept-Encoding": "identity"}
                    )
                    assert response.status_code == 200, (name, response.text)
                    bodies[name] = (response.headers["content-type"], response.content)
        finally:
            await transaction.rollback()
    await engine.dispose()
    return bodies


def _cpu_us(work: Callable[[], object], calls: int) -> float:
    """Median over five runs of the CPU microseconds per call."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            work()
        runs.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(runs)


def _sizes_table(bodies: dict[str, tuple[str, bytes]], calls: int) -> Table:
    table = Table(title="Bytes (and CPU µs per compression) of real bodies")
    table.add_column("body")
    table.add_column("identity", justify="right")
    for codec in CODECS:
        table.add_column(codec, justify="right")
    for name, (_, body) in bodies.items():
        cells = [name, f"{len(body):,}"]
        for compress in CODECS.values():
            size = len(compress(body))
            cost = _cpu_us(functools.partial(compress, body), max(calls // 10, 20))
            cells.append(f"{size:,} ({len(body) / size:.1f} x, {cost:.0f} µs)")
        table.add_row(*cells)
    return table


def _stub(media_type: str, body: bytes) -> Callable[[Scope, Receive, Send], object]:
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({**start, "headers": list(start["headers"])})
        await send({"type": "http.response.body", "body": body})

    return app


async def _per_request_us(app: object, headers: list[tuple[bytes, bytes]], calls: int) -> float:
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            await app({**scope, "headers": list(headers)}, receive, send)  # type: ignore[operator]
        runs.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(runs)


async def _middleware_table(bodies: dict[str, tuple[str, bytes]], calls: int) -> Table:
    table = Table(
        title="CPU µs per request: a bare ASGI app sending the body, and with the middleware"
    )
    for column in ("body", "bare", "no Accept-Encoding", "with a Cookie", "gzip", "br"):
        table.add_column(column, justify="left" if column == "body" else "right")
    for name in ("search (nearest, 10)", "lookup result page", "pathway (JSON)"):
        media_type, body = bodies[name]
        bare = _stub(media_type, body)
        wrapped = CompressionMiddleware(bare)  # type: ignore[arg-type]
        cells = [name, f"{await _per_request_us(bare, [], calls):.1f}"]
        for headers in (
            [],
            [(b"cookie", b"a=b")],
            [(b"accept-encoding", b"gzip")],
            [(b"accept-encoding", b"gzip, deflate, br")],
        ):
            cells.append(f"{await _per_request_us(wrapped, headers, calls):.1f}")
        table.add_row(*cells)
    return table


async def bench(calls: int) -> None:
    bodies = await _bodies()
    console.print(f"levels in use: brotli {BROTLI_QUALITY}, gzip {GZIP_LEVEL}")
    console.print(_sizes_table(bodies, calls))
    console.print(await _middleware_table(bodies, calls))


def main(calls: int = typer.Option(2000, help="Calls per timing run.")) -> None:
    asyncio.run(bench(calls))


if __name__ == "__main__":
    typer.run(main)
