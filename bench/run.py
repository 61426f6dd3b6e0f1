"""Benchmark of the nearest-service search: Relay's endpoint against the stack's limit.

1. Makes sure the bench database holds N generated service points (``bench.generate``).
2. Registers a partner organisation and client, and gets a token (``directory:read``).
3. Starts the API (``relay serve``) and the reference app (``bench.reference``), with the same
   number of uvicorn workers each, on loopback.
4. Drives each with ``wrk`` for the same time at the same concurrency, alternating in rounds
   (the reference, then the API, ``--rounds`` times), over the same 2,000
   query points (real coordinates jittered, needs weighted like real requests):
   (a) ``GET /v1/search/nearest?lat=&lon=&need=`` with the partner token,
   (b) the reference endpoint (same SQL, raw asyncpg, no auth, no validation).
5. Runs the query alone on one asyncpg connection for the database-only latency.
6. Prints requests/s, p50 and p99 of each and the ratio a/b (the median of the rounds'
   ratios); writes ``bench/results/*.json``.

    usage: python -m bench.run [--points N] [--duration S] [--rounds R] [--concurrency C]
                               [--workers W]
"""

import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table

from bench.generate import _seeds, generate
from bench.reference import LATITUDE, LONGITUDE, nearest_sql

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# How often each need is asked for, roughly: medical and police first, shelters rarer.
NEED_WEIGHTS = {
    "medical-care": 30,
    "emergency-police": 15,
    "psychosocial-support": 12,
    "post-rape-care": 10,
    "legal-aid": 8,
    "child-protection-case-management": 8,
    "safe-shelter": 7,
    "anti-trafficking": 5,
    "family-support": 5,
}
console = Console()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _queries(count: int, seed: int = 11) -> list[tuple[float, float, str]]:
    generator = random.Random(seed)
    places = _seeds()
    needs, weights = zip(*NEED_WEIGHTS.items(), strict=True)
    found = []
    for _ in range(count):
        latitude, longitude, _country = generator.choice(places)
        found.append(
            (
                round(latitude + generator.uniform(-0.2, 0.2), 5),
                round(longitude + generator.uniform(-0.2, 0.2), 5),
                generator.choices(needs, weights)[0],
            )
        )
    return found


def _wrk_script(queries: list[tuple[float, float, str]], token: str | None, path: str) -> str:
    lines = ",\n".join(f'  "{path}?lat={lat}&lon={lon}&need={need}"' for lat, lon, need in queries)
    header = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return (
        f"{header}local paths = {{\n{lines}\n}}\n"
        "local counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  return wrk.format(nil, paths[(counter % #paths) + 1])\n"
        "end\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %d %d %d %f\\n", summary.requests,\n'
        "    summary.errors.status + summary.errors.connect + summary.errors.read +\n"
        "    summary.errors.write + summary.errors.timeout,\n"
        "    latency:percentile(50), latency:percentile(90), latency:percentile(99),\n"
        "    latency.max, summary.duration / 1000000))\n"
        "end\n"
    )


def _wrk(url: str, script: str, duration: int, concurrency: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(  # noqa: S603 - fixed arguments, our script
            [
                shutil.which("wrk") or "wrk",
                f"-t{min(2, concurrency)}",
                f"-c{concurrency}",
                f"-d{duration}s",
                "--timeout",
                "5s",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+)", output)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, errors, p50, p90, p99, worst, seconds = match.groups()
    return {
        "requests": int(requests),
        "errors": int(errors),
        "requests_per_second": round(int(requests) / float(seconds), 1),
        "p50_ms": int(p50) / 1000,
        "p90_ms": int(p90) / 1000,
        "p99_ms": int(p99) / 1000,
        "max_ms": int(worst) / 1000,
    }


def _merged(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Several runs of one target: requests and errors summed, requests/s over the time of
    all, latency percentiles the median of the runs' (and the worst of the worst)."""
    seconds = sum(run["requests"] / run["requests_per_second"] for run in runs)
    requests = sum(int(run["requests"]) for run in runs)
    return {
        "requests": requests,
        "errors": sum(int(run["errors"]) for run in runs),
        "requests_per_second": round(requests / seconds, 1),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p90_ms": statistics.median(run["p90_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "max_ms": max(run["max_ms"] for run in runs),
        "runs": runs,
    }


def _start(command: list[str], env: dict[str, str], port: int, path: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(  # noqa: S603 - our own commands
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{command[0]} exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _partner_token(env: dict[str, str], base_url: str) -> str:
    relay = str(ROOT / ".venv" / "bin" / "relay")

    def run(*args: str) -> dict[str, Any]:
        result = subprocess.run(  # noqa: S603 - our own CLI
            [relay, *args, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        loaded: dict[str, Any] = json.loads(result.stdout)
        return loaded

    organization = run(
        "orgs", "create", "--name", f"Bench partner {time.time():.0f}", "--kind", "ngo"
    )
    client = run(
        "clients",
        "create",
        "--org",
        organization["id"],
        "--scopes",
        "directory:read",
        "--name",
        "bench",
    )
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "directory:read"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def _database_only(
    url: str, queries: list[tuple[float, float, str]], rounds: int
) -> dict[str, float]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    prepared: dict[str, tuple[Any, list[Any]]] = {}
    timings = []
    try:
        for index in range(rounds):
            latitude, longitude, need = queries[index % len(queries)]
            if need not in prepared:
                sql, template = nearest_sql(need)
                prepared[need] = (await connection.prepare(sql), template)
            statement, template = prepared[need]
            values = [
                latitude if v == LATITUDE else longitude if v == LONGITUDE else v for v in template
            ]
            started = time.perf_counter()
            await statement.fetch(*values)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    timings.sort()
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
    }


def main(
    points: int = typer.Option(1_000_000, min=1000, help="Service points in the bench database."),
    duration: int = typer.Option(30, min=5, help="Seconds of load per endpoint."),
    concurrency: int = typer.Option(16, min=1, help="Open connections (wrk -c)."),
    workers: int = typer.Option(2, min=1, help="uvicorn worker processes for each app."),
    warmup: int = typer.Option(5, min=0, help="Seconds of load before measuring."),
    rounds: int = typer.Option(
        3, min=1, help="Rounds; in each, the reference then the API for --duration seconds."
    ),
) -> None:
    if shutil.which("wrk") is None:
        console.print("bench: wrk is missing (Debian package 'wrk'; 'make bench' installs it)")
        sys.exit(2)
    database_url = os.environ["RELAY_DATABASE_URL"]
    asyncio.run(generate(os.environ["RELAY_MIGRATION_DATABASE_URL"], points))
    queries = _queries(2000)
    api_port, reference_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "RELAY_CLIENT_REQUESTS_PER_MINUTE": "1000000",
        "RELAY_LOG_LEVEL": "WARNING",
        "RELAY_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
    }
    relay = str(ROOT / ".venv" / "bin" / "relay")
    uvicorn = str(ROOT / ".venv" / "bin" / "uvicorn")
    api = _start(
        [relay, "serve", "--host", "127.0.0.1", "--port", str(api_port), "--workers", str(workers)],
        env,
        api_port,
        "/healthz",
    )
    reference = _start(
        [
            uvicorn,
            "bench.reference:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(reference_port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
        reference_port,
        "/?lat=0&lon=0&need=medical-care",
    )
    try:
        token = _partner_token(env, f"http://127.0.0.1:{api_port}")
        api_script = _wrk_script(queries, token, "/v1/search/nearest")
        reference_script = _wrk_script(queries, None, "/")
        probe = httpx.get(
            f"http://127.0.0.1:{api_port}/v1/search/nearest",
            params={"lat": queries[0][0], "lon": queries[0][1], "need": queries[0][2]},
            headers={"Authorization": f"Bearer {token}"},
        )
        probe.raise_for_status()
        targets = [
            ("reference", f"http://127.0.0.1:{reference_port}", reference_script),
            ("api", f"http://127.0.0.1:{api_port}", api_script),
        ]
        # Both are warmed before either is measured: the same pages in cache for both.
        for _, url, script in targets if warmup else []:
            _wrk(url, script, warmup, concurrency)
        # The two alternate, round after round: the shared machine's slow and fast minutes
        # fall on both alike, and each round's ratio compares neighbours in time.
        measured: dict[str, list[dict[str, float]]] = {"reference": [], "api": []}
        for round_number in range(1, rounds + 1):
            for name, url, script in targets:
                console.print(
                    f"bench: round {round_number}/{rounds}, {name}: {duration} s "
                    f"at concurrency {concurrency}"
                )
                measured[name].append(_wrk(url, script, duration, concurrency))
    finally:
        _stop(api)
        _stop(reference)
    results: dict[str, Any] = {name: _merged(runs) for name, runs in measured.items()}
    results["database"] = asyncio.run(_database_only(database_url, queries, 4000))
    round_ratios = [
        a["requests_per_second"] / b["requests_per_second"]
        for a, b in zip(measured["api"], measured["reference"], strict=True)
    ]
    ratio = statistics.median(round_ratios)
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "points": points,
        "duration_s": duration,
        "concurrency": concurrency,
        "workers": workers,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "ratio": round(ratio, 3),
        "round_ratios": [round(value, 3) for value in round_ratios],
        **results,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"nearest-{record['time'].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")

    table = Table(title=f"nearest, {points:,} points, concurrency {concurrency}, {workers} workers")
    for column in ("", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for name in ("api", "reference"):
        row = results[name]
        table.add_row(
            name,
            f"{row['requests_per_second']:.0f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            str(row["errors"]),
        )
    database = results["database"]
    table.add_row("database only", "", f"{database['p50_ms']:.2f}", f"{database['p99_ms']:.2f}", "")
    console.print(table)
    each = ", ".join(f"{value:.2f}" for value in round_ratios)
    console.print(
        f"ratio api/reference: {ratio:.2f} (median of the rounds: {each})   "
        f"(results in {path.relative_to(ROOT)})"
    )


if __name__ == "__main__":
    typer.run(main)
