"""Import an Open Referral HSDS 3.x feed: a JSON document (one record, a list, or a paged
envelope of ``service``/``organization``/``service_at_location`` records, nested) or a tabular
data package (a folder of CSV files, one per table).

Rows are flattened into tables, checked one by one, and written with ids derived from the
source and the feed's own ids, so importing the same feed again writes nothing new. A row that
fails a check (a latitude of 100, a phone that is no number) is rejected with its reason and
whatever depends on it is skipped; the rest of the feed imports.
"""

import csv
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.geo.regions import region_key
from api.models.directory import (
    Address,
    Attribute,
    Language,
    Location,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    Taxonomy,
    TaxonomyTerm,
)
from api.models.organization import Organization, OrganizationKind
from api.repositories import directory_writes

NAMESPACE = uuid.UUID("3d9d0d64-8b9f-4a53-9f1c-2f7c2b6e5a41")
TABLES = (
    "organizations",
    "services",
    "locations",
    "service_at_locations",
    "addresses",
    "phones",
    "schedules",
    "languages",
    "taxonomies",
    "taxonomy_terms",
    "attributes",
)
CSV_NAMES = {"service_at_location": "service_at_locations"}
_PHONE = re.compile(r"\+[1-9]\d{6,14}|\d{3,6}")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass
class HsdsImportResult:
    read: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    """(table, the feed's id, reason) for every row not imported."""

    def reject(self, table: str, original: Any, reason: str) -> None:
        self.rejected.append((table, str(original or ""), reason))


def read_feed(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The feed as flat HSDS tables, whatever its shape."""
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if path.is_dir():
        for file in sorted(path.glob("*.csv")):
            name = CSV_NAMES.get(file.stem, file.stem)
            if name in TABLES:
                with file.open(encoding="utf-8-sig", newline="") as handle:
                    tables[name] = [
                        {key: value for key, value in row.items() if value not in ("", None)}
                        for row in csv.DictReader(handle)
                    ]
        return tables
    document = json.loads(path.read_text(encoding="utf-8"))
    records = document.get("contents", [document]) if isinstance(document, dict) else document
    for record in records:
        _flatten(record, tables)
    return tables


def _flatten(record: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
    if "service" in record or "location" in record:
        service = record.get("service")
        location = record.get("location")
        if service:
            _service(service, tables)
        if location:
            _location(location, tables)
        tables["service_at_locations"].append(
            {
                "id": record.get("id"),
                "service_id": record.get("service_id") or (service or {}).get("id"),
                "location_id": record.get("location_id") or (location or {}).get("id"),
            }
        )
    elif "status" in record or "service_at_locations" in record:
        _service(record, tables)
    else:
        _organization(record, tables)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if not isinstance(value, dict | list)}


def _organization(record: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
    tables["organizations"].append(_plain(record))
    for phone in record.get("phones", []):
        tables["phones"].append({**phone, "organization_id": record.get("id")})
    for location in record.get("locations", []):
        _location({**location, "organization_id": record.get("id")}, tables)
    for service in record.get("services", []):
        _service({**service, "organization_id": record.get("id")}, tables)


def _service(record: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
    organization = record.get("organization")
    if isinstance(organization, dict):
        _organization(organization, tables)
    service = _plain(record)
    service.setdefault("organization_id", (organization or {}).get("id"))
    tables["services"].append(service)
    for name in ("phones", "schedules", "languages"):
        for item in record.get(name, []):
            tables[name].append({**item, "service_id": record.get("id"), "location_id": None})
    for attribute in record.get("attributes", []):
        _term(attribute.get("taxonomy_term"), tables)
        tables["attributes"].append({**_plain(attribute), "link_id": record.get("id")})
    for link in record.get("service_at_locations", []):
        location = link.get("location")
        if location:
            _location(location, tables)
        tables["service_at_locations"].append(
            {
                "id": link.get("id"),
                "service_id": record.get("id"),
                "location_id": link.get("location_id") or (location or {}).get("id"),
            }
        )


def _location(record: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
    tables["locations"].append(_plain(record))
    for address in record.get("addresses", []):
        tables["addresses"].append({**address, "location_id": record.get("id")})
    for name in ("phones", "schedules", "languages"):
        for item in record.get(name, []):
            tables[name].append({**item, "location_id": record.get("id"), "service_id": None})


def _term(term: dict[str, Any] | None, tables: dict[str, list[dict[str, Any]]]) -> None:
    if not term:
        return
    detail = term.get("taxonomy_detail")
    if isinstance(detail, dict):
        tables["taxonomies"].append(_plain(detail))
    tables["taxonomy_terms"].append(_plain(term))


class _Ids:
    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, table: str, original: Any) -> uuid.UUID:
        """The row's id here; a row the feed gives no id to gets one no other row shares."""
        if original in (None, ""):
            return uuid.uuid4()
        return uuid.uuid5(NAMESPACE, f"{self.source}/{table}/{original}")


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None and number.is_integer() else None


def _time(value: Any) -> time | None:
    try:
        return time.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _unique(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per id. Nested JSON repeats a record under each parent (a phone under its
    service, location and organization): the copies are merged, so every owner is known."""
    seen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = row.get("id") or id(row)
        if key in seen:
            merged = seen[key]
            for name, value in row.items():
                if merged.get(name) is None and value is not None:
                    merged[name] = value
        else:
            seen[key] = dict(row)
    return list(seen.values())


async def import_feed(
    session: AsyncSession,
    path: Path,
    *,
    source: str,
    kind: OrganizationKind = OrganizationKind.ngo,
    time_zone: str = "UTC",
) -> HsdsImportResult:
    tables = {name: _unique(rows) for name, rows in read_feed(path).items()}
    result = HsdsImportResult(read={name: len(rows) for name, rows in tables.items() if rows})
    new_id = _Ids(source)
    rows: dict[str, list[Any]] = defaultdict(list)
    ok: dict[str, set[uuid.UUID]] = defaultdict(set)

    def keep(table: str, row: Any) -> None:
        rows[table].append(row)
        ok[table].add(row.id)

    for item in tables.get("organizations", []):
        if not item.get("name") or not item.get("id"):
            result.reject("organizations", item.get("id"), "an organization needs an id and a name")
            continue
        keep(
            "organizations",
            Organization(
                id=new_id("organizations", item["id"]),
                name=str(item["name"])[:200],
                kind=kind.value,
                alternate_name=item.get("alternate_name"),
                description=item.get("description") or "",
                email=item.get("email"),
                website=item.get("website"),
                source=source,
                source_id=str(item["id"]),
            ),
        )
    for item in tables.get("locations", []):
        latitude, longitude = _float(item.get("latitude")), _float(item.get("longitude"))
        organization = new_id("organizations", item.get("organization_id"))
        if (latitude is None) != (longitude is None):
            result.reject("locations", item.get("id"), "latitude and longitude come together")
            continue
        located = latitude is not None and longitude is not None
        if located and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
            result.reject("locations", item.get("id"), "coordinates out of range")
            continue
        owner = organization if organization in ok["organizations"] else None
        if owner is None:
            owner = _only(ok["organizations"])
        if owner is None or not item.get("id"):
            result.reject("locations", item.get("id"), "no organization to attach the location to")
            continue
        keep(
            "locations",
            Location(
                id=new_id("locations", item["id"]),
                organization_id=owner,
                location_type=item.get("location_type") or "physical",
                name=item.get("name"),
                alternate_name=item.get("alternate_name"),
                description=item.get("description"),
                transportation=item.get("transportation"),
                latitude=latitude,
                longitude=longitude,
                region_key=(
                    region_key(latitude, longitude)
                    if latitude is not None and longitude is not None
                    else None
                ),
                external_identifier=item.get("external_identifier"),
                external_identifier_type=item.get("external_identifier_type"),
                source=source,
                source_id=str(item["id"]),
            ),
        )
    for item in tables.get("services", []):
        organization = new_id("organizations", item.get("organization_id"))
        status = item.get("status") or "active"
        if not item.get("id") or not item.get("name"):
            result.reject("services", item.get("id"), "a service needs an id and a name")
        elif organization not in ok["organizations"]:
            result.reject("services", item.get("id"), "its organization is not in the feed")
        elif status not in {value.value for value in ServiceStatus}:
            result.reject("services", item.get("id"), "unknown status")
        else:
            minimum, maximum = _int(item.get("minimum_age")), _int(item.get("maximum_age"))
            if minimum is not None and maximum is not None and minimum > maximum:
                minimum = maximum = None
                result.reject(
                    "services", item.get("id"), "age range dropped: minimum above maximum"
                )
            keep(
                "services",
                Service(
                    id=new_id("services", item["id"]),
                    organization_id=organization,
                    name=str(item["name"])[:200],
                    alternate_name=item.get("alternate_name"),
                    description=item.get("description"),
                    url=item.get("url"),
                    email=item.get("email"),
                    status=status,
                    application_process=item.get("application_process"),
                    fees_description=item.get("fees_description"),
                    eligibility_description=item.get("eligibility_description"),
                    minimum_age=minimum,
                    maximum_age=maximum,
                    source=source,
                    source_id=str(item["id"]),
                ),
            )
    for item in tables.get("service_at_locations", []):
        service = new_id("services", item.get("service_id"))
        location = new_id("locations", item.get("location_id"))
        if service not in ok["services"] or location not in ok["locations"]:
            result.reject(
                "service_at_locations", item.get("id"), "its service or location was not imported"
            )
            continue
        keep(
            "service_at_locations",
            ServiceAtLocation(
                id=new_id("service_at_locations", item.get("id") or f"{service}/{location}"),
                service_id=service,
                location_id=location,
            ),
        )
    for item in tables.get("addresses", []):
        location = new_id("locations", item.get("location_id"))
        missing = [name for name in ("address_1", "city", "country") if not item.get(name)]
        if location not in ok["locations"] or missing:
            result.reject(
                "addresses",
                item.get("id"),
                "its location was not imported" if not missing else f"missing {', '.join(missing)}",
            )
            continue
        assert location is not None
        keep(
            "addresses",
            Address(
                id=new_id("addresses", item.get("id")),
                location_id=location,
                attention=item.get("attention"),
                address_1=item["address_1"],
                address_2=item.get("address_2"),
                city=item["city"],
                region=item.get("region"),
                state_province=item.get("state_province") or "",
                postal_code=item.get("postal_code") or "",
                country=item["country"],
                address_type=str(item.get("address_type") or "physical")
                if item.get("address_type") in {"physical", "postal", "virtual"}
                else "physical",
            ),
        )
    for item in tables.get("phones", []):
        number = re.sub(r"[\s().\"'-]", "", str(item.get("number") or ""))
        owners = {
            "service_id": new_id("services", item.get("service_id")),
            "location_id": new_id("locations", item.get("location_id")),
            "organization_id": new_id("organizations", item.get("organization_id")),
        }
        phone_owner = next(
            (
                (name, value)
                for name, value in owners.items()
                if value
                in ok[
                    {
                        "service_id": "services",
                        "location_id": "locations",
                        "organization_id": "organizations",
                    }[name]
                ]
            ),
            None,
        )
        if not _PHONE.fullmatch(number):
            result.reject("phones", item.get("id"), "not an E.164 number or short code")
        elif phone_owner is None:
            result.reject("phones", item.get("id"), "its owner was not imported")
        else:
            keep(
                "phones",
                Phone(
                    id=new_id("phones", item.get("id") or f"{phone_owner[1]}/{number}"),
                    number=number,
                    extension=_int(item.get("extension")),
                    type=item.get("type"),
                    description=item.get("description"),
                    **{phone_owner[0]: phone_owner[1]},
                ),
            )
    for item in tables.get("schedules", []):
        service = new_id("services", item.get("service_id"))
        location = new_id("locations", item.get("location_id"))
        days = [
            day.strip().upper() for day in str(item.get("byday") or "").split(",") if day.strip()
        ]
        opens, closes = _time(item.get("opens_at")), _time(item.get("closes_at"))
        if service not in ok["services"] and location not in ok["locations"]:
            result.reject("schedules", item.get("id"), "its service or location was not imported")
        elif any(day not in _WEEKDAYS for day in days):
            result.reject("schedules", item.get("id"), "byday is not a list of weekdays")
        else:
            owner_fields: dict[str, Any] = (
                {"service_id": service} if service in ok["services"] else {"location_id": location}
            )
            keep(
                "schedules",
                Schedule(
                    id=new_id("schedules", item.get("id")),
                    freq=item.get("freq")
                    if item.get("freq") in {"WEEKLY", "MONTHLY"}
                    else "WEEKLY",
                    byday=",".join(days) or None,
                    opens_at=opens,
                    closes_at=closes,
                    time_zone=time_zone,
                    description=item.get("description"),
                    attending_type=item.get("attending_type"),
                    notes=item.get("notes"),
                    **owner_fields,
                ),
            )
    for item in tables.get("languages", []):
        service = new_id("services", item.get("service_id"))
        location = new_id("locations", item.get("location_id"))
        code = item.get("code") or item.get("name")
        if not code or (service not in ok["services"] and location not in ok["locations"]):
            result.reject("languages", item.get("id"), "no code, or its owner was not imported")
            continue
        keep(
            "languages",
            Language(
                id=new_id("languages", item.get("id") or f"{service or location}/{code}"),
                name=item.get("name"),
                code=str(code)[:35],
                note=item.get("note"),
                **(
                    {"service_id": service}
                    if service in ok["services"]
                    else {"location_id": location}
                ),
            ),
        )
    for item in tables.get("taxonomies", []):
        if not item.get("id") or not item.get("name"):
            result.reject("taxonomies", item.get("id"), "a taxonomy needs an id and a name")
            continue
        keep(
            "taxonomies",
            Taxonomy(
                id=new_id("taxonomies", item["id"]),
                name=f"{item['name']} ({source})",
                description=item.get("description") or str(item["name"]),
                uri=item.get("uri"),
                version=item.get("version"),
            ),
        )
    for item in tables.get("taxonomy_terms", []):
        taxonomy = new_id("taxonomies", item.get("taxonomy_id"))
        if taxonomy not in ok["taxonomies"]:
            name = item.get("taxonomy") or f"taxonomy of {source}"
            taxonomy = new_id("taxonomies", name)
            if taxonomy not in ok["taxonomies"]:
                keep(
                    "taxonomies",
                    Taxonomy(id=taxonomy, name=f"{name} ({source})", description=str(name)),
                )
        if not item.get("id") or not item.get("name"):
            result.reject("taxonomy_terms", item.get("id"), "a term needs an id and a name")
            continue
        keep(
            "taxonomy_terms",
            TaxonomyTerm(
                id=new_id("taxonomy_terms", item["id"]),
                taxonomy_id=taxonomy,
                code=str(item.get("code") or item["id"]),
                name=str(item["name"]),
                description=item.get("description") or str(item["name"]),
                language=item.get("language"),
                term_uri=item.get("term_uri"),
            ),
        )
    for item in tables.get("attributes", []):
        term = new_id("taxonomy_terms", item.get("taxonomy_term_id"))
        service = new_id("services", item.get("link_id"))
        if term not in ok["taxonomy_terms"] or service not in ok["services"]:
            result.reject(
                "attributes",
                item.get("id"),
                "only links of imported services to imported terms are kept",
            )
            continue
        keep(
            "attributes",
            Attribute(
                id=new_id("attributes", item.get("id") or f"{service}/{term}"),
                link_id=service,
                link_entity="service",
                link_type=item.get("link_type"),
                taxonomy_term_id=term,
                value=item.get("value"),
                label=item.get("label"),
            ),
        )

    order = (
        "organizations",
        "taxonomies",
        "taxonomy_terms",
        "locations",
        "services",
        "service_at_locations",
        "addresses",
        "phones",
        "schedules",
        "languages",
        "attributes",
    )
    for table in order:
        fresh = []
        for row in rows.get(table, []):
            if not await directory_writes.exists(session, type(row), row.id):
                fresh.append(row)
        result.created[table] = len(fresh)
        result.present[table] = len(rows.get(table, [])) - len(fresh)
        await directory_writes.add_in_order(session, fresh)
    return result


def _only(ids: set[uuid.UUID]) -> uuid.UUID | None:
    """The feed's single organization, for tables that do not name one."""
    return next(iter(ids)) if len(ids) == 1 else None
