"""Nearest-service queries. SQL is built from the filters actually present (STYLE.md rule 10):
a ``(:x IS NULL OR ...)`` pattern under a generic plan would defeat the indexes.

Three candidate sets are merged by the service layer:
- *located*: KNN on ``location.point`` (GiST), exact places the viewer may see;
- *withheld*: confidential places, for a viewer without ``directory:confidential``, placed at the
  centroid of their administrative area (or a 0.5 degree grid cell) - never at the real point;
- *covering*: services whose service area contains the point (mobile teams, hotlines).
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, any_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import (
    AdminArea,
    Attribute,
    Language,
    Location,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    ServiceStatus,
    Visibility,
)
from api.models.organization import Organization, OrganizationStatus
from api.repositories.directory import Viewer
from api.taxonomy import term_id

WITHHELD_GRID_DEGREES = 0.5


@dataclass(frozen=True)
class SearchFilters:
    needs: tuple[str, ...] = ()
    age: int | None = None
    gender: str | None = None
    group: str | None = None
    accepts_referrals: bool | None = None
    has_capacity: bool | None = None
    language: str | None = None
    radius_m: float | None = None


@dataclass(frozen=True)
class Candidate:
    service_id: uuid.UUID
    location_id: uuid.UUID | None
    link_id: uuid.UUID | None
    distance_m: float
    withheld: bool
    covering: bool


def _point(latitude: float, longitude: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326)


def _geography(latitude: float, longitude: float) -> Any:
    return func.geography(_point(latitude, longitude))


def _service_conditions(viewer: Viewer, filters: SearchFilters) -> list[Any]:
    conditions: list[Any] = [
        col(Service.status) == ServiceStatus.active.value,
        col(Service.visibility).in_(viewer.levels),
        col(Organization.status) == OrganizationStatus.active.value,
        col(Organization.visibility).in_(viewer.levels),
    ]
    if filters.needs:
        conditions.append(
            exists().where(
                col(Attribute.link_entity) == "service",
                col(Attribute.link_id) == col(Service.id),
                col(Attribute.taxonomy_term_id).in_([term_id(code) for code in filters.needs]),
            )
        )
    if filters.age is not None:
        conditions.append(
            or_(col(Service.minimum_age).is_(None), col(Service.minimum_age) <= filters.age)
        )
        conditions.append(
            or_(col(Service.maximum_age).is_(None), col(Service.maximum_age) >= filters.age)
        )
    if filters.gender is not None:
        conditions.append(
            or_(
                func.cardinality(col(Service.genders)) == 0,
                literal(filters.gender) == any_(col(Service.genders)),
            )
        )
    if filters.group is not None:
        conditions.append(
            or_(
                func.cardinality(col(Service.target_groups)) == 0,
                literal(filters.group) == any_(col(Service.target_groups)),
            )
        )
    if filters.accepts_referrals is not None:
        conditions.append(col(Service.accepts_referrals).is_(filters.accepts_referrals))
    if filters.has_capacity:
        conditions.append(
            exists().where(
                col(ServiceCapacity.service_id) == col(Service.id),
                col(ServiceCapacity.available) > 0,
            )
        )
    if filters.language is not None:
        conditions.append(
            exists().where(
                col(Language.service_id) == col(Service.id), col(Language.code) == filters.language
            )
        )
    return conditions


def _located(
    viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float
) -> Select[Any]:
    here = _geography(latitude, longitude)
    exact_levels = (
        viewer.levels
        if viewer.sees_confidential_locations
        else tuple(level for level in viewer.levels if level != Visibility.confidential.value)
    )
    statement = (
        select(
            col(ServiceAtLocation.service_id),
            col(ServiceAtLocation.location_id),
            col(ServiceAtLocation.id),
            func.ST_Distance(col(Location.point), here).label("distance"),
        )
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .join(Service, col(Service.id) == col(ServiceAtLocation.service_id))
        .join(Organization, col(Organization.id) == col(Service.organization_id))
        .where(
            col(Location.point).is_not(None),
            col(Location.visibility).in_(exact_levels),
            *_service_conditions(viewer, filters),
        )
    )
    if filters.radius_m is not None:
        statement = statement.where(func.ST_DWithin(col(Location.point), here, filters.radius_m))
    return statement.order_by(col(Location.point).op("<->")(here))


async def nearest_located(
    session: AsyncSession,
    viewer: Viewer,
    filters: SearchFilters,
    latitude: float,
    longitude: float,
    *,
    limit: int,
    offset: int,
) -> list[Candidate]:
    rows = await session.execute(
        _located(viewer, filters, latitude, longitude).limit(limit).offset(offset)
    )
    return [
        Candidate(service_id, location_id, link_id, float(distance), False, False)
        for service_id, location_id, link_id, distance in rows
    ]


async def withheld(
    session: AsyncSession, viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float
) -> list[Candidate]:
    """Confidential places a viewer may list but not locate, at their area's centroid."""
    if viewer.sees_confidential_locations:
        return []
    here = _geography(latitude, longitude)
    stand_in = func.coalesce(
        func.geography(func.ST_PointOnSurface(col(AdminArea.geom))),
        func.geography(
            func.ST_SnapToGrid(func.geometry(col(Location.point)), WITHHELD_GRID_DEGREES)
        ),
    )
    distance = func.ST_Distance(stand_in, here)
    statement = (
        select(
            col(ServiceAtLocation.service_id),
            col(ServiceAtLocation.location_id),
            col(ServiceAtLocation.id),
            distance.label("distance"),
        )
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .outerjoin(AdminArea, col(AdminArea.id) == col(Location.admin_area_id))
        .join(Service, col(Service.id) == col(ServiceAtLocation.service_id))
        .join(Organization, col(Organization.id) == col(Service.organization_id))
        .where(
            col(Location.visibility) == Visibility.confidential.value,
            col(Location.point).is_not(None),
            *_service_conditions(viewer, filters),
        )
    )
    rows = await session.execute(statement)
    found = [
        Candidate(service_id, location_id, link_id, float(value), True, False)
        for service_id, location_id, link_id, value in rows
    ]
    # The radius is applied here, not in SQL: a predicate on a computed distance led the planner
    # to evaluate it across the whole join (seconds); confidential places are few.
    radius = filters.radius_m
    return [c for c in found if radius is None or c.distance_m <= radius]


async def covering(
    session: AsyncSession, viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float
) -> list[Candidate]:
    """Services whose service area contains the point."""
    statement = (
        select(col(Service.id))
        .join(Organization, col(Organization.id) == col(Service.organization_id))
        .where(
            exists().where(
                col(ServiceArea.service_id) == col(Service.id),
                func.ST_Intersects(col(ServiceArea.extent), _point(latitude, longitude)),
            ),
            *_service_conditions(viewer, filters),
        )
        .order_by(col(Service.name))
    )
    rows = await session.execute(statement)
    return [Candidate(service_id, None, None, 0.0, False, True) for (service_id,) in rows]
