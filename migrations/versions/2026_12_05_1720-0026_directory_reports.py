"""Keeping the directory true, part 3 (issue 22): anonymous reports of a wrong entry.

``directory_report``: the reason (wrong number, closed, moved, other), an optional correction,
and its state in the review queue of the entry's organisation and the operator (open, accepted,
dismissed; when and by whom — a client id or a person's pseudonym). Nothing of who reported it
is kept. The application inserts reports and may only change their state afterwards.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 17:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('wrong_number', 'closed', 'moved', 'other')",
            name=op.f("ck_directory_report_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'dismissed')", name=op.f("ck_directory_report_status")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_directory_report_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_directory_report_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_report")),
    )
    op.create_index(
        op.f("ix_directory_report_service_id"), "directory_report", ["service_id"], unique=False
    )
    op.create_index(
        "ix_directory_report_open",
        "directory_report",
        ["organization_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    grant_to_app("directory_report", "SELECT, INSERT, UPDATE (status, resolved_at, resolved_by)")


def downgrade() -> None:
    op.drop_index("ix_directory_report_open", table_name="directory_report")
    op.drop_index(op.f("ix_directory_report_service_id"), table_name="directory_report")
    op.drop_table("directory_report")
