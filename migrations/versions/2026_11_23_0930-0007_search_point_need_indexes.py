"""One partial GiST index per need on ``search_point.point`` and ``stand_in``, in place of the
multi-column (need, point) GiST indexes of 0004.

On a million places the multi-column index answered "nearest place offering medical care"
(a third of all rows) by visiting about 300 pages; an index holding only the places meeting
that need visits about 80. The search writes its need's id into the SQL (a generic plan can
then use the need's index); the taxonomy is fixed (migration 0003), and a migration adding a
need adds its two indexes (``tests/test_search_plans.py`` checks every need has them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:30:00+00:00
"""

import uuid
from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The taxonomy as migration 0003 created it (ids are uuid5 of the code in Relay's namespace).
TAXONOMY = uuid.UUID("6f1c9a52-6d1e-4f0e-9d55-0b5e1a7c2f10")
NEEDS = (
    "emergency-police",
    "medical-care",
    "post-rape-care",
    "psychosocial-support",
    "safe-shelter",
    "legal-aid",
    "child-protection-case-management",
    "family-support",
    "anti-trafficking",
    "reintegration",
    "education-literacy",
    "livelihoods",
    "early-childhood",
    "maternal-infant-health",
    "helpline",
)
COLUMNS = ("point", "stand_in")


def _name(column: str, code: str) -> str:
    return f"ix_search_point_{column}_{code.replace('-', '_')}"


def upgrade() -> None:
    for code in NEEDS:
        for column in COLUMNS:
            op.execute(
                f"CREATE INDEX {_name(column, code)} ON search_point USING gist ({column}) "
                f"WHERE taxonomy_term_id = '{uuid.uuid5(TAXONOMY, code)}'::uuid"
            )
    op.drop_index("ix_search_point_term_point", table_name="search_point")
    op.drop_index("ix_search_point_term_stand_in", table_name="search_point")


def downgrade() -> None:
    for column, name in (
        ("point", "ix_search_point_term_point"),
        ("stand_in", "ix_search_point_term_stand_in"),
    ):
        op.execute(f"CREATE INDEX {name} ON search_point USING gist (taxonomy_term_id, {column})")
    for code in NEEDS:
        for column in COLUMNS:
            op.execute(f"DROP INDEX {_name(column, code)}")
