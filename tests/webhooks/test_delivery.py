"""Webhook delivery end to end: the API, real ``relay worker`` processes and a real HTTP
receiver on loopback. Signatures are checked with the ``standardwebhooks`` package (the
reference implementation, not ours).

Workers are separate processes on their own connections, so these tests commit their rows (as
the owner role, through the API's own pool) and delete them afterwards.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from api.config import Settings
from api.main import create_app
from api.repositories import events as events_repository
from api.services import events as events_service
from tests.conftest import TEST_DATABASE_URL
from tests.factories import referrals as factories
from tests.factories.referrals import Network, move, record_consent, refer
from tests.webhooks.receiver import Receiver, listening

Json = dict[str, Any]
RELAY = str(Path(sys.executable).parent / "relay")
LOOPBACK = "127.0.0.0/8,::1/128"
LEASE_SECONDS = 3.0


@pytest.fixture
def loopback_settings(settings: Settings) -> Settings:
    """The test settings as ``make run`` sets them: webhooks may reach this machine."""
    return settings.model_copy(update={"webhook_allowed_networks": LOOPBACK})


@pytest.fixture
async def api(loopback_settings: Settings, owner_engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(loopback_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        yield client


@pytest.fixture
async def committed(owner_engine: AsyncEngine, settings: Settings) -> AsyncIterator[Network]:
    sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
    async with sessions() as session:
        net = await factories.network(session, settings)
        await session.commit()
    try:
        yield net
    finally:
        await factories.delete_network(owner_engine, net)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with listening() as endpoint:
        yield endpoint


Workers = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def workers(loopback_settings: Settings) -> Iterator[Workers]:
    """Starts ``relay worker`` processes; every one is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*, interval: str = "0.1", **overrides: str) -> subprocess.Popen[bytes]:
        assert TEST_DATABASE_URL
        env = {
            **os.environ,
            "RELAY_ENVIRONMENT": "test",
            "RELAY_DATABASE_URL": TEST_DATABASE_URL,
            "RELAY_SECRET_KEY": loopback_settings.secret_key.get_secret_value(),
            "RELAY_MASTER_KEYS": loopback_settings.master_keys.get_secret_value(),
            "RELAY_AUDIT_SIGNING_KEY": loopback_settings.audit_signing_key.get_secret_value(),
            "RELAY_PUBLIC_URL": loopback_settings.public_url,
            "RELAY_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,
            "RELAY_WEBHOOK_RETRY_SCHEDULE": ",".join(["0.2", "0.3", "0.5"] + ["1"] * 30),
            "RELAY_WEBHOOK_TIMEOUT_SECONDS": "2",
            "RELAY_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
            "RELAY_LOG_LEVEL": "WARNING",
            **overrides,
        }
        process = subprocess.Popen(  # noqa: S603 (our own command)
            [RELAY, "worker", "--interval", interval], env=env, stdout=subprocess.DEVNULL
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def eventually(check: Callable[[], Any], what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


async def subscribe(http: httpx.AsyncClient, net: Network, url: str, **body: Any) -> Json:
    response = await http.post(
        "/v1/webhooks", json={"url": url, **body}, headers=net.receiver.headers
    )
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def referral_with_steps(http: httpx.AsyncClient, net: Network, *steps: str) -> str:
    consent_id = await record_consent(http, net)
    referral_id: str = (await refer(http, net, consent_id))["id"]
    for step in steps:
        moved = await move(http, net.receiver.headers, referral_id, status=step)
        assert moved.status_code == 200, moved.text
    return referral_id


def verified(secret: str, receiver: Receiver) -> list[Json]:
    """Every delivery, checked by the reference implementation (raises if one is forged)."""
    webhook = Webhook(secret)
    return [webhook.verify(item.body, item.headers) for item in receiver.received]


async def feed(http: httpx.AsyncClient, net: Network, **params: Any) -> Json:
    response = await http.get("/v1/events", params=params, headers=net.receiver.headers)
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


class TestDelivery:
    async def test_signed_deliveries_in_order_and_the_same_as_the_feed(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        receiver: Receiver,
        workers: Workers,
        loopback_settings: Settings,
        owner_engine: AsyncEngine,
    ) -> None:
        net = committed
        hook = await subscribe(http, net, receiver.url)
        workers()
        referral_id = await referral_with_steps(http, net, "received", "accepted", "in-progress")
        note = await http.post(
            f"/v1/referrals/{referral_id}/notes",
            json={"note": "Seen by the nurse"},
            headers=net.receiver.headers,
        )
        assert note.status_code == 201

        await eventually(lambda: len(receiver.received) >= 5, what="five deliveries")
        messages = verified(hook["secret"], receiver)
        assert [m["type"] for m in messages] == [
            "referral.created",
            "referral.status_changed",
            "referral.status_changed",
            "referral.status_changed",
            "referral.note_added",
        ]
        assert [m["data"]["sequence"] for m in messages] == [1, 2, 3, 4, 5]
        assert all(m["data"]["referral_id"] == referral_id for m in messages)
        assert receiver.ids() == [m["id"] for m in messages]
        assert "Seen by the nurse" not in json.dumps(messages)
        first = receiver.received[0].headers
        assert first["content-type"] == "application/json"
        assert first["user-agent"].startswith("Relay-Webhooks/")
        forged = Webhook("whsec_" + "QUJD" * 11)
        with pytest.raises(Exception, match="signature"):
            forged.verify(receiver.received[0].body, first)

        # The feed holds the same events in the same order.
        page = await feed(
            http, net, types="referral.created,referral.status_changed,referral.note_added"
        )
        assert [e["id"] for e in page["data"]] == receiver.ids()
        assert page["data"] == messages

        # A cursor handed out before a restart works after it: a new app, new pools.
        referral_types = "referral.created,referral.status_changed,referral.note_added"
        cursor = (await feed(http, net, types=referral_types, limit=2))["meta"]["next_cursor"]
        restarted = create_app(loopback_settings)
        async with restarted.router.lifespan_context(restarted):
            transport = httpx.ASGITransport(app=restarted)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as again:
                rest = await feed(again, net, types=referral_types, after=cursor)
        assert [e["id"] for e in rest["data"]] == receiver.ids()[2:]

        log = await http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=net.receiver.headers)
        entries = log.json()["data"]
        assert {e["status"] for e in entries} == {"delivered"}
        assert all(e["last_status_code"] == 204 and e["attempts"] == 1 for e in entries)
        async with owner_engine.connect() as connection:
            latencies = (
                await connection.scalars(
                    text(
                        "SELECT latency_ms FROM webhook_attempt a JOIN webhook_delivery d"
                        " ON d.id = a.delivery_id WHERE d.subscription_id = :id"
                    ),
                    {"id": uuid.UUID(hook["id"])},
                )
            ).all()
        assert len(latencies) == 5
        assert all(latency >= 0 for latency in latencies)

    async def test_receiver_down_then_up_and_a_worker_killed_mid_delivery_lose_nothing(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        receiver: Receiver,
        workers: Workers,
    ) -> None:
        net = committed
        hook = await subscribe(http, net, receiver.url)
        await receiver.stop()  # down: connections refused
        first_worker = workers()
        referral_id = await referral_with_steps(http, net, "received", "accepted")
        log_url = f"/v1/webhooks/{hook['id']}/deliveries"

        async def failed_twice() -> bool:
            entries = (await http.get(log_url, headers=net.receiver.headers)).json()["data"]
            created = [e for e in entries if e["event_type"] == "referral.created"]
            return bool(created) and created[0]["attempts"] >= 2

        await eventually(failed_twice, what="two failed attempts")
        entries = (await http.get(log_url, headers=net.receiver.headers)).json()["data"]
        assert {e["status"] for e in entries} == {"pending"}
        assert any(e.get("last_error") == "connection-failed" for e in entries)
        # The later events wait behind the first: order per referral.
        assert all(e["attempts"] == 0 for e in entries if e["event_type"] != "referral.created")

        # Up again, and the first request it gets is held while its worker is killed.
        receiver.hold_next = True
        await receiver.start()
        await asyncio.wait_for(receiver.held.wait(), timeout=30)
        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait(timeout=10)
        receiver.release.set()
        held_id = receiver.ids()[0]

        workers()  # a new worker takes over once the dead one's lease runs out
        await eventually(lambda: len(set(receiver.ids())) == 3, what="three distinct deliveries")
        await asyncio.sleep(LEASE_SECONDS / 2)  # room for a duplicate to show, if any
        messages = verified(hook["secret"], receiver)
        assert [m["data"]["sequence"] for m in messages] == [1, 1, 2, 3]
        assert all(m["data"]["referral_id"] == referral_id for m in messages)
        ids = receiver.ids()
        assert ids[0] == ids[1] == held_id  # sent again: its answer never reached a worker
        assert len(ids) == 4

        entries = (await http.get(log_url, headers=net.receiver.headers)).json()["data"]
        assert {e["status"] for e in entries} == {"delivered"}
        first = next(e for e in entries if e["event_type"] == "referral.created")
        detail = (await http.get(f"{log_url}/{first['id']}", headers=net.receiver.headers)).json()
        attempts = detail["attempt_log"]
        assert [a.get("error") for a in attempts[:2]] == ["connection-failed"] * 2
        assert attempts[-1]["status_code"] == 204
        # The killed attempt left no result; its number is skipped in the log.
        assert first["attempts"] == attempts[-1]["number"] > len(attempts)

    async def test_two_workers_deliver_each_event_once(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        receiver: Receiver,
        workers: Workers,
    ) -> None:
        net = committed
        hook = await subscribe(http, net, receiver.url)
        workers()
        workers()
        referrals = [await referral_with_steps(http, net, "received", "accepted") for _ in range(6)]
        await eventually(lambda: len(receiver.received) >= 18, what="eighteen deliveries")
        await asyncio.sleep(1)  # any double delivery would arrive by now
        messages = verified(hook["secret"], receiver)
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == 18
        for referral_id in referrals:
            sequence = [
                m["data"]["sequence"] for m in messages if m["data"]["referral_id"] == referral_id
            ]
            assert sequence == [1, 2, 3]

    async def test_an_endpoint_that_keeps_failing_is_dead_lettered_then_redelivered_by_hand(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        receiver: Receiver,
        workers: Workers,
    ) -> None:
        net = committed
        receiver.status = 500
        hook = await subscribe(http, net, receiver.url, event_types=["referral.created"])
        workers(RELAY_WEBHOOK_RETRY_SCHEDULE="0.1,0.1")
        await referral_with_steps(http, net)
        log_url = f"/v1/webhooks/{hook['id']}/deliveries"

        async def dead() -> bool:
            entries = (await http.get(log_url, headers=net.receiver.headers)).json()["data"]
            return bool(entries) and entries[0]["status"] == "dead"

        await eventually(dead, what="a dead letter")
        assert len(receiver.received) == 3  # the first try and two retries
        dead_letter = (
            await http.get(log_url, params={"status": "dead"}, headers=net.receiver.headers)
        ).json()["data"][0]
        assert dead_letter["last_status_code"] == 500

        receiver.status = 200
        again = await http.post(
            f"{log_url}/{dead_letter['id']}/redeliver", headers=net.receiver.headers
        )
        assert again.status_code == 202
        await eventually(lambda: len(receiver.received) == 4, what="the manual redelivery")
        assert len(set(receiver.ids())) == 1  # the same webhook-id every time
        verified(hook["secret"], receiver)

        async def delivered() -> bool:
            entries = (await http.get(log_url, headers=net.receiver.headers)).json()["data"]
            return entries[0]["status"] == "delivered"

        await eventually(delivered, what="the delivery recorded")


@pytest.fixture
async def foreign_transaction() -> AsyncIterator[int]:
    """A write transaction left open in another database of the same server (``postgres``), as
    a long load or a forgotten psql session would: it holds a transaction id, so the whole
    cluster's oldest running transaction stays at it. Yields that transaction id."""
    assert TEST_DATABASE_URL
    url = make_url(TEST_DATABASE_URL)
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database="postgres",
    )
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("CREATE TEMPORARY TABLE busy (n integer)")
        await connection.execute("INSERT INTO busy SELECT generate_series(1, 10000)")
        txid = int(await connection.fetchval("SELECT pg_current_xact_id()::text::bigint"))
        yield txid
        await transaction.rollback()
    finally:
        await connection.close()


class TestNothingElseHoldsThemBack:
    async def test_a_transaction_open_in_another_database_delays_no_feed_webhook_or_seal(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        receiver: Receiver,
        workers: Workers,
        owner_engine: AsyncEngine,
        foreign_transaction: int,
    ) -> None:
        net = committed
        async with owner_engine.connect() as connection:
            oldest_running = await connection.scalar(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            )
        # The cluster's horizon is held by the other database's transaction: a reader waiting
        # for every transaction below it to end would wait as long as that one stays open.
        assert oldest_running is not None
        assert oldest_running <= foreign_transaction

        hook = await subscribe(http, net, receiver.url)
        async with owner_engine.connect() as connection:
            before = await connection.scalar(text("SELECT clock_timestamp()"))
        workers(interval="1.0")  # the default tick

        async def up() -> bool:
            """The worker has started and ticked once (its start, imports included, is slow
            on a busy machine and says nothing of what the other database holds back)."""
            async with owner_engine.connect() as connection:
                ticked = await connection.scalar(
                    text("SELECT count(*) FROM worker_job WHERE last_success_at > :before"),
                    {"before": before},
                )
            return bool(ticked)

        await eventually(up, what="the worker's first tick", within=60)
        started = asyncio.get_running_loop().time()
        referral_id = await referral_with_steps(http, net)

        async def in_the_feed() -> bool:
            page = await feed(http, net, types="referral.created")
            return any(e["data"]["referral_id"] == referral_id for e in page["data"])

        await eventually(in_the_feed, what="the receiver's feed", within=5)
        await eventually(lambda: len(receiver.received) >= 1, what="the webhook", within=5)
        [message] = verified(hook["secret"], receiver)
        assert message["type"] == "referral.created"
        assert message["data"]["referral_id"] == referral_id

        async def sealed() -> bool:
            async with owner_engine.connect() as connection:
                found = await connection.scalar(
                    text(
                        "SELECT count(*) FROM audit_chain c JOIN audit_event e"
                        " ON e.id = c.event_id WHERE e.action = 'create'"
                        " AND e.resource_type = 'referral' AND :id = ANY(e.resource_ids)"
                    ),
                    {"id": referral_id},
                )
            return found == 1

        await eventually(sealed, what="the audit event sealed", within=5)
        assert asyncio.get_running_loop().time() - started < 5


class TestLateCommits:
    async def test_an_event_committed_late_comes_after_the_cursor_never_behind_it(
        self,
        http: httpx.AsyncClient,
        committed: Network,
        owner_engine: AsyncEngine,
        loopback_settings: Settings,
    ) -> None:
        net = committed
        audience = net.receiver.organization.id

        def event(label: str) -> dict[str, Any]:
            return {
                "id": uuid.uuid4(),
                "organization_id": audience,
                "type": "directory.changed",
                "subject_id": None,
                "data": {"label": label},
            }

        async def number() -> int:
            sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
            async with sessions() as session, session.begin():
                return await events_service.sequence(session, loopback_settings)

        async def labels(**params: Any) -> tuple[list[str], str]:
            page = await feed(http, net, types="directory.changed", **params)
            found = [e["data"].get("label") for e in page["data"]]
            return [label for label in found if label], page["meta"]["next_cursor"]

        _, start = await labels()
        sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
        async with sessions() as early:
            await early.begin()
            await events_repository.add_events(early, [event("written first, committed last")])
            async with sessions() as late, late.begin():
                await events_repository.add_events(late, [event("written second")])
            assert await number() >= 1
            seen, cursor = await labels(after=start)
            assert seen == ["written second"]
            await early.commit()
        assert await number() >= 1
        after, _ = await labels(after=cursor)
        assert after == ["written first, committed last"]
        everything, _ = await labels(after=start)
        assert everything == ["written second", "written first, committed last"]

    async def test_two_sequencers_at_once_give_each_number_once(
        self, committed: Network, owner_engine: AsyncEngine, loopback_settings: Settings
    ) -> None:
        audience = committed.receiver.organization.id
        sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            await events_repository.add_events(
                session,
                [
                    {
                        "id": uuid.uuid4(),
                        "organization_id": audience,
                        "type": "directory.changed",
                        "subject_id": None,
                        "data": {"n": n},
                    }
                    for n in range(300)
                ],
            )

        async def number() -> int:
            async with sessions() as session, session.begin():
                return await events_service.sequence(session, loopback_settings)

        await asyncio.gather(*(number() for _ in range(4)))
        async with owner_engine.connect() as connection:
            numbers = (
                await connection.scalars(
                    text(
                        "SELECT seq FROM outbox_event WHERE organization_id = :org"
                        " AND data ? 'n' ORDER BY (data->>'n')::int"
                    ),
                    {"org": audience},
                )
            ).all()
            unnumbered = await connection.scalar(
                text("SELECT count(*) FROM outbox_event WHERE seq IS NULL")
            )
        assert len(numbers) == 300
        assert numbers == sorted(numbers)  # in the order written
        assert numbers == list(range(numbers[0], numbers[0] + 300))  # no gap, no repeat
        assert unnumbered == 0
