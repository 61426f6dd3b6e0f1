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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.auth.viewer import Viewer
from api.db import Compiled, CompiledCache, Database
from api.models.directory import (
    AdminArea,
    Attribute,
    Phone,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
    Visibility,
)
from api.models.organization import Organization
from api.repositories.directory import visible_locations, visible_services
from api.taxonomy import RELAY_TAXONOMY_ID

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
class Extent:
    west: float
    south: float
    east: float
    north: float


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


BBOX = ("bbox_west", "bbox_south", "bbox_east", "bbox_north")


def _box_parameters(box: BoundingBox) -> list[Any]:
    values = (box.west, box.south, box.east, box.north)
    return [bindparam(name, value, Float) for name, value in zip(BBOX, values, strict=True)]


def _box_values(box: BoundingBox | None) -> dict[str, Any]:
    if box is None:
        return {}
    values = dict(zip(BBOX, (box.west, box.south, box.east, box.north), strict=True))
    return {**values, "bbox_cover": geocentric_cover(box)}


def _envelope(box: BoundingBox) -> Any:
    west, south, east, north = _box_parameters(box)
    if box.west <= box.east:
        return func.ST_MakeEnvelope(west, south, east, north, 4326)
    return func.ST_Collect(
        func.ST_MakeEnvelope(west, south, 180.0, north, 4326),
        func.ST_MakeEnvelope(-180.0, south, east, north, 4326),
    )


def _point_in(box: BoundingBox, location: Any) -> list[Any]:
    """Index-assisted, exact: the location's coordinates lie in the rectangle. The box's numbers
    are bound parameters (``BBOX``); only whether it crosses the antimeridian shapes the SQL."""
    cover = func.ST_GeogFromText(bindparam("bbox_cover", geocentric_cover(box), Text))
    west, south, east, north = _box_parameters(box)
    within_longitudes: ColumnElement[bool]
    if box.west <= box.east:
        within_longitudes = location.longitude.between(west, east)
    else:
        within_longitudes = or_(location.longitude >= west, location.longitude <= east)
    return [
        location.point.op("&&", is_comparison=True)(cover),
        location.latitude.between(south, north),
        within_longitudes,
    ]


def _locatable(viewer: Viewer, location: Any) -> list[Any]:
    """Locations whose position this viewer may learn."""
    conditions: list[Any] = [location.latitude.is_not(None)]
    if not viewer.cleared:
        conditions.append(location.visibility != Visibility.confidential.value)
    return conditions


# -- pages as GeoJSON -----------------------------------------------------------------------------
#
# A page is one statement, compiled once per shape (``api.db.Compiled``), run on the driver:
# the number matched (on a walk's first page), whether more follow, and the features as a GeoJSON
# array written by PostgreSQL, spliced into the response as it comes. What changes from call to
# call is bound (``PARAMETERS``); the rest is written into the SQL, the number of rows read too
# (``_window``): under a generic plan a LIMIT parameter is estimated at a tenth of the table.


PARAMETERS = frozenset(
    {*BBOX, "bbox_cover", "after", "before", "feature_id", "limit", "simplify", "redacted_name"}
)


@dataclass(frozen=True)
class FeaturePage:
    """One page: its features as a GeoJSON array (text, as PostgreSQL wrote it)."""

    features: str
    returned: int
    matched: int | None  # on a walk's first page only
    first_id: uuid.UUID | None
    last_id: uuid.UUID | None
    has_next: bool
    has_previous: bool


def _window(limit: int) -> int:
    """Rows read for a page of ``limit``: the next power of two above it, one row at least more
    than shown (to know whether more follow), in a few shapes only."""
    return 1 << limit.bit_length()


def _direction(keyset: Keyset) -> str:
    return "before" if keyset.before is not None else "after" if keyset.after is not None else ""


def _box_kind(box: BoundingBox | None) -> str:
    return "" if box is None else "plain" if box.west <= box.east else "antimeridian"


def _key(name: str) -> Any:
    return literal_column(f"'{name}'")


def _object(**members: Any) -> Any:
    """``json_build_object`` of the members, in order (member names are ours, never a caller's)."""
    return func.json_build_object(
        *(part for item in members.items() for part in (_key(item[0]), item[1]))
    )


def _json_array(column: Any, where: list[Any]) -> Any:
    """The column's values as a JSON array, in order; ``[]`` when there are none."""
    values = select(func.json_agg(aggregate_order_by(column, column))).where(*where)
    return func.coalesce(values.scalar_subquery(), literal_column("'[]'::json"))


def _paged(rows: Any, key: Any, direction: str, limit: int, *, one: bool = False) -> Any:
    """The page's rows (a CTE): ``_window(limit)`` rows after or before a key, or one feature."""
    if one:
        rows = rows.where(key == bindparam("feature_id", None, Uuid))
    if direction == "before":
        rows = rows.where(key < bindparam("before", None, Uuid)).order_by(key.desc())
    else:
        if direction == "after":
            rows = rows.where(key > bindparam("after", None, Uuid))
        rows = rows.order_by(key.asc())
    return rows.limit(_window(limit)).cte("page")


def _page_statement(page: Any, feature: Any, direction: str, matched: Any) -> Select[Any]:
    """The page's summary and features: the first ``limit`` rows of ``page`` in its order,
    aggregated in id order."""
    order = page.c.id.desc() if direction == "before" else page.c.id.asc()
    shown = select(page).order_by(order).limit(bindparam("limit", None, Integer)).subquery("shown")
    features = (
        select(
            func.count().label("returned"),
            cast(func.json_agg(aggregate_order_by(feature(shown), shown.c.id)), Text).label(
                "features"
            ),
            func.array_agg(aggregate_order_by(shown.c.id, shown.c.id.asc()), type_=ARRAY(Uuid))[
                1
            ].label("first_id"),
            func.array_agg(aggregate_order_by(shown.c.id, shown.c.id.desc()), type_=ARRAY(Uuid))[
                1
            ].label("last_id"),
        )
    ).subquery("features")
    fetched = select(func.count()).select_from(page).scalar_subquery()
    return select(
        (matched if matched is not None else null()).label("matched"),
        fetched.label("fetched"),
        features.c.returned,
        features.c.features,
        features.c.first_id,
        features.c.last_id,
    )


_COMPILED = CompiledCache(PARAMETERS)


async def _fetch_page(
    compiled: Compiled, database: Database, keyset: Keyset, **given: Any
) -> FeaturePage:
    [row] = await compiled.fetch(
        database, after=keyset.after, before=keyset.before, limit=keyset.limit, **given
    )
    matched, fetched, returned, features, first_id, last_id = row
    more = fetched > keyset.limit
    return FeaturePage(
        features=features or "[]",
        returned=returned,
        matched=matched,
        first_id=first_id,
        last_id=last_id,
        has_next=True if keyset.before is not None else more,
        has_previous=more if keyset.before is not None else keyset.after is not None,
    )


# -- services ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Matching:
    statement: Select[Any]
    location: Any  # the visible location's columns (a subquery's)


def _matching_services(viewer: Viewer, box: BoundingBox | None) -> _Matching:
    """Visible services at visible locations, composed from ``visible_services`` and
    ``visible_locations`` directly: ``visible_service_at_locations`` joins each table twice, and
    planning its eight relations cost more than running the query. The locations are a plain
    subquery, not an ORM alias: ``api.db.Compiled`` rewrites the statement's constants, and the
    columns of an alias would keep pointing at a copy of the subquery it did not rewrite (joined
    to the rest of the statement by nothing)."""
    visible = visible_locations(viewer).subquery("visible_location")
    location = visible.c
    statement = (
        visible_services(viewer)
        .join(ServiceAtLocation, col(ServiceAtLocation.service_id) == col(Service.id))
        .join(visible, location.id == col(ServiceAtLocation.location_id))
    )
    if box is not None:
        statement = statement.where(*_point_in(box, location), *_locatable(viewer, location))
    return _Matching(statement, location)


def services_statement(
    viewer: Viewer,
    box: BoundingBox | None,
    keyset: Keyset,
    *,
    one: bool = False,
) -> Select[Any]:
    """One page of the ``services`` collection (or one feature) as it runs; also for EXPLAIN.

    A feature is what ``ServiceProperties`` documents. A confidential place is ``redacted`` for
    a viewer without ``directory:confidential``: no geometry, its name replaced
    (``redacted_name``); it never matches a ``bbox`` (``_matching_services``)."""
    matching = _matching_services(viewer, box)
    location = matching.location
    key = col(ServiceAtLocation.id)
    direction = _direction(keyset)
    page = _paged(
        matching.statement.with_only_columns(
            key.label("id"),
            col(Service.id).label("service_id"),
            col(Service.name).label("name"),
            col(Service.status).label("status"),
            col(Service.accepts_referrals).label("accepts_referrals"),
            col(Organization.id).label("organization_id"),
            col(Organization.name).label("organization_name"),
            col(Organization.kind).label("organization_kind"),
            location.id.label("location_id"),
            location.name.label("location_name"),
            location.latitude.label("latitude"),
            location.longitude.label("longitude"),
            location.visibility.label("visibility"),
            location.admin_area_id.label("admin_area_id"),
        ),
        key,
        direction,
        keyset.limit,
        one=one,
    )

    def feature(row: Any) -> Any:
        confidential = row.c.visibility == Visibility.confidential.value
        located = [row.c.longitude.is_not(None), row.c.latitude.is_not(None)]
        name: Any = row.c.location_name
        if not viewer.cleared:
            located.append(row.c.visibility != Visibility.confidential.value)
            name = case((confidential, bindparam("redacted_name", None, Text)), else_=name)
        point = _object(
            type=_key("Point"), coordinates=func.json_build_array(row.c.longitude, row.c.latitude)
        )
        return _object(
            type=_key("Feature"),
            id=row.c.id,
            geometry=case((and_(*located), point), else_=null()),
            properties=_object(
                service_id=row.c.service_id,
                name=row.c.name,
                status=row.c.status,
                accepts_referrals=row.c.accepts_referrals,
                organization_id=row.c.organization_id,
                organization_name=row.c.organization_name,
                organization_kind=row.c.organization_kind,
                needs=_json_array(
                    col(TaxonomyTerm.code),
                    [
                        col(Attribute.link_entity) == "service",
                        col(Attribute.link_id) == row.c.service_id,
                        col(TaxonomyTerm.id) == col(Attribute.taxonomy_term_id),
                        col(TaxonomyTerm.taxonomy_id) == RELAY_TAXONOMY_ID,
                    ],
                ),
                phones=_json_array(col(Phone.number), [col(Phone.service_id) == row.c.service_id]),
                location_id=row.c.location_id,
                location_name=name,
                admin_area=select(col(AdminArea.name))
                .where(col(AdminArea.id) == row.c.admin_area_id)
                .scalar_subquery(),
                confidential=confidential,
            ),
        )

    matched = None
    if direction == "" and not one:
        counted = matching.statement.with_only_columns(key).subquery("matching")
        matched = select(func.count()).select_from(counted).scalar_subquery()
    return _page_statement(page, feature, direction, matched)


async def service_features(
    database: Database,
    viewer: Viewer,
    box: BoundingBox | None,
    keyset: Keyset,
    *,
    redacted_name: str,
    feature_id: uuid.UUID | None = None,
) -> FeaturePage:
    """A page of ``services`` (one round trip); with ``feature_id``, that feature alone."""
    one = feature_id is not None
    shape = (
        "services",
        viewer.sees_partner_records,
        viewer.cleared,
        _box_kind(box),
        _direction(keyset),
        _window(keyset.limit),
        one,
    )
    compiled = _COMPILED.get(shape, lambda: services_statement(viewer, box, keyset, one=one))
    return await _fetch_page(
        compiled,
        database,
        keyset,
        feature_id=feature_id,
        redacted_name=redacted_name,
        **_box_values(box),
    )


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


# -- areas -------------------------------------------------------------------------------------


def _matching_areas(box: BoundingBox | None) -> Select[Any]:
    statement = select(col(AdminArea.id))
    if box is not None:
        statement = statement.where(func.ST_Intersects(col(AdminArea.geom), _envelope(box)))
    return statement


# An area feature's properties: these columns of the page, under their own names.
_AREA_PROPERTIES: tuple[Any, ...] = (
    col(AdminArea.name),
    col(AdminArea.level),
    col(AdminArea.code),
    col(AdminArea.country),
    col(AdminArea.parent_id),
)


def areas_statement(
    box: BoundingBox | None, keyset: Keyset, *, simplify: float | None, one: bool = False
) -> Select[Any]:
    """One page of the ``areas`` collection (or one feature) as it runs; also for EXPLAIN. The
    polygons are read and written as GeoJSON for the rows shown only."""
    key = col(AdminArea.id)
    direction = _direction(keyset)
    page = _paged(
        _matching_areas(box).with_only_columns(key.label("id"), *_AREA_PROPERTIES),
        key,
        direction,
        keyset.limit,
        one=one,
    )

    def feature(row: Any) -> Any:
        area = aliased(AdminArea, name="shape")
        geometry: Any = col(area.geom)
        if simplify:
            # ST_Multi: simplifying a one-part MultiPolygon returns a Polygon; a layer keeps one
            # type.
            geometry = func.ST_Multi(
                func.ST_SimplifyPreserveTopology(geometry, bindparam("simplify", None, Float))
            )
        geojson = (
            select(cast(func.ST_AsGeoJSON(geometry, GEOJSON_DECIMALS), JSON))
            .where(col(area.id) == row.c.id)
            .scalar_subquery()
        )
        return _object(
            type=_key("Feature"),
            id=row.c.id,
            geometry=geojson,
            properties=_object(**{column.key: row.c[column.key] for column in _AREA_PROPERTIES}),
        )

    matched = None
    if direction == "" and not one:
        matched = (
            select(func.count()).select_from(_matching_areas(box).subquery()).scalar_subquery()
        )
    return _page_statement(page, feature, direction, matched)


async def area_features(
    database: Database,
    box: BoundingBox | None,
    keyset: Keyset,
    *,
    simplify: float | None,
    feature_id: uuid.UUID | None = None,
) -> FeaturePage:
    """A page of ``areas`` (one round trip); with ``feature_id``, that feature alone."""
    one = feature_id is not None
    shape = (
        "areas",
        _box_kind(box),
        _direction(keyset),
        _window(keyset.limit),
        bool(simplify),
        one,
    )
    compiled = _COMPILED.get(
        shape, lambda: areas_statement(box, keyset, simplify=simplify, one=one)
    )
    return await _fetch_page(
        compiled,
        database,
        keyset,
        feature_id=feature_id,
        simplify=simplify or None,
        **_box_values(box),
    )


async def areas_extent(session: AsyncSession) -> Extent | None:
    box = func.ST_Extent(col(AdminArea.geom))
    corners = [corner(box) for corner in (func.ST_XMin, func.ST_YMin, func.ST_XMax, func.ST_YMax)]
    row = (await session.execute(select(*corners))).one()
    return Extent(*row) if row[0] is not None else None
