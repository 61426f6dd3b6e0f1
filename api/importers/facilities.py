"""Health facilities from public datasets, as directory rows a referral can point to.

Two mappings: ``who-kemri`` (the WHO/KEMRI-Wellcome database of public-sector health facilities
in sub-Saharan Africa, Maina et al. 2019) and ``healthsites`` (the healthsites.io extract of
OpenStreetMap). Each accepted row becomes one organisation (kind ``health``), one physical
location, one public service that does not accept referrals through Relay (nobody at the facility
has agreed to), their service-at-location link, and ``attribute`` rows naming the referral needs
the facility's type implies: a health facility gives medical care; a maternity, also maternal and
infant health. Nothing else is claimed. Whether a facility offers post-rape care or psychosocial
support is not in these datasets, and a survivor sent somewhere on a guess loses hours she may
not have. Pharmacies and dentists (healthsites) are not referral points and are skipped.

Batches and transactions: facilities are written ``batch_size`` at a time, the five tables of a
batch in one transaction, and ``after_batch`` runs after each batch (the CLI passes
``session.commit``; tests pass nothing and roll back). A crash loses at most the batch being
written, never part of a facility, and the next run inserts only what is missing, instead of
holding one 500,000-row transaction open for minutes and starting it over after a failure.
"""

import csv
import hashlib
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.geo.regions import region_key
from api.importers import ImportFileError, Refused, record_id
from api.importers.report import ImportReport, default_report_path
from api.models.directory import LocationType, ServiceStatus, Visibility
from api.models.organization import OrganizationKind, OrganizationStatus
from api.repositories import imports as repository
from api.services import events
from api.taxonomy import NEED_CODES, term_id

Row = Mapping[str, str | None]
Progress = Callable[[int], None]

MEDICAL_CARE = "medical-care"
MATERNAL_INFANT_HEALTH = "maternal-infant-health"
NAME_MAXIMUM_LENGTH = 200  # organization.name's CHECK constraint
BATCH_SIZE = 1000
PROGRESS_EVERY = 2000  # rows read between progress updates, batch or not

_NEED_IDS = {code: term_id(code) for code in NEED_CODES}
_HEALTH = OrganizationKind.health.value
_ORGANIZATION_ACTIVE = OrganizationStatus.active.value
_PHYSICAL = LocationType.physical.value
_ACTIVE = ServiceStatus.active.value
_PUBLIC = Visibility.public.value
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# The column naming a row's facility (its organisation), per table updated on a re-import.
_OWNER = {"organization": "id", "location": "organization_id", "service": "organization_id"}


@dataclass(frozen=True)
class NamedPlace:
    """What a facility is called and where it is (WGS 84 degrees)."""

    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Facility:
    """One accepted source row, ready to become directory rows."""

    source_id: str
    place: NamedPlace
    needs: tuple[str, ...]
    organization_description: str
    service_description: str
    external_identifier: str | None = None
    external_identifier_type: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class FacilityMapping:
    """How one dataset's columns become a ``Facility``."""

    source: str
    columns: frozenset[str]
    country_column: str
    source_id: Callable[[Row], str | None]
    parse: Callable[[Row, str], "Facility | Refused"]


def _text(row: Row, column: str) -> str:
    """A cell with its whitespace collapsed, in Unicode NFC (so the same name always hashes and
    compares the same)."""
    return unicodedata.normalize("NFC", " ".join((row.get(column) or "").split()))


def _name(text: str) -> str | Refused:
    if not text:
        return Refused("no name")
    if len(text) > NAME_MAXIMUM_LENGTH:
        return Refused(f"name longer than {NAME_MAXIMUM_LENGTH} characters")
    return text


def _coordinates(latitude_text: str, longitude_text: str) -> tuple[float, float] | Refused:
    if not latitude_text or not longitude_text:
        return Refused("no coordinates")
    if not (_NUMBER.fullmatch(latitude_text) and _NUMBER.fullmatch(longitude_text)):
        return Refused("coordinates not numeric")
    latitude, longitude = float(latitude_text), float(longitude_text)
    if not -90 <= latitude <= 90:
        return Refused("latitude out of range")
    if not -180 <= longitude <= 180:
        return Refused("longitude out of range")
    if latitude == 0 and longitude == 0:
        return Refused("coordinates are 0,0 (a missing value, not a place)")
    return latitude, longitude


def _named_place(
    row: Row, name_column: str, latitude_column: str, longitude_column: str
) -> NamedPlace | Refused:
    """The row's name and coordinates, or why it has no usable one."""
    name = _name(_text(row, name_column))
    if isinstance(name, Refused):
        return name
    place = _coordinates(_text(row, latitude_column), _text(row, longitude_column))
    if isinstance(place, Refused):
        return place
    return NamedPlace(name, *place)


def _coordinate_key(text: str) -> str:
    """``12.50`` and ``12.5`` are the same place: hash the number, not its spelling."""
    return repr(float(text)) if _NUMBER.fullmatch(text) else text


# --- WHO / KEMRI-Wellcome ------------------------------------------------------------------------

WHO_KEMRI = "who-kemri"
WHO_KEMRI_CITATION = (
    "WHO/KEMRI-Wellcome database of public health facilities in sub-Saharan Africa "
    "(Maina et al., Scientific Data 2019)"
)
# The harmonised ``facility_type_9`` categories: every one is a place that gives medical care.
WHO_CARE_CATEGORIES = frozenset(
    {
        "Hospital",
        "Health Centre",
        "Health Clinic",
        "Health Post",
        "Dispensary",
        "Medical Center",
        "Polyclinic",
        "Community Health Unit",
        "Health Hut",
        "Health Station",
        "Maternity",
    }
)
WHO_MATERNITY_CATEGORIES = frozenset({"Maternity"})
# National ``Facility type`` labels that say "maternity" (not "Clinic without Maternity").
WHO_MATERNITY_TYPES = frozenset(
    label.casefold()
    for label in (
        "Maternal & Child Health Centre",
        "Maternal & Child Health Post",
        "Centro Materno Infantil",
        "Centro Sanatorio Materno Infantil",
        "Clinic with Maternity",
    )
)
# For the few rows without a harmonised category: words of the national label that mean a
# place of care (hospital, clinic, health centre/post, médico, dispensary, santé, saúde).
_WHO_CARE_WORDS = re.compile(r"hospi|clinic|health|sant[eé]|sa[uú]de|sanit|m[eé]dic|dispens|post")


def who_kemri_source_id(row: Row) -> str:
    """The dataset has no id column: ``ISO3-`` and 16 hex digits of the SHA-256 of Country,
    Admin1, Facility name, Lat and Long (whitespace collapsed, NFC, numbers as numbers). Two rows
    that agree on all five are the same facility listed twice."""
    parts = [_text(row, column) for column in ("Country", "Admin1", "Facility name")]
    parts += [_coordinate_key(_text(row, column)) for column in ("Lat", "Long")]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    country = _text(row, "iso3c").upper()
    return f"{country}-{digest}" if country else digest


def who_kemri_needs(category: str, facility_type: str) -> tuple[str, ...]:
    """Referral needs a WHO/KEMRI facility's type implies (``WHO_*`` tables above)."""
    needs: list[str] = []
    if category in WHO_CARE_CATEGORIES or (
        not category and _WHO_CARE_WORDS.search(facility_type.casefold())
    ):
        needs.append(MEDICAL_CARE)
    if category in WHO_MATERNITY_CATEGORIES or facility_type.casefold() in WHO_MATERNITY_TYPES:
        needs.append(MATERNAL_INFANT_HEALTH)
    return tuple(needs)


def _parse_who_kemri(row: Row, source_id: str) -> Facility | Refused:
    place = _named_place(row, "Facility name", "Lat", "Long")
    if isinstance(place, Refused):
        return place
    facility_type = _text(row, "Facility type")
    needs = who_kemri_needs(_text(row, "facility_type_9"), facility_type)
    where = ", ".join(part for part in (_text(row, "Admin1"), _text(row, "Country")) if part)
    ownership = _text(row, "Ownership")
    kind = f" ({facility_type})" if facility_type else ""
    return Facility(
        source_id=source_id,
        place=place,
        needs=needs,
        organization_description=(
            f"{facility_type or 'Health facility'} in {where or 'sub-Saharan Africa'}."
            + (f" Ownership: {ownership}." if ownership else "")
        ),
        service_description=f"Public-sector health facility{kind} listed in the "
        f"{WHO_KEMRI_CITATION}.",
        note=None if needs else "facility type not mapped to a referral need",
    )


# --- healthsites.io / OpenStreetMap --------------------------------------------------------------

HEALTHSITES = "healthsites"
HEALTHSITES_CITATION = (
    "healthsites.io extract of OpenStreetMap, March 2020 (© OpenStreetMap contributors, ODbL)"
)
# The ``amenity`` tag (or, when it is empty, the first ``healthcare`` value) of imported rows,
# with the label shown in descriptions. Everything imported gives medical care.
HEALTHSITES_TYPES = {
    "hospital": "Hospital",
    "clinic": "Clinic",
    "doctors": "Doctors' practice",
    "doctor": "Doctors' practice",
    "centre": "Health centre",
    "birthing_center": "Birthing centre",
}
# Places people buy medicines or have teeth treated: not where a survivor is referred.
HEALTHSITES_NOT_REFERRAL_POINTS = {
    "pharmacy": "pharmacy: not a referral point",
    "dentist": "dentist: not a referral point",
}
HEALTHSITES_MATERNITY_VALUES = frozenset({"birthing_center", "maternity", "obstetrics", "midwife"})
HEALTHSITES_CLOSED = frozenset({"non operational", "closed"})
_OSM_TYPES = frozenset({"node", "way", "relation"})
_OSM_ID = re.compile(r"-?\d+")


def _tag_values(text: str) -> list[str]:
    return [value.strip().strip('"').casefold() for value in text.split(";") if value.strip()]


def healthsites_source_id(row: Row) -> str | None:
    """``osm_type/osm_id``, e.g. ``node/4347490893``: OpenStreetMap's own identity."""
    osm_type, osm_id = _text(row, "osm_type").casefold(), _text(row, "osm_id")
    if osm_type in _OSM_TYPES and _OSM_ID.fullmatch(osm_id):
        return f"{osm_type}/{osm_id}"
    return None


def _parse_healthsites(row: Row, source_id: str) -> Facility | Refused:
    amenity = _text(row, "amenity").casefold()
    healthcare = _tag_values(_text(row, "healthcare"))
    kind = amenity or (healthcare[0] if healthcare else "")
    if kind in HEALTHSITES_NOT_REFERRAL_POINTS:
        return Refused(HEALTHSITES_NOT_REFERRAL_POINTS[kind])
    label = HEALTHSITES_TYPES.get(kind)
    if label is None:
        return Refused("amenity not imported: not a referral point")
    status = _text(row, "operational_status").casefold().replace("_", " ").replace("-", " ")
    if status in HEALTHSITES_CLOSED:
        return Refused("not operational according to the source")
    place = _named_place(row, "name", "lat", "lon")
    if isinstance(place, Refused):
        return place
    tags = {kind, *healthcare, *_tag_values(_text(row, "speciality"))}
    needs = (
        (MEDICAL_CARE, MATERNAL_INFANT_HEALTH)
        if tags & HEALTHSITES_MATERNITY_VALUES
        else (MEDICAL_CARE,)
    )
    country = _text(row, "country")
    return Facility(
        source_id=source_id,
        place=place,
        needs=needs,
        organization_description=f"{label} in {country or 'Africa'}.",
        service_description=f"Health facility ({label.lower()}) mapped in the "
        f"{HEALTHSITES_CITATION}.",
        external_identifier=source_id,
        external_identifier_type="openstreetmap",
    )


MAPPINGS: dict[str, FacilityMapping] = {
    WHO_KEMRI: FacilityMapping(
        source=WHO_KEMRI,
        columns=frozenset(
            {"Country", "Admin1", "Facility name", "Facility type", "Lat", "Long", "iso3c"}
            | {"Ownership", "facility_type_9"}
        ),
        country_column="iso3c",
        source_id=who_kemri_source_id,
        parse=_parse_who_kemri,
    ),
    HEALTHSITES: FacilityMapping(
        source=HEALTHSITES,
        columns=frozenset(
            {"lon", "lat", "country", "iso3c", "name", "amenity", "healthcare", "osm_id"}
            | {"osm_type", "speciality", "operational_status"}
        ),
        country_column="iso3c",
        source_id=healthsites_source_id,
        parse=_parse_healthsites,
    ),
}


def directory_rows(source: str, facilities: Sequence[Facility]) -> dict[str, list[dict[str, Any]]]:
    """The rows of each directory table for a batch of facilities, with deterministic ids."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in repository.FACILITY_TABLES}
    for facility in facilities:
        organization_id = record_id(source, facility.source_id, "organization")
        location_id = record_id(source, facility.source_id, "location")
        service_id = record_id(source, facility.source_id, "service")
        region = region_key(facility.place.latitude, facility.place.longitude)
        common = {"source": source, "source_id": facility.source_id}
        tables["organization"].append(
            {
                "id": organization_id,
                "name": facility.place.name,
                "kind": _HEALTH,
                "status": _ORGANIZATION_ACTIVE,
                "description": facility.organization_description,
                "visibility": _PUBLIC,
                **common,
            }
        )
        tables["location"].append(
            {
                "id": location_id,
                "organization_id": organization_id,
                "location_type": _PHYSICAL,
                "name": facility.place.name,
                "latitude": facility.place.latitude,
                "longitude": facility.place.longitude,
                "region_key": region,
                "external_identifier": facility.external_identifier,
                "external_identifier_type": facility.external_identifier_type,
                "visibility": _PUBLIC,
                **common,
            }
        )
        tables["service"].append(
            {
                "id": service_id,
                "organization_id": organization_id,
                "name": facility.place.name,
                "description": facility.service_description,
                "status": _ACTIVE,
                "accepts_referrals": False,
                "visibility": _PUBLIC,
                **common,
            }
        )
        tables["service_at_location"].append(
            {
                "id": record_id(source, facility.source_id, "service_at_location"),
                "service_id": service_id,
                "location_id": location_id,
                "region_key": region,
            }
        )
        for code in facility.needs:
            tables["attribute"].append(
                {
                    "id": record_id(source, facility.source_id, "attribute", code),
                    "link_id": service_id,
                    "link_entity": "service",
                    "link_type": "need",
                    "taxonomy_term_id": _NEED_IDS[code],
                }
            )
    return tables


async def import_facilities(
    session: AsyncSession,
    path: Path,
    mapping: str,
    *,
    countries: Collection[str] = (),
    limit: int | None = None,
    report_path: Path | None = None,
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[], Awaitable[None]] | None = None,
    advance: Progress | None = None,
) -> ImportReport:
    """Import a facilities CSV with ``mapping`` (a key of ``MAPPINGS``); write the CSV report
    and return the counts. ``countries`` (ISO3 codes) and ``limit`` select rows; ``advance`` is
    told how many more rows were read, after each batch and every ``PROGRESS_EVERY`` rows."""
    chosen = MAPPINGS[mapping]
    report = ImportReport(kind="facilities", source=chosen.source, file=path.name)
    started = time.perf_counter()
    wanted = {country.strip().upper() for country in countries}
    first_row_of: dict[str, int] = {}
    batch: list[Facility] = []
    reported_read = 0

    def show_progress() -> None:
        nonlocal reported_read
        if advance is not None:
            advance(report.rows_read - reported_read)
        reported_read = report.rows_read

    async def write_batch() -> None:
        if batch:
            await _write(session, chosen.source, batch, report)
            batch.clear()
            if after_batch is not None:
                await after_batch()
        show_progress()

    number = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None) or []
            missing = chosen.columns - set(header)
            if missing:
                raise ImportFileError(
                    f"not a {chosen.source} file: missing columns {', '.join(sorted(missing))}"
                )
            country_index = header.index(chosen.country_column)
            for number, values in enumerate(reader, start=2):
                if limit is not None and report.rows_selected >= limit:
                    break
                report.rows_read += 1
                if report.rows_read % PROGRESS_EVERY == 0:
                    show_progress()
                # Filter before building the row: most rows of a one-country import are skipped.
                if wanted and (
                    len(values) <= country_index
                    or values[country_index].strip().upper() not in wanted
                ):
                    continue
                report.rows_selected += 1
                row = dict(zip(header, values, strict=False))
                accepted = _accept(chosen, row, number, first_row_of, report)
                if accepted is not None:
                    batch.append(accepted)
                    if len(batch) >= batch_size:
                        await write_batch()
    except UnicodeDecodeError as error:
        raise ImportFileError(f"not UTF-8 text (near row {number})") from error
    except csv.Error as error:
        raise ImportFileError(f"malformed CSV (near row {number})") from error
    await write_batch()
    report.seconds = time.perf_counter() - started
    report.write(report_path or default_report_path("facilities", chosen.source))
    return report


def _accept(
    mapping: FacilityMapping,
    row: Row,
    number: int,
    first_row_of: dict[str, int],
    report: ImportReport,
) -> Facility | None:
    source_id = mapping.source_id(row)
    if source_id is None:
        report.reject(number, None, "no usable identifier (osm_type/osm_id)")
        return None
    parsed = mapping.parse(row, source_id)
    if isinstance(parsed, Refused):
        report.reject(number, source_id, parsed.reason, parsed.detail)
        return None
    first = first_row_of.setdefault(source_id, number)
    if first != number:
        report.reject(number, source_id, "duplicate source_id", f"first kept: row {first}")
        return None
    if parsed.note:
        report.note(number, source_id, parsed.note)
    return parsed


async def _write(
    session: AsyncSession, source: str, batch: Sequence[Facility], report: ImportReport
) -> None:
    rows = directory_rows(source, batch)
    created = await repository.insert_new_rows(session, rows)
    for table, ids in created.items():
        report.created_rows[table] += len(ids)
    await repository.fill_admin_areas(session, created["location"])
    new = set(created["organization"])
    present = {
        table: [row for row in rows[table] if row[_OWNER[table]] not in new]
        for table in ("organization", "location", "service")
    }
    changed = await repository.update_changed_facilities(session, present)
    report.created += len(new)
    report.updated += len(changed)
    report.already_present += len(batch) - len(new) - len(changed)
    # Partners hear of every service created or changed (one event per facility).
    await events.public_services_changed(
        session,
        [
            (row["id"], row["organization_id"], "create")
            for row in rows["service"]
            if row["organization_id"] in new
        ]
        + [
            (row["id"], row["organization_id"], "update")
            for row in rows["service"]
            if row["source_id"] in changed
        ],
    )
