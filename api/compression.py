"""Compressed responses for phones on 2G: gzip or brotli, whichever the client accepts
(``starlette-compress``), for pages, JSON, GeoJSON, problem+json, CSV and NDJSON.

- Only bodies of at least ``MINIMUM_BYTES`` are compressed: below it the saving is a few dozen
  bytes, less than one TCP segment, for the compressor's setup on every request.
- Brotli when accepted, else gzip (a client naming neither gets the body as it is). On the
  lookup's pages and the searches' JSON, brotli at quality 5 writes 7 to 13 % fewer bytes than
  gzip at level 6, for 0.05 to 0.08 ms more CPU per response; zstd, which Chromium offers too,
  writes as many bytes as gzip and is off (``python -m bench.compression`` measures all three).
- Streamed responses (the area downloads, HSDS's NDJSON) stay streamed: their chunks are
  gathered into blocks of ``STREAM_BLOCK_BYTES`` and each block is flushed by the compressor, so
  a download starts after its first block and is never held whole (a brotli compressor not told
  to flush keeps megabytes before it writes anything).
- Every compressible response says ``Vary: Accept-Encoding``, compressed or not, so a cache never
  hands one client's encoding to another.
- BREACH (docs/security.md): a request carrying a ``Cookie`` gets its response uncompressed. A
  cookie is the only credential a browser attaches by itself, so only such a request can bring
  back a secret (a session's CSRF token, a person's data) beside input an attacker chose, and
  let the attacker read the secret from the compressed lengths. Relay's API takes bearer tokens,
  which no browser adds on its own, and the lookup pages are anonymous: both are compressed.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, add_compress_type

MINIMUM_BYTES = 500
STREAM_BLOCK_BYTES = 16 * 1024
BROTLI_QUALITY = 5
GZIP_LEVEL = 6

# Compressed as the library's own list does (HTML, JSON, GeoJSON, CSS, JavaScript, SVG...), and:
COMPRESSED = ("application/problem+json", "application/fhir+json")
# Sent in several messages (``StreamingResponse``): each block is flushed as it comes.
STREAMED = ("application/geo+json", "application/x-ndjson", "text/csv")


class CompressionMiddleware:
    """``starlette-compress`` for requests without cookies, over streamed bodies gathered into
    blocks; requests with a cookie go straight to the app."""

    def __init__(self, app: ASGIApp, *, minimum_size: int = MINIMUM_BYTES) -> None:
        for media_type in COMPRESSED:
            add_compress_type(media_type)
        for media_type in STREAMED:
            add_compress_type(media_type, streaming=True)
        self.app = app
        self.compressing = CompressMiddleware(
            StreamBlocks(app),
            minimum_size=minimum_size,
            zstd=False,
            brotli_quality=BROTLI_QUALITY,
            gzip_level=GZIP_LEVEL,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"cookie" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await self.compressing(scope, receive, send)


class StreamBlocks:
    """Gathers the chunks of a streamed body into blocks of at least ``STREAM_BLOCK_BYTES``
    (the last one may be smaller). A streamed type's compressor flushes every message it gets:
    flushed row by row (a CSV download sends a message per service, about 80 bytes), gzip
    shrinks a download 2.6 times instead of 4.5."""

    def __init__(self, app: ASGIApp, block_bytes: int = STREAM_BLOCK_BYTES) -> None:
        self.app = app
        self.block_bytes = block_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending: list[bytes] = []
        size = 0

        async def send_in_blocks(message: Message) -> None:
            nonlocal size
            if message["type"] != "http.response.body":
                await send(message)
                return
            more = message.get("more_body", False)
            if not pending and (not more or len(message.get("body", b"")) >= self.block_bytes):
                await send(message)  # a whole body, or a block already
                return
            body = message.get("body", b"")
            pending.append(body)
            size += len(body)
            if more and size < self.block_bytes:
                return
            block = b"".join(pending)
            pending.clear()
            size = 0
            await send({"type": "http.response.body", "body": block, "more_body": more})

        await self.app(scope, receive, send_in_blocks)
