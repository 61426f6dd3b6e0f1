"""Input an attacker sends, refused as a 4xx problem before anything is written (issue 17).

NUL characters in every string of every request body schema, every query parameter, every path
parameter and the OAuth forms; JSON objects repeating a key; positions with a height; numbers and
flags sent as strings or booleans. The cases are generated from the app's OpenAPI document and
its request models, so a route or field added later is covered without a line here.
"""

import typing
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.errors import PROBLEM_MEDIA_TYPE
from api.main import create_app
from api.models.directory import Service
from api.models.events import WebhookSubscription
from tests.conftest import make_settings
from tests.factories.auth import Partner, create_partner

Json = dict[str, Any]
Loc = tuple[str | int, ...]
NUL_TEXT = "Amina\u0000Diallo"
PUBLIC_URL = "https://93.184.215.14/relay-hooks"  # public; these tests never send to it

_APP = create_app(make_settings())
DOCUMENT: Json = _APP.openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


def _resolve(schema: Json) -> Json:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def string_leaves(schema: Json, loc: Loc = (), seen: frozenset[str] = frozenset()) -> Iterator[Loc]:
    """Where a string can stand in a document of this schema (objects' values, list items,
    dictionaries' values under a sample key), each once."""
    reference = schema.get("$ref")
    if reference in seen:
        return
    seen = seen | {reference} if reference else seen
    schema = _resolve(schema)
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from string_leaves(alternative, loc, seen)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds:
        yield loc
    for name, child in schema.get("properties", {}).items():
        yield from string_leaves(child, (*loc, name), seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from string_leaves(schema["additionalProperties"], (*loc, "fr"), seen)
    for child in schema.get("patternProperties", {}).values():
        yield from string_leaves(child, (*loc, "fr"), seen)
    if "items" in schema:
        yield from string_leaves(schema["items"], (*loc, 0), seen)
    for index, child in enumerate(schema.get("prefixItems", [])):
        yield from string_leaves(child, (*loc, index), seen)


def placed(loc: Loc, value: Any) -> Any:
    """The smallest document holding ``value`` at ``loc``."""
    for part in reversed(loc):
        value = [value] if isinstance(part, int) else {part: value}
    return value


def concrete(path: str, **values: str) -> str:
    return "/".join(
        values.get(part[1:-1], str(uuid.uuid4())) if part.startswith("{") else part
        for part in path.split("/")
    )


def _body_cases() -> list[tuple[str, str, Loc]]:
    cases = []
    for method, path, operation in OPERATIONS:
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            leaves = dict.fromkeys(string_leaves(content["application/json"]["schema"]))
            cases += [(method, path, loc) for loc in leaves]
    return cases


BODY_CASES = _body_cases()
QUERY_CASES = [
    (method, path, parameter["name"])
    for method, path, operation in OPERATIONS
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query"
]
PATH_CASES = [
    (method, path, parameter["name"])
    for method, path, operation in OPERATIONS
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "path"
]
FORM_CASES = [
    (path, name)
    for method, path, operation in OPERATIONS
    for media, body in operation.get("requestBody", {}).get("content", {}).items()
    if media == "application/x-www-form-urlencoded"
    for name in _resolve(body["schema"])["properties"]
]


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Partner:
    """A token with every scope: whatever refuses the input, it is not the authorisation."""
    return await create_partner(session, settings, scopes=list(Scope), name="Operator")


def assert_refused_at(response: httpx.Response, loc: list[Any], kind: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "urn:relay:problem:validation"
    assert any(error["loc"] == loc and error["type"] == kind for error in body["errors"])
    assert "Amina" not in response.text, "a problem never echoes the value sent"


def test_the_walk_covers_the_routes_that_failed() -> None:
    """The generated cases include the fields of the attack run (a walk that finds nothing
    would pass without testing anything)."""
    assert ("POST", "/v1/webhooks", ("url",)) in BODY_CASES
    assert ("POST", "/v1/webhooks", ("description",)) in BODY_CASES
    assert ("POST", "/v1/services", ("service_areas", 0, "name")) in BODY_CASES
    assert ("POST", "/v1/services", ("translations", "fr", "name")) in BODY_CASES
    assert ("GET", "/v1/clients/{client_id}", "client_id") in PATH_CASES
    assert ("GET", "/hsds/services", "search") in QUERY_CASES
    assert len(BODY_CASES) > 100


class TestNulInBodies:
    @pytest.mark.parametrize(("method", "path", "loc"), BODY_CASES, ids=str)
    async def test_every_string_field_refuses_nul(
        self, client: httpx.AsyncClient, operator: Partner, method: str, path: str, loc: Loc
    ) -> None:
        response = await client.request(
            method, concrete(path), json=placed(loc, NUL_TEXT), headers=operator.headers
        )
        assert_refused_at(response, ["body", *loc], "nul_character")

    async def test_a_webhook_with_nul_is_refused_and_nothing_written(
        self, client: httpx.AsyncClient, operator: Partner, session: AsyncSession
    ) -> None:
        for body in (
            {"url": PUBLIC_URL + "/a\u0000b"},
            {"url": PUBLIC_URL, "description": "Case\u0000system"},
        ):
            response = await client.post("/v1/webhooks", json=body, headers=operator.headers)
            assert_refused_at(response, ["body", next(reversed(body))], "nul_character")
        written = await session.scalar(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(col(WebhookSubscription.organization_id) == operator.organization.id)
        )
        assert written == 0

    async def test_nul_in_a_key_is_refused(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/services",
            json={"name": "S", "translations": {"f\u0000r": {"name": "S"}}},
            headers=operator.headers,
        )
        assert_refused_at(response, ["body", "translations"], "nul_character")

    async def test_an_escaped_backslash_is_not_nul(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/webhooks",
            json={"url": PUBLIC_URL, "description": "C:\\u0000 is not a NUL"},
            headers=operator.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["description"] == "C:\\u0000 is not a NUL"


class TestNulInQueriesAndPaths:
    @pytest.mark.parametrize(("method", "path", "name"), QUERY_CASES, ids=str)
    async def test_every_query_parameter_refuses_nul(
        self, client: httpx.AsyncClient, operator: Partner, method: str, path: str, name: str
    ) -> None:
        response = await client.request(
            method, concrete(path), params={name: NUL_TEXT}, headers=operator.headers
        )
        assert_refused_at(response, ["query", name], "nul_character")

    @pytest.mark.parametrize(("method", "path", "name"), PATH_CASES, ids=str)
    async def test_every_path_parameter_refuses_nul(
        self, client: httpx.AsyncClient, operator: Partner, method: str, path: str, name: str
    ) -> None:
        response = await client.request(
            method, concrete(path, **{name: "Amina%00Diallo"}), headers=operator.headers
        )
        assert_refused_at(response, ["path"], "nul_character")

    async def test_a_client_id_with_nul_was_a_500(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.get("/v1/clients/rly_%00x", headers=operator.headers)
        assert_refused_at(response, ["path"], "nul_character")

    async def test_a_nul_in_a_parameter_name_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/hsds/services?sea%00rch=x")
        assert_refused_at(response, ["query"], "nul_character")


class TestNulInOAuthForms:
    """The OAuth endpoints answer in RFC 6749's shape: an error, or (introspection and
    revocation of a token that is not one) the answer the RFCs prescribe; never a 500."""

    @pytest.mark.parametrize(("path", "name"), FORM_CASES, ids=str)
    async def test_every_form_field_with_nul_is_answered(
        self, client: httpx.AsyncClient, operator: Partner, path: str, name: str
    ) -> None:
        form = {"grant_type": "client_credentials", "token": "rly_at_x", name: NUL_TEXT}
        response = await client.post(
            path, data=form, auth=(operator.client.client_id, operator.client.client_secret or "")
        )
        assert response.status_code < 500, response.text
        assert response.json() is not None
        if response.status_code == 200 and path == "/oauth/introspect":
            assert response.json() == {"active": False}


class TestDuplicateKeys:
    async def test_a_repeated_key_is_refused_naming_it(
        self, client: httpx.AsyncClient, operator: Partner, session: AsyncSession
    ) -> None:
        response = await client.post(
            "/v1/webhooks",
            content=f'{{"url": "{PUBLIC_URL}", "url": "{PUBLIC_URL}/other"}}',
            headers={**operator.headers, "Content-Type": "application/json"},
        )
        assert_refused_at(response, ["body", "url"], "duplicate_key")
        written = await session.scalar(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(col(WebhookSubscription.organization_id) == operator.organization.id)
        )
        assert written == 0

    async def test_a_nested_repeated_key_is_refused_with_its_path(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        body = (
            '{"name": "S", "needs": ["medical-care"], "locations": [{"name": "L", '
            '"latitude": 14.1, "longitude": -16.0, "latitude": 48.8}]}'
        )
        response = await client.post(
            "/v1/services",
            content=body,
            headers={**operator.headers, "Content-Type": "application/json; charset=utf-8"},
        )
        assert_refused_at(response, ["body", "locations", 0, "latitude"], "duplicate_key")

    async def test_the_same_key_in_two_objects_is_fine(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        body = (
            '{"name": "S", "needs": ["medical-care"], "locations": ['
            '{"name": "L1", "latitude": 14.1, "longitude": -16.0},'
            '{"name": "L2", "latitude": 14.2, "longitude": -16.1}]}'
        )
        response = await client.post(
            "/v1/services",
            content=body,
            headers={**operator.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text


class TestBodyReading:
    @pytest.fixture
    async def small(self) -> AsyncIterator[httpx.AsyncClient]:
        """An app accepting 1 KiB bodies; the guard answers before any database is needed."""
        app: FastAPI = create_app(make_settings(max_body_bytes=1024))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    async def test_a_streamed_json_body_over_the_limit_is_413(
        self, small: httpx.AsyncClient
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"description": "'
            for _ in range(8):
                yield b"x" * 512
            yield b'"}'

        response = await small.post(
            "/v1/webhooks", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE

    async def test_a_deeply_nested_body_is_a_4xx(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/webhooks",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={**operator.headers, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


SQUARE = [[[-16.1, 14.0], [-16.0, 14.0], [-16.0, 14.1], [-16.1, 14.1], [-16.1, 14.0]]]


def _service(**changes: Any) -> Json:
    return {"name": "Mobile team", "needs": ["medical-care"], **changes}


class TestPositions:
    @pytest.mark.parametrize(
        "extent",
        [
            {"type": "Polygon", "coordinates": [[[*p, 12.0] for p in SQUARE[0]]]},
            {"type": "MultiPolygon", "coordinates": [[[[*p, 0] for p in SQUARE[0]]]]},
            {"type": "Polygon", "coordinates": [[[-16.1, "14.0"], *SQUARE[0][1:]]]},
            {"type": "Polygon", "coordinates": [[[True, 14.0], *SQUARE[0][1:]]]},
        ],
        ids=["polygon-with-height", "multipolygon-with-height", "string", "boolean"],
    )
    async def test_a_position_must_be_two_numbers(
        self,
        client: httpx.AsyncClient,
        operator: Partner,
        session: AsyncSession,
        extent: Json,
    ) -> None:
        response = await client.post(
            "/v1/services",
            json=_service(service_areas=[{"name": "Team area", "extent": extent}]),
            headers=operator.headers,
        )
        assert_refused_at(response, ["body", "service_areas", 0, "extent"], "value_error")
        written = await session.scalar(
            select(func.count())
            .select_from(Service)
            .where(col(Service.organization_id) == operator.organization.id)
        )
        assert written == 0

    async def test_a_flat_area_is_accepted(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/services",
            json=_service(
                service_areas=[
                    {"name": "Team area", "extent": {"type": "Polygon", "coordinates": SQUARE}}
                ]
            ),
            headers=operator.headers,
        )
        assert response.status_code == 201, response.text


class TestStrictNumbers:
    @pytest.mark.parametrize(
        ("location", "field", "kind"),
        [
            ({"latitude": True, "longitude": -16.0}, "latitude", "float_type"),
            ({"latitude": 14.1, "longitude": "14"}, "longitude", "float_type"),
        ],
    )
    async def test_coordinates_must_be_numbers(
        self,
        client: httpx.AsyncClient,
        operator: Partner,
        location: Json,
        field: str,
        kind: str,
    ) -> None:
        response = await client.post(
            "/v1/services",
            json=_service(locations=[{"name": "L", **location}]),
            headers=operator.headers,
        )
        assert_refused_at(response, ["body", "locations", 0, field], kind)

    async def test_integers_and_flags_are_not_converted(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/services",
            json=_service(minimum_age="14", accepts_referrals="yes"),
            headers=operator.headers,
        )
        assert_refused_at(response, ["body", "minimum_age"], "int_type")
        assert_refused_at(response, ["body", "accepts_referrals"], "bool_type")

    async def test_an_integer_is_a_number(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/services",
            json=_service(locations=[{"name": "L", "latitude": 14, "longitude": -16}]),
            headers=operator.headers,
        )
        assert response.status_code == 201, response.text


def _request_models() -> set[type[BaseModel]]:
    """Every Relay model reachable from the body of a route (GeoJSON's own models excluded:
    positions are checked by the area's own validator, tested above)."""
    found: set[type[BaseModel]] = set()
    pending: list[Any] = []
    for context in iter_route_contexts(_APP.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.body_field is not None:
            pending.append(route.body_field.field_info.annotation)
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in found or not annotation.__module__.startswith("api."):
                continue
            found.add(annotation)
            pending += [field.annotation for field in annotation.model_fields.values()]
        else:
            pending += list(typing.get_args(annotation))
    return found


def _scalar_fields(model: type[BaseModel]) -> Iterator[tuple[str, str, bool]]:
    """(field, JSON type, in a list) of the model's number, integer and boolean fields."""
    for name, schema in model.model_json_schema()["properties"].items():
        alternatives = schema.get("anyOf", [schema])
        for alternative in alternatives:
            in_list = alternative.get("type") == "array"
            kind = (alternative.get("items", {}) if in_list else alternative).get("type")
            if kind in {"number", "integer", "boolean"}:
                yield name, kind, in_list


STRICT_CASES = [
    (model, name, kind, in_list)
    for model in sorted(_request_models(), key=lambda model: model.__name__)
    for name, kind, in_list in _scalar_fields(model)
]
LAX_VALUES = {"number": ["14", True], "integer": ["14", True, 14.5], "boolean": ["true", 1]}
STRICT_ERRORS = {"number": "float_type", "integer": "int_type", "boolean": "bool_type"}


def test_the_strict_walk_finds_the_fields() -> None:
    names = {(model.__name__, name) for model, name, _, _ in STRICT_CASES}
    assert {
        ("LocationIn", "latitude"),
        ("CapacityUpdate", "available"),
        ("ConsentCreate", "age_at_consent"),
        ("WebhookCreate", "enabled"),
        ("SecretRotation", "overlap_hours"),
    } <= names


@pytest.mark.parametrize(("model", "name", "kind", "in_list"), STRICT_CASES, ids=str)
def test_every_number_and_flag_of_a_request_is_strict(
    model: type[BaseModel], name: str, kind: str, in_list: bool
) -> None:
    for lax in LAX_VALUES[kind]:
        value = [lax] if in_list else lax
        with pytest.raises(ValidationError) as refused:
            model.model_validate({name: value})
        errors = refused.value.errors()
        where = (name, 0) if in_list else (name,)
        assert any(e["loc"] == where and e["type"] == STRICT_ERRORS[kind] for e in errors), (
            f"{model.__name__}.{name} takes {lax!r}"
        )
