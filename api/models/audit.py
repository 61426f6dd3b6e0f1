"""The audit trail (``docs/audit.md``): events, the hash chain over them, signed checkpoints.

Every row here is written once and never changed: the application role may only insert and
select, and a trigger refuses UPDATE, DELETE and TRUNCATE (migration 0010). An event holds ids
and codes only, never a person's data, so erasing a referral never touches the trail.
``audit_pending`` is the one exception: the events not chained yet, filled by a trigger on
``audit_event`` and emptied by the sealer as it chains them (migration 0011).

``audit_event`` is partitioned by month on ``at`` (migration 0029, ``docs/scaling.md``): its keys
hold ``at``, and ``audit_chain`` names its event without a foreign key, so that a month archived
by the operator leaves the links the rest of the chain verifies from.
"""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, partitioned_by_month, position_field


class Outcome(StrEnum):
    success = "success"
    failure = "failure"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = partitioned_by_month(
        enum_check("outcome", Outcome),
        sa.Index("ix_audit_event_at", "at", "id"),
        sa.Index("ix_audit_event_parties", "parties", postgresql_using="gin"),
        sa.UniqueConstraint("position", "at", name="uq_audit_event_position"),
        on="at",
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    position: int | None = position_field()
    at: datetime = Field(sa_type=sa.DateTime(timezone=True), primary_key=True)
    """When it happened; also the month partition it is in (migration 0029)."""
    organization_id: uuid.UUID | None = None
    """The acting organisation (None: Relay itself, or a caller not identified)."""
    client_id: str | None = Field(default=None, sa_type=sa.Text)
    acting_user: str | None = Field(default=None, sa_type=sa.Text)
    purpose_of_use: str | None = Field(default=None, sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    resource_type: str = Field(sa_type=sa.Text)
    resource_ids: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    parties: list[uuid.UUID] = Field(sa_type=postgresql.ARRAY(sa.Uuid))
    """The organisations the resource concerns: who may read this event."""
    outcome: str = Field(default=Outcome.success.value, sa_type=sa.Text)
    request_id: str | None = Field(default=None, sa_type=sa.Text)
    client_ip: str | None = Field(default=None, sa_type=sa.Text)


class AuditChain(SQLModel, table=True):
    """Link ``seq`` of the chain: ``hash = sha256(previous hash || canonical JSON of the event
    with its seq)``, sealed by the worker in the order it finds committed events."""

    __tablename__ = "audit_chain"
    __table_args__ = (sa.CheckConstraint("seq >= 1", name="seq_positive"),)

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    event_id: uuid.UUID = Field(unique=True)
    """The event linked (no foreign key: an archived month of events leaves its links)."""
    event_position: int = Field(sa_type=sa.BigInteger)
    hash: bytes = Field(sa_type=sa.LargeBinary)
    sealed_at: datetime = created_at_field()


class AuditCheckpoint(SQLModel, table=True):
    """The chain's head at ``seq``, signed (Ed25519) by a key the database never holds."""

    __tablename__ = "audit_checkpoint"

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_type=sa.LargeBinary)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    key_id: str = Field(sa_type=sa.Text)
    signature: bytes = Field(sa_type=sa.LargeBinary)


class AuditPending(SQLModel, table=True):
    """An event not in the chain yet (its ``position``): the sealer's queue. A trigger adds every
    new event in the transaction that writes it; the sealer removes it with the link it adds."""

    __tablename__ = "audit_pending"

    position: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
