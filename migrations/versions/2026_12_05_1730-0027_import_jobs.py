"""Keeping the directory true, part 5 (issue 22): import jobs the operator sees.

``import_job``: each run of ``relay import …`` with its counts (created, updated, already
present, rejected by reason) and its CSV report of rejected rows, listed on ``/app/operator``.
The application inserts and reads them.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 17:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    grant_to_app("import_job", "SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("import_job")
