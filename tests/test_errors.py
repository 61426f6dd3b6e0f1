"""Every error is an RFC 9457 problem: framework errors, validation, size limits, crashes."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query, Request

from api.errors import PROBLEM_MEDIA_TYPE, Conflict
from api.main import create_app
from tests.conftest import make_settings

SECRET_IN_EXCEPTION = "Amina Diallo, +221 77 000 00 00"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert body["type"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture(scope="module")
def crafted_app() -> FastAPI:
    """An app with routes that misbehave on purpose (no database needed)."""
    app = create_app(make_settings(max_body_bytes=1024))

    @app.get("/test/boom", tags=["test"])
    async def boom() -> None:
        raise RuntimeError(f"SELECT * FROM referral WHERE name = '{SECRET_IN_EXCEPTION}'")

    @app.get("/test/conflict", tags=["test"])
    async def conflict() -> None:
        raise Conflict("The referral is already closed.", code_hint="closed")

    @app.get("/test/number", tags=["test"])
    async def number(n: Annotated[int, Query(ge=0)]) -> int:
        return n

    @app.post("/test/echo-size", tags=["test"])
    async def echo_size(request: Request) -> int:
        return len(await request.body())

    return app


@pytest.fixture
async def crafted(crafted_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=crafted_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestFrameworkErrors:
    async def test_unknown_path_is_404_problem(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.get("/nope"), 404)
        assert body["title"] == "Not Found"

    async def test_wrong_method_is_405_problem_with_allow(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/healthz")
        assert_problem(response, 405)
        assert response.headers["allow"] == "GET"

    async def test_validation_error_names_field_never_value(
        self, crafted: httpx.AsyncClient
    ) -> None:
        response = await crafted.get("/test/number", params={"n": "not-a-number-Amina"})
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {
                "loc": ["query", "n"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "type": "int_parsing",
            }
        ]
        assert "Amina" not in response.text


class TestRelayErrors:
    async def test_domain_error_renders_its_status_and_detail(
        self, crafted: httpx.AsyncClient
    ) -> None:
        body = assert_problem(await crafted.get("/test/conflict"), 409)
        assert body["detail"] == "The referral is already closed."
        assert body["code_hint"] == "closed"


class TestUnexpectedException:
    async def test_is_generic_500_without_trace_or_message(
        self, crafted: httpx.AsyncClient
    ) -> None:
        response = await crafted.get("/test/boom")
        body = assert_problem(response, 500)
        assert body["title"] == "Internal Server Error"
        for leaked in ("Traceback", "RuntimeError", "SELECT", "Amina", "referral", ".py"):
            assert leaked not in response.text


class TestBodySizeLimit:
    async def test_declared_length_over_limit_is_413(self, crafted: httpx.AsyncClient) -> None:
        response = await crafted.post("/test/echo-size", content=b"x" * 1025)
        assert_problem(response, 413)

    async def test_streamed_body_over_limit_is_413(self, crafted: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 512

        response = await crafted.post("/test/echo-size", content=chunks())
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)

    async def test_body_at_limit_is_accepted(self, crafted: httpx.AsyncClient) -> None:
        response = await crafted.post("/test/echo-size", content=b"x" * 1024)
        assert response.status_code == 200
        assert response.json() == 1024

    async def test_malformed_content_length_is_400(self, crafted: httpx.AsyncClient) -> None:
        response = await crafted.post(
            "/test/echo-size", content=b"{}", headers={"content-length": "2x"}
        )
        assert_problem(response, 400)

    async def test_default_limit_is_one_mebibyte(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/healthz", content=b"x" * (1024 * 1024 + 1))
        assert_problem(response, 413)


class TestControlCharacters:
    async def test_nul_in_the_query_string_is_422_naming_the_parameter(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/hsds/services?search=a%00b")
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {
                "loc": ["query", "search"],
                "msg": "must not contain a NUL character",
                "type": "nul_character",
            }
        ]

    async def test_nul_in_a_client_id_is_invalid_client(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
