"""A partner's webhook endpoint for the tests: a real HTTP server on loopback (uvicorn) that
records every request, and can be down, answer an error, or hold a request open."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    status: int = 204
    hold_next: bool = False
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        self.received.append(Received(headers, body))
        if self.hold_next:
            self.hold_next = False
            self.held.set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/relay-hooks"

    async def start(self) -> None:
        """Listen (again on the same port after a ``stop``)."""
        self.held.clear()
        self.release.clear()
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, lifespan="off", log_config=None
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        assert self._server.started, "the receiver did not start"
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self.release.set()
            await asyncio.wait_for(self._task, timeout=10)
            self._server = self._task = None

    def ids(self) -> list[str]:
        return [item.webhook_id for item in self.received]


@asynccontextmanager
async def listening() -> AsyncIterator[Receiver]:
    """A receiver started for the block and stopped after it (a test's fixture)."""
    endpoint = Receiver()
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()
