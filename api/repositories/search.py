"""Nearest-service queries. SQL is built from the filters actually present (STYLE.md rule 10):
a ``(:x IS NULL OR ...)`` pattern under a generic plan would defeat the indexes.

Two candidate sets are merged by the service layer:
- *located*: an ordered GiST scan (``<->``) of ``search_point`` on (need, point) when a need is
  asked for, of ``location`` otherwise. For a viewer without ``directory:confidential`` the scan
  runs on ``stand_in``, where a confidential place sits on a point of the area it is listed in
  (chosen from the area alone, never from its real point: migration 0013) and comes back
  flagged as redacted; one listed in no area has no stand-in and is not ranked at all;
- *covering*: services whose service area contains the point (mobile teams, hotlines).
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import shapely
from sqlalchemy import (
    CompoundSelect,
    Float,
    Integer,
    LargeBinary,
    Select,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.auth.viewer import Viewer
from api.db import Compiled, CompiledCache, Database
from api.geo.points import geometry_point
from api.models.directory import (
    GENDER_CODES,
    Attribute,
    Audience,
    Intake,
    Language,
    Location,
    SearchPoint,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    ServiceStatus,
    Visibility,
)
from api.models.organization import Organization, OrganizationStatus
from api.repositories.ogc import BoundingBox, geocentric_cover
from api.taxonomy import term_id


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
    area_outline: bytes | None = None  # EWKB of the administrative area to search within
    # The ids of the administrative areas lying within it (itself included): a confidential place
    # a viewer may not locate is inside it only when listed in one of them.
    areas_within: tuple[uuid.UUID, ...] = ()
    # The UTC hour of the week (0: Monday 00:00-01:00) of ``open_at``: the scan skips the places
    # that cannot be open then (``search_point.hours``); whether they are is decided after it.
    open_hour: int | None = None


@dataclass(frozen=True)
class Candidate:
    service_id: uuid.UUID
    location_id: uuid.UUID | None
    link_id: uuid.UUID | None
    distance_m: float  # on the ellipsoid (to the stand-in when redacted)
    redacted: bool  # a confidential place the viewer may not locate
    covering: bool
    # When the service was last confirmed (HSDS ``assured_date``): read with the candidate, from
    # the service row the scan joins anyway, for searches that prefer checked entries.
    assured_date: date | None = None


@dataclass(frozen=True)
class Window:
    """The first rows of the nearest scan, as far as it read."""

    candidates: list[Candidate]
    exhausted: bool  # fewer rows than asked for: nothing further matches
    reach_m: float  # the ranking distance (on the sphere) of the last row read


def _point(latitude: float, longitude: float) -> Any:
    """The point searched from, its coordinates bound through scalar subqueries: PostgreSQL then
    plans without seeing them. It plans a prepared statement's first five executions on each
    connection for the values given (then settles on the generic plan), and for a need dense
    within the radius that plan was a parallel bitmap scan and a sort of every row of the need
    within it: about 120 ms instead of 1 ms for the ordered index scan (1M points), five times
    per need and connection. Not seeing the point, every plan is the ordered scan
    (``tests/test_search_plans.py`` explains both kinds)."""
    return geometry_point(
        select(bindparam("latitude", latitude, Float)).scalar_subquery(),
        select(bindparam("longitude", longitude, Float)).scalar_subquery(),
    )


def _geography(latitude: float, longitude: float) -> Any:
    return func.geography(_point(latitude, longitude))


# What changes from one search to the next: the statements' parameters. Every other value is
# part of a statement's shape (``_shape``) and written into its SQL (``Compiled``), the number
# of rows read too: under a generic plan a LIMIT parameter is estimated at a tenth of the
# table, and PostgreSQL would then hash-join everything and sort it rather than scan in order.
PARAMETERS = frozenset(
    {
        "latitude",
        "longitude",
        "age",
        "gender",
        "gender_code",
        "group",
        "language",
        "radius_m",
        "area_outline",
        "area_cover",
        "areas_within",
        "open_hour",
    }
)


def _values(
    filters: SearchFilters, latitude: float, longitude: float, **more: Any
) -> dict[str, Any]:
    """The bound values of a search statement, by name: everything but the statement's shape."""
    return {
        "latitude": latitude,
        "longitude": longitude,
        "age": filters.age,
        "gender": filters.gender,
        "gender_code": GENDER_CODES.get(filters.gender, 0) if filters.gender else None,
        "group": filters.group,
        "language": filters.language,
        "radius_m": filters.radius_m,
        "area_outline": filters.area_outline,
        "area_cover": area_cover(filters.area_outline) if filters.area_outline else None,
        "areas_within": list(filters.areas_within),
        "open_hour": filters.open_hour,
        **more,
    }


def _shape(kind: str, viewer: Viewer, filters: SearchFilters) -> tuple[Any, ...]:
    """What decides a search statement's SQL text; the values are bound (``_values``)."""
    return (
        kind,
        viewer.sees_partner_records,
        viewer.cleared,
        filters.needs,
        filters.age is not None,
        filters.gender is not None,
        filters.group is not None,
        filters.accepts_referrals,
        filters.has_capacity,
        filters.language is not None,
        filters.radius_m is not None,
        filters.area_outline is not None,
        filters.open_hour is not None,
    )


_COMPILED = CompiledCache(PARAMETERS)


def _service_conditions(viewer: Viewer, filters: SearchFilters) -> list[Any]:
    conditions: list[Any] = [
        col(Service.status) == ServiceStatus.active.value,
        col(Service.visibility).in_(viewer.levels),
        _visible_organization(viewer, col(Service.organization_id)),
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
        age = bindparam("age", filters.age, Integer)
        conditions.append(or_(col(Service.minimum_age).is_(None), col(Service.minimum_age) <= age))
        conditions.append(or_(col(Service.maximum_age).is_(None), col(Service.maximum_age) >= age))
    if filters.gender is not None:
        conditions.append(
            or_(
                func.cardinality(col(Service.genders)) == 0,
                bindparam("gender", filters.gender, Text) == any_(col(Service.genders)),
            )
        )
    if filters.group is not None:
        conditions.append(
            or_(
                func.cardinality(col(Service.target_groups)) == 0,
                bindparam("group", filters.group, Text) == any_(col(Service.target_groups)),
            )
        )
    if filters.accepts_referrals is not None:
        conditions.append(col(Service.accepts_referrals).is_(filters.accepts_referrals))
    if filters.has_capacity:
        # A scalar subquery, not EXISTS: the planner would hash the whole capacity table for a
        # semi-join, where the ordered scan needs only a few index probes.
        conditions.append(
            select(func.max(col(ServiceCapacity.available)))
            .where(col(ServiceCapacity.service_id) == col(Service.id))
            .scalar_subquery()
            > 0
        )
    if filters.language is not None:
        # A scalar subquery too (one index probe per candidate row): under a generic plan the
        # planner could otherwise choose, from its estimates, to hash every service's languages.
        conditions.append(
            select(literal(True))
            .where(
                col(Language.service_id) == col(Service.id),
                col(Language.code) == bindparam("language", filters.language, Text),
            )
            .limit(1)
            .scalar_subquery()
            .is_(True)
        )
    return conditions


def _ranking(viewer: Viewer, point: Any, stand_in: Any) -> tuple[Any, list[Any], Any]:
    """The column to rank by, the location conditions and the ``redacted`` flag for a viewer.

    A viewer who may not locate confidential places is ranked against ``stand_in`` (the point
    itself for every other place, a point of its listed area for a confidential one), so one
    index scan serves both kinds; confidential rows come back flagged ``redacted`` and their
    distance is a distance to that point, never shown. Every shelter listed in an area ranks
    at the same point: moving one inside its area changes nothing such a viewer can observe. A
    row without a ranking position (no coordinates; a shelter listed in no area) is no candidate.
    """
    if viewer.cleared:
        return (
            point,
            [point.is_not(None), col(Location.visibility).in_(viewer.levels)],
            literal(False),
        )
    levels = {*viewer.levels, Visibility.confidential.value}
    redacted = col(Location.visibility) == Visibility.confidential.value
    return stand_in, [stand_in.is_not(None), col(Location.visibility).in_(sorted(levels))], redacted


def area_cover(outline: bytes) -> str:
    """EWKT of points whose geography bounding box contains the area's planar bounding box:
    what ``&&`` on a geography column can be given without losing places near its edges (a
    geography box of the envelope itself would: its edges are great circles)."""
    west, south, east, north = shapely.from_wkb(outline).bounds
    return geocentric_cover(BoundingBox(west, south, east, north))


def _place_filters(viewer: Viewer, filters: SearchFilters, position: Any, here: Any) -> list[Any]:
    """Radius and area, both tested on the ranking column: for a viewer who may not locate
    confidential places that is ``stand_in``, so neither can place one more finely than the area
    it is listed in. The area is bound as a constant: first ``&&`` against its geocentric cover
    (indexed, estimated by the planner), then the exact planar test.

    For such a viewer a confidential place is inside the area asked for only when the area it is
    listed in lies within it (``areas_within``, as ``service_ids_in_area`` counts it for the
    lookup's downloads): its stand-in alone would count a shelter listed in a region inside
    whichever district holds the region's stand-in. A listed area within the area holds its
    stand-in, so the ``&&`` and the planar test keep every such place; the ids are bound, so
    the statement reads no ``admin_area`` row."""
    conditions: list[Any] = []
    if filters.radius_m is not None:
        conditions.append(
            func.ST_DWithin(position, here, bindparam("radius_m", filters.radius_m, Float))
        )
    if filters.area_outline is not None:
        outline = func.ST_GeomFromEWKB(bindparam("area_outline", filters.area_outline, LargeBinary))
        cover = func.ST_GeogFromText(
            bindparam("area_cover", area_cover(filters.area_outline), Text)
        )
        conditions.append(position.op("&&", is_comparison=True)(cover))
        conditions.append(func.ST_Intersects(outline, func.geometry(position)))
        if not viewer.cleared:
            within = bindparam("areas_within", list(filters.areas_within), ARRAY(Uuid))
            conditions.append(
                or_(
                    col(Location.visibility) != Visibility.confidential.value,
                    col(Location.admin_area_id) == any_(within),
                )
            )
    return conditions


def _visible_organization(viewer: Viewer, organization_id: Any) -> Any:
    """The organisation is active and listed to the viewer (as in ``visible_services``).

    A scalar subquery, one primary-key probe per candidate row: as a join, the planner would
    put a Memoize node on it, sized for its estimate of the whole join, whose setting up and
    freeing cost more than the few probes (about 4 ms at the 99th percentile on 1M places).
    """
    organization = aliased(Organization, name="listed")
    return (
        select(
            and_(
                col(organization.status) == OrganizationStatus.active.value,
                col(organization.visibility).in_(viewer.levels),
            )
        )
        .where(col(organization.id) == organization_id)
        .scalar_subquery()
        .is_(True)
    )


def _scanned(viewer: Viewer, filters: SearchFilters) -> list[Any]:
    """What the need's index checks itself while scanning in order (migrations 0015, 0016): who
    the row is listed to, the eligibility filters present and, with ``open_at``, its hour. They
    only let the scan skip rows that cannot pass; the exact checks (``_service_conditions``, the
    organisations, ``is_open``) follow.
    Without them, a search nothing passes (every shelter listed to partners only, asked
    anonymously) would read and join every row of the need within the radius."""
    conditions: list[Any] = [
        col(SearchPoint.audience).is_not(None)
        if viewer.sees_partner_records
        else col(SearchPoint.audience) == Audience.public.value
    ]
    if filters.age is not None:
        conditions.append(
            col(SearchPoint.ages).op("@>", is_comparison=True)(
                bindparam("age", filters.age, Integer)
            )
        )
    if filters.gender is not None:
        code = GENDER_CODES.get(filters.gender, 0)  # 0: a gender no service lists
        conditions.append(
            col(SearchPoint.genders).op("@>", is_comparison=True)(
                bindparam("gender_code", code, Integer)
            )
        )
    if filters.accepts_referrals is not None:
        intake = Intake.referrals if filters.accepts_referrals else Intake.walk_in
        conditions.append(col(SearchPoint.intake) == intake.value)
    if filters.open_hour is not None:
        conditions.append(
            col(SearchPoint.hours).op("@>", is_comparison=True)(
                postgresql.array([bindparam("open_hour", filters.open_hour, Integer)])
            )
        )
    return conditions


def _ordered_scan(
    viewer: Viewer,
    filters: SearchFilters,
    here: Any,
    window: int,
    *,
    rows: Any,
    ranked_by: tuple[Any, Any],
    copied: bool,
    scanned: list[Any],
) -> Select[Any]:
    """The ``window`` nearest (service, place) rows of ``rows`` (``search_point`` or
    ``service_at_location``), ranked by ``ranked_by`` (the point and the stand-in the index
    orders; ``copied``: copies of the place's in ``search_point``), with ``scanned``, the
    conditions the index checks itself, then the exact checks: the place and the organisation
    owning it visible, the service's conditions, radius and area.
    """
    position, place_conditions, redacted = _ranking(viewer, *ranked_by)
    statement = (
        select(
            rows.c.service_id,
            rows.c.location_id,
            rows.c.link_id if copied else rows.c.id,
            func.ST_Distance(position, here).label("distance"),
            position.op("<->", return_type=Float)(here).label("rank"),
            redacted.label("redacted"),
            col(Service.assured_date).label("assured_date"),
            # A second wall behind the triggers, for positions copied into search_point: whether
            # the row still ranks at the place's own stand-in (checked in the select, not the
            # filter, to leave the plan alone).
            (
                func.ST_AsBinary(position) == func.ST_AsBinary(col(Location.stand_in))
                if copied and not viewer.cleared
                else literal(True)
            ).label("current"),
        )
        .join(Location, col(Location.id) == rows.c.location_id)
        .join(Service, col(Service.id) == rows.c.service_id)
        .where(
            *scanned,
            *place_conditions,
            # The organisation owning the place must be visible too (as ``visible_locations``).
            _visible_organization(viewer, col(Location.organization_id)),
            *_service_conditions(viewer, filters),
            *_place_filters(viewer, filters, position, here),
        )
    )
    return statement.order_by(position.op("<->")(here)).limit(window)


def _by_need(
    viewer: Viewer, filters: SearchFilters, here: Any, code: str, window: int
) -> Select[Any]:
    """Nearest places meeting one need: an ordered scan of the need's partial GiST index for
    the viewer's class, checking the eligibility filters in the index."""
    return _ordered_scan(
        viewer,
        replace(filters, needs=()),
        here,
        window,
        rows=SearchPoint.__table__,  # type: ignore[attr-defined]
        ranked_by=(col(SearchPoint.point), col(SearchPoint.stand_in)),
        copied=True,
        scanned=[col(SearchPoint.taxonomy_term_id) == term_id(code), *_scanned(viewer, filters)],
    )


def _any_need(viewer: Viewer, filters: SearchFilters, here: Any, window: int) -> Select[Any]:
    """Nearest places whatever they offer: an ordered scan of the location's GiST index."""
    return _ordered_scan(
        viewer,
        filters,
        here,
        window,
        rows=ServiceAtLocation.__table__,  # type: ignore[attr-defined]
        ranked_by=(col(Location.point), col(Location.stand_in)),
        copied=False,
        scanned=[],
    )


def nearest_statement(
    viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float, *, window: int
) -> Select[Any]:
    """The ``window`` nearest candidates for the filters present (what the EXPLAIN test reads).

    Rows come in ranking order: ``rank`` is the distance on the sphere the index orders by
    (``distance`` is on the ellipsoid). Several needs (any of) are one index scan per need, each
    limited, merged by rank: a place among the first ``window`` for "any of A, B" is among the
    first ``window`` for A or for B.
    """
    here = _geography(latitude, longitude)
    if not filters.needs:
        return _any_need(viewer, filters, here, window)
    if len(filters.needs) == 1:
        return _by_need(viewer, filters, here, filters.needs[0], window)
    merged = union_all(
        *(_by_need(viewer, filters, here, code, window) for code in filters.needs)
    ).subquery("merged")
    unique = (
        select(merged)
        .ext(distinct_on(merged.c.link_id))
        .order_by(merged.c.link_id, merged.c.rank)
        .subquery("unique_places")
    )
    return select(unique).order_by(unique.c.rank, unique.c.link_id).limit(window)


async def nearest_located(
    database: Database,
    viewer: Viewer,
    filters: SearchFilters,
    latitude: float,
    longitude: float,
    *,
    window: int,
) -> Window:
    """The first ``window`` rows of the nearest scan (few distinct windows: each is a shape)."""
    compiled = _COMPILED.get(
        (*_shape("nearest", viewer, filters), window),
        lambda: nearest_statement(viewer, filters, latitude, longitude, window=window),
    )
    rows = await compiled.fetch(database, **_values(filters, latitude, longitude))
    return Window(
        candidates=[
            Candidate(
                service_id, location_id, link_id, float(distance), bool(redacted), False, assured
            )
            for service_id, location_id, link_id, distance, _, redacted, assured, current in rows
            if current
        ],
        exhausted=len(rows) < window,
        reach_m=float(rows[-1][4]) if rows else 0.0,
    )


def covering_statement(
    viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float
) -> Select[uuid.UUID, date | None]:
    """Services whose service area contains the point (mobile teams, hotlines). Only vetted
    areas count (``ServiceArea.vetted``): a covering service ranks first, at distance 0, so an
    area nobody checked (a world-wide one) must not; its service is found by its places."""
    return (
        select(col(Service.id), col(Service.assured_date))
        .where(
            exists().where(
                col(ServiceArea.service_id) == col(Service.id),
                col(ServiceArea.vetted).is_(True),
                func.ST_Intersects(col(ServiceArea.extent), _point(latitude, longitude)),
            ),
            *_service_conditions(viewer, filters),
        )
        .order_by(col(Service.name))
    )


async def covering(
    database: Database, viewer: Viewer, filters: SearchFilters, latitude: float, longitude: float
) -> list[Candidate]:
    compiled = _COMPILED.get(
        _shape("covering", viewer, filters),
        lambda: covering_statement(viewer, filters, latitude, longitude),
    )
    rows = await compiled.fetch(database, **_values(filters, latitude, longitude))
    return [Candidate(row[0], None, None, 0.0, False, True, row[1]) for row in rows]


def nearest_of_needs_statement(
    viewer: Viewer,
    filters: SearchFilters,
    latitude: float,
    longitude: float,
    *,
    windows: tuple[tuple[str, int], ...],
    with_covering: bool,
) -> CompoundSelect[Any]:
    """Several needs' searches as one statement (the referral pathway): for each (need, window)
    of ``windows`` the rows ``nearest_statement`` reads for that need alone (the same ordered
    scan of the need's own partial GiST index, under the same rules), and with ``with_covering``
    the services covering the point for each of the needs, as ``covering_statement`` finds them.
    Every row names its need (its taxonomy term id) and whether it covers.

    A UNION ALL of one branch per need, not a LATERAL join over a list of needs: PostgreSQL
    uses a partial index only where it can prove the index's predicate from the query's
    constants, so each need's term id must be written in its own branch."""
    here = _geography(latitude, longitude)
    branches: list[Any] = []
    for code, window in windows:
        scan = _by_need(viewer, replace(filters, needs=(code,)), here, code, window).subquery()
        branches.append(
            select(
                literal(term_id(code), Uuid).label("need"),
                scan.c.service_id,
                scan.c.location_id,
                scan.c.link_id,
                scan.c.distance,
                scan.c.rank,
                scan.c.redacted,
                scan.c.assured_date,
                scan.c.current,
                literal(False).label("covering"),
            )
        )
    if with_covering:
        terms = [term_id(code) for code, _ in windows]
        branches.append(
            select(
                col(Attribute.taxonomy_term_id).label("need"),
                col(Service.id).label("service_id"),
                cast(null(), Uuid).label("location_id"),
                cast(null(), Uuid).label("link_id"),
                literal(0.0, Float).label("distance"),
                cast(null(), Float).label("rank"),
                literal(False).label("redacted"),
                col(Service.assured_date).label("assured_date"),
                literal(True).label("current"),
                literal(True).label("covering"),
            )
            .join(
                Attribute,
                and_(
                    col(Attribute.link_entity) == "service",
                    col(Attribute.link_id) == col(Service.id),
                    col(Attribute.taxonomy_term_id).in_(terms),
                ),
            )
            .where(
                exists().where(
                    col(ServiceArea.service_id) == col(Service.id),
                    col(ServiceArea.vetted).is_(True),
                    func.ST_Intersects(col(ServiceArea.extent), _point(latitude, longitude)),
                ),
                *_service_conditions(viewer, replace(filters, needs=())),
            )
        )
    return union_all(*branches)


@dataclass(frozen=True)
class NeedsRead:
    """What ``nearest_of_needs`` read, by need code."""

    windows: dict[str, Window]
    covering: dict[str, list[Candidate]]  # empty lists when not asked for


async def nearest_of_needs(
    database: Database,
    viewer: Viewer,
    filters: SearchFilters,
    latitude: float,
    longitude: float,
    *,
    windows: dict[str, int],
    with_covering: bool,
) -> NeedsRead:
    """Each need's first ``windows[need]`` rows of its nearest scan, and with ``with_covering``
    the services covering the point for it: one statement, whatever the number of needs (the
    statement's shape is the needs, their windows and the viewer's class: the pathway asks the
    whole taxonomy, so it comes in a few shapes)."""
    asked = tuple(windows.items())
    compiled = _COMPILED.get(
        (*_shape("nearest_of_needs", viewer, filters), asked, with_covering),
        lambda: nearest_of_needs_statement(
            viewer, filters, latitude, longitude, windows=asked, with_covering=with_covering
        ),
    )
    rows = await compiled.fetch(database, **_values(filters, latitude, longitude))
    codes = {term_id(code): code for code in windows}
    scanned: dict[str, list[Any]] = {code: [] for code in windows}
    covering: dict[str, list[Candidate]] = {code: [] for code in windows}
    for row in rows:
        code = codes[row["need"]]
        if row["covering"]:
            covering[code].append(
                Candidate(row["service_id"], None, None, 0.0, False, True, row["assured_date"])
            )
        else:
            scanned[code].append(row)
    return NeedsRead(
        windows={code: _window(scanned[code], window) for code, window in windows.items()},
        covering=covering,
    )


def _window(rows: list[Any], window: int) -> Window:
    """One need's rows as ``nearest_located`` reads its own: its last row is its furthest."""
    return Window(
        candidates=[
            Candidate(
                row["service_id"],
                row["location_id"],
                row["link_id"],
                float(row["distance"]),
                bool(row["redacted"]),
                False,
                row["assured_date"],
            )
            for row in rows
            if row["current"]
        ],
        exhausted=len(rows) < window,
        reach_m=max((float(row["rank"]) for row in rows), default=0.0),
    )


# What a search result shows of each candidate, shaped as JSON by PostgreSQL in one round trip
# (the search is the hottest path: one query here replaces a dozen ORM loads). Field names are
# HSDS's. A confidential place the viewer may not locate keeps only its id, its administrative
# area and its contact channels: no name, coordinates or address (as ``redact_location``).
# The service, location and capacity come back as JSON *text*, spliced into the response as
# PostgreSQL wrote it (decoding and encoding them again was a third of a search's Python);
# only the need codes (for ``matched``) and the schedules (for ``open_now``) are read by the
# service layer.
DETAILS = text(
    """
    SELECT wanted.position,
      json_strip_nulls(json_build_object(
        'id', s.id, 'organization_id', s.organization_id, 'name', s.name,
        'alternate_name', s.alternate_name, 'description', s.description, 'url', s.url,
        'email', s.email, 'status', s.status, 'application_process', s.application_process,
        'fees_description', s.fees_description,
        'eligibility_description', s.eligibility_description,
        'minimum_age', s.minimum_age, 'maximum_age', s.maximum_age,
        'genders', s.genders, 'target_groups', s.target_groups,
        'accepts_referrals', s.accepts_referrals, 'intake_channel', s.intake_channel,
        'visibility', s.visibility, 'translations', nullif(s.translations, '{}'::jsonb),
        'last_modified', s.last_modified, 'assured_date', s.assured_date,
        'alert', CASE WHEN s.alert_until IS NULL OR s.alert_until >= current_date
                      THEN s.alert END,
        'alert_until', CASE WHEN s.alert_until >= current_date THEN s.alert_until END,
        'organization', json_build_object(
          'id', o.id, 'name', o.name, 'kind', o.kind, 'website', o.website,
          'translations', nullif(o.translations, '{}'::jsonb)),
        'needs', CASE WHEN cardinality(offered.codes) > 0 THEN to_json(offered.codes) END,
        'phones', (
          SELECT json_agg(json_build_object(
            'number', p.number, 'extension', p.extension, 'type', p.type,
            'description', p.description) ORDER BY p.number)
          FROM phone AS p WHERE p.service_id = s.id),
        'schedules', hours.schedules
      ))::text AS service,
      CASE WHEN l.id IS NOT NULL THEN json_strip_nulls(json_build_object(
        'id', l.id, 'location_type', l.location_type,
        'name', CASE WHEN place.redacted THEN :redacted_name ELSE l.name END,
        'description', CASE WHEN place.redacted THEN NULL ELSE l.description END,
        'latitude', CASE WHEN place.redacted THEN NULL ELSE l.latitude END,
        'longitude', CASE WHEN place.redacted THEN NULL ELSE l.longitude END,
        'visibility', l.visibility,
        'confidential', CASE WHEN place.redacted THEN true END,
        'translations', CASE WHEN NOT place.redacted THEN nullif(l.translations, '{}'::jsonb) END,
        'admin_area', (
          SELECT json_build_object('id', area.id, 'name', area.name, 'level', area.level)
          FROM admin_area AS area WHERE area.id = l.admin_area_id),
        'addresses', CASE WHEN place.redacted THEN '[]'::json ELSE (
          SELECT json_agg(json_build_object(
            'address_1', a.address_1, 'address_2', a.address_2, 'city', a.city,
            'region', a.region, 'state_province', a.state_province,
            'postal_code', a.postal_code, 'country', a.country,
            'address_type', a.address_type))
          FROM address AS a WHERE a.location_id = l.id) END,
        'phones', (
          SELECT json_agg(json_build_object(
            'number', p.number, 'extension', p.extension, 'type', p.type,
            'description', p.description) ORDER BY p.number)
          FROM phone AS p WHERE p.location_id = l.id)
      ))::text END AS location,
      (
        SELECT json_strip_nulls(json_agg(json_build_object(
          'unit', unit.name, 'available', c.available, 'maximum', c.maximum,
          'updated', c.updated) ORDER BY unit.name))
        FROM service_capacity AS c JOIN unit ON unit.id = c.unit_id
        WHERE c.service_id = s.id
      )::text AS capacity,
      hours.schedules::text AS schedules,
      offered.codes AS needs,
      coalesce(place.redacted, false) AS redacted
    FROM unnest(CAST(:service_ids AS uuid[]), CAST(:location_ids AS uuid[]))
         WITH ORDINALITY AS wanted(service_id, location_id, position)
    JOIN service AS s ON s.id = wanted.service_id
    JOIN organization AS o ON o.id = s.organization_id
    LEFT JOIN location AS l ON l.id = wanted.location_id
    CROSS JOIN LATERAL (
      SELECT l.visibility = 'confidential' AND NOT CAST(:cleared AS boolean) AS redacted
    ) AS place
    CROSS JOIN LATERAL (
      -- An aggregate, so that the subquery is run once per row, not once per mention.
      SELECT coalesce(array_agg(term.code ORDER BY term.code), '{}') AS codes
      FROM attribute AS need JOIN taxonomy_term AS term ON term.id = need.taxonomy_term_id
      WHERE need.link_entity = 'service' AND need.link_id = s.id
    ) AS offered
    CROSS JOIN LATERAL (
      SELECT json_strip_nulls(json_agg(json_build_object(
        'freq', sc.freq, 'byday', sc.byday, 'opens_at', to_char(sc.opens_at, 'HH24:MI'),
        'closes_at', to_char(sc.closes_at, 'HH24:MI'), 'time_zone', sc.time_zone,
        'valid_from', sc.valid_from, 'valid_to', sc.valid_to,
        'attending_type', sc.attending_type, 'description', sc.description))) AS schedules
      FROM schedule AS sc
      WHERE sc.service_id = s.id OR (l.id IS NOT NULL AND sc.location_id = l.id)
    ) AS hours
    ORDER BY wanted.position
    """
)


_DETAILS = Compiled(DETAILS)


@dataclass(frozen=True)
class Details:
    """What a candidate shows: JSON texts as PostgreSQL wrote them (nulls left out), and the
    parts the service layer reads itself."""

    service: str  # the HSDS service, with its organisation, needs, phones and schedules
    location: str | None  # the HSDS location (redacted when ``redacted``)
    capacity: str | None
    schedules: str | None  # the service's and the place's hours, for ``open_now``
    needs: list[str]
    redacted: bool  # a confidential place shown without its position


async def details(
    database: Database, viewer: Viewer, candidates: list[Candidate], redacted_name: str
) -> list[Details | None]:
    """What each candidate shows, in the candidates' order (one query); None for one whose
    service or place was deleted since it was found (each statement sees what is committed
    when it starts)."""
    if not candidates:
        return []
    rows = await _DETAILS.fetch(
        database,
        service_ids=[c.service_id for c in candidates],
        location_ids=[c.location_id for c in candidates],
        cleared=viewer.cleared,
        redacted_name=redacted_name,
    )
    shown: list[Details | None] = [None] * len(candidates)
    for position, service, location, capacity, schedules, needs, redacted in rows:
        shown[position - 1] = Details(service, location, capacity, schedules, needs, redacted)
    return shown
