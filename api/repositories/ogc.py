"""OGC API Features queries: the ``services`` points and the ``areas`` polygons.

Services start from ``visible_services`` and ``visible_locations`` (api/repositories/directory.py),
so who may see which record is decided there. What this module adds is where things are:

- A ``bbox`` is a longitude/latitude rectangle (CRS84), whose north and south edges follow
  parallels. Cast to ``geography`` the same rectangle would have great-circle edges, which bulge
  towards the pole and get points near the edges wrong by up to degrees on wide boxes (and a
  180°-wide box is refused outright as an antipodal edge). So points are matched exactly on their
  ``latitude``/``longitude`` columns (``point`` is computed from them), and the GiST index on
  ``location.point`` narrows the search first with ``&&`` against a set of points whose
  geocentric bounding box provably contains the whole rectangle (``geocentric_cover``).
  Areas are ``geometry``: ``ST_Intersects`` with the planar envelope is exact and uses their
  GiST index directly.
- A confidential location never matches a ``bbox`` for a caller who may not locate it, and does
  not count towards the extent: otherwise sweeping small boxes, or reading the extent, would
  locate it.

Pages are keyset pages on the feature id (``ServiceAtLocation.id``, ``AdminArea.id``): a total
order that an insert or a delete during a walk cannot shift, so following ``next`` returns every
feature that existed throughout exactly once.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.models.directory import (
    AdminArea,
    Attribute,
    Location,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
    Visibility,
)
from api.models.organization import Organization
from api.repositories.directory import Viewer, visible_locations, visible_services
from api.taxonomy import RELAY_TAXONOMY_ID

RowT = TypeVar("RowT")

GEOJSON_DECIMALS = 6


@dataclass(frozen=True)
class BoundingBox:
    """A CRS84 rectangle; ``west > east`` when it spans the antimeridian (OGC API Features)."""

    west: float
    south: float
    east: float
    north: float

    def rectangles(self) -> list[tuple[float, float, float, float]]:
        """(west, south, east, north) pieces that do not cross the antimeridian."""
        if self.west <= self.east:
            return [(self.west, self.south, self.east, self.north)]
        return [
            (self.west, self.south, 180.0, self.north),
            (-180.0, self.south, self.east, self.north),
        ]


@dataclass(frozen=True)
class Keyset:
    """One page: ``limit`` features after (or before) a feature id, in id order."""

    limit: int
    after: uuid.UUID | None = None
    before: uuid.UUID | None = None


@dataclass(frozen=True)
class KeysetPage(Generic[RowT]):
    rows: list[RowT]
    has_next: bool
    has_previous: bool


@dataclass(frozen=True)
class Extent:
    west: float
    south: float
    east: float
    north: float


@dataclass(frozen=True)
class ServiceFeatureRow:
    link: ServiceAtLocation
    service: Service
    location: Location
    organization: Organization


@dataclass(frozen=True)
class AreaFeatureRow:
    id: uuid.UUID
    name: str
    level: int
    code: str | None
    country: str | None
    parent_id: uuid.UUID | None
    geojson: str


# -- where -------------------------------------------------------------------------------------


def _critical_points(west: float, south: float, east: float, north: float) -> list[str]:
    """Points of the rectangle where x, y or z on the unit sphere reach their extremes.

    x = cos(lat)·cos(lon), y = cos(lat)·sin(lon), z = sin(lat): each a product of a function of
    latitude and one of longitude, so over a rectangle each reaches its minimum and maximum at a
    combination of the latitude extremes (the edges, and the equator) and the longitude extremes
    (the edges, and the meridians -180, -90, 0, 90, 180 inside it).
    """
    latitudes = {south, north} | ({0.0} if south < 0.0 < north else set())
    longitudes = {west, east} | {
        meridian for meridian in (-180.0, -90.0, 0.0, 90.0, 180.0) if west < meridian < east
    }
    return [f"{lon!r} {lat!r}" for lon in sorted(longitudes) for lat in sorted(latitudes)]


def geocentric_cover(box: BoundingBox) -> str:
    """EWKT of a MULTIPOINT whose geography bounding box contains every point of ``box``."""
    points = [point for piece in box.rectangles() for point in _critical_points(*piece)]
    return "SRID=4326;MULTIPOINT(" + ",".join(f"({point})" for point in points) + ")"


def _envelope(box: BoundingBox) -> Any:
    pieces = [func.ST_MakeEnvelope(*piece, 4326) for piece in box.rectangles()]
    return pieces[0] if len(pieces) == 1 else func.ST_Collect(*pieces)


def _point_in(box: BoundingBox, location: Any) -> list[Any]:
    """Index-assisted, exact: the location's coordinates lie in the rectangle."""
    cover = func.ST_GeogFromText(literal(geocentric_cover(box)))
    within_longitudes: ColumnElement[bool]
    if box.west <= box.east:
        within_longitudes = location.longitude.between(box.west, box.east)
    else:
        within_longitudes = or_(location.longitude >= box.west, location.longitude <= box.east)
    return [
        location.point.op("&&", is_comparison=True)(cover),
        location.latitude.between(box.south, box.north),
        within_longitudes,
    ]


def _locatable(viewer: Viewer, location: Any) -> list[Any]:
    """Locations whose position this viewer may learn."""
    conditions: list[Any] = [location.latitude.is_not(None)]
    if not viewer.sees_confidential_locations:
        conditions.append(location.visibility != Visibility.confidential.value)
    return conditions


# -- keyset pages ------------------------------------------------------------------------------


def _keyset(statement: Select[Any], key: Any, keyset: Keyset) -> Select[Any]:
    if keyset.before is not None:
        return statement.where(key < keyset.before).order_by(key.desc()).limit(keyset.limit + 1)
    if keyset.after is not None:
        statement = statement.where(key > keyset.after)
    return statement.order_by(key.asc()).limit(keyset.limit + 1)


def _page(rows: list[RowT], keyset: Keyset) -> KeysetPage[RowT]:
    """Rows fetched by ``_keyset`` (one more than asked, to know whether more follow)."""
    more = len(rows) > keyset.limit
    rows = rows[: keyset.limit]
    if keyset.before is not None:
        return KeysetPage(rows[::-1], has_next=True, has_previous=more)
    return KeysetPage(rows, has_next=more, has_previous=keyset.after is not None)


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return int(total or 0)


# -- services ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Matching:
    statement: Select[Any]
    location: Any  # the visible location, an alias of Location


def _matching_services(viewer: Viewer, box: BoundingBox | None) -> _Matching:
    """Visible services at visible locations, composed from ``visible_services`` and
    ``visible_locations`` directly: ``visible_service_at_locations`` joins each table twice, and
    planning its eight relations cost more than running the query."""
    location = aliased(Location, visible_locations(viewer).subquery())
    statement = (
        visible_services(viewer)
        .join(ServiceAtLocation, col(ServiceAtLocation.service_id) == col(Service.id))
        .join(location, col(location.id) == col(ServiceAtLocation.location_id))
    )
    if box is not None:
        statement = statement.where(*_point_in(box, location), *_locatable(viewer, location))
    return _Matching(statement, location)


def services_statement(viewer: Viewer, box: BoundingBox | None, keyset: Keyset) -> Select[Any]:
    """One page of the ``services`` collection as it runs (also for EXPLAIN in tests)."""
    matching = _matching_services(viewer, box)
    statement = matching.statement.with_only_columns(
        ServiceAtLocation, Service, matching.location, Organization
    )
    return _keyset(statement, col(ServiceAtLocation.id), keyset)


async def service_features(
    session: AsyncSession, viewer: Viewer, box: BoundingBox | None, keyset: Keyset
) -> KeysetPage[ServiceFeatureRow]:
    rows = await session.execute(services_statement(viewer, box, keyset))
    return _page([ServiceFeatureRow(*row) for row in rows], keyset)


async def count_service_features(
    session: AsyncSession, viewer: Viewer, box: BoundingBox | None
) -> int:
    return await _count(session, _matching_services(viewer, box).statement)


async def service_feature(
    session: AsyncSession, viewer: Viewer, link_id: uuid.UUID
) -> ServiceFeatureRow | None:
    statement = services_statement(viewer, None, Keyset(limit=1)).where(
        col(ServiceAtLocation.id) == link_id
    )
    row = (await session.execute(statement)).first()
    return ServiceFeatureRow(*row) if row is not None else None


async def services_extent(session: AsyncSession, viewer: Viewer) -> Extent | None:
    """The box around every place of a visible service this viewer may locate.

    Four "first row in coordinate order" subqueries rather than min/max over the join: each
    walks the btree index on ``latitude`` or ``longitude`` and stops at the first place that is
    visible, instead of aggregating every row (seconds at a million places).
    """

    def first(column: Any, descending: bool) -> Any:
        matching = _matching_services(viewer, None)
        value = getattr(matching.location, column)
        return (
            matching.statement.where(*_locatable(viewer, matching.location))
            .with_only_columns(value)
            .order_by(value.desc() if descending else value.asc())
            .limit(1)
            .scalar_subquery()
        )

    row = (
        await session.execute(
            select(
                first("longitude", False),
                first("latitude", False),
                first("longitude", True),
                first("latitude", True),
            )
        )
    ).one()
    return Extent(*row) if row[0] is not None else None


async def need_codes_by_service(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    grouped: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not ids:
        return grouped
    rows = await session.execute(
        select(col(Attribute.link_id), col(TaxonomyTerm.code))
        .join(TaxonomyTerm, col(TaxonomyTerm.id) == col(Attribute.taxonomy_term_id))
        .where(
            col(Attribute.link_entity) == "service",
            col(Attribute.link_id).in_(ids),
            col(TaxonomyTerm.taxonomy_id) == RELAY_TAXONOMY_ID,
        )
        .order_by(col(TaxonomyTerm.code))
    )
    for service_id, code in rows:
        grouped[service_id].append(code)
    return grouped


# -- areas -------------------------------------------------------------------------------------


def _matching_areas(box: BoundingBox | None) -> Select[Any]:
    statement = select(col(AdminArea.id))
    if box is not None:
        statement = statement.where(func.ST_Intersects(col(AdminArea.geom), _envelope(box)))
    return statement


def areas_statement(
    box: BoundingBox | None, keyset: Keyset, *, simplify: float | None
) -> Select[Any]:
    geometry: Any = col(AdminArea.geom)
    if simplify:
        # ST_Multi: simplifying a one-part MultiPolygon returns a Polygon; a layer keeps one type.
        geometry = func.ST_Multi(func.ST_SimplifyPreserveTopology(geometry, simplify))
    statement = _matching_areas(box).add_columns(
        col(AdminArea.name),
        col(AdminArea.level),
        col(AdminArea.code),
        col(AdminArea.country),
        col(AdminArea.parent_id),
        func.ST_AsGeoJSON(geometry, GEOJSON_DECIMALS),
    )
    return _keyset(statement, col(AdminArea.id), keyset)


async def area_features(
    session: AsyncSession, box: BoundingBox | None, keyset: Keyset, *, simplify: float | None
) -> KeysetPage[AreaFeatureRow]:
    rows = await session.execute(areas_statement(box, keyset, simplify=simplify))
    return _page([AreaFeatureRow(*row) for row in rows], keyset)


async def count_area_features(session: AsyncSession, box: BoundingBox | None) -> int:
    return await _count(session, _matching_areas(box))


async def area_feature(
    session: AsyncSession, area_id: uuid.UUID, *, simplify: float | None
) -> AreaFeatureRow | None:
    statement = areas_statement(None, Keyset(limit=1), simplify=simplify).where(
        col(AdminArea.id) == area_id
    )
    row = (await session.execute(statement)).first()
    return AreaFeatureRow(*row) if row is not None else None


async def areas_extent(session: AsyncSession) -> Extent | None:
    box = func.ST_Extent(col(AdminArea.geom))
    corners = [corner(box) for corner in (func.ST_XMin, func.ST_YMin, func.ST_XMax, func.ST_YMax)]
    row = (await session.execute(select(*corners))).one()
    return Extent(*row) if row[0] is not None else None
