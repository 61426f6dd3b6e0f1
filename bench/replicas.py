"""Search throughput with reads on the replicas against the primary alone, in one run, on the
Patroni cluster of ``make cluster`` (``make bench-replicas``; docs/scaling.md).

Fills the cluster's ``relay_bench`` with ``--points`` generated service points (through the
leader; ``bench.generate``), then starts three ``relay serve`` (``--workers`` processes each):

- ``primary``: no ``RELAY_DATABASE_READ_URL``, every search on the primary;
- ``1 replica``: ``RELAY_DATABASE_READ_URL`` naming one standby;
- ``2 replicas``: naming both standbys, ``load_balance_hosts=random`` (each connection picks one).

and drives each in turn with ``wrk`` (the partner mix of ``make bench``: ``/v1/search/nearest``
with a ``directory:read`` token over 2,000 query points), ``--rounds`` times, so a slow minute of
the shared machine falls on all alike. Prints requests/s, p50 and p99 of each and its ratio to
the primary alone in the same round; writes ``bench/results/replicas-*.json``.

    usage: python -m bench.replicas [--points N] [--duration S] [--rounds R] [--concurrency C]
                                    [--workers W]
Reads the cluster's URLs from the environment (``.local/cluster.env``).
"""

import asyncio
import json
import os
import shutil
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bench.failover import cluster_members
from bench.generate import generate
from bench.run import (
    _free_port,
    _merged,
    _nearest,
    _partner_client,
    _queries,
    _ratio,
    _start,
    _stop,
    _token,
    _wrk,
    _wrk_script,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console()


def _url(role: str, ports: list[int], attributes: str, *, spread: bool = False) -> str:
    hosts = "&".join(f"host=127.0.0.1:{port}" for port in ports)
    balance = "&load_balance_hosts=random" if spread else ""
    return (
        f"postgresql+asyncpg://{role}:{role}@/relay_bench?{hosts}"
        f"&target_session_attrs={attributes}{balance}"
    )


def main(
    points: int = typer.Option(50_000, min=1000, help="Service points in the bench database."),
    duration: int = typer.Option(20, min=5, help="Seconds of load per target and round."),
    rounds: int = typer.Option(3, min=1, help="Rounds; each drives every target once."),
    concurrency: int = typer.Option(16, min=1, help="Open connections (wrk -c)."),
    workers: int = typer.Option(2, min=1, help="uvicorn worker processes for each API."),
    warmup: int = typer.Option(5, min=0, help="Seconds of load per target before measuring."),
) -> None:
    if shutil.which("wrk") is None:
        console.print("bench: wrk is missing (Debian package 'wrk')")
        sys.exit(2)
    members = cluster_members()
    leader = [member["port"] for member in members if member["role"] == "leader"]
    standbys = sorted(
        member["port"]
        for member in members
        if member["role"] != "leader" and member["state"] in ("running", "streaming")
    )
    if not leader or len(standbys) < 2:
        console.print(f"bench: needs a leader and two standbys (make cluster): {members}")
        sys.exit(2)
    everyone = [*leader, *standbys]
    asyncio.run(generate(_url("relay_owner", leader, "read-write"), points))
    primary_url = _url("relay_app", everyone, "read-write")
    base = {
        **os.environ,
        "RELAY_DATABASE_URL": primary_url,
        "RELAY_MIGRATION_DATABASE_URL": _url("relay_owner", everyone, "read-write"),
        "RELAY_CLIENT_REQUESTS_PER_MINUTE": "1000000",
        "RELAY_ANONYMOUS_REQUESTS_PER_MINUTE": "1000000",
        "RELAY_ACCESS_TOKEN_LIFETIME_SECONDS": "3600",
        "RELAY_LOG_LEVEL": "WARNING",
    }
    base.pop("RELAY_DATABASE_READ_URL", None)
    reads = {
        "primary": None,
        "1 replica": _url("relay_app", standbys[:1], "prefer-standby"),
        "2 replicas": _url("relay_app", standbys, "prefer-standby", spread=True),
    }
    relay = str(ROOT / ".venv" / "bin" / "relay")
    apis: dict[str, tuple[str, Any]] = {}
    queries = _queries(2000)
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in reads}
    try:
        for name, read_url in reads.items():
            port = _free_port()
            env = {**base, "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            if read_url is not None:
                env["RELAY_DATABASE_READ_URL"] = read_url
            command = [relay, "serve", "--host", "127.0.0.1", "--port", str(port)]
            process = _start([*command, "--workers", str(workers)], env, port, "/healthz")
            apis[name] = (f"http://127.0.0.1:{port}", process)
        client = _partner_client(base)
        for round_number in range(1, rounds + 1):
            for name, (url, _) in apis.items():
                script = _wrk_script([_nearest()(q) for q in queries], _token(url, client))
                if round_number == 1 and warmup:
                    _wrk(url, script, warmup, concurrency)
                console.print(f"bench: round {round_number}/{rounds}, {name}: {duration} s")
                run = _wrk(url, script, duration, concurrency)
                measured[name].append(run)
                console.print(
                    f"  {run['requests_per_second']:.0f} req/s, p99 {run['p99_ms']:.0f} ms, "
                    f"{run['errors']} errors"
                )
    finally:
        for _, process in apis.values():
            _stop(process)
    record: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "points": points,
        "duration_s": duration,
        "rounds": rounds,
        "concurrency": concurrency,
        "workers": workers,
        "cpus": os.cpu_count(),
        "nodes_on_one_machine": True,
        "targets": {
            name: {
                **_merged(runs),
                "ratio_to_primary": statistics.median(_ratio(runs, measured["primary"])),
                "round_ratios_to_primary": _ratio(runs, measured["primary"]),
            }
            for name, runs in measured.items()
        },
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"replicas-{record['time'].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    table = Table(
        title=f"nearest (partner mix), {points:,} points, concurrency {concurrency}, "
        f"{workers} workers per API, {rounds} rounds, {os.cpu_count()} CPUs for all three nodes"
    )
    for column in ("reads from", "req/s", "p50 ms", "p99 ms", "errors", "to primary alone"):
        table.add_column(column, justify="right")
    for name, row in record["targets"].items():
        table.add_row(
            name,
            f"{row['requests_per_second']:.0f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            str(row["errors"]),
            f"{row['ratio_to_primary']:.2f}",
        )
    console.print(table)
    console.print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    typer.run(main)
