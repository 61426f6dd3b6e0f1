"""Bytes on the wire (issue 23, acceptance 2): a lookup result page and the pathway, loaded by a
real headless Chromium on a 360 px phone, as its performance entries count them.

Chromium says ``Accept-Encoding: gzip, deflate, br, zstd``; Relay answers brotli
(``api.compression``). ``transferSize`` is what crossed the network for the page: the encoded
body and, as Chromium counts every response's headers, a fixed 300 bytes; without compression
the same page would have cost its decoded body and the same 300.
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api.compression import MINIMUM_BYTES
from tests.factories.directory import DemoNetwork, load_demo
from tests.web.browser import Browser, LiveServer, live, missing
from tests.web.pages import KOUNDA

SHRINKS = 3  # the bound: at least three times fewer bytes on the wire
NAVIGATION = """
const page = performance.getEntriesByType('navigation')[0];
const files = performance.getEntriesByType('resource')
  .filter(entry => entry.name.includes('/lookup/static/'))
  .map(entry => [entry.name, entry.transferSize, entry.encodedBodySize, entry.decodedBodySize]);
return [page.transferSize, page.encodedBodySize, page.decodedBodySize, files];
"""


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


@pytest.fixture
async def server(
    app: FastAPI, client: httpx.AsyncClient, network: DemoNetwork
) -> AsyncIterator[LiveServer]:
    async with live(app) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    chromium = Browser(javascript=True)
    # What the network carries, not what the service worker answers from the device.
    chromium.driver.execute_cdp_cmd("Network.enable", {})
    chromium.driver.execute_cdp_cmd("Network.setBypassServiceWorker", {"bypass": True})
    yield chromium
    chromium.quit()


class TestBytesOnTheWire:
    async def test_a_result_page_and_the_pathway_are_three_times_lighter(
        self, browser: Browser, server: LiveServer
    ) -> None:
        pages = {
            "result page": (
                f"{server.url}/lookup?area={KOUNDA}"
                "&need=medical-care&need=safe-shelter&need=emergency-police"
            ),
            "pathway": f"{server.url}/lookup/pathway?area={KOUNDA}",
        }
        measured = {}
        for name, url in pages.items():
            await browser.get(url)
            transfer, encoded, decoded, files = await browser.script(NAVIGATION)
            headers = transfer - encoded
            assert 0 < encoded < decoded, (name, transfer, encoded, decoded)
            assert decoded >= SHRINKS * encoded, f"{name}: body {decoded} bytes sent as {encoded}"
            uncompressed = decoded + headers
            assert uncompressed >= SHRINKS * transfer, (
                f"{name}: {transfer} bytes on the wire, {uncompressed} without compression"
            )
            measured[name] = (transfer, uncompressed)
            for file, file_transfer, file_encoded, file_decoded in files:
                # Fetched (not from the browser's cache) and not tiny: compressed too.
                if file_transfer and file_decoded >= MINIMUM_BYTES:
                    assert file_encoded < file_decoded, file
        # A volunteer's result page and pathway, together, well under 10 KB on the wire.
        assert sum(transfer for transfer, _ in measured.values()) < 10_000, measured
