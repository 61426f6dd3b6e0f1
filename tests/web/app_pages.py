"""Helpers for the app's pages over HTTP (no browser): a browser-like client that keeps the
session cookie (over https: outside development the cookie is ``Secure``), reads each form's
CSRF token from the page, and signs people in the way a person would."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from api.config import Settings
from api.main import create_app
from api.models.people import UserRole
from api.web.session import COOKIE_NAME, CSRF_FIELD, SECURE_COOKIE_NAME
from tests.conftest import make_settings
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_person
from tests.web.pages import Page

BASE_URL = "https://relay.test"
ORIGIN = BASE_URL


@asynccontextmanager
async def app_with(connection: AsyncConnection, **overrides: Any) -> AsyncIterator[FastAPI]:
    """Another app, with other settings, bound to the test's transaction."""
    application = create_app(make_settings(token_cache_seconds=0, **overrides))
    async with application.router.lifespan_context(application):
        application.state.sessionmaker = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        yield application


@asynccontextmanager
async def browser_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookies, on the app (bound to the test's transaction when the
    ``client`` fixture is active)."""
    transport = httpx.ASGITransport(app=app, client=("192.0.2.44", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, follow_redirects=False
    ) as client:
        yield client


def session_cookie(client: httpx.AsyncClient, settings: Settings | None = None) -> str | None:
    for name in (SECURE_COOKIE_NAME, COOKIE_NAME):
        value = client.cookies.get(name)
        if value is not None:
            return value
    return None


def hidden_fields(html: str, form_id: str | None = None) -> dict[str, str]:
    """The hidden fields of a form of the page (the one with ``id=form_id``, else the page's
    own: the first but the menu's sign-out button): what a browser sends besides what is typed,
    the CSRF token among them."""
    forms = re.findall(r"(<form\b[^>]*>)(.*?)</form>", html, re.S)
    assert forms, "no form in the page"
    if form_id is not None:
        chosen = [body for tag, body in forms if f'id="{form_id}"' in tag]
    else:
        chosen = [body for tag, body in forms if 'class="inline"' not in tag] or [forms[0][1]]
    assert chosen, f"no form {form_id} in the page"
    page = Page(chosen[0])
    return {attrs["name"]: attrs.get("value", "") for attrs in page.all("input", type="hidden")}


def problem_words(response: httpx.Response) -> str:
    """What a page says went wrong: its form's error box, or the message of a page that only
    says something."""
    found = re.search(r'<div class="errors"[^>]*>(.*?)</div>', response.text, re.S) or re.search(
        r'<p id="message">(.*?)</p>', response.text, re.S
    )
    assert found, response.text[:800]
    return Page(found.group(1)).text.strip()


def token_of(html: str, form_id: str | None = None) -> str:
    """The CSRF token of the page's form (the first one, or the one with ``id=form_id``)."""
    token = hidden_fields(html, form_id).get(CSRF_FIELD)
    if token is None:
        raise AssertionError(f"no CSRF token in the page (form {form_id})")
    return token


@dataclass
class Posted:
    page: httpx.Response
    answer: httpx.Response


async def submit(
    client: httpx.AsyncClient,
    page_path: str,
    data: dict[str, str],
    *,
    action: str | None = None,
    form_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Open the page, then post its form as a browser would (same origin, the page's token)."""
    page = await client.get(page_path)
    assert page.status_code == 200, (page_path, page.status_code, page.text[:500])
    fields = hidden_fields(page.text, form_id)
    assert CSRF_FIELD in fields, f"no CSRF token in the page (form {form_id})"
    sent = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", **(headers or {})}
    return await client.post(
        action or page_path.split("?")[0], data={**fields, **data}, headers=sent
    )


async def sign_in(client: httpx.AsyncClient, person: Person, *, next_path: str = "") -> None:
    """Sign ``person`` in: password, then the authenticator's code when they have one."""
    path = "/app/sign-in" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    answer = await submit(
        client, path, {"login": person.login, "password": person.password, "next": next_path}
    )
    assert answer.status_code == 303, answer.text[:500]
    if person.totp_secret is not None:
        where = answer.headers["location"]
        assert where.startswith("/app/sign-in/code"), where
        answer = await submit(client, where, {"code": person.next_code(), "next": next_path})
        assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"] == (next_path or "/app")


@asynccontextmanager
async def another_organisations(
    app: FastAPI, session: AsyncSession, settings: Settings, role: UserRole, name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as a person of ``role`` in another organisation, named ``name``."""
    elsewhere = await create_organization(session, name=name)
    stranger = await create_person(session, settings, elsewhere, role)
    async with browser_client(app) as other:
        await sign_in(other, stranger)
        yield other
