"""Facility imports: real WHO/KEMRI and healthsites rows, and hand-made bad ones.

The importer runs in-process inside the test's transaction (rolled back); one test runs the
command as a real process, which commits, and removes what it wrote.
"""

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from api.importers import ImportFileError, record_id
from api.importers.facilities import (
    HEALTHSITES,
    MATERNAL_INFANT_HEALTH,
    MEDICAL_CARE,
    WHO_KEMRI,
    import_facilities,
    who_kemri_source_id,
)
from api.models.directory import Attribute, Location, Service, ServiceAtLocation
from api.models.organization import Organization
from api.taxonomy import term_id

REPOSITORY = Path(__file__).resolve().parent.parent
DATA = REPOSITORY.parent / "shared" / "data"
WHO_FILE = DATA / "who_kemri_ssa_health_facilities" / "who_kemri_ssa_public_health_facilities.csv"
HEALTHSITES_FILE = DATA / "healthsites_africa_osm" / "healthsites_africa.csv"

WHO_COLUMNS = [
    "Country",
    "Admin1",
    "Facility name",
    "Facility type",
    "Ownership",
    "Lat",
    "Long",
    "LL source",
    "iso3c",
    "facility_type_9",
    "Tier",
    "Tier_name",
]
HEALTHSITES_COLUMNS = [
    "lon",
    "lat",
    "country",
    "iso3c",
    "name",
    "amenity",
    "healthcare",
    "osm_id",
    "osm_type",
    "speciality",
    "operational_status",
]


def dataset(path: Path) -> Path:
    assert path.is_file(), f"{path} is missing: the tests read ../shared/data/ at run time"
    return path


def who_row(
    name: str, lat: str, long: str, category: str = "Health Centre", **extra: str
) -> dict[str, str]:
    row = dict.fromkeys(WHO_COLUMNS, "")
    row.update(
        {
            "Country": "Burkina Faso",
            "Admin1": "Test region",
            "Facility name": name,
            "Facility type": extra.pop("facility_type", category),
            "Ownership": "MoH",
            "Lat": lat,
            "Long": long,
            "iso3c": "ZZZ",
            "facility_type_9": category,
        }
    )
    row.update(extra)
    return row


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def count(session: AsyncSession, model: type, source: str) -> int:
    found = await session.execute(
        select(func.count()).select_from(model).where(col(model.source) == source)  # type: ignore[attr-defined]
    )
    return int(found.scalar_one())


BAD_AND_GOOD_WHO_ROWS = [
    who_row("Test district hospital", "12.30", "-1.50", "Hospital"),  # row 2
    who_row("Test maternity", "12.31", "-1.51", "Maternity"),  # row 3
    who_row("Test post without place", "", ""),  # row 4
    who_row("Test post far north", "100", "-1.5"),  # row 5
    who_row("", "12.32", "-1.52"),  # row 6
    who_row("Test post with words", "twelve", "-1.5"),  # row 7
    who_row("Test post at null island", "0", "0"),  # row 8
    who_row("Test maternity", "12.31", "-1.51", "Maternity"),  # row 9: row 3 again
    who_row("Test mystery unit", "12.33", "-1.53", "", facility_type="Mystery unit"),  # row 10
    who_row(
        "Test mother and child centre", "12.34", "-1.54", facility_type="Clinic with Maternity"
    ),
    who_row("Test post far east", "12.3", "200"),  # row 12
]


class TestWhoKemriRows:
    async def test_maps_types_and_rejects_bad_rows_with_reasons(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        source = write_csv(tmp_path / "who.csv", WHO_COLUMNS, BAD_AND_GOOD_WHO_ROWS)
        report = await import_facilities(
            session, source, WHO_KEMRI, report_path=tmp_path / "report.csv"
        )

        assert (report.rows_read, report.rows_selected) == (11, 11)
        assert (report.created, report.already_present, report.rejected) == (4, 0, 7)
        assert report.created_rows["attribute"] == 5  # 3 x medical care, 2 x maternal
        lines = read_report(tmp_path / "report.csv")
        rejected = {
            int(line["row"]): line["reason"] for line in lines if line["outcome"] == "rejected"
        }
        assert rejected == {
            4: "no coordinates",
            5: "latitude out of range",
            6: "no name",
            7: "coordinates not numeric",
            8: "coordinates are 0,0 (a missing value, not a place)",
            9: "duplicate source_id",
            12: "longitude out of range",
        }
        duplicate = next(line for line in lines if line["row"] == "9")
        assert duplicate["detail"] == "first kept: row 3"
        assert duplicate["source_id"] == who_kemri_source_id(BAD_AND_GOOD_WHO_ROWS[1])
        noted = [line for line in lines if line["outcome"] == "imported"]
        assert [(line["row"], line["reason"]) for line in noted] == [
            ("10", "facility type not mapped to a referral need")
        ]
        written = (tmp_path / "report.csv").read_text(encoding="utf-8")
        assert "Test " not in written  # reasons, never values
        assert "twelve" not in written

        needs = await self.needs_by_name(session)
        assert needs == {
            "Test district hospital": {MEDICAL_CARE},
            "Test maternity": {MEDICAL_CARE, MATERNAL_INFANT_HEALTH},
            "Test mystery unit": set(),
            "Test mother and child centre": {MEDICAL_CARE, MATERNAL_INFANT_HEALTH},
        }

    async def test_a_second_run_creates_nothing(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        source = write_csv(tmp_path / "who.csv", WHO_COLUMNS, BAD_AND_GOOD_WHO_ROWS)
        await import_facilities(session, source, WHO_KEMRI, report_path=tmp_path / "1.csv")
        again = await import_facilities(session, source, WHO_KEMRI, report_path=tmp_path / "2.csv")
        assert (again.created, again.already_present, again.rejected) == (0, 4, 7)
        assert sum(again.created_rows.values()) == 0

    async def test_imported_services_are_found_by_need_over_hsds(
        self, session: AsyncSession, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        source = write_csv(tmp_path / "who.csv", WHO_COLUMNS, BAD_AND_GOOD_WHO_ROWS)
        await import_facilities(session, source, WHO_KEMRI, report_path=tmp_path / "r.csv")
        maternity = who_kemri_source_id(BAD_AND_GOOD_WHO_ROWS[1])
        organization_id = record_id(WHO_KEMRI, maternity, "organization")

        response = await client.get(
            "/hsds/services",
            params={
                "taxonomy_term_id": str(term_id(MATERNAL_INFANT_HEALTH)),
                "organization_id": str(organization_id),
            },
        )
        assert response.status_code == 200
        page = response.json()
        assert page["total_items"] == 1
        service = page["contents"][0]
        assert service["name"] == "Test maternity"
        assert service["status"] == "active"
        assert "WHO/KEMRI" in service["description"]

        found = await client.get(f"/hsds/services/{service['id']}")
        assert found.status_code == 200
        body = found.json()
        assert {a["taxonomy_term_id"] for a in body["attributes"]} == {
            str(term_id(MEDICAL_CARE)),
            str(term_id(MATERNAL_INFANT_HEALTH)),
        }
        (link,) = body["service_at_locations"]
        assert link["location"]["latitude"] == pytest.approx(12.31)

    @staticmethod
    async def needs_by_name(session: AsyncSession) -> dict[str, set[str]]:
        codes = {term_id(code): code for code in (MEDICAL_CARE, MATERNAL_INFANT_HEALTH)}
        services = await session.execute(
            select(col(Service.id), col(Service.name)).where(col(Service.source) == WHO_KEMRI)
        )
        result: dict[str, set[str]] = {name: set() for _, name in services}
        attributes = await session.execute(
            select(col(Service.name), col(Attribute.taxonomy_term_id))
            .join(Attribute, col(Attribute.link_id) == col(Service.id))
            .where(
                col(Service.source) == WHO_KEMRI,
                col(Attribute.link_entity) == "service",
                col(Attribute.link_type) == "need",
            )
        )
        for name, term in attributes:
            result[name].add(codes[term])
        return result

    async def test_a_file_of_another_dataset_is_refused_by_its_columns(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        source = write_csv(tmp_path / "who.csv", WHO_COLUMNS, BAD_AND_GOOD_WHO_ROWS)
        with pytest.raises(ImportFileError, match="missing columns amenity, country, healthcare"):
            await import_facilities(session, source, HEALTHSITES, report_path=tmp_path / "r.csv")
        assert not (tmp_path / "r.csv").exists()


class TestWhoKemriBurkinaFaso:
    async def test_every_facility_once_with_its_rows_and_needs(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        source = dataset(WHO_FILE)
        report = await import_facilities(
            session, source, WHO_KEMRI, countries=["bfa"], report_path=tmp_path / "r.csv"
        )
        assert report.rows_read == 98_745
        assert report.rows_selected == 1_721
        assert (report.created, report.already_present, report.rejected) == (1_721, 0, 0)
        for table in ("organization", "location", "service", "service_at_location"):
            assert report.created_rows[table] == 1_721
        for model in (Organization, Location, Service):
            assert await count(session, model, WHO_KEMRI) == 1_721

        medical = await session.execute(
            select(func.count()).where(col(Attribute.taxonomy_term_id) == term_id(MEDICAL_CARE))
        )
        assert medical.scalar_one() >= 1_721
        located = await session.execute(
            select(func.count())
            .select_from(Location)
            .where(
                col(Location.source) == WHO_KEMRI,
                col(Location.point).is_not(None),
                col(Location.region_key).is_not(None),
            )
        )
        assert located.scalar_one() == 1_721
        linked = await session.execute(
            select(func.count())
            .select_from(ServiceAtLocation)
            .join(Service, col(Service.id) == col(ServiceAtLocation.service_id))
            .where(col(Service.source) == WHO_KEMRI)
        )
        assert linked.scalar_one() == 1_721

        again = await import_facilities(
            session, source, WHO_KEMRI, countries=["BFA"], report_path=tmp_path / "2.csv"
        )
        assert (again.created, again.already_present, again.rejected) == (0, 1_721, 0)
        assert sum(again.created_rows.values()) == 0

    async def test_limit_stops_after_n_selected_rows(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        report = await import_facilities(
            session,
            dataset(WHO_FILE),
            WHO_KEMRI,
            countries=["BFA"],
            limit=25,
            batch_size=10,
            report_path=tmp_path / "r.csv",
        )
        assert (report.rows_selected, report.created) == (25, 25)
        assert await count(session, Organization, WHO_KEMRI) == 25


HANDMADE_HEALTHSITES_ROWS = [
    {"name": "Test hospital", "amenity": "hospital", "osm_id": "1", "osm_type": "node"},
    {
        "name": "Test birth clinic",
        "amenity": "clinic",
        "healthcare": "clinic;birthing_center",
        "osm_id": "2",
        "osm_type": "way",
    },
    {"name": "Test pharmacy", "amenity": "pharmacy", "osm_id": "3", "osm_type": "node"},
    {"name": "Test dentist", "amenity": "dentist", "osm_id": "4", "osm_type": "node"},
    {"name": "", "amenity": "doctors", "osm_id": "5", "osm_type": "node"},
    {
        "name": "Test closed clinic",
        "amenity": "clinic",
        "operational_status": "non_operational",
        "osm_id": "6",
        "osm_type": "node",
    },
    {"name": "Test hospital again", "amenity": "hospital", "osm_id": "1", "osm_type": "node"},
    {"name": "Test vet", "amenity": "veterinary", "osm_id": "8", "osm_type": "node"},
    {"name": "Test tagged hospital", "healthcare": "hospital", "osm_id": "9", "osm_type": "way"},
    {"name": "Test nowhere", "amenity": "clinic", "osm_id": "10", "osm_type": "node", "lat": ""},
]


class TestHealthsites:
    async def test_imports_referral_points_and_skips_the_rest_with_reasons(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        rows = [
            {"lon": "-1.5", "lat": "12.3", "country": "Burkina Faso", "iso3c": "BFA", **row}
            for row in HANDMADE_HEALTHSITES_ROWS
        ]
        source = write_csv(tmp_path / "hs.csv", HEALTHSITES_COLUMNS, rows)
        report = await import_facilities(
            session, source, HEALTHSITES, report_path=tmp_path / "r.csv"
        )
        assert (report.created, report.rejected) == (3, 7)
        rejected = {
            int(line["row"]): (line["source_id"], line["reason"])
            for line in read_report(tmp_path / "r.csv")
        }
        assert rejected == {
            4: ("node/3", "pharmacy: not a referral point"),
            5: ("node/4", "dentist: not a referral point"),
            6: ("node/5", "no name"),
            7: ("node/6", "not operational according to the source"),
            8: ("node/1", "duplicate source_id"),
            9: ("node/8", "amenity not imported: not a referral point"),
            11: ("node/10", "no coordinates"),
        }
        needs = await session.execute(
            select(col(Location.external_identifier), func.count(col(Attribute.id)))
            .join(Service, col(Service.organization_id) == col(Location.organization_id))
            .join(Attribute, col(Attribute.link_id) == col(Service.id))
            .where(col(Location.source) == HEALTHSITES)
            .group_by(col(Location.external_identifier))
        )
        assert dict(needs.all()) == {"node/1": 1, "way/2": 2, "way/9": 1}

    async def test_a_country_of_the_real_extract(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        source = dataset(HEALTHSITES_FILE)
        with source.open(encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows)
            iso3c, amenity = header.index("iso3c"), header.index("amenity")
            burkina = [row[amenity] for row in rows if row[iso3c] == "BFA"]
        amenities = Counter(burkina)

        report = await import_facilities(
            session, source, HEALTHSITES, countries=["BFA"], report_path=tmp_path / "r.csv"
        )
        assert report.rows_selected == len(burkina) == 710
        assert report.created + report.rejected == 710
        reasons = report.reasons("rejected")
        assert reasons["pharmacy: not a referral point"] == amenities["pharmacy"]
        assert reasons.get("dentist: not a referral point", 0) == amenities["dentist"]
        assert await count(session, Service, HEALTHSITES) == report.created
        again = await import_facilities(
            session, source, HEALTHSITES, countries=["BFA"], report_path=tmp_path / "2.csv"
        )
        assert (again.created, again.already_present) == (0, report.created)


CLI_ROWS = [
    who_row("CLI test health post", "11.10", "-2.10", "Health Post"),
    who_row("CLI test health post without place", "", ""),
]


@pytest.fixture
async def forget_cli_facilities(owner_engine: AsyncEngine) -> AsyncIterator[None]:
    """The command commits for real: remove what it wrote, as the owner role."""
    yield
    ids = [who_kemri_source_id(row) for row in CLI_ROWS]
    services = "SELECT id FROM service WHERE source = :source AND source_id = ANY(:ids)"
    async with owner_engine.begin() as connection:
        for statement in (
            # What the import told partners, and the job it recorded for the operator.
            f"DELETE FROM outbox_event WHERE subject_id IN ({services})",
            "DELETE FROM import_job WHERE source = :source AND counts->>'file' = 'who.csv'",
            f"DELETE FROM attribute WHERE link_entity = 'service' AND link_id IN ({services})",
            f"DELETE FROM service_at_location WHERE service_id IN ({services})",
            "DELETE FROM service WHERE source = :source AND source_id = ANY(:ids)",
            "DELETE FROM location WHERE source = :source AND source_id = ANY(:ids)",
            "DELETE FROM organization WHERE source = :source AND source_id = ANY(:ids)",
        ):
            await connection.execute(text(statement), {"source": WHO_KEMRI, "ids": ids})


def run_import(*args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment["RELAY_DATABASE_URL"] = os.environ["RELAY_TEST_DATABASE_URL"]
    environment["RELAY_MIGRATION_DATABASE_URL"] = os.environ["RELAY_TEST_MIGRATION_DATABASE_URL"]
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "api.cli_import", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        cwd=REPOSITORY,
    )


@pytest.mark.usefixtures("forget_cli_facilities")
def test_the_command_commits_and_reports(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "who.csv", WHO_COLUMNS, CLI_ROWS)
    arguments = ["facilities", str(source), "--mapping", "who-kemri", "--json"]

    first = run_import(*arguments, "--report", str(tmp_path / "first.csv"))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["created"], summary["already_present"], summary["rejected"]) == (1, 0, 1)
    assert summary["rejected_by_reason"] == {"no coordinates": 1}
    assert summary["report"] == str(tmp_path / "first.csv")
    assert [line["reason"] for line in read_report(tmp_path / "first.csv")] == ["no coordinates"]
    assert first.stderr == ""  # no progress bar outside a terminal, no row contents
    # A second run finding the committed rows: TestWhoKemriRows, in-process, without a process.
