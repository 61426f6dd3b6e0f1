"""Btree indexes on location latitude and longitude: the extent of the OGC ``services``
collection reads the first visible place in each coordinate order instead of every row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_location_latitude"), "location", ["latitude"])
    op.create_index(op.f("ix_location_longitude"), "location", ["longitude"])


def downgrade() -> None:
    op.drop_index(op.f("ix_location_longitude"), table_name="location")
    op.drop_index(op.f("ix_location_latitude"), table_name="location")
