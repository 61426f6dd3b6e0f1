"""Extensions: PostGIS for geography, btree_gist for multi-column GiST indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 03:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostGIS is not a trusted extension: where the owner role is no superuser, the database
    # bootstrap (scripts/db-bootstrap.sh) creates it first and these statements find it there.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")


def downgrade() -> None:
    # Extensions stay: they may serve other schemas, and dropping PostGIS needs a superuser.
    pass
