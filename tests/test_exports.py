"""Exports keep the directory's visibility rules: a file leaves Relay's access control."""

import csv
import io
import json

import pytest
from geojson_pydantic import FeatureCollection
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.services import exports
from api.services.demo import _id
from tests.factories.directory import DemoNetwork, load_demo
from tests.hsds_conformance import validate_hsds

PUBLIC = Viewer(sees_partner_records=False, cleared=False)
EVERYTHING = Viewer(sees_partner_records=True, cleared=True)


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


async def export(session: AsyncSession, viewer: Viewer, kind: str, area: object = None) -> str:
    buffer = io.StringIO()
    await exports.write(session, viewer, exports.ExportFormat(kind), buffer, area)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["hsds", "csv", "geojson"])
async def test_public_export_never_locates_the_shelter(
    session: AsyncSession, network: DemoNetwork, kind: str
) -> None:
    public = await export(session, PUBLIC, kind)
    full = await export(session, EVERYTHING, kind)
    for secret in (
        str(network.shelter.latitude),
        str(network.shelter.longitude),
        "Safe haven house",
    ):
        assert secret not in public
        assert secret in full
    assert str(network.partner_only.id) not in public
    assert str(network.partner_only.id) in full


async def test_formats_are_well_formed(session: AsyncSession, network: DemoNetwork) -> None:
    services = json.loads(await export(session, PUBLIC, "hsds"))
    assert len(services) == 19
    for service in services:
        assert validate_hsds(service, "service") == []
    rows = list(csv.DictReader(io.StringIO(await export(session, PUBLIC, "csv"))))
    assert {row["service_id"] for row in rows} == {service["id"] for service in services}
    shelter = next(row for row in rows if row["confidential"] == "True")
    assert (shelter["latitude"], shelter["longitude"], shelter["address"]) == ("", "", "")
    assert shelter["area"] == "Terre-Démo (demo)"
    collection = FeatureCollection.model_validate_json(await export(session, PUBLIC, "geojson"))
    withheld = [feature for feature in collection.features if feature.geometry is None]
    assert len(withheld) == 2  # the shelter, and the hotline (no place)


async def test_area_export_keeps_what_is_in_or_reaches_the_district(
    session: AsyncSession, network: DemoNetwork
) -> None:
    district = _id("area", "sabali")
    rows = list(csv.DictReader(io.StringIO(await export(session, PUBLIC, "csv", district))))
    names = {row["service_name"] for row in rows}
    assert "Sabali police: emergency response (demo)" in names
    assert "Kounda police: emergency response (demo)" not in names
    assert "National child and women helpline (demo)" in names


async def test_a_district_export_does_not_say_which_district_a_shelter_is_in(
    session: AsyncSession, network: DemoNetwork
) -> None:
    """The shelter lies in Kounda but is listed in the region: the public export of Kounda leaves
    it out (exporting district by district would locate it), the region's keeps it, unlocated;
    an export for those who may locate it keeps it in Kounda."""
    shelter = "Emergency shelter for women and children (demo)"

    async def names(viewer: Viewer, area: str) -> set[str]:
        rows = csv.DictReader(io.StringIO(await export(session, viewer, "csv", _id("area", area))))
        return {row["service_name"] for row in rows}

    assert shelter not in await names(PUBLIC, "kounda")
    assert shelter in await names(PUBLIC, "region")
    assert shelter in await names(EVERYTHING, "kounda")
    assert shelter not in await names(EVERYTHING, "sabali")
