"""Directory management: partners keep their own organisation's entries true.

``directory:write`` limits a partner to its own organisation; a token that also holds ``admin``
may write any organisation's entries. Another organisation's record answers 404, exactly like
a missing one. Updates are optimistic: ``If-Match`` must carry the current ``ETag`` (412 when
stale, 428 on a PATCH without it). Every change bumps ``version`` and ``last_modified`` and leaves
HSDS ``metadata`` rows (who, when, which field, old and new value).
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from geoalchemy2 import WKTElement
from shapely.geometry import MultiPolygon as ShapelyMultiPolygon
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.errors import (
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
)
from api.geo.regions import region_key
from api.models import directory
from api.models.organization import Organization
from api.repositories import directory_writes as repository
from api.schemas.directory import (
    AddressIn,
    CapacityUpdate,
    LocationIn,
    LocationUpdate,
    OrganizationUpdate,
    PhoneIn,
    ScheduleIn,
    ServiceAreaIn,
    ServiceCreate,
    ServiceUpdate,
)
from api.services import audit, events
from api.services.audit import Action
from api.taxonomy import term_id, unit_id

MAXIMUM_METADATA_VALUE = 500


class StaleEtag(PreconditionFailed, code="stale-etag"): ...


class IfMatchRequired(PreconditionRequired, code="if-match-required"): ...


class DirectoryRecordNotFound(NotFound, code="not-found"): ...


class OrganizationNotWritable(NotFound, code="organization-not-found"): ...


def etag(version: int) -> str:
    return f'"v{version}"'


def _check_precondition(version: int, if_match: str | None, *, required: bool) -> None:
    if if_match is None:
        if required:
            raise IfMatchRequired("Send If-Match with the ETag you last read.")
        return
    candidates = {value.strip().removeprefix("W/") for value in if_match.split(",")}
    if "*" not in candidates and etag(version) not in candidates:
        raise StaleEtag(
            "The record changed since you read it: read it again, then retry with its ETag."
        )


def _is_admin(principal: Principal) -> bool:
    return principal.has(Scope.admin)


def _actor(principal: Principal) -> str:
    return principal.client_id + (f"/{principal.acting_user}" if principal.acting_user else "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    rendered = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return rendered[:MAXIMUM_METADATA_VALUE]


class ChangeLog:
    """Collects HSDS metadata rows for one record."""

    def __init__(
        self, principal: Principal, record: directory.Service | directory.Location | Organization
    ) -> None:
        self.rows: list[directory.Metadata] = []
        self.actor = _actor(principal)
        self.principal = principal
        self.subject = record
        self.resource_type = record.__tablename__
        self.resource_id = record.id

    def record(self, action: str, field: str, before: Any, after: Any) -> None:
        self.rows.append(
            directory.Metadata(
                resource_id=self.resource_id,
                resource_type=self.resource_type,
                last_action_type=action,
                field_name=field,
                previous_value=_text(before),
                replacement_value=_text(after),
                updated_by=self.actor,
            )
        )

    async def save_change(self, session: AsyncSession, *groups: Sequence[Any]) -> None:
        """``save`` the change of a record there was: its ``version`` (its ETag) and
        ``last_modified`` move on first."""
        self.subject.version += 1
        self.subject.last_modified = datetime.now(UTC)
        await self.save(session, *groups)

    async def save(self, session: AsyncSession, *groups: Sequence[Any]) -> None:
        """Write the groups of rows, this log, and (when anything changed) the partners'
        ``directory.changed`` event, in order."""
        await repository.add_in_order(session, *groups, self.rows)
        if not self.rows:
            return
        record = self.subject
        first = self.rows[0]
        created = first.last_action_type == "create" and first.field_name == self.resource_type
        owner = record.id if isinstance(record, Organization) else record.organization_id
        await events.directory_changed(
            session,
            resource=self.resource_type,
            resource_id=self.resource_id,
            organization_id=owner,
            action="create" if created else "update",
            confidential=getattr(record, "visibility", None) == "confidential",
        )
        action = Action.create if created else Action.update
        await audit.record(
            session, self.principal, action, self.resource_type, [self.resource_id], [owner]
        )


async def _owning_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID | None
) -> Organization:
    target = organization_id or principal.organization_id
    if target != principal.organization_id and not _is_admin(principal):
        raise OrganizationNotWritable("No organisation with this id is yours to write.")
    organization = await repository.get_organization(session, target)
    if organization is None:
        raise OrganizationNotWritable("No organisation with this id is yours to write.")
    return organization


# -- building rows -------------------------------------------------------------------------------


def _phones(items: list[PhoneIn], **owner: Any) -> list[directory.Phone]:
    return [
        directory.Phone(number=item.number, type=item.type, description=item.description, **owner)
        for item in items
    ]


def _schedules(items: list[ScheduleIn], **owner: Any) -> list[directory.Schedule]:
    return [
        directory.Schedule(
            freq="WEEKLY",
            byday=item.byday,
            opens_at=item.opens_at,
            closes_at=item.closes_at,
            time_zone=item.time_zone,
            description=item.description,
            **owner,
        )
        for item in items
    ]


# The service's HSDS arrays written as rows of their own tables, replaced as a whole.
OWNED_ARRAYS: dict[
    str, type[directory.RequiredDocument | directory.CostOption | directory.Contact]
] = {
    "required_documents": directory.RequiredDocument,
    "cost_options": directory.CostOption,
    "contacts": directory.Contact,
}


def _owned_rows(service_id: uuid.UUID, name: str, items: list[Any] | None) -> list[Any]:
    model = OWNED_ARRAYS[name]
    return [model(service_id=service_id, **item.model_dump()) for item in items or []]


def _needs(service_id: uuid.UUID, codes: list[str]) -> list[directory.Attribute]:
    return [
        directory.Attribute(
            link_id=service_id,
            link_entity="service",
            link_type="need",
            taxonomy_term_id=term_id(code),
        )
        for code in dict.fromkeys(codes)
    ]


def _languages(service_id: uuid.UUID, codes: list[str]) -> list[directory.Language]:
    return [directory.Language(service_id=service_id, code=code) for code in dict.fromkeys(codes)]


def _address(location_id: uuid.UUID, item: AddressIn) -> directory.Address:
    return directory.Address(location_id=location_id, **item.model_dump())


def _extent(item: ServiceAreaIn) -> ShapelyMultiPolygon:
    geometry = shape(item.extent.model_dump(exclude_none=True))
    return ShapelyMultiPolygon([geometry]) if geometry.geom_type == "Polygon" else geometry


def _area(item: ServiceAreaIn, service_id: uuid.UUID) -> directory.ServiceArea:
    """A service area that passed ``_vet_areas``: it makes its service covering in searches."""
    return directory.ServiceArea(
        service_id=service_id,
        name=item.name,
        extent=WKTElement(_extent(item).wkt, srid=4326),
        vetted=True,
    )


class ServiceAreaRefused(Unprocessable, code="service-area-refused"):
    """A service area an organisation may not declare itself: shaped like a request-validation
    problem, naming the field."""

    def __init__(self, loc: list[str | int], message: str) -> None:
        super().__init__(message, loc=loc)


BORDER_TOLERANCE = 0.01
"""Share of an area that may spill over into another country (outlines drawn by hand)."""


async def _vet_areas(
    session: AsyncSession,
    principal: Principal,
    organization: Organization,
    body: ServiceCreate,
    largest_km2: float,
) -> None:
    """Bound what a partner may declare: a service covering a point ranks first there, at
    distance 0, so a world-wide area would win every search for its needs. A partner's areas
    together stay within ``largest_km2`` (a large region) and inside the countries where the
    organisation has places (its locations, with the ones sent now); the operator (``admin``)
    may declare any."""
    if not body.service_areas or _is_admin(principal):
        return
    extents = [_extent(item).wkt for item in body.service_areas]
    sizes = [await repository.area_km2(session, extent) for extent in extents]
    if sum(sizes) > largest_km2:
        raise ServiceAreaRefused(
            ["body", "service_areas"],
            f"The service areas cover {sum(sizes):,.0f} km²; an organisation may declare at most "
            f"{largest_km2:,.0f} km² for a service. Ask the operator to declare a larger one.",
        )
    places = [(item.latitude, item.longitude) for item in body.locations]
    for index, (extent, size) in enumerate(zip(extents, sizes, strict=True)):
        outside = await repository.foreign_km2(session, organization.id, extent, places)
        if outside > size * BORDER_TOLERANCE:
            raise ServiceAreaRefused(
                ["body", "service_areas", index, "extent"],
                "The area reaches into a country where the organisation has no place: list a "
                "location there first, or ask the operator to declare it.",
            )


def _translations(value: Any) -> dict[str, Any]:
    return {code: translation.model_dump(exclude_none=True) for code, translation in value.items()}


async def _new_location(
    session: AsyncSession, organization: Organization, item: LocationIn
) -> tuple[directory.Location, list[Any]]:
    location = directory.Location(
        organization_id=organization.id,
        name=item.name,
        description=item.description,
        location_type=item.location_type.value,
        latitude=item.latitude,
        longitude=item.longitude,
        region_key=region_key(item.latitude, item.longitude),
        admin_area_id=await repository.smallest_area_containing(
            session, item.latitude, item.longitude
        ),
        visibility=item.visibility.value,
    )
    related: list[Any] = []
    if item.address is not None:
        related.append(_address(location.id, item.address))
    related += _phones(item.phones, location_id=location.id)
    related += _schedules(item.schedules, location_id=location.id)
    return location, related


# -- services ------------------------------------------------------------------------------------


async def create_service(
    session: AsyncSession, principal: Principal, body: ServiceCreate, *, largest_area_km2: float
) -> directory.Service:
    organization = await _owning_organization(session, principal, body.organization_id)
    await _vet_areas(session, principal, organization, body, largest_area_km2)
    fields = body.model_dump(
        exclude={
            "organization_id",
            "needs",
            "phones",
            "schedules",
            "languages",
            "translations",
            "locations",
            "service_areas",
            *OWNED_ARRAYS,
        },
        exclude_none=True,
        mode="json",
    )
    if body.alert_until is not None:
        fields["alert_until"] = body.alert_until  # a date, not its JSON text
    service = directory.Service(
        organization_id=organization.id,
        translations=_translations(body.translations or {}),
        **fields,
    )
    locations: list[directory.Location] = []
    related: list[Any] = []
    for item in body.locations:
        location, extra = await _new_location(session, organization, item)
        locations.append(location)
        related += extra
    links = [
        directory.ServiceAtLocation(
            service_id=service.id, location_id=location.id, region_key=location.region_key
        )
        for location in locations
    ]
    related += _needs(service.id, body.needs)
    related += _phones(body.phones or [], service_id=service.id)
    related += _schedules(body.schedules or [], service_id=service.id)
    related += _languages(service.id, body.languages or [])
    related += [_area(item, service.id) for item in body.service_areas]
    for name in OWNED_ARRAYS:
        related += _owned_rows(service.id, name, getattr(body, name))
    log = ChangeLog(principal, service)
    log.record("create", "service", None, service.name)
    await log.save(session, [service], locations, links, related)
    return service


async def writable(
    session: AsyncSession, principal: Principal, model: type[directory.KeptT], record_id: uuid.UUID
) -> directory.KeptT:
    """The service or location, locked for the change to come, if the caller may write it."""
    owner = None if _is_admin(principal) else principal.organization_id
    record = await repository.lock_kept(session, model, record_id, owner)
    if record is None:
        raise DirectoryRecordNotFound(f"No {model.__tablename__} with this id is yours to write.")
    return record


async def to_change(
    session: AsyncSession,
    principal: Principal,
    model: type[directory.KeptT],
    record_id: uuid.UUID,
    if_match: str | None,
    *,
    required: bool,
) -> directory.KeptT:
    """The service or location the caller may write, locked, if ``If-Match`` names its current
    version (``required``: a PATCH without one is refused)."""
    record = await writable(session, principal, model, record_id)
    _check_precondition(record.version, if_match, required=required)
    return record


async def update_service(
    session: AsyncSession,
    principal: Principal,
    service_id: uuid.UUID,
    body: ServiceUpdate,
    if_match: str | None,
) -> directory.Service:
    service = await to_change(
        session, principal, directory.Service, service_id, if_match, required=True
    )
    log = ChangeLog(principal, service)
    changes = body.model_dump(exclude_unset=True)
    minimum = changes.get("minimum_age", service.minimum_age)
    maximum = changes.get("maximum_age", service.maximum_age)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise AgeRangeConflict("minimum_age must not exceed maximum_age.")
    replaced: list[Any] = []
    for name, value in changes.items():
        if name == "needs":
            await repository.delete_attributes(session, service.id)
            replaced += _needs(service.id, value or [])
        elif name == "phones":
            await repository.delete_owned(session, directory.Phone, service_id=service.id)
            replaced += _phones(body.phones or [], service_id=service.id)
        elif name == "schedules":
            await repository.delete_owned(session, directory.Schedule, service_id=service.id)
            replaced += _schedules(body.schedules or [], service_id=service.id)
        elif name == "languages":
            await repository.delete_owned(session, directory.Language, service_id=service.id)
            replaced += _languages(service.id, value or [])
        elif name in OWNED_ARRAYS:
            await repository.delete_owned(session, OWNED_ARRAYS[name], service_id=service.id)
            replaced += _owned_rows(service.id, name, getattr(body, name))
            value = len(value or [])
        elif name == "translations":
            before = service.translations
            service.translations = _translations(body.translations or {})
            log.record("update", name, before, service.translations)
            continue
        else:
            before = getattr(service, name)
            after = value.value if hasattr(value, "value") else value
            if name in {"genders", "target_groups"}:
                after = [item.value if hasattr(item, "value") else item for item in value or []]
            if before == after:
                continue
            setattr(service, name, after)
            log.record("update", name, before, after)
            continue
        log.record("update", name, None, value)
    await log.save_change(session, replaced)
    return service


class AgeRangeConflict(Unprocessable, code="age-range"): ...


async def deactivate_service(
    session: AsyncSession, principal: Principal, service_id: uuid.UUID, if_match: str | None
) -> directory.Service:
    service = await to_change(
        session, principal, directory.Service, service_id, if_match, required=False
    )
    if service.status != directory.ServiceStatus.inactive.value:
        log = ChangeLog(principal, service)
        log.record("update", "status", service.status, directory.ServiceStatus.inactive.value)
        service.status = directory.ServiceStatus.inactive.value
        await log.save_change(session)
    return service


async def set_capacity(
    session: AsyncSession,
    principal: Principal,
    service_id: uuid.UUID,
    body: CapacityUpdate,
    if_match: str | None,
) -> directory.Service:
    service = await to_change(
        session, principal, directory.Service, service_id, if_match, required=False
    )
    unit = unit_id(body.unit)
    existing = await repository.capacity(session, service.id, unit)
    log = ChangeLog(principal, service)
    now = datetime.now(UTC)
    if existing is None:
        await repository.add_in_order(
            session,
            [
                directory.ServiceCapacity(
                    service_id=service.id,
                    unit_id=unit,
                    available=body.available,
                    maximum=body.maximum,
                    updated=now,
                )
            ],
        )
        log.record("create", f"capacity.{body.unit}", None, body.available)
    else:
        log.record("update", f"capacity.{body.unit}", existing.available, body.available)
        existing.available = body.available
        existing.maximum = body.maximum
        existing.updated = now
    await log.save_change(session)
    return service


# -- locations and organisations ----------------------------------------------------------------


async def create_location(
    session: AsyncSession,
    principal: Principal,
    body: LocationIn,
    organization_id: uuid.UUID | None,
) -> directory.Location:
    organization = await _owning_organization(session, principal, organization_id)
    location, related = await _new_location(session, organization, body)
    log = ChangeLog(principal, location)
    log.record("create", "location", None, location.name)
    await log.save(session, [location], related)
    return location


async def update_location(
    session: AsyncSession,
    principal: Principal,
    location_id: uuid.UUID,
    body: LocationUpdate,
    if_match: str | None,
) -> directory.Location:
    location = await to_change(
        session, principal, directory.Location, location_id, if_match, required=True
    )
    log = ChangeLog(principal, location)
    changes = body.model_dump(exclude_unset=True)
    related: list[Any] = []
    if "address" in changes:
        await repository.delete_owned(session, directory.Address, location_id=location.id)
        if body.address is not None:
            related.append(_address(location.id, body.address))
        log.record("update", "address", None, "replaced")
    for name in ("name", "description", "visibility"):
        if name in changes:
            value = getattr(body, name)
            after = value.value if hasattr(value, "value") else value
            log.record("update", name, getattr(location, name), after)
            setattr(location, name, after)
    if body.latitude is not None and body.longitude is not None:
        log.record(
            "update",
            "coordinates",
            "moved" if location.latitude is not None else None,
            "moved",
        )
        location.latitude, location.longitude = body.latitude, body.longitude
        location.region_key = region_key(body.latitude, body.longitude)
        location.admin_area_id = await repository.smallest_area_containing(
            session, body.latitude, body.longitude
        )
        await repository.set_link_region(session, location.id, location.region_key)
    if (
        location.visibility == directory.Visibility.confidential.value
        and location.admin_area_id is None
        and location.latitude is not None
        and location.longitude is not None
    ):
        # A confidential place is searched by a point of the area it is listed in: one made
        # confidential without an area (an imported place) is listed in the smallest one
        # containing it, as a new place is (the database's trigger does the same for any write).
        location.admin_area_id = await repository.smallest_area_containing(
            session, location.latitude, location.longitude
        )
    await log.save_change(session, related)
    return location


async def update_organization(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    if_match: str | None,
) -> Organization:
    organization = await _owning_organization(session, principal, organization_id)
    _check_precondition(organization.version, if_match, required=True)
    log = ChangeLog(principal, organization)
    for name, value in body.model_dump(exclude_unset=True).items():
        after: Any = value
        if name == "translations":
            after = _translations(body.translations or {})
        elif hasattr(getattr(body, name), "value"):
            after = getattr(body, name).value
        log.record("update", name, getattr(organization, name), after)
        setattr(organization, name, after)
    await log.save_change(session)
    return organization
