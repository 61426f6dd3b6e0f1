"""Directory management over HTTP: own organisation only, optimistic concurrency, validation."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import AdminArea, Metadata, Service, ServiceArea
from api.models.organization import OrganizationKind
from tests.factories.auth import Partner, create_partner
from tests.factories.directory import load_demo
from tests.hsds_conformance import validate_hsds
from tests.isolation import assert_hidden_from_other_organisations

SHELTER_BODY: dict[str, Any] = {
    "name": "Refuge des femmes",
    "description": "Emergency accommodation for women and their children.",
    "needs": ["safe-shelter", "psychosocial-support"],
    "minimum_age": 0,
    "genders": ["female"],
    "target_groups": ["women", "children"],
    "accepts_referrals": True,
    "intake_channel": "phone",
    "phones": [{"number": "+221 33 000 11 22", "type": "voice"}],
    "schedules": [
        {
            "byday": "MO,TU,WE,TH,FR",
            "opens_at": "08:00",
            "closes_at": "17:00",
            "time_zone": "Africa/Dakar",
        }
    ],
    "languages": ["fr", "wo"],
    "translations": {"fr": {"name": "Refuge des femmes"}},
    "locations": [
        {
            "name": "Maison du refuge",
            "latitude": 14.1,
            "longitude": -16.0,
            "visibility": "confidential",
            "address": {"address_1": "12 rue des Fleurs", "city": "Kaolack", "country": "SN"},
        }
    ],
    "service_areas": [
        {
            "name": "Kaolack region",
            "extent": {
                "type": "Polygon",
                "coordinates": [
                    [[-16.5, 13.8], [-15.5, 13.8], [-15.5, 14.4], [-16.5, 14.4], [-16.5, 13.8]]
                ],
            },
        }
    ],
}


@pytest.fixture
async def writer(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(
        session,
        settings,
        scopes=[Scope.directory_write],
        kind=OrganizationKind.shelter,
        name="Refuge",
    )


async def create(client: httpx.AsyncClient, writer: Partner, **overrides: Any) -> httpx.Response:
    response = await client.post(
        "/v1/services", json={**SHELTER_BODY, **overrides}, headers=writer.headers
    )
    return response


class TestCreate:
    async def test_one_call_lists_a_service_with_its_location(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession
    ) -> None:
        response = await create(client, writer)
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["etag"] == '"v1"'
        assert response.headers["location"] == f"/v1/services/{body['id']}"
        assert body["organization_id"] == str(writer.organization.id)
        assert validate_hsds(body, "service") == []
        assert {a["taxonomy_term"]["code"] for a in body["attributes"]} == {
            "safe-shelter",
            "psychosocial-support",
        }
        [link] = body["service_at_locations"]
        assert link["location"]["latitude"] == 14.1
        assert link["location"]["addresses"][0]["city"] == "Kaolack"
        assert body["phones"][0]["number"] == "+221330001122"
        assert body["service_areas"][0]["extent_type"] == "geojson"
        public = (await client.get(f"/hsds/services/{body['id']}")).json()
        assert "latitude" not in public["service_at_locations"][0]["location"]
        assert "metadata" not in public, "change history names partner clients"
        own = (await client.get(f"/v1/services/{body['id']}", headers=writer.headers)).json()
        assert own["metadata"][0]["updated_by"] == writer.client.client_id
        created = await session.execute(
            select(Metadata).where(col(Metadata.resource_id) == body["id"])
        )
        [row] = created.scalars()
        assert (row.last_action_type, row.updated_by) == ("create", writer.client.client_id)

    async def test_another_organisation_needs_admin(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession, settings: Settings
    ) -> None:
        other = await create_partner(session, settings, scopes=[Scope.directory_read], name="Other")
        refused = await create(client, writer, organization_id=str(other.organization.id))
        assert refused.status_code == 404
        admin = await create_partner(
            session, settings, scopes=[Scope.directory_write, Scope.admin], name="Operator"
        )
        allowed = await create(client, admin, organization_id=str(other.organization.id))
        assert allowed.status_code == 201
        assert allowed.json()["organization_id"] == str(other.organization.id)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            (
                {"locations": [{"name": "X", "latitude": 100, "longitude": 0}]},
                ["body", "locations", 0, "latitude"],
            ),
            (
                {"locations": [{"name": "X", "latitude": 0, "longitude": 181}]},
                ["body", "locations", 0, "longitude"],
            ),
            ({"phones": [{"number": "1"}]}, ["body", "phones", 0, "number"]),
            ({"minimum_age": 18, "maximum_age": 5}, ["body"]),
            ({"maximum_age": 130}, ["body", "maximum_age"]),
            (
                {
                    "schedules": [
                        {
                            "byday": "MO,XX",
                            "opens_at": "08:00",
                            "closes_at": "09:00",
                            "time_zone": "UTC",
                        }
                    ]
                },
                ["body", "schedules", 0, "byday"],
            ),
            (
                {
                    "schedules": [
                        {
                            "byday": "MO",
                            "opens_at": "08:00",
                            "closes_at": "09:00",
                            "time_zone": "Mars/Base",
                        }
                    ]
                },
                ["body", "schedules", 0, "time_zone"],
            ),
            (
                {
                    "schedules": [
                        {
                            "byday": "MO",
                            "opens_at": "18:00",
                            "closes_at": "09:00",
                            "time_zone": "UTC",
                        }
                    ]
                },
                ["body", "schedules", 0],
            ),
            ({"needs": ["hairdressing"]}, ["body", "needs", 0]),
            ({"needs": []}, ["body", "needs"]),
            (
                {
                    "service_areas": [
                        {
                            "name": "Bow tie",
                            "extent": {
                                "type": "Polygon",
                                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                            },
                        }
                    ]
                },
                ["body", "service_areas", 0, "extent"],
            ),
            (
                {
                    "service_areas": [
                        {
                            "name": "Open",
                            "extent": {
                                "type": "Polygon",
                                "coordinates": [[[0, 0], [1, 1], [1, 0]]],
                            },
                        }
                    ]
                },
                ["body", "service_areas", 0, "extent"],
            ),
            ({"email": "not-an-email"}, ["body", "email"]),
            ({"unknown_field": 1}, ["body", "unknown_field"]),
        ],
    )
    async def test_invalid_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, writer: Partner, change: dict[str, Any], field: list[Any]
    ) -> None:
        response = await create(client, writer, **change)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        locations = [issue["loc"][: len(field)] for issue in response.json()["errors"]]
        assert field in locations, locations


SERVICE_NEVER_NULL = ("name", "status", "visibility", "accepts_referrals", "needs")


class TestUpdate:
    async def test_if_match_guards_every_update(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession
    ) -> None:
        created = await create(client, writer)
        url = f"/v1/services/{created.json()['id']}"
        missing = await client.patch(url, json={"name": "Renamed"}, headers=writer.headers)
        assert missing.status_code == 428
        stale = await client.patch(
            url, json={"name": "Renamed"}, headers={**writer.headers, "If-Match": '"v0"'}
        )
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        fresh = await client.patch(
            url,
            json={"name": "Renamed", "needs": ["safe-shelter"], "maximum_age": 60},
            headers={**writer.headers, "If-Match": created.headers["etag"]},
        )
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["etag"] == '"v2"'
        assert fresh.json()["name"] == "Renamed"
        assert [a["taxonomy_term"]["code"] for a in fresh.json()["attributes"]] == ["safe-shelter"]
        again = await client.patch(
            url,
            json={"name": "Twice"},
            headers={**writer.headers, "If-Match": created.headers["etag"]},
        )
        assert again.status_code == 412
        changes = await session.execute(
            select(Metadata).where(
                col(Metadata.resource_id) == created.json()["id"],
                col(Metadata.field_name) == "name",
            )
        )
        [change] = changes.scalars()
        assert (change.previous_value, change.replacement_value) == ("Refuge des femmes", "Renamed")

    async def test_age_range_is_checked_against_the_stored_value(
        self, client: httpx.AsyncClient, writer: Partner
    ) -> None:
        created = await create(client, writer, maximum_age=17)
        response = await client.patch(
            f"/v1/services/{created.json()['id']}",
            json={"minimum_age": 18},
            headers={**writer.headers, "If-Match": created.headers["etag"]},
        )
        assert response.status_code == 422

    async def test_capacity_and_deactivation(
        self, client: httpx.AsyncClient, writer: Partner
    ) -> None:
        created = await create(client, writer)
        url = f"/v1/services/{created.json()['id']}"
        capacity = await client.put(
            f"{url}/capacity",
            json={"unit": "bed", "available": 3, "maximum": 10},
            headers=writer.headers,
        )
        assert capacity.status_code == 200
        assert capacity.json()["capacities"][0]["available"] == 3
        too_many = await client.put(
            f"{url}/capacity", json={"available": 11, "maximum": 10}, headers=writer.headers
        )
        assert too_many.status_code == 422
        deactivated = await client.post(f"{url}/deactivate", headers=writer.headers)
        assert deactivated.json()["status"] == "inactive"
        public = (await client.get(f"/hsds/services/{created.json()['id']}")).json()
        assert public["status"] == "inactive"

    async def test_moving_a_location_updates_its_region(
        self, client: httpx.AsyncClient, writer: Partner
    ) -> None:
        created = await create(client, writer)
        location_id = created.json()["service_at_locations"][0]["location_id"]
        current = await client.get(f"/v1/locations/{location_id}", headers=writer.headers)
        moved = await client.patch(
            f"/v1/locations/{location_id}",
            json={"latitude": -18.9, "longitude": 47.5},
            headers={**writer.headers, "If-Match": current.headers["etag"]},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["region_key"] != current.json()["region_key"]
        half = await client.patch(
            f"/v1/locations/{location_id}",
            json={"latitude": 1.0},
            headers={**writer.headers, "If-Match": moved.headers["etag"]},
        )
        assert half.status_code == 422

    async def test_a_field_that_cannot_be_empty_is_never_set_to_null(
        self, client: httpx.AsyncClient, writer: Partner
    ) -> None:
        """A PATCH may leave a field out; null for one the record cannot do without (a
        service's name, status, visibility, accepts_referrals, needs; a location's or an
        organisation's visibility, an organisation's name) is a 422 naming it (it was a 500:
        the database refused the NULL)."""
        created = await create(client, writer)
        location_id = created.json()["service_at_locations"][0]["location_id"]
        records = [
            (f"/v1/services/{created.json()['id']}", SERVICE_NEVER_NULL),
            (f"/v1/locations/{location_id}", ("visibility",)),
            (f"/v1/organizations/{writer.organization.id}", ("name", "visibility")),
        ]
        for url, fields in records:
            current = await client.get(url, headers=writer.headers)
            for field in fields:
                refused = await client.patch(
                    url, json={field: None}, headers={**writer.headers, "If-Match": "*"}
                )
                assert refused.status_code == 422, (url, field, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
                assert field in refused.text
            if current.status_code == 200:  # (an organisation is read at /hsds)
                assert (await client.get(url, headers=writer.headers)).json() == current.json()
        # A service meets one need at least, as it was created: no PATCH leaves it none.
        service_url, _ = records[0]
        emptied = await client.patch(
            service_url, json={"needs": []}, headers={**writer.headers, "If-Match": "*"}
        )
        assert emptied.status_code == 422

    async def test_organisation_profile(self, client: httpx.AsyncClient, writer: Partner) -> None:
        url = f"/v1/organizations/{writer.organization.id}"
        response = await client.patch(
            url,
            json={"description": "Shelter network", "website": "https://refuge.example.org"},
            headers={**writer.headers, "If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["website"] == "https://refuge.example.org"
        assert response.headers["etag"] == '"v2"'


class TestIsolation:
    async def test_another_organisations_records_answer_404(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession, settings: Settings
    ) -> None:
        other = await create_partner(
            session, settings, scopes=[Scope.directory_write], name="Other NGO"
        )
        created = await create(client, writer)
        service_url = f"/v1/services/{created.json()['id']}"
        location_id = created.json()["service_at_locations"][0]["location_id"]
        everything = {**writer.headers, "If-Match": "*"}
        others = {**other.headers, "If-Match": "*"}
        await assert_hidden_from_other_organisations(
            client, url=service_url, owner_headers=writer.headers, other_headers=other.headers
        )
        await assert_hidden_from_other_organisations(
            client,
            url=f"/v1/locations/{location_id}",
            owner_headers=writer.headers,
            other_headers=other.headers,
        )
        for method, url, body in [
            ("PATCH", service_url, {"name": "Hijacked"}),
            ("PUT", f"{service_url}/capacity", {"available": 0}),
            ("POST", f"{service_url}/deactivate", None),
            ("PATCH", f"/v1/locations/{location_id}", {"name": "Hijacked"}),
            ("PATCH", f"/v1/organizations/{writer.organization.id}", {"name": "Hijacked"}),
        ]:
            await assert_hidden_from_other_organisations(
                client,
                url=url,
                method=method,
                json=body,
                owner_headers=everything,
                other_headers=others,
            )
        authors = await session.execute(
            select(col(Metadata.updated_by)).where(
                col(Metadata.resource_id) == created.json()["id"]
            )
        )
        assert set(authors.scalars()) == {writer.client.client_id}


def _rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


# Drawn with straight edges in longitude and latitude, as the coverage test reads it: its area
# as a geography (great-circle edges through the poles' neighbourhood) would be 0.
WORLD = _rectangle(-180, -85, 180, 85)
# A district of the demo region (Terre-Démo: longitudes -16.40 to -15.50, latitudes 13.80 to
# 14.40), about 470 km².
DISTRICT = _rectangle(-16.1, 14.0, -15.9, 14.2)
IN_THE_REGION = {"name": "Antenne", "latitude": 14.1, "longitude": -16.0}


async def _areas_of(session: AsyncSession, service_id: str) -> list[bool]:
    rows = await session.execute(
        select(col(ServiceArea.vetted)).where(col(ServiceArea.service_id) == service_id)
    )
    return list(rows.scalars())


async def _services_of(session: AsyncSession, partner: Partner) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Service)
        .where(col(Service.organization_id) == partner.organization.id)
    )
    return int(count or 0)


class TestServiceAreaBounds:
    """POST /v1/services: what an organisation may declare as its service area (issue 17)."""

    @pytest.fixture
    async def demo(self, session: AsyncSession) -> None:
        await load_demo(session)

    @pytest.fixture
    async def neighbour(self, session: AsyncSession) -> AdminArea:
        """A country next to the demo region, where the writer has no place."""
        area = AdminArea(
            name="Neighbouring country",
            level=0,
            country="YY",
            geom=from_shape(MultiPolygon([box(-15.5, 13.8, -14.6, 14.4)]), srid=4326),
        )
        session.add(area)
        await session.flush()
        return area

    async def test_a_world_wide_area_is_refused(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession
    ) -> None:
        response = await create(
            client, writer, service_areas=[{"name": "Everywhere", "extent": WORLD}]
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == "urn:relay:problem:service-area-refused"
        assert body["errors"][0]["loc"] == ["body", "service_areas"]
        assert "operator" in body["detail"]
        assert await _services_of(session, writer) == 0

    async def test_many_areas_count_together(
        self, client: httpx.AsyncClient, writer: Partner
    ) -> None:
        # Twenty areas of about 6,000 km² each: each small, together larger than the limit.
        areas = [{"name": f"Part {n}", "extent": _rectangle(n, 0, n + 0.7, 0.7)} for n in range(20)]
        response = await create(client, writer, service_areas=areas)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "service_areas"]

    async def test_a_district_sized_area_is_accepted(
        self, client: httpx.AsyncClient, writer: Partner, session: AsyncSession, demo: None
    ) -> None:
        response = await create(
            client,
            writer,
            locations=[IN_THE_REGION],
            service_areas=[{"name": "Team district", "extent": DISTRICT}],
        )
        assert response.status_code == 201, response.text
        assert await _areas_of(session, response.json()["id"]) == [True]

    async def test_an_area_reaching_into_another_country_is_refused(
        self,
        client: httpx.AsyncClient,
        writer: Partner,
        session: AsyncSession,
        demo: None,
        neighbour: AdminArea,
    ) -> None:
        response = await create(
            client,
            writer,
            locations=[IN_THE_REGION],
            service_areas=[
                {"name": "District", "extent": DISTRICT},
                {"name": "Across the border", "extent": _rectangle(-15.9, 14.0, -15.2, 14.2)},
            ],
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "service_areas", 1, "extent"]
        assert await _services_of(session, writer) == 0

    async def test_a_place_in_that_country_allows_it(
        self,
        client: httpx.AsyncClient,
        writer: Partner,
        demo: None,
        neighbour: AdminArea,
    ) -> None:
        response = await create(
            client,
            writer,
            locations=[IN_THE_REGION, {"name": "Office", "latitude": 14.1, "longitude": -15.3}],
            service_areas=[{"name": "Both sides", "extent": _rectangle(-15.9, 14.0, -15.2, 14.2)}],
        )
        assert response.status_code == 201, response.text

    async def test_an_organisation_without_places_cannot_claim_a_country(
        self, client: httpx.AsyncClient, writer: Partner, demo: None
    ) -> None:
        response = await create(
            client, writer, locations=[], service_areas=[{"name": "District", "extent": DISTRICT}]
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "service_areas", 0, "extent"]

    async def test_the_operator_may_declare_a_large_one(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, demo: None
    ) -> None:
        operator = await create_partner(
            session, settings, scopes=[Scope.directory_write, Scope.admin], name="Operator"
        )
        response = await create(
            client,
            operator,
            locations=[],
            service_areas=[{"name": "Whole world", "extent": WORLD}],
        )
        assert response.status_code == 201, response.text
        assert await _areas_of(session, response.json()["id"]) == [True]

    async def test_the_limit_is_a_setting(
        self, client: httpx.AsyncClient, app: FastAPI, writer: Partner, demo: None
    ) -> None:
        original = app.state.settings
        app.state.settings = original.model_copy(update={"max_service_area_km2": 100.0})
        try:
            response = await create(
                client,
                writer,
                locations=[IN_THE_REGION],
                service_areas=[{"name": "Team district", "extent": DISTRICT}],
            )
        finally:
            app.state.settings = original
        assert response.status_code == 422, response.text
        assert "100 km²" in response.json()["detail"]
