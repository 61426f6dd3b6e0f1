"""A real headless Chromium for the lookup pages' tests: Debian's ``chromium`` driven through its
``chromedriver`` by Selenium (no browser or driver is downloaded), and a live server to point it at.

Selenium's calls block, while the app under test is served by uvicorn on the test's own event
loop: every browser call goes through ``asyncio.to_thread`` (``Browser.run``), so the server keeps
answering while the browser waits.
"""

import asyncio
import base64
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.print_page_options import PrintOptions
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

CHROMIUM = os.environ.get("RELAY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RELAY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("RELAY_TEST_ARTIFACTS", "test-artifacts"))
# A cheap phone: the pages must be usable 360 CSS pixels wide, with 640 pixels of first screen.
PHONE = {"width": 360, "height": 640, "deviceScaleFactor": 1, "mobile": True}
# Headless, as root, on a machine without network access: no sandbox, no background traffic.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--lang=en-US",
)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None (scripts/test-tools.sh installs both)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is missing: run scripts/test-tools.sh (make test does)"
    return None


class Browser:
    """One Chromium, with JavaScript or without."""

    def __init__(self, *, javascript: bool) -> None:
        self.profile = tempfile.mkdtemp(prefix="relay-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)

    async def run(self, work: Callable[[webdriver.Chrome], T]) -> T:
        return await asyncio.to_thread(work, self.driver)

    async def get(self, url: str) -> None:
        def load(driver: webdriver.Chrome) -> None:
            # The phone's metrics again before each page: printing to PDF (``print_a4``) lays
            # the page out at the paper's size, and the next page may be laid out before the
            # emulated phone is back (a full run once measured the pathway printed after
            # another print at 479 px wide; it fits the phone in every other run).
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
            driver.get(url)
            # Under load the page was once laid out before the phone's metrics applied (512 px
            # wide, in a new browser): apply them and load it once more. A page really wider
            # than the phone stays so, and the tests that measure it still fail.
            if driver.execute_script("return window.innerWidth") != PHONE["width"]:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
                driver.refresh()

        await self.run(load)

    async def script(self, source: str, *arguments: Any) -> Any:
        return await self.run(lambda driver: driver.execute_script(source, *arguments))

    async def screenshot(self, name: str, *, whole_page: bool = True) -> Path:
        """The whole page (or its first screen) as a PNG under test-artifacts/ (kept after the
        run)."""

        def capture(driver: webdriver.Chrome) -> bytes:
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": whole_page}
            )
            return base64.b64decode(shot["data"])

        def save(image: bytes) -> Path:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            path = ARTIFACTS / name
            path.write_bytes(image)
            return path.resolve()

        return await asyncio.to_thread(save, await self.run(capture))

    async def print_a4(self) -> bytes:
        """The page printed to PDF on A4 paper, as Chromium's print dialog would."""

        def pdf(driver: webdriver.Chrome) -> bytes:
            options = PrintOptions()
            options.page_width = 21.0
            options.page_height = 29.7
            options.background = True
            return base64.b64decode(driver.print_page(options))

        return await self.run(pdf)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


class OneAtATime:
    """Serves one HTTP request at a time: the test app's sessions share the test's single
    database connection, which cannot run two statements at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.lock:
            await self.app(scope, receive, send)


class Hanging:
    """While ``hanging``, takes every HTTP request and answers none (a server stuck behind a
    stalled link, as a phone on 2G meets one) until ``answer()``: then they are served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hanging = False
        self.released = asyncio.Event()
        self.waiting = 0

    def hang(self) -> None:
        self.hanging = True
        self.released.clear()

    def answer(self) -> None:
        self.hanging = False
        self.released.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hanging:
            self.waiting += 1
            await self.released.wait()
        await self.app(scope, receive, send)


class LiveServer:
    """The test app on a loopback port; ``stop()`` cuts the network for the browser, ``hang()``
    leaves it connected to a server that answers nothing (``answer()`` ends it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.hanging = Hanging(OneAtATime(app))
        config = uvicorn.Config(
            self.hanging, host="127.0.0.1", port=0, lifespan="off", log_config=None
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(500):
            if self.server.started:
                break
            await asyncio.sleep(0.01)
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def hang(self) -> None:
        self.hanging.hang()

    def answer(self) -> None:
        self.hanging.answer()

    async def stop(self) -> None:
        if self.task is None:
            return
        self.hanging.answer()  # what waits is served (or cut) rather than left pending
        self.server.should_exit = True
        self.server.force_exit = True
        await asyncio.wait_for(self.task, timeout=10)
        self.task = None


@asynccontextmanager
async def live(app: ASGIApp) -> AsyncIterator[LiveServer]:
    server = LiveServer(app)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
