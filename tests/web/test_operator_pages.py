"""Issue 22, the operator's pages over HTTP (no browser): organisations found by name (paged),
registered, suspended (after a confirmation) and reactivated, each with its people and API
clients (disabled through the API's service); the national lines of each country. Only the
operator; every form with its CSRF token; a refused field is a form error, never a 500; each
change audited as ``user/<id>``."""

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.principal import person_pseudonym
from api.auth.scopes import Scope
from api.config import Settings
from api.models.audit import AuditEvent
from api.models.directory import NationalLine
from api.models.organization import Organization, OrganizationStatus
from api.models.people import UserRole
from api.repositories.base import act_as_worker
from api.schemas.directory import ServiceCreate
from api.services import directory
from tests.factories.auth import create_client, issue_token
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_operator_organization, create_person
from tests.web.app_pages import ORIGIN, browser_client, sign_in, submit
from tests.web.app_pages import problem_words as problem
from tests.web.pages import Page


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Person:
    return await create_person(
        session, settings, await create_operator_organization(session), UserRole.operator
    )


@pytest.fixture
async def browser(
    app: FastAPI, client: httpx.AsyncClient, operator: Person
) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        await sign_in(opened, operator)
        yield opened


async def audited(session: AsyncSession, action: str, resource: object) -> list[str | None]:
    """Who the audit trail says did ``action`` to ``resource`` (read as the worker, who sees
    every event: an organisation sees only those it is party to)."""
    await act_as_worker(session)
    rows = await session.execute(
        select(col(AuditEvent.acting_user)).where(
            col(AuditEvent.action) == action,
            func.array_position(col(AuditEvent.resource_ids), str(resource)).is_not(None),
        )
    )
    return list(rows.scalars())


class TestOrganisations:
    async def test_found_by_name_page_by_page(
        self, browser: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        marker = uuid.uuid4().hex[:8]
        for number in range(27):
            await create_organization(session, name=f"Foyer {marker} {number:02d}")
        await create_organization(session, name=f"Hôpital {marker}")
        first = await browser.get(f"/app/operator/organizations?q=foyer+{marker}")
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"
        shown = Page(first.text)
        assert "Organisations found: 27" in shown.text
        assert len(shown.all("li", **{"class": "card"})) == 25
        assert f"Hôpital {marker}" not in shown.text
        assert shown.all("a", id="next-page")
        second = Page(
            (await browser.get(f"/app/operator/organizations?q=foyer+{marker}&page=2")).text
        )
        assert len(second.all("li", **{"class": "card"})) == 2
        assert second.all("a", id="previous-page")
        # A search of what no name holds, and a nonsense page number, are pages, not errors.
        nothing = await browser.get("/app/operator/organizations?q=%25_%5C&page=-3")
        assert nothing.status_code == 200
        assert "No organisation found." in Page(nothing.text).text
        # "²" is a digit to ``str.isdigit`` but no number (it was a 500): the first page.
        superscript = await browser.get("/app/operator/organizations?q=foyer&page=%C2%B2")
        assert superscript.status_code == 200

    async def test_registered_with_the_apis_validation_and_audited(
        self, browser: httpx.AsyncClient, session: AsyncSession, operator: Person
    ) -> None:
        path = "/app/operator/organizations/new"
        empty = await submit(browser, path, {"name": "  ", "kind": "ngo"})
        assert empty.status_code == 422
        assert "Give the organisation's name" in problem(empty)
        wrong_kind = await submit(browser, path, {"name": "Maison des femmes", "kind": "bakery"})
        assert wrong_kind.status_code == 422
        assert "Choose a kind from the list." in problem(wrong_kind)
        assert 'value="Maison des femmes"' in wrong_kind.text  # what was typed is kept

        made = await submit(browser, path, {"name": "Maison des femmes", "kind": "shelter"})
        assert made.status_code == 303
        where = made.headers["location"]
        assert re.fullmatch(r"/app/operator/organizations/[0-9a-f-]{36}\?done=created", where)
        organization_id = uuid.UUID(where.split("/")[-1].split("?")[0])
        created = await session.get(Organization, organization_id)
        assert created is not None
        assert (created.name, created.kind, created.status) == (
            "Maison des femmes",
            "shelter",
            "active",
        )
        page = Page((await browser.get(where)).text)
        assert "The organisation is registered." in page.text
        assert page.all("a", href=f"/app/people?org={organization_id}")
        assert page.all("a", href=f"/app/directory?org={organization_id}")
        assert await audited(session, "admin.create", organization_id) == [
            person_pseudonym(operator.user_id)
        ]

    async def test_suspended_after_a_confirmation_then_reactivated(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        operator: Person,
    ) -> None:
        partner = await create_organization(session, name="Centre Ambohipo (suspended)")
        admin = await create_person(session, settings, partner, UserRole.org_admin)
        service = await directory.create_service(
            session,
            admin.principal(),
            ServiceCreate.model_validate(
                {
                    "name": "Écoute Ambohipo",
                    "needs": ["psychosocial-support"],
                    "phones": [{"number": "+261 20 22 000 07", "type": "voice"}],
                    "locations": [{"name": "Ambohipo", "latitude": -18.92, "longitude": 47.55}],
                }
            ),
            largest_area_km2=settings.max_service_area_km2,
        )
        credentials = await create_client(
            session, settings, partner, scopes=[Scope.directory_read], name="Case system"
        )
        token = await issue_token(session, settings, credentials)
        bearer = {"Authorization": f"Bearer {token}"}
        async with browser_client(app) as operators, browser_client(app) as partners:
            await sign_in(operators, operator)
            await sign_in(partners, admin)
            assert (await client.get("/v1/clients", headers=bearer)).status_code == 200
            assert (await client.get(f"/hsds/services/{service.id}")).status_code == 200

            path = f"/app/operator/organizations/{partner.id}"
            asked = await operators.get(f"{path}/suspend")
            assert asked.status_code == 200
            assert "Centre Ambohipo (suspended)" in Page(asked.text).text
            forged = await operators.post(
                f"{path}/suspend", data={"csrf_token": "forged"}, headers={"Origin": ORIGIN}
            )
            assert forged.status_code == 403
            await session.refresh(partner)
            assert partner.status == "active"

            done = await submit(operators, f"{path}/suspend", {})
            assert done.status_code == 303
            assert done.headers["location"] == f"{path}?done=suspended"
            await session.refresh(partner)
            assert partner.status == OrganizationStatus.suspended.value
            shown = Page((await operators.get(path)).text)
            assert "Suspended" in shown.text
            assert shown.all("a", id="reactivate-link")

            # Its token, its people's session and its listing stop at once.
            assert (await client.get("/v1/clients", headers=bearer)).status_code == 401
            assert (await partners.get("/app/directory")).status_code == 303
            assert (await client.get(f"/hsds/services/{service.id}")).status_code == 404
            again = await submit(operators, f"{path}/suspend", {})
            assert again.status_code == 409
            assert "in this state already" in problem(again)

            back = await submit(operators, f"{path}/reactivate", {})
            assert back.headers["location"] == f"{path}?done=active"
            assert (await client.get("/v1/clients", headers=bearer)).status_code == 200
            assert (await client.get(f"/hsds/services/{service.id}")).status_code == 200
        pseudonym = person_pseudonym(operator.user_id)
        assert await audited(session, "admin.suspend", partner.id) == [pseudonym]
        assert await audited(session, "admin.reactivate", partner.id) == [pseudonym]

    async def test_the_operators_own_organisation_stays_active(
        self, browser: httpx.AsyncClient, operator: Person
    ) -> None:
        path = f"/app/operator/organizations/{operator.organization_id}"
        assert not Page((await browser.get(path)).text).all("a", id="suspend-link")
        refused = await submit(browser, f"{path}/suspend", {})
        assert refused.status_code == 409
        assert "cannot be suspended" in problem(refused)
        missing = await browser.get(f"/app/operator/organizations/{uuid.uuid4()}")
        assert missing.status_code == 404


class TestClients:
    async def test_listed_and_disabled_through_the_apis_service(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        operator: Person,
    ) -> None:
        partner = await create_organization(session, name="Clinique Anosy (clients)")
        credentials = await create_client(
            session, settings, partner, scopes=[Scope.referrals_send], name="Clinic records"
        )
        unused = await create_client(
            session, settings, partner, scopes=[Scope.directory_read], name="Never used"
        )
        await issue_token(session, settings, credentials)
        path = f"/app/operator/organizations/{partner.id}"
        page = Page((await browser.get(path)).text)
        card = page.all("li", **{"data-client": credentials.client_id})
        assert card
        used = re.search(
            rf'data-client="{credentials.client_id}".*?<p class="used">(.*?)</p>', page.html, re.S
        )
        assert used
        assert used.group(1).startswith("Last token issued 20")
        never = re.search(
            rf'data-client="{unused.client_id}".*?<p class="used">(.*?)</p>', page.html, re.S
        )
        assert never
        assert never.group(1) == "No token in use now"
        assert "Clinic records" in page.text
        assert "referrals:send" in page.text
        assert "Active" in page.text

        asked = await browser.get(f"/app/operator/clients/{credentials.client_id}/disable")
        assert "Clinic records" in Page(asked.text).text
        done = await submit(browser, f"/app/operator/clients/{credentials.client_id}/disable", {})
        assert done.headers["location"] == f"{path}?done=client_disabled"
        shown = Page((await browser.get(f"{path}?done=client_disabled")).text)
        assert "Disabled" in shown.text
        assert not shown.all("a", href=f"/app/operator/clients/{credentials.client_id}/disable")
        assert await audited(session, "admin.disable", credentials.client_id) == [
            person_pseudonym(operator.user_id)
        ]
        unknown = await browser.get("/app/operator/clients/rly_client_nobody/disable")
        assert unknown.status_code == 404


class TestNationalLines:
    async def test_added_listed_per_country_and_removed(
        self, browser: httpx.AsyncClient, session: AsyncSession, operator: Person
    ) -> None:
        path = "/app/operator/national-lines"
        added = await submit(
            browser,
            path,
            {"country": "mg", "kind": "police", "name": "Police secours", "number": "117"},
            form_id="add-line",
        )
        assert added.status_code == 303, added.text[:500]
        assert added.headers["location"] == f"{path}?done=line_added"
        line = (
            await session.execute(
                select(NationalLine).where(
                    col(NationalLine.country) == "MG", col(NationalLine.number) == "117"
                )
            )
        ).scalar_one()
        assert line.needs == ["emergency-police"]
        page = Page((await browser.get(path)).text)
        assert page.all("section", **{"data-country": "MG"})
        assert "Police emergency: Police secours" in page.text

        twice = await submit(
            browser,
            path,
            {"country": "MG", "kind": "police", "name": "Police", "number": "117"},
            form_id="add-line",
        )
        assert twice.status_code == 409
        assert "already has this number" in problem(twice)
        for field, value, words in (
            ("country", "MDG", "two-letter code"),
            ("kind", "fire", "kind of line"),
            ("number", "call us", "short code"),
        ):
            sent = {"country": "MG", "kind": "child_helpline", "name": "Ligne verte 147"}
            sent["number"] = "147"
            sent[field] = value
            refused = await submit(browser, path, sent, form_id="add-line")
            assert refused.status_code == 422, field
            assert words in problem(refused), field

        asked = await browser.get(f"{path}/{line.id}/remove")
        assert "Police secours" in Page(asked.text).text
        removed = await submit(browser, f"{path}/{line.id}/remove", {})
        assert removed.headers["location"] == f"{path}?done=line_removed"
        assert await session.get(NationalLine, line.id, populate_existing=True) is None
        pseudonym = person_pseudonym(operator.user_id)
        assert await audited(session, "admin.create", line.id) == [pseudonym]
        assert await audited(session, "delete", line.id) == [pseudonym]
        gone = await browser.get(f"{path}/{line.id}/remove")
        assert gone.status_code == 404


class TestWhoMay:
    PATHS = (
        "/app/operator",
        "/app/operator/organizations",
        "/app/operator/organizations/new",
        "/app/operator/national-lines",
    )

    async def test_only_the_operator(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        partner = await create_organization(session, name="Association Tanjona (who may)")
        admin = await create_person(session, settings, partner, UserRole.org_admin)
        credentials = await create_client(
            session, settings, partner, scopes=[Scope.directory_read], name="Tanjona system"
        )
        async with browser_client(app) as opened:
            await sign_in(opened, admin)
            for path in (
                *self.PATHS,
                f"/app/operator/organizations/{partner.id}",
                f"/app/operator/organizations/{partner.id}/suspend",
                f"/app/operator/clients/{credentials.client_id}/disable",
            ):
                assert (await opened.get(path)).status_code == 403, path
            refused = await submit(
                opened,
                "/app/directory",
                {},
                action=f"/app/operator/organizations/{partner.id}/suspend",
            )
            assert refused.status_code == 403
            lined = await submit(
                opened,
                "/app/directory",
                {"country": "MG", "kind": "police", "name": "Police", "number": "117"},
                action="/app/operator/national-lines",
            )
            assert lined.status_code == 403
        await session.refresh(partner)
        assert partner.status == "active"
        assert (
            await session.scalar(select(func.count()).where(col(NationalLine.country) == "MG"))
        ) == 0

    async def test_the_operators_pages_speak_every_language(
        self, browser: httpx.AsyncClient
    ) -> None:
        for language in ("fr", "mg", "ne", "km"):
            for path in self.PATHS:
                page = await browser.get(f"{path}?lang={language}")
                assert page.status_code == 200, (path, language)
                assert f'lang="{language}"' in page.text
