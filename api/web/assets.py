"""The lookup pages' static files, addressed by content: ``/lookup/static/<name>?v=<hash>``.

A URL that names the current version of a file may be cached for a year (``immutable``): a new
version has a new URL. Any other URL of the file is answered with ``no-cache``, so a page from
an older deployment still gets a file, revalidated by its ETag.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "/lookup/static/"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    version: str

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.name}?v={self.version}"

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@cache
def assets() -> dict[str, Asset]:
    found = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in MEDIA_TYPES:
            body = path.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:16]
            found[path.name] = Asset(path.name, body, MEDIA_TYPES[path.suffix], version)
    return found


def url(name: str) -> str:
    return assets()[name].url


def fingerprint() -> str:
    """One version for all static files together (the service worker's cache name)."""
    digest = hashlib.sha256()
    for asset in assets().values():
        digest.update(asset.name.encode() + b"\0" + asset.version.encode())
    return digest.hexdigest()[:16]
