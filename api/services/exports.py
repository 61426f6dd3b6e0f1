"""Exports of the directory as HSDS JSON, CSV or GeoJSON, for use in other tools.

An export is shaped by the same ``Viewer`` as the HSDS API: by default it is what an anonymous
caller may see (public records, confidential places without their position), because an export
file leaves Relay's access control. Wider exports must be asked for explicitly.
"""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.filters import DirectoryFilters
from api.services import hsds

BATCH = 200
CSV_COLUMNS = [
    "service_id",
    "service_name",
    "organization_name",
    "organization_kind",
    "needs",
    "status",
    "accepts_referrals",
    "eligibility",
    "phones",
    "hours",
    "location_name",
    "latitude",
    "longitude",
    "address",
    "area",
    "confidential",
]


class ExportFormat(StrEnum):
    hsds = "hsds"
    csv = "csv"
    geojson = "geojson"


async def services(
    session: AsyncSession, viewer: Viewer, area_id: uuid.UUID | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every visible service, fully nested, optionally only those located in an area."""
    every = hsds.each_service(
        session, viewer, DirectoryFilters(), full=True, batch=BATCH, area_id=area_id
    )
    async for service in every:
        yield service


def _hours(schedules: list[dict[str, Any]]) -> str:
    return "; ".join(item.get("description") or item.get("byday", "") for item in schedules)


def _needs(service: dict[str, Any]) -> str:
    return " ".join(item["taxonomy_term"]["code"] for item in service.get("attributes", []))


def _places(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [link["location"] for link in service.get("service_at_locations", [])] or [{}]


def csv_rows(service: dict[str, Any]) -> list[dict[str, Any]]:
    organization = service.get("organization", {})
    phones = " ".join(phone["number"] for phone in service.get("phones", []))
    rows = []
    for location in _places(service):
        address: dict[str, Any] = next(iter(location.get("addresses", [])), {})
        rows.append(
            {
                "service_id": service["id"],
                "service_name": service["name"],
                "organization_name": organization.get("name", ""),
                "organization_kind": organization.get("kind", ""),
                "needs": _needs(service),
                "status": service.get("status", ""),
                "accepts_referrals": service.get("accepts_referrals", False),
                "eligibility": service.get("eligibility_description", ""),
                "phones": phones,
                "hours": _hours(service.get("schedules", [])),
                "location_name": location.get("name", ""),
                "latitude": location.get("latitude", ""),
                "longitude": location.get("longitude", ""),
                "address": ", ".join(
                    part
                    for part in (
                        address.get("address_1"),
                        address.get("city"),
                        address.get("country"),
                    )
                    if part
                ),
                "area": (location.get("admin_area") or {}).get("name", ""),
                "confidential": bool(location.get("confidential")),
            }
        )
    return rows


def geojson_features(service: dict[str, Any]) -> list[dict[str, Any]]:
    """One point feature per place; a redacted place has no geometry."""
    features = []
    for row, location in zip(csv_rows(service), _places(service), strict=True):
        located = "latitude" in location and "longitude" in location
        features.append(
            {
                "type": "Feature",
                "id": f"{service['id']}/{location.get('id', 'no-location')}",
                "geometry": (
                    {"type": "Point", "coordinates": [location["longitude"], location["latitude"]]}
                    if located
                    else None
                ),
                "properties": {
                    key: value for key, value in row.items() if key not in {"latitude", "longitude"}
                },
            }
        )
    return features


async def _pieces(
    session: AsyncSession, viewer: Viewer, export_format: ExportFormat, area_id: uuid.UUID | None
) -> AsyncIterator[tuple[str, int]]:
    """The export as text pieces, each with the number of services it completes (0 or 1)."""
    if export_format is ExportFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        async for service in services(session, viewer, area_id):
            writer.writerows(csv_rows(service))
            yield buffer.getvalue(), 1
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue(), 0
        return
    yield (
        (
            '{"type": "FeatureCollection", "features": [\n'
            if export_format is ExportFormat.geojson
            else "[\n"
        ),
        0,
    )
    first = True
    async for service in services(session, viewer, area_id):
        items = geojson_features(service) if export_format is ExportFormat.geojson else [service]
        text = []
        for item in items:
            text.append(("" if first else ",\n") + json.dumps(item, ensure_ascii=False))
            first = False
        yield "".join(text), 1
    yield ("\n]}\n" if export_format is ExportFormat.geojson else "\n]\n"), 0


async def chunks(
    session: AsyncSession,
    viewer: Viewer,
    export_format: ExportFormat,
    area_id: uuid.UUID | None = None,
) -> AsyncIterator[str]:
    """The export, piece by piece (for a streamed download)."""
    async for text, _ in _pieces(session, viewer, export_format, area_id):
        yield text


async def write(
    session: AsyncSession,
    viewer: Viewer,
    export_format: ExportFormat,
    output: TextIO,
    area_id: uuid.UUID | None = None,
) -> int:
    """Write the export to ``output``; returns the number of services written."""
    count = 0
    async for text, completed in _pieces(session, viewer, export_format, area_id):
        output.write(text)
        count += completed
    return count
