"""Telling people of new urgent referrals (issue 21): where each person wants to be told, and
one record per person and referral told (or to tell).

``notification_contact`` is a person's e-mail address or phone number for these messages, given
by their organisation's admin: personal data of staff, never logged, audited in clear or put in
a URL. ``notification`` is what the worker queued from the event outbox (``referral.created`` of
an urgent referral, for each person of the receiving organisation with a contact): unique per
person and referral, so a message is queued once however often the event is read, and kept
until it is sent (retried with back-off, never dropped). ``notification_cursor`` is how far the
worker has read the outbox (one row).
"""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, timestamp_field
from api.models.people import PHONE_PATTERN

# An address with one @, a dot in its domain, no spaces or angle brackets (what SMTP takes).
EMAIL_PATTERN = r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+$"
MAXIMUM_EMAIL_LENGTH = 254


class NotificationChannel(StrEnum):
    email = "email"
    sms = "sms"


class NotificationOutcome(StrEnum):
    sent = "sent"
    no_contact = "no_contact"  # the person's contact was removed before it could be sent


class NotificationContact(SQLModel, table=True):
    __tablename__ = "notification_contact"
    __table_args__ = (
        enum_check("channel", NotificationChannel),
        sa.CheckConstraint(
            f"(channel = 'email' AND address ~ '{EMAIL_PATTERN}' "
            f"AND length(address) <= {MAXIMUM_EMAIL_LENGTH}) "
            f"OR (channel = 'sms' AND address ~ '{PHONE_PATTERN}')",
            name="address_format",
        ),
    )

    user_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE", primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    channel: str = Field(sa_type=sa.Text)
    address: str = Field(sa_type=sa.Text)
    updated_at: datetime = created_at_field()


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "referral_id"),
        enum_check("outcome", NotificationOutcome),
        sa.CheckConstraint("(sent_at IS NULL) = (outcome IS NULL)", name="sent_with_outcome"),
        sa.Index(
            "ix_notification_due", "next_attempt_at", postgresql_where=sa.text("sent_at IS NULL")
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    referral_id: uuid.UUID = Field(foreign_key="referral.id", ondelete="CASCADE", index=True)
    created_at: datetime = created_at_field()
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = timestamp_field()
    outcome: str | None = Field(default=None, sa_type=sa.Text)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    """The kind of the last failure (an exception's class name), never its message."""


class NotificationCursor(SQLModel, table=True):
    __tablename__ = "notification_cursor"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger)
    """The last outbox event (``outbox_event.seq``) read for notifications."""
