"""Every route's protection, proven by calling it the way an attacker would.

Anonymous routes are an explicit allow-list (DESIGN.md §4). Every other route must declare
``authenticate`` with its scopes: without a token it answers 401 with ``WWW-Authenticate:
Bearer``; with a valid token holding every scope but the ones it needs, 403
``insufficient_scope``. A new route with no declared protection fails here.

Relay's own pages (``/app``, and the consent page of ``/oauth/authorize``) take a web session,
not a token: those that sign people in are an allow-list too; every other one must declare the
signed-in session (``SignedInVisitor``) and answers a browser without one with a redirect to the
sign-in page; every form post without the session's CSRF token is refused 403, whoever sends it.

People's tokens (an app acting for a person of each role) reach every route their role's scopes
allow and get 403 elsewhere (issue 20, acceptance 4).
"""

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.authorize import AUTHORIZE_PATH
from api.auth.dependencies import authenticate
from api.auth.roles import scopes_of
from api.auth.scopes import Scope
from api.config import Settings
from api.main import create_app
from api.models.people import UserRole
from api.web.session import SIGNED_IN_DEPENDENCIES, sign_in_url
from tests.conftest import make_settings
from tests.factories.apps import issue_person_token
from tests.factories.auth import create_client, issue_token, register_app
from tests.factories.organizations import create_organization
from tests.factories.people import create_operator_organization, create_person
from tests.web.app_pages import browser_client, sign_in

ANONYMOUS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # Prometheus scrapes without credentials; keep /metrics off the public network (docs).
    ("GET", "/metrics"),
    # The audit chain's signed heads and their key: public, so anyone can hold Relay to them.
    ("GET", "/v1/audit/checkpoints"),
    ("GET", "/v1/audit/public-key"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/.well-known/oauth-authorization-server"),
    # The authorization server authenticates clients itself (client credentials, RFC 6749).
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    # The public directory (DESIGN.md §4): anonymous callers see public records only; a token
    # is honoured when sent (and refused when bad), which tests/test_hsds_visibility.py proves.
    ("GET", "/hsds/"),
    ("GET", "/hsds/services"),
    ("GET", "/hsds/services/{service_id}"),
    ("GET", "/hsds/organizations"),
    ("GET", "/hsds/organizations/{organization_id}"),
    ("GET", "/hsds/service_at_locations"),
    ("GET", "/hsds/service_at_locations/{service_at_location_id}"),
    ("GET", "/hsds/taxonomies"),
    ("GET", "/hsds/taxonomies/{taxonomy_id}"),
    ("GET", "/hsds/taxonomy_terms"),
    ("GET", "/hsds/taxonomy_terms/{taxonomy_term_id}"),
    # OGC API Features for GIS clients (DESIGN.md §4): the same rule as HSDS; a token adds partner
    # records and, with directory:confidential, shelters' positions (tests/routers/test_ogc.py).
    ("GET", "/ogc/"),
    ("GET", "/ogc/conformance"),
    ("GET", "/ogc/collections"),
    ("GET", "/ogc/collections/{collectionId}"),
    ("GET", "/ogc/collections/{collectionId}/items"),
    ("GET", "/ogc/collections/{collectionId}/items/{featureId}"),
    # Nearest-service search is open to committees without accounts (redacted for them).
    ("GET", "/v1/search/nearest"),
    ("GET", "/v1/search/pathway"),
    # Administrative boundaries are public data.
    ("GET", "/v1/areas/lookup"),
    ("GET", "/v1/areas/{area_id}"),
    # The lookup pages for committees (api/web): HTML for browsers, always the anonymous view; they
    # read no token at all (tests/web/test_lookup.py checks what they never show).
    ("GET", "/lookup"),
    ("GET", "/lookup/results"),
    ("GET", "/lookup/pathway"),
    ("GET", "/lookup/export"),
    ("GET", "/lookup/static/{name}"),
    ("GET", "/lookup/sw.js"),
    ("GET", "/lookup/manifest.webmanifest"),
    ("GET", "/lookup/area/{area_id}/offline.json"),
    # The network's public figures (issue 24): counts of an ended quarter, small ones hidden,
    # regions only (tests/web/test_stats_pages.py).
    ("GET", "/stats"),
    ("GET", "/stats.csv"),
    # Reporting a wrong entry: anyone, anonymously, throttled per address (issue 22;
    # tests/routers/test_reports.py).
    ("GET", "/lookup/report"),
    ("POST", "/lookup/report"),
}
# Relay's own pages that sign people in (api/routers/sign_in_pages.py): they need no signed-in
# session (each checks the step of the sign-in its session is at); their posts need its CSRF token.
APP_WITHOUT_SESSION = {
    ("GET", "/app/sign-in"),
    ("POST", "/app/sign-in"),
    ("GET", "/app/sign-in/code"),
    ("POST", "/app/sign-in/code"),
    ("GET", "/app/sign-in/recovery"),
    ("POST", "/app/sign-in/recovery"),
    ("GET", "/app/sign-in/enrol"),
    ("POST", "/app/sign-in/enrol"),
    ("GET", "/app/invitation"),
    ("POST", "/app/invitation"),
    ("GET", "/app/invitation/password"),
    ("POST", "/app/invitation/password"),
    ("GET", "/app/invitation/{code}"),
    ("GET", "/app/sign-out"),
    ("POST", "/app/sign-out"),
}
# Routes any valid token may call: they only show the caller's own organisation's data.
ANY_VALID_TOKEN = {
    ("GET", "/v1/clients"),
    ("GET", "/v1/clients/{client_id}"),
    # Referrals read and moved by either side: the scope depends on the caller's side (sender:
    # referrals:send, receiver: referrals:receive), which only the referral tells; the service
    # checks it (tests/routers/test_referrals.py::TestScopes).
    ("GET", "/v1/referrals"),
    ("GET", "/v1/referrals/{referral_id}"),
    ("POST", "/v1/referrals/{referral_id}/status"),
    ("POST", "/v1/referrals/{referral_id}/notes"),
    ("GET", "/v1/referrals/{referral_id}/events"),
    ("GET", "/v1/referrals/{referral_id}/export"),
    # The event feed takes any one of referrals:send, referrals:receive or webhooks:manage; the
    # service checks it (tests/routers/test_events.py::TestAccess).
    ("GET", "/v1/events"),
}


def _security(dependant: Dependant) -> Iterator[list[str]]:
    for dependency in dependant.dependencies:
        if dependency.call is authenticate:
            yield list(dependency.own_oauth_scopes or []) + list(
                dependency.parent_oauth_scopes or []
            )
        yield from _security(dependency)


def declared_scopes(route: RouteContext) -> list[str] | None:
    """The scopes a route declares through ``authenticate``, or None if it declares none."""
    dependant = getattr(route, "dependant", None)
    found = list(_security(dependant)) if isinstance(dependant, Dependant) else []
    if not found:
        return None
    return sorted({scope for scopes in found for scope in scopes})


def all_routes(app: FastAPI) -> list[tuple[str, str, RouteContext]]:
    """Every (method, path) the app answers, included routers flattened."""
    routes: list[tuple[str, str, RouteContext]] = []
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            routes.append((method, route.path or "", route))
    return routes


def is_page(path: str) -> bool:
    """Relay's own pages: ``/app``, and the authorization endpoint (the consent page an app
    sends a person to, on the same web session)."""
    return path in ("/app", AUTHORIZE_PATH) or path.startswith("/app/")


def declares_session(route: RouteContext) -> bool:
    """Whether a page depends on a signed-in session (``SignedInVisitor`` and its aliases)."""

    def walk(dependant: Dependant) -> Iterator[object]:
        for dependency in dependant.dependencies:
            yield dependency.call
            yield from walk(dependency)

    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return False
    return any(call in SIGNED_IN_DEPENDENCIES for call in walk(dependant))


ALL_ROUTES = all_routes(create_app(make_settings()))
ROUTES = [(method, path, route) for method, path, route in ALL_ROUTES if not is_page(path)]
PAGES = [(method, path, route) for method, path, route in ALL_ROUTES if is_page(path)]
PROTECTED = [
    (method, path, route) for method, path, route in ROUTES if (method, path) not in ANONYMOUS
]
SIGNED_IN_PAGES = [
    (method, path, route)
    for method, path, route in PAGES
    if (method, path) not in APP_WITHOUT_SESSION
]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def test_allow_lists_name_real_routes() -> None:
    present = {(method, path) for method, path, _ in ALL_ROUTES}
    assert present >= ANONYMOUS | ANY_VALID_TOKEN | APP_WITHOUT_SESSION


@pytest.mark.parametrize(("method", "path", "route"), ROUTES, ids=lambda v: str(v))
def test_every_route_is_anonymous_by_list_or_declares_its_protection(
    method: str, path: str, route: RouteContext
) -> None:
    if (method, path) in ANONYMOUS:
        assert declared_scopes(route) is None, "listed anonymous, yet protected"
        return
    assert isinstance(route.original_route, APIRoute), f"{method} {path}: not an API route"
    scopes = declared_scopes(route)
    assert scopes is not None, f"{method} {path} declares no protection"
    if (method, path) in ANY_VALID_TOKEN:
        assert scopes == []
    else:
        assert scopes, f"{method} {path} must require a scope (or be listed in ANY_VALID_TOKEN)"


@pytest.mark.parametrize(("method", "path", "route"), PROTECTED, ids=lambda v: str(v))
async def test_without_a_token_is_401(
    client: httpx.AsyncClient, method: str, path: str, route: RouteContext
) -> None:
    response = await client.request(method, concrete(path), json={})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path", "route"), PROTECTED, ids=lambda v: str(v))
async def test_with_a_forged_token_is_401(
    client: httpx.AsyncClient, method: str, path: str, route: RouteContext
) -> None:
    response = await client.request(
        method,
        concrete(path),
        json={},
        headers={"Authorization": "Bearer rly_at_" + "A" * 43},
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [(m, p, r) for m, p, r in PROTECTED if (m, p) not in ANY_VALID_TOKEN],
    ids=lambda v: str(v),
)
async def test_with_every_scope_but_the_needed_one_is_403(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    method: str,
    path: str,
    route: RouteContext,
) -> None:
    needed = set(declared_scopes(route) or [])
    others = [scope for scope in Scope if scope.value not in needed]
    organization = await create_organization(session)
    credentials = await create_client(session, settings, organization, scopes=others)
    token = await issue_token(session, settings, credentials)
    response = await client.request(
        method, concrete(path), json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403, response.text
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert response.json()["required_scope"] == " ".join(sorted(needed))


@pytest.mark.parametrize(("method", "path", "route"), PAGES, ids=lambda v: str(v))
def test_every_page_signs_in_by_list_or_declares_the_signed_in_session(
    method: str, path: str, route: RouteContext
) -> None:
    assert declared_scopes(route) is None, "a page takes a web session, not a token"
    if (method, path) in APP_WITHOUT_SESSION:
        assert not declares_session(route), "listed as signing in, yet needs a session"
    else:
        assert declares_session(route), f"{method} {path} declares no signed-in session"


@pytest.mark.parametrize(("method", "path", "route"), SIGNED_IN_PAGES, ids=lambda v: str(v))
async def test_a_page_without_a_session_redirects_to_the_sign_in_page(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, route: RouteContext
) -> None:
    async with browser_client(app) as browser:
        response = await browser.request(method, concrete(path))
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/app/sign-in")
    if method == "GET":
        assert response.headers["location"] == sign_in_url(urlsplit(str(response.url)).path)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [(m, p, r) for m, p, r in PAGES if m == "POST"],
    ids=lambda v: str(v),
)
async def test_a_form_post_without_the_sessions_token_is_403(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    method: str,
    path: str,
    route: RouteContext,
) -> None:
    organization = await create_organization(session)
    person = await create_person(session, settings, organization, UserRole.volunteer)
    async with browser_client(app) as browser:
        await sign_in(browser, person)
        response = await browser.post(concrete(path), data={"csrf_token": "forged"})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"


# -- people (issue 20, acceptance 4): each role reaches what its scopes allow, 403 elsewhere ----

ROLE_SCOPES_OF = {role: scopes_of(role) for role in UserRole}


def _person_case(method: str, path: str, route: RouteContext, role: UserRole) -> object:
    return pytest.param(method, path, route, role, id=f"{role.value}-{method}-{path}")


SCOPED = [(m, p, r) for m, p, r in PROTECTED if (m, p) not in ANY_VALID_TOKEN]
PERSON_CASES = [_person_case(m, p, r, role) for m, p, r in SCOPED for role in UserRole]


async def person_token(session: AsyncSession, settings: Settings, role: UserRole) -> str:
    """A token of an app (allowed every scope) acting for a person of ``role``."""
    if role is UserRole.operator:
        organization = await create_operator_organization(session)
    else:
        organization = await create_organization(session)
    app = await register_app(session, settings, organization)
    person = await create_person(session, settings, organization, role)
    return await issue_person_token(session, settings, app, person)


@pytest.mark.parametrize(("method", "path", "route", "role"), PERSON_CASES)
async def test_a_persons_token_reaches_what_their_role_allows_and_is_403_elsewhere(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    method: str,
    path: str,
    route: RouteContext,
    role: UserRole,
) -> None:
    needed = set(declared_scopes(route) or [])
    token = await person_token(session, settings, role)
    response = await client.request(
        method, concrete(path), json={}, headers={"Authorization": f"Bearer {token}"}
    )
    if needed <= ROLE_SCOPES_OF[role]:
        # Reached: whatever the route answers to an empty body and made-up ids, never a
        # refusal of the person's token.
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [(m, p, r) for m, p, r in PROTECTED if (m, p) in ANY_VALID_TOKEN],
    ids=lambda v: str(v),
)
@pytest.mark.parametrize("role", list(UserRole), ids=lambda role: role.value)
async def test_a_persons_token_is_valid_on_the_routes_any_token_may_call(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    method: str,
    path: str,
    route: RouteContext,
    role: UserRole,
) -> None:
    token = await person_token(session, settings, role)
    response = await client.request(
        method, concrete(path), json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code != 401, response.text
