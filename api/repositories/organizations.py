"""Queries about organisations."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.organization import Organization


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def add(session: AsyncSession, organization: Organization) -> Organization:
    session.add(organization)
    await session.flush()
    return organization


async def page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[Organization], int]:
    total = await session.scalar(select(func.count()).select_from(Organization))
    rows = await session.execute(
        select(Organization)
        .order_by(col(Organization.created_at), col(Organization.id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def operator(session: AsyncSession) -> Organization | None:
    found = await session.execute(select(Organization).where(col(Organization.operator)))
    return found.scalars().first()
