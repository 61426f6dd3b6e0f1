"""Writes to the directory, and the reads that lock what is about to change."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from api.models.directory import (
    AdminArea,
    Attribute,
    Location,
    Service,
    ServiceAtLocation,
    ServiceCapacity,
)
from api.models.organization import Organization


async def get_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> Organization | None:
    return await session.get(Organization, organization_id, with_for_update=True)


async def lock_service(
    session: AsyncSession, service_id: uuid.UUID, organization_id: uuid.UUID | None
) -> Service | None:
    """The service, locked for update, if it belongs to ``organization_id`` (None: any)."""
    statement = select(Service).where(col(Service.id) == service_id).with_for_update()
    if organization_id is not None:
        statement = statement.where(col(Service.organization_id) == organization_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def lock_location(
    session: AsyncSession, location_id: uuid.UUID, organization_id: uuid.UUID | None
) -> Location | None:
    statement = select(Location).where(col(Location.id) == location_id).with_for_update()
    if organization_id is not None:
        statement = statement.where(col(Location.organization_id) == organization_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def smallest_area_containing(
    session: AsyncSession, latitude: float, longitude: float
) -> uuid.UUID | None:
    point = func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326)
    statement = (
        select(col(AdminArea.id))
        .where(func.ST_Contains(col(AdminArea.geom), point))
        .order_by(col(AdminArea.level).desc(), func.ST_Area(col(AdminArea.geom)))
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def capacity(
    session: AsyncSession, service_id: uuid.UUID, unit_id: uuid.UUID
) -> ServiceCapacity | None:
    statement = select(ServiceCapacity).where(
        col(ServiceCapacity.service_id) == service_id, col(ServiceCapacity.unit_id) == unit_id
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def delete_attributes(session: AsyncSession, service_id: uuid.UUID) -> None:
    await session.execute(
        delete(Attribute).where(
            col(Attribute.link_entity) == "service", col(Attribute.link_id) == service_id
        )
    )


async def delete_owned(session: AsyncSession, model: type[SQLModel], **owner: uuid.UUID) -> None:
    [(column, value)] = owner.items()
    await session.execute(delete(model).where(getattr(model, column) == value))


async def set_link_region(session: AsyncSession, location_id: uuid.UUID, key: str) -> None:
    await session.execute(
        update(ServiceAtLocation)
        .where(col(ServiceAtLocation.location_id) == location_id)
        .values(region_key=key)
    )


async def add_in_order(session: AsyncSession, *groups: Sequence[Any]) -> None:
    """Insert groups one after the other (parents first), flushing between them."""
    for group in groups:
        if group:
            session.add_all(group)
            await session.flush()


async def exists(session: AsyncSession, model: type[SQLModel], row_id: uuid.UUID) -> bool:
    return await session.get(model, row_id) is not None
