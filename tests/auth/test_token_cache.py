"""Tokens answered from memory (api/auth/token_cache.py): never after a change, whoever makes it.

The harness's requests never commit, so what this process writes is seen through SQLAlchemy's
statements (``watch_writes``); what another process commits arrives as PostgreSQL's notice,
tested on a listener of the test's own against committed statements.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import token_cache
from api.auth.scopes import Scope
from api.auth.token_cache import TokenCache, credentials_changed, listen
from api.config import Settings
from api.db import connect_alone
from api.repositories import tokens as token_repository
from api.repositories.tokens import ActiveToken
from api.schemas.clients import ClientCredentials
from tests.factories.apps import app_and_person, exchange
from tests.factories.auth import create_client
from tests.factories.organizations import create_organization

LISTENER = "relay-token-cache-test"


def a_token(**changes: Any) -> ActiveToken:
    values: dict[str, Any] = {
        "token_hash": uuid.uuid4().hex,
        "client_pk": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "scopes": ("directory:read",),
        "issued_at": datetime.now(UTC),
        "expires_at": datetime.now(UTC) + timedelta(minutes=10),
        "revoked_at": None,
        "client_id": "client",
        "client_disabled": False,
        "organization_status": "active",
    }
    return ActiveToken(**(values | changes))


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


class TestTheCache:
    def listening(self, seconds: float = 30) -> TokenCache:
        cache = TokenCache(seconds)
        cache.listening = True
        return cache

    def test_keeps_and_answers(self) -> None:
        cache, token = self.listening(), a_token()
        cache.keep("h", token, cache.generation())
        assert cache.get("h") is token

    def test_a_change_forgets_everything(self) -> None:
        cache = self.listening()
        cache.keep("h", a_token(), cache.generation())
        credentials_changed()
        assert cache.get("h") is None
        assert len(cache) == 0

    def test_a_lookup_that_started_before_a_change_is_not_kept(self) -> None:
        cache = self.listening()
        generation = cache.generation()  # the request reads the row …
        credentials_changed()  # … while the token is revoked
        cache.keep("h", a_token(), generation)
        assert cache.get("h") is None

    def test_nothing_while_not_listening(self) -> None:
        cache = self.listening()
        cache.keep("h", a_token(), cache.generation())
        cache.listening = False
        assert cache.get("h") is None
        cache.keep("h", a_token(), cache.generation())
        assert len(cache) == 0

    def test_kept_for_its_seconds_only(self) -> None:
        cache = self.listening(seconds=0.05)
        cache.keep("h", a_token(), cache.generation())
        assert cache.get("h") is not None
        time.sleep(0.06)
        assert cache.get("h") is None
        off = self.listening(seconds=0)
        off.keep("h", a_token(), off.generation())
        assert off.get("h") is None

    def test_bounded(self) -> None:
        cache = TokenCache(30, maximum=3)
        cache.listening = True
        for name in "abcde":
            cache.keep(name, a_token(), cache.generation())
        assert len(cache) == 3
        assert cache.get("a") is None
        assert cache.get("e") is not None

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE oauth_token SET revoked_at = now()",
            'update "oauth_client" set disabled_at = now()',
            "DELETE FROM organization WHERE id = $1",
            "WITH gone AS (DELETE FROM oauth_token RETURNING 1) SELECT count(*) FROM gone",
            "TRUNCATE TABLE oauth_token",
            "INSERT INTO organization (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET status = $2",
            "UPDATE user_account SET generation=$1 WHERE user_account.id = $2",
            'UPDATE "user_account" SET deactivated_at = now()',
        ],
    )
    def test_writes_that_change_credentials(self, statement: str) -> None:
        assert token_cache._CHANGES_CREDENTIALS.search(statement)

    @pytest.mark.parametrize(
        "statement",
        [
            "INSERT INTO oauth_token (token_hash) VALUES ($1)",
            "SELECT * FROM oauth_token WHERE token_hash = $1",
            "SELECT id FROM organization WHERE id = $1 FOR UPDATE",
            "UPDATE referral SET status = $1",
            "UPDATE oauth_token_family SET revoked_at = $1",
            "UPDATE oauth_refresh_token SET used_at = $1",
            "INSERT INTO user_account (id) VALUES ($1)",
        ],
    )
    def test_statements_that_do_not(self, statement: str) -> None:
        assert not token_cache._CHANGES_CREDENTIALS.search(statement)


@pytest.fixture
async def partner(session: AsyncSession, settings: Settings) -> ClientCredentials:
    organization = await create_organization(session, name="Cached NGO")
    return await create_client(session, settings, organization, scopes=[Scope.directory_read])


async def token_of(client: httpx.AsyncClient, credentials: ClientCredentials) -> str:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret or ""),
    )
    value: str = response.json()["access_token"]
    return value


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The token hashes the database was asked about."""
    asked: list[str] = []
    find = token_repository.find

    async def counted(database: Any, token_hash: str) -> ActiveToken | None:
        asked.append(token_hash)
        return await find(database, token_hash)

    monkeypatch.setattr(token_repository, "find", counted)
    return asked


class TestInTheApplication:
    """The session's application listens, as ``relay serve`` does."""

    @pytest.fixture(autouse=True)
    async def listening(self, app: FastAPI) -> None:
        assert await eventually(lambda: app.state.token_cache.listening)

    async def search(self, client: httpx.AsyncClient, token: str) -> int:
        response = await client.get(
            "/v1/search/nearest",
            params={"lat": 0, "lon": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code

    async def test_a_token_is_looked_up_once(
        self, client: httpx.AsyncClient, partner: ClientCredentials, lookups: list[str]
    ) -> None:
        token = await token_of(client, partner)
        assert [await self.search(client, token) for _ in range(3)] == [200, 200, 200]
        assert len(lookups) == 1

    async def test_revoked_here_is_refused_at_once(
        self, client: httpx.AsyncClient, partner: ClientCredentials, lookups: list[str]
    ) -> None:
        token = await token_of(client, partner)
        assert await self.search(client, token) == 200
        assert await self.search(client, token) == 200
        assert len(lookups) == 1
        revoked = await client.post(
            "/oauth/revoke",
            data={"token": token},
            auth=(partner.client_id, partner.client_secret or ""),
        )
        assert revoked.status_code == 200
        assert await self.search(client, token) == 401

    @pytest.mark.parametrize(
        "change",
        [
            "UPDATE organization SET status = 'suspended' WHERE id = :organization",
            "UPDATE oauth_client SET disabled_at = now() WHERE organization_id = :organization",
            "DELETE FROM oauth_token WHERE organization_id = :organization",
        ],
    )
    async def test_a_write_of_this_process_is_seen_before_it_commits(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        partner: ClientCredentials,
        lookups: list[str],
        change: str,
    ) -> None:
        token = await token_of(client, partner)
        assert await self.search(client, token) == 200
        assert await self.search(client, token) == 200
        await session.execute(text(change), {"organization": partner.organization_id})
        assert await self.search(client, token) == 401

    @pytest.mark.parametrize(
        "change",
        [
            "UPDATE user_account SET generation = generation + 1 WHERE id = :user",
            "UPDATE user_account SET deactivated_at = now() WHERE id = :user",
        ],
    )
    async def test_a_persons_token_is_forgotten_when_their_account_changes(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        lookups: list[str],
        change: str,
    ) -> None:
        organization = await create_organization(session, name="Cached health centre")
        field = await app_and_person(session, settings, organization)
        token = (await exchange(client, session, settings, field.app, field.signed_in))[
            "access_token"
        ]
        assert await self.search(client, token) == 200
        assert await self.search(client, token) == 200
        assert len(lookups) == 1
        await session.execute(text(change), {"user": field.person.user_id})
        assert await self.search(client, token) == 401

    async def test_a_bad_token_is_never_kept(
        self, app: FastAPI, client: httpx.AsyncClient, lookups: list[str]
    ) -> None:
        before = len(app.state.token_cache)
        for _ in range(3):
            assert await self.search(client, "rly_at_made_up") == 401
        assert len(lookups) == 3
        assert len(app.state.token_cache) <= before


@pytest.fixture
async def listener(app: FastAPI, settings: Settings) -> AsyncIterator[TokenCache]:
    """A cache listening on a connection of its own, as another process's would."""
    cache = TokenCache(30)
    task = asyncio.create_task(
        listen(cache, lambda: connect_alone(app.state.engine, settings, LISTENER), 0.5)
    )
    try:
        assert await eventually(lambda: cache.listening)
        yield cache
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def committed(settings: Settings) -> Callable[[str], Awaitable[None]]:
    """Run a statement on a raw connection of its own, committed, outside this process's
    SQLAlchemy (as another process, the CLI or an operator's psql would)."""

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(settings.owner_database_url.replace("+asyncpg", ""))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    return run


class TestAnotherProcessesChanges:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE oauth_token SET revoked_at = now() WHERE false",
            "DELETE FROM oauth_token WHERE false",
            "UPDATE oauth_client SET disabled_at = now() WHERE false",
            "DELETE FROM oauth_client WHERE false",
            "UPDATE organization SET status = 'suspended' WHERE false",
            "UPDATE user_account SET generation = generation + 1 WHERE false",
            "UPDATE user_account SET deactivated_at = now() WHERE false",
            "UPDATE user_account SET role = role WHERE false",
            "UPDATE user_account SET totp_secret = NULL WHERE false",
            "UPDATE user_account SET organization_id = organization_id WHERE false",
            "DELETE FROM user_account WHERE false",
        ],
    )
    async def test_are_heard(
        self, listener: TokenCache, settings: Settings, statement: str
    ) -> None:
        listener.keep("h", a_token(), listener.generation())
        await committed(settings)(statement)
        assert await eventually(lambda: listener.get("h") is None, seconds=2)

    async def test_unrelated_ones_are_not(self, listener: TokenCache, settings: Settings) -> None:
        listener.keep("h", a_token(), listener.generation())
        await committed(settings)("UPDATE oauth_client SET name = name WHERE false")
        await committed(settings)("UPDATE organization SET name = name WHERE false")
        await committed(settings)("UPDATE user_account SET last_sign_in_at = now() WHERE false")
        await committed(settings)("UPDATE oauth_token_family SET revoked_at = now() WHERE false")
        await asyncio.sleep(0.3)
        assert listener.get("h") is not None

    async def test_a_rolled_back_change_is_not_heard(
        self, listener: TokenCache, settings: Settings
    ) -> None:
        listener.keep("h", a_token(), listener.generation())
        await committed(settings)(
            "BEGIN; UPDATE oauth_token SET revoked_at = now() WHERE false; ROLLBACK"
        )
        await asyncio.sleep(0.3)
        assert listener.get("h") is not None

    async def test_a_lost_listener_answers_nothing_until_it_is_back(
        self, app: FastAPI, listener: TokenCache, settings: Settings
    ) -> None:
        listener.keep("h", a_token(), listener.generation())
        async with app.state.engine.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": LISTENER},
            )
        assert await eventually(lambda: not listener.listening, seconds=2)
        assert listener.get("h") is None
        # Back after a second: kept again, but nothing from before the loss.
        assert await eventually(lambda: listener.listening, seconds=5)
        listener.keep("h", a_token(), listener.generation())
        assert listener.get("h") is not None
