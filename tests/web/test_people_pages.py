"""An organisation's people on the app's pages, and a person's own account: what an admin and
the operator may do (the services decide; the pages offer only that), what another organisation's
admin and the other roles get, and the forms' answers."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories import people as people_repository
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_operator_organization, create_person
from tests.web.app_pages import browser_client, sign_in, submit
from tests.web.pages import Page


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Sabali health centre (people pages)")


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings, organization: Organization) -> Person:
    return await create_person(session, settings, organization, UserRole.org_admin)


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


def message(response: httpx.Response) -> str:
    found = re.search(r'<div class="errors"[^>]*>(.*?)</div>', response.text, re.S) or re.search(
        r'<p id="message">(.*?)</p>', response.text, re.S
    )
    assert found, response.text[:800]
    return Page(found.group(1)).text.strip()


def invitation(data: dict[str, str], organization: Organization) -> dict[str, str]:
    return {"org": str(organization.id), "role": "volunteer", "language": "en", **data}


LANGUAGE = "/app/account/language"


class TestAnAdminsPeople:
    async def test_a_person_chooses_their_language_and_stays_signed_in(
        self, browser: httpx.AsyncClient, session: AsyncSession, admin: Person
    ) -> None:
        await sign_in(browser, admin)
        unknown = await submit(
            browser, "/app/account", {"language": "xx"}, action=LANGUAGE, form_id="language-form"
        )
        assert unknown.status_code == 303
        forged = await browser.post(
            "/app/account/language",
            data={"language": "fr"},
            headers={"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert forged.status_code == 403
        chosen = await submit(
            browser, "/app/account", {"language": "fr"}, action=LANGUAGE, form_id="language-form"
        )
        assert chosen.status_code == 303
        page = await browser.get(chosen.headers["location"])
        assert page.status_code == 200  # the same session goes on
        assert '<html lang="fr"' in page.text
        assert "Votre langue est enregistrée." in page.text
        user = await people_repository.get(session, admin.user_id)
        assert user is not None
        await session.refresh(user)
        assert user.preferred_language == "fr"

    async def test_an_address_with_an_id_that_does_not_parse_is_a_page_not_json(
        self, browser: httpx.AsyncClient, client: httpx.AsyncClient, admin: Person
    ) -> None:
        signed_out = await browser.get("/app/people/not-an-id")
        assert signed_out.status_code == 303  # sign in first, as for any app page
        await sign_in(browser, admin)
        for path in ("/app/people/not-an-id", "/app/directory/services/12345"):
            page = await browser.get(path)
            assert page.status_code == 404, path
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store"
            assert message(page) == (
                "Nothing is found at this address. Check the link, or start again from your "
                "home page."
            )
        api = await client.get("/hsds/services/not-an-id")  # the API still says what it wants
        assert api.status_code == 422
        assert api.headers["content-type"] == "application/problem+json"

    async def test_the_list_shows_role_and_last_sign_in(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        admin: Person,
    ) -> None:
        await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, admin)
        page = await browser.get("/app/people")
        assert page.status_code == 200
        text = Page(page.text).text
        assert "Organisation admin" in text
        assert "Committee volunteer" in text
        assert "Last signed in" in text
        assert len(Page(page.text).all("li", **{"class": "card"})) == 2
        assert "<select" not in page.text  # one organisation: no choice

    async def test_invite_shows_the_code_and_link_once(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        admin: Person,
    ) -> None:
        await sign_in(browser, admin)
        form = Page((await browser.get("/app/people/invite")).text)
        offered = [
            option["value"] for option in form.all("option") if option["value"] in set(UserRole)
        ]
        assert offered == ["volunteer", "caseworker", "org_admin"]  # never the operator
        answer = await submit(
            browser,
            "/app/people/invite",
            invitation(
                {"display_name": "Binta", "login": "binta.pages", "role": "caseworker"},
                organization,
            ),
        )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        code = re.search(
            r'id="invitation-code">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})<', answer.text
        )
        assert code
        assert f"https://relay.test/app/invitation/{code.group(1)}" in answer.text
        user = await people_repository.find_by_login(session, login_name="binta.pages")
        assert user is not None
        assert user.role == "caseworker"
        assert user.organization_id == organization.id
        listed = await browser.get("/app/people")
        assert "Invited, password not chosen yet" in Page(listed.text).text
        assert code.group(1) not in listed.text  # shown once

    @pytest.mark.parametrize(
        ("data", "status", "said"),
        [
            ({"display_name": "Nobody"}, 400, "Give a login name"),
            ({"display_name": "Again", "login": "taken.pages"}, 409, "Another account has"),
            ({"display_name": "", "login": "x.pages"}, 400, "1 to 100 characters"),
            (
                {"display_name": "Op", "login": "op.pages", "role": "operator"},
                403,
                "cannot do this",
            ),
            ({"display_name": "Op", "login": "op2.pages", "role": "chief"}, 422, "Choose a role"),
        ],
    )
    async def test_what_cannot_be_done_comes_back_in_words(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        admin: Person,
        data: dict[str, str],
        status: int,
        said: str,
    ) -> None:
        await create_person(
            session, settings, organization, UserRole.volunteer, login="taken.pages"
        )
        await sign_in(browser, admin)
        answer = await submit(browser, "/app/people/invite", invitation(data, organization))
        assert answer.status_code == status
        assert said in message(answer)
        if data.get("display_name"):  # the form keeps what was typed
            assert f'value="{data["display_name"]}"' in answer.text

    async def test_change_role_reset_and_deactivate(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        admin: Person,
    ) -> None:
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, admin)
        page = f"/app/people/{volunteer.user_id}"
        changed = await submit(
            browser, page, {"role": "caseworker"}, action=f"{page}/role", form_id="role-form"
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == f"{page}?done=role"
        shown = await browser.get(changed.headers["location"])
        assert "The role is changed." in Page(shown.text).text
        assert Page(shown.text).text.count("Caseworker") >= 1
        reset = await submit(browser, f"{page}/reset", {})
        assert reset.status_code == 200
        assert re.search(r'id="invitation-code">[0-9A-Z-]{14}<', reset.text)
        deactivated = await submit(browser, f"{page}/deactivate", {})
        assert deactivated.headers["location"] == f"{page}?done=deactivated"
        shown = await browser.get(deactivated.headers["location"])
        assert 'id="state">Deactivated<' in shown.text
        assert 'id="role-form"' not in shown.text  # nothing more to change

    async def test_not_on_ones_own_account(self, browser: httpx.AsyncClient, admin: Person) -> None:
        await sign_in(browser, admin)
        own = f"/app/people/{admin.user_id}"
        page = await browser.get(own)
        assert 'id="role-form"' not in page.text
        refused = await submit(browser, f"{own}/deactivate", {})
        assert refused.status_code == 403
        assert "Another admin, or the operator" in message(refused)

    async def test_another_organisations_people_do_not_exist(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        admin: Person,
    ) -> None:
        elsewhere = await create_organization(session, name="Kounda police post (people pages)")
        stranger = await create_person(session, settings, elsewhere, UserRole.volunteer)
        await sign_in(browser, admin)
        for path in (f"/app/people/{stranger.user_id}", f"/app/people/{stranger.user_id}/reset"):
            answer = await browser.get(path)
            assert answer.status_code == 404
            assert "This person was not found." in message(answer)
        listing = await browser.get(f"/app/people?org={elsewhere.id}")
        assert listing.status_code == 403
        refused = await submit(
            browser, "/app/people", {}, action=f"/app/people/{stranger.user_id}/deactivate"
        )
        assert refused.status_code == 404
        user = await people_repository.get(session, stranger.user_id)
        assert user is not None
        assert user.deactivated_at is None

    @pytest.mark.parametrize("role", [UserRole.volunteer, UserRole.caseworker])
    async def test_other_roles_manage_nobody(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        role: UserRole,
    ) -> None:
        person = await create_person(session, settings, organization, role)
        await sign_in(browser, person)
        assert 'href="/app/people"' not in (await browser.get("/app")).text
        for path in ("/app/people", "/app/people/invite"):
            answer = await browser.get(path)
            assert answer.status_code == 403
            assert "cannot do this" in message(answer)


class TestTheOperator:
    async def test_chooses_the_organisation_and_invites_its_first_admin(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        operators = await create_operator_organization(session)
        operator = await create_person(session, settings, operators, UserRole.operator)
        await sign_in(browser, operator)
        page = await browser.get("/app/people")
        options = {option["value"] for option in Page(page.text).all("option")}
        assert {str(operators.id), str(organization.id)} <= options
        chosen = await browser.get(f"/app/people?org={organization.id}")
        assert chosen.status_code == 200
        assert "Nobody yet." in Page(chosen.text).text
        answer = await submit(
            browser,
            f"/app/people/invite?org={organization.id}",
            {"display_name": "First admin", "login": "first.admin.pages", "role": "org_admin"},
        )
        assert answer.status_code == 200
        user = await people_repository.find_by_login(session, login_name="first.admin.pages")
        assert user is not None
        assert user.organization_id == organization.id
        assert user.role == "org_admin"


class TestOwnAccount:
    async def test_new_recovery_codes_replace_the_old_ones(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        await sign_in(browser, person)
        account = await browser.get("/app/account")
        assert 'id="codes-left">10<' in account.text
        answer = await submit(browser, "/app/account/recovery-codes", {})
        assert answer.status_code == 200
        codes = re.findall(r"<li><code>([0-9A-Z-]+)</code></li>", answer.text)
        assert len(codes) == 10
        assert not set(codes) & set(person.recovery_codes)

    async def test_a_volunteer_without_an_authenticator_has_no_recovery_codes(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, person)
        account = await browser.get("/app/account")
        assert "/app/account/recovery-codes" not in account.text
        refused = await submit(browser, "/app/account/recovery-codes", {})
        assert refused.status_code == 409

    async def test_a_wrong_current_password_or_a_weak_new_one_is_refused(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, person)
        wrong = await submit(
            browser,
            "/app/account/password",
            {
                "current": "not it at all",
                "password": "kettle harbour lamp",
                "confirm": "kettle harbour lamp",
            },
        )
        assert wrong.status_code == 422
        assert message(wrong) == "The current password is not right."
        weak = await submit(
            browser,
            "/app/account/password",
            {"current": person.password, "password": "short", "confirm": "short"},
        )
        assert weak.status_code == 422
        assert message(weak) == "A password needs at least 15 characters."
