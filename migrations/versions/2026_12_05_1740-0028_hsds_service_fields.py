"""Keeping the directory true, part 6 (issue 22): the HSDS fields partners ask for.

- ``service.alert`` (HSDS: a short-term notice, such as a temporary closure) with
  ``service.alert_until`` (Relay's extension: the day it ends), and ``service.wait_time``;
- ``required_document``, ``cost_option`` and ``contact`` (HSDS 3.1), one row per item of a
  service's arrays, written by the directory API and read by the HSDS API.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 17:40:00+00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("required_document", "cost_option", "contact")


def _owned(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f(f"fk_{name}_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_service_id"), name, ["service_id"], unique=False)
    grant_to_app(name, "SELECT, INSERT, UPDATE, DELETE")


def upgrade() -> None:
    op.add_column("service", sa.Column("alert", sa.Text(), nullable=True))
    op.add_column("service", sa.Column("alert_until", sa.Date(), nullable=True))
    op.add_column("service", sa.Column("wait_time", sa.Text(), nullable=True))
    _owned(
        "required_document",
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=True),
    )
    _owned(
        "cost_option",
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("option", sa.Text(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("amount_description", sa.Text(), nullable=True),
    )
    _owned(
        "contact",
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_index(op.f(f"ix_{name}_service_id"), table_name=name)
        op.drop_table(name)
    op.drop_column("service", "wait_time")
    op.drop_column("service", "alert_until")
    op.drop_column("service", "alert")
