"""Drafts of referrals made on Relay's own pages (issue 21): ``referral_draft``.

A person refers a case in steps (the need, the service, the consent, the person's data, the
safety instructions, the review). What the steps gathered is kept here, on the server, sealed
(AES-GCM) under the draft's own data key, which is stored wrapped by the master key: a phone that
loses its connection, or a person signed out by the idle timeout, finds the draft again, and
nothing of the person is ever kept on the phone. Once sent, the draft holds only the referral it
made (its content is cleared), so that a form sent twice answers that one referral; the worker
deletes drafts past ``expires_at``.

Row-level security: a transaction sees only its organisation's drafts (or the worker's, all).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')::uuid"
WORKER = "current_setting('relay.worker', true) = 'on'"


def upgrade() -> None:
    op.create_table(
        "referral_draft",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(content IS NULL) = (referral_id IS NOT NULL)",
            name=op.f("ck_referral_draft_content_until_sent"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_referral_draft_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_referral_draft_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_draft_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_draft")),
    )
    op.create_index(op.f("ix_referral_draft_user_id"), "referral_draft", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_referral_draft_expires_at"), "referral_draft", ["expires_at"], unique=False
    )
    op.execute("ALTER TABLE referral_draft ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY own ON referral_draft USING (organization_id = {ORGANIZATION} OR {WORKER})"
    )
    grant_to_app(
        "referral_draft",
        "SELECT, INSERT, UPDATE (content, referral_id, updated_at, expires_at), DELETE",
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS own ON referral_draft")
    op.drop_index(op.f("ix_referral_draft_expires_at"), table_name="referral_draft")
    op.drop_index(op.f("ix_referral_draft_user_id"), table_name="referral_draft")
    op.drop_table("referral_draft")
