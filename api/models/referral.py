"""Consents and referrals: the person's recorded consent, the referral's closed loop (FHIR Task
statuses), its append-only history, its data key, and the idempotency records of its creation.

Nothing here holds a person's data in clear: the subject, the reason, the safety instructions and
the notes are one AES-GCM ciphertext per referral (``personal_data``) and per note, under a data
key of the referral's own (``referral_key``, wrapped by a master key kept outside the database).
Deleting the key row shreds them. ``subject_ref`` is the sender's pseudonymous case reference.
"""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, timestamp_field


class ConsentGiver(StrEnum):
    self_ = "self"
    parent_guardian = "parent_guardian"
    other_trusted_adult = "other_trusted_adult"


class ConsentMethod(StrEnum):
    verbal = "verbal"
    written = "written"
    thumbprint = "thumbprint"


class ConsentPurpose(StrEnum):
    services = "services"
    reporting_to_police = "reporting_to_police"
    statistics = "statistics"


class DataCategory(StrEnum):
    identity = "identity"  # name, date of birth
    contact = "contact"  # how to reach the person
    demographics = "demographics"  # age, gender, language
    incident = "incident"  # what happened, when, where (the reason of the referral)
    safety = "safety"  # do not contact directly, the safe channel and times


# What each status means (who sets it, after which statuses, whether it closes the referral) is
# one row of api.services.referrals.statuses.STATUSES; the database's ck_referral_status lists the
# same values (tests/test_migrations.py compares them). (Docstrings of enums are in the OpenAPI.)
class ReferralStatus(StrEnum):
    """FHIR R4 ``Task.status`` codes used by the closed loop."""

    requested = "requested"
    received = "received"
    accepted = "accepted"
    rejected = "rejected"
    cancelled = "cancelled"
    in_progress = "in-progress"
    on_hold = "on-hold"
    completed = "completed"
    failed = "failed"


class ReferralRole(StrEnum):
    """The caller's side of a referral."""

    sender = "sender"
    receiver = "receiver"


# The side of a referral an organisation is on: the referrals it sent, or those it received. The
# list's ``box`` parameter says it this way; a referral's view says the same thing as the caller's
# ``role`` (``Box.role``).
class Box(StrEnum):
    sent = "sent"
    received = "received"

    @property
    def role(self) -> ReferralRole:
        return ReferralRole.sender if self is Box.sent else ReferralRole.receiver


# What one step of a referral's closed loop records (``referral_event.type``); partners read it
# in a referral's events. (An enum's docstring would be its description in the OpenAPI.)
class ReferralEventType(StrEnum):
    created = "created"
    status_changed = "status_changed"
    note_added = "note_added"
    overdue = "overdue"
    personal_data_erased = "personal_data_erased"


class Priority(StrEnum):
    """FHIR ``request-priority`` codes."""

    routine = "routine"
    urgent = "urgent"
    asap = "asap"
    stat = "stat"


class SharingProfile(StrEnum):
    minimal = "minimal"
    standard = "standard"
    police_report = "police_report"


class Consent(SQLModel, table=True):
    __tablename__ = "consent"
    __table_args__ = (
        enum_check("given_by", ConsentGiver),
        enum_check("method", ConsentMethod),
        sa.CheckConstraint("age_at_consent BETWEEN 0 AND 120", name="age"),
        sa.CheckConstraint("valid_until IS NULL OR valid_until > valid_from", name="validity"),
        sa.CheckConstraint(
            "given_by = 'self' OR relationship IS NOT NULL", name="relationship_when_not_self"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    subject_ref: str = Field(sa_type=sa.Text)
    given_by: str = Field(sa_type=sa.Text)
    relationship: str | None = Field(default=None, sa_type=sa.Text)
    child_assent: bool | None = None
    age_at_consent: int
    method: str = Field(sa_type=sa.Text)
    recorded_by: str = Field(sa_type=sa.Text)
    purposes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    allowed_organizations: list[uuid.UUID] = Field(sa_type=postgresql.ARRAY(sa.Uuid))
    allowed_recipient_kinds: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    data_categories: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    valid_from: datetime = Field(sa_type=sa.DateTime(timezone=True))
    valid_until: datetime | None = timestamp_field()
    withdrawn_at: datetime | None = timestamp_field()
    withdrawal_reason: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()


class Referral(SQLModel, table=True):
    __tablename__ = "referral"
    __table_args__ = (
        enum_check("status", ReferralStatus),
        enum_check("priority", Priority),
        enum_check("sharing_profile", SharingProfile),
        sa.CheckConstraint(
            "from_organization_id <> to_organization_id", name="between_two_organisations"
        ),
        sa.Index("ix_referral_from_updated", "from_organization_id", "updated_at", "id"),
        sa.Index("ix_referral_to_updated", "to_organization_id", "updated_at", "id"),
        sa.Index(
            "ix_referral_awaiting_receipt",
            "due_at",
            postgresql_where=sa.text("status = 'requested'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    from_organization_id: uuid.UUID = Field(foreign_key="organization.id")
    to_organization_id: uuid.UUID = Field(foreign_key="organization.id")
    to_service_id: uuid.UUID = Field(foreign_key="service.id", index=True)
    consent_id: uuid.UUID = Field(foreign_key="consent.id", index=True)
    status: str = Field(default=ReferralStatus.requested.value, sa_type=sa.Text)
    priority: str = Field(sa_type=sa.Text)
    needs: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    sharing_profile: str = Field(sa_type=sa.Text)
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    personal_data: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    closed_at: datetime | None = timestamp_field()
    overdue_at: datetime | None = timestamp_field()
    erased_at: datetime | None = timestamp_field()
    erasure_reason: str | None = Field(default=None, sa_type=sa.Text)


class ReferralKey(SQLModel, table=True):
    """A referral's data key, wrapped (AES-GCM) by the master key of ``master_version``."""

    __tablename__ = "referral_key"

    referral_id: uuid.UUID = Field(foreign_key="referral.id", ondelete="CASCADE", primary_key=True)
    wrapped_key: bytes = Field(sa_type=sa.LargeBinary)
    master_version: int
    created_at: datetime = created_at_field()


class ReferralEvent(SQLModel, table=True):
    """One step of a referral's closed loop; never updated nor deleted (the note aside, which is
    a ciphertext under the referral's key and goes with it)."""

    __tablename__ = "referral_event"
    __table_args__ = (sa.UniqueConstraint("referral_id", "sequence"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id")
    sequence: int
    at: datetime = created_at_field()
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organization.id")
    """Who acted; None for Relay itself (the worker's ``overdue`` and retention events)."""
    client_id: str = Field(sa_type=sa.Text)
    acting_user: str | None = Field(default=None, sa_type=sa.Text)
    type: str = Field(sa_type=sa.Text)
    status: str | None = Field(default=None, sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    outcome: str | None = Field(default=None, sa_type=sa.Text)
    note: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    alternatives: list[uuid.UUID] | None = Field(default=None, sa_type=postgresql.ARRAY(sa.Uuid))
    """For ``overdue``: other services near the target meeting the same needs (ids only)."""


class IdempotencyRecord(SQLModel, table=True):
    """What a ``POST /v1/referrals`` with an ``Idempotency-Key`` created: a retry with the same
    key and body answers the same referral; the same key with another body is refused."""

    __tablename__ = "idempotency_record"

    organization_id: uuid.UUID = Field(foreign_key="organization.id", primary_key=True)
    key: str = Field(sa_type=sa.Text, primary_key=True)
    request_hash: str = Field(sa_type=sa.Text)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", ondelete="CASCADE")
    created_at: datetime = created_at_field()


class ReferralDraft(SQLModel, table=True):
    """A referral a person is making on Relay's pages, step by step: what the steps gathered,
    sealed under the draft's own data key (wrapped by the master key), until it is sent; then
    only the referral it made, so that the same form sent again answers that referral."""

    __tablename__ = "referral_draft"
    __table_args__ = (
        sa.CheckConstraint(
            "(content IS NULL) = (referral_id IS NOT NULL)", name="content_until_sent"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id")
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    wrapped_key: bytes = Field(sa_type=sa.LargeBinary)
    master_version: int
    content: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    referral_id: uuid.UUID | None = Field(default=None, foreign_key="referral.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
