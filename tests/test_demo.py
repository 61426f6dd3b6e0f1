"""The demo network: deterministic, idempotent, and usable with the printed credentials."""

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.directory import Service
from api.services import demo


async def test_loads_once_and_the_same_every_time(session: AsyncSession) -> None:
    first = demo.build()
    second = demo.build()
    assert [(type(r).__name__, r.id) for r in first.rows] == [
        (type(r).__name__, r.id) for r in second.rows
    ]
    counts = await demo.load(session)
    assert counts["organization"] == 15
    assert counts["service"] == 20
    assert await demo.load(session) == {}
    total = await session.scalar(select(func.count()).select_from(Service))
    assert total == 20


async def test_if_empty_leaves_an_existing_directory_alone(session: AsyncSession) -> None:
    from tests.factories.organizations import create_organization

    await create_organization(session, name="Someone's real directory")
    assert await demo.load(session, only_if_empty=True) == {}


async def test_partner_credentials_get_a_token_and_read_partner_records(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await demo.load(session)
    key = settings.secret_key.get_secret_value()
    first = await demo.partner_credentials(session, key)
    again = await demo.partner_credentials(session, key)
    assert again["client_id"] == first["client_id"]
    assert again["client_secret"] != first["client_secret"]
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "directory:read stats:read"},
        auth=httpx.BasicAuth(again["client_id"], again["client_secret"]),
    )
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    anonymous = (await client.get("/hsds/services")).json()["total_items"]
    partner = (await client.get("/hsds/services", headers=headers)).json()["total_items"]
    assert partner == anonymous + 1
    # The README's accountability figures work with the printed credentials too.
    figures = await client.get("/v1/stats/directory", headers=headers)
    assert figures.status_code == 200, figures.text
