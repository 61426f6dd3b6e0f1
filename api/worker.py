"""The background worker (``relay worker``): runs the registered jobs in a loop until stopped.

Jobs are listed in ``JOBS``: the removal of long-expired credentials, the referral SLA (an
``overdue`` event with alternatives), the erasure of closed referrals past retention, the
webhook fan-out, the disabling of endpoints failing for days and the outbox retention. Each tick
runs every job once in its own transaction, then sends due webhook deliveries
(``api.services.delivery``); a job that fails is logged (type and location only) and retried on
the next tick. SIGINT or SIGTERM stops the loop after the current tick. Any number of workers
may run at once: every job and the delivery lease skip rows another worker holds.
"""

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.db import SessionMaker, create_engine, create_sessionmaker, transaction
from api.logging import configure_logging, exception_location, get_logger
from api.repositories import health
from api.services import audit, delivery, maintenance, referrals

log = get_logger("relay.worker")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[AsyncSession, Settings], Awaitable[int]]
    """Does one batch of work and returns how many items it handled."""


JOBS: list[Job] = [
    Job("forget_expired_credentials", maintenance.forget_expired_credentials),
    Job("flag_overdue_referrals", referrals.flag_overdue),
    Job("erase_closed_referrals", referrals.purge_closed),
    Job("fan_out_webhooks", delivery.fan_out),
    Job("disable_failing_webhooks", delivery.disable_failing),
    Job("purge_old_events", delivery.purge_events),
    Job("seal_audit_chain", audit.seal),
    Job("sign_audit_checkpoint", audit.sign_checkpoint),
]
DELIVERY_ROUNDS = 10  # batches of deliveries per tick at most, so jobs still run between


async def run_tick(
    sessionmaker: SessionMaker, settings: Settings, client: httpx.AsyncClient
) -> dict[str, int]:
    handled = await run_jobs(sessionmaker, settings)
    sent = 0
    try:
        for _ in range(DELIVERY_ROUNDS):
            batch = await delivery.deliver_due(sessionmaker, settings, client)
            sent += batch
            if batch < delivery.DELIVERY_BATCH:
                break
    except Exception as exc:
        log.error("job_failed", job="deliver_webhooks", **exception_location(exc))
    handled["deliver_webhooks"] = sent
    return handled


async def run_jobs(sessionmaker: SessionMaker, settings: Settings) -> dict[str, int]:
    handled: dict[str, int] = {}
    for job in JOBS:
        try:
            async with transaction(sessionmaker) as session:
                handled[job.name] = await job.run(session, settings)
        except Exception as exc:
            log.error("job_failed", job=job.name, **exception_location(exc))
    return handled


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
        while True:
            handled = await run_tick(sessionmaker, settings, client)
            if any(handled.values()):
                log.info("worker_tick", handled=handled)
            if once or stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                continue
            break
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await client.aclose()
        await engine.dispose()
        log.info("worker_stopped")
