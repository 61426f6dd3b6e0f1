"""Administrative area imports: geoBoundaries' Madagascar regions and a hand-made bad file."""

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.importers import ImportFileError
from api.importers.areas import import_areas

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "admin_boundaries"
MADAGASCAR = DATA / "geoboundaries" / "geoBoundaries-MDG-ADM1_simplified.geojson"
ANTANANARIVO = (47.5079, -18.8792)  # lon, lat: the capital, in the Analamanga region


def madagascar() -> Path:
    assert MADAGASCAR.is_file(), f"{MADAGASCAR} is missing: tests read ../shared/data/ at run time"
    return MADAGASCAR


def feature(name: str | None, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"NAME": name, **properties},
        "geometry": geometry,
    }


def square(west: float, south: float, size: float) -> dict[str, Any]:
    east, north = west + size, south + size
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


# Around Antananarivo: inside Analamanga.
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[47.4, -18.95], [47.6, -18.8], [47.6, -18.95], [47.4, -18.8], [47.4, -18.95]]],
}
HANDMADE = [
    feature("Bowtie commune", BOWTIE),  # 1: self-intersecting, repaired
    feature("Square commune", square(47.45, -18.92, 0.05)),  # 2
    feature("Point commune", {"type": "Point", "coordinates": [47.5, -18.9]}),  # 3
    feature(None, square(47.3, -18.9, 0.01)),  # 4
    feature("Broken commune", {"type": "Polygon", "coordinates": [[[47.4, -18.9], [47.5, -18.9]]]}),
    feature("Faraway commune", square(400, 95, 1)),  # 6
    feature("Square commune", square(47.52, -18.92, 0.02)),  # 7: same name, no id: numbered
]


async def areas_of(session: AsyncSession, source: str) -> list[dict[str, Any]]:
    found = await session.execute(
        text(
            "SELECT a.name, a.source_id, a.country, a.code, GeometryType(a.geom) AS type, "
            "ST_SRID(a.geom) AS srid, ST_IsValid(a.geom) AS valid, p.name AS parent "
            "FROM admin_area a LEFT JOIN admin_area p ON p.id = a.parent_id "
            "WHERE a.source = :source ORDER BY a.name, a.source_id"
        ),
        {"source": source},
    )
    return [dict(row._mapping) for row in found]


class TestMadagascarRegions:
    async def test_imports_the_22_regions_once_and_finds_a_point(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        report = await import_areas(session, madagascar(), level=1, report_path=tmp_path / "r.csv")
        assert (report.rows_read, report.created, report.rejected) == (22, 22, 0)
        areas = await areas_of(session, MADAGASCAR.stem)
        assert len(areas) == 22
        assert {(a["type"], a["srid"], a["valid"], a["country"]) for a in areas} == {
            ("MULTIPOLYGON", 4326, True, "MDG")
        }
        assert all(a["source_id"].startswith("27540722B") for a in areas)  # shapeID

        containing = await session.execute(
            text(
                "SELECT name FROM admin_area WHERE source = :source AND level = 1 "
                "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            {"source": MADAGASCAR.stem, "lon": ANTANANARIVO[0], "lat": ANTANANARIVO[1]},
        )
        assert containing.scalars().all() == ["Analamanga"]

        again = await import_areas(session, madagascar(), level=1, report_path=tmp_path / "2.csv")
        assert (again.created, again.already_present, again.rejected) == (0, 22, 0)


class TestHandMadeFile:
    async def test_repairs_rejects_and_links_parents(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        await import_areas(session, madagascar(), level=1, report_path=tmp_path / "mdg.csv")
        path = tmp_path / "communes-test.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": HANDMADE}))

        report = await import_areas(
            session, path, level=2, country="mdg", report_path=tmp_path / "r.csv"
        )
        assert (report.created, report.rejected) == (3, 4)
        assert report.extra["parents_linked"] == 3
        with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as handle:
            lines = {int(line["row"]): line for line in csv.DictReader(handle)}
        assert {row: line["reason"] for row, line in lines.items()} == {
            1: "invalid geometry repaired with ST_MakeValid",
            3: "not a polygon",
            4: "no name",
            5: "malformed geometry",
            6: "coordinates outside longitude/latitude range (not WGS84?)",
            7: "source_id repeated in the file: numbered in file order",
        }
        assert lines[1]["outcome"] == "imported"
        assert lines[1]["detail"] == "Self-intersection"  # GEOS' reason, without coordinates
        assert lines[7]["source_id"] == "Square commune#2"

        areas = await areas_of(session, "communes-test")
        assert [(a["name"], a["source_id"]) for a in areas] == [
            ("Bowtie commune", "Bowtie commune"),
            ("Square commune", "Square commune"),
            ("Square commune", "Square commune#2"),
        ]
        assert {(a["type"], a["valid"], a["country"], a["parent"]) for a in areas} == {
            ("MULTIPOLYGON", True, "MDG", "Analamanga")
        }
        bowtie = await session.execute(
            text(
                "SELECT ST_NumGeometries(geom) FROM admin_area "
                "WHERE source = 'communes-test' AND name = 'Bowtie commune'"
            )
        )
        assert bowtie.scalar_one() == 2  # the two triangles of the figure of eight

        again = await import_areas(
            session, path, level=2, country="MDG", report_path=tmp_path / "2.csv"
        )
        assert (again.created, again.already_present) == (0, 3)

    async def test_a_file_that_is_not_a_feature_collection_is_refused(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        path = tmp_path / "nothing.geojson"
        path.write_text(json.dumps({"type": "Feature", "geometry": None}))
        with pytest.raises(ImportFileError, match="FeatureCollection"):
            await import_areas(session, path, level=1, report_path=tmp_path / "r.csv")
        projected = tmp_path / "projected.geojson"
        projected.write_text(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                    "features": [feature("Somewhere", square(0, 0, 1000))],
                }
            )
        )
        with pytest.raises(ImportFileError, match="WGS84"):
            await import_areas(session, projected, level=1, report_path=tmp_path / "r.csv")
        assert not (tmp_path / "r.csv").exists()
