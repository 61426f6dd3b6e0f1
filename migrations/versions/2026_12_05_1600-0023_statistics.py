"""Accountability figures (issue 24): the worker's per-referral facts, its queue, and each
quarter's raw counts.

- ``statistics_pending``: referrals whose facts are to be refreshed, queued by a trigger on every
  ``referral_event`` insert (``SECURITY DEFINER``: the API's role may not read the queue);
- ``statistics_referral``: one row of codes and durations per referral (no person's data);
- ``statistics_period``, ``statistics_tally``: each quarter's change counter, and its counts per
  scope (``network`` or an organisation's id).

Row-level security as for the referral-side tables (migration 0008): the facts, the queue and
the periods are the worker's only (``relay.worker = 'on'``); a tally row is readable by the
worker, and otherwise only the network's and the acting organisation's own (the service decides
who may see the network's figures). Referrals already recorded are queued, so the first worker
run computes their facts.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')"
WORKER = "current_setting('relay.worker', true) = 'on'"
WORKER_ONLY = ("statistics_referral", "statistics_pending", "statistics_period")


def upgrade() -> None:
    op.create_table(
        "statistics_referral",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("quarter", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sender_organization_id", sa.Uuid(), nullable=False),
        sa.Column("receiver_organization_id", sa.Uuid(), nullable=False),
        sa.Column("sender_kind", sa.Text(), nullable=False),
        sa.Column("receiver_kind", sa.Text(), nullable=False),
        sa.Column("region_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("needs", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("ending", sa.Text(), nullable=True),
        sa.Column("received_seconds", sa.Integer(), nullable=True),
        sa.Column("accepted_seconds", sa.Integer(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column(
            "refreshed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_statistics_referral")),
    )
    op.create_index("ix_statistics_referral_quarter", "statistics_referral", ["quarter"])
    op.create_index(
        "ix_statistics_referral_sender",
        "statistics_referral",
        ["sender_organization_id", "quarter"],
    )
    op.create_index(
        "ix_statistics_referral_receiver",
        "statistics_referral",
        ["receiver_organization_id", "quarter"],
    )
    op.create_table(
        "statistics_pending",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column(
            "queued_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_statistics_pending")),
    )
    op.create_table(
        "statistics_period",
        sa.Column("quarter", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("built_version", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("quarter", name=op.f("pk_statistics_period")),
    )
    op.create_table(
        "statistics_tally",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("quarter", sa.Text(), nullable=False),
        sa.Column("figure", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "quarter", "figure", name=op.f("pk_statistics_tally")),
    )
    op.execute(
        """
        CREATE FUNCTION statistics_queue_referral() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        BEGIN
          INSERT INTO statistics_pending (referral_id) VALUES (NEW.referral_id)
          ON CONFLICT DO NOTHING;
          RETURN NULL;
        END
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION statistics_queue_referral() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER referral_event_statistics AFTER INSERT ON referral_event "
        "FOR EACH ROW EXECUTE FUNCTION statistics_queue_referral()"
    )
    op.execute("INSERT INTO statistics_pending (referral_id) SELECT id FROM referral")

    grant_to_app("statistics_referral", "SELECT, INSERT, UPDATE")
    grant_to_app("statistics_pending", "SELECT, UPDATE, DELETE")  # UPDATE: its FOR UPDATE
    grant_to_app("statistics_period", "SELECT, INSERT, UPDATE")
    grant_to_app("statistics_tally", "SELECT, INSERT, DELETE")
    for table in (*WORKER_ONLY, "statistics_tally"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    for table in WORKER_ONLY:
        op.execute(f"CREATE POLICY worker ON {table} USING ({WORKER})")
    op.execute(
        "CREATE POLICY readable ON statistics_tally "
        f"USING ({WORKER} OR scope = 'network' OR scope = {ORGANIZATION}) "
        f"WITH CHECK ({WORKER})"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER referral_event_statistics ON referral_event")
    op.execute("DROP FUNCTION statistics_queue_referral()")
    op.drop_table("statistics_tally")
    op.drop_table("statistics_period")
    op.drop_table("statistics_pending")
    op.drop_index("ix_statistics_referral_receiver", table_name="statistics_referral")
    op.drop_index("ix_statistics_referral_sender", table_name="statistics_referral")
    op.drop_index("ix_statistics_referral_quarter", table_name="statistics_referral")
    op.drop_table("statistics_referral")
