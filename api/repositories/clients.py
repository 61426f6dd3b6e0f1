"""Queries about OAuth clients. Partner reads start from ``readable(organization_id)``."""

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.oauth import OAuthClient
from api.models.organization import Organization, OrganizationStatus


def readable(organization_id: uuid.UUID) -> Select[OAuthClient]:
    """The clients an organisation may see: its own."""
    return select(OAuthClient).where(col(OAuthClient.organization_id) == organization_id)


async def get_for_authentication(session: AsyncSession, client_id: str) -> OAuthClient | None:
    """An enabled client of an active organisation, by its public client_id."""
    statement = (
        select(OAuthClient)
        .join(Organization, col(Organization.id) == col(OAuthClient.organization_id))
        .where(
            col(OAuthClient.client_id) == client_id,
            col(OAuthClient.disabled_at).is_(None),
            col(Organization.status) == OrganizationStatus.active.value,
        )
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get(session: AsyncSession, client_id: str) -> OAuthClient | None:
    statement = select(OAuthClient).where(col(OAuthClient.client_id) == client_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_readable(
    session: AsyncSession, organization_id: uuid.UUID, client_id: str
) -> OAuthClient | None:
    statement = readable(organization_id).where(col(OAuthClient.client_id) == client_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def page(
    session: AsyncSession, organization_id: uuid.UUID | None, *, limit: int, offset: int
) -> tuple[list[OAuthClient], int]:
    """A page of the clients, oldest first: one organisation's (``readable``), or all of them
    (the operator's list) without ``organization_id``."""
    statement = select(OAuthClient) if organization_id is None else readable(organization_id)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.execute(
        statement.order_by(col(OAuthClient.created_at), col(OAuthClient.id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def add(session: AsyncSession, client: OAuthClient) -> OAuthClient:
    session.add(client)
    await session.flush()
    return client


async def set_secret(
    session: AsyncSession, client: OAuthClient, secret_hash: str, at: datetime
) -> None:
    client.secret_hash = secret_hash
    client.rotated_at = at
    await session.flush()


async def disable(session: AsyncSession, client: OAuthClient, at: datetime) -> None:
    await session.execute(
        update(OAuthClient)
        .where(col(OAuthClient.id) == client.id, col(OAuthClient.disabled_at).is_(None))
        .values(disabled_at=at)
    )
    await session.refresh(client)
