"""Operations endpoints against the real database."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from structlog.testing import capture_logs

from api.config import Settings
from api.main import create_app
from api.services import audit, delivery, events, operations
from tests.conftest import make_settings
from tests.factories import referrals as factories
from tests.factories.events import number_events
from tests.factories.referrals import record_consent, refer


class TestLiveness:
    async def test_ok(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReadiness:
    async def test_reports_postgis_version(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["postgis"].startswith('POSTGIS="3.')

    async def test_unreachable_database_is_503_problem(self) -> None:
        app = create_app(
            make_settings(database_url="postgresql+asyncpg://nobody:nothing@127.0.0.1:1/none")
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "nobody" not in response.text
        assert "127.0.0.1" not in response.text


def gauge(text: str, name: str, labels: str = "") -> float:
    """The value of one sample of the Prometheus text format."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")


class TestBacklogMetrics:
    async def test_the_worker_backlog_moves_with_the_work(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        connection: AsyncConnection,
    ) -> None:
        async def scrape() -> str:
            response = await client.get("/metrics")
            assert response.status_code == 200
            return response.text

        net = await factories.network(session, settings)
        await number_events(session, settings)
        await audit.seal(session, settings)
        before = await scrape()
        assert gauge(before, "relay_backlog_up") == 1

        hook = await client.post(
            "/v1/webhooks",
            json={"url": "https://93.184.215.14/hooks"},
            headers=net.receiver.headers,
        )
        assert hook.status_code == 201, hook.text
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await connection.execute(
            text("UPDATE referral SET due_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": uuid.UUID(referral_id)},
        )
        waiting = await scrape()
        # consent.recorded, referral.created to both parties: written, not numbered yet.
        unsequenced = gauge(waiting, "relay_outbox_unsequenced_events")
        assert unsequenced >= gauge(before, "relay_outbox_unsequenced_events") + 3
        assert gauge(waiting, "relay_outbox_unsequenced_oldest_age_seconds") >= 0
        assert gauge(waiting, "relay_audit_unsealed_events") > gauge(
            before, "relay_audit_unsealed_events"
        )
        assert gauge(waiting, "relay_referrals_overdue") == (
            gauge(before, "relay_referrals_overdue") + 1
        )

        await number_events(session, settings)
        assert await delivery.fan_out(session, settings) >= 1
        await audit.seal(session, settings)
        await operations.record_jobs(session, datetime.now(UTC), ["sequence_events"], [])
        await session.execute(text("SELECT set_config('relay.worker', '', true)"))
        done = await scrape()
        assert gauge(done, "relay_outbox_unsequenced_events") == 0
        assert gauge(done, "relay_audit_unsealed_events") == 0
        assert gauge(done, "relay_webhook_deliveries", 'status="pending"') >= (
            gauge(before, "relay_webhook_deliveries", 'status="pending"') + 1
        )
        assert gauge(done, "relay_outbox_oldest_undelivered_event_age_seconds") > 0
        stamp = gauge(
            done, "relay_worker_job_last_success_timestamp_seconds", 'job="sequence_events"'
        )
        assert abs(stamp - datetime.now(UTC).timestamp()) < 60

    async def test_the_worker_warns_when_work_waits_too_long(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        net = await factories.network(session, settings)
        await number_events(session, settings)
        await audit.seal(session, settings)
        now = datetime.now(UTC)
        assert await operations.warn_if_lagging(session, now, 60, {"fan_out_webhooks": now}) == []

        await events.webhook_disabled(
            session, net.receiver.organization.id, uuid.uuid4(), "failing"
        )
        later = now + timedelta(minutes=5)
        with capture_logs() as logged:
            late = await operations.warn_if_lagging(session, later, 60, {"fan_out_webhooks": now})
        assert late == ["sequence_events", "fan_out_webhooks"]
        warnings = [item for item in logged if item["event"] == "worker_lagging"]
        assert [item["job"] for item in warnings] == late
        assert all(item["log_level"] == "warning" for item in warnings)
        assert warnings[0]["lag_seconds"] >= 240


class TestMetricsWithoutTheDatabase:
    async def test_the_process_metrics_still_answer_and_say_the_backlog_is_unknown(self) -> None:
        app = create_app(
            make_settings(
                database_url="postgresql+asyncpg://nobody:nothing@127.0.0.1:1/none",
                database_connect_timeout_seconds=1,
            )
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/metrics")
        assert response.status_code == 200
        assert gauge(response.text, "relay_backlog_up") == 0
        assert "relay_http_requests" in response.text
