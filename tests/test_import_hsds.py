"""Importing Open Referral HSDS feeds: the examples of ../shared/data, bad rows rejected."""

from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.importers.hsds import import_feed
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


async def test_broken_rows_are_rejected_with_reasons(session: AsyncSession, tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "organizations.csv").write_text("id,name,description\no1,Good org,\no2,,nameless\n")
    (feed / "services.csv").write_text(
        "id,organization_id,name,status\ns1,o1,Counselling,active\ns2,o2,Orphan,active\n"
        "s3,o1,Odd,sleeping\n"
    )
    (feed / "locations.csv").write_text(
        "id,organization_id,name,latitude,longitude\nl1,o1,Here,14.1,-16.0\nl2,o1,Nowhere,91,0\n"
        "l3,o1,Half,14.0,\n"
    )
    (feed / "phones.csv").write_text(
        "id,service_id,number\np1,s1,+221 33 000 00 01\np2,s1,call us\n"
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
