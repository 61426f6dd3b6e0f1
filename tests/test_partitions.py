"""The audit trail and the outbox partitioned by month (migration 0029, issue 25): the chain
verifies across a month boundary and from a checkpoint once older months are archived; the
worker keeps months made ahead; an outbox month past retention is dropped only once every event
in it reached everyone who should hear of it, and an undelivered event is still delivered."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from structlog.testing import capture_logs

from api.config import Settings
from api.models.events import EventType
from api.repositories import events as events_repository
from api.repositories import partitions as repository
from api.services import audit, delivery, notify, partitions
from tests.conftest import run_alembic
from tests.factories import referrals as factories
from tests.factories.audit import seal_and_sign
from tests.factories.auth import Partner
from tests.factories.events import number_events
from tests.factories.organizations import create_organization
from tests.factories.referrals import Network
from tests.webhooks.receiver import Receiver, listening

LOOPBACK = "127.0.0.0/8,::1/128"
OLD_MONTH = date(2020, 1, 1)
PUBLIC_URL = "https://93.184.215.14/relay-hooks"  # public; replaced by the receiver before a send


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def partition_name(table: str, day: date) -> str:
    return f"{table}_y{day.year:04d}m{day.month:02d}"


def frozen_at(moment: datetime) -> type[datetime]:
    """``datetime`` whose ``now`` is ``moment``: the audit trail's clock, set for a test."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return moment.astimezone(tz) if tz else moment

    return Frozen


RecordAt = Callable[[datetime, str], Awaitable[uuid.UUID]]


@pytest.fixture
def record_at(app: Any, monkeypatch: pytest.MonkeyPatch) -> RecordAt:
    """Records one event (committed) through the real write path at a given moment."""

    async def record(moment: datetime, kind: str) -> uuid.UUID:
        identifier = uuid.uuid4()
        with monkeypatch.context() as clock:
            clock.setattr(audit, "datetime", frozen_at(moment))
            sessions = async_sessionmaker(app.state.engine, expire_on_commit=False)
            async with sessions() as session:
                await audit.record(session, audit.RELAY, audit.Action.read, kind, [identifier], [])
                await session.commit()
        return identifier

    return record


async def partition_of(connection: AsyncConnection, resource_id: uuid.UUID) -> str:
    found = await connection.scalar(
        text("SELECT tableoid::regclass::text FROM audit_event WHERE resource_ids[1] = :id"),
        {"id": str(resource_id)},
    )
    return str(found)


class TestAuditTrailByMonth:
    async def test_the_chain_verifies_across_a_month_boundary(
        self, app: Any, owner_engine: AsyncEngine, settings: Settings, record_at: RecordAt
    ) -> None:
        this_month = datetime.now(UTC).date().replace(day=1)
        boundary = month_start(next_month(this_month))
        before = await record_at(boundary - timedelta(microseconds=1), "month_end")
        after = await record_at(boundary, "month_start")
        await seal_and_sign(app.state.engine, settings)
        async with owner_engine.connect() as connection:
            assert await partition_of(connection, before) == partition_name(
                "audit_event", this_month
            )
            assert await partition_of(connection, after) == partition_name(
                "audit_event", next_month(this_month)
            )
            seqs = await connection.scalars(
                text(
                    "SELECT c.seq FROM audit_chain c JOIN audit_event e ON e.id = c.event_id"
                    " WHERE e.resource_ids[1] = ANY(:ids) ORDER BY c.seq"
                ),
                {"ids": [str(before), str(after)]},
            )
            first, second = seqs.all()
            assert second == first + 1  # consecutive links, one in each month
        async with async_sessionmaker(app.state.engine)() as session:
            report = await audit.verify(session, settings)
        assert report.ok, report.details
        assert report.archived_through == 0
        assert report.events_checked >= 2

    async def test_archived_months_verify_from_the_checkpoint_where_they_end(
        self, app: Any, owner_engine: AsyncEngine, settings: Settings, record_at: RecordAt
    ) -> None:
        """The operator's archival (docs/scaling.md): every month up to a checkpoint detached;
        the rest verifies from that checkpoint's signed hash; a later event missing does not."""
        await seal_and_sign(app.state.engine, settings)  # a checkpoint at the head
        later = next_month(next_month(datetime.now(UTC).date()))
        kept = [await record_at(month_start(later), "kept") for _ in range(2)]
        await seal_and_sign(app.state.engine, settings)
        async with owner_engine.connect() as connection:
            checkpoint = await connection.scalar(
                text(
                    "SELECT max(k.seq) FROM audit_checkpoint k WHERE k.seq < (SELECT min(c.seq)"
                    " FROM audit_chain c JOIN audit_event e ON e.id = c.event_id"
                    " WHERE e.resource_ids[1] = ANY(:ids))"
                ),
                {"ids": [str(item) for item in kept]},
            )
            archived = [
                name
                for name, _, _ in await repository.months(
                    AsyncSession(bind=connection), "audit_event"
                )
                if name != partition_name("audit_event", later)
            ]
            for name in archived:
                await connection.execute(text(f"ALTER TABLE audit_event DETACH PARTITION {name}"))
            report = await audit.verify(AsyncSession(bind=connection), settings)
            assert report.ok, report.details
            assert report.archived_through == checkpoint
            assert report.events_checked == 2

            # The first event after the checkpoint gone as well: no checkpoint signs that end.
            await connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            await connection.execute(
                text("DELETE FROM audit_event WHERE resource_ids[1] = :id"), {"id": str(kept[0])}
            )
            broken = await audit.verify(AsyncSession(bind=connection), settings)
            await connection.rollback()  # nothing was archived or deleted for real
        assert broken.ok is False
        assert broken.first_broken_seq == checkpoint + 1
        assert "no checkpoint signs" in (broken.problem or "")


class TestAppendOnlyByMonth:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE {partition} SET action = 'read'",
            "DELETE FROM {partition}",
            "TRUNCATE {partition}",
        ],
    )
    async def test_even_the_owner_is_refused_on_a_month_itself(
        self, owner_engine: AsyncEngine, statement: str
    ) -> None:
        partition = partition_name("audit_event", datetime.now(UTC).date())
        async with owner_engine.connect() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_event (id, at, action, resource_type, resource_ids, parties,"
                    " outcome) VALUES (gen_random_uuid(), now(), 'list', 'test', '{}', '{}',"
                    " 'success')"
                )
            )
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text(statement.format(partition=partition)))
            await connection.rollback()

    @pytest.mark.parametrize("table", ["audit_event", "outbox_event"])
    async def test_the_application_role_reaches_a_month_only_through_its_table(
        self, connection: AsyncConnection, table: str
    ) -> None:
        """No grant on a partition: every read and write goes through the parent's policies."""
        partition = partition_name(table, datetime.now(UTC).date())
        with pytest.raises(DBAPIError, match="permission denied"):
            await connection.execute(text(f"SELECT count(*) FROM {partition}"))


class TestMonthsAhead:
    async def test_the_worker_keeps_months_made_ahead_for_both_tables(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        further = settings.model_copy(update={"partition_months_ahead": 6})
        made = await partitions.make_months_ahead(session, further)
        assert made >= 2 * 3  # the migration made three ahead; three more for each table
        assert await partitions.make_months_ahead(session, further) == 0
        today = datetime.now(UTC).date()
        wanted = [partitions.first_month_kept(today)]
        while len(wanted) < 2 + 6:
            wanted.append(next_month(wanted[-1]))
        for table in repository.PARTITIONED:
            found = await repository.months(session, table)
            names = [name for name, _, _ in found]
            assert [partition_name(table, month) for month in wanted] == [
                name for name in names if name >= partition_name(table, wanted[0])
            ]
            for (_, _, end), (_, start, _) in itertools.pairwise(found):
                assert end == start  # contiguous: no instant without a partition

    @pytest.mark.parametrize(
        ("first", "months"), [(date(2100, 1, 1), 1), (date(2000, 1, 1), 600), (None, 27)]
    )
    async def test_the_application_role_cannot_make_months_far_ahead(
        self, connection: AsyncConnection, first: date | None, months: int
    ) -> None:
        """The function is the application role's to call: each month is a table with its
        indexes, which every query of the parent plans over, so it makes none more than 24 months
        past this one (the most RELAY_PARTITION_MONTHS_AHEAD keeps) however it is called."""
        start = first or partitions.first_month_kept(datetime.now(UTC).date())
        call = text("SELECT relay_month_partitions('audit_event', :first, :months)")
        with pytest.raises(DBAPIError, match="months out of range"):
            async with connection.begin_nested():
                await connection.execute(call, {"first": start, "months": months})


class TestAMonthWithoutItsPartition:
    async def test_a_write_there_is_a_503_that_says_so_not_a_500(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The worker made no partition for years (stopped, or a clock far ahead): a write the
        audit trail cannot take is refused with what it is, nothing written, and logged for the
        operators with the table only (never the row)."""
        network: Network = await factories.network(session, settings)
        monkeypatch.setattr(audit, "datetime", frozen_at(datetime(2031, 6, 1, tzinfo=UTC)))
        with capture_logs() as logs:
            created = await client.post(
                "/v1/webhooks", json={"url": PUBLIC_URL}, headers=network.receiver.headers
            )
        assert created.status_code == 503, created.text
        assert created.headers["content-type"] == "application/problem+json"
        assert created.json()["type"] == "urn:relay:problem:month-not-ready"
        assert created.headers["retry-after"]
        missing = [entry for entry in logs if entry["event"] == "partition_missing"]
        assert [entry["table"] for entry in missing] == ["audit_event"]
        assert "2031" not in str(logs)  # the row's values stay out of the log


class TestMonthMakerNames:
    async def test_a_temporary_table_of_a_months_name_does_not_stop_the_month_being_made(
        self, connection: AsyncConnection
    ) -> None:
        """The function runs as the owner with the caller's own temporary schema on its path: a
        temporary table named like a month must not pass for that month's partition."""
        month = datetime.now(UTC).date().replace(day=1)
        for _ in range(6):
            month = next_month(month)
        name = partition_name("outbox_event", month)
        await connection.execute(text(f"CREATE TEMPORARY TABLE {name} (x integer)"))
        made = await connection.scalar(
            text("SELECT relay_month_partitions('outbox_event', :month, 1)"), {"month": month}
        )
        assert made == 1
        owned = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_inherits"
                " WHERE inhparent = 'public.outbox_event'::regclass"
                " AND inhrelid = to_regclass(:name)"
            ),
            {"name": f"public.{name}"},
        )
        assert owned == 1


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with listening() as endpoint:
        yield endpoint


@dataclass(frozen=True)
class Waiting:
    subscription_id: str
    ids: list[uuid.UUID]
    cursor: str
    """The partner's feed cursor from before the events were numbered."""


async def events_to_deliver(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    partner: Partner,
    times: list[datetime],
) -> Waiting:
    """A webhook subscription of the partner, and one event for it written at each of
    ``times``, numbered and fanned out: one pending delivery each."""
    created = await client.post("/v1/webhooks", json={"url": PUBLIC_URL}, headers=partner.headers)
    assert created.status_code == 201, created.text
    ids = [uuid.uuid4() for _ in times]
    await events_repository.add_events(
        session,
        [
            {
                "id": identifier,
                "organization_id": partner.organization.id,
                "type": EventType.directory_changed.value,
                "occurred_at": moment,
                "subject_id": None,
                "data": {"test": str(identifier)},
            }
            for identifier, moment in zip(ids, times, strict=True)
        ],
    )
    page = await client.get("/v1/events", headers=partner.headers)
    cursor = page.json()["meta"]["next_cursor"]
    await number_events(session, settings)
    assert await delivery.fan_out(session, settings) >= len(times)
    return Waiting(created.json()["id"], ids, cursor)


class TestOutboxRetention:
    async def test_the_feeds_sweep_stops_before_an_event_still_to_be_delivered(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        network: Network = await factories.network(session, settings)
        waiting = await events_to_deliver(
            client, session, settings, network.receiver, [datetime.now(UTC)]
        )
        for _ in range(3):  # the notifications read it (the sweep waits for them too)
            await notify.queue_urgent(session, settings)
        later = settings.model_copy(update={"event_retention_days": -1})
        count = text("SELECT count(*) FROM outbox_event WHERE id = ANY(:ids)")
        await delivery.purge_events(session, later)
        assert await connection.scalar(count, {"ids": waiting.ids}) == 1
        await connection.execute(
            text("UPDATE webhook_delivery SET status = 'dead' WHERE event_id = ANY(:ids)"),
            {"ids": waiting.ids},
        )
        assert await delivery.purge_events(session, later) == 1
        assert await connection.scalar(count, {"ids": waiting.ids}) == 0

    async def test_the_feeds_sweep_stops_before_an_event_not_fanned_out_or_not_read(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        """A worker back after a stop longer than RELAY_EVENT_RETENTION_DAYS: the backlog is
        past retention before the fan-out (500 events a subscription a tick) and the
        notifications have read it. The sweep waits for them, as the month drop does."""
        network: Network = await factories.network(session, settings)
        partner = network.receiver
        created = await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL}, headers=partner.headers
        )
        assert created.status_code == 201, created.text
        identifier = uuid.uuid4()
        await events_repository.add_events(
            session,
            [
                {
                    "id": identifier,
                    "organization_id": partner.organization.id,
                    "type": EventType.directory_changed.value,
                    "occurred_at": datetime.now(UTC),
                    "subject_id": None,
                    "data": {},
                }
            ],
        )
        await number_events(session, settings)
        later = settings.model_copy(update={"event_retention_days": -1})
        count = text("SELECT count(*) FROM outbox_event WHERE id = :id")
        await delivery.purge_events(session, later)
        assert await connection.scalar(count, {"id": identifier}) == 1  # nothing read it yet
        for _ in range(3):
            await notify.queue_urgent(session, settings)
        await delivery.purge_events(session, later)
        assert await connection.scalar(count, {"id": identifier}) == 1  # not fanned out yet
        assert await delivery.fan_out(session, settings) >= 1
        await connection.execute(
            text("UPDATE webhook_delivery SET status = 'dead' WHERE subscription_id = :id"),
            {"id": created.json()["id"]},
        )
        await delivery.purge_events(session, later)
        assert await connection.scalar(count, {"id": identifier}) == 0

    async def test_an_old_month_is_dropped_only_once_all_its_events_were_delivered(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
        receiver: Receiver,
    ) -> None:
        network: Network = await factories.network(session, settings)
        partner = network.receiver
        old = partition_name("outbox_event", OLD_MONTH)
        assert await repository.make_months(session, "outbox_event", OLD_MONTH, 1) == 1
        waiting = await events_to_deliver(
            client,
            session,
            settings,
            partner,
            [datetime(2020, 1, day, tzinfo=UTC) for day in (10, 11)],
        )
        created, ids, cursor = waiting.subscription_id, waiting.ids, waiting.cursor
        for _ in range(3):  # the notifications' cursor passes them (in batches)
            await notify.queue_urgent(session, settings)
        await connection.execute(
            text("UPDATE webhook_subscription SET url = :url WHERE id = :id"),
            {"url": receiver.url, "id": created},
        )
        # The second event's delivery is not due yet: the first one is sent, the second waits.
        await connection.execute(
            text(
                "UPDATE webhook_delivery SET next_attempt_at = now() + interval '1 hour'"
                " WHERE event_id = :id"
            ),
            {"id": ids[1]},
        )
        loopback = settings.model_copy(update={"webhook_allowed_networks": LOOPBACK})
        sessions = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        async with delivery.new_client(loopback) as http:
            assert await delivery.deliver_due(sessions, loopback, http) == 1
            assert len(receiver.received) == 1

            keep_one = settings.model_copy(update={"outbox_retention_months": 1})
            assert await partitions.drop_old_outbox_months(session, keep_one) == 0
            assert old in [name for name, _, _ in await repository.months(session, "outbox_event")]

            # The waiting event is still there, and still delivered.
            await connection.execute(
                text("UPDATE webhook_delivery SET next_attempt_at = now() WHERE event_id = :id"),
                {"id": ids[1]},
            )
            assert await delivery.deliver_due(sessions, loopback, http) == 1
        assert ids[1].hex.encode() in receiver.received[1].body
        await connection.execute(text("SELECT set_config('relay.worker', '', true)"))
        kept = await client.get("/v1/events", params={"after": cursor}, headers=partner.headers)
        assert kept.status_code == 200

        assert await partitions.drop_old_outbox_months(session, keep_one) >= 1
        assert old not in [name for name, _, _ in await repository.months(session, "outbox_event")]
        left = await connection.scalar(
            text("SELECT count(*) FROM webhook_delivery WHERE event_id = ANY(:ids)"), {"ids": ids}
        )
        assert left == 0
        gone = await client.get("/v1/events", params={"after": cursor}, headers=partner.headers)
        assert gone.status_code == 410  # the horizon moved past the dropped month

    async def test_a_month_with_an_event_not_numbered_or_not_fanned_out_stays(
        self, session: AsyncSession, connection: AsyncConnection, settings: Settings
    ) -> None:
        await repository.make_months(session, "outbox_event", OLD_MONTH, 1)
        await events_repository.add_events(
            session,
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": None,
                    "type": EventType.directory_changed.value,
                    "occurred_at": datetime(2020, 1, 15, tzinfo=UTC),
                    "subject_id": None,
                    "data": {},
                }
            ],
        )
        keep_one = settings.model_copy(update={"outbox_retention_months": 1})
        old = partition_name("outbox_event", OLD_MONTH)
        assert await partitions.drop_old_outbox_months(session, keep_one) == 0  # not numbered
        await number_events(session, settings)
        # Numbered, but the notifications have not read it yet.
        assert await partitions.drop_old_outbox_months(session, keep_one) == 0
        assert old in [name for name, _, _ in await repository.months(session, "outbox_event")]


RACE_MONTH = date(2019, 3, 1)
RACE_AT = datetime(2019, 3, 10, tzinfo=UTC)


@pytest.fixture
async def dead_delivery(owner_engine: AsyncEngine) -> AsyncIterator[dict[str, uuid.UUID]]:
    """Committed (the race needs two connections): an event of March 2019 numbered 0 (behind
    every cursor, so only its delivery's state can hold it) and its dead delivery to a disabled
    subscription; all of it removed afterwards."""
    ids = {name: uuid.uuid4() for name in ("organization", "subscription", "event", "delivery")}
    partition = partition_name("outbox_event", RACE_MONTH)
    statements = (
        "SELECT relay_month_partitions('outbox_event', :month, 1)",
        "INSERT INTO organization (id, name, kind, status)"
        " VALUES (:organization, 'Sweep race', 'ngo', 'active')",
        "INSERT INTO webhook_subscription (id, organization_id, url, event_types, enabled,"
        " secret, secret_version, cursor_seq) VALUES (:subscription, :organization,"
        " 'https://93.184.215.14/race', '{}', false, '\\x00', 1, 0)",
        "INSERT INTO outbox_event (id, organization_id, type, occurred_at, seq, data)"
        " VALUES (:event, :organization, 'directory.changed', :at, 0, '{}')",
        "INSERT INTO webhook_delivery (id, subscription_id, organization_id, event_id, status,"
        " attempts, step, event_seq, event_occurred_at) VALUES (:delivery, :subscription,"
        " :organization, :event, 'dead', 8, 8, 0, :at)",
    )
    async with owner_engine.begin() as owner:
        for statement in statements:
            await owner.execute(text(statement), {**ids, "month": RACE_MONTH, "at": RACE_AT})
    yield ids
    async with owner_engine.begin() as owner:
        await owner.execute(text("DELETE FROM webhook_delivery WHERE id = :delivery"), ids)
        await owner.execute(text("DELETE FROM outbox_event WHERE id = :event"), ids)
        await owner.execute(text("DELETE FROM webhook_subscription WHERE id = :subscription"), ids)
        if await owner.scalar(text("SELECT to_regclass(:p)"), {"p": partition}):
            await owner.execute(text(f"ALTER TABLE outbox_event DETACH PARTITION {partition}"))
            await owner.execute(text(f"DROP TABLE {partition}"))
        await owner.execute(text("DELETE FROM organization WHERE id = :organization"), ids)


async def race_a_redelivery(
    app: Any,
    owner_engine: AsyncEngine,
    ids: dict[str, uuid.UUID],
    sweep: Callable[[AsyncConnection], Awaitable[Any]],
) -> Any:
    """The delivery redelivered by hand while ``sweep`` runs: the redelivery is not committed
    when the sweep reads (it sees the delivery dead) and is committed while the sweep waits on
    the delivery's row. What the sweep returned; the delivery must still be there, pending."""
    async with owner_engine.connect() as redelivery, app.state.engine.connect() as worker:
        await redelivery.execute(
            text("UPDATE webhook_delivery SET status = 'pending' WHERE id = :delivery"), ids
        )
        sweeping = asyncio.create_task(sweep(worker))
        await asyncio.sleep(0.3)  # the sweep now waits on the delivery's row
        await redelivery.commit()
        swept = await sweeping
        await worker.commit()
    async with owner_engine.connect() as owner:
        status = await owner.scalar(
            text("SELECT status FROM webhook_delivery WHERE id = :delivery"), ids
        )
    assert status == "pending"
    return swept


class TestSweepsRacingARedelivery:
    """A dead delivery redelivered by hand while a sweep runs: the sweep found its event
    finished (it saw the delivery dead), then met the delivery pending when it came to delete
    it. Neither the month drop nor the row sweep may take the redelivery with the event."""

    async def test_the_month_drop_keeps_the_month(
        self, app: Any, owner_engine: AsyncEngine, dead_delivery: dict[str, uuid.UUID]
    ) -> None:
        async def drop(worker: AsyncConnection) -> Any:
            return await worker.scalar(text("SELECT relay_drop_outbox_partitions(1)"))

        assert await race_a_redelivery(app, owner_engine, dead_delivery, drop) == 0
        months = [name for name, _, _ in await _months(owner_engine)]
        assert partition_name("outbox_event", RACE_MONTH) in months

    async def test_the_row_sweep_keeps_the_event(
        self, app: Any, owner_engine: AsyncEngine, dead_delivery: dict[str, uuid.UUID]
    ) -> None:
        async def purge(worker: AsyncConnection) -> Any:
            async with AsyncSession(bind=worker) as session:
                await session.execute(text("SELECT set_config('relay.worker', 'on', true)"))
                # Only the race's event is older than this (and it is numbered first).
                newest = await events_repository.purge_events(
                    session, RACE_AT + timedelta(seconds=1), 1
                )
                await session.commit()
                return newest

        assert await race_a_redelivery(app, owner_engine, dead_delivery, purge) is None


async def _months(engine: AsyncEngine) -> list[tuple[str, datetime, datetime]]:
    async with AsyncSession(bind=engine) as session:
        return await repository.months(session, "outbox_event")


async def _kind(connection: AsyncConnection, table: str) -> str:
    return str(
        await connection.scalar(
            text("SELECT relkind::text FROM pg_class WHERE oid = CAST(:table AS regclass)"),
            {"table": table},
        )
    )


async def _rows(connection: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """What the test wrote, as it reads back (and, when partitioned, the partition it is in)."""
    queries = {
        "audit": "SELECT id, position, at, tableoid::regclass::text FROM audit_event"
        " WHERE resource_type = 'migration_test' ORDER BY position",
        "outbox": "SELECT id, position, seq, occurred_at, tableoid::regclass::text"
        " FROM outbox_event WHERE type = 'directory.stale' AND data ? 'migration_test'"
        " ORDER BY position",
        "deliveries": "SELECT d.event_id FROM webhook_delivery d JOIN outbox_event e"
        " ON e.id = d.event_id WHERE e.data ? 'migration_test'",
    }
    return {
        name: [tuple(row) for row in (await connection.execute(text(query))).all()]
        for name, query in queries.items()
    }


class TestMigration:
    async def test_rows_survive_partitioning_and_its_reversal(
        self, owner_engine: AsyncEngine, app: Any
    ) -> None:
        """0029 on a database with rows (a month long past, and now), down and up again, all
        inside one transaction rolled back at the end."""
        async with owner_engine.connect() as connection:
            transaction = await connection.begin()
            try:
                await connection.run_sync(run_alembic, command.downgrade, "0028")
                assert await _kind(connection, "outbox_event") == "r"
                await connection.execute(
                    text(
                        "INSERT INTO audit_event (id, at, action, resource_type, resource_ids,"
                        " parties, outcome) SELECT gen_random_uuid(), at, 'read',"
                        " 'migration_test', '{}', '{}', 'success'"
                        " FROM unnest(ARRAY[timestamptz '2024-03-15 12:00+00', now()]) AS at"
                    )
                )
                owner = AsyncSession(bind=connection, expire_on_commit=False)
                organization_id = (await create_organization(owner, name="Migration test")).id
                subscription_id = await connection.scalar(
                    text(
                        "INSERT INTO webhook_subscription (id, organization_id, url, event_types,"
                        " enabled, secret, secret_version, cursor_seq) VALUES (gen_random_uuid(),"
                        " :org, 'https://hooks.example.org/', '{}', true, '\\x00', 1, 0)"
                        " RETURNING id"
                    ),
                    {"org": organization_id},
                )
                await connection.execute(
                    text(
                        "INSERT INTO outbox_event (id, organization_id, type, occurred_at, data,"
                        " seq) SELECT gen_random_uuid(), :org, 'directory.stale', at,"
                        " '{\"migration_test\": true}', 9000000000000 + n"
                        " FROM unnest(ARRAY[timestamptz '2024-04-02 08:00+00', now()])"
                        " WITH ORDINALITY AS made (at, n)"
                    ),
                    {"org": organization_id},
                )
                await connection.execute(
                    text(
                        "INSERT INTO webhook_delivery (id, subscription_id, organization_id,"
                        " event_id, event_seq, status, attempts, step) SELECT gen_random_uuid(),"
                        " :subscription, :org, id, seq, 'pending', 0, 0 FROM outbox_event"
                        " WHERE data ? 'migration_test'"
                    ),
                    {"org": organization_id, "subscription": subscription_id},
                )
                before = await _rows(connection)
                assert len(before["audit"]) == len(before["outbox"]) == 2

                await connection.run_sync(run_alembic, command.upgrade, "head")
                assert await _kind(connection, "outbox_event") == "p"
                assert await _kind(connection, "audit_event") == "p"
                after = await _rows(connection)
                assert [row[:3] for row in after["audit"]] == [row[:3] for row in before["audit"]]
                assert after["audit"][0][3] == "audit_event_y2024m03"
                assert [row[:4] for row in after["outbox"]] == [row[:4] for row in before["outbox"]]
                assert after["outbox"][0][4] == "outbox_event_y2024m04"
                assert sorted(after["deliveries"]) == sorted(before["deliveries"])
                # Every month from the oldest row's to three ahead, none missing.
                months = await repository.months(AsyncSession(bind=connection), "outbox_event")
                assert months[0][0] == "outbox_event_y2024m04"
                assert all(
                    end == start for (_, _, end), (_, start, _) in itertools.pairwise(months)
                )
                # The identity goes on after the copied rows.
                position = await connection.scalar(
                    text(
                        "INSERT INTO outbox_event (id, type, data) VALUES (gen_random_uuid(),"
                        " 'directory.stale', '{}') RETURNING position"
                    )
                )
                assert position > after["outbox"][-1][1]

                await connection.run_sync(run_alembic, command.downgrade, "0028")
                assert await _kind(connection, "outbox_event") == "r"
                again = await _rows(connection)
                assert [row[:3] for row in again["audit"]] == [row[:3] for row in before["audit"]]
                assert [row[:4] for row in again["outbox"]] == [row[:4] for row in before["outbox"]]
                assert sorted(again["deliveries"]) == sorted(before["deliveries"])
                await connection.run_sync(run_alembic, command.upgrade, "head")
            finally:
                await transaction.rollback()
        # Tables were made again: pooled connections must not reuse old plans.
        await app.state.engine.dispose()
