"""The HSDS 3.1 read API: directory rows shaped as HSDS objects for one viewer.

Shapes follow the HSDS compiled schemas: list items carry one-to-one fields (and, for services,
the organization), ``full`` objects carry every related array. Nulls are omitted. A
confidential location is redacted for viewers without ``directory:confidential``: no
coordinates, address, name or description, only its administrative area and the contact
channels (phones) of its service. In a proximity search (``lat``/``long`` or ``postcode``) such a
viewer does not get it at all: its rank, distance or presence within a radius would locate it.
"""

import math
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.db import SessionMaker, transaction
from api.errors import NotFound, UnprocessableParameter
from api.filters import DirectoryFilters
from api.models.directory import (
    Location,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from api.models.organization import Organization
from api.repositories import directory as repository

HSDS_VERSION = "3.1"
REDACTED_LOCATION_NAME = "Confidential location"
NDJSON_BATCH = 500


class RecordNotFound(NotFound):
    code = "not-found"


class UnknownPostcode(UnprocessableParameter):
    code = "unknown-postcode"

    def __init__(self) -> None:
        # The same answer whether no address has the postcode or only places the caller may not
        # locate have it: a confidential shelter's postcode is not confirmed by a 200.
        super().__init__("postcode", "No place you can see has this postcode.")


@dataclass(frozen=True)
class Near:
    """The centre of a proximity search, a point (latitude, longitude) or a postcode standing for
    one, and how far it reaches in metres (``None``: results are only ordered by distance)."""

    point: tuple[float, float] | None
    postcode: str | None
    proximity_m: float | None


def near(
    latitude: float | None,
    longitude: float | None,
    postcode: str | None,
    proximity_m: float | None,
) -> Near | None:
    """The proximity search these parameters ask for, ``None`` for none; 422 if they conflict."""
    if (latitude is None) != (longitude is None):
        missing = "long" if longitude is None else "lat"
        raise UnprocessableParameter(missing, "Give lat and long together.")
    if postcode is not None and latitude is not None:
        raise UnprocessableParameter("postcode", "Give postcode, or lat and long, not both.")
    if latitude is not None and longitude is not None:
        return Near((latitude, longitude), None, proximity_m)
    if postcode is not None:
        return Near(None, postcode, proximity_m)
    if proximity_m is not None:
        raise UnprocessableParameter(
            "proximity", "proximity needs a point: give lat and long, or postcode."
        )
    return None


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


Json = dict[str, Any]


def envelope(contents: list[Json], total: int, paging: Paging) -> Json:
    total_pages = max(1, math.ceil(total / paging.per_page))
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": paging.page,
        "size": len(contents),
        "first_page": paging.page == 1,
        "last_page": paging.page >= total_pages,
        "empty": total == 0,
        "contents": contents,
    }


def clean(body: Json) -> Json:
    """Drop nulls (HSDS: omitted rather than null), recursively."""
    return {key: _cleaned(item) for key, item in body.items() if item is not None}


def _cleaned(value: Any) -> Any:
    if isinstance(value, dict):
        return clean(value)
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    return value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


# -- one-to-one shapes --------------------------------------------------------------------------


def organization_item(organization: Organization) -> Json:
    return {
        "id": str(organization.id),
        "name": organization.name,
        "alternate_name": organization.alternate_name,
        "description": organization.description or "",
        "email": organization.email,
        "website": organization.website,
        "kind": organization.kind,
        "visibility": organization.visibility,
        "translations": organization.translations or None,
        "last_modified": _iso(organization.last_modified),
    }


def service_item(service: Service) -> Json:
    return {
        "id": str(service.id),
        "organization_id": str(service.organization_id),
        "name": service.name,
        "alternate_name": service.alternate_name,
        "description": service.description,
        "url": service.url,
        "email": service.email,
        "status": service.status,
        "application_process": service.application_process,
        "fees_description": service.fees_description,
        "eligibility_description": service.eligibility_description,
        "minimum_age": service.minimum_age,
        "maximum_age": service.maximum_age,
        "last_modified": _iso(service.last_modified),
        "genders": service.genders,
        "target_groups": service.target_groups,
        "accepts_referrals": service.accepts_referrals,
        "intake_channel": service.intake_channel,
        "visibility": service.visibility,
        "translations": service.translations or None,
    }


def taxonomy_item(taxonomy: Taxonomy) -> Json:
    return {
        "id": str(taxonomy.id),
        "name": taxonomy.name,
        "description": taxonomy.description,
        "uri": taxonomy.uri,
        "version": taxonomy.version,
    }


def term_item(term: TaxonomyTerm, taxonomy: Taxonomy | None = None) -> Json:
    return {
        "id": str(term.id),
        "code": term.code,
        "name": term.name,
        "description": term.description,
        "parent_id": _id(term.parent_id),
        "taxonomy": taxonomy.name if taxonomy else None,
        "taxonomy_detail": taxonomy_item(taxonomy) if taxonomy else None,
        "taxonomy_id": str(term.taxonomy_id),
        "language": term.language,
        "term_uri": term.term_uri,
        "translations": term.translations or None,
    }


# -- nested shapes, loaded in batches ----------------------------------------------------------


class Nester:
    """Loads and shapes the related arrays of many records with one query per table."""

    def __init__(self, session: AsyncSession, viewer: Viewer) -> None:
        self.session = session
        self.viewer = viewer

    async def locations(self, locations: Sequence[Location]) -> dict[uuid.UUID, Json]:
        ids = [location.id for location in locations]
        phones = await repository.phones_by(self.session, "location_id", ids)
        schedules = await repository.schedules_by(self.session, "location_id", ids)
        languages = await repository.languages_by(self.session, "location_id", ids)
        addresses = await repository.addresses_by_location(self.session, ids)
        areas = await repository.area_labels(
            self.session, [loc.admin_area_id for loc in locations if loc.admin_area_id]
        )
        shaped: dict[uuid.UUID, Json] = {}
        for location in locations:
            area = areas.get(location.admin_area_id) if location.admin_area_id else None
            body: Json = {
                "id": str(location.id),
                "location_type": location.location_type,
                "organization_id": str(location.organization_id),
                "name": location.name,
                "alternate_name": location.alternate_name,
                "description": location.description,
                "transportation": location.transportation,
                "latitude": location.latitude,
                "longitude": location.longitude,
                "external_identifier": location.external_identifier,
                "external_identifier_type": location.external_identifier_type,
                "region_key": location.region_key,
                "visibility": location.visibility,
                "admin_area": (
                    {"id": str(area.id), "name": area.name, "level": area.level} if area else None
                ),
                "translations": location.translations or None,
                "addresses": [
                    {
                        "id": str(address.id),
                        "location_id": str(address.location_id),
                        "attention": address.attention,
                        "address_1": address.address_1,
                        "address_2": address.address_2,
                        "city": address.city,
                        "region": address.region,
                        "state_province": address.state_province,
                        "postal_code": address.postal_code,
                        "country": address.country,
                        "address_type": address.address_type,
                    }
                    for address in addresses.get(location.id, [])
                ],
                "phones": [phone_item(phone) for phone in phones.get(location.id, [])],
                "schedules": [schedule_item(item) for item in schedules.get(location.id, [])],
                "languages": [language_item(item) for item in languages.get(location.id, [])],
            }
            if self.viewer.redacts(location):
                body = redact_location(body)
            shaped[location.id] = body
        return shaped

    async def services(self, services: Sequence[Service], *, full: bool) -> dict[uuid.UUID, Json]:
        ids = [service.id for service in services]
        organizations = await repository.organizations_by_id(
            self.session, list({service.organization_id for service in services})
        )
        shaped: dict[uuid.UUID, Json] = {}
        for service in services:
            body = service_item(service)
            organization = organizations.get(service.organization_id)
            if organization is not None:
                body["organization"] = organization_item(organization)
            shaped[service.id] = body
        if not full:
            return shaped

        phones = await repository.phones_by(self.session, "service_id", ids)
        schedules = await repository.schedules_by(self.session, "service_id", ids)
        languages = await repository.languages_by(self.session, "service_id", ids)
        areas = await repository.service_areas_by_service(self.session, ids)
        capacities = await repository.capacities_by_service(self.session, ids)
        attributes = await repository.attributes_by(self.session, "service", ids)
        metadata = await repository.metadata_by(self.session, "service", ids)
        links = await repository.service_at_locations_of_services(self.session, self.viewer, ids)
        located = await self.locations(
            [location for pairs in links.values() for _, location in pairs]
        )
        for service in services:
            body = shaped[service.id]
            body["phones"] = [phone_item(phone) for phone in phones.get(service.id, [])]
            body["schedules"] = [schedule_item(item) for item in schedules.get(service.id, [])]
            body["languages"] = [language_item(item) for item in languages.get(service.id, [])]
            body["service_areas"] = [
                {
                    "id": str(area.id),
                    "service_id": str(area.service_id),
                    "name": area.name,
                    "description": area.description,
                    "extent": geojson,
                    "extent_type": "geojson",
                }
                for area, geojson in areas.get(service.id, [])
            ]
            body["capacities"] = [
                {
                    "id": str(capacity.id),
                    "service_id": str(capacity.service_id),
                    "unit": {"id": str(unit.id), "name": unit.name},
                    "unit_id": str(unit.id),
                    "available": capacity.available,
                    "maximum": capacity.maximum,
                    "description": capacity.description,
                    "updated": _iso(capacity.updated),
                }
                for capacity, unit in capacities.get(service.id, [])
            ]
            body["attributes"] = [
                {
                    "id": str(attribute.id),
                    "link_id": str(attribute.link_id),
                    "link_type": attribute.link_type,
                    "link_entity": attribute.link_entity,
                    "taxonomy_term_id": str(attribute.taxonomy_term_id),
                    "value": attribute.value,
                    "label": attribute.label,
                    "taxonomy_term": term_item(term),
                }
                for attribute, term in attributes.get(service.id, [])
            ]
            # Change history names partner clients and staff pseudonyms: partners only.
            if self.viewer.sees_partner_records:
                body["metadata"] = [metadata_item(row) for row in metadata.get(service.id, [])]
            body["service_at_locations"] = [
                {
                    "id": str(link.id),
                    "service_id": str(link.service_id),
                    "location_id": str(link.location_id),
                    "description": link.description,
                    "location": located[location.id],
                }
                for link, location in links.get(service.id, [])
            ]
        return shaped

    async def organizations(
        self, organizations: Sequence[Organization], *, full: bool, full_service: bool = False
    ) -> dict[uuid.UUID, Json]:
        shaped = {
            organization.id: organization_item(organization) for organization in organizations
        }
        if not full:
            return shaped
        ids = list(shaped)
        phones = await repository.phones_by(self.session, "organization_id", ids)
        services = await repository.services_of_organizations(self.session, self.viewer, ids)
        locations = await repository.locations_of_organizations(self.session, self.viewer, ids)
        all_services = [service for group in services.values() for service in group]
        service_bodies = await self.services(all_services, full=full_service)
        location_bodies = await self.locations(
            [location for group in locations.values() for location in group]
        )
        metadata = await repository.metadata_by(self.session, "organization", ids)
        for organization in organizations:
            body = shaped[organization.id]
            body["phones"] = [phone_item(phone) for phone in phones.get(organization.id, [])]
            body["services"] = [
                _without(service_bodies[service.id], "organization")
                for service in services.get(organization.id, [])
            ]
            body["locations"] = [
                location_bodies[location.id] for location in locations.get(organization.id, [])
            ]
            if self.viewer.sees_partner_records:
                body["metadata"] = [metadata_item(row) for row in metadata.get(organization.id, [])]
        return shaped

    async def service_at_locations(
        self, links: Sequence[ServiceAtLocation], *, full_service: bool
    ) -> list[Json]:
        services = await repository.services_by_id(
            self.session, self.viewer, list({link.service_id for link in links})
        )
        locations = await repository.locations_by_id(
            self.session, self.viewer, list({link.location_id for link in links})
        )
        service_bodies = await self.services(list(services.values()), full=full_service)
        location_bodies = await self.locations(list(locations.values()))
        return [
            {
                "id": str(link.id),
                "service_id": str(link.service_id),
                "location_id": str(link.location_id),
                "description": link.description,
                "service": service_bodies.get(link.service_id),
                "location": location_bodies.get(link.location_id),
            }
            for link in links
        ]


def _without(body: Json, key: str) -> Json:
    return {name: value for name, value in body.items() if name != key}


def redact_location(body: Json) -> Json:
    """What a viewer without directory:confidential may know of a confidential location."""
    kept = {
        key: body.get(key)
        for key in ("id", "location_type", "organization_id", "phones", "languages", "schedules")
    }
    kept["name"] = REDACTED_LOCATION_NAME
    kept["visibility"] = "confidential"
    kept["confidential"] = True
    kept["admin_area"] = body.get("admin_area")
    kept["addresses"] = []
    return kept


def phone_item(phone: Any) -> Json:
    return {
        "id": str(phone.id),
        "organization_id": _id(phone.organization_id),
        "service_id": _id(phone.service_id),
        "location_id": _id(phone.location_id),
        "number": phone.number,
        "extension": phone.extension,
        "type": phone.type,
        "description": phone.description,
    }


def schedule_item(schedule: Any) -> Json:
    return {
        "id": str(schedule.id),
        "service_id": _id(schedule.service_id),
        "location_id": _id(schedule.location_id),
        "valid_from": schedule.valid_from.isoformat() if schedule.valid_from else None,
        "valid_to": schedule.valid_to.isoformat() if schedule.valid_to else None,
        "freq": schedule.freq,
        "byday": schedule.byday,
        "opens_at": schedule.opens_at.strftime("%H:%M") if schedule.opens_at else None,
        "closes_at": schedule.closes_at.strftime("%H:%M") if schedule.closes_at else None,
        "time_zone": schedule.time_zone,
        "description": schedule.description,
        "attending_type": schedule.attending_type,
        "notes": schedule.notes,
    }


def language_item(language: Any) -> Json:
    return {
        "id": str(language.id),
        "service_id": _id(language.service_id),
        "location_id": _id(language.location_id),
        "name": language.name,
        "code": language.code,
        "note": language.note,
    }


def metadata_item(row: Any) -> Json:
    return {
        "id": str(row.id),
        "resource_id": str(row.resource_id),
        "resource_type": row.resource_type,
        "last_action_date": _iso(row.last_action_date),
        "last_action_type": row.last_action_type,
        "field_name": row.field_name,
        "previous_value": row.previous_value,
        "replacement_value": row.replacement_value,
        "updated_by": row.updated_by,
    }


# -- the endpoints' work -----------------------------------------------------------------------


async def list_services(
    session: AsyncSession, viewer: Viewer, filters: DirectoryFilters, paging: Paging, *, full: bool
) -> Json:
    rows, total = await repository.services_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    shaped = await Nester(session, viewer).services(rows, full=full)
    return clean(envelope([shaped[row.id] for row in rows], total, paging))


async def minimal_services(
    session: AsyncSession, viewer: Viewer, filters: DirectoryFilters, paging: Paging
) -> Json:
    rows, total = await repository.services_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    contents = [{"id": str(row.id), "last_modified": _iso(row.last_modified)} for row in rows]
    return envelope(contents, total, paging)


async def get_service(session: AsyncSession, viewer: Viewer, service_id: uuid.UUID) -> Json:
    found = await repository.visible_service(session, viewer, service_id)
    if found is None:
        raise RecordNotFound("No service with this id is visible to you.")
    shaped = await Nester(session, viewer).services([found], full=True)
    return clean(shaped[found.id])


async def list_organizations(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    *,
    full: bool,
    full_service: bool,
) -> Json:
    rows, total = await repository.organizations_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    shaped = await Nester(session, viewer).organizations(rows, full=full, full_service=full_service)
    return clean(envelope([shaped[row.id] for row in rows], total, paging))


async def get_organization(
    session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, *, full_service: bool
) -> Json:
    found = await repository.visible_organization(session, viewer, organization_id)
    if found is None:
        raise RecordNotFound("No organization with this id is visible to you.")
    shaped = await Nester(session, viewer).organizations(
        [found], full=True, full_service=full_service
    )
    return clean(shaped[found.id])


async def list_service_at_locations(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    *,
    full_service: bool,
    near: Near | None = None,
) -> Json:
    if near is not None:
        return await _service_at_locations_near(
            session, viewer, filters, paging, near, full_service=full_service
        )
    rows, total = await repository.service_at_locations_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    contents = await Nester(session, viewer).service_at_locations(rows, full_service=full_service)
    return clean(envelope(contents, total, paging))


async def _service_at_locations_near(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    near: Near,
    *,
    full_service: bool,
) -> Json:
    """Nearest first, each with ``distance_m`` (a Relay extension), among the places whose
    position the viewer may know: places without a position, and confidential places for a
    viewer without ``directory:confidential``, are left out (see
    ``api.repositories.directory.located_service_at_locations``)."""
    centre = near.point
    if centre is None:
        centre = await repository.postcode_point(session, viewer, near.postcode or "")
        if centre is None:
            raise UnknownPostcode()
    latitude, longitude = centre
    rows, total = await repository.service_at_locations_near(
        session,
        viewer,
        filters,
        latitude,
        longitude,
        within_m=near.proximity_m,
        limit=paging.per_page,
        offset=paging.offset,
    )
    contents = await Nester(session, viewer).service_at_locations(
        [link for link, _ in rows], full_service=full_service
    )
    for body, (_, metres) in zip(contents, rows, strict=True):
        body["distance_m"] = round(metres, 1)
    return clean(envelope(contents, total, paging))


async def get_service_at_location(
    session: AsyncSession, viewer: Viewer, link_id: uuid.UUID
) -> Json:
    found = await repository.visible_service_at_location(session, viewer, link_id)
    if found is None:
        raise RecordNotFound("No service at location with this id is visible to you.")
    [shaped] = await Nester(session, viewer).service_at_locations([found], full_service=True)
    return clean(shaped)


async def list_taxonomies(session: AsyncSession, paging: Paging, search: str | None) -> Json:
    rows, total = await repository.taxonomies_page(
        session, search=search, limit=paging.per_page, offset=paging.offset
    )
    return clean(envelope([taxonomy_item(row) for row in rows], total, paging))


async def get_taxonomy(session: AsyncSession, taxonomy_id: uuid.UUID) -> Json:
    found = await repository.taxonomy(session, taxonomy_id)
    if found is None:
        raise RecordNotFound("No taxonomy with this id.")
    return clean(taxonomy_item(found))


async def list_taxonomy_terms(
    session: AsyncSession,
    paging: Paging,
    *,
    taxonomy_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    top_only: bool,
    search: str | None,
) -> Json:
    rows, total = await repository.taxonomy_terms_page(
        session,
        taxonomy_id=taxonomy_id,
        parent_id=parent_id,
        top_only=top_only,
        search=search,
        limit=paging.per_page,
        offset=paging.offset,
    )
    taxonomies = await repository.taxonomies_by_id(session, list({row.taxonomy_id for row in rows}))
    contents = [term_item(row, taxonomies.get(row.taxonomy_id)) for row in rows]
    return clean(envelope(contents, total, paging))


async def get_taxonomy_term(session: AsyncSession, term_id: uuid.UUID) -> Json:
    found = await repository.taxonomy_term(session, term_id)
    if found is None:
        raise RecordNotFound("No taxonomy term with this id.")
    taxonomy = await repository.taxonomy(session, found.taxonomy_id)
    return clean(term_item(found, taxonomy))


async def each_service(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    *,
    full: bool,
    batch: int,
    area_id: uuid.UUID | None = None,
) -> AsyncIterator[Json]:
    """Every matching service (only those in ``area_id`` when given), read ``batch`` at a time."""
    offset = 0
    while True:
        rows = await repository.services_batch(
            session, viewer, filters, area_id=area_id, limit=batch, offset=offset
        )
        if not rows:
            return
        shaped = await Nester(session, viewer).services(rows, full=full)
        for row in rows:
            yield clean(shaped[row.id])
        offset += batch


async def stream_services(
    sessionmaker: SessionMaker, viewer: Viewer, filters: DirectoryFilters, *, full: bool
) -> AsyncIterator[Json]:
    """Every matching service, in batches, in a transaction of its own: for ``format=ndjson``,
    whose response is sent after the request's transaction has ended."""
    async with transaction(sessionmaker) as session:
        async for service in each_service(session, viewer, filters, full=full, batch=NDJSON_BATCH):
            yield service
