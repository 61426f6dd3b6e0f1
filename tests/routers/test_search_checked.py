"""Issue 22: search can prefer checked entries. With ``prefer=checked``, ``/v1/search/nearest``
ranks the services confirmed within the staleness period before unchecked ones at a similar
distance (an unchecked one ranks as if 25 % further), leaves nothing out, and shows the real
distances; without it the order is by distance alone."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.schemas.search import SearchPage
from api.services.search import UNCHECKED_HANDICAP
from tests.factories.auth import Partner, create_partner

POINT = (-21.1003, 46.4007)  # a place only these tests list services at
METRES_PER_DEGREE = 111_000  # of latitude, near enough for placing test services
NEED = "legal-aid"
# name: (metres north of the point, days since it was confirmed; None: never)
PLACES: dict[str, tuple[float, int | None]] = {
    "near, never checked": (500, None),
    "1.0 km, never checked": (1000, None),
    "1.1 km, checked long ago": (1100, 400),
    "1.2 km, checked today": (1200, 0),
    "2.0 km, checked last month": (2000, 30),
}


@pytest.fixture
async def listed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> dict[str, str]:
    owner: Partner = await create_partner(
        session, settings, scopes=[Scope.directory_write], name="Clinique juridique (checked)"
    )
    ids: dict[str, str] = {}
    for name, (north, days) in PLACES.items():
        body = {
            "name": name,
            "needs": [NEED],
            "locations": [
                {
                    "name": name,
                    "latitude": POINT[0] + north / METRES_PER_DEGREE,
                    "longitude": POINT[1],
                }
            ],
        }
        created = await client.post("/v1/services", json=body, headers=owner.headers)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
        if days is not None:
            await session.execute(
                text("UPDATE service SET assured_date = :day WHERE id = :id"),
                {"day": date.today() - timedelta(days=days), "id": uuid.UUID(ids[name])},
            )
    return ids


async def search(client: httpx.AsyncClient, **more: Any) -> dict[str, Any]:
    query = {"lat": POINT[0], "lon": POINT[1], "need": NEED, "radius_m": 5000, **more}
    answer = await client.get("/v1/search/nearest", params=query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    SearchPage.model_validate(body)
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [item["service"]["name"] for item in body["data"]]


async def test_checked_entries_rank_first_at_a_similar_distance(
    client: httpx.AsyncClient, settings: Settings, listed: dict[str, str]
) -> None:
    plain = await search(client)
    assert names(plain) == list(PLACES)  # by distance alone
    assert "prefer" not in plain["meta"]

    preferred = await search(client, prefer="checked")
    # The one confirmed today at 1.2 km comes before the unchecked one at 1.0 km (1.25 as
    # ranked) and the one confirmed 400 days ago (past the 180-day period) at 1.1 km; a far one
    # confirmed last month does not pass a much nearer unchecked one, nor does a checked one
    # pass the nearest (0.5 km, ranked as 0.625).
    assert names(preferred) == [
        "near, never checked",
        "1.2 km, checked today",
        "1.0 km, never checked",
        "1.1 km, checked long ago",
        "2.0 km, checked last month",
    ]
    since = datetime.now(UTC).date() - timedelta(days=settings.directory_stale_days)
    assert preferred["meta"]["prefer"] == "checked"
    assert preferred["meta"]["checked_since"] == since.isoformat()
    # Distances stay the real ones.
    shown = {item["service"]["name"]: item["distance_m"] for item in preferred["data"]}
    assert shown == {item["service"]["name"]: item["distance_m"] for item in plain["data"]}
    assert UNCHECKED_HANDICAP == 1.25

    # A limit keeps the first of that order: the scan reads on until it is exact.
    first_two = await search(client, prefer="checked", limit=2)
    assert names(first_two) == ["near, never checked", "1.2 km, checked today"]


async def test_an_unknown_preference_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/v1/search/nearest", params={"lat": POINT[0], "lon": POINT[1], "prefer": "nearest"}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
