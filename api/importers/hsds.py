"""Import an Open Referral HSDS 3.x feed: a JSON document (one record, a list, or a paged
envelope of ``service``/``organization``/``service_at_location`` records, nested) or a tabular
data package (a folder of CSV files, one per table).

The feed is read into flat tables (``read_feed``), then each table's rows are made into directory
rows one by one (``_organization``, ``_location``, ... in ``TABLES`` order, so that what a row
attaches to is made before it), then written in ``WRITE_ORDER``. Ids derive from the source and
the feed's own ids, so importing the same feed again writes nothing new; an organisation,
location or service already there whose fields in the feed changed is updated in place (only
the fields the import owns, ``HSDS_UPDATED_COLUMNS``, only where a value differs; its version
moves), and partners hear ``directory.changed`` for every service created or changed (its own
row, its organisation's or a location of its). A row that fails a check
(a latitude of 100, a phone that is no number) is refused with a fixed reason, never its values,
and whatever depends on it is refused in turn; the rest of the feed imports. The caller commits
(the CLI: once, at the end) and writes the report (``HsdsImportResult.write``).
"""

import csv
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.geo.regions import region_key
from api.importers import ImportFileError, Refused, read_json
from api.importers.report import ImportReport, as_text_cell
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
from api.repositories import imports as import_repository
from api.repositories.imports import HSDS_UPDATED_COLUMNS
from api.services import events

Row = dict[str, Any]

NAMESPACE = uuid.UUID("3d9d0d64-8b9f-4a53-9f1c-2f7c2b6e5a41")
CSV_NAMES = {"service_at_location": "service_at_locations"}
REPORT_COLUMNS = ("table", "id", "reason")
# The column of a row naming its owner in each owning table (phones, schedules, languages).
OWNER_COLUMNS = {
    "services": "service_id",
    "locations": "location_id",
    "organizations": "organization_id",
}
_PHONE = re.compile(r"\+[1-9]\d{6,14}|\d{2,6}")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ADDRESS_TYPES = frozenset({"physical", "postal", "virtual"})


@dataclass
class HsdsImportResult:
    read: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    """Rows already there (updated in place or not)."""
    updated: dict[str, int] = field(default_factory=dict)
    """Rows already there whose fields in the feed changed: updated in place."""
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    """(table, the feed's id, reason) for every row not imported, or imported in part."""

    def report(self, source: str, file: str) -> ImportReport:
        """The run as every import's report (what the operator's page lists as a job): rows
        of every table counted together, the rejected ones with their table as the detail
        (a feed's rows have no line number: 0)."""
        done = ImportReport(
            kind="hsds",
            source=source,
            file=file,
            rows_read=sum(self.read.values()),
            rows_selected=sum(self.read.values()),
            created=sum(self.created.values()),
            updated=sum(self.updated.values()),
            already_present=sum(self.present.values()) - sum(self.updated.values()),
        )
        done.created_rows.update({table: n for table, n in self.created.items() if n})
        for table, original, reason in self.rejected:
            done.reject(0, original or None, reason, table)
        return done

    def reject(self, table: str, original: Any, reason: str) -> None:
        self.rejected.append((table, str(original or ""), reason))

    def write(self, path: Path) -> Path:
        """The CSV report of the rows refused (a feed's id a spreadsheet would run as a formula
        is written as text: ``as_text_cell``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            writer.writerows([as_text_cell(cell) for cell in row] for row in self.rejected)
        return path


def read_feed(path: Path) -> dict[str, list[Row]]:
    """The feed as flat HSDS tables, whatever its shape (a value holding NUL, which PostgreSQL
    text cannot hold, read as left out: ``_without_nul``)."""
    tables: dict[str, list[Row]] = defaultdict(list)
    if path.is_dir():
        for file in sorted(path.glob("*.csv")):
            name = CSV_NAMES.get(file.stem, file.stem)
            if name in TABLES:
                tables[name] = _csv_rows(file)
    else:
        document = read_json(path)
        records = document.get("contents", [document]) if isinstance(document, dict) else document
        for record in records:
            _flatten(record, tables)
    for rows in tables.values():
        rows[:] = [_without_nul(row) for row in rows]
    return tables


def _without_nul(value: Any) -> Any:
    """A row with every value holding NUL left out (in lists and nested records too), as the
    pages read a form's (``api.web.pages.posted``)."""
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items() if not _has_nul(item)}
    if isinstance(value, list):
        return [_without_nul(item) for item in value if not _has_nul(item)]
    return value


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _csv_rows(file: Path) -> list[Row]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return [
                {key: value for key, value in row.items() if value not in ("", None)}
                for row in csv.DictReader(handle)
            ]
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{file.name}: not UTF-8 text") from error
    except csv.Error as error:
        raise ImportFileError(f"{file.name}: malformed CSV") from error


def _flatten(record: Row, tables: dict[str, list[Row]]) -> None:
    if "service" in record or "location" in record:
        service = record.get("service")
        location = record.get("location")
        if service:
            _flatten_service(service, tables)
        if location:
            _flatten_location(location, tables)
        tables["service_at_locations"].append(
            {
                "id": record.get("id"),
                "service_id": record.get("service_id") or (service or {}).get("id"),
                "location_id": record.get("location_id") or (location or {}).get("id"),
            }
        )
    elif "status" in record or "service_at_locations" in record:
        _flatten_service(record, tables)
    else:
        _flatten_organization(record, tables)


def _plain(record: Row) -> Row:
    return {key: value for key, value in record.items() if not isinstance(value, dict | list)}


def _flatten_organization(record: Row, tables: dict[str, list[Row]]) -> None:
    tables["organizations"].append(_plain(record))
    for phone in record.get("phones", []):
        tables["phones"].append({**phone, "organization_id": record.get("id")})
    for location in record.get("locations", []):
        _flatten_location({**location, "organization_id": record.get("id")}, tables)
    for service in record.get("services", []):
        _flatten_service({**service, "organization_id": record.get("id")}, tables)


def _flatten_service(record: Row, tables: dict[str, list[Row]]) -> None:
    organization = record.get("organization")
    if isinstance(organization, dict):
        _flatten_organization(organization, tables)
    service = _plain(record)
    service.setdefault("organization_id", (organization or {}).get("id"))
    tables["services"].append(service)
    for name in ("phones", "schedules", "languages"):
        for item in record.get(name, []):
            tables[name].append({**item, "service_id": record.get("id"), "location_id": None})
    for attribute in record.get("attributes", []):
        _flatten_term(attribute.get("taxonomy_term"), tables)
        tables["attributes"].append({**_plain(attribute), "link_id": record.get("id")})
    for link in record.get("service_at_locations", []):
        location = link.get("location")
        if location:
            _flatten_location(location, tables)
        tables["service_at_locations"].append(
            {
                "id": link.get("id"),
                "service_id": record.get("id"),
                "location_id": link.get("location_id") or (location or {}).get("id"),
            }
        )


def _flatten_location(record: Row, tables: dict[str, list[Row]]) -> None:
    tables["locations"].append(_plain(record))
    for address in record.get("addresses", []):
        tables["addresses"].append({**address, "location_id": record.get("id")})
    for name in ("phones", "schedules", "languages"):
        for item in record.get(name, []):
            tables[name].append({**item, "location_id": record.get("id"), "service_id": None})


def _flatten_term(term: Row | None, tables: dict[str, list[Row]]) -> None:
    if not term:
        return
    detail = term.get("taxonomy_detail")
    if isinstance(detail, dict):
        tables["taxonomies"].append(_plain(detail))
    tables["taxonomy_terms"].append(_plain(term))


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


def _unique(rows: Iterable[Row]) -> list[Row]:
    """One row per id. Nested JSON repeats a record under each parent (a phone under its
    service, location and organization): the copies are merged, so every owner is known."""
    seen: dict[Any, Row] = {}
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


class _Feed:
    """The directory rows made so far, by table, with the ids made from the feed's own."""

    def __init__(
        self, source: str, kind: OrganizationKind, time_zone: str, result: HsdsImportResult
    ) -> None:
        self.source = source
        self.kind = kind
        self.time_zone = time_zone
        self.result = result
        self.rows: dict[str, list[Any]] = defaultdict(list)
        self.made: dict[str, set[uuid.UUID]] = defaultdict(set)

    def id(self, table: str, original: Any) -> uuid.UUID:
        """The row's id here; a row the feed gives no id to gets one no other row shares."""
        if original in (None, ""):
            return uuid.uuid4()
        return uuid.uuid5(NAMESPACE, f"{self.source}/{table}/{original}")

    def keep(self, table: str, row: Any) -> None:
        self.rows[table].append(row)
        self.made[table].add(row.id)

    def owner(self, item: Row, *tables: str) -> tuple[str, uuid.UUID] | None:
        """The column and id of the first of ``tables`` whose row the item names was made."""
        for table in tables:
            column = OWNER_COLUMNS[table]
            candidate = self.id(table, item.get(column))
            if candidate in self.made[table]:
                return column, candidate
        return None

    def only_organization(self) -> uuid.UUID | None:
        """The feed's single organization, for tables that do not name one."""
        made = self.made["organizations"]
        return next(iter(made)) if len(made) == 1 else None


def _organization(item: Row, feed: _Feed) -> Organization | Refused:
    if not item.get("name") or not item.get("id"):
        return Refused("an organization needs an id and a name")
    return Organization(
        id=feed.id("organizations", item["id"]),
        name=str(item["name"])[:200],
        kind=feed.kind.value,
        alternate_name=item.get("alternate_name"),
        description=item.get("description") or "",
        email=item.get("email"),
        website=item.get("website"),
        source=feed.source,
        source_id=str(item["id"]),
    )


def _location(item: Row, feed: _Feed) -> Location | Refused:
    latitude, longitude = _float(item.get("latitude")), _float(item.get("longitude"))
    if (latitude is None) != (longitude is None):
        return Refused("latitude and longitude come together")
    located = latitude is not None and longitude is not None
    if located and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
        return Refused("coordinates out of range")
    named = feed.owner(item, "organizations")
    owner = named[1] if named else feed.only_organization()
    if owner is None or not item.get("id"):
        return Refused("no organization to attach the location to")
    return Location(
        id=feed.id("locations", item["id"]),
        organization_id=owner,
        location_type=item.get("location_type") or "physical",
        name=item.get("name"),
        alternate_name=item.get("alternate_name"),
        description=item.get("description"),
        transportation=item.get("transportation"),
        latitude=latitude,
        longitude=longitude,
        region_key=region_key(latitude, longitude) if located else None,  # type: ignore[arg-type]
        external_identifier=item.get("external_identifier"),
        external_identifier_type=item.get("external_identifier_type"),
        source=feed.source,
        source_id=str(item["id"]),
    )


def _service(item: Row, feed: _Feed) -> Service | Refused:
    status = item.get("status") or "active"
    if not item.get("id") or not item.get("name"):
        return Refused("a service needs an id and a name")
    organization = feed.owner(item, "organizations")
    if organization is None:
        return Refused("its organization is not in the feed")
    if status not in {value.value for value in ServiceStatus}:
        return Refused("unknown status")
    minimum, maximum = _int(item.get("minimum_age")), _int(item.get("maximum_age"))
    if minimum is not None and maximum is not None and minimum > maximum:
        minimum = maximum = None
        feed.result.reject("services", item.get("id"), "age range dropped: minimum above maximum")
    return Service(
        id=feed.id("services", item["id"]),
        organization_id=organization[1],
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
        source=feed.source,
        source_id=str(item["id"]),
    )


def _service_at_location(item: Row, feed: _Feed) -> ServiceAtLocation | Refused:
    service = feed.owner(item, "services")
    location = feed.owner(item, "locations")
    if service is None or location is None:
        return Refused("its service or location was not imported")
    return ServiceAtLocation(
        id=feed.id("service_at_locations", item.get("id") or f"{service[1]}/{location[1]}"),
        service_id=service[1],
        location_id=location[1],
    )


def _address(item: Row, feed: _Feed) -> Address | Refused:
    missing = [name for name in ("address_1", "city", "country") if not item.get(name)]
    if missing:
        return Refused(f"missing {', '.join(missing)}")
    location = feed.owner(item, "locations")
    if location is None:
        return Refused("its location was not imported")
    address_type = item.get("address_type")
    return Address(
        id=feed.id("addresses", item.get("id")),
        location_id=location[1],
        attention=item.get("attention"),
        address_1=item["address_1"],
        address_2=item.get("address_2"),
        city=item["city"],
        region=item.get("region"),
        state_province=item.get("state_province") or "",
        postal_code=item.get("postal_code") or "",
        country=item["country"],
        address_type=str(address_type) if address_type in _ADDRESS_TYPES else "physical",
    )


def _phone(item: Row, feed: _Feed) -> Phone | Refused:
    number = re.sub(r"[\s().\"'-]", "", str(item.get("number") or ""))
    if not _PHONE.fullmatch(number):
        return Refused("not an E.164 number or short code")
    owner = feed.owner(item, "services", "locations", "organizations")
    if owner is None:
        return Refused("its owner was not imported")
    column, owner_id = owner
    owned: dict[str, Any] = {column: owner_id}
    return Phone(
        id=feed.id("phones", item.get("id") or f"{owner_id}/{number}"),
        number=number,
        extension=_int(item.get("extension")),
        type=item.get("type"),
        description=item.get("description"),
        **owned,
    )


def _schedule(item: Row, feed: _Feed) -> Schedule | Refused:
    owner = feed.owner(item, "services", "locations")
    days = [day.strip().upper() for day in str(item.get("byday") or "").split(",") if day.strip()]
    if owner is None:
        return Refused("its service or location was not imported")
    if any(day not in _WEEKDAYS for day in days):
        return Refused("byday is not a list of weekdays")
    column, owner_id = owner
    owned: dict[str, Any] = {column: owner_id}
    return Schedule(
        id=feed.id("schedules", item.get("id")),
        freq=item.get("freq") if item.get("freq") in {"WEEKLY", "MONTHLY"} else "WEEKLY",
        byday=",".join(days) or None,
        opens_at=_time(item.get("opens_at")),
        closes_at=_time(item.get("closes_at")),
        time_zone=feed.time_zone,
        description=item.get("description"),
        attending_type=item.get("attending_type"),
        notes=item.get("notes"),
        **owned,
    )


def _language(item: Row, feed: _Feed) -> Language | Refused:
    code = item.get("code") or item.get("name")
    owner = feed.owner(item, "services", "locations")
    if not code or owner is None:
        return Refused("no code, or its owner was not imported")
    column, owner_id = owner
    owned: dict[str, Any] = {column: owner_id}
    return Language(
        id=feed.id("languages", item.get("id") or f"{owner_id}/{code}"),
        name=item.get("name"),
        code=str(code)[:35],
        note=item.get("note"),
        **owned,
    )


def _taxonomy(item: Row, feed: _Feed) -> Taxonomy | Refused:
    if not item.get("id") or not item.get("name"):
        return Refused("a taxonomy needs an id and a name")
    return Taxonomy(
        id=feed.id("taxonomies", item["id"]),
        name=f"{item['name']} ({feed.source})",
        description=item.get("description") or str(item["name"]),
        uri=item.get("uri"),
        version=item.get("version"),
    )


def _taxonomy_term(item: Row, feed: _Feed) -> TaxonomyTerm | Refused:
    taxonomy = feed.id("taxonomies", item.get("taxonomy_id"))
    if taxonomy not in feed.made["taxonomies"]:
        # A term whose taxonomy the feed does not carry: one made for its name, or the feed's.
        name = item.get("taxonomy") or f"taxonomy of {feed.source}"
        taxonomy = feed.id("taxonomies", name)
        if taxonomy not in feed.made["taxonomies"]:
            feed.keep(
                "taxonomies",
                Taxonomy(id=taxonomy, name=f"{name} ({feed.source})", description=str(name)),
            )
    if not item.get("id") or not item.get("name"):
        return Refused("a term needs an id and a name")
    return TaxonomyTerm(
        id=feed.id("taxonomy_terms", item["id"]),
        taxonomy_id=taxonomy,
        code=str(item.get("code") or item["id"]),
        name=str(item["name"]),
        description=item.get("description") or str(item["name"]),
        language=item.get("language"),
        term_uri=item.get("term_uri"),
    )


def _attribute(item: Row, feed: _Feed) -> Attribute | Refused:
    term = feed.id("taxonomy_terms", item.get("taxonomy_term_id"))
    service = feed.id("services", item.get("link_id"))
    if term not in feed.made["taxonomy_terms"] or service not in feed.made["services"]:
        return Refused("only links of imported services to imported terms are kept")
    return Attribute(
        id=feed.id("attributes", item.get("id") or f"{service}/{term}"),
        link_id=service,
        link_entity="service",
        link_type=item.get("link_type"),
        taxonomy_term_id=term,
        value=item.get("value"),
        label=item.get("label"),
    )


# Each table of the feed and what makes its rows, in the order they are made: a row's owners
# before it.
TABLES: dict[str, Callable[[Row, _Feed], Any]] = {
    "organizations": _organization,
    "locations": _location,
    "services": _service,
    "service_at_locations": _service_at_location,
    "addresses": _address,
    "phones": _phone,
    "schedules": _schedule,
    "languages": _language,
    "taxonomies": _taxonomy,
    "taxonomy_terms": _taxonomy_term,
    "attributes": _attribute,
}
# The order of the inserts: every foreign key's row first.
WRITE_ORDER = (
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


async def import_feed(
    session: AsyncSession,
    path: Path,
    *,
    source: str,
    kind: OrganizationKind = OrganizationKind.ngo,
    time_zone: str = "UTC",
) -> HsdsImportResult:
    """Import the feed at ``path`` (a JSON file or a folder of CSV tables) as ``source``: its
    organisations get ``kind``, its hours ``time_zone``."""
    tables = {name: _unique(rows) for name, rows in read_feed(path).items()}
    result = HsdsImportResult(read={name: len(rows) for name, rows in tables.items() if rows})
    feed = _Feed(source, kind, time_zone, result)
    for table, make in TABLES.items():
        for item in tables.get(table, []):
            made = make(item, feed)
            if isinstance(made, Refused):
                result.reject(table, item.get("id"), made.reason)
            else:
                feed.keep(table, made)
    changed: dict[str, set[uuid.UUID]] = {}
    new_services: set[uuid.UUID] = set()
    for table in WRITE_ORDER:
        rows = feed.rows.get(table, [])
        fresh = [
            row for row in rows if not await directory_writes.exists(session, type(row), row.id)
        ]
        result.created[table] = len(fresh)
        result.present[table] = len(rows) - len(fresh)
        await directory_writes.add_in_order(session, fresh)
        if table == "locations":
            await import_repository.fill_admin_areas(session, [row.id for row in fresh])
        if table == "services":
            new_services = {row.id for row in fresh}
        owned = _OWNED.get(table)
        if owned is not None:
            made = {row.id for row in fresh}
            present = [_owned_values(row, owned) for row in rows if row.id not in made]
            updated = await import_repository.update_changed(
                session, owned, HSDS_UPDATED_COLUMNS[owned], present
            )
            changed[table] = {row_id for row_id, _ in updated}
            result.updated[table] = len(updated)
    await events.public_services_changed(session, _service_changes(feed, new_services, changed))
    return result


# The feed's tables updated in place on a re-import, and their directory tables.
_OWNED = {"organizations": "organization", "locations": "location", "services": "service"}


def _owned_values(row: Any, table: str) -> dict[str, Any]:
    values = {name: getattr(row, name) for name, _ in HSDS_UPDATED_COLUMNS[table]}
    return {"id": row.id, **values}


def _service_changes(
    feed: _Feed, new_services: set[uuid.UUID], changed: dict[str, set[uuid.UUID]]
) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """``directory.changed`` for each service of the feed created (``create``), or whose row,
    organisation or one of whose locations changed (``update``)."""
    moved = changed.get("locations", set())
    at_changed_location = {
        link.service_id
        for link in feed.rows.get("service_at_locations", [])
        if link.location_id in moved
    }
    changes = []
    for service in feed.rows.get("services", []):
        if service.id in new_services:
            changes.append((service.id, service.organization_id, "create"))
        elif (
            service.id in changed.get("services", set())
            or service.organization_id in changed.get("organizations", set())
            or service.id in at_changed_location
        ):
            changes.append((service.id, service.organization_id, "update"))
    return changes
