"""Trigram indexes for the directory's text search: the HSDS ``search`` parameter is an
``ILIKE '%words%'`` on the name, alternate name and description of services and organisations,
which without them read every row (an anonymous caller's search took seconds on 1M services).

pg_trgm is a trusted extension (PostgreSQL 13 and later): the owner of the database may create
it; the bootstrap (scripts/db-bootstrap.sh, deploy/initdb.sql) creates it too, as for PostGIS.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 07:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("service", "organization")
COLUMNS = ("name", "alternate_name", "description")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table in TABLES:
        for column in COLUMNS:
            op.create_index(
                f"ix_{table}_{column}_trgm",
                table,
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade() -> None:
    for table in TABLES:
        for column in COLUMNS:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    # The extension stays (as in 0001): it may serve other schemas.
