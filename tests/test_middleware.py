"""Request ids, one log line per request without query values, metrics by route template."""

import httpx
import pytest
from structlog.testing import capture_logs


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx.AsyncClient) -> None:
        first = (await client.get("/healthz")).headers["x-request-id"]
        second = (await client.get("/healthz")).headers["x-request-id"]
        assert len(first) == 32
        assert first != second

    async def test_well_formed_caller_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "partner-7f3a:0001"})
        assert response.headers["x-request-id"] == "partner-7f3a:0001"

    @pytest.mark.parametrize(
        "incoming",
        ["short", "has space in it", "x" * 129, "<script>alert(1)</script>", "-leading-dash-1"],
    )
    async def test_malformed_caller_id_is_replaced(
        self, client: httpx.AsyncClient, incoming: str
    ) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": incoming})
        assert response.headers["x-request-id"] != incoming
        assert len(response.headers["x-request-id"]) == 32

    async def test_present_on_errors(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/nope", headers={"X-Request-ID": "trace-12345678"})
        assert response.headers["x-request-id"] == "trace-12345678"
        assert response.json()["request_id"] == "trace-12345678"


class TestRequestLog:
    async def test_one_line_per_request_without_query_values(
        self, client: httpx.AsyncClient
    ) -> None:
        with capture_logs() as logs:
            await client.get(
                "/healthz", params={"name": "Amina"}, headers={"X-Request-ID": "log-test-0001"}
            )
        requests = [entry for entry in logs if entry["event"] == "request"]
        assert requests == [
            {
                "event": "request",
                "log_level": "info",
                "method": "GET",
                "route": "/healthz",
                "status": 200,
                "duration_ms": requests[0]["duration_ms"],
                "request_id": "log-test-0001",
            }
        ]
        assert "Amina" not in repr(logs)

    async def test_unmatched_paths_are_not_logged_verbatim(self, client: httpx.AsyncClient) -> None:
        with capture_logs() as logs:
            await client.get("/people/Amina-Diallo")
        assert [entry["route"] for entry in logs if entry["event"] == "request"] == ["<unmatched>"]
        assert "Amina" not in repr(logs)


class TestMetrics:
    async def test_counts_by_route_template_and_status(self, client: httpx.AsyncClient) -> None:
        await client.get("/healthz", params={"q": "Amina"})
        await client.get("/nope/Amina")
        text = (await client.get("/metrics")).text
        assert 'relay_http_requests_total{method="GET",route="/healthz",status="200"}' in text
        assert 'route="<unmatched>",status="404"' in text
        assert "relay_http_request_duration_seconds_bucket" in text
        assert "Amina" not in text
