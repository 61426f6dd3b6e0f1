"""HSDS 3.1 objects as JSON, for one viewer: the shapes of the read API (``api.services.hsds``),
the directory's write responses and the exports.

Shapes follow the HSDS compiled schemas: list items carry one-to-one fields (and, for services,
the organization), ``full`` objects carry every related array (loaded by ``Nester``, one query per
table). Nulls are omitted (``clean``). A confidential location is redacted for a viewer not cleared
for it (``redact_location``): no coordinates, address, name or description, only its
administrative area and the contact channels (phones) of its service.
"""

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.models import directory
from api.models.organization import Organization
from api.repositories import directory as repository

REDACTED_LOCATION_NAME = "Confidential location"

Json = dict[str, Any]


def clean(body: Json) -> Json:
    """Drop nulls (HSDS: omitted rather than null), recursively."""
    return {key: _cleaned(item) for key, item in body.items() if item is not None}


def _cleaned(value: Any) -> Any:
    if isinstance(value, dict):
        return clean(value)
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    return value


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _json_value(value: Any) -> Any:
    """A column's value as HSDS writes it: ids as text, dates ISO 8601, times of day HH:MM."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _fields(row: Any, names: tuple[str, ...]) -> Json:
    """The named columns of a row, in that order, as HSDS writes them."""
    return {name: _json_value(getattr(row, name)) for name in names}


# -- one-to-one shapes: each HSDS object's fields, in the order the API has always sent them ----

ORGANIZATION_FIELDS = (
    "id",
    "name",
    "alternate_name",
    "description",
    "email",
    "website",
    "kind",
    "visibility",
    "translations",
    "last_modified",
)
SERVICE_FIELDS = (
    "id",
    "organization_id",
    "name",
    "alternate_name",
    "description",
    "url",
    "email",
    "status",
    "application_process",
    "fees_description",
    "eligibility_description",
    "minimum_age",
    "maximum_age",
    "last_modified",
    "assured_date",
    "assurer_email",
    "alert",
    "alert_until",
    "wait_time",
    "genders",
    "target_groups",
    "accepts_referrals",
    "intake_channel",
    "visibility",
    "translations",
)
LOCATION_FIELDS = (
    "id",
    "location_type",
    "organization_id",
    "name",
    "alternate_name",
    "description",
    "transportation",
    "latitude",
    "longitude",
    "external_identifier",
    "external_identifier_type",
    "region_key",
    "visibility",
)
ADDRESS_FIELDS = (
    "id",
    "location_id",
    "attention",
    "address_1",
    "address_2",
    "city",
    "region",
    "state_province",
    "postal_code",
    "country",
    "address_type",
)
PHONE_FIELDS = (
    "id",
    "organization_id",
    "service_id",
    "location_id",
    "number",
    "extension",
    "type",
    "description",
)
SCHEDULE_FIELDS = (
    "id",
    "service_id",
    "location_id",
    "valid_from",
    "valid_to",
    "freq",
    "byday",
    "opens_at",
    "closes_at",
    "time_zone",
    "description",
    "attending_type",
    "notes",
)
LANGUAGE_FIELDS = ("id", "service_id", "location_id", "name", "code", "note")
METADATA_FIELDS = (
    "id",
    "resource_id",
    "resource_type",
    "last_action_date",
    "last_action_type",
    "field_name",
    "previous_value",
    "replacement_value",
    "updated_by",
)
REQUIRED_DOCUMENT_FIELDS = ("id", "service_id", "document", "uri")
COST_OPTION_FIELDS = (
    "id",
    "service_id",
    "valid_from",
    "valid_to",
    "option",
    "currency",
    "amount",
    "amount_description",
)
CONTACT_FIELDS = ("id", "service_id", "name", "title", "department", "email")
TAXONOMY_FIELDS = ("id", "name", "description", "uri", "version")
LINK_FIELDS = ("id", "service_id", "location_id", "description")


def organization_item(organization: Organization) -> Json:
    body = _fields(organization, ORGANIZATION_FIELDS)
    body["description"] = organization.description or ""
    body["translations"] = organization.translations or None
    return body


def service_item(service: directory.Service) -> Json:
    body = _fields(service, SERVICE_FIELDS)
    body["translations"] = service.translations or None
    return body


def taxonomy_item(taxonomy: directory.Taxonomy) -> Json:
    return _fields(taxonomy, TAXONOMY_FIELDS)


def term_item(term: directory.TaxonomyTerm, taxonomy: directory.Taxonomy | None = None) -> Json:
    return {
        **_fields(term, ("id", "code", "name", "description", "parent_id")),
        "taxonomy": taxonomy.name if taxonomy else None,
        "taxonomy_detail": taxonomy_item(taxonomy) if taxonomy else None,
        **_fields(term, ("taxonomy_id", "language", "term_uri")),
        "translations": term.translations or None,
    }


def location_item(location: directory.Location) -> Json:
    """A location's own fields (``Nester.locations`` adds its area, addresses and contacts)."""
    return _fields(location, LOCATION_FIELDS)


def address_item(address: directory.Address) -> Json:
    return _fields(address, ADDRESS_FIELDS)


def service_area_item(area: directory.ServiceArea, geojson: str) -> Json:
    return {
        **_fields(area, ("id", "service_id", "name", "description")),
        "extent": geojson,
        "extent_type": "geojson",
    }


def capacity_item(capacity: directory.ServiceCapacity, unit: directory.Unit) -> Json:
    return {
        **_fields(capacity, ("id", "service_id")),
        "unit": _fields(unit, ("id", "name")),
        "unit_id": str(unit.id),
        **_fields(capacity, ("available", "maximum", "description", "updated")),
    }


def attribute_item(attribute: directory.Attribute, term: directory.TaxonomyTerm) -> Json:
    return {
        **_fields(
            attribute,
            ("id", "link_id", "link_type", "link_entity", "taxonomy_term_id", "value", "label"),
        ),
        "taxonomy_term": term_item(term),
    }


def link_item(link: directory.ServiceAtLocation) -> Json:
    """A service at a location, without the service or location it links."""
    return _fields(link, LINK_FIELDS)


def phone_item(phone: Any) -> Json:
    return _fields(phone, PHONE_FIELDS)


def schedule_item(schedule: Any) -> Json:
    return _fields(schedule, SCHEDULE_FIELDS)


def language_item(language: Any) -> Json:
    return _fields(language, LANGUAGE_FIELDS)


def metadata_item(row: Any) -> Json:
    return _fields(row, METADATA_FIELDS)


# -- nested shapes, loaded in batches ----------------------------------------------------------


class Nester:
    """Loads and shapes the related arrays of many records with one query per table."""

    def __init__(self, session: AsyncSession, viewer: Viewer) -> None:
        self.session = session
        self.viewer = viewer

    async def _contact_arrays(self, owner: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, Json]:
        """The phones, schedules and languages of each record (``owner``: the column naming it)."""
        phones = await repository.phones_by(self.session, owner, ids)
        schedules = await repository.schedules_by(self.session, owner, ids)
        languages = await repository.languages_by(self.session, owner, ids)
        return {
            record: {
                "phones": [phone_item(phone) for phone in phones.get(record, [])],
                "schedules": [schedule_item(item) for item in schedules.get(record, [])],
                "languages": [language_item(item) for item in languages.get(record, [])],
            }
            for record in ids
        }

    async def locations(self, locations: Sequence[directory.Location]) -> dict[uuid.UUID, Json]:
        ids = [location.id for location in locations]
        contacts = await self._contact_arrays("location_id", ids)
        addresses = await repository.addresses_by_location(self.session, ids)
        areas = await repository.area_labels(
            self.session, [loc.admin_area_id for loc in locations if loc.admin_area_id]
        )
        shaped: dict[uuid.UUID, Json] = {}
        for location in locations:
            area = areas.get(location.admin_area_id) if location.admin_area_id else None
            body: Json = {
                **location_item(location),
                "admin_area": (
                    {"id": str(area.id), "name": area.name, "level": area.level} if area else None
                ),
                "translations": location.translations or None,
                "addresses": [address_item(item) for item in addresses.get(location.id, [])],
                **contacts[location.id],
            }
            if self.viewer.redacts(location):
                body = redact_location(body)
            shaped[location.id] = body
        return shaped

    async def services(
        self, services: Sequence[directory.Service], *, full: bool
    ) -> dict[uuid.UUID, Json]:
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

        contacts = await self._contact_arrays("service_id", ids)
        areas = await repository.service_areas_by_service(self.session, ids)
        capacities = await repository.capacities_by_service(self.session, ids)
        attributes = await repository.attributes_by(self.session, "service", ids)
        metadata = await repository.metadata_by(self.session, "service", ids)
        documents = await repository.owned_by_service(self.session, directory.RequiredDocument, ids)
        costs = await repository.owned_by_service(self.session, directory.CostOption, ids)
        named = await repository.owned_by_service(self.session, directory.Contact, ids)
        links = await repository.service_at_locations_of_services(self.session, self.viewer, ids)
        located = await self.locations(
            [location for pairs in links.values() for _, location in pairs]
        )
        for service in services:
            body = shaped[service.id]
            body.update(contacts[service.id])
            body["service_areas"] = [
                service_area_item(area, geojson) for area, geojson in areas.get(service.id, [])
            ]
            body["capacities"] = [
                capacity_item(capacity, unit) for capacity, unit in capacities.get(service.id, [])
            ]
            body["attributes"] = [
                attribute_item(attribute, term)
                for attribute, term in attributes.get(service.id, [])
            ]
            body["required_documents"] = [
                _fields(row, REQUIRED_DOCUMENT_FIELDS) for row in documents.get(service.id, [])
            ]
            body["cost_options"] = [
                _fields(row, COST_OPTION_FIELDS) for row in costs.get(service.id, [])
            ]
            body["contacts"] = [_fields(row, CONTACT_FIELDS) for row in named.get(service.id, [])]
            # Change history names partner clients and staff pseudonyms: partners only.
            if self.viewer.sees_partner_records:
                body["metadata"] = [metadata_item(row) for row in metadata.get(service.id, [])]
            body["service_at_locations"] = [
                {**link_item(link), "location": located[location.id]}
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
        services = await repository.visible_of_organizations(
            self.session, self.viewer, directory.Service, ids
        )
        locations = await repository.visible_of_organizations(
            self.session, self.viewer, directory.Location, ids
        )
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
        self, links: Sequence[directory.ServiceAtLocation], *, full_service: bool
    ) -> list[Json]:
        services = await repository.visible_by_id(
            self.session, self.viewer, directory.Service, list({link.service_id for link in links})
        )
        locations = await repository.visible_by_id(
            self.session,
            self.viewer,
            directory.Location,
            list({link.location_id for link in links}),
        )
        service_bodies = await self.services(list(services.values()), full=full_service)
        location_bodies = await self.locations(list(locations.values()))
        return [
            {
                **link_item(link),
                "service": service_bodies.get(link.service_id),
                "location": location_bodies.get(link.location_id),
            }
            for link in links
        ]


def _without(body: Json, key: str) -> Json:
    return {name: value for name, value in body.items() if name != key}


def redact_location(body: Json) -> Json:
    """What a viewer not cleared for it may know of a confidential location."""
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
