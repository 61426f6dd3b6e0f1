"""Referrals and their closed loop.

A referral goes from the caller's organisation to a service of another organisation that accepts
referrals, on a consent the caller recorded. The subject's data, the reason and the safety
instructions are sealed under the referral's own data key (``api.crypto``); the receiver sees only
what the sharing profile shares, and nothing personal once the referral is closed, the consent is
withdrawn or expired, or the data erased. One transition table (``TRANSITIONS``) says who may move
a referral from which status to which; every change appends a ``referral_event``.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientScope,
    NotFound,
    Unprocessable,
)
from api.models.organization import Organization, OrganizationStatus
from api.models.referral import (
    CLOSED_STATUSES,
    Consent,
    DataCategory,
    IdempotencyRecord,
    Referral,
    ReferralEvent,
    ReferralKey,
    ReferralStatus,
    SharingProfile,
)
from api.pagination import read_time_cursor, write_cursor
from api.repositories import referrals as repository
from api.repositories.base import act_as, act_as_worker, add, lock_organization_key
from api.repositories.referrals import Target
from api.repositories.search import SearchFilters
from api.schemas.referrals import (
    CancellationReason,
    ConsentState,
    Erasure,
    ErasureReason,
    FailureReason,
    HoldReason,
    NoteCreate,
    ReferralCreate,
    RejectionReason,
    StatusChange,
)
from api.services import audit, consents, search
from api.services import events as partner_events
from api.services.audit import RELAY, Action
from api.services.consents import PROFILE_CATEGORIES
from api.services.search import NearestQuery

LIST_LIMIT = 100


class ReferralNotFound(NotFound):
    code = "referral-not-found"


class ConsentRefused(Unprocessable):
    code = "consent-does-not-allow"


class UnknownService(Unprocessable):
    code = "unknown-service"


class ProfileMismatch(Unprocessable):
    code = "not-in-sharing-profile"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency-key-reused"


class IdempotencyKeyRequired(BadRequest):
    """A referral created without a key: a retry after a lost answer would refer the person
    twice, so creation requires one (400, as the IETF Idempotency-Key draft says)."""

    code = "idempotency-key-required"

    def __init__(self) -> None:
        super().__init__(
            "Creating a referral needs an Idempotency-Key header: a new random value (a UUID) "
            "for each referral, sent again unchanged when you retry it, so that a retry after a "
            "lost answer returns the referral already made instead of referring the person twice."
        )


class NotAccepting(Conflict):
    code = "service-not-accepting-referrals"


class NoCapacity(Conflict):
    code = "no-capacity"


class NotEligible(Conflict):
    code = "not-eligible"


class InvalidTransition(Conflict):
    code = "invalid-transition"


class NotYourTransition(Forbidden):
    code = "not-your-transition"


class InvalidStatusChange(Unprocessable):
    code = "invalid-status-change"


class Role(StrEnum):
    sender = "sender"
    receiver = "receiver"


S = ReferralStatus
# Who may set which status, from which statuses (FHIR Task codes). Anything else is refused.
TRANSITIONS: dict[tuple[Role, ReferralStatus], frozenset[ReferralStatus]] = {
    (Role.receiver, S.received): frozenset({S.requested}),
    (Role.receiver, S.accepted): frozenset({S.requested, S.received}),
    (Role.receiver, S.rejected): frozenset({S.requested, S.received}),
    (Role.receiver, S.in_progress): frozenset({S.accepted, S.on_hold}),
    (Role.receiver, S.on_hold): frozenset({S.accepted, S.in_progress}),
    (Role.receiver, S.completed): frozenset({S.accepted, S.in_progress}),
    (Role.receiver, S.failed): frozenset({S.accepted, S.in_progress, S.on_hold}),
    (Role.sender, S.cancelled): frozenset(
        {S.requested, S.received, S.accepted, S.in_progress, S.on_hold}
    ),
}
# The coded reason a status needs (none for the others).
REASONS: dict[ReferralStatus, type[StrEnum]] = {
    S.rejected: RejectionReason,
    S.on_hold: HoldReason,
    S.failed: FailureReason,
    S.cancelled: CancellationReason,
}
SCOPE_OF_ROLE = {Role.sender: Scope.referrals_send, Role.receiver: Scope.referrals_receive}

_IDENTITY, _DEMOGRAPHICS = ("name", "date_of_birth"), ("age", "gender", "language")


def _categories(body: ReferralCreate) -> dict[DataCategory, dict[str, Any]]:
    """The body's personal data by category (only the fields given)."""
    subject = body.subject.model_dump(mode="json", exclude_none=True)
    found = {
        DataCategory.identity: {k: v for k, v in subject.items() if k in _IDENTITY},
        DataCategory.demographics: {k: v for k, v in subject.items() if k in _DEMOGRAPHICS},
        DataCategory.contact: {k: v for k, v in subject.items() if k == "contact"},
        DataCategory.incident: body.reason.model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        ),
        DataCategory.safety: body.safety.model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        ),
    }
    return {category: fields for category, fields in found.items() if fields}


def _fields_of(category: DataCategory, fields: dict[str, Any]) -> list[str]:
    prefix = {DataCategory.incident: "reason", DataCategory.safety: "safety"}.get(
        category, "subject"
    )
    return [f"{prefix}.{name}" for name in fields]


def _age(subject: dict[str, Any], today: date) -> int | None:
    if "age" in subject:
        age: int = subject["age"]
        return age
    if "date_of_birth" in subject:
        born = date.fromisoformat(subject["date_of_birth"])
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return None


def _check_target(target: Target | None, principal: Principal, body: ReferralCreate) -> Target:
    if (
        target is None
        or target.service.status != "active"
        or target.service.visibility == "confidential"
        or target.organization.status != OrganizationStatus.active.value
    ):
        raise UnknownService("No active service with this id can receive referrals.")
    if target.organization.id == principal.organization_id:
        raise UnknownService("A referral goes to another organisation's service.")
    if not target.service.accepts_referrals:
        raise NotAccepting("This service does not accept referrals; the person may walk in.")
    if not set(body.needs) & target.needs:
        raise NotEligible("This service meets none of the needs of the referral.")
    if target.available is not None and target.available <= 0:
        raise NoCapacity("This service has no capacity now; choose another or try later.")
    return target


def _check_eligibility(target: Target, personal: dict[DataCategory, dict[str, Any]]) -> None:
    subject = {
        **personal.get(DataCategory.identity, {}),
        **personal.get(DataCategory.demographics, {}),
    }
    service = target.service
    age = _age(subject, datetime.now(UTC).date())
    if age is not None:
        if service.minimum_age is not None and age < service.minimum_age:
            raise NotEligible(f"This service is for people aged {service.minimum_age} and over.")
        if service.maximum_age is not None and age > service.maximum_age:
            raise NotEligible(f"This service is for people aged up to {service.maximum_age}.")
    gender = subject.get("gender")
    if gender and service.genders and gender not in service.genders:
        raise NotEligible("This service does not serve people of this gender.")


def request_hash(body: ReferralCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    body: ReferralCreate,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create the referral; returns its sender view and whether it is new (False: a retry).

    The idempotency key is required: without one, a partner retrying after a lost answer (a
    timeout on a poor connection) would refer the person twice."""
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    await act_as(session, principal.organization_id)
    fingerprint = request_hash(body)
    await lock_organization_key(session, principal.organization_id, idempotency_key)
    record = await repository.idempotency_record(
        session, principal.organization_id, idempotency_key
    )
    if record is not None:
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with another request body.")
        return await get(session, settings, principal, record.referral_id), False

    consent = await repository.own_consent(session, principal.organization_id, body.consent_id)
    if consent is None:
        raise ConsentRefused("No consent with this id was recorded by your organisation.")
    target = _check_target(await repository.target(session, body.to_service_id), principal, body)
    now = datetime.now(UTC)
    refusal = consents.does_not_cover(consent, target.organization, body.sharing_profile, now)
    if refusal:
        raise ConsentRefused(refusal)
    personal = _categories(body)
    shared = PROFILE_CATEGORIES[body.sharing_profile]
    outside = [
        field
        for category, fields in personal.items()
        if category not in shared
        for field in _fields_of(category, fields)
    ]
    if outside:
        raise ProfileMismatch(
            f"The {body.sharing_profile.value} profile does not share "
            f"{', '.join(outside)}: leave them out, or choose another profile.",
            errors=[
                {"loc": ["body", *field.split(".")], "type": "not_shared"} for field in outside
            ],
        )
    _check_eligibility(target, personal)

    referral = Referral(
        from_organization_id=principal.organization_id,
        to_organization_id=target.organization.id,
        to_service_id=target.service.id,
        consent_id=consent.id,
        priority=body.priority.value,
        needs=list(body.needs),
        sharing_profile=body.sharing_profile.value,
        due_at=now + timedelta(hours=settings.due_hours[body.priority.value]),
        created_at=now,
        updated_at=now,
    )
    data_key = crypto.new_key()
    wrapped, version = settings.master.wrap(data_key, referral.id)
    plaintext = json.dumps({category.value: fields for category, fields in personal.items()})
    referral.personal_data = crypto.seal(
        data_key, plaintext.encode(), table="referral", column="personal_data", row=referral.id
    )
    await add(session, referral)
    await add(
        session,
        ReferralKey(referral_id=referral.id, wrapped_key=wrapped, master_version=version),
    )
    await _append(session, principal, referral, "created", status=S.requested)
    await repository.insert_idempotency(
        session,
        IdempotencyRecord(
            organization_id=principal.organization_id,
            key=idempotency_key,
            request_hash=fingerprint,
            referral_id=referral.id,
        ),
    )
    return _view(referral, Role.sender, personal, None), True


async def _append(
    session: AsyncSession,
    principal: Principal,
    referral: Referral,
    kind: str,
    *,
    status: ReferralStatus | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    note: bytes | None = None,
) -> ReferralEvent:
    first = kind == "created"  # the first event of a new referral: nothing to count
    event = ReferralEvent(
        referral_id=referral.id,
        sequence=1 if first else await repository.next_sequence(session, referral.id),
        organization_id=principal.organization_id,
        client_id=principal.client_id,
        acting_user=principal.acting_user,
        type=kind,
        status=status.value if status else None,
        reason=reason,
        outcome=outcome,
        note=note,
    )
    await add(session, event)
    await partner_events.referral_changed(session, referral, kind, event.sequence)
    await audit.record(
        session, principal, AUDIT_ACTIONS[kind], "referral", [referral.id], _parties(referral)
    )
    return event


AUDIT_ACTIONS = {
    "created": Action.create,
    "status_changed": Action.transition,
    "note_added": Action.update,
    "overdue": Action.update,
    "personal_data_erased": Action.erase,
}


def _parties(referral: Referral) -> list[uuid.UUID]:
    return [referral.from_organization_id, referral.to_organization_id]


@dataclass
class Opened:
    """A referral as the caller may see it: its role, and the data key when it may read."""

    referral: Referral
    role: Role
    data_key: bytes | None
    withheld: str | None  # why the caller sees no personal data


async def _open(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Opened:
    await act_as(session, principal.organization_id)
    referral = await repository.referral(session, principal.organization_id, referral_id, lock=lock)
    if referral is None:
        raise ReferralNotFound("No referral with this id.")
    role = (
        Role.sender if referral.from_organization_id == principal.organization_id else Role.receiver
    )
    if not (principal.has(Scope.referrals_send) or principal.has(Scope.referrals_receive)):
        raise InsufficientScope([SCOPE_OF_ROLE[role].value])
    withheld = None
    if referral.erased_at is not None:
        withheld = "erased"
    elif role is Role.receiver:
        if ReferralStatus(referral.status) in CLOSED_STATUSES:
            withheld = "closed"
        else:
            consent = await repository.consent(session, referral.consent_id)
            current = consents.state(consent, datetime.now(UTC)) if consent else None
            if current is not ConsentState.active:
                withheld = f"consent_{current.value if current else 'missing'}"
    data_key = None
    if withheld is None:
        key = await repository.key_of(session, referral.id)
        if key is None:
            withheld = "erased"
        else:
            data_key = settings.master.unwrap(key.wrapped_key, key.master_version, referral.id)
    return Opened(referral, role, data_key, withheld)


def _personal(opened: Opened) -> dict[DataCategory, dict[str, Any]]:
    referral = opened.referral
    if opened.data_key is None or referral.personal_data is None:
        return {}
    plaintext = crypto.open_sealed(
        opened.data_key,
        referral.personal_data,
        table="referral",
        column="personal_data",
        row=referral.id,
    )
    return {DataCategory(k): v for k, v in json.loads(plaintext).items()}


def _view(
    referral: Referral,
    role: Role,
    personal: dict[DataCategory, dict[str, Any]],
    withheld: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(referral.id),
        "from_organization_id": str(referral.from_organization_id),
        "to_organization_id": str(referral.to_organization_id),
        "to_service_id": str(referral.to_service_id),
        "consent_id": str(referral.consent_id),
        "status": referral.status,
        "priority": referral.priority,
        "needs": referral.needs,
        "sharing_profile": referral.sharing_profile,
        "due_at": referral.due_at.isoformat(),
        "created_at": referral.created_at.isoformat(),
        "updated_at": referral.updated_at.isoformat(),
        "role": role.value,
    }
    if referral.erased_at is not None:
        body["erased_at"] = referral.erased_at.isoformat()
    if withheld is not None:
        body["personal_data_withheld"] = withheld
        return body
    shared = PROFILE_CATEGORIES[SharingProfile(referral.sharing_profile)]
    visible = {c: f for c, f in personal.items() if role is Role.sender or c in shared}
    subject = {
        **visible.get(DataCategory.identity, {}),
        **visible.get(DataCategory.demographics, {}),
        **visible.get(DataCategory.contact, {}),
    }
    if subject:
        body["subject"] = subject
    if DataCategory.incident in visible:
        body["reason"] = visible[DataCategory.incident]
    if DataCategory.safety in visible:
        body["safety"] = visible[DataCategory.safety]
    if referral.sharing_profile == SharingProfile.police_report.value:
        body["consent_to_report"] = True
    return body


async def get(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    opened = await _open(session, settings, principal, referral_id)
    await audit.record(
        session, principal, Action.read, "referral", [referral_id], _parties(opened.referral)
    )
    return _view(opened.referral, opened.role, _personal(opened), opened.withheld)


async def change_status(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    change: StatusChange,
) -> dict[str, Any]:
    opened = await _open(session, settings, principal, referral_id, lock=True)
    referral, role = opened.referral, opened.role
    if not principal.has(SCOPE_OF_ROLE[role]):
        raise InsufficientScope([SCOPE_OF_ROLE[role].value])
    allowed_from = TRANSITIONS.get((role, change.status))
    if allowed_from is None:
        raise NotYourTransition(f"The {role.value} of a referral cannot set it {change.status}.")
    current = ReferralStatus(referral.status)
    if current not in allowed_from:
        raise InvalidTransition(
            f"A {current.value} referral cannot become {change.status.value}.",
            allowed=sorted(
                target.value
                for (who, target), sources in TRANSITIONS.items()
                if who is role and current in sources
            ),
        )
    _check_codes(change)
    now = datetime.now(UTC)
    referral.status = change.status.value
    referral.updated_at = now
    if change.status in CLOSED_STATUSES:
        referral.closed_at = now
    await add(session, referral)
    note = _seal_note(opened, change.note)
    await _append(
        session,
        principal,
        referral,
        "status_changed",
        status=change.status,
        reason=change.reason,
        outcome=change.outcome.value if change.outcome else None,
        note=note,
    )
    return _view(referral, role, _personal(opened), _withheld_after(opened, referral))


def _withheld_after(opened: Opened, referral: Referral) -> str | None:
    closed = ReferralStatus(referral.status) in CLOSED_STATUSES
    if opened.withheld is None and opened.role is Role.receiver and closed:
        return "closed"
    return opened.withheld


def _check_codes(change: StatusChange) -> None:
    codes = REASONS.get(change.status)
    if codes is None and change.reason is not None:
        raise InvalidStatusChange(f"Status {change.status.value} takes no reason.")
    if codes is not None:
        allowed = sorted(code.value for code in codes)
        if change.reason not in allowed:
            raise InvalidStatusChange(
                f"Status {change.status.value} needs a reason: one of {', '.join(allowed)}."
            )
    if change.status is S.completed and change.outcome is None:
        raise InvalidStatusChange("Status completed needs an outcome.")
    if change.status is not S.completed and change.outcome is not None:
        raise InvalidStatusChange(f"Status {change.status.value} takes no outcome.")


def _seal_note(opened: Opened, note: str | None) -> bytes | None:
    if note is None:
        return None
    if opened.data_key is None:
        raise InvalidStatusChange(
            "Notes carry personal data, which this referral no longer shares with you."
        )
    event_row = opened.referral.id
    return crypto.seal(
        opened.data_key, note.encode(), table="referral_event", column="note", row=event_row
    )


async def add_note(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    body: NoteCreate,
) -> dict[str, Any]:
    opened = await _open(session, settings, principal, referral_id, lock=True)
    if not principal.has(SCOPE_OF_ROLE[opened.role]):
        raise InsufficientScope([SCOPE_OF_ROLE[opened.role].value])
    event = await _append(
        session, principal, opened.referral, "note_added", note=_seal_note(opened, body.note)
    )
    opened.referral.updated_at = datetime.now(UTC)
    await add(session, opened.referral)
    return _event_view(event, opened)


def _event_view(event: ReferralEvent, opened: Opened) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sequence": event.sequence,
        "at": event.at.isoformat(),
        "type": event.type,
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "status": event.status,
        "reason": event.reason,
        "outcome": event.outcome,
        "alternatives": [str(service) for service in event.alternatives]
        if event.alternatives is not None
        else None,
    }
    if event.note is not None:
        if opened.data_key is None:
            body["note_withheld"] = True
        else:
            body["note"] = crypto.open_sealed(
                opened.data_key,
                event.note,
                table="referral_event",
                column="note",
                row=opened.referral.id,
            ).decode()
    return {key: value for key, value in body.items() if value is not None}


async def events(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    opened = await _open(session, settings, principal, referral_id)
    found = await repository.events(session, opened.referral.id)
    await audit.record(
        session, principal, Action.read, "referral", [referral_id], _parties(opened.referral)
    )
    return {
        "data": [_event_view(event, opened) for event in found],
        "meta": {"referral_id": str(referral_id), "count": len(found)},
    }


async def erase(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    body: Erasure,
) -> dict[str, Any]:
    opened = await _open(session, settings, principal, referral_id, lock=True)
    if opened.role is not Role.sender:
        raise NotYourTransition("Only the organisation that sent a referral erases its data.")
    if not principal.has(Scope.referrals_send):
        raise InsufficientScope([Scope.referrals_send.value])
    now = datetime.now(UTC)
    if opened.referral.erased_at is None:
        await repository.erase(session, opened.referral.id, now, body.reason.value)
        await _append(
            session, principal, opened.referral, "personal_data_erased", reason=body.reason.value
        )
    referral = await repository.referral(session, principal.organization_id, referral_id)
    assert referral is not None
    return _view(referral, Role.sender, {}, "erased")


async def listing(
    session: AsyncSession,
    principal: Principal,
    *,
    box: Role,
    statuses: list[str],
    priorities: list[str],
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of sent or received referrals: ids, codes and times only, never personal data."""
    await act_as(session, principal.organization_id)
    if not principal.has(SCOPE_OF_ROLE[box]):
        raise InsufficientScope([SCOPE_OF_ROLE[box].value])
    after = read_time_cursor(cursor) if cursor else None
    rows = await repository.listing(
        session,
        principal.organization_id,
        sent=box is Role.sender,
        statuses=statuses,
        priorities=priorities,
        updated_since=updated_since,
        after=after,
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    await audit.record(
        session,
        principal,
        Action.list,
        "referral",
        [row.id for row in page],
        [principal.organization_id],
    )
    data = [_view(row, box, {}, "list") for row in page]
    for item in data:
        item.pop("personal_data_withheld", None)
    meta: dict[str, Any] = {"count": len(data), "limit": limit}
    if more:
        last = page[-1]
        meta["next_cursor"] = write_cursor(last.updated_at, last.id)
    return {"data": data, "meta": meta}


@dataclass
class Export:
    """What an export of a referral shows: the caller's view, its history, the two parties and
    the consent it rests on."""

    view: dict[str, Any]
    events: list[dict[str, Any]]
    sender: Organization
    receiver: Organization
    consent: Consent | None


async def export(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> Export:
    """The referral for an export. Even for its sender, only what the sharing profile shares:
    an export is what travels to the receiver (or an authority not on Relay)."""
    opened = await _open(session, settings, principal, referral_id)
    referral = opened.referral
    await audit.record(
        session, principal, Action.export, "referral", [referral.id], _parties(referral)
    )
    view = _view(referral, Role.receiver, _personal(opened), opened.withheld)
    view["role"] = opened.role.value
    found = await repository.events(session, referral.id)
    sender = await repository.organization(session, referral.from_organization_id)
    receiver = await repository.organization(session, referral.to_organization_id)
    assert sender is not None
    assert receiver is not None
    return Export(
        view,
        [_event_view(event, Opened(referral, opened.role, None, "export")) for event in found],
        sender,
        receiver,
        await repository.consent(session, referral.consent_id),
    )


WORKER_CLIENT = "relay-worker"
SWEEP_BATCH = 100
ALTERNATIVES = 3
SUGGESTING = Viewer(sees_partner_records=True, sees_confidential_locations=False)


async def _append_as_relay(
    session: AsyncSession, referral: Referral, kind: str, **fields: Any
) -> ReferralEvent:
    event = ReferralEvent(
        referral_id=referral.id,
        sequence=await repository.next_sequence(session, referral.id),
        organization_id=None,
        client_id=WORKER_CLIENT,
        type=kind,
        **fields,
    )
    await add(session, event)
    await partner_events.referral_changed(session, referral, kind, event.sequence)
    await audit.record(
        session, RELAY, AUDIT_ACTIONS[kind], "referral", [referral.id], _parties(referral)
    )
    return event


async def _alternatives(session: AsyncSession, referral: Referral) -> list[uuid.UUID]:
    """Other services accepting referrals for the same needs, nearest the target first."""
    position = await repository.service_position(session, referral.to_service_id)
    if position is None:
        return []
    filters = SearchFilters(needs=tuple(sorted(referral.needs)), accepts_referrals=True)
    query = NearestQuery(position[0], position[1], filters, None, ALTERNATIVES + 1)
    found = await search.nearest_found(session, SUGGESTING, query)
    ids = [item.candidate.service_id for item in found]
    return [service for service in ids if service != referral.to_service_id][:ALTERNATIVES]


async def flag_overdue(session: AsyncSession, settings: Settings) -> int:
    """Worker job: a referral not received by its due time gets an ``overdue`` event (for the
    sender, with alternatives), once."""
    await act_as_worker(session)
    now = datetime.now(UTC)
    found = await repository.overdue(session, now, limit=SWEEP_BATCH)
    for referral in found:
        referral.overdue_at = now
        referral.updated_at = now
        await add(session, referral)
        await _append_as_relay(
            session, referral, "overdue", alternatives=await _alternatives(session, referral)
        )
    return len(found)


async def purge_closed(session: AsyncSession, settings: Settings) -> int:
    """Worker job: closed referrals past the retention period lose the person's data."""
    await act_as_worker(session)
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=settings.referral_retention_days)
    found = await repository.closed_before(session, cutoff, limit=SWEEP_BATCH)
    reason = ErasureReason.retention_expired.value
    for referral in found:
        await repository.erase(session, referral.id, now, reason)
        await _append_as_relay(session, referral, "personal_data_erased", reason=reason)
    return len(found)
