"""Directory queries. Every read starts from one ``visible_*`` statement per table, so what a
caller may see is decided in one place (``Viewer``, in ``api.auth.viewer``), for HSDS, OGC,
search and exports alike.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col

from api.auth.viewer import Viewer
from api.filters import DirectoryFilters
from api.geo.points import geography_point
from api.models.directory import (
    Address,
    AdminArea,
    Attribute,
    Contact,
    CostOption,
    KeptT,
    Language,
    Location,
    Metadata,
    Phone,
    RequiredDocument,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Unit,
    Visibility,
)
from api.models.organization import Organization, OrganizationStatus
from api.repositories.base import contains

ModelT = TypeVar("ModelT", bound=SQLModel)
SelectT = TypeVar("SelectT")
RecordT = TypeVar("RecordT", Service, Organization, ServiceAtLocation)


def _listed(viewer: Viewer) -> tuple[Any, Any]:
    """The conditions on ``organization`` for its records to be seen: active, and listed to the
    viewer."""
    return (
        col(Organization.status) == OrganizationStatus.active.value,
        col(Organization.visibility).in_(viewer.levels),
    )


def visible_organizations(viewer: Viewer) -> Select[Organization]:
    return select(Organization).where(*_listed(viewer))


def _visible_kept(model: type[KeptT], viewer: Viewer) -> Select[KeptT]:
    """The rows of an organisation's table the viewer may see: the organisation's and their own
    visibility both allow it."""
    return (
        select(model)
        .join(Organization, col(Organization.id) == col(model.organization_id))
        .where(*_listed(viewer), col(model.visibility).in_(viewer.levels))
    )


def visible_services(viewer: Viewer) -> Select[Service]:
    return _visible_kept(Service, viewer)


def visible_locations(viewer: Viewer) -> Select[Location]:
    return _visible_kept(Location, viewer)


def visible_service_at_locations(viewer: Viewer) -> Select[ServiceAtLocation]:
    services = visible_services(viewer).with_only_columns(col(Service.id)).subquery()
    locations = visible_locations(viewer).with_only_columns(col(Location.id)).subquery()
    return (
        select(ServiceAtLocation)
        .join(services, services.c.id == col(ServiceAtLocation.service_id))
        .join(locations, locations.c.id == col(ServiceAtLocation.location_id))
        .join(Service, col(Service.id) == col(ServiceAtLocation.service_id))
    )


def located_service_at_locations(viewer: Viewer) -> Select[ServiceAtLocation]:
    """Visible service-at-locations whose position the viewer may know: the candidates of a
    proximity search. A confidential place is left out entirely for a viewer without
    ``directory:confidential``: being ranked by distance, or kept inside a radius, would let
    queries from a few points trilaterate it, redacted or not."""
    return (
        visible_service_at_locations(viewer)
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .where(
            col(Location.point).is_not(None),
            col(Location.visibility).in_(viewer.located_levels),
        )
    )


def _has_term(entity_id: Any, filters: DirectoryFilters) -> list[Any]:
    conditions: list[Any] = []
    if filters.taxonomy_term_id is not None:
        conditions.append(
            exists().where(
                col(Attribute.link_entity) == "service",
                col(Attribute.link_id) == entity_id,
                col(Attribute.taxonomy_term_id) == filters.taxonomy_term_id,
            )
        )
    if filters.taxonomy_id is not None:
        conditions.append(
            exists()
            .where(
                col(Attribute.link_entity) == "service",
                col(Attribute.link_id) == entity_id,
                col(TaxonomyTerm.id) == col(Attribute.taxonomy_term_id),
                col(TaxonomyTerm.taxonomy_id) == filters.taxonomy_id,
            )
            .correlate_except(Attribute, TaxonomyTerm)
        )
    return conditions


def _described(
    statement: Select[SelectT], filters: DirectoryFilters, record: type[Service | Organization]
) -> Select[SelectT]:
    """The filters services and organisations share: words in the record's name, alternate name
    or description, and a change on or after a time."""
    if filters.search:
        statement = statement.where(
            contains(
                filters.search,
                col(record.name),
                col(record.alternate_name),
                col(record.description),
            )
        )
    if filters.modified_after is not None:
        statement = statement.where(col(record.last_modified) >= filters.modified_after)
    return statement


def filter_services(statement: Select[Any], filters: DirectoryFilters) -> Select[Any]:
    """HSDS filters on a statement that has ``service`` (and ``organization``) in its FROM."""
    statement = _described(statement, filters, Service)
    if filters.organization_id is not None:
        statement = statement.where(col(Service.organization_id) == filters.organization_id)
    for condition in _has_term(col(Service.id), filters):
        statement = statement.where(condition)
    return statement


def filter_organizations(
    statement: Select[Organization], filters: DirectoryFilters
) -> Select[Organization]:
    statement = _described(statement, filters, Organization)
    if filters.taxonomy_term_id is not None or filters.taxonomy_id is not None:
        service_ids = select(col(Service.id)).where(
            col(Service.organization_id) == col(Organization.id),
            *_has_term(col(Service.id), filters),
        )
        statement = statement.where(service_ids.exists())
    return statement


async def _page(
    session: AsyncSession, statement: Select[Any], order: Sequence[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = await session.execute(statement.order_by(*order).limit(limit).offset(offset))
    return list(rows.scalars()), int(total or 0)


# Candidates of the exact sort are taken a little beyond the farthest of the KNN prefix, against
# rounding differences between PostGIS's distance code paths; extra candidates are only sorted.
_REACH_SLACK_M = 1.0


@dataclass(frozen=True)
class ByDistance:
    """The two statements of a page by distance: its total, and its rows with ``distance``."""

    count: Select[Any]
    page: Select[Any]


def by_distance(
    statement: Select[Any],
    latitude: float,
    longitude: float,
    *,
    within_m: float | None,
    limit: int,
    offset: int,
) -> ByDistance:
    """``statement`` (which has ``location`` in its FROM) by geodesic distance from the point,
    nearest first, within ``within_m`` metres if given.

    KNN (``<->`` on the GiST index of ``location.point``) ranks by distance on a sphere, which
    differs from the WGS 84 distance by up to about half a per cent, so it only bounds the page:
    the first ``offset + limit`` rows it yields are no farther than the farthest of them,
    ``reach``; every row within ``reach`` (``ST_DWithin``, the same index) is then sorted by
    exact ``ST_Distance`` and id. Pages are exact and consistent with each other."""
    here = geography_point(latitude, longitude)
    point = col(Location.point)
    if within_m is not None:
        statement = statement.where(func.ST_DWithin(point, here, within_m))
    count = select(func.count()).select_from(statement.order_by(None).subquery())
    distance = func.ST_Distance(point, here).label("distance")
    nearest = (
        statement.with_only_columns(distance)
        .order_by(point.op("<->")(here))
        .limit(offset + limit)
        .subquery()
    )
    reach = select(func.max(nearest.c.distance)).scalar_subquery()
    page = (
        statement.add_columns(distance)
        .where(func.ST_DWithin(point, here, reach + _REACH_SLACK_M))
        .order_by(distance, col(ServiceAtLocation.id))
        .limit(limit)
        .offset(offset)
    )
    return ByDistance(count, page)


async def postcode_point(
    session: AsyncSession, viewer: Viewer, postcode: str
) -> tuple[float, float] | None:
    """Latitude and longitude standing for a postcode: of the visible locations the viewer may
    locate whose address has it (compared without case or spaces), the one nearest their
    centroid (``ST_PointOnSurface``, so always a real place); ``None`` if there is none."""
    wanted = "".join(postcode.split()).upper()
    if not wanted:
        return None  # addresses without a postcode have postal_code ''
    normalised = func.upper(func.regexp_replace(col(Address.postal_code), r"\s", "", "g"))
    located = (
        visible_locations(viewer)
        .with_only_columns(func.geometry(col(Location.point)).label("geom"))
        .where(
            col(Location.point).is_not(None),
            col(Location.visibility).in_(viewer.located_levels),
            exists().where(col(Address.location_id) == col(Location.id), normalised == wanted),
        )
        .subquery()
    )
    centre = func.ST_PointOnSurface(func.ST_Collect(located.c.geom))
    row = (await session.execute(select(func.ST_Y(centre), func.ST_X(centre)))).one()
    if row[0] is None:
        return None
    return float(row[0]), float(row[1])


async def _rows(
    session: AsyncSession, statement: Select[Any], order: Sequence[Any], *, limit: int, offset: int
) -> list[Any]:
    return list(
        (await session.execute(statement.order_by(*order).limit(limit).offset(offset))).scalars()
    )


async def _first(session: AsyncSession, statement: Select[ModelT]) -> ModelT | None:
    return (await session.execute(statement.limit(1))).scalars().first()


# -- the HSDS reads: pages, batches and single records of what a viewer may see -----------------

SERVICE_ORDER = (col(Service.name), col(Service.id))
ORGANIZATION_ORDER = (col(Organization.name), col(Organization.id))
SERVICE_AT_LOCATION_ORDER = (col(Service.name), col(ServiceAtLocation.id))
TAXONOMY_ORDER = (col(Taxonomy.name),)
TAXONOMY_TERM_ORDER = (col(TaxonomyTerm.taxonomy_id), col(TaxonomyTerm.code))


@dataclass(frozen=True)
class _Collection(Generic[RecordT]):
    """An HSDS collection as a viewer reads it: the rows they may see, how the filters select
    among them, the order of its pages, and its id."""

    visible: Callable[[Viewer], Select[RecordT]]
    filtered: Callable[[Select[RecordT], DirectoryFilters], Select[RecordT]]
    order: tuple[Any, ...]
    id: Any

    async def page(
        self,
        session: AsyncSession,
        viewer: Viewer,
        filters: DirectoryFilters,
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[RecordT], int]:
        """A page of the visible records the filters select, in order, and how many there are."""
        statement = self.filtered(self.visible(viewer), filters)
        return await _page(session, statement, self.order, limit=limit, offset=offset)

    async def one(
        self, session: AsyncSession, viewer: Viewer, record_id: uuid.UUID
    ) -> RecordT | None:
        """The visible record of this id, or None."""
        return await _first(session, self.visible(viewer).where(self.id == record_id))


_SERVICES = _Collection(visible_services, filter_services, SERVICE_ORDER, col(Service.id))
_ORGANIZATIONS = _Collection(
    visible_organizations, filter_organizations, ORGANIZATION_ORDER, col(Organization.id)
)
_SERVICE_AT_LOCATIONS = _Collection(
    visible_service_at_locations,
    filter_services,
    SERVICE_AT_LOCATION_ORDER,
    col(ServiceAtLocation.id),
)

services_page = _SERVICES.page
visible_service = _SERVICES.one
organizations_page = _ORGANIZATIONS.page
visible_organization = _ORGANIZATIONS.one
service_at_locations_page = _SERVICE_AT_LOCATIONS.page
visible_service_at_location = _SERVICE_AT_LOCATIONS.one


async def services_batch(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    *,
    area_id: uuid.UUID | None = None,
    limit: int,
    offset: int,
) -> list[Service]:
    """A batch of the visible services the filters select, by name (a stream or an export
    reads them batch after batch); with ``area_id``, only those ``service_ids_in_area``."""
    statement = filter_services(visible_services(viewer), filters)
    if area_id is not None:
        statement = statement.where(col(Service.id).in_(service_ids_in_area(area_id, viewer)))
    return await _rows(session, statement, SERVICE_ORDER, limit=limit, offset=offset)


async def service_at_locations_near(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    latitude: float,
    longitude: float,
    *,
    within_m: float | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[ServiceAtLocation, float]], int]:
    """A page of the service-at-locations the viewer may locate whose service the filters
    select, nearest the point first, each with its distance in metres; and how many there are
    (``by_distance``)."""
    statement = filter_services(located_service_at_locations(viewer), filters)
    query = by_distance(
        statement, latitude, longitude, within_m=within_m, limit=limit, offset=offset
    )
    total = int(await session.scalar(query.count) or 0)
    if offset >= total:
        return [], total
    rows = await session.execute(query.page)
    return [(row, float(metres)) for row, metres in rows], total


async def taxonomies_page(
    session: AsyncSession, *, search: str | None, limit: int, offset: int
) -> tuple[list[Taxonomy], int]:
    """A page of the taxonomies, by name, whose name contains ``search`` if given."""
    statement = select(Taxonomy)
    if search:
        statement = statement.where(contains(search, col(Taxonomy.name)))
    return await _page(session, statement, TAXONOMY_ORDER, limit=limit, offset=offset)


async def taxonomy_terms_page(
    session: AsyncSession,
    *,
    taxonomy_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    top_only: bool,
    search: str | None,
    limit: int,
    offset: int,
) -> tuple[list[TaxonomyTerm], int]:
    """A page of the taxonomy terms these filters select, by taxonomy and code."""
    statement = _taxonomy_terms(
        taxonomy_id=taxonomy_id, parent_id=parent_id, top_only=top_only, search=search
    )
    return await _page(session, statement, TAXONOMY_TERM_ORDER, limit=limit, offset=offset)


async def _grouped(
    session: AsyncSession,
    statement: Select[*tuple[Any, ...]],
    key: Any,
    ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, list[Any]]:
    """The rows of ``statement`` whose ``key`` is one of ``ids``, in the statement's order, by
    that key: each row the one entity selected, or what is selected beside the keyed entity as a
    tuple, the keyed entity first."""
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    if not ids:
        return grouped
    for row in await session.execute(statement.where(key.in_(ids))):
        keyed = row[0]
        grouped[getattr(keyed, key.key)].append(keyed if len(row) == 1 else tuple(row))
    return grouped


async def _by_id(
    session: AsyncSession, statement: Select[ModelT], key: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ModelT]:
    """The rows of ``statement`` whose id (``key``) is one of ``ids``, by id."""
    if not ids:
        return {}
    rows = await session.execute(statement.where(key.in_(ids)))
    return {getattr(row, key.key): row for row in rows.scalars()}


async def phones_by(
    session: AsyncSession, owner: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Phone]]:
    statement = select(Phone).order_by(col(Phone.number))
    return await _grouped(session, statement, col(getattr(Phone, owner)), ids)


async def schedules_by(
    session: AsyncSession, owner: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Schedule]]:
    statement = select(Schedule).order_by(col(Schedule.byday), col(Schedule.id))
    return await _grouped(session, statement, col(getattr(Schedule, owner)), ids)


async def languages_by(
    session: AsyncSession, owner: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Language]]:
    statement = select(Language).order_by(col(Language.code))
    return await _grouped(session, statement, col(getattr(Language, owner)), ids)


OwnedT = TypeVar("OwnedT", RequiredDocument, CostOption, Contact)


async def owned_by_service(
    session: AsyncSession, model: type[OwnedT], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[OwnedT]]:
    """Rows of one of a service's HSDS arrays (required documents, cost options, contacts)."""
    statement = select(model).order_by(col(model.id))
    return await _grouped(session, statement, col(model.service_id), ids)


async def addresses_by_location(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Address]]:
    statement = select(Address).order_by(col(Address.id))
    return await _grouped(session, statement, col(Address.location_id), ids)


async def service_areas_by_service(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ServiceArea, str]]]:
    """Each service's areas with their extent as GeoJSON."""
    statement = select(ServiceArea, func.ST_AsGeoJSON(col(ServiceArea.extent), 6)).order_by(
        col(ServiceArea.name)
    )
    return await _grouped(session, statement, col(ServiceArea.service_id), ids)


async def capacities_by_service(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ServiceCapacity, Unit]]]:
    statement = (
        select(ServiceCapacity, Unit)
        .join(Unit, col(Unit.id) == col(ServiceCapacity.unit_id))
        .order_by(col(Unit.name))
    )
    return await _grouped(session, statement, col(ServiceCapacity.service_id), ids)


async def attributes_by(
    session: AsyncSession, entity: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[Attribute, TaxonomyTerm]]]:
    statement = (
        select(Attribute, TaxonomyTerm)
        .join(TaxonomyTerm, col(TaxonomyTerm.id) == col(Attribute.taxonomy_term_id))
        .where(col(Attribute.link_entity) == entity)
        .order_by(col(TaxonomyTerm.code))
    )
    return await _grouped(session, statement, col(Attribute.link_id), ids)


async def metadata_by(
    session: AsyncSession, resource_type: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Metadata]]:
    statement = (
        select(Metadata)
        .where(col(Metadata.resource_type) == resource_type)
        .order_by(col(Metadata.last_action_date))
    )
    return await _grouped(session, statement, col(Metadata.resource_id), ids)


async def organizations_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Organization]:
    return await _by_id(session, select(Organization), col(Organization.id), ids)


@dataclass(frozen=True)
class AreaLabel:
    id: uuid.UUID
    name: str
    level: int


async def area_labels(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AreaLabel]:
    """Names and levels of areas, without their (large) geometries."""
    if not ids:
        return {}
    rows = await session.execute(
        select(col(AdminArea.id), col(AdminArea.name), col(AdminArea.level)).where(
            col(AdminArea.id).in_(ids)
        )
    )
    return {row[0]: AreaLabel(row[0], row[1], row[2]) for row in rows}


async def service_at_locations_of_services(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ServiceAtLocation, Location]]]:
    """Each service's links to the locations the viewer may see, with the location."""
    locations = visible_locations(viewer).subquery()
    statement = (
        select(ServiceAtLocation, Location)
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .join(locations, locations.c.id == col(Location.id))
        .order_by(col(Location.name), col(Location.id))
    )
    return await _grouped(session, statement, col(ServiceAtLocation.service_id), ids)


async def visible_by_id(
    session: AsyncSession, viewer: Viewer, model: type[KeptT], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, KeptT]:
    """The services or locations of ``ids`` the viewer may see, by id."""
    return await _by_id(session, _visible_kept(model, viewer), col(model.id), ids)


async def visible_of_organizations(
    session: AsyncSession, viewer: Viewer, model: type[KeptT], ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[KeptT]]:
    """The services or locations the viewer may see of each organisation of ``ids``, by name."""
    statement = _visible_kept(model, viewer).order_by(col(model.name), col(model.id))
    return await _grouped(session, statement, col(model.organization_id), ids)


def service_ids_in_area(area_id: uuid.UUID, viewer: Viewer) -> Any:
    """Services with a place inside the area, or whose vetted service area reaches into it.

    For a viewer who may not locate confidential places, such a place counts as inside only when
    the (coarse) area it is listed in lies within the area asked for: otherwise asking area by
    area would tell which small area a shelter is in.
    """
    area = select(col(AdminArea.geom)).where(col(AdminArea.id) == area_id).scalar_subquery()
    inside: Any = func.ST_Intersects(area, func.geometry(col(Location.point)))
    if not viewer.cleared:
        listed = aliased(AdminArea, name="listed_area")
        listed_inside = col(Location.admin_area_id).in_(
            select(col(listed.id)).where(func.ST_CoveredBy(col(listed.geom), area))
        )
        confidential = col(Location.visibility) == Visibility.confidential.value
        inside = or_(and_(~confidential, inside), and_(confidential, listed_inside))
    located = (
        select(col(ServiceAtLocation.service_id))
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .where(inside)
    )
    covering = select(col(ServiceArea.service_id)).where(
        col(ServiceArea.vetted).is_(True), func.ST_Intersects(area, col(ServiceArea.extent))
    )
    return union(located, covering)


def _taxonomy_terms(
    *,
    taxonomy_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    top_only: bool = False,
    search: str | None = None,
) -> Select[TaxonomyTerm]:
    statement = select(TaxonomyTerm)
    if taxonomy_id is not None:
        statement = statement.where(col(TaxonomyTerm.taxonomy_id) == taxonomy_id)
    if parent_id is not None:
        statement = statement.where(col(TaxonomyTerm.parent_id) == parent_id)
    if top_only:
        statement = statement.where(col(TaxonomyTerm.parent_id).is_(None))
    if search:
        statement = statement.where(
            contains(
                search,
                col(TaxonomyTerm.name),
                col(TaxonomyTerm.code),
                col(TaxonomyTerm.description),
            )
        )
    return statement


async def taxonomies_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Taxonomy]:
    return await _by_id(session, select(Taxonomy), col(Taxonomy.id), ids)


async def taxonomy(session: AsyncSession, taxonomy_id: uuid.UUID) -> Taxonomy | None:
    return await session.get(Taxonomy, taxonomy_id)


async def taxonomy_term(session: AsyncSession, term_id: uuid.UUID) -> TaxonomyTerm | None:
    return await session.get(TaxonomyTerm, term_id)
