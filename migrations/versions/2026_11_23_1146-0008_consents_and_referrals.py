"""Consents and referrals: ``consent``, ``referral`` (with its data key in ``referral_key``),
``referral_event`` and ``idempotency_record``, with row-level security.

Row-level security is the second wall behind the repositories: the API sets
``relay.organization_id`` (``set_config(..., true)``, for the transaction) before it touches these
tables, and the application role then sees only the rows of referrals its organisation sent or
received, and only its own consents (plus those its received referrals rest on) and idempotency
records. The worker sets ``relay.worker = 'on'`` for its sweeps. The owner role, which runs
migrations, is not subject to the policies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 11:46:40+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subject_ref", sa.Text(), nullable=False),
        sa.Column("given_by", sa.Text(), nullable=False),
        sa.Column("relationship", sa.Text(), nullable=True),
        sa.Column("child_assent", sa.Boolean(), nullable=True),
        sa.Column("age_at_consent", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("purposes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("allowed_organizations", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("allowed_recipient_kinds", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("data_categories", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "given_by = 'self' OR relationship IS NOT NULL",
            name=op.f("ck_consent_relationship_when_not_self"),
        ),
        sa.CheckConstraint(
            "given_by IN ('self', 'parent_guardian', 'other_trusted_adult')",
            name=op.f("ck_consent_given_by"),
        ),
        sa.CheckConstraint(
            "method IN ('verbal', 'written', 'thumbprint')", name=op.f("ck_consent_method")
        ),
        sa.CheckConstraint("age_at_consent BETWEEN 0 AND 120", name=op.f("ck_consent_age")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until > valid_from", name=op.f("ck_consent_validity")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_consent_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    op.create_index(
        op.f("ix_consent_organization_id"), "consent", ["organization_id"], unique=False
    )
    op.create_table(
        "referral",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("from_organization_id", sa.Uuid(), nullable=False),
        sa.Column("to_organization_id", sa.Uuid(), nullable=False),
        sa.Column("to_service_id", sa.Uuid(), nullable=False),
        sa.Column("consent_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("needs", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("sharing_profile", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("personal_data", sa.LargeBinary(), nullable=True),
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
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "priority IN ('routine', 'urgent', 'asap', 'stat')", name=op.f("ck_referral_priority")
        ),
        sa.CheckConstraint(
            "sharing_profile IN ('minimal', 'standard', 'police_report')",
            name=op.f("ck_referral_sharing_profile"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'received', 'accepted', 'rejected', 'cancelled', "
            "'in-progress', 'on-hold', 'completed', 'failed')",
            name=op.f("ck_referral_status"),
        ),
        sa.CheckConstraint(
            "from_organization_id <> to_organization_id",
            name=op.f("ck_referral_between_two_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consent.id"], name=op.f("fk_referral_consent_id_consent")
        ),
        sa.ForeignKeyConstraint(
            ["from_organization_id"],
            ["organization.id"],
            name=op.f("fk_referral_from_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["to_organization_id"],
            ["organization.id"],
            name=op.f("fk_referral_to_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["to_service_id"], ["service.id"], name=op.f("fk_referral_to_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    op.create_index(op.f("ix_referral_consent_id"), "referral", ["consent_id"], unique=False)
    op.create_index(
        "ix_referral_from_updated",
        "referral",
        ["from_organization_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_referral_to_service_id"), "referral", ["to_service_id"], unique=False)
    op.create_index(
        "ix_referral_to_updated",
        "referral",
        ["to_organization_id", "updated_at", "id"],
        unique=False,
    )
    op.create_table(
        "idempotency_record",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_idempotency_record_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
            name=op.f("fk_idempotency_record_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "referral_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("acting_user", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("alternatives", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_referral_event_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_event_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_event")),
        sa.UniqueConstraint(
            "referral_id", "sequence", name=op.f("uq_referral_event_referral_id_sequence")
        ),
    )
    op.create_table(
        "referral_key",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
            name=op.f("fk_referral_key_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referral_key")),
    )
    grant_to_app("consent", "SELECT, INSERT, UPDATE")
    grant_to_app("referral", "SELECT, INSERT, UPDATE")
    grant_to_app("referral_key", "SELECT, INSERT, UPDATE, DELETE")
    grant_to_app("referral_event", "SELECT, INSERT")  # the history is append-only
    grant_to_app("idempotency_record", "SELECT, INSERT")
    for statement in ROW_LEVEL_SECURITY:
        op.execute(statement)


ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')::uuid"
WORKER = "current_setting('relay.worker', true) = 'on'"
PARTY = f"(from_organization_id = {ORGANIZATION} OR to_organization_id = {ORGANIZATION})"
ROW_LEVEL_SECURITY = [
    "ALTER TABLE consent ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE referral ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE referral_key ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE referral_event ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE idempotency_record ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY party ON referral USING ({PARTY} OR {WORKER})",
    f"""CREATE POLICY party ON consent USING (
        organization_id = {ORGANIZATION} OR {WORKER}
        OR EXISTS (SELECT FROM referral WHERE referral.consent_id = consent.id)
    ) WITH CHECK (organization_id = {ORGANIZATION} OR {WORKER})""",
    """CREATE POLICY party ON referral_key USING (
        EXISTS (SELECT FROM referral WHERE referral.id = referral_key.referral_id)
    )""",
    """CREATE POLICY party ON referral_event USING (
        EXISTS (SELECT FROM referral WHERE referral.id = referral_event.referral_id)
    )""",
    f"CREATE POLICY own ON idempotency_record USING (organization_id = {ORGANIZATION})",
]


def downgrade() -> None:
    for table in ("idempotency_record", "referral_event", "referral_key", "consent", "referral"):
        op.execute(f"DROP POLICY IF EXISTS party ON {table}")
    op.execute("DROP POLICY IF EXISTS own ON idempotency_record")
    op.drop_table("referral_key")
    op.drop_table("referral_event")
    op.drop_table("idempotency_record")
    op.drop_index("ix_referral_to_updated", table_name="referral")
    op.drop_index(op.f("ix_referral_to_service_id"), table_name="referral")
    op.drop_index("ix_referral_from_updated", table_name="referral")
    op.drop_index(op.f("ix_referral_consent_id"), table_name="referral")
    op.drop_table("referral")
    op.drop_index(op.f("ix_consent_organization_id"), table_name="consent")
    op.drop_table("consent")
