"""Reports of wrong directory entries: what a report names, the review queues, the changes of
state."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import DirectoryReport, ReportStatus, Service, Visibility
from api.models.organization import Organization
from api.repositories.base import one_or_none
from api.repositories.named_services import services_named

QUEUE_LIMIT = 200


@dataclass(frozen=True)
class Reportable:
    """A service as the report form names it."""

    id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    organization: str
    translations: dict[str, dict[str, str]]


async def reportable(session: AsyncSession, service_id: uuid.UUID) -> Reportable | None:
    """A service the lookup pages may show (not one listed to partners only)."""
    row = (
        await session.execute(
            services_named(col(Service.translations)).where(
                col(Service.id) == service_id,
                col(Service.visibility) != Visibility.partners.value,
            )
        )
    ).first()
    if row is None:
        return None
    return Reportable(row[0], row[1], row[2], row[3], row[4] or {})


async def add(session: AsyncSession, report: DirectoryReport) -> None:
    session.add(report)
    await session.flush()


@dataclass(frozen=True)
class QueuedReport:
    id: uuid.UUID
    service_id: uuid.UUID
    service: str
    organization_id: uuid.UUID
    organization: str
    reason: str
    correction: str | None
    created_at: datetime


async def queue(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    service_id: uuid.UUID | None = None,
    older_than: datetime | None = None,
) -> tuple[list[QueuedReport], int]:
    """Open reports (of one organisation or of all; of one service; waiting since before
    ``older_than``), oldest first, at most ``QUEUE_LIMIT``, and how many there are."""
    where: list[ColumnElement[bool]] = [col(DirectoryReport.status) == ReportStatus.open.value]
    if organization_id is not None:
        where.append(col(DirectoryReport.organization_id) == organization_id)
    if service_id is not None:
        where.append(col(DirectoryReport.service_id) == service_id)
    if older_than is not None:
        where.append(col(DirectoryReport.created_at) < older_than)
    total = await session.scalar(select(func.count()).select_from(DirectoryReport).where(*where))
    rows = await session.execute(
        select(
            col(DirectoryReport.id),
            col(DirectoryReport.service_id),
            col(Service.name),
            col(DirectoryReport.organization_id),
            col(Organization.name),
            col(DirectoryReport.reason),
            col(DirectoryReport.correction),
            col(DirectoryReport.created_at),
        )
        .join(Service, col(Service.id) == col(DirectoryReport.service_id))
        .join(Organization, col(Organization.id) == col(DirectoryReport.organization_id))
        .where(*where)
        .order_by(col(DirectoryReport.created_at), col(DirectoryReport.id))
        .limit(QUEUE_LIMIT)
    )
    return [QueuedReport(*row) for row in rows], int(total or 0)


async def lock(
    session: AsyncSession, report_id: uuid.UUID, organization_id: uuid.UUID | None
) -> DirectoryReport | None:
    """The report, locked, if it waits in ``organization_id``'s queue (None: any)."""
    statement = select(DirectoryReport).where(col(DirectoryReport.id) == report_id)
    if organization_id is not None:
        statement = statement.where(col(DirectoryReport.organization_id) == organization_id)
    return await one_or_none(session, statement, lock=True)
