"""Administrative areas (country > region > district > commune) from GeoJSON into ``admin_area``.

Defaults fit the files in ``../shared/data/admin_boundaries/``: the name is the first of
``shapeName`` (geoBoundaries), ``NAME`` (Nepal municipalities), ``DISTRICT`` (Nepal districts) or
``name`` that the file has; the code is ``shapeISO`` when present; the country is ``--country``
or geoBoundaries' ``shapeGroup``. ``source`` is the file's stem and ``source_id`` the feature's
``id``, else its ``shapeID`` or ``id`` property, else its name; a ``source_id`` seen twice in one
file (the Nepal file has municipalities in several parts) gets ``#2``, ``#3`` in file order and a
line in the report, rather than a part silently dropped.

Polygons become MultiPolygons (SRID 4326, 2D). An invalid geometry is repaired by PostGIS
(``ST_MakeValid``, keeping the polygonal part) and noted in the report; one that no repair can
make a polygon, a non-polygon or a malformed one is rejected. The whole file is one transaction:
a boundary set half imported would leave points that fall in no area.
"""

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncSession

from api.importers import ImportFileError, read_json, record_id
from api.importers.report import ImportReport, default_report_path
from api.repositories import imports as repository

Progress = Callable[[int], None]

DEFAULT_NAME_PROPERTIES = ("shapeName", "NAME", "DISTRICT", "name")
DEFAULT_CODE_PROPERTIES = ("shapeISO",)
ID_PROPERTIES = ("shapeID", "id")
COUNTRY_PROPERTIES = ("shapeGroup",)
WGS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        "EPSG:4326",
    }
)
POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
BATCH_SIZE = 100  # features per statement: boundary polygons are large
NAME_MAXIMUM_LENGTH = 200
_WHERE_IN_REASON = re.compile(r"\[.*\]$")  # GEOS appends the coordinates of the fault


@dataclass(frozen=True)
class AreaProperties:
    """Which feature properties hold the name and the code."""

    name: str
    code: str | None


def choose_properties(
    features: Sequence[dict[str, Any]], name_property: str | None, code_property: str | None
) -> AreaProperties:
    """The properties to read, chosen once per file so every feature is read the same way."""
    present: set[str] = set()
    for feature in features:
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if isinstance(properties, dict):
            present.update(properties)
    name = name_property or next((p for p in DEFAULT_NAME_PROPERTIES if p in present), None)
    if name is None or name not in present:
        raise ImportFileError(
            "no name property: give --name-property "
            f"(looked for {', '.join(DEFAULT_NAME_PROPERTIES)})"
        )
    code = code_property or next((p for p in DEFAULT_CODE_PROPERTIES if p in present), None)
    if code is not None and code not in present:
        raise ImportFileError("the code property is in no feature")
    return AreaProperties(name=name, code=code)


def _string(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())


def _features(path: Path) -> list[Any]:
    document = read_json(path)
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFileError("not a GeoJSON FeatureCollection")
    crs = document.get("crs")
    if crs is not None:
        name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
        if name not in WGS84_NAMES:
            raise ImportFileError("coordinates are not WGS84 longitude/latitude (see its crs)")
    features = document.get("features")
    if not isinstance(features, list):
        raise ImportFileError("a FeatureCollection without a features list")
    return features


@dataclass(frozen=True)
class _Geometry:
    wkb: bytes
    invalid_reason: str | None


def _geometry(value: Any) -> _Geometry | str:
    """The polygon as WKB, and why it is invalid if it is; or why it cannot be imported."""
    if not isinstance(value, dict) or not value.get("type"):
        return "no geometry"
    if value["type"] not in POLYGONAL:
        return "not a polygon"
    try:
        geometry = shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError):
        return "malformed geometry"
    if geometry.is_empty:
        return "empty geometry"
    west, south, east, north = geometry.bounds
    if not all(math.isfinite(bound) for bound in (west, south, east, north)):
        return "malformed geometry"
    if west < -180 or east > 180 or south < -90 or north > 90:
        return "coordinates outside longitude/latitude range (not WGS84?)"
    reason = None
    if not geometry.is_valid:
        repaired = shapely.make_valid(geometry)
        polygons = [
            part
            for part in getattr(repaired, "geoms", [repaired])
            if part.geom_type in POLYGONAL and not part.is_empty
        ]
        if not polygons:
            return "invalid geometry that no repair makes a polygon"
        reason = _WHERE_IN_REASON.sub("", shapely.is_valid_reason(geometry)).strip()
    return _Geometry(wkb=shapely.to_wkb(geometry), invalid_reason=reason)


async def import_areas(
    session: AsyncSession,
    path: Path,
    *,
    level: int,
    name_property: str | None = None,
    code_property: str | None = None,
    country: str | None = None,
    report_path: Path | None = None,
    advance: Progress | None = None,
) -> ImportReport:
    """Import the polygons of a GeoJSON FeatureCollection as areas of ``level``; write the CSV
    report and return the counts. The caller commits (the CLI: once, at the end)."""
    started = time.perf_counter()
    source = path.stem
    features = _features(path)
    chosen = choose_properties(features, name_property, code_property)
    report = ImportReport(kind="areas", source=source, file=path.name)
    claimed: set[str] = set()
    rows: list[dict[str, Any]] = []
    for number, feature in enumerate(features, start=1):
        report.rows_read += 1
        report.rows_selected += 1
        row = _area_row(feature, number, chosen, source, level, country, claimed, report)
        if row is not None:
            rows.append(row)
    for start in range(0, len(rows), BATCH_SIZE):
        batch = rows[start : start + BATCH_SIZE]
        created = await repository.insert_admin_areas(session, batch)
        report.created += len(created)
        report.created_rows["admin_area"] += len(created)
        report.already_present += len(batch) - len(created)
        if advance is not None:
            advance(len(batch))
    if level > 0:
        linked = await repository.link_admin_area_parents(session, source, level)
        report.extra["parents_linked"] = linked
    report.seconds = time.perf_counter() - started
    report.write(report_path or default_report_path("areas", source))
    return report


def _area_row(
    feature: Any,
    number: int,
    chosen: AreaProperties,
    source: str,
    level: int,
    country: str | None,
    claimed: set[str],
    report: ImportReport,
) -> dict[str, Any] | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        report.reject(number, None, "not a GeoJSON Feature")
        return None
    properties = feature.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    name = _string(properties.get(chosen.name))
    source_id = _string(feature.get("id")) or next(
        (_string(properties.get(p)) for p in ID_PROPERTIES if _string(properties.get(p))), name
    )
    if not name:
        report.reject(number, source_id or None, "no name")
        return None
    if len(name) > NAME_MAXIMUM_LENGTH:
        report.reject(number, source_id, f"name longer than {NAME_MAXIMUM_LENGTH} characters")
        return None
    geometry = _geometry(feature.get("geometry"))
    if isinstance(geometry, str):
        report.reject(number, source_id, geometry)
        return None
    if source_id in claimed:
        occurrence = 2
        while f"{source_id}#{occurrence}" in claimed:
            occurrence += 1
        source_id = f"{source_id}#{occurrence}"
        report.note(number, source_id, "source_id repeated in the file: numbered in file order")
    claimed.add(source_id)
    if geometry.invalid_reason is not None:
        report.note(
            number,
            source_id,
            "invalid geometry repaired with ST_MakeValid",
            geometry.invalid_reason,
        )
    area_country = (country or "").upper() or next(
        (_string(properties.get(p)).upper() for p in COUNTRY_PROPERTIES if properties.get(p)),
        None,
    )
    return {
        "id": record_id(source, source_id, "admin_area"),
        "name": name,
        "level": level,
        "code": (_string(properties.get(chosen.code)) or None) if chosen.code else None,
        "country": area_country or None,
        "source": source,
        "source_id": source_id,
        "geometry_wkb": geometry.wkb,
    }
