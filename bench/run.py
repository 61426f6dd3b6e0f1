"""Benchmark of the nearest-service search: Relay's endpoint against the stack's limit, and
what users and callers really send beside it.

1. Makes sure the bench database holds N generated service points (``bench.generate``).
2. Registers a partner organisation and client, and gets a token (``directory:read``).
3. Starts the API (``relay serve``) and the reference app (``bench.reference``), with the same
   number of uvicorn workers each, on loopback.
4. Drives each with ``wrk`` for the same time at the same concurrency, alternating in rounds
   (the reference, then the API, then each variant, ``--rounds`` times), over the same 2,000
   query points (real coordinates jittered, needs weighted like real requests):
   (a) ``GET /v1/search/nearest?lat=&lon=&need=`` with the partner token (the partner mix),
   (b) the reference endpoint (same SQL, raw asyncpg, no auth, no validation),
   (c) the variants (``VARIANTS``, ``--variants``): the same mix without a token, the filters
   that reject many rows (partner-only shelters, shelters for a man, open on a weekday or a
   Saturday, a rare need), OGC bbox items and the pathway, each for ``--variant-duration``.
   While each runs, the CPU time of the bench database's server processes is sampled from
   ``/proc`` (``DatabaseCpu``): the database CPU per request.
5. Runs the query alone on one asyncpg connection for the database-only latency.
6. Prints requests/s, p50 and p99 of each, the ratios to the reference and to the partner mix
   of the same round (the median of the rounds'), the database CPU per request; writes
   ``bench/results/*.json``.

    usage: python -m bench.run [--points N] [--duration S] [--rounds R] [--concurrency C]
                               [--workers W] [--variants all|none|NAME,...]
                               [--variant-duration S]
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table

from bench.generate import _seeds, generate, time_zone
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
# The results table is wide: printed whole even when the output is not a terminal (make, a log).
wide = Console(width=max(console.width, 150))


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


Query = tuple[float, float, str]  # latitude, longitude, need

# The variants' times: local times at the place (the generated hours are in its own time zone,
# ``bench.generate.ZONES``), a Wednesday and a Saturday morning.
WEEKDAY = datetime(2026, 12, 9, 10, 30)
SATURDAY = datetime(2026, 12, 12, 10, 30)
BBOX_DEGREES = 0.05  # half the side of the OGC variant's bounding boxes (about 11 km)


def _local(moment: datetime, longitude: float) -> str:
    """``moment`` as a local time at ``longitude``, with its offset, escaped for a URL."""
    return quote(moment.replace(tzinfo=ZoneInfo(time_zone(longitude))).isoformat(), safe="")


def _nearest(extra: str = "", need: str | None = None) -> Callable[[Query], str]:
    def path(query: Query) -> str:
        latitude, longitude, mixed = query
        return f"/v1/search/nearest?lat={latitude}&lon={longitude}&need={need or mixed}{extra}"

    return path


def _open_at(need: str, moment: datetime) -> Callable[[Query], str]:
    def path(query: Query) -> str:
        latitude, longitude, _ = query
        return (
            f"/v1/search/nearest?lat={latitude}&lon={longitude}&need={need}"
            f"&open_at={_local(moment, longitude)}"
        )

    return path


def _bbox(query: Query) -> str:
    latitude, longitude, _ = query
    box = [
        max(-180.0, longitude - BBOX_DEGREES),
        max(-90.0, latitude - BBOX_DEGREES),
        min(180.0, longitude + BBOX_DEGREES),
        min(90.0, latitude + BBOX_DEGREES),
    ]
    return f"/ogc/collections/services/items?bbox={','.join(f'{v:.5f}' for v in box)}&limit=10"


def _pathway(query: Query) -> str:
    return f"/v1/search/pathway?lat={query[0]}&lon={query[1]}"


@dataclass(frozen=True)
class Variant:
    """A request shape measured beside the partner mix, over the same query points."""

    name: str
    description: str
    path: Callable[[Query], str]
    partner: bool  # with the partner's token; anonymous otherwise
    kind: str  # "mix", "filter" (held to the filter bounds), "ogc" or "pathway"


def _both(name: str, description: str, path: Callable[[Query], str]) -> list[Variant]:
    return [
        Variant(f"{name}-anonymous", description, path, partner=False, kind="filter"),
        Variant(f"{name}-partner", description, path, partner=True, kind="filter"),
    ]


VARIANTS: list[Variant] = [
    Variant(
        "anonymous-mix", "the partner mix without a token", _nearest(), partner=False, kind="mix"
    ),
    *_both(
        "shelter", "need=safe-shelter (every shelter partner-only)", _nearest(need="safe-shelter")
    ),
    *_both(
        "shelter-male",
        "need=safe-shelter&gender=male (every shelter for women)",
        _nearest("&gender=male", need="safe-shelter"),
    ),
    *_both(
        "medical-weekday",
        "need=medical-care&open_at=a Wednesday 10:30 local",
        _open_at("medical-care", WEEKDAY),
    ),
    *_both(
        "medical-weekend",
        "need=medical-care&open_at=a Saturday 10:30 local (health centres closed)",
        _open_at("medical-care", SATURDAY),
    ),
    *_both(
        "rare-need",
        "need=reintegration (about 0.1 % of the points)",
        _nearest(need="reintegration"),
    ),
    Variant(
        "ogc-bbox-anonymous",
        f"OGC services items, bbox ±{BBOX_DEGREES}° around the point, limit=10",
        _bbox,
        partner=False,
        kind="ogc",
    ),
    Variant(
        "pathway-anonymous",
        "/v1/search/pathway?lat=&lon= (the nearest service per need)",
        _pathway,
        partner=False,
        kind="pathway",
    ),
]
# The bounds for a filter variant, against the partner mix of the same round.
FILTER_MINIMUM_THROUGHPUT = 0.5
FILTER_MAXIMUM_CPU = 3.0


def _wrk_script(paths: list[str], token: str | None) -> str:
    lines = ",\n".join(f'  "{path}"' for path in paths)
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


class DatabaseCpu:
    """CPU time of one database's server processes while a load runs, read from ``/proc``.

    The cluster is shared: only the backends connected to ``database`` count (the apps'
    pools), with any parallel worker of theirs; autovacuum and the cluster's own processes
    (checkpointer, WAL writer) do not. A thread samples every ``interval`` seconds, so a
    backend or worker that exits during the load counts up to its last sample (the apps'
    pools keep theirs open); ``parallel_workers_seen`` says whether any parallel worker ran.
    Reading another user's ``/proc/<pid>/stat`` needs no privilege on Linux."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, database: str, interval: float = 0.1) -> None:
        self.pattern = re.compile(rf"^postgres: (?:\S+: )?\S+ {re.escape(database)} ")
        self.worker = re.compile(r"^postgres: (?:\S+: )?parallel worker for PID (\d+)")
        self.interval = interval
        self.owner = _postgres_uid()
        self.ignored: set[tuple[int, int]] = set()  # (pid, start) of other processes
        self.first: dict[tuple[int, int], int] = {}  # ticks when first seen (0 if new)
        self.last: dict[tuple[int, int], int] = {}
        self.parallel_workers_seen = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.baseline_taken = False

    def _processes(self) -> dict[tuple[int, int], int]:
        """The matching processes now: (pid, start time) -> CPU ticks (user + system)."""
        found: dict[tuple[int, int], int] = {}
        leaders: dict[int, tuple[int, int]] = {}
        workers: list[tuple[tuple[int, int], int, int]] = []
        try:
            uptime = float(Path("/proc/uptime").read_text().split()[0])
        except OSError:
            return found
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if self.owner is not None and entry.stat().st_uid != self.owner:
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                start = int(fields[19])
                key = (pid, start)
                if key in self.ignored:
                    continue
                ticks = int(fields[11]) + int(fields[12])
                if key in self.last:
                    found[key] = ticks
                    leaders[pid] = key
                    continue
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            if self.pattern.match(title) and "autovacuum" not in title:
                found[key] = ticks
                leaders[pid] = key
            elif match := self.worker.match(title):
                workers.append((key, int(match.group(1)), ticks))
            elif uptime - start / self.TICKS > 2:
                # Old enough to carry its final title (a new backend may not have it yet).
                self.ignored.add(key)
        for key, leader, ticks in workers:
            if leader in leaders:
                found[key] = ticks
                self.parallel_workers_seen += key not in self.last
        return found

    def _record(self, processes: dict[tuple[int, int], int]) -> None:
        for key, ticks in processes.items():
            self.first.setdefault(key, ticks if not self.baseline_taken else 0)
            self.last[key] = ticks

    def _sample_until_stopped(self) -> None:
        while not self.stopping.wait(self.interval):
            self._record(self._processes())

    def __enter__(self) -> "DatabaseCpu":
        self._record(self._processes())
        self.baseline_taken = True
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self.thread.join()
        self._record(self._processes())

    @property
    def seconds(self) -> float:
        return sum(self.last[key] - self.first[key] for key in self.last) / self.TICKS


def _postgres_uid() -> int | None:
    try:
        import pwd

        return pwd.getpwnam("postgres").pw_uid
    except (ImportError, KeyError):
        return None


def _wrk(
    url: str, script: str, duration: int, concurrency: int, database: str = ""
) -> dict[str, float]:
    """One load; with ``database``, the CPU time its server processes spent meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    cpu = DatabaseCpu(database) if database else None
    try:
        if cpu:
            cpu.__enter__()
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
        if cpu:
            cpu.__exit__(None, None, None)
        os.unlink(handle.name)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+)", output)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, errors, p50, p90, p99, worst, seconds = match.groups()
    measured = {}
    if cpu:
        measured = {
            "database_cpu_s": round(cpu.seconds, 3),
            "database_cpu_ms_per_request": round(cpu.seconds * 1000 / max(1, int(requests)), 3),
            "parallel_workers_seen": cpu.parallel_workers_seen,
        }
    return {
        **measured,
        "requests": int(requests),
        "errors": int(errors),
        "seconds": round(float(seconds), 3),
        "requests_per_second": round(int(requests) / float(seconds), 1),
        "p50_ms": int(p50) / 1000,
        "p90_ms": int(p90) / 1000,
        "p99_ms": int(p99) / 1000,
        "max_ms": int(worst) / 1000,
    }


def _merged(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Several runs of one target: requests and errors summed, requests/s over the time of
    all, latency percentiles the median of the runs' (and the worst of the worst)."""
    seconds = sum(run["seconds"] for run in runs)
    requests = sum(int(run["requests"]) for run in runs)
    cpu = {}
    if all("database_cpu_s" in run for run in runs):
        spent = sum(run["database_cpu_s"] for run in runs)
        cpu = {
            "database_cpu_s": round(spent, 3),
            "database_cpu_ms_per_request": round(spent * 1000 / max(1, requests), 3),
            "parallel_workers_seen": sum(int(run["parallel_workers_seen"]) for run in runs),
        }
    return {
        **cpu,
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


def _partner_client(env: dict[str, str]) -> tuple[str, str]:
    """A new partner organisation's client with ``directory:read``: (id, secret)."""
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
    return client["client_id"], client["client_secret"]


def _token(base_url: str, client: tuple[str, str]) -> str:
    """A fresh access token (taken again every round: a full run outlasts one)."""
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "directory:read"},
        auth=client,
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


def _chosen(variants: str) -> list[Variant]:
    if variants == "all":
        return VARIANTS
    if variants == "none":
        return []
    names = [name.strip() for name in variants.split(",") if name.strip()]
    known = {variant.name: variant for variant in VARIANTS}
    unknown = [name for name in names if name not in known]
    if unknown:
        console.print(f"bench: unknown variants {unknown}; known: {', '.join(known)}")
        sys.exit(2)
    return [known[name] for name in names]


def _ratio(runs: list[dict[str, float]], against: list[dict[str, float]]) -> list[float]:
    """Each round's requests/s over those of ``against`` in the same round."""
    return [
        round(run["requests_per_second"] / max(other["requests_per_second"], 0.1), 3)
        for run, other in zip(runs, against, strict=True)
    ]


def main(
    points: int = typer.Option(1_000_000, min=1000, help="Service points in the bench database."),
    duration: int = typer.Option(30, min=5, help="Seconds of load per round: reference, API."),
    concurrency: int = typer.Option(16, min=1, help="Open connections (wrk -c)."),
    workers: int = typer.Option(2, min=1, help="uvicorn worker processes for each app."),
    warmup: int = typer.Option(5, min=0, help="Seconds of load before measuring."),
    rounds: int = typer.Option(
        3, min=1, help="Rounds; in each, the reference, the API, then each variant."
    ),
    variants: str = typer.Option(
        "all",
        help="'all', 'none' or variant names, comma separated: "
        + ", ".join(variant.name for variant in VARIANTS),
    ),
    variant_duration: int | None = typer.Option(
        None, min=2, help="Seconds of load per variant a round (default 10, or --duration if less)."
    ),
) -> None:
    if shutil.which("wrk") is None:
        console.print("bench: wrk is missing (Debian package 'wrk'; 'make bench' installs it)")
        sys.exit(2)
    chosen = _chosen(variants)
    variant_duration = variant_duration or min(10, duration)
    database_url = os.environ["RELAY_DATABASE_URL"]
    database = database_url.rsplit("/", 1)[1].split("?")[0]
    asyncio.run(generate(os.environ["RELAY_MIGRATION_DATABASE_URL"], points))
    queries = _queries(2000)
    api_port, reference_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "RELAY_CLIENT_REQUESTS_PER_MINUTE": "1000000",
        # Every anonymous request comes from 127.0.0.1: the per-address budget (120 a minute by
        # default) would answer 429 after two seconds. 1,000,000 is the most settings allow.
        "RELAY_ANONYMOUS_REQUESTS_PER_MINUTE": "1000000",
        "RELAY_ACCESS_TOKEN_LIFETIME_SECONDS": "3600",
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
    api_url, reference_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{reference_port}"
    measured: dict[str, list[dict[str, float]]] = {"reference": [], "api": []}
    measured.update({variant.name: [] for variant in chosen})
    try:
        client = _partner_client(env)
        token = _token(api_url, client)
        # Every variant answers before anything is measured (a 4xx would be counted as errors).
        for variant in chosen:
            probe = httpx.get(
                api_url + variant.path(queries[0]),
                headers={"Authorization": f"Bearer {token}"} if variant.partner else {},
                timeout=30,
            )
            if probe.status_code != 200:
                raise RuntimeError(f"{variant.name}: {probe.status_code} {probe.text[:500]}")
        for round_number in range(1, rounds + 1):
            token = _token(api_url, client)
            targets = [
                ("reference", reference_url, _wrk_script([_nearest()(q) for q in queries], None)),
                ("api", api_url, _wrk_script([_nearest()(q) for q in queries], token)),
            ]
            for variant in chosen:
                paths = [variant.path(query) for query in queries]
                targets.append(
                    (variant.name, api_url, _wrk_script(paths, token if variant.partner else None))
                )
            if round_number == 1 and warmup:
                # All are warmed before any is measured: the same pages in cache for all, and
                # the statements prepared on the pools' connections (the first five executions
                # of each are planned for their values, and the plans of the dense needs are
                # parallel scans of everything within the radius: tens of milliseconds).
                for name, url, script in targets:
                    seconds = warmup if name in ("reference", "api") else variant_duration
                    _wrk(url, script, min(warmup, seconds), concurrency)
            # They alternate, round after round: the shared machine's slow and fast minutes
            # fall on all alike, and each round's ratios compare neighbours in time.
            for name, url, script in targets:
                seconds = duration if name in ("reference", "api") else variant_duration
                console.print(
                    f"bench: round {round_number}/{rounds}, {name}: {seconds} s "
                    f"at concurrency {concurrency}"
                )
                run = _wrk(url, script, seconds, concurrency, database)
                measured[name].append(run)
                console.print(
                    f"  {run['requests_per_second']:.0f} req/s, p99 {run['p99_ms']:.0f} ms, "
                    f"{run['errors']} errors, database CPU {run['database_cpu_ms_per_request']:.2f}"
                    " ms per request"
                )
    finally:
        _stop(api)
        _stop(reference)
    results: dict[str, Any] = {
        name: _merged(runs) for name, runs in measured.items() if name in ("reference", "api")
    }
    results["database"] = asyncio.run(_database_only(database_url, queries, 4000))
    round_ratios = _ratio(measured["api"], measured["reference"])
    ratio = statistics.median(round_ratios)
    mix_cpu = results["api"]["database_cpu_ms_per_request"]
    outcomes: dict[str, Any] = {}
    for variant in chosen:
        to_reference = _ratio(measured[variant.name], measured["reference"])
        to_mix = _ratio(measured[variant.name], measured["api"])
        row = _merged(measured[variant.name])
        cpu_to_mix = row["database_cpu_ms_per_request"] / mix_cpu if mix_cpu else None
        outcomes[variant.name] = {
            "description": variant.description,
            "kind": variant.kind,
            "partner": variant.partner,
            "example": variant.path(queries[0]),
            "ratio_to_reference": statistics.median(to_reference),
            "round_ratios_to_reference": to_reference,
            "ratio_to_mix": statistics.median(to_mix),
            "round_ratios_to_mix": to_mix,
            "database_cpu_to_mix": round(cpu_to_mix, 2) if cpu_to_mix is not None else None,
            "meets_filter_bounds": (
                statistics.median(to_mix) >= FILTER_MINIMUM_THROUGHPUT
                and cpu_to_mix is not None
                and cpu_to_mix <= FILTER_MAXIMUM_CPU
            )
            if variant.kind == "filter"
            else None,
            **row,
        }
    worst = (
        max(outcomes, key=lambda name: outcomes[name]["database_cpu_ms_per_request"])
        if outcomes
        else None
    )
    slowest = min(outcomes, key=lambda name: outcomes[name]["ratio_to_mix"]) if outcomes else None
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "points": points,
        "duration_s": duration,
        "variant_duration_s": variant_duration,
        "concurrency": concurrency,
        "workers": workers,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "ratio": round(ratio, 3),
        "round_ratios": round_ratios,
        **results,
        "variants": outcomes,
        "worst_database_cpu": worst,
        "worst_throughput": slowest,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"nearest-{record['time'].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    _print(record, path)


def _print(record: dict[str, Any], path: Path) -> None:
    table = Table(
        title=f"nearest, {record['points']:,} points, concurrency {record['concurrency']}, "
        f"{record['workers']} workers, {record['rounds']} rounds"
    )
    for column in (
        "",
        "req/s",
        "x reference",
        "x mix",
        "p50 ms",
        "p99 ms",
        "DB CPU ms/req",
        "DB CPU x mix",
        "errors",
        "filter bounds",
    ):
        table.add_column(column, justify="right")
    mix_cpu = record["api"]["database_cpu_ms_per_request"]
    rows: list[tuple[str, dict[str, Any], str, str, str, str]] = [
        ("api (partner mix)", record["api"], f"{record['ratio']:.2f}", "1", "1", ""),
        ("reference", record["reference"], "1", "", "", ""),
    ]
    for name, row in record["variants"].items():
        bounds = {True: "met", False: "[bold red]broken[/]", None: ""}[row["meets_filter_bounds"]]
        rows.append(
            (
                name,
                row,
                f"{row['ratio_to_reference']:.2f}",
                f"{row['ratio_to_mix']:.2f}",
                f"{row['database_cpu_to_mix']:.1f}" if mix_cpu else "",
                bounds,
            )
        )
    for name, row, to_reference, to_mix, cpu_to_mix, bounds in rows:
        table.add_row(
            name,
            f"{row['requests_per_second']:.0f}",
            to_reference,
            to_mix,
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['database_cpu_ms_per_request']:.2f}",
            cpu_to_mix,
            str(row["errors"]),
            bounds,
        )
    database = record["database"]
    table.add_row(
        "database only", "", "", "", f"{database['p50_ms']:.2f}", f"{database['p99_ms']:.2f}"
    )
    wide.print(table)
    each = ", ".join(f"{value:.2f}" for value in record["round_ratios"])
    console.print(
        f"ratio api/reference: {record['ratio']:.2f} (median of the rounds: {each})   "
        f"(results in {path.relative_to(ROOT)})"
    )
    if record["variants"]:
        console.print(
            f"worst variant by database CPU per request: {record['worst_database_cpu']}; "
            f"by throughput: {record['worst_throughput']}. Filter bounds (issue 18): at least "
            f"{FILTER_MINIMUM_THROUGHPUT}x the partner mix's requests/s, at most "
            f"{FILTER_MAXIMUM_CPU}x its database CPU per request."
        )
    if any(row["parallel_workers_seen"] for row in record["variants"].values()):
        console.print("bench: parallel workers ran; those exiting between samples are undercounted")


if __name__ == "__main__":
    typer.run(main)
