"""Issue 22, part 4, over HTTP (no browser): an organisation's admin keeps its entries on
``/app/directory`` with the API's validation, ETags and history, reviews its queue, and the
operator sees every queue and the stale entries on ``/app/operator``; other roles and other
organisations are refused."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.config import Settings
from api.models.directory import DirectoryReport, Metadata, ReportReason, Service
from api.models.organization import Organization
from api.models.people import UserRole
from api.schemas.directory import ServiceCreate
from api.services import directory, reports
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_operator_organization, create_person
from tests.web.app_pages import (
    another_organisations,
    browser_client,
    hidden_fields,
    sign_in,
    submit,
)
from tests.web.app_pages import problem_words as problem
from tests.web.pages import Page

SERVICE_BODY: dict[str, Any] = {
    "name": "Centre d'accueil Isotry (pages)",
    "needs": ["psychosocial-support"],
    "phones": [{"number": "+261 20 22 000 03", "type": "voice"}],
    "locations": [{"name": "Isotry", "latitude": -18.91, "longitude": 47.51}],
}


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Centre d'accueil Isotry")


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings, organization: Organization) -> Person:
    return await create_person(session, settings, organization, UserRole.org_admin)


@pytest.fixture
async def service(session: AsyncSession, settings: Settings, admin: Person) -> Service:
    return await directory.create_service(
        session,
        admin.principal(),
        ServiceCreate.model_validate(SERVICE_BODY),
        largest_area_km2=settings.max_service_area_km2,
    )


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


async def reported(
    session: AsyncSession, settings: Settings, service: Service, reason: ReportReason
) -> DirectoryReport:
    filed = await reports.report(
        session, settings, service.id, reason, "+261 34 11 222 33", "198.51.100.1"
    )
    assert isinstance(filed, DirectoryReport)
    return filed


class TestAnAdminsEntries:
    async def test_the_page_lists_entries_and_the_queue(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        admin: Person,
        service: Service,
    ) -> None:
        await reported(session, settings, service, ReportReason.wrong_number)
        await sign_in(browser, admin)
        page = await browser.get("/app/directory")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        shown = Page(page.text)
        assert shown.all("li", **{"data-service": str(service.id)})
        assert "Wrong phone number" in shown.text
        assert "Suggested: +261 34 11 222 33" in shown.text
        assert "Not checked" in shown.text
        assert "Directory entries · Relay" in page.text  # the title: the catalogue's only

    async def test_phones_capacity_status_and_confirmation_as_the_api_would(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        admin: Person,
        service: Service,
    ) -> None:
        await sign_in(browser, admin)
        path = f"/app/directory/services/{service.id}"
        wrong = await submit(
            browser, path, {"number_0": "call me"}, action=f"{path}/phones", form_id="phones-form"
        )
        assert wrong.status_code == 422
        assert "country code" in problem(wrong)
        saved = await submit(
            browser,
            path,
            {"number_0": "+261 34 11 222 33", "type_0": "whatsapp", "number_1": "117"},
            action=f"{path}/phones",
            form_id="phones-form",
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"{path}?done=phones"
        shown = Page((await browser.get(path)).text)
        assert [attrs["value"] for attrs in shown.all("input", type="tel")][:2] == [
            "+261341122233",
            "117",
        ]
        history = (
            await session.execute(
                select(Metadata.field_name).where(col(Metadata.resource_id) == service.id)
            )
        ).scalars()
        assert "phones" in list(history)

        # A form shown before someone else's change is refused, not applied (its ETag).
        page = await browser.get(path)
        await submit(
            browser,
            path,
            {"status": "temporarily closed"},
            action=f"{path}/status",
            form_id="status-form",
        )
        fields = {"available": "2", "maximum": "5", "unit": "bed"}
        stale = await browser.post(
            f"{path}/capacity",
            data={**hidden_fields(page.text, "capacity-form"), **fields},
            headers={"Origin": "https://relay.test", "Sec-Fetch-Site": "same-origin"},
        )
        assert stale.status_code == 412
        assert "changed this entry meanwhile" in problem(stale)

        too_many = await submit(
            browser,
            path,
            {"available": "9", "maximum": "5"},
            action=f"{path}/capacity",
            form_id="capacity-form",
        )
        assert too_many.status_code == 422
        capacity = await submit(
            browser, path, fields, action=f"{path}/capacity", form_id="capacity-form"
        )
        assert capacity.status_code == 303

        confirmed = await submit(
            browser, path, {}, action=f"{path}/confirm", form_id="confirm-form"
        )
        assert confirmed.status_code == 303
        await session.refresh(service)
        assert service.assured_date == datetime.now(UTC).date()
        assert service.status == "temporarily closed"
        today = datetime.now(UTC).date().isoformat()
        assert f"Checked on {today}" in Page((await browser.get(path)).text).text

    async def test_accept_and_dismiss_from_the_queue(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        admin: Person,
        service: Service,
    ) -> None:
        first = await reported(session, settings, service, ReportReason.wrong_number)
        second = await reported(session, settings, service, ReportReason.moved)
        await sign_in(browser, admin)
        path = f"/app/directory/services/{service.id}"
        accepted = await submit(
            browser, path, {}, action=f"/app/directory/reports/{first.id}/accept"
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"{path}?done=accepted"
        again = await submit(browser, path, {}, action=f"/app/directory/reports/{first.id}/dismiss")
        assert again.status_code == 409
        dismissed = await submit(
            browser,
            path,
            {"back": "directory"},
            action=f"/app/directory/reports/{second.id}/dismiss",
        )
        assert dismissed.headers["location"] == "/app/directory?done=dismissed"
        assert "No report waits." in Page((await browser.get("/app/directory")).text).text


class TestWhoMay:
    async def test_other_roles_and_organisations_are_refused(
        self,
        app: FastAPI,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        service: Service,
    ) -> None:
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, volunteer)
        assert (await browser.get("/app/directory")).status_code == 403
        assert (await browser.get(f"/app/directory/services/{service.id}")).status_code == 403
        assert (await browser.get("/app/operator")).status_code == 403

        async with another_organisations(
            app, session, settings, UserRole.org_admin, "Another NGO (pages)"
        ) as other:
            assert (await other.get(f"/app/directory/services/{service.id}")).status_code == 404
            assert (await other.get(f"/app/directory?org={organization.id}")).status_code == 404
            assert (await other.get("/app/operator")).status_code == 403
            missing = await other.get(f"/app/directory/services/{uuid.uuid4()}")
            assert missing.status_code == 404

    async def test_the_operator_sees_every_queue_and_the_stale_entries(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        service: Service,
    ) -> None:
        await reported(session, settings, service, ReportReason.closed)
        service.stale_since = datetime.now(UTC)
        await session.flush()
        operator = await create_person(
            session, settings, await create_operator_organization(session), UserRole.operator
        )
        async with browser_client(app) as opened:
            await sign_in(opened, operator)
            page = await opened.get("/app/operator")
            assert page.status_code == 200
            shown = Page(page.text)
            assert "Closed" in shown.text
            assert shown.all("li", **{"data-service": str(service.id)})  # stale
            assert shown.all("a", href=f"/app/directory?org={service.organization_id}")
            entry = await opened.get(f"/app/directory/services/{service.id}")
            assert entry.status_code == 200


class TestNotice:
    async def test_a_closure_notice_is_posted_shown_and_removed(
        self, browser: httpx.AsyncClient, admin: Person, service: Service
    ) -> None:
        await sign_in(browser, admin)
        path = f"/app/directory/services/{service.id}"
        wrong = await submit(
            browser,
            path,
            {"alert": "Closed", "alert_until": "next week"},
            action=f"{path}/notice",
            form_id="notice-form",
        )
        assert wrong.status_code == 422
        assert "2026-12-31" in problem(wrong)
        posted = await submit(
            browser,
            path,
            {"alert": "Closed until the team is back", "alert_until": "2099-01-31"},
            action=f"{path}/notice",
            form_id="notice-form",
        )
        assert posted.status_code == 303
        query = {"lat": "-18.91", "lon": "47.51", "need": "psychosocial-support", "lang": "en"}
        card = Page((await browser.get("/lookup", params=query)).text).card(str(service.id))
        assert "Closed until the team is back (until 2099-01-31)" in card.text
        removed = await submit(
            browser, path, {"alert": ""}, action=f"{path}/notice", form_id="notice-form"
        )
        assert removed.status_code == 303
        card = Page((await browser.get("/lookup", params=query)).text).card(str(service.id))
        assert "Closed until" not in card.text
