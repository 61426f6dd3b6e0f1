"""Importing Open Referral HSDS feeds: the examples of ../shared/data, bad rows rejected."""

import csv
import json
import shutil
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.importers.hsds import import_feed
from api.models.directory import Location, Service
from api.models.events import EventType, OutboxEvent
from api.models.organization import Organization
from tests.hsds_conformance import validate_hsds

EXAMPLES = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "openreferral_hsds_examples"
)


@pytest.mark.parametrize("feed", ["csv", "json/service_full.json"])
async def test_example_imports_without_its_invalid_location_and_again_adds_nothing(
    session: AsyncSession, client: httpx.AsyncClient, feed: str
) -> None:
    first = await import_feed(session, EXAMPLES / feed, source="hsds-example")
    assert first.created["services"] == 1
    assert first.created["organizations"] >= 1
    assert (
        "locations",
        "3a19ff88-4620-4d17-9830-ac1d859eb5d5",
        "coordinates out of range",
    ) in first.rejected
    assert first.created["locations"] == 0
    assert first.created["phones"] >= 1

    second = await import_feed(session, EXAMPLES / feed, source="hsds-example")
    assert sum(second.created.values()) == 0
    assert second.present["services"] == 1

    listed = (await client.get("/hsds/services?search=Counselling")).json()
    [service] = listed["contents"]
    full = (await client.get(f"/hsds/services/{service['id']}")).json()
    assert validate_hsds(full, "service") == []
    assert full["phones"][0]["number"].startswith("+44")


async def test_organization_feed_with_its_services(session: AsyncSession) -> None:
    result = await import_feed(
        session, EXAMPLES / "json" / "organization_full.json", source="org-example"
    )
    assert result.created["organizations"] == 1
    assert result.read["organizations"] == 1


def tabular_feed(folder: Path, **tables: str) -> Path:
    """A tabular data package: one CSV file per table (``organizations=...``)."""
    folder.mkdir()
    for table, rows in tables.items():
        (folder / f"{table}.csv").write_text(rows)
    return folder


async def test_broken_rows_are_rejected_with_reasons(session: AsyncSession, tmp_path: Path) -> None:
    feed = tabular_feed(
        tmp_path / "feed",
        organizations="id,name,description\no1,Good org,\no2,,nameless\n",
        services="id,organization_id,name,status\ns1,o1,Counselling,active\ns2,o2,Orphan,active\n"
        "s3,o1,Odd,sleeping\n",
        locations="id,organization_id,name,latitude,longitude\nl1,o1,Here,14.1,-16.0\n"
        "l2,o1,Nowhere,91,0\nl3,o1,Half,14.0,\n",
        phones="id,service_id,number\np1,s1,+221 33 000 00 01\np2,s1,call us\n",
    )
    result = await import_feed(session, feed, source="broken")
    reasons = {(table, original): reason for table, original, reason in result.rejected}
    assert reasons[("organizations", "o2")] == "an organization needs an id and a name"
    assert reasons[("services", "s2")] == "its organization is not in the feed"
    assert reasons[("services", "s3")] == "unknown status"
    assert reasons[("locations", "l2")] == "coordinates out of range"
    assert reasons[("locations", "l3")] == "latitude and longitude come together"
    assert reasons[("phones", "p2")] == "not an E.164 number or short code"
    assert result.created["services"] == 1
    assert result.created["locations"] == 1
    assert result.created["phones"] == 1


async def test_a_value_holding_nul_is_read_as_left_out(
    session: AsyncSession, tmp_path: Path
) -> None:
    """PostgreSQL text cannot hold NUL: one in any value of a feed (CSV or JSON) stopped the
    whole import with a database error. It is read as a value left out, as the pages read a
    form's (``api.web.pages.posted``): a name or id so left is refused with its reason, the
    rest of the feed imports."""
    lines = {
        "organizations": ["id,name,description", "o1,Good org,Kind\x00words", "o2,Bad\x00org,"],
        "services": ["id,organization_id,name", "s1,o1,Counselling", "s\x002,o1,Legal"],
        "locations": ["id,organization_id,name,latitude,longitude", "l1,o1,Here\x00,14.1,-16"],
    }
    feed = tabular_feed(
        tmp_path / "feed", **{table: "\n".join(rows) for table, rows in lines.items()}
    )
    result = await import_feed(session, feed, source="nul-csv")
    reasons = {(table, original): reason for table, original, reason in result.rejected}
    assert reasons[("organizations", "o2")] == "an organization needs an id and a name"
    assert [table for table, original in reasons if original == ""] == ["services"]
    assert (result.created["organizations"], result.created["services"]) == (1, 1)
    assert result.created["locations"] == 1

    document = tmp_path / "feed.json"
    service = {"id": "s1", "name": "Écoute", "status": "active", "description": "a\u0000b"}
    document.write_text(
        json.dumps({"id": "o1", "name": "Org\u0000", "services": [service]}), encoding="utf-8"
    )
    refused = await import_feed(session, document, source="nul-json")
    assert ("organizations", "o1", "an organization needs an id and a name") in refused.rejected


def _edit(path: Path, row_id: str, **values: str) -> None:
    """Change some columns of the row ``row_id`` of a feed's CSV table."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if row["id"] == row_id:
            row.update(values)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


async def _changed_events(session: AsyncSession) -> Counter[tuple[str, str]]:
    """How many ``directory.changed`` events there are of each (id, action)."""
    found = await session.execute(
        select(OutboxEvent.data).where(col(OutboxEvent.type) == EventType.directory_changed.value)
    )
    return Counter((data["id"], data["action"]) for data in found.scalars())


class TestReimport:
    """Issue 22: a feed imported again updates in place what changed in it, and only that."""

    SERVICE = "ac148810-d857-441c-9679-408f346de14b"
    LOCATION = "3a19ff88-4620-4d17-9830-ac1d859eb5d5"

    async def _versions(self, session: AsyncSession) -> dict[str, int]:
        found = await session.execute(
            select(col(Service.source_id), col(Service.version)).where(
                col(Service.source) == "hsds-reimport"
            )
        )
        rows = {f"service/{source_id}": version for source_id, version in found}
        located = await session.execute(
            select(col(Location.source_id), col(Location.version)).where(
                col(Location.source) == "hsds-reimport"
            )
        )
        rows.update({f"location/{source_id}": version for source_id, version in located})
        organized = await session.execute(
            select(col(Organization.source_id), col(Organization.version)).where(
                col(Organization.source) == "hsds-reimport"
            )
        )
        rows.update({f"organization/{source_id}": version for source_id, version in organized})
        return rows

    async def test_changed_rows_are_updated_in_place_and_heard_of(
        self, session: AsyncSession, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        feed = tmp_path / "feed"
        shutil.copytree(EXAMPLES / "csv", feed)
        # The example's one location lies at (100, 101): put it in London to import it.
        _edit(feed / "locations.csv", self.LOCATION, latitude="51.5072", longitude="-0.1276")
        first = await import_feed(session, feed, source="hsds-reimport")
        assert (first.created["services"], first.created["locations"]) == (1, 1)
        service_id = str(first_id(first, "services"))
        assert (service_id, "create") in await _changed_events(session)
        before = await self._versions(session)
        heard = await _changed_events(session)

        # The place moves: the location is updated, its service heard of (its row unchanged).
        _edit(feed / "locations.csv", self.LOCATION, latitude="51.5155")
        moved = await import_feed(session, feed, source="hsds-reimport")
        assert sum(moved.created.values()) == 0
        assert moved.updated == {"organizations": 0, "locations": 1, "services": 0}
        after_move = await self._versions(session)
        assert {key for key in before if after_move[key] != before[key]} == {
            f"location/{self.LOCATION}"
        }
        assert await _changed_events(session) - heard == Counter({(service_id, "update"): 1})
        location = (
            await session.execute(select(Location).where(col(Location.source_id) == self.LOCATION))
        ).scalar_one()
        await session.refresh(location)
        assert abs((location.latitude or 0) - 51.5155) < 1e-9

        # The service's description changes: its row and version (its ETag) move.
        _edit(feed / "services.csv", self.SERVICE, description="Counselling, now on Saturdays.")
        described = await import_feed(session, feed, source="hsds-reimport")
        assert described.updated["services"] == 1
        shown = await client.get(f"/hsds/services/{service_id}")
        assert shown.json()["description"] == "Counselling, now on Saturdays."
        versions = await self._versions(session)
        assert versions[f"service/{self.SERVICE}"] == after_move[f"service/{self.SERVICE}"] + 1
        assert {key for key in versions if versions[key] != after_move[key]} == {
            f"service/{self.SERVICE}"
        }
        assert await _changed_events(session) - heard == Counter({(service_id, "update"): 2})

        # The same feed again writes nothing: no version moves, nobody hears anything.
        settled = await self._versions(session)
        events = await _changed_events(session)
        again = await import_feed(session, feed, source="hsds-reimport")
        assert sum(again.updated.values()) == 0
        assert sum(again.created.values()) == 0
        assert await self._versions(session) == settled
        assert await _changed_events(session) == events

        # As a job the operator's page lists: every table's rows counted together.
        job = again.report("hsds-reimport", "feed")
        assert (job.kind, job.created, job.updated) == ("hsds", 0, 0)
        assert job.already_present == sum(again.present.values())
        assert job.rejected == len(again.rejected)
        assert job.csv_text().splitlines()[0] == "row,source_id,outcome,reason,detail"


def first_id(result: object, table: str) -> uuid.UUID:
    """The id the importer gave the feed's service (derived from the source and the feed's id)."""
    from api.importers.hsds import NAMESPACE

    return uuid.uuid5(NAMESPACE, f"hsds-reimport/{table}/{TestReimport.SERVICE}")
