"""The audit trail: recording, the worker's hash chain and signed checkpoints, verification,
and the partners' view of it.

**Recording.** Services call ``record`` inside the transaction of what they record: the event
commits with the change or not at all. Reads are recorded too. An event holds who (organisation,
client, ``X-Acting-User``, ``X-Purpose-Of-Use``), what (action, resource type and ids, outcome),
and the request id and client address: ids and codes, never a person's data.

**Sealing.** Requests do not chain their events themselves (that would make every request wait
for the one before it): each new event waits in ``audit_pending`` (a trigger puts it there in
the transaction that writes it), and the worker takes the committed ones it finds, oldest written
first, and links them into ``audit_chain``: ``seq`` 1, 2, 3… without gaps, ``hash =
sha256(previous hash || canonical JSON of the event and its seq)``, the first previous hash being
32 zero bytes. One worker seals at a time (an advisory lock); an event is in the chain within a
tick (a second) of its commit, whatever else runs on the server (an event of a transaction that
commits late is simply chained later).

**Checkpoints.** Every ``RELAY_AUDIT_CHECKPOINT_EVENTS`` events or
``RELAY_AUDIT_CHECKPOINT_MINUTES`` minutes, the worker signs the head ``(seq, hash, time)`` with
the Ed25519 key of ``RELAY_AUDIT_SIGNING_KEY``, which the database never holds. Partners fetch
the checkpoints and the public key (``GET /v1/audit/checkpoints``, ``GET /v1/audit/public-key``)
and keep them: a history rewritten later no longer matches what they hold.

**Verification** (``relay audit verify``, ``GET /v1/audit/verify``) walks the chain, recomputes
every hash, checks every checkpoint's signature and that the chain still reaches it and passes
through its hash, and names the first sequence number that does not hold. ``audit_event`` is
partitioned by month; months the operator archived leave their links, and the walk starts from
the signed checkpoint where they end.
"""

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import WEB_CLIENT_ID, Principal, person_pseudonym
from api.auth.scopes import Scope
from api.config import Settings
from api.context import client_ip_var, request_id_var
from api.errors import InsufficientScope
from api.models.audit import AuditCheckpoint, AuditEvent, Outcome
from api.pagination import read_time_cursor, write_cursor
from api.repositories import audit as repository
from api.repositories.base import act_as, act_as_worker

GENESIS = bytes(32)
SEAL_BATCH = 5000
VERIFY_BATCH = 5000
QUERY_LIMIT = 200
WORKER_CLIENT = "relay-worker"


class Action(StrEnum):
    read = "read"
    list = "list"
    create = "create"
    update = "update"
    delete = "delete"
    transition = "transition"
    export = "export"
    erase = "erase"
    token_issue = "token.issue"  # noqa: S105 (an action name)
    token_refuse = "token.refuse"  # noqa: S105
    token_revoke = "token.revoke"  # noqa: S105
    token_replay = "token.replay"  # noqa: S105
    """A used authorization code or refresh token presented again (or a refresh token by
    another client): the family of tokens it belongs to is revoked (RFC 9700 §4.14.2)."""
    oauth_consent = "oauth.consent"
    """A person let an app act for them (the authorize step: a code issued)."""
    oauth_deny = "oauth.deny"
    """A person refused an app (the authorize step: ``access_denied``)."""
    admin_create = "admin.create"
    admin_disable = "admin.disable"
    admin_rotate_secret = "admin.rotate_secret"  # noqa: S105
    admin_suspend = "admin.suspend"
    """An organisation suspended: its tokens, sessions and listings stop."""
    admin_reactivate = "admin.reactivate"
    # People's accounts (api/services/people/): the resource is the person's ``user_account``.
    user_invite = "user.invite"
    user_reset = "user.reset"
    user_redeem = "user.redeem"
    """An invitation (or a reset) used: the person set their password."""
    user_sign_in = "user.sign_in"
    """A sign-in completed (success) or refused (failure: a wrong password or code, or a wait)."""
    user_totp_enrol = "user.totp_enrol"
    """A TOTP authenticator confirmed (first, or a replacement)."""
    user_recovery_codes = "user.recovery_codes"
    """A new set of recovery codes made (the earlier ones no longer work)."""
    user_recovery_code_use = "user.recovery_code_use"
    user_role_change = "user.role_change"
    user_deactivate = "user.deactivate"
    user_sign_out = "user.sign_out"
    """A person ended their web session (this browser only)."""
    user_sign_out_everywhere = "user.sign_out_everywhere"
    user_password_change = "user.password_change"  # noqa: S105 (an action name)
    user_notification_contact = "user.notification_contact"
    """A person's contact for notifications set or removed (never the address itself)."""


@dataclass(frozen=True)
class Actor:
    organization_id: uuid.UUID | None
    client_id: str | None
    acting_user: str | None = None
    """A partner's ``X-Acting-User``, or a person's pseudonym (``person_pseudonym``)."""
    purpose_of_use: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> "Actor":
        return cls(
            principal.organization_id,
            principal.client_id,
            principal.acting_user,
            principal.purpose_of_use,
        )

    @classmethod
    def person(
        cls, organization_id: uuid.UUID, user_id: uuid.UUID, client_id: str = WEB_CLIENT_ID
    ) -> "Actor":
        """A person acting before they are a principal (signing in, setting their password):
        named by their pseudonymous id, never their login, phone or name."""
        return cls(organization_id, client_id, person_pseudonym(user_id))


RELAY = Actor(None, WORKER_CLIENT)
CLI = Actor(None, "relay-cli")
"""The operator at the command line (``relay orgs create``, ``relay clients …``,
``relay users …``)."""
SIGN_IN = Actor(None, WEB_CLIENT_ID)
"""Someone not identified trying to sign in or to use an invitation code: a refusal names the
account tried (its id, as the resource) but not the one who tried."""


@dataclass
class _Switch:
    enabled: bool = True


_switch = _Switch()


def configure(settings: Settings) -> None:
    """Recording on or off for this process (off only outside production, for the benchmark)."""
    _switch.enabled = settings.audit_enabled


async def record(
    session: AsyncSession,
    actor: Principal | Actor,
    action: Action,
    resource_type: str,
    ids: Iterable[object],
    parties: Iterable[uuid.UUID | None],
    outcome: Outcome = Outcome.success,
) -> None:
    """Add one audit event to the session's transaction."""
    if not _switch.enabled:
        return
    who = Actor.of(actor) if isinstance(actor, Principal) else actor
    await repository.add_event(
        session,
        {
            "id": uuid.uuid4(),
            "at": datetime.now(UTC),
            "organization_id": who.organization_id,
            "client_id": who.client_id,
            "acting_user": who.acting_user,
            "purpose_of_use": who.purpose_of_use,
            "action": action.value,
            "resource_type": resource_type,
            "resource_ids": [str(item) for item in ids],
            "parties": list(dict.fromkeys(party for party in parties if party is not None)),
            "outcome": outcome.value,
            "request_id": request_id_var.get(),
            "client_ip": client_ip_var.get(),
        },
    )


# -- the chain ------------------------------------------------------------------------------------


def canonical(event: AuditEvent, seq: int) -> bytes:
    """The bytes a link hashes: the event and its place, as JSON with sorted keys, no spaces,
    UTF-8, times in UTC with microseconds."""
    body = {
        "seq": seq,
        "id": str(event.id),
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "client_id": event.client_id,
        "acting_user": event.acting_user,
        "purpose_of_use": event.purpose_of_use,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_ids": list(event.resource_ids),
        "parties": [str(party) for party in event.parties],
        "outcome": event.outcome,
        "request_id": event.request_id,
        "client_ip": event.client_ip,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(previous: bytes, event: AuditEvent, seq: int) -> bytes:
    return hashlib.sha256(previous + canonical(event, seq)).digest()


async def seal(session: AsyncSession, settings: Settings) -> int:
    """Worker job: chain the committed events not chained yet, in the order they were written.
    An event of a transaction still open is not visible here and is chained on a later tick,
    after the ones chained before it commits. Returns how many."""
    await act_as_worker(session)
    if not await repository.try_seal_lock(session):
        return 0  # another worker is sealing
    head = await repository.chain_head(session)
    seq, previous = (head.seq, head.hash) if head else (0, GENESIS)
    found = await repository.unsealed(session, SEAL_BATCH)
    links = []
    for event in found:
        seq += 1
        previous = link(previous, event, seq)
        assert event.position is not None
        links.append(
            {
                "seq": seq,
                "event_id": event.id,
                "event_position": event.position,
                "hash": previous,
            }
        )
    await repository.add_links(session, links)
    return len(links)


# -- checkpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @classmethod
    def of(cls, settings: Settings) -> "SigningKey":
        return cls(Ed25519PrivateKey.from_private_bytes(settings.audit_key_seed))

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_bytes)

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.public_bytes)


def key_id_of(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def public_jwk(public: bytes) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(public),
        "kid": key_id_of(public),
        "use": "sig",
        "alg": "EdDSA",
    }


def verification_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """The current key's public half and the retired ones, by key id."""
    current = SigningKey.of(settings).public_bytes
    return {
        key_id_of(raw): Ed25519PublicKey.from_public_bytes(raw)
        for raw in [current, *settings.audit_retired_keys]
    }


def published_keys(settings: Settings) -> list[dict[str, str]]:
    current = SigningKey.of(settings).public_bytes
    return [public_jwk(raw) for raw in [current, *settings.audit_retired_keys]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def checkpoint_message(seq: int, chain_hash: bytes, at: datetime, key_id: str) -> bytes:
    """What a checkpoint's signature covers (documented for partners' own checks)."""
    moment = at.astimezone(UTC).isoformat(timespec="microseconds")
    return f"relay-audit-checkpoint/v1\n{seq}\n{chain_hash.hex()}\n{moment}\n{key_id}".encode()


async def sign_checkpoint(session: AsyncSession, settings: Settings) -> int:
    """Worker job: sign the chain's head when enough events or time have passed."""
    await act_as_worker(session)
    head = await repository.chain_head(session)
    if head is None:
        return 0
    last = await repository.last_checkpoint(session)
    now = datetime.now(UTC)
    if last is not None:
        if head.seq <= last.seq:
            return 0
        enough = head.seq - last.seq >= settings.audit_checkpoint_events
        due = now - last.at >= timedelta(minutes=settings.audit_checkpoint_minutes)
        if not (enough or due):
            return 0
    key = SigningKey.of(settings)
    signature = key.private.sign(checkpoint_message(head.seq, head.hash, now, key.key_id))
    return await repository.add_checkpoint(
        session,
        AuditCheckpoint(
            seq=head.seq, hash=head.hash, at=now, key_id=key.key_id, signature=signature
        ),
    )


def checkpoint_view(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash.hex(),
        "time": checkpoint.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": checkpoint.key_id,
        "signature": _b64url(checkpoint.signature),
    }


async def checkpoints(session: AsyncSession, after: int, limit: int) -> dict[str, Any]:
    found = await repository.checkpoints(session, after, limit)
    meta: dict[str, Any] = {"count": len(found), "limit": limit}
    if len(found) == limit:
        meta["next_after"] = found[-1].seq
    return {"data": [checkpoint_view(item) for item in found], "meta": meta}


# -- verification ---------------------------------------------------------------------------------


@dataclass
class Report:
    ok: bool = True
    events_checked: int = 0
    checkpoints_checked: int = 0
    unsealed_events: int = 0
    archived_through: int = 0
    """The links whose events were archived (a prefix of the chain, ending at a checkpoint):
    the check starts from that checkpoint's signed hash."""
    first_broken_seq: int | None = None
    problem: str | None = None
    details: list[str] = field(default_factory=list)

    def broken(self, seq: int, problem: str) -> None:
        self.details.append(f"seq {seq}: {problem}")
        if self.first_broken_seq is None or seq < self.first_broken_seq:
            self.first_broken_seq = seq
            self.problem = problem
        self.ok = False

    def as_dict(self) -> dict[str, Any]:
        """The report's fields, with the first 20 details."""
        return {**asdict(self), "details": self.details[:20]}


async def verify(session: AsyncSession, settings: Settings) -> Report:
    """Recompute the chain and check the checkpoints; the report names the first broken seq.

    When the oldest months of events were archived (``docs/scaling.md``), their links are still
    here but their events are not: the check starts from the signed checkpoint at the end of
    that prefix (whose signature ``_finish`` checks), and an event missing anywhere else is a
    break."""
    await act_as_worker(session)
    report = Report()
    signed = await repository.checkpoints(session, 0, None)
    wanted = {checkpoint.seq for checkpoint in signed}
    checkpoint_hashes = {checkpoint.seq: checkpoint.hash for checkpoint in signed}
    hashes_at: dict[int, bytes] = {}
    previous, expected, after = GENESIS, 1, 0
    while True:
        batch = await repository.chain_with_events(session, after, VERIFY_BATCH)
        if not batch:
            break
        for chain, event in batch:
            if chain.seq != expected:
                report.broken(expected, f"missing from the chain (next is {chain.seq})")
                return await _finish(session, report, signed, hashes_at, settings, expected - 1)
            if event is None:
                if report.events_checked:
                    report.broken(chain.seq, "its event is missing (deleted)")
                    return await _finish(
                        session, report, signed, hashes_at, settings, chain.seq - 1
                    )
                # An archived month (so far): the link is taken as it is, until a checkpoint.
                if chain.seq in wanted:
                    hashes_at[chain.seq] = chain.hash
                previous, expected, after = chain.hash, chain.seq + 1, chain.seq
                report.archived_through = chain.seq
                continue
            if _archive_unsigned(report, checkpoint_hashes, previous):
                return await _finish(
                    session, report, signed, hashes_at, settings, report.archived_through - 1
                )
            recomputed = link(previous, event, chain.seq)
            if recomputed != chain.hash:
                report.broken(chain.seq, "the event does not match its hash (altered)")
                return await _finish(session, report, signed, hashes_at, settings, chain.seq - 1)
            if chain.seq in wanted:
                hashes_at[chain.seq] = chain.hash
            previous, expected, after = chain.hash, chain.seq + 1, chain.seq
            report.events_checked += 1
    if _archive_unsigned(report, checkpoint_hashes, previous):
        return await _finish(
            session, report, signed, hashes_at, settings, report.archived_through - 1
        )
    return await _finish(session, report, signed, hashes_at, settings, expected - 1)


def _archive_unsigned(report: Report, checkpoint_hashes: dict[int, bytes], head: bytes) -> bool:
    """Whether the links whose events are archived (all the chain has walked so far, ending with
    hash ``head``) fail to end where a checkpoint signed the chain: then it is a break."""
    if not report.archived_through or report.events_checked:
        return False
    if checkpoint_hashes.get(report.archived_through) == head:
        return False
    report.broken(
        report.archived_through,
        "events are missing and no checkpoint signs the chain where they end",
    )
    return True


async def _finish(
    session: AsyncSession,
    report: Report,
    signed: Sequence[AuditCheckpoint],
    hashes_at: dict[int, bytes],
    settings: Settings,
    intact_through: int,
) -> Report:
    keys = verification_keys(settings)
    last = await repository.chain_head(session)
    for checkpoint in signed:
        report.checkpoints_checked += 1
        public = keys.get(checkpoint.key_id)
        if public is None:
            report.broken(
                checkpoint.seq, f"checkpoint signed by an unknown key {checkpoint.key_id}"
            )
            continue
        message = checkpoint_message(
            checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.key_id
        )
        try:
            public.verify(checkpoint.signature, message)
        except InvalidSignature:
            report.broken(checkpoint.seq, "checkpoint signature does not verify")
            continue
        if last is None or checkpoint.seq > last.seq:
            end = last.seq if last else 0
            report.broken(
                end + 1,
                f"the chain ends at {end} but seq {checkpoint.seq} was signed (events deleted)",
            )
        elif checkpoint.seq <= intact_through and hashes_at.get(checkpoint.seq) != checkpoint.hash:
            report.broken(checkpoint.seq, "the chain no longer passes through a signed hash")
    report.unsealed_events = await repository.count_unsealed(session)
    return report


# -- the partners' view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    since: datetime | None
    until: datetime | None
    actions: list[str]
    resource_type: str | None
    resource_id: str | None
    cursor: str | None
    limit: int


def _acted_as(event: AuditEvent, viewer: uuid.UUID) -> bool:
    """Whether the viewer's organisation is the event's actor. Only then does its view name the
    client, the staff member (their pseudonym) and the address it called from: another
    organisation's client ids, staff and addresses are its own (a client id is what its
    credentials are claimed by, a pseudonym follows one person across events, an address says
    where its systems are); the actor organisation is named."""
    return event.organization_id is not None and event.organization_id == viewer


def event_view(event: AuditEvent, seq: int | None, viewer: uuid.UUID) -> dict[str, Any]:
    """An event as the organisation ``viewer`` sees it (``_acted_as``)."""
    own = _acted_as(event, viewer)
    body: dict[str, Any] = {
        "id": str(event.id),
        "seq": seq,
        "at": event.at.isoformat(),
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_ids": list(event.resource_ids),
        "outcome": event.outcome,
        "actor": {
            "organization_id": str(event.organization_id) if event.organization_id else None,
            "client_id": event.client_id if own else None,
            "acting_user": event.acting_user if own else None,
            "purpose_of_use": event.purpose_of_use,
        },
        "request_id": event.request_id,
        "client_ip": event.client_ip if own else None,
    }
    return body


async def query(
    session: AsyncSession, principal: Principal, spec: AuditQuery
) -> tuple[list[tuple[AuditEvent, int | None]], str | None]:
    if not principal.has(Scope.audit_read):
        raise InsufficientScope([Scope.audit_read.value])
    await act_as(session, principal.organization_id)
    found = await repository.events_for(
        session,
        principal.organization_id,
        since=spec.since,
        until=spec.until,
        actions=spec.actions,
        resource_type=spec.resource_type,
        resource_id=spec.resource_id,
        before=read_time_cursor(spec.cursor) if spec.cursor else None,
        limit=spec.limit + 1,
    )
    page = found[: spec.limit]
    last = page[-1][0] if page else None
    cursor = write_cursor(last.at, last.id) if last and len(found) > spec.limit else None
    return page, cursor


# FHIR R4 AuditEvent: DICOM/HL7 codes for the event type, the REST interaction and the CRUDE
# action; outcome 0 = success, 4 = minor failure.
_SUBTYPES = {
    "read": ("read", "R"),
    "list": ("search-type", "E"),
    "create": ("create", "C"),
    "update": ("update", "U"),
    "transition": ("update", "U"),
    "delete": ("delete", "D"),
    "erase": ("delete", "D"),
    "export": ("read", "R"),
}
_RESOURCE_TYPES = {
    "referral": "Task",
    "consent": "Consent",
    "service": "HealthcareService",
    "location": "Location",
    "organization": "Organization",
}


def fhir_audit_event(event: AuditEvent, seq: int | None, viewer: uuid.UUID) -> dict[str, Any]:
    """An event as a FHIR R4 AuditEvent, as the organisation ``viewer`` sees it
    (``_acted_as``)."""
    own = _acted_as(event, viewer)
    interaction, crude = _SUBTYPES.get(event.action, (event.action, "E"))
    agent: dict[str, Any] = {"requestor": True, "who": {}}
    if own or event.organization_id is None:
        client_id = event.client_id if own else None
        agent["who"]["identifier"] = {"system": "urn:relay:client", "value": client_id or "unknown"}
    if own and event.acting_user:
        agent["altId"] = event.acting_user
    if own and event.client_ip:
        agent["network"] = {"address": event.client_ip, "type": "2"}
    if event.purpose_of_use:
        agent["purposeOfUse"] = [{"text": event.purpose_of_use}]
    if event.organization_id:
        agent["who"]["display"] = f"Organization/{event.organization_id}"
    resource_type = _RESOURCE_TYPES.get(event.resource_type)
    entities = [
        {"what": {"reference": f"{resource_type}/{item}"}}
        if resource_type
        else {"what": {"identifier": {"system": f"urn:relay:{event.resource_type}", "value": item}}}
        for item in event.resource_ids
    ]
    body: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}
            if event.action in _SUBTYPES
            else {"system": "urn:relay:audit-action", "code": event.action}
        ],
        "action": crude,
        "recorded": event.at.astimezone(UTC).isoformat(),
        "outcome": "0" if event.outcome == Outcome.success.value else "4",
        "agent": [agent],
        "source": {"observer": {"display": "Relay"}, "site": "relay"},
    }
    if entities:
        body["entity"] = entities
    if seq is not None:
        body.setdefault("extension", []).append({"url": "urn:relay:audit-seq", "valueInteger": seq})
    return body
