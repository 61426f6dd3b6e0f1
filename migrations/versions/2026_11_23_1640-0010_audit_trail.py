"""The audit trail: ``audit_event`` (written by every request in its own transaction),
``audit_chain`` (the worker's hash chain over them, in order, gapless) and ``audit_checkpoint``
(the chain's head, signed with an Ed25519 key kept outside the database).

All three are append-only: the application role may only insert and select, and a trigger
refuses UPDATE, DELETE and TRUNCATE for every role (the owner included, until someone with the
rights disables it, which the chain and the signed checkpoints then reveal). An organisation
reads the events about resources it is party to (row-level security on ``parties``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 16:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_event", "audit_chain", "audit_checkpoint")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("acting_user", sa.Text(), nullable=True),
        sa.Column("purpose_of_use", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("parties", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('success', 'failure')", name=op.f("ck_audit_event_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("position", name=op.f("uq_audit_event_position")),
    )
    op.create_index("ix_audit_event_order", "audit_event", ["txid", "position"], unique=False)
    op.create_index("ix_audit_event_at", "audit_event", ["at", "id"], unique=False)
    op.create_index(
        "ix_audit_event_parties",
        "audit_event",
        ["parties"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_txid", sa.BigInteger(), nullable=False),
        sa.Column("event_position", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "sealed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_chain_seq_positive")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_event.id"], name=op.f("fk_audit_chain_event_id_audit_event")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_chain")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_chain_event_id")),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoint")),
    )
    for statement in APPEND_ONLY:
        op.execute(statement)
    for table in TABLES:
        grant_to_app(table, "SELECT, INSERT")
    for statement in ROW_LEVEL_SECURITY:
        op.execute(statement)


APPEND_ONLY = [
    """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        for table in TABLES
    ),
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        for table in TABLES
    ),
]
ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')::uuid"
WORKER = "current_setting('relay.worker', true) = 'on'"
ROW_LEVEL_SECURITY = [
    "ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY",
    f"""CREATE POLICY parties ON audit_event FOR SELECT
        USING ({ORGANIZATION} = ANY(parties) OR {WORKER})""",
    "CREATE POLICY writers ON audit_event FOR INSERT WITH CHECK (true)",
]


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS parties ON audit_event")
    op.execute("DROP POLICY IF EXISTS writers ON audit_event")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_chain")
    op.drop_index("ix_audit_event_parties", table_name="audit_event", postgresql_using="gin")
    op.drop_index("ix_audit_event_at", table_name="audit_event")
    op.drop_index("ix_audit_event_order", table_name="audit_event")
    op.drop_table("audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
