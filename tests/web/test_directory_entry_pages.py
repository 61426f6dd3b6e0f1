"""Issue 22, the rest of the self-service pages over HTTP (no browser): a service's opening
hours (HSDS weekly schedules), languages, who may come and visibility, and the organisation's
locations, each saved through the API's own services: its validation (a clear form error), its
ETags (a form shown before someone else's change is refused), its history (metadata, audit,
``directory.changed``); other roles and other organisations are refused.

The fixtures are those of ``test_directory_pages.py`` (imported: the tests' parameters name them).
"""
# ruff: noqa: F811

import uuid
from typing import Any, NamedTuple

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import any_, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.config import Settings
from api.models.audit import AuditEvent
from api.models.directory import Address, Location, Metadata, Service
from api.models.events import OutboxEvent
from api.models.organization import Organization
from api.models.people import UserRole
from api.schemas.directory import LocationIn
from api.services import directory
from api.web.i18n import catalog
from tests.factories.people import Person, create_operator_organization, create_person
from tests.web.app_pages import (
    ORIGIN,
    another_organisations,
    browser_client,
    hidden_fields,
    sign_in,
    submit,
)
from tests.web.pages import Page
from tests.web.test_directory_pages import (  # noqa: F401 (fixtures)
    admin,
    browser,
    organization,
    problem,
    service,
)

SAME_ORIGIN = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}


async def history(session: AsyncSession, record_id: uuid.UUID) -> list[str]:
    found = await session.execute(
        select(Metadata.field_name).where(col(Metadata.resource_id) == record_id)
    )
    return list(found.scalars())


async def heard(session: AsyncSession, record_id: uuid.UUID) -> tuple[int, int]:
    """How many audit events of a person and ``directory.changed`` events name the record (the
    audit trail is read as the worker reads it)."""
    await session.execute(text("SELECT set_config('relay.worker', 'on', true)"))
    audited = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            literal(str(record_id)) == any_(col(AuditEvent.resource_ids)),
            col(AuditEvent.acting_user).startswith("user/"),
        )
    )
    changed = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(
            col(OutboxEvent.subject_id) == record_id,
            col(OutboxEvent.type) == "directory.changed",
        )
    )
    return int(audited or 0), int(changed or 0)


class Entry(NamedTuple):
    path: str
    service_id: uuid.UUID
    browser: httpx.AsyncClient  # its organisation's admin signed in
    client: httpx.AsyncClient  # anonymous


@pytest.fixture
async def entry(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person, service: Service
) -> Entry:
    """The service's page, its organisation's admin signed in."""
    await sign_in(browser, admin)
    return Entry(f"/app/directory/services/{service.id}", service.id, browser, client)


def ticked(page: Page) -> set[str]:
    return {box["name"] for box in page.all("input", type="checkbox") if "checked" in box}


def hours_form(rows: list[tuple[str, str, str]], time_zone: str) -> dict[str, str]:
    """The hours form as a person fills it: per row the days ticked, opening and closing."""
    data = {"time_zone": time_zone}
    for row, (days, opens, closes) in enumerate(rows):
        data |= {f"day_{row}_{day}": "1" for day in days.split(",") if day}
        data |= {f"opens_{row}": opens, f"closes_{row}": closes}
    return data


class TestHours:
    async def test_weekly_hours_are_saved_as_the_api_saves_them(
        self, session: AsyncSession, entry: Entry
    ) -> None:
        path, service_id, browser, client = entry
        action = {"action": f"{path}/hours", "form_id": "hours-form"}
        cases: list[tuple[list[tuple[str, str, str]], str, str]] = [
            ([("MO,TU", "08:00", "17:00")], "Africa/Atlantis", "as the world's list writes it"),
            ([("MO", "20:00", "06:00")], "Indian/Antananarivo", "Hours 1: the closing time"),
            ([("MO", "08:00", "17:00"), ("", "09:00", "12:00")], "UTC", "Hours 2: tick"),
            ([("SA", "8h", "12:00")], "UTC", "Hours 1: give both times"),
        ]
        for rows, zone, said in cases:
            wrong = await submit(browser, path, hours_form(rows, zone), **action)
            assert wrong.status_code == 422, rows
            assert said in problem(wrong)
            # The form as sent is shown again, to be corrected.
            assert Page(wrong.text).all("input", id="time_zone")[0]["value"] == zone

        rows = [("MO,TU,WE,TH,FR", "08:00", "17:00"), ("SA", "20:00", "23:59")]
        saved = await submit(browser, path, hours_form(rows, "Indian/Antananarivo"), **action)
        assert saved.status_code == 303
        assert saved.headers["location"] == f"{path}?done=hours"
        shown = (await client.get(f"/hsds/services/{service_id}")).json()["schedules"]
        assert sorted((item["byday"], item["opens_at"], item["closes_at"]) for item in shown) == [
            ("MO,TU,WE,TH,FR", "08:00", "17:00"),
            ("SA", "20:00", "23:59"),
        ]
        assert {item["time_zone"] for item in shown} == {"Indian/Antananarivo"}
        assert {item["freq"] for item in shown} == {"WEEKLY"}
        page = Page((await browser.get(path)).text)
        assert page.all("input", id="opens_1")[0]["value"] == "20:00"
        assert {"day_0_MO", "day_0_FR", "day_1_SA"} <= ticked(page)
        assert "day_1_MO" not in ticked(page)
        assert "schedules" in await history(session, service_id)
        assert await heard(session, service_id) >= (1, 1)

        # A form shown before someone else's change is refused, not applied.
        before = await browser.get(path)
        await submit(browser, path, {"languages": "mg"}, action=f"{path}/languages")
        stale = await browser.post(
            f"{path}/hours",
            data={**hidden_fields(before.text, "hours-form"), **hours_form([], "UTC")},
            headers=SAME_ORIGIN,
        )
        assert stale.status_code == 412
        assert "changed this entry meanwhile" in problem(stale)

        # Times typed in the digits of Nepali or Khmer are read as the same times.
        nepali, khmer = catalog("ne").numerals("09:00"), catalog("km").numerals("12:30")
        native = hours_form([("SU", nepali, khmer)], "Asia/Kathmandu")
        assert (await submit(browser, path, native, **action)).status_code == 303
        [sunday] = (await client.get(f"/hsds/services/{service_id}")).json()["schedules"]
        assert (sunday["opens_at"], sunday["closes_at"]) == ("09:00", "12:30")

        # Every row left empty removes the hours.
        cleared = await submit(browser, path, hours_form([], ""), **action)
        assert cleared.status_code == 303
        assert not (await client.get(f"/hsds/services/{service_id}")).json().get("schedules")


class TestWhoAndWhere:
    async def test_languages_and_who_may_come(self, session: AsyncSession, entry: Entry) -> None:
        path, service_id, browser, client = entry
        wrong = await submit(browser, path, {"languages": "Malagasy"}, action=f"{path}/languages")
        assert wrong.status_code == 422
        assert "two or three small letters" in problem(wrong)
        saved = await submit(browser, path, {"languages": "mg, fr"}, action=f"{path}/languages")
        assert saved.status_code == 303

        eligibility = {"action": f"{path}/eligibility", "form_id": "eligibility-form"}
        for ages, said in [
            ({"minimum_age": "18", "maximum_age": "12"}, "the youngest no older than the oldest"),
            ({"minimum_age": "twelve"}, "whole years from 0 to 120"),
            ({"minimum_age": "130"}, "whole years from 0 to 120"),
        ]:
            refused = await submit(browser, path, ages, **eligibility)
            assert refused.status_code == 422, ages
            assert said in problem(refused)
        who = {
            "minimum_age": "12",
            "maximum_age": "24",
            "gender_female": "1",
            "group_adolescent_girls": "1",
            "group_survivors_of_gbv": "1",
            "eligibility_description": "Girls and young women, with or without papers",
        }
        assert (await submit(browser, path, who, **eligibility)).status_code == 303
        body: dict[str, Any] = (await client.get(f"/hsds/services/{service_id}")).json()
        assert sorted(item["code"] for item in body["languages"]) == ["fr", "mg"]
        assert (body["minimum_age"], body["maximum_age"], body["genders"]) == (12, 24, ["female"])
        assert body["target_groups"] == ["adolescent_girls", "survivors_of_gbv"]
        page = Page((await browser.get(path)).text)
        assert {"gender_female", "group_survivors_of_gbv"} <= ticked(page)
        assert page.all("input", id="languages")[0]["value"] in {"mg, fr", "fr, mg"}
        changed = await history(session, service_id)
        assert {"languages", "minimum_age", "genders", "target_groups"} <= set(changed)

        # The search asks the same fields: a boy of 15 no longer finds it, a girl does.
        query = {"lat": -18.91, "lon": 47.51, "need": "psychosocial-support", "age": 15}
        ids = [
            [item["service"]["id"] for item in found.json()["data"]]
            for found in [
                await client.get("/v1/search/nearest", params={**query, "gender": "male"}),
                await client.get("/v1/search/nearest", params={**query, "gender": "female"}),
            ]
        ]
        assert str(service_id) not in ids[0]
        assert str(service_id) in ids[1]

    async def test_a_digit_that_is_not_a_number_is_a_form_error(
        self, session: AsyncSession, entry: Entry
    ) -> None:
        """A "²" is a digit to ``isdigit`` but no ``int``: an age, a count or the form's
        version typed so is refused in words (it was a 500), while an age in Nepali or Khmer
        digits is still read as the number it writes."""
        path, service_id, browser, _ = entry
        eligibility = {"action": f"{path}/eligibility", "form_id": "eligibility-form"}
        refused = await submit(browser, path, {"minimum_age": "²"}, **eligibility)
        assert refused.status_code == 422
        assert "whole years from 0 to 120" in problem(refused)
        capacity = {"action": f"{path}/capacity", "form_id": "capacity-form"}
        counted = await submit(browser, path, {"available": "²", "maximum": "3"}, **capacity)
        assert counted.status_code == 422
        languages = {"action": f"{path}/languages", "form_id": "languages-form"}
        stale = await submit(browser, path, {"languages": "fr", "version": "²"}, **languages)
        assert stale.status_code == 428
        nepali = {"minimum_age": "१२", "maximum_age": "២៤"}
        assert (await submit(browser, path, nepali, **eligibility)).status_code == 303
        saved = await session.get(Service, service_id, populate_existing=True)
        assert saved is not None
        assert (saved.minimum_age, saved.maximum_age) == (12, 24)

    async def test_visibility_as_the_api_allows_it(
        self, session: AsyncSession, entry: Entry
    ) -> None:
        path, service_id, browser, client = entry
        form = {"action": f"{path}/visibility", "form_id": "visibility-form"}
        wrong = await submit(browser, path, {"visibility": "secret"}, **form)
        assert wrong.status_code == 422
        assert "Choose who may see it" in problem(wrong)
        assert (await client.get(f"/hsds/services/{service_id}")).status_code == 200
        saved = await submit(browser, path, {"visibility": "partners"}, **form)
        assert saved.status_code == 303
        # Anonymous readers no longer find it; its organisation's page still lists it.
        assert (await client.get(f"/hsds/services/{service_id}")).status_code == 404
        listed = Page((await browser.get("/app/directory")).text)
        assert listed.all("li", **{"data-service": str(service_id)})
        assert "visibility" in await history(session, service_id)


class TestLocations:
    async def test_an_organisations_locations_are_listed_and_kept(
        self,
        browser: httpx.AsyncClient,
        client: httpx.AsyncClient,
        session: AsyncSession,
        admin: Person,
        service: Service,
    ) -> None:
        [place] = (
            await session.execute(
                select(Location).where(col(Location.organization_id) == service.organization_id)
            )
        ).scalars()
        await sign_in(browser, admin)
        listed = Page((await browser.get("/app/directory")).text)
        [card] = listed.all("li", **{"data-location": str(place.id)})
        page = Page((await browser.get("/app/directory")).text)
        assert "No address given" in page.text
        assert "Position shown on the map" in page.text
        assert card

        path = f"/app/directory/locations/{place.id}"
        wrong = await submit(
            browser,
            path,
            {"name": "Isotry", "address_1": "Lot IVG 12", "city": "Antananarivo"},
            form_id="location-form",
        )
        assert wrong.status_code == 422
        assert "two letters" in problem(wrong)
        address = {"address_1": "Lot IVG 12", "city": "Antananarivo", "country": "mg"}
        saved = await submit(
            browser, path, {"name": "Isotry centre", **address}, form_id="location-form"
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"{path}?done=location"
        await session.refresh(place)
        assert place.name == "Isotry centre"
        addresses = await session.execute(
            select(Address.address_1, Address.country).where(col(Address.location_id) == place.id)
        )
        assert [tuple(row) for row in addresses] == [("Lot IVG 12", "MG")]
        assert "Lot IVG 12, Antananarivo" in Page((await browser.get("/app/directory")).text).text
        assert {"name", "address"} <= set(await history(session, place.id))
        assert await heard(session, place.id) >= (1, 1)

        # A stale form is refused.
        before = await browser.get(path)
        await submit(browser, path, {"name": "Isotry", **address}, form_id="location-form")
        stale = await browser.post(
            path,
            data={**hidden_fields(before.text, "location-form"), "name": "Old"},
            headers=SAME_ORIGIN,
        )
        assert stale.status_code == 412
        assert "changed this entry meanwhile" in problem(stale)

        # Made confidential, its name and address are no longer shown to the org admin (not
        # cleared to locate shelters, as search and /hsds answer); a field left empty keeps
        # what is there, and what is typed replaces it.
        made = await submit(
            browser,
            path,
            {"name": "Isotry", **address, "visibility": "confidential"},
            form_id="location-form",
        )
        assert made.status_code == 303
        page = Page((await browser.get(path)).text)
        assert "Confidential place" in page.text
        assert "Lot IVG 12" not in page.text
        assert "Isotry" not in page.text
        assert "Position withheld" in page.text
        kept = await submit(browser, path, {"visibility": "confidential"}, form_id="location-form")
        assert kept.status_code == 303
        await session.refresh(place)
        assert place.name == "Isotry"
        renamed = await submit(
            browser,
            path,
            {"name": "Safe house", "visibility": "confidential"},
            form_id="location-form",
        )
        assert renamed.status_code == 303
        await session.refresh(place)
        assert (place.name, place.visibility) == ("Safe house", "confidential")
        listing = Page((await browser.get("/app/directory")).text)
        assert "Safe house" not in listing.text
        assert "Position withheld" in listing.text


class TestWhoMay:
    async def test_other_roles_and_organisations_are_refused(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        admin: Person,
        service: Service,
    ) -> None:
        place = await directory.create_location(
            session,
            admin.principal(),
            LocationIn(name="Ambohimanarina", latitude=-18.89, longitude=47.5),
            None,
        )
        caseworker = await create_person(session, settings, organization, UserRole.caseworker)
        async with browser_client(app) as opened:
            await sign_in(opened, caseworker)
            assert (await opened.get(f"/app/directory/locations/{place.id}")).status_code == 403
            shown = await opened.get(f"/app/directory/services/{service.id}")
            assert shown.status_code == 403
            fields = hidden_fields(shown.text) | {"version": str(service.version)}
            for action in ("hours", "languages", "eligibility", "visibility"):
                sent = await opened.post(
                    f"/app/directory/services/{service.id}/{action}",
                    data=fields | {"visibility": "public", "languages": "mg"},
                    headers=SAME_ORIGIN,
                )
                assert sent.status_code == 403, (action, sent.status_code)
            sent = await opened.post(
                f"/app/directory/locations/{place.id}",
                data=fields | {"name": "Taken"},
                headers=SAME_ORIGIN,
            )
            assert sent.status_code == 403

        async with another_organisations(
            app, session, settings, UserRole.org_admin, "Another NGO (entry pages)"
        ) as other:
            # Another organisation's location, one that does not exist, an id that does not parse.
            for wanted in (place.id, uuid.uuid4(), "not-an-id"):
                missing = await other.get(f"/app/directory/locations/{wanted}")
                assert missing.status_code == 404, wanted
            listed = Page((await other.get("/app/directory")).text)
            assert not listed.all("li", **{"data-location": str(place.id)})

        operator = await create_person(
            session, settings, await create_operator_organization(session), UserRole.operator
        )
        async with browser_client(app) as opened:
            await sign_in(opened, operator)
            listed = Page((await opened.get(f"/app/directory?org={organization.id}")).text)
            assert listed.all("li", **{"data-location": str(place.id)})
            assert (await opened.get(f"/app/directory/locations/{place.id}")).status_code == 200


@pytest.mark.parametrize("language", ["fr", "mg", "ne", "km"])
async def test_the_forms_speak_every_language(
    browser: httpx.AsyncClient, admin: Person, service: Service, language: str
) -> None:
    await sign_in(browser, admin)
    english = Page((await browser.get(f"/app/directory/services/{service.id}?lang=en")).text)
    other = Page((await browser.get(f"/app/directory/services/{service.id}?lang={language}")).text)
    for words in ("Opening hours", "Languages spoken", "Who may come", "Who may see it"):
        assert words in english.text
        assert words not in other.text
