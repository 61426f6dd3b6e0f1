"""The referral workspace's cast, for its page tests: the demo network's Sabali committee (a
volunteer) and health centre (a caseworker), and the steps of a referral as the pages take them,
over HTTP."""

import re
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.config import Settings
from api.models.directory import AdminArea
from api.models.organization import Organization
from api.models.people import UserRole
from tests.factories.directory import load_demo
from tests.factories.people import Person, create_person
from tests.web.app_pages import ORIGIN, hidden_fields, submit

COMMITTEE = "Sabali child protection committee (demo)"
HEALTH_CENTRE = "Sabali health centre (demo)"
SERVICE = "Sabali health centre: post-rape care (demo)"
PERSON_NAME = "Mialy Testchild"


@dataclass
class Cast:
    committee: Organization
    health_centre: Organization
    district_id: str
    volunteer: Person
    caseworker: Person


async def organization_named(session: AsyncSession, name: str) -> Organization:
    found = await session.execute(select(Organization).where(col(Organization.name) == name))
    return found.scalar_one()


async def cast(session: AsyncSession, settings: Settings) -> Cast:
    await load_demo(session)
    committee = await organization_named(session, COMMITTEE)
    health_centre = await organization_named(session, HEALTH_CENTRE)
    district = await session.execute(
        select(AdminArea.id).where(col(AdminArea.name) == "Sabali (demo)")
    )
    return Cast(
        committee,
        health_centre,
        str(district.scalar_one()),
        await create_person(session, settings, committee, UserRole.volunteer),
        await create_person(session, settings, health_centre, UserRole.caseworker),
    )


async def post_step(
    client: httpx.AsyncClient, path: str, data: dict[str, str | list[str]]
) -> httpx.Response:
    """Post a step's form as a browser would: the page's hidden fields, then what is typed."""
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    fields: dict[str, str | list[str]] = dict(hidden_fields(page.text))
    return await client.post(
        path,
        data={**fields, **data},
        headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
    )


async def refer_standard_case(client: httpx.AsyncClient, district_id: str) -> str:
    """A volunteer's whole referral up to the review page: post-rape care in Sabali, urgent,
    consent by the mother with the girl's assent, the ``standard`` profile. Returns the draft's
    review path."""
    begun = await submit(
        client,
        "/app/refer",
        {"need": "post-rape-care", "area": district_id, "urgent": "on"},
    )
    assert begun.status_code == 303, begun.text[:800]
    services_path = begun.headers["location"]
    assert services_path.endswith("/services")
    draft_path = services_path.rsplit("/", 1)[0]
    page = await client.get(services_path)
    assert SERVICE in page.text, page.text[:2000]
    service_id = _value_of_choice(page.text, SERVICE)
    chosen = await post_step(client, services_path, {"service": service_id})
    assert chosen.status_code == 303, alert(chosen)
    consented = await post_step(
        client,
        f"{draft_path}/consent",
        {
            "given_by": "parent_guardian",
            "relationship": "mother",
            "age": "14",
            "child_assent": "yes",
            "method": "verbal",
            "profile": "standard",
        },
    )
    assert consented.status_code == 303, alert(consented)
    person = await post_step(
        client,
        f"{draft_path}/person",
        {
            "name": PERSON_NAME,
            "age": "14",
            "gender": "female",
            "language": "fr",
            "gbv_type": "rape",
            "incident_date": "2026-12-01",
        },
    )
    assert person.status_code == 303, alert(person)
    safe = await post_step(
        client,
        f"{draft_path}/safety",
        {"do_not_contact_directly": "on", "safe_channel": "through_referrer"},
    )
    assert safe.status_code == 303, alert(safe)
    return f"{draft_path}/review"


def by_id(html: str, identifier: str) -> str:
    """The text of the element with ``id=identifier`` (not nested in one of its own kind)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{identifier}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no element {identifier}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(2))).strip()


def title_of(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found
    return found.group(1)


async def send(client: httpx.AsyncClient, review_path: str) -> httpx.Response:
    """Press "Send" on the review page."""
    page = await client.get(review_path)
    assert page.status_code == 200, alert(page)
    return await client.post(
        review_path.replace("/review", "/send"),
        data=hidden_fields(page.text, "send"),
        headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
    )


def alert(response: httpx.Response) -> str:
    """The page's problems (its ``role="alert"`` box), for an assertion's message."""
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', response.text, re.S)
    return f"{response.status_code}: {found.group(1).strip() if found else response.text[:500]}"


def _value_of_choice(html: str, name: str) -> str:
    for match in re.finditer(r'value="([0-9a-f-]{36})"[^>]*>\s*<span class="name">([^<]*)<', html):
        if match.group(2) == name:
            return match.group(1)
    raise AssertionError(f"no choice {name}")
