"""The cross-organisation test pattern every partner resource reuses (OWASP API1, BOLA).

``assert_hidden_from_other_organisations`` calls a resource URL as its owner (must succeed), as
another organisation (must be 404), and with an id that does not exist (must be 404), and
checks that the two 404s cannot be told apart: same status, same problem type, title and
detail. An attacker cannot learn that another organisation's object exists.
"""

import re
import uuid

import httpx


async def assert_hidden_from_other_organisations(
    client: httpx.AsyncClient,
    *,
    url: str,
    owner_headers: dict[str, str],
    other_headers: dict[str, str],
    missing_url: str | None = None,
    method: str = "GET",
    json: object = None,
) -> None:
    own = await client.request(method, url, headers=owner_headers, json=json)
    assert own.status_code < 300, f"the owner cannot reach {url}: {own.status_code}"

    foreign = await client.request(method, url, headers=other_headers, json=json)
    missing = await client.request(
        method, missing_url or _with_new_last_segment(url), headers=other_headers, json=json
    )
    assert foreign.status_code == missing.status_code == 404
    strip = ("request_id",)
    foreign_body = {k: v for k, v in foreign.json().items() if k not in strip}
    missing_body = {k: v for k, v in missing.json().items() if k not in strip}
    assert foreign_body == missing_body
    assert foreign.headers["content-type"] == missing.headers["content-type"]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _with_new_last_segment(url: str) -> str:
    """The same URL naming an object that does not exist: its id replaced by a new one."""
    if _UUID.search(url):
        return _UUID.sub(lambda _: str(uuid.uuid4()), url)
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/{uuid.uuid4()}"
