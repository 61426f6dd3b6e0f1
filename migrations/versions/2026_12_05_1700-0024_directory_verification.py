"""Keeping the directory true, part 1 (issue 22): verification.

- ``service.assured_date`` and ``service.assurer_email`` (HSDS 3.1): the day the entry was last
  confirmed still true, and the e-mail address of the organisation that confirmed it;
- ``service.stale_since``: when the worker found it unchecked past
  ``RELAY_DIRECTORY_STALE_DAYS`` and told its organisation (``directory.stale``, once); cleared
  by the next confirmation. ``ix_service_check_due`` holds the entries not flagged yet, for the
  sweep;
- the event type ``directory.stale``.

The application role already writes every column of ``service`` (migration 0003).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_EVENT_TYPES = (
    "'referral.created', 'referral.status_changed', 'referral.note_added', "
    "'referral.overdue', 'referral.erased', 'consent.recorded', 'consent.withdrawn', "
    "'directory.changed', 'webhook.disabled'"
)
EVENT_TYPES = (
    "'referral.created', 'referral.status_changed', 'referral.note_added', "
    "'referral.overdue', 'referral.erased', 'consent.recorded', 'consent.withdrawn', "
    "'directory.changed', 'directory.stale', 'webhook.disabled'"
)


def _event_types(listed: str) -> None:
    op.drop_constraint(op.f("ck_outbox_event_type"), "outbox_event", type_="check")
    op.create_check_constraint(op.f("ck_outbox_event_type"), "outbox_event", f"type IN ({listed})")


def upgrade() -> None:
    op.add_column("service", sa.Column("assured_date", sa.Date(), nullable=True))
    op.add_column("service", sa.Column("assurer_email", sa.Text(), nullable=True))
    op.add_column("service", sa.Column("stale_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_service_check_due",
        "service",
        ["assured_date", "created_at"],
        unique=False,
        postgresql_where=sa.text("stale_since IS NULL"),
    )
    _event_types(EVENT_TYPES)


def downgrade() -> None:
    op.execute("DELETE FROM outbox_event WHERE type = 'directory.stale'")
    _event_types(OLD_EVENT_TYPES)
    op.drop_index(
        "ix_service_check_due",
        table_name="service",
        postgresql_where=sa.text("stale_since IS NULL"),
    )
    op.drop_column("service", "stale_since")
    op.drop_column("service", "assurer_email")
    op.drop_column("service", "assured_date")
