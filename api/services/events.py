"""Events for partners: written to the outbox with the change they announce, numbered by the
worker once committed (``sequence``), read back through ``GET /v1/events`` and pushed by webhooks
(``api.services.delivery``).

An event says what happened to which id, with codes and times, and nothing about the person: a
receiver that wants the referral fetches it with its own token, and sees only what its role
and the consent allow at that moment.
"""

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.errors import Gone, InsufficientScope, Unprocessable
from api.models.events import EventType, OutboxEvent
from api.models.referral import Consent, Referral, ReferralEventType
from api.pagination import InvalidCursor, read_parts, write_cursor
from api.repositories import events as repository
from api.repositories import referrals as referral_repository
from api.repositories.base import act_as, act_as_worker

FEED_LIMIT = 500
SEQUENCE_BATCH = 5000
FEED_SCOPES = (Scope.referrals_send, Scope.referrals_receive, Scope.webhooks_manage)
# A referral_event's type to the partner event it becomes.
REFERRAL_EVENTS: dict[ReferralEventType, EventType] = {
    ReferralEventType.created: EventType.referral_created,
    ReferralEventType.status_changed: EventType.referral_status_changed,
    ReferralEventType.note_added: EventType.referral_note_added,
    ReferralEventType.overdue: EventType.referral_overdue,
    ReferralEventType.personal_data_erased: EventType.referral_erased,
}


class UnknownEventType(Unprocessable, code="unknown-event-type"): ...


class CursorExpired(Gone, code="cursor-expired"): ...


def _row(
    event_type: EventType,
    organization_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "organization_id": organization_id,
        "type": event_type.value,
        "subject_id": subject_id,
        "data": data,
    }


async def referral_changed(
    session: AsyncSession, referral: Referral, kind: ReferralEventType, sequence: int
) -> None:
    """Both parties of the referral hear of each step of it."""
    event_type = REFERRAL_EVENTS[kind]
    data = {
        "referral_id": str(referral.id),
        "sequence": sequence,
        "status": referral.status,
        "priority": referral.priority,
        "from_organization_id": str(referral.from_organization_id),
        "to_organization_id": str(referral.to_organization_id),
    }
    await repository.add_events(
        session,
        [
            _row(event_type, party, referral.id, data)
            for party in (referral.from_organization_id, referral.to_organization_id)
        ],
    )


async def consent_changed(session: AsyncSession, consent: Consent, event_type: EventType) -> None:
    """The organisation that recorded the consent hears of it; on withdrawal, so do the
    receivers of referrals resting on it (they must stop using the data)."""
    parties = [consent.organization_id]
    if event_type is EventType.consent_withdrawn:
        parties += await referral_repository.receivers_on_consent(session, consent.id)
    data = {"consent_id": str(consent.id), "state": event_type.value.split(".")[1]}
    await repository.add_events(
        session,
        [_row(event_type, party, consent.id, data) for party in dict.fromkeys(parties)],
    )


async def directory_changed(
    session: AsyncSession,
    *,
    resource: str,
    resource_id: uuid.UUID,
    organization_id: uuid.UUID,
    action: str,
    confidential: bool,
) -> None:
    """Every organisation hears of a change to a public or partner entry; a confidential
    entry's change goes to its own organisation only."""
    audience = organization_id if confidential else None
    await repository.add_events(
        session, [_directory_row(resource, resource_id, organization_id, action, audience)]
    )


def _directory_row(
    resource: str,
    resource_id: uuid.UUID,
    organization_id: uuid.UUID,
    action: str,
    audience: uuid.UUID | None,
) -> dict[str, Any]:
    data = {
        "resource": resource,
        "id": str(resource_id),
        "organization_id": str(organization_id),
        "action": action,
    }
    return _row(EventType.directory_changed, audience, resource_id, data)


async def public_services_changed(
    session: AsyncSession, changes: list[tuple[uuid.UUID, uuid.UUID, str]]
) -> None:
    """``directory.changed`` for many public services at once (an import's batch): each
    ``(service id, organisation id, "create" or "update")``, heard by every organisation."""
    if changes:
        await repository.add_events(
            session,
            [
                _directory_row("service", service_id, organization_id, action, None)
                for service_id, organization_id, action in changes
            ],
        )


async def directory_stale(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    organization_id: uuid.UUID,
    assured_date: date | None,
) -> None:
    """The organisation of an entry nobody confirmed for too long hears of it (alone)."""
    data = {
        "resource": "service",
        "id": str(service_id),
        "organization_id": str(organization_id),
        "assured_date": assured_date.isoformat() if assured_date else None,
    }
    await repository.add_events(
        session, [_row(EventType.directory_stale, organization_id, service_id, data)]
    )


async def webhook_disabled(
    session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID, reason: str
) -> None:
    data = {"webhook_id": str(subscription_id), "reason": reason}
    await repository.add_events(
        session, [_row(EventType.webhook_disabled, organization_id, subscription_id, data)]
    )


def message(event: OutboxEvent) -> dict[str, Any]:
    """An event as the feed lists it and a webhook posts it (Standard Webhooks' payload shape:
    ``type``, ``timestamp``, ``data``, plus the event's id)."""
    return {
        "id": f"evt_{event.id.hex}",
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "data": event.data,
    }


def parse_types(value: str | None) -> list[EventType]:
    if not value:
        return []
    found: list[EventType] = []
    for item in value.split(","):
        try:
            found.append(EventType(item.strip()))
        except ValueError:
            raise UnknownEventType(
                "Unknown event type; one of: " + ", ".join(sorted(t.value for t in EventType)),
                errors=[{"loc": ["query", "types"], "msg": "unknown event type", "type": "enum"}],
            ) from None
    return list(dict.fromkeys(found))


async def sequence(session: AsyncSession, settings: Settings) -> int:
    """Worker job: number the committed events not numbered yet, after the last number given,
    in the order they were written. One worker at a time (an advisory lock taken in its own
    statement, so the next statement's snapshot sees every number the previous holder gave).
    An event of a transaction still open is not visible here and is numbered on a later tick:
    nothing anywhere on the server can hold back the others. Returns how many."""
    await act_as_worker(session)
    if not await repository.try_sequence_lock(session):
        return 0  # another worker is numbering
    numbered = 0
    while True:
        batch = await repository.number_committed(
            session, await repository.last_seq(session), SEQUENCE_BATCH
        )
        numbered += batch
        if batch < SEQUENCE_BATCH:
            return numbered


async def read_cursor(session: AsyncSession, cursor: str) -> int:
    """The event number of a cursor this API gave: ``write_cursor(seq)``, or the former
    ``write_cursor(txid, position)``, read as the number of the event at that position."""
    try:
        parts = [int(part) for part in read_parts(cursor)]
    except ValueError:
        raise InvalidCursor("The cursor is not one this API gave.") from None
    if not 1 <= len(parts) <= 2 or min(parts) < 0 or max(parts) >= 2**63:
        raise InvalidCursor("The cursor is not one this API gave.")
    if len(parts) == 1:
        return parts[0]
    if parts == [0, 0]:
        return 0
    found = await repository.seq_at(session, parts[1])
    if found is None:
        raise CursorExpired(
            "This cursor names an event no longer kept; "
            "start again without a cursor and reconcile with GET /v1/referrals."
        )
    return found


async def feed(
    session: AsyncSession,
    principal: Principal,
    *,
    after: str | None,
    types: list[EventType],
    limit: int,
) -> dict[str, Any]:
    if not any(principal.has(scope) for scope in FEED_SCOPES):
        raise InsufficientScope([scope.value for scope in FEED_SCOPES])
    await act_as(session, principal.organization_id)
    seq = await read_cursor(session, after) if after else None
    if seq is not None and seq < await repository.horizon(session):
        raise CursorExpired(
            "Events after this cursor are past the retention period; "
            "start again without a cursor and reconcile with GET /v1/referrals."
        )
    found = await repository.feed(
        session,
        principal.organization_id,
        after=seq,
        types=[event_type.value for event_type in types],
        limit=limit,
    )
    if found:
        assert found[-1].seq is not None
        seq = found[-1].seq
    elif seq is None:
        # Nothing yet: a cursor of "now", so the next poll returns only what comes after.
        seq = await repository.last_visible(session, principal.organization_id) or 0
    return {
        "data": [message(event) for event in found],
        "meta": {
            "count": len(found),
            "limit": limit,
            "next_cursor": write_cursor(seq),
            "more": len(found) == limit,
        },
    }
