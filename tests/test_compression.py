"""Compressed responses (``api.compression``) through the real HTTP stack: what is negotiated, what
is left alone, that streamed downloads still stream, and the BREACH rule (no compression for a
request carrying a cookie)."""

import asyncio
import gzip
import json
import uuid
import zlib
from typing import Any

import brotli
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from api.compression import MINIMUM_BYTES, STREAM_BLOCK_BYTES, CompressionMiddleware
from api.config import Settings
from api.models.directory import Attribute, Location, Service, ServiceAtLocation
from api.taxonomy import term_id
from tests.factories.directory import DemoNetwork, load_demo
from tests.factories.referrals import network as referral_network
from tests.factories.referrals import record_consent, refer
from tests.web.pages import KOUNDA, REGION

# What each kind of response is asked with: a lookup result page (HTML), a search (JSON), the
# pathway (JSON), OGC items (GeoJSON) and a validation problem (problem+json).
PAGES = {
    "lookup page": ("/lookup", {"area": KOUNDA, "need": ["medical-care", "safe-shelter"]}),
    "search": ("/v1/search/nearest", {"lat": "14.1", "lon": "-16.0"}),
    "pathway": ("/v1/search/pathway", {"area": KOUNDA}),
    "ogc items": ("/ogc/collections/services/items", {"limit": "50"}),
    "validation problem": (
        "/v1/search/nearest",
        {"lat": "north", "lon": "east", "age": "old", "limit": "many", "radius_m": "far"},
    ),
}


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


async def _raw(
    client: httpx.AsyncClient, path: str, params: Any, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, still encoded."""
    async with client.stream("GET", path, params=params, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


def _decoded(encoding: str | None, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        decoded: bytes = brotli.decompress(body)
        return decoded
    assert encoding is None, encoding
    return body


def _varies_on_encoding(response: httpx.Response) -> bool:
    return "accept-encoding" in response.headers.get("vary", "").lower().replace(" ", "").split(",")


class TestNegotiation:
    @pytest.mark.parametrize("kind", PAGES)
    @pytest.mark.parametrize(
        ("accepted", "expected"),
        [
            ("gzip", "gzip"),
            ("br", "br"),
            ("gzip, deflate, br, zstd", "br"),  # what Chromium sends: brotli, the smallest
            ("gzip, deflate", "gzip"),  # what Python's HTTP clients send
        ],
    )
    async def test_compressed_as_accepted(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        kind: str,
        accepted: str,
        expected: str,
    ) -> None:
        path, params = PAGES[kind]
        plain, plain_body = await _raw(client, path, params, {"Accept-Encoding": "identity"})
        response, body = await _raw(client, path, params, {"Accept-Encoding": accepted})
        assert response.status_code == plain.status_code
        assert response.headers["content-encoding"] == expected
        assert _varies_on_encoding(response)
        if kind != "ogc items":  # GeoJSON is compressed as a stream (downloads): no length
            assert int(response.headers["content-length"]) == len(body)
        assert response.headers["content-type"] == plain.headers["content-type"]
        assert "x-request-id" in response.headers
        decoded = _decoded(expected, body)
        if kind == "lookup page":  # the same page, but for its open-now marks (the clock)
            assert len(decoded) == len(plain_body)
        else:
            request_ids = {"request_id": None}  # a problem names its own request
            assert json.loads(decoded) | request_ids == json.loads(plain_body) | request_ids
        # The bound for pages and searches; a short problem shrinks less.
        shrinks = 2 if kind == "validation problem" else 3
        assert len(body) * shrinks < len(decoded), f"{kind}: {len(decoded)} bytes to {len(body)}"

    @pytest.mark.parametrize(
        "headers",
        [{"Accept-Encoding": "identity"}, {}, {"Accept-Encoding": "gzip;q=0, br;q=0"}],
        ids=["identity", "no header", "refused"],
    )
    async def test_as_it_is_when_no_encoding_is_accepted(
        self, client: httpx.AsyncClient, network: DemoNetwork, headers: dict[str, str]
    ) -> None:
        path, params = PAGES["search"]
        request = client.build_request("GET", path, params=params, headers=headers)
        if "Accept-Encoding" not in headers:
            del request.headers["Accept-Encoding"]  # httpx sends one of its own
        response = await client.send(request, stream=True)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        # The same URL is compressed for a client that accepts it: caches must know.
        assert _varies_on_encoding(response)
        assert json.loads(body)["data"]

    async def test_small_responses_are_left_alone(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        for path in ("/healthz", "/v1/referrals/" + str(uuid.uuid4())):
            response, body = await _raw(client, path, None, {"Accept-Encoding": "gzip, br"})
            assert len(body) < MINIMUM_BYTES, path
            assert "content-encoding" not in response.headers, path
            assert not _varies_on_encoding(response), path

    async def test_a_page_keeps_its_own_vary(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        path, params = PAGES["lookup page"]
        response, _ = await _raw(client, path, params, {"Accept-Encoding": "br"})
        varies = {part.strip().lower() for part in response.headers["vary"].split(",")}
        assert varies == {"accept-language", "accept-encoding"}

    async def test_a_response_no_cache_may_keep_is_compressed_and_still_not_kept(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """A referral's export (personal data, ``Cache-Control: no-store``), asked with a bearer
        token: compressed, and still marked for no cache to keep."""
        net = await referral_network(session, settings)
        referral = await refer(client, net, await record_consent(client, net))
        path = f"/v1/referrals/{referral['id']}/export"
        headers = {**net.sender.headers, "Accept-Encoding": "gzip"}
        for params in ({"format": "fhir"}, {"format": "html"}):
            response, body = await _raw(client, path, params, headers)
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["content-encoding"] == "gzip"
            assert referral["id"] in gzip.decompress(body).decode()


class TestInsideTheRequestContext:
    """The compression runs inside the request-id, metrics and logging middleware: a compressed
    answer is logged and counted with its route and status, and carries its request id."""

    async def test_a_compressed_answer_is_logged_counted_and_named(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        path, params = PAGES["pathway"]
        with capture_logs() as logs:
            response, _ = await _raw(
                client, path, params, {"Accept-Encoding": "br", "X-Request-ID": "compressed-0001"}
            )
        assert response.headers["content-encoding"] == "br"
        assert response.headers["x-request-id"] == "compressed-0001"
        [logged] = [entry for entry in logs if entry["event"] == "request"]
        assert (logged["route"], logged["status"], logged["request_id"]) == (
            "/v1/search/pathway",
            200,
            "compressed-0001",
        )
        metrics = (await client.get("/metrics", headers={"Accept-Encoding": "gzip"})).text
        assert 'route="/v1/search/pathway",status="200"' in metrics


class TestBreach:
    """docs/security.md: a request carrying a cookie (the only credential a browser attaches by
    itself) is answered uncompressed, so that no secret of a signed-in person's page can be read
    from compressed lengths beside input an attacker chose."""

    async def test_a_request_with_a_cookie_is_answered_uncompressed(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        for path, params in PAGES.values():
            response, body = await _raw(
                client,
                path,
                params,
                {"Accept-Encoding": "gzip, deflate, br", "Cookie": "relay_session=s3cr3t"},
            )
            assert "content-encoding" not in response.headers, path
            assert len(body) > MINIMUM_BYTES

    async def test_a_reflected_query_beside_the_same_page_is_compressed_without_a_cookie(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """The lookup pages reflect what was asked (the form keeps its values) and hold no
        secret: what an attacker could learn from their lengths, they could fetch themselves."""
        response, _ = await _raw(
            client,
            "/lookup",
            {"lat": "14.1", "lon": "-16.0", "need": "medical-care"},
            {"Accept-Encoding": "gzip"},
        )
        assert response.headers["content-encoding"] == "gzip"


async def _add_services(session: AsyncSession, network: DemoNetwork, count: int) -> None:
    """``count`` more public services in the demo region, for a download of several blocks."""
    owner = network.services[0].organization_id
    for number in range(count):
        service = Service(
            organization_id=owner,
            name=f"Extra service {number} with a name long enough to fill a download (test)",
            description=f"Listed for the streamed download test, number {number}.",
            status="active",
        )
        place = Location(
            organization_id=owner,
            name=f"Extra place {number}",
            latitude=14.0 + (number % 30) * 0.01,
            longitude=-16.0 + (number // 30) * 0.01,
        )
        session.add_all([service, place])
        await session.flush()
        session.add_all(
            [
                ServiceAtLocation(service_id=service.id, location_id=place.id),
                Attribute(
                    link_id=service.id,
                    link_entity="service",
                    taxonomy_term_id=term_id("medical-care"),
                ),
            ]
        )
    await session.flush()


def _receive() -> Receive:
    """A client that sends its GET and then waits, connected, until the answer is done."""
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # cancelled by the response once it is sent
        return {"type": "http.disconnect"}

    return receive


async def _call(
    app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]]
) -> list[Message]:
    """The ASGI messages the app sends for one GET, in order."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, _receive(), send)
    return sent


class TestStreamedDownloads:
    @pytest.mark.parametrize("encoding", ["gzip", "br"])
    @pytest.mark.parametrize("export_format", ["geojson", "csv"])
    async def test_an_area_download_still_streams(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        network: DemoNetwork,
        encoding: str,
        export_format: str,
    ) -> None:
        """The download is sent in compressed blocks as it is read, never held whole: headers
        first (no Content-Length), then several blocks, each decodable as it comes."""
        await _add_services(session, network, 300)
        messages = await _call(
            app,
            "/lookup/export",
            f"area={REGION}&format={export_format}",
            [(b"accept-encoding", encoding.encode())],
        )
        start, *bodies = messages
        assert start["type"] == "http.response.start"
        assert start["status"] == 200
        headers = {name.decode(): value.decode() for name, value in start["headers"]}
        assert headers["content-encoding"] == encoding
        assert "content-length" not in headers
        assert "accept-encoding" in headers["vary"].lower()
        chunks = [message["body"] for message in bodies if message.get("body")]
        assert all(message.get("more_body") for message in bodies[:-1])
        assert not bodies[-1].get("more_body")
        assert len(chunks) >= 3, f"{len(chunks)} compressed chunks: held, not streamed"
        # Each block was flushed: what came so far decodes on its own, without the end.
        if encoding == "gzip":
            partial = zlib.decompressobj(31).decompress(b"".join(chunks[:2]))
        else:
            partial = brotli.Decompressor().process(b"".join(chunks[:2]))
        assert len(partial) >= STREAM_BLOCK_BYTES
        whole = _decoded(encoding, b"".join(chunks)).decode()
        plain = await client.get(
            "/lookup/export",
            params={"area": REGION, "format": export_format},
            headers={"Accept-Encoding": "identity"},
        )
        assert whole == plain.text
        assert "Extra service 299" in whole

    async def test_chunks_are_gathered_into_blocks_and_sent_as_they_come(self) -> None:
        """A stream of many small chunks: the compressed blocks leave while the stream is still
        being written (the app has not written its last chunk when the first block is sent)."""
        written: list[int] = []
        sent_while_writing: list[int] = []

        async def rows() -> Any:
            for number in range(2000):
                written.append(number)
                yield f"{number},a row of a download of many rows,{number * 7}\n".encode()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await StreamingResponse(rows(), media_type="text/csv")(scope, receive, send)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                sent_while_writing.append(len(written))

        scope: Scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [(b"accept-encoding", b"gzip")],
        }

        await CompressionMiddleware(app)(scope, _receive(), send)
        assert len(sent_while_writing) >= 3
        assert sent_while_writing[0] < 2000, "the first block waited for the whole download"
