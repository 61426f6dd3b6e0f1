"""The event outbox (``outbox_event``, ``outbox_horizon``) and webhook delivery
(``webhook_subscription``, ``webhook_delivery``, ``webhook_attempt``), with row-level security.

An organisation reads its own events and those addressed to everyone (``organization_id`` NULL);
any transaction may add events for another party (a referral's sender writes the receiver's
``referral.created``). Subscriptions, deliveries and attempts are the organisation's own. The
worker (``relay.worker = 'on'``) fans events out, delivers them and sweeps past retention.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:32:24.058076+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_horizon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_horizon")),
    )
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "type IN ('referral.created', 'referral.status_changed', 'referral.note_added', "
            "'referral.overdue', 'referral.erased', 'consent.recorded', 'consent.withdrawn', "
            "'directory.changed', 'webhook.disabled')",
            name=op.f("ck_outbox_event_type"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_outbox_event_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
        sa.UniqueConstraint("position", name=op.f("uq_outbox_event_position")),
    )
    op.create_index(
        "ix_outbox_event_feed",
        "outbox_event",
        ["organization_id", "txid", "position"],
        unique=False,
    )
    op.create_index("ix_outbox_event_order", "outbox_event", ["txid", "position"], unique=False)
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("secret_version", sa.Integer(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_version", sa.Integer(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_txid", sa.BigInteger(), nullable=False),
        sa.Column("cursor_position", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_webhook_subscription_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_index(
        op.f("ix_webhook_subscription_organization_id"),
        "webhook_subscription",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_txid", sa.BigInteger(), nullable=False),
        sa.Column("event_position", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_id", sa.Uuid(), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name=op.f("ck_webhook_delivery_status")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_event.id"],
            name=op.f("fk_webhook_delivery_event_id_outbox_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_webhook_delivery_subscription_id_event_id")
        ),
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_webhook_delivery_event_id"), "webhook_delivery", ["event_id"], unique=False
    )
    op.create_index(
        "ix_webhook_delivery_log",
        "webhook_delivery",
        ["subscription_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_delivery_order",
        "webhook_delivery",
        ["subscription_id", "subject_id", "event_txid", "event_position"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_attempt_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    op.create_index(
        op.f("ix_webhook_attempt_delivery_id"), "webhook_attempt", ["delivery_id"], unique=False
    )
    op.execute("INSERT INTO outbox_horizon (id, txid, position) VALUES (1, 0, 0)")
    grant_to_app("outbox_event", "SELECT, INSERT, DELETE")
    grant_to_app("outbox_horizon", "SELECT, UPDATE")
    grant_to_app("webhook_subscription", "SELECT, INSERT, UPDATE, DELETE")
    grant_to_app("webhook_delivery", "SELECT, INSERT, UPDATE")
    grant_to_app("webhook_attempt", "SELECT, INSERT")
    for statement in ROW_LEVEL_SECURITY:
        op.execute(statement)


ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')::uuid"
WORKER = "current_setting('relay.worker', true) = 'on'"
OWN = f"(organization_id = {ORGANIZATION} OR {WORKER})"
ROW_LEVEL_SECURITY = [
    "ALTER TABLE outbox_event ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE webhook_subscription ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE webhook_delivery ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE webhook_attempt ENABLE ROW LEVEL SECURITY",
    f"""CREATE POLICY readers ON outbox_event FOR SELECT
        USING (organization_id = {ORGANIZATION} OR organization_id IS NULL OR {WORKER})""",
    "CREATE POLICY writers ON outbox_event FOR INSERT WITH CHECK (true)",
    f"CREATE POLICY sweep ON outbox_event FOR DELETE USING ({WORKER})",
    f"CREATE POLICY own ON webhook_subscription USING {OWN}",
    f"CREATE POLICY own ON webhook_delivery USING {OWN}",
    f"CREATE POLICY own ON webhook_attempt USING {OWN}",
]


def downgrade() -> None:
    for policy, table in (
        ("readers", "outbox_event"),
        ("writers", "outbox_event"),
        ("sweep", "outbox_event"),
        ("own", "webhook_subscription"),
        ("own", "webhook_delivery"),
        ("own", "webhook_attempt"),
    ):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
    op.drop_index(op.f("ix_webhook_attempt_delivery_id"), table_name="webhook_attempt")
    op.drop_table("webhook_attempt")
    op.drop_index(
        "ix_webhook_delivery_order",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_webhook_delivery_log", table_name="webhook_delivery")
    op.drop_index(op.f("ix_webhook_delivery_event_id"), table_name="webhook_delivery")
    op.drop_index(
        "ix_webhook_delivery_due",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("webhook_delivery")
    op.drop_index(
        op.f("ix_webhook_subscription_organization_id"), table_name="webhook_subscription"
    )
    op.drop_table("webhook_subscription")
    op.drop_index("ix_outbox_event_order", table_name="outbox_event")
    op.drop_index("ix_outbox_event_feed", table_name="outbox_event")
    op.drop_table("outbox_event")
    op.drop_table("outbox_horizon")
    # ### end Alembic commands ###
