"""What the operations endpoints report: whether the database and PostGIS answer, and the
worker's lag seen from outside (what waits for it and when its jobs last succeeded).

``/metrics`` exposes the lag (``api.metrics``) and ``relay worker`` checks it every
``LAG_CHECK_SECONDS``, logging a warning for each kind of work waiting longer than
``RELAY_WORKER_LAG_WARNING_SECONDS`` (``docs/operations.md`` says which alerts to set).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import SessionMaker, transaction
from api.errors import DatabaseUnavailable, ServiceUnavailable
from api.logging import exception_location, get_logger
from api.models.worker import WorkerJob
from api.repositories import health
from api.repositories import operations as repository
from api.repositories.base import act_as_worker
from api.repositories.operations import Backlog

log = get_logger("relay.operations")

LAG_CHECK_SECONDS = 30.0


async def postgis_version(session: AsyncSession) -> str:
    """PostGIS's full version, which proves that the database and PostGIS both answer; 503
    (``ServiceUnavailable``) when either does not."""
    try:
        return await health.postgis_version(session)
    except (
        DatabaseUnavailable,
        DBAPIError,
        InterfaceError,
        OperationalError,
        OSError,
        TimeoutError,
    ) as exc:
        log.warning("not_ready", **exception_location(exc))
        raise ServiceUnavailable("The database or PostGIS does not answer.") from exc


@dataclass(frozen=True)
class Snapshot:
    backlog: Backlog
    jobs: list[WorkerJob]
    at: datetime


def age(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0


def lags(backlog: Backlog, now: datetime) -> dict[str, float]:
    """Seconds the oldest item of each kind of the worker's own work has waited."""
    return {
        "sequence_events": age(backlog.oldest_unsequenced_event, now),
        "seal_audit_chain": age(backlog.oldest_audit_unsealed, now),
        "deliver_webhooks": age(backlog.oldest_due_delivery, now),
    }


async def snapshot(sessionmaker: SessionMaker, now: datetime) -> Snapshot | None:
    """The backlog and the jobs, or None when the database does not answer (``/metrics`` still
    serves what the process knows)."""
    try:
        async with transaction(sessionmaker) as session:
            return await _read(session, now)
    except (
        DBAPIError,
        InterfaceError,
        OperationalError,
        OSError,
        PoolTimeout,
        ServiceUnavailable,
    ) as exc:
        log.warning("backlog_unavailable", **exception_location(exc))
        return None


async def _read(session: AsyncSession, now: datetime) -> Snapshot:
    await act_as_worker(session)
    return Snapshot(await repository.backlog(session, now), await repository.jobs(session), now)


async def record_jobs(
    session: AsyncSession, at: datetime, succeeded: Sequence[str], failed: Sequence[str]
) -> None:
    await repository.record_jobs(session, at, succeeded, failed)


async def warn_if_lagging(
    session: AsyncSession,
    now: datetime,
    threshold: float,
    last_success: dict[str, datetime],
) -> list[str]:
    """Log a warning for each kind of work waiting longer than ``threshold`` seconds and each
    job of this worker that has not succeeded for that long; returns their names."""
    await act_as_worker(session)
    found = await repository.backlog(session, now)
    late = [(name, seconds) for name, seconds in lags(found, now).items() if seconds > threshold]
    late += [
        (job, seconds)
        for job, moment in last_success.items()
        if (seconds := age(moment, now)) > threshold
    ]
    for name, seconds in late:
        log.warning("worker_lagging", job=name, lag_seconds=round(seconds, 1))
    return [name for name, _ in late]
