"""Writes of generated directory data (the demo network)."""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from api.models.oauth import OAuthClient
from api.models.organization import Organization


async def demo_loaded(session: AsyncSession, source: str) -> bool:
    found = await session.execute(
        select(col(Organization.id)).where(col(Organization.source) == source).limit(1)
    )
    return found.first() is not None


async def directory_is_empty(session: AsyncSession) -> bool:
    found = await session.execute(select(col(Organization.id)).limit(1))
    return found.first() is None


async def add_all(session: AsyncSession, rows: Sequence[SQLModel]) -> None:
    """Insert in the given order (parents before children), flushing table by table."""
    previous: type[SQLModel] | None = None
    for row in rows:
        if previous is not None and type(row) is not previous:
            await session.flush()
        session.add(row)
        previous = type(row)
    await session.flush()


async def get_demo_partner(session: AsyncSession, source_id: str) -> Organization | None:
    found = await session.execute(
        select(Organization).where(col(Organization.source_id) == source_id)
    )
    return found.scalars().first()


async def add_organization(session: AsyncSession, organization: Organization) -> Organization:
    session.add(organization)
    await session.flush()
    return organization


async def first_client_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    found = await session.execute(
        select(col(OAuthClient.client_id))
        .where(
            col(OAuthClient.organization_id) == organization_id,
            col(OAuthClient.disabled_at).is_(None),
        )
        .order_by(col(OAuthClient.created_at))
        .limit(1)
    )
    return found.scalar_one_or_none()
