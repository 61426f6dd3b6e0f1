"""Writes to the directory, and the reads that lock what is about to change."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from api.geo.points import geometry_point
from api.models.directory import (
    AdminArea,
    Attribute,
    KeptT,
    ServiceAtLocation,
    ServiceCapacity,
)
from api.models.organization import Organization
from api.repositories.base import one_or_none


async def get_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> Organization | None:
    return await session.get(Organization, organization_id, with_for_update=True)


async def lock_kept(
    session: AsyncSession,
    model: type[KeptT],
    record_id: uuid.UUID,
    organization_id: uuid.UUID | None,
) -> KeptT | None:
    """The service or location, locked for update, if it belongs to ``organization_id`` (None:
    any)."""
    statement = select(model).where(col(model.id) == record_id)
    if organization_id is not None:
        statement = statement.where(col(model.organization_id) == organization_id)
    return await one_or_none(session, statement, lock=True)


async def smallest_area_containing(
    session: AsyncSession, latitude: float, longitude: float
) -> uuid.UUID | None:
    statement = (
        select(col(AdminArea.id))
        .where(func.ST_Contains(col(AdminArea.geom), geometry_point(latitude, longitude)))
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


# Lambert's cylindrical equal-area projection: a polygon's area there is its area on the earth
# when its edges are read as straight lines in longitude and latitude, which is how the
# coverage test (``ST_Intersects`` on the planar ``extent``) reads them. A geography's area
# reads edges as great circles instead: a world-wide rectangle then has an area of 0.
EQUAL_AREA = "+proj=cea +datum=WGS84 +units=m"
# Edges are cut every half degree first, so that they stay straight in longitude and latitude.
_AREA_KM2 = text(
    "SELECT ST_Area(ST_Transform(ST_Segmentize(ST_GeomFromText(:area, 4326), 0.5),"
    " CAST(:projection AS text))) / 1e6"
)

# The part of an area lying in top-level administrative areas (countries, or regions where no
# country is loaded) none of the organisation's places is in. Areas of one ``country`` code count
# as one territory. Land outside every loaded area is not counted: nothing is known of it.
_FOREIGN_KM2 = text(
    """
    WITH area AS (SELECT ST_GeomFromText(:area, 4326) AS geom),
    place AS (
      SELECT ST_SetSRID(ST_MakePoint(longitude, latitude), 4326) AS point
      FROM location WHERE organization_id = :organization_id AND latitude IS NOT NULL
      UNION ALL
      SELECT ST_SetSRID(ST_MakePoint(given.longitude, given.latitude), 4326)
      FROM unnest(CAST(:longitudes AS float8[]), CAST(:latitudes AS float8[]))
           AS given(longitude, latitude)
    ),
    top AS (
      SELECT coalesce(country, id::text) AS territory, geom
      FROM admin_area WHERE parent_id IS NULL
    ),
    home AS (
      SELECT DISTINCT top.territory FROM top JOIN place ON ST_Intersects(top.geom, place.point)
    ),
    foreign_land AS (
      SELECT ST_Union(top.geom) AS geom FROM top, area
      WHERE ST_Intersects(top.geom, area.geom)
        AND top.territory NOT IN (SELECT territory FROM home)
    )
    SELECT coalesce(ST_Area(ST_Transform(
      ST_Segmentize(ST_Intersection(area.geom, foreign_land.geom), 0.5),
      CAST(:projection AS text))) / 1e6, 0)
    FROM area, foreign_land
    """
)


async def area_km2(session: AsyncSession, area_wkt: str) -> float:
    """The area of a lon/lat polygon (WKT, SRID 4326), in km²."""
    result = await session.execute(_AREA_KM2, {"area": area_wkt, "projection": EQUAL_AREA})
    return float(result.scalar_one())


async def foreign_km2(
    session: AsyncSession,
    organization_id: uuid.UUID,
    area_wkt: str,
    places: Sequence[tuple[float, float]],
) -> float:
    """km² of the area in countries where the organisation has no place: neither among its
    locations nor among ``places`` (latitude, longitude: the ones being added with it)."""
    result = await session.execute(
        _FOREIGN_KM2,
        {
            "area": area_wkt,
            "organization_id": organization_id,
            "latitudes": [latitude for latitude, _ in places],
            "longitudes": [longitude for _, longitude in places],
            "projection": EQUAL_AREA,
        },
    )
    return float(result.scalar_one())
