"""Telling people of new urgent referrals (issue 21): a contact per person, the notifications
queued and sent, and how far the worker has read the event outbox.

- ``notification_contact``: a person's e-mail address or E.164 phone number for these messages,
  given by their organisation's admin (one per person; removed with the account).
- ``notification``: one per person and referral (unique), queued by the worker from the outbox
  and kept until sent: attempts, when to try next, the kind of the last failure.
- ``notification_cursor``: one row, the last outbox ``seq`` read; it starts at the newest event
  already numbered, so that deploying this revision tells no one of referrals sent before it.

As the people's tables (migrations 0018 to 0020) these have no row-level security: the pages
reach contacts only through the people service, which decides who manages whom, and only the
worker reads notifications across organisations. The application role may change a contact's
channel and address, and a notification's delivery columns; nothing else of them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_notification_cursor_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_cursor")),
    )
    op.create_table(
        "notification_contact",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(channel = 'email' AND address ~ '^[^@\\s<>]{1,64}@[^@\\s<>]+\\.[^@\\s<>]+$' "
            "AND length(address) <= 254) "
            "OR (channel = 'sms' AND address ~ '^\\+[1-9][0-9]{6,14}$')",
            name=op.f("ck_notification_contact_address_format"),
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'sms')", name=op.f("ck_notification_contact_channel")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_notification_contact_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_notification_contact_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_contact")),
    )
    op.create_index(
        op.f("ix_notification_contact_organization_id"),
        "notification_contact",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('sent', 'no_contact')", name=op.f("ck_notification_outcome")
        ),
        sa.CheckConstraint(
            "(sent_at IS NULL) = (outcome IS NULL)", name=op.f("ck_notification_sent_with_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
            name=op.f("fk_notification_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_notification_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint(
            "user_id", "referral_id", name=op.f("uq_notification_user_id_referral_id")
        ),
    )
    op.create_index(
        "ix_notification_due",
        "notification",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index(
        op.f("ix_notification_referral_id"), "notification", ["referral_id"], unique=False
    )
    op.execute(
        "INSERT INTO notification_cursor (id, seq) "
        "SELECT 1, coalesce(max(seq), 0) FROM outbox_event"
    )
    grant_to_app(
        "notification_contact", "SELECT, INSERT, UPDATE (channel, address, updated_at), DELETE"
    )
    grant_to_app(
        "notification",
        "SELECT, INSERT, UPDATE (attempts, next_attempt_at, sent_at, outcome, last_error)",
    )
    grant_to_app("notification_cursor", "SELECT, UPDATE (seq)")


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_referral_id"), table_name="notification")
    op.drop_index(
        "ix_notification_due",
        table_name="notification",
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("notification")
    op.drop_index(
        op.f("ix_notification_contact_organization_id"), table_name="notification_contact"
    )
    op.drop_table("notification_contact")
    op.drop_table("notification_cursor")
