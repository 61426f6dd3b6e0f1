"""``service_area.vetted``: whether an area makes its service *covering* in searches.

A partner could declare a world-wide area and rank first, at distance 0, in every search for its
needs. From now on an area is vetted when Relay's rules accepted it (bounded size, within the
organisation's own countries) or the operator declared it; only vetted areas cover.

Areas already stored are vetted when they are at most 100,000 km² (the default of
``RELAY_MAX_SERVICE_AREA_KM2``); larger ones stop covering until the operator declares them
again. Their size is measured on an equal-area projection of the planar polygon, the shape the
coverage test uses (a geography's area of a world-wide rectangle is 0: its edges are great
circles through the poles).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LARGEST_VETTED_KM2 = 100_000


def upgrade() -> None:
    op.add_column(
        "service_area",
        sa.Column("vetted", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        sa.text(
            "UPDATE service_area SET vetted = ST_Area(ST_Transform(ST_Segmentize(extent, 0.5), "
            "'+proj=cea +datum=WGS84 +units=m')) / 1e6 <= :largest"
        ).bindparams(largest=LARGEST_VETTED_KM2)
    )


def downgrade() -> None:
    op.drop_column("service_area", "vetted")
