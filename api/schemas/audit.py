"""The audit trail as partners and the operator read it: events about their resources, the
signed checkpoints of the chain, the keys that sign them, and a verification report.

An event keeps its nulls (an actor not identified, an event not sealed yet): these bodies say
``null`` rather than leaving the field out, as they always have."""

import uuid
from typing import Literal

from pydantic import Field

from api.schemas.common import CursorMeta, DateTime, Public, omitted_when_absent


class AuditActor(Public):
    organization_id: uuid.UUID | None = Field(
        description="The acting organisation; null for Relay itself or a caller not identified."
    )
    client_id: str | None = Field(description="Shown to the acting organisation only.")
    acting_user: str | None = Field(description="Shown to the acting organisation only.")
    purpose_of_use: str | None


class AuditEventPublic(Public):
    id: uuid.UUID
    seq: int | None = Field(
        description="Its place in the hash chain; null until the worker seals it (a second)."
    )
    at: DateTime
    action: str = Field(
        description="What was done: one of the `action` filter's values (Action), or a code "
        "an earlier version recorded.",
        examples=["read", "transition"],
    )
    resource_type: str = Field(examples=["referral", "consent"])
    resource_ids: list[str]
    outcome: Literal["success", "failure"]
    actor: AuditActor
    request_id: str | None
    client_ip: str | None = Field(description="Shown to the acting organisation only.")


class AuditEventPage(Public):
    data: list[AuditEventPublic]
    meta: CursorMeta


class CheckpointPublic(Public):
    seq: int
    hash: str = Field(description="The chain's hash at seq, hex.")
    time: DateTime
    key_id: str
    signature: str = Field(
        description="Ed25519, base64url, over relay-audit-checkpoint/v1, seq, hash, time and "
        "key_id, one per line."
    )


class CheckpointMeta(Public):
    count: int
    limit: int
    next_after: int | None = omitted_when_absent(
        description="Pass it as `after` for the next page; absent on the last one."
    )


class CheckpointPage(Public):
    data: list[CheckpointPublic]
    meta: CheckpointMeta


class PublicJwk(Public):
    """An Ed25519 public key (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class JwkSet(Public):
    keys: list[PublicJwk] = Field(description="The current key first, then retired ones.")


class VerificationReport(Public):
    ok: bool
    events_checked: int
    checkpoints_checked: int
    unsealed_events: int
    archived_through: int = Field(
        description="Links whose events were archived (0: none); the check starts from the "
        "signed checkpoint at this seq."
    )
    first_broken_seq: int | None
    problem: str | None
    details: list[str] = Field(description="The first 20 problems found.")
