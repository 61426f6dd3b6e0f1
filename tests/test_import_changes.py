"""Issue 22, part 5 (acceptance 3): re-importing a changed facilities file updates the changed
rows only (their version moves, nothing else is written), partners hear ``directory.changed``
for them, new places are listed in their administrative area, and the operator's page shows the
job's counts and offers its report of rejected rows."""

import csv
from pathlib import Path

import httpx
from fastapi import FastAPI
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.config import Settings
from api.importers import record_id
from api.importers.facilities import HEALTHSITES, import_facilities
from api.models.directory import AdminArea, Location, Service
from api.models.events import EventType, OutboxEvent
from api.models.people import UserRole
from api.services import import_jobs
from tests.factories.people import create_operator_organization, create_person
from tests.web.app_pages import browser_client, sign_in
from tests.web.pages import Page

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HEALTHSITES_FILE = DATA / "healthsites_africa_osm" / "healthsites_africa.csv"
ROWS = 120


def madagascar_rows() -> tuple[list[str], list[dict[str, str]]]:
    """The first rows of Madagascar in the real healthsites.io extract."""
    assert HEALTHSITES_FILE.is_file(), f"{HEALTHSITES_FILE} is missing (../shared/data)"
    with HEALTHSITES_FILE.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["iso3c"] == "MDG"][:ROWS]
        return list(reader.fieldnames or []), rows


def write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


async def services_of(session: AsyncSession) -> dict[str, tuple[int, str]]:
    found = await session.execute(
        select(col(Service.source_id), col(Service.version), col(Service.name)).where(
            col(Service.source) == HEALTHSITES
        )
    )
    return {source_id: (version, name) for source_id, version, name in found if source_id}


async def changed_events(session: AsyncSession, action: str) -> set[str]:
    found = await session.execute(
        select(OutboxEvent.data).where(col(OutboxEvent.type) == EventType.directory_changed.value)
    )
    return {data["id"] for data in found.scalars() if data["action"] == action}


async def test_a_changed_file_updates_the_changed_rows_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    area = AdminArea(
        name="Madagascar (test)",
        level=0,
        country="MG",
        geom=from_shape(MultiPolygon([box(43.0, -26.0, 51.0, -11.5)]), srid=4326),
    )
    session.add(area)
    await session.flush()
    columns, rows = madagascar_rows()
    first = await import_facilities(
        session,
        write(tmp_path / "first.csv", columns, rows),
        HEALTHSITES,
        report_path=tmp_path / "first-report.csv",
    )
    await import_jobs.record(session, first)
    assert first.created > 10
    before = await services_of(session)
    created = await changed_events(session, "create")
    assert {record_id(HEALTHSITES, source_id, "service").hex for source_id in before} <= {
        value.replace("-", "") for value in created
    }
    # New places are listed in the area containing them.
    areas = await session.execute(
        select(col(Location.admin_area_id)).where(col(Location.source) == HEALTHSITES)
    )
    assert set(areas.scalars()) == {area.id}

    imported = [row for row in rows if f"{row['osm_type']}/{row['osm_id']}" in before]
    renamed, moved = imported[0], imported[1]
    renamed["name"] = renamed["name"] + " (renamed)"
    moved["lat"] = str(float(moved["lat"]) + 0.01)
    second = await import_facilities(
        session,
        write(tmp_path / "second.csv", columns, rows),
        HEALTHSITES,
        report_path=tmp_path / "second-report.csv",
    )
    job = await import_jobs.record(session, second)

    assert (second.created, second.updated) == (0, 2)
    assert second.already_present == first.created - 2
    assert second.rejected == first.rejected
    after = await services_of(session)
    bumped = {source_id for source_id in after if after[source_id][0] != before[source_id][0]}
    renamed_id = f"{renamed['osm_type']}/{renamed['osm_id']}"
    moved_id = f"{moved['osm_type']}/{moved['osm_id']}"
    assert bumped == {renamed_id}  # the service's name changed; the moved one's did not
    assert after[renamed_id][1] == renamed["name"].strip()
    location = await session.get(Location, record_id(HEALTHSITES, moved_id, "location"))
    assert location is not None
    await session.refresh(location)
    assert abs(location.latitude - float(moved["lat"])) < 1e-9
    assert location.version == 2
    updates = await changed_events(session, "update")
    assert updates == {
        str(record_id(HEALTHSITES, source_id, "service")) for source_id in (renamed_id, moved_id)
    }

    # The operator sees the job's counts, and downloads its rejections.
    operator = await create_person(
        session, settings, await create_operator_organization(session), UserRole.operator
    )
    async with browser_client(app) as browser:
        await sign_in(browser, operator)
        page = Page((await browser.get("/app/operator")).text)
        card = Page(
            next(
                part
                for part in (await browser.get("/app/operator")).text.split("<li")
                if f'data-import="{job.id}"' in part
            )
        )
        assert f"updated 2; unchanged {second.already_present}" in card.text
        assert "created 0" in card.text
        assert page.all("a", href=f"/app/operator/imports/{job.id}/report.csv")
        report = await browser.get(f"/app/operator/imports/{job.id}/report.csv")
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/csv")
        assert report.text.splitlines()[0] == "row,source_id,outcome,reason,detail"
        assert len([line for line in report.text.splitlines()[1:] if ",rejected," in line]) == (
            second.rejected
        )
