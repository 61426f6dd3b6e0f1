"""The outbox and the audit chain in the order the worker sees commits, not by transaction id.

Until now readers took outbox and audit rows in ``(txid, position)`` order and only below
``pg_snapshot_xmin``: transaction ids are cluster-wide, so any transaction left open anywhere on
the server (another database, an idle psql session) held back every feed, webhook and seal.

Now the worker gives each committed outbox event a gapless ``seq`` (one worker at a time, under
an advisory lock) and the feed, the fan-out and the subscriptions' cursors read by it; an event
of a transaction that commits late simply gets a later number. Audit events wait in
``audit_pending`` (filled by a trigger) until the sealer chains them, in the order it finds them.
The transaction ids are dropped: nothing orders by them any more.

Existing rows keep their old order: outbox events are numbered in ``(txid, position)`` order and
subscription cursors translated; audit events not yet chained go to ``audit_pending``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 06:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TXID = sa.text("(pg_current_xact_id()::text::bigint)")
WORKER = "current_setting('relay.worker', true) = 'on'"


def upgrade() -> None:
    # -- the outbox: a sequence number given by the worker --------------------------------------
    op.add_column("outbox_event", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute(
        """UPDATE outbox_event SET seq = numbered.seq
           FROM (SELECT id, row_number() OVER (ORDER BY txid, position) AS seq
                 FROM outbox_event) AS numbered
           WHERE outbox_event.id = numbered.id"""
    )
    op.create_unique_constraint(op.f("uq_outbox_event_seq"), "outbox_event", ["seq"])
    op.drop_index("ix_outbox_event_feed", table_name="outbox_event")
    op.drop_index("ix_outbox_event_order", table_name="outbox_event")
    op.create_index("ix_outbox_event_feed", "outbox_event", ["organization_id", "seq"])
    op.create_index(
        "ix_outbox_event_unsequenced",
        "outbox_event",
        ["position"],
        postgresql_where=sa.text("seq IS NULL"),
    )

    # Subscriptions and deliveries: (txid, position) becomes the event's seq.
    op.add_column("outbox_horizon", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("webhook_subscription", sa.Column("cursor_seq", sa.BigInteger(), nullable=True))
    op.add_column("webhook_delivery", sa.Column("event_seq", sa.BigInteger(), nullable=True))
    op.execute(
        """UPDATE webhook_subscription SET cursor_seq = COALESCE(
             (SELECT max(e.seq) FROM outbox_event e
              WHERE (e.txid, e.position)
                    <= (webhook_subscription.cursor_txid, webhook_subscription.cursor_position)),
             0)"""
    )
    op.execute(
        """UPDATE webhook_delivery SET event_seq = e.seq
           FROM outbox_event e WHERE e.id = webhook_delivery.event_id"""
    )
    # Every event left is numbered after what the retention sweep deleted.
    op.execute("UPDATE outbox_horizon SET seq = 0")
    op.alter_column("outbox_horizon", "seq", nullable=False)
    op.alter_column("webhook_subscription", "cursor_seq", nullable=False)
    op.alter_column("webhook_delivery", "event_seq", nullable=False)
    op.drop_index(
        "ix_webhook_delivery_order",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_order",
        "webhook_delivery",
        ["subscription_id", "subject_id", "event_seq"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_dead",
        "webhook_delivery",
        ["subscription_id"],
        postgresql_where=sa.text("status = 'dead'"),
    )
    for table, columns in (
        ("outbox_horizon", ("txid", "position")),
        ("webhook_subscription", ("cursor_txid", "cursor_position")),
        ("webhook_delivery", ("event_txid", "event_position")),
        ("outbox_event", ("txid",)),
    ):
        for column in columns:
            op.drop_column(table, column)
    # The worker numbers events: it may set seq, and nothing else, once.
    op.execute(
        """CREATE FUNCTION outbox_seq_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
             OR (to_jsonb(NEW) - 'seq') IS DISTINCT FROM (to_jsonb(OLD) - 'seq') THEN
            RAISE EXCEPTION 'an outbox event is never changed, only numbered once'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END
        $$"""
    )
    op.execute(
        "CREATE TRIGGER outbox_event_seq_once BEFORE UPDATE ON outbox_event "
        "FOR EACH ROW EXECUTE FUNCTION outbox_seq_once()"
    )
    grant_to_app("outbox_event", "UPDATE (seq)")
    op.execute(f"CREATE POLICY sequencer ON outbox_event FOR UPDATE USING ({WORKER})")

    # -- the audit trail: events wait in audit_pending until the sealer chains them -------------
    op.create_table(
        "audit_pending",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_pending")),
    )
    op.execute(
        """INSERT INTO audit_pending (position)
           SELECT e.position FROM audit_event e
           WHERE NOT EXISTS (SELECT FROM audit_chain c WHERE c.event_id = e.id)"""
    )
    op.execute(
        """CREATE FUNCTION audit_pending_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO audit_pending (position) SELECT position FROM inserted;
          RETURN NULL;
        END
        $$"""
    )
    op.execute(
        "CREATE TRIGGER audit_event_pending AFTER INSERT ON audit_event "
        "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
        "EXECUTE FUNCTION audit_pending_add()"
    )
    # A waiting event leaves the queue only once it is chained: deleting it cannot hide it.
    op.execute(
        """CREATE FUNCTION audit_pending_sealed_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NOT EXISTS (SELECT FROM audit_chain c JOIN audit_event e ON e.id = c.event_id
                         WHERE e.position = OLD.position) THEN
            RAISE EXCEPTION 'audit event % is not sealed yet', OLD.position
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN OLD;
        END
        $$"""
    )
    op.execute(
        "CREATE TRIGGER audit_pending_sealed_only BEFORE DELETE ON audit_pending "
        "FOR EACH ROW EXECUTE FUNCTION audit_pending_sealed_only()"
    )
    grant_to_app("audit_pending", "SELECT, INSERT, DELETE")
    op.drop_index("ix_audit_event_order", table_name="audit_event")
    op.drop_column("audit_chain", "event_txid")
    op.drop_column("audit_event", "txid")

    # -- what the worker's jobs last did, and what they have left, for /metrics and alerts -----
    op.create_index(
        "ix_referral_awaiting_receipt",
        "referral",
        ["due_at"],
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.create_table(
        "worker_job",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_job")),
    )
    grant_to_app("worker_job", "SELECT, INSERT, UPDATE")


def downgrade() -> None:
    op.drop_table("worker_job")
    op.drop_index(
        "ix_referral_awaiting_receipt",
        table_name="referral",
        postgresql_where=sa.text("status = 'requested'"),
    )

    # The audit trail: transaction ids come back as the order the rows had.
    op.add_column(
        "audit_event",
        sa.Column("txid", sa.BigInteger(), server_default=CURRENT_TXID, nullable=False),
    )
    op.add_column(
        "audit_chain",
        sa.Column("event_txid", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.alter_column("audit_chain", "event_txid", server_default=None)
    op.create_index("ix_audit_event_order", "audit_event", ["txid", "position"])
    op.execute("DROP TRIGGER audit_event_pending ON audit_event")
    op.execute("DROP FUNCTION audit_pending_add()")
    op.drop_table("audit_pending")
    op.execute("DROP FUNCTION audit_pending_sealed_only()")

    # The outbox.
    op.execute("DROP POLICY sequencer ON outbox_event")
    op.execute("DROP TRIGGER outbox_event_seq_once ON outbox_event")
    op.execute("DROP FUNCTION outbox_seq_once()")
    op.add_column(
        "outbox_event",
        sa.Column("txid", sa.BigInteger(), server_default=CURRENT_TXID, nullable=False),
    )
    op.add_column(
        "webhook_delivery",
        sa.Column("event_txid", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "webhook_delivery",
        sa.Column("event_position", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        """UPDATE webhook_delivery SET event_txid = e.txid, event_position = e.position
           FROM outbox_event e WHERE e.id = webhook_delivery.event_id"""
    )
    op.add_column(
        "webhook_subscription",
        sa.Column("cursor_txid", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "webhook_subscription",
        sa.Column("cursor_position", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        """UPDATE webhook_subscription s SET cursor_txid = e.txid, cursor_position = e.position
           FROM outbox_event e WHERE e.seq = s.cursor_seq"""
    )
    op.add_column(
        "outbox_horizon",
        sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "outbox_horizon",
        sa.Column("position", sa.BigInteger(), server_default="0", nullable=False),
    )
    for table, columns in (
        ("webhook_delivery", ("event_txid", "event_position")),
        ("webhook_subscription", ("cursor_txid", "cursor_position")),
        ("outbox_horizon", ("txid", "position")),
    ):
        for column in columns:
            op.alter_column(table, column, server_default=None)
    op.drop_index("ix_webhook_delivery_dead", table_name="webhook_delivery")
    op.drop_index(
        "ix_webhook_delivery_order",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_order",
        "webhook_delivery",
        ["subscription_id", "subject_id", "event_txid", "event_position"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_column("webhook_delivery", "event_seq")
    op.drop_column("webhook_subscription", "cursor_seq")
    op.drop_column("outbox_horizon", "seq")
    op.drop_index(
        "ix_outbox_event_unsequenced",
        table_name="outbox_event",
        postgresql_where=sa.text("seq IS NULL"),
    )
    op.drop_index("ix_outbox_event_feed", table_name="outbox_event")
    op.drop_constraint(op.f("uq_outbox_event_seq"), "outbox_event", type_="unique")
    op.drop_column("outbox_event", "seq")
    op.create_index("ix_outbox_event_order", "outbox_event", ["txid", "position"])
    op.create_index("ix_outbox_event_feed", "outbox_event", ["organization_id", "txid", "position"])
