"""Verification of directory entries: which are due a check, which are stale, who confirms."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import DirectoryReport, Location, ReportStatus, Service, ServiceStatus
from api.models.organization import Organization
from api.repositories.named_services import services_named

MAXIMUM_ENTRIES = 500  # services of one organisation listed on its page at most
# Entries still offered to people: a withdrawn one is not worth checking.
CHECKED_STATUSES = (ServiceStatus.active.value, ServiceStatus.temporarily_closed.value)


async def organization_email(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    email: str | None = await session.scalar(
        select(col(Organization.email)).where(col(Organization.id) == organization_id)
    )
    return email


async def check_due(
    session: AsyncSession, checked_before: date, created_before: datetime, *, limit: int
) -> list[Service]:
    """Entries not flagged yet whose last check (or, never checked, whose creation) is older
    than the bound, locked; rows another worker holds are skipped (``ix_service_check_due``)."""
    statement = (
        select(Service)
        .where(
            col(Service.stale_since).is_(None),
            col(Service.status).in_(CHECKED_STATUSES),
            or_(
                col(Service.assured_date) < checked_before,
                and_(
                    col(Service.assured_date).is_(None),
                    col(Service.created_at) < created_before,
                ),
            ),
        )
        .order_by(col(Service.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(statement)).scalars())


@dataclass(frozen=True)
class StaleEntry:
    service_id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    organization: str
    assured_date: date | None
    stale_since: datetime


async def stale(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[StaleEntry], int]:
    """The entries flagged stale (of one organisation, or of all), longest first, and how many."""
    where: list[ColumnElement[bool]] = [col(Service.stale_since).is_not(None)]
    if organization_id is not None:
        where.append(col(Service.organization_id) == organization_id)
    total = await session.scalar(select(func.count()).select_from(Service).where(*where))
    rows = await session.execute(
        services_named(col(Service.assured_date), col(Service.stale_since))
        .where(*where)
        .order_by(col(Service.stale_since), col(Service.id))
        .limit(limit)
        .offset(offset)
    )
    return [
        StaleEntry(service_id, name, owner, organization, assured, since)
        for service_id, name, owner, organization, assured, since in rows
        if since is not None
    ], int(total or 0)


@dataclass(frozen=True)
class KeptEntry:
    """One of an organisation's services as its directory page lists it."""

    id: uuid.UUID
    name: str
    status: str
    visibility: str
    assured_date: date | None
    stale_since: datetime | None
    open_reports: int


async def entries(session: AsyncSession, organization_id: uuid.UUID) -> list[KeptEntry]:
    """An organisation's services (every visibility and status), by name, with how many
    reports wait on each."""
    waiting = (
        select(func.count())
        .select_from(DirectoryReport)
        .where(
            col(DirectoryReport.service_id) == col(Service.id),
            col(DirectoryReport.status) == ReportStatus.open.value,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            col(Service.id),
            col(Service.name),
            col(Service.status),
            col(Service.visibility),
            col(Service.assured_date),
            col(Service.stale_since),
            waiting,
        )
        .where(col(Service.organization_id) == organization_id)
        .order_by(col(Service.name), col(Service.id))
        .limit(MAXIMUM_ENTRIES)
    )
    return [KeptEntry(*row) for row in rows]


async def kept_locations(session: AsyncSession, organization_id: uuid.UUID) -> list[Location]:
    """An organisation's locations (every visibility), by name, for its directory page."""
    rows = await session.execute(
        select(Location)
        .where(col(Location.organization_id) == organization_id)
        .order_by(col(Location.name), col(Location.id))
        .limit(MAXIMUM_ENTRIES)
    )
    return list(rows.scalars())
