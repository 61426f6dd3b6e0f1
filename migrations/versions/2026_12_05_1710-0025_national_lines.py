"""Keeping the directory true, part 2 (issue 22): national lines.

``national_line``: per country (ISO 3166-1 alpha-2, as ``admin_area.country``), the national
numbers the operator enters (police emergency, child helpline, women's helpline) and the needs
each answers; the lookup, the pathway and the search show them for a need no service near the
point meets. The application reads and writes them (the operator's API).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 17:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "national_line",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column(
            "needs",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('police', 'child_helpline', 'womens_helpline', 'other')",
            name=op.f("ck_national_line_kind"),
        ),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_national_line_country")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_line")),
        sa.UniqueConstraint(
            "country", "kind", "number", name=op.f("uq_national_line_country_kind_number")
        ),
    )
    op.create_index(op.f("ix_national_line_country"), "national_line", ["country"], unique=False)
    grant_to_app("national_line", "SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    op.drop_index(op.f("ix_national_line_country"), table_name="national_line")
    op.drop_table("national_line")
