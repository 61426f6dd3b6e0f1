"""The background worker (``relay worker``): runs the registered jobs in a loop until stopped.

Jobs are listed in ``JOBS``: numbering committed outbox events (first, so the feed and webhooks see
new events within a tick), the removal of long-expired credentials, the notifications of new urgent
referrals (queued from the outbox, sent with retries: ``api.services.notify``), the referral SLA
(an ``overdue`` event with alternatives), the erasure of closed referrals past retention, the
deletion of referral drafts past their time (``RELAY_REFERRAL_DRAFT_HOURS``), the flagging of
directory entries nobody confirmed for too long (``directory.stale``), the accountability figures'
roll-up (``api.services.statistics``), the webhook fan-out, the disabling of endpoints failing for
days, the outbox retention, the month partitions of the outbox and the audit trail (made ahead;
the outbox's dropped past ``RELAY_OUTBOX_RETENTION_MONTHS`` once nothing needs them) and the
audit chain. Each tick runs every job once in its own
transaction; a job that fails is logged (type and location only) and retried on the next tick.
Webhook deliveries are sent by a second loop beside the jobs (``api.services.delivery``), so a slow
receiver never delays the jobs. After each tick the jobs' last success is written to ``worker_job``
(``/metrics``), and every ``LAG_CHECK_SECONDS`` the worker warns about work waiting longer than
``RELAY_WORKER_LAG_WARNING_SECONDS``. SIGINT or SIGTERM stops both loops after their current round.
Any number of workers may run at once: every job and the delivery lease skip rows another worker
holds.
"""

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.db import SessionMaker, create_engine, create_sessionmaker, transaction
from api.logging import configure_logging, exception_location, get_logger
from api.repositories import health
from api.services import (
    audit,
    delivery,
    events,
    maintenance,
    notify,
    operations,
    partitions,
    referrals,
    statistics,
    verification,
)
from api.services.referrals import drafts

log = get_logger("relay.worker")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[AsyncSession, Settings], Awaitable[int]]
    """Does one batch of work and returns how many items it handled."""


JOBS: list[Job] = [
    Job("sequence_events", events.sequence),
    Job("forget_expired_credentials", maintenance.forget_expired_credentials),
    Job("queue_urgent_notifications", notify.queue_urgent),
    Job("send_notifications", notify.send_due),
    Job("flag_overdue_referrals", referrals.flag_overdue),
    Job("erase_closed_referrals", referrals.purge_closed),
    Job("forget_expired_referral_drafts", drafts.purge_expired),
    Job("roll_up_statistics", statistics.roll_up),
    Job("flag_stale_directory_entries", verification.flag_stale),
    Job("fan_out_webhooks", delivery.fan_out),
    Job("disable_failing_webhooks", delivery.disable_failing),
    Job("purge_old_events", delivery.purge_events),
    Job("make_partitions_ahead", partitions.make_months_ahead),
    Job("drop_old_outbox_partitions", partitions.drop_old_outbox_months),
    Job("seal_audit_chain", audit.seal),
    Job("sign_audit_checkpoint", audit.sign_checkpoint),
]
DELIVERY_JOB = "deliver_webhooks"
DELIVERY_ROUNDS = 10  # batches of deliveries per round at most
RECORD_SECONDS = 5.0  # a job's success is written at most this often (a failure at once)


@dataclass
class Progress:
    """What this worker knows of its own jobs: when each last succeeded (for the lag warning)."""

    last_success: dict[str, datetime] = field(default_factory=dict)
    last_lag_check: float = 0.0
    last_written: dict[str, float] = field(default_factory=dict)

    @classmethod
    def starting(cls) -> "Progress":
        now = datetime.now(UTC)
        names = [job.name for job in JOBS] + [DELIVERY_JOB]
        return cls(dict.fromkeys(names, now), time.monotonic())


async def run_tick(
    sessionmaker: SessionMaker, settings: Settings, client: httpx.AsyncClient
) -> dict[str, int]:
    """Every job once, then the due deliveries (``relay worker --once``)."""
    handled = await run_jobs(sessionmaker, settings, Progress.starting())
    handled[DELIVERY_JOB] = await run_deliveries(sessionmaker, settings, client, Progress())
    return handled


async def run_jobs(
    sessionmaker: SessionMaker, settings: Settings, progress: Progress
) -> dict[str, int]:
    handled: dict[str, int] = {}
    failed: list[str] = []
    for job in JOBS:
        try:
            async with transaction(sessionmaker) as session:
                handled[job.name] = await job.run(session, settings)
        except Exception as exc:
            failed.append(job.name)
            log.error("job_failed", job=job.name, **exception_location(exc))
    await _record(sessionmaker, progress, list(handled), failed)
    await _check_lag(sessionmaker, settings, progress)
    return handled


async def run_deliveries(
    sessionmaker: SessionMaker,
    settings: Settings,
    client: httpx.AsyncClient,
    progress: Progress,
) -> int:
    sent = 0
    try:
        for _ in range(DELIVERY_ROUNDS):
            batch = await delivery.deliver_due(sessionmaker, settings, client)
            sent += batch
            if batch < delivery.DELIVERY_BATCH:
                break
    except Exception as exc:
        log.error("job_failed", job=DELIVERY_JOB, **exception_location(exc))
        await _record(sessionmaker, progress, [], [DELIVERY_JOB])
    else:
        await _record(sessionmaker, progress, [DELIVERY_JOB], [])
    return sent


async def _record(
    sessionmaker: SessionMaker, progress: Progress, succeeded: list[str], failed: list[str]
) -> None:
    now = datetime.now(UTC)
    progress.last_success.update(dict.fromkeys(succeeded, now))
    clock = time.monotonic()
    succeeded = [
        name
        for name in succeeded
        if clock - progress.last_written.get(name, -RECORD_SECONDS) >= RECORD_SECONDS
    ]
    if not succeeded and not failed:
        return
    progress.last_written.update(dict.fromkeys(succeeded, clock))
    try:
        async with transaction(sessionmaker) as session:
            await operations.record_jobs(session, now, succeeded, failed)
    except Exception as exc:
        log.error("job_failed", job="record_jobs", **exception_location(exc))


async def _check_lag(sessionmaker: SessionMaker, settings: Settings, progress: Progress) -> None:
    if time.monotonic() - progress.last_lag_check < operations.LAG_CHECK_SECONDS:
        return
    progress.last_lag_check = time.monotonic()
    try:
        async with transaction(sessionmaker) as session:
            await operations.warn_if_lagging(
                session,
                datetime.now(UTC),
                settings.worker_lag_warning_seconds,
                progress.last_success,
            )
    except Exception as exc:
        log.error("job_failed", job="check_lag", **exception_location(exc))


async def _every(
    interval: float, stop: asyncio.Event, round_: Callable[[], Awaitable[object]]
) -> None:
    while not stop.is_set():
        await round_()
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue


async def run_worker(settings: Settings, *, once: bool = False, interval: float = 1.0) -> None:
    configure_logging(settings)
    audit.configure(settings)
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    client = delivery.new_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with transaction(sessionmaker) as session:
            postgis = await health.postgis_version(session)
        log.info("worker_started", jobs=[job.name for job in JOBS], postgis=postgis.split()[0])
        if once:
            _log_tick(await run_tick(sessionmaker, settings, client))
            return
        progress = Progress.starting()

        async def jobs_round() -> None:
            _log_tick(await run_jobs(sessionmaker, settings, progress))

        async def deliveries_round() -> None:
            sent = await run_deliveries(sessionmaker, settings, client, progress)
            if sent:
                log.info("worker_tick", handled={DELIVERY_JOB: sent})

        await asyncio.gather(
            _every(interval, stop, jobs_round), _every(interval, stop, deliveries_round)
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await client.aclose()
        await engine.dispose()
        log.info("worker_stopped")


def _log_tick(handled: dict[str, int]) -> None:
    if any(handled.values()):
        log.info("worker_tick", handled=handled)
