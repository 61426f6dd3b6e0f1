"""Queries about organisations."""

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.organization import Organization
from api.repositories.base import contains


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def add(session: AsyncSession, organization: Organization) -> Organization:
    session.add(organization)
    await session.flush()
    return organization


async def page(
    session: AsyncSession, *, limit: int, offset: int, search: str | None = None
) -> tuple[list[Organization], int]:
    """A page of organisations, oldest first; with ``search``, those whose name contains it
    (the name's trigram index), the names nearest to it first."""
    counted = select(func.count()).select_from(Organization)
    statement = select(Organization)
    if search is None:
        statement = statement.order_by(col(Organization.created_at), col(Organization.id))
    else:
        matches = contains(search, col(Organization.name))
        counted = counted.where(matches)
        statement = statement.where(matches).order_by(
            func.length(col(Organization.name)), col(Organization.name), col(Organization.id)
        )
    total = await session.scalar(counted)
    rows = await session.execute(statement.limit(limit).offset(offset))
    return list(rows.scalars()), int(total or 0)


async def set_status(session: AsyncSession, organization: Organization, status: str) -> None:
    """Change its status, moving its version as any change of the organisation does."""
    await session.execute(
        update(Organization)
        .where(col(Organization.id) == organization.id)
        .values(status=status, version=col(Organization.version) + 1, last_modified=func.now())
    )
    await session.refresh(organization)


async def operator(session: AsyncSession) -> Organization | None:
    found = await session.execute(select(Organization).where(col(Organization.operator)))
    return found.scalars().first()
