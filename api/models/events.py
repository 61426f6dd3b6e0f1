"""The event outbox and webhook delivery.

``outbox_event`` is written in the same transaction as the change it announces, one row per
organisation that should hear of it (``organization_id`` NULL: every organisation, for public
directory changes). Its order is ``seq``, given by the worker once the event has committed
(``api.services.events.sequence``): one worker at a time numbers the committed events it finds,
in the order they were written, after the last number it gave. Readers see numbered events only,
so an event can never appear behind a cursor already handed out, and an event whose transaction
commits late simply gets a later number: nothing else running on the server can hold the feed
back. The table is partitioned by month on ``occurred_at`` (migration 0029): its keys hold the
time, and a month past ``RELAY_OUTBOX_RETENTION_MONTHS`` is dropped whole once every event in it
has reached everyone who should hear of it (``api.services.partitions``).

Events carry ids, types, status codes and times, never a person's data: the receiver fetches
details with its own token.

``webhook_subscription`` holds a partner's endpoint and its signing secret (sealed by the master
key, like the referrals' data keys), ``webhook_delivery`` one event to one subscription (the
``webhook-id`` a receiver dedupes on), ``webhook_attempt`` each try of it.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import (
    created_at_field,
    enum_check,
    partitioned_by_month,
    position_field,
    timestamp_field,
    utcnow,
)


class EventType(StrEnum):
    referral_created = "referral.created"
    referral_status_changed = "referral.status_changed"
    referral_note_added = "referral.note_added"
    referral_overdue = "referral.overdue"
    referral_erased = "referral.erased"
    consent_recorded = "consent.recorded"
    consent_withdrawn = "consent.withdrawn"
    directory_changed = "directory.changed"
    directory_stale = "directory.stale"
    webhook_disabled = "webhook.disabled"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"  # every retry failed: the dead letter, kept for the log and manual redelivery


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = partitioned_by_month(
        enum_check("type", EventType),
        sa.Index("ix_outbox_event_feed", "organization_id", "seq"),
        sa.Index(
            "ix_outbox_event_unsequenced", "position", postgresql_where=sa.text("seq IS NULL")
        ),
        sa.UniqueConstraint("position", "occurred_at", name="uq_outbox_event_position"),
        sa.UniqueConstraint("seq", "occurred_at", name="uq_outbox_event_seq"),
        on="occurred_at",
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    position: int | None = position_field()
    seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    """The event's place in the feed, given by the worker after it committed; None until then."""
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", ondelete="CASCADE"
    )
    """Who hears of it; None: every organisation."""
    type: str = Field(sa_type=sa.Text)
    occurred_at: datetime = Field(
        default_factory=utcnow,
        primary_key=True,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
    )
    """When it was written; also the month partition it is in (migration 0029)."""
    subject_id: uuid.UUID | None = Field(default=None)
    """What it is about (a referral, a consent, a service): deliveries of one subject keep order."""
    data: dict[str, Any] = Field(sa_type=postgresql.JSONB)


class OutboxHorizon(SQLModel, table=True):
    """How far the retention sweep has deleted: a cursor before it is refused (410), not served
    a silently shortened history."""

    __tablename__ = "outbox_horizon"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger)
    """The newest event deleted."""


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(
        foreign_key="organization.id", ondelete="CASCADE", index=True
    )
    url: str = Field(sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)
    event_types: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    """The types delivered; empty: all."""
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, sa_type=sa.Text)
    secret: bytes = Field(sa_type=sa.LargeBinary)
    secret_version: int
    previous_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    previous_secret_version: int | None = None
    previous_secret_expires_at: datetime | None = timestamp_field()
    cursor_seq: int = Field(sa_type=sa.BigInteger)
    """The last event fanned out to it."""
    failing_since: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        enum_check("status", DeliveryStatus),
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.ForeignKeyConstraint(
            ["event_id", "event_occurred_at"],
            ["outbox_event.id", "outbox_event.occurred_at"],
            ondelete="CASCADE",
        ),
        sa.Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_webhook_delivery_order",
            "subscription_id",
            "subject_id",
            "event_seq",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_webhook_delivery_dead",
            "subscription_id",
            postgresql_where=sa.text("status = 'dead'"),
        ),
        sa.Index("ix_webhook_delivery_log", "subscription_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id", ondelete="CASCADE")
    organization_id: uuid.UUID = Field(sa_type=sa.Uuid)
    event_id: uuid.UUID = Field(index=True)
    event_occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    """The event's time: with ``event_id``, the key of a row of the partitioned outbox."""
    event_seq: int = Field(sa_type=sa.BigInteger)
    subject_id: uuid.UUID | None = None
    status: str = Field(default=DeliveryStatus.pending.value, sa_type=sa.Text)
    attempts: int = 0
    step: int = 0
    """Place in the retry schedule (a manual redelivery starts it again)."""
    next_attempt_at: datetime = created_at_field()
    lease_id: uuid.UUID | None = None
    leased_until: datetime | None = timestamp_field()
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_attempt_at: datetime | None = timestamp_field()
    delivered_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class WebhookAttempt(SQLModel, table=True):
    """One try of a delivery: when, the status code or the error code, how long it took. Never
    the response body."""

    __tablename__ = "webhook_attempt"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    delivery_id: uuid.UUID = Field(
        foreign_key="webhook_delivery.id", ondelete="CASCADE", index=True
    )
    organization_id: uuid.UUID = Field(sa_type=sa.Uuid)
    number: int
    at: datetime = created_at_field()
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, sa_type=sa.Text)
