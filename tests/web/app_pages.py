"""Helpers for the app's pages over HTTP (no browser): a browser-like client that keeps the
session cookie (over https: outside development the cookie is ``Secure``), reads each form's
CSRF token from the page, and signs people in the way a person would."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from api.config import Settings
from api.web.session import COOKIE_NAME, CSRF_FIELD, SECURE_COOKIE_NAME
from tests.factories.people import Person
from tests.web.pages import Page

BASE_URL = "https://relay.test"
ORIGIN = BASE_URL


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


def token_of(html: str, form_id: str | None = None) -> str:
    """The CSRF token of the page's form (the first one, or the one after ``id=form_id``)."""
    page = Page(html)
    inside = form_id is None
    for tag, attrs in page.elements:
        if tag == "form" and form_id is not None:
            inside = attrs.get("id") == form_id
        if inside and tag == "input" and attrs.get("name") == CSRF_FIELD:
            return attrs["value"]
    raise AssertionError(f"no CSRF token in the page (form {form_id})")


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
    token = token_of(page.text, form_id)
    sent = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", **(headers or {})}
    return await client.post(
        action or page_path.split("?")[0], data={**data, CSRF_FIELD: token}, headers=sent
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
