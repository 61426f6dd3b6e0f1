"""What a caller may see of a referral: its side (``Box``), and the person's data only while the
sharing profile, the status, the consent and the data key allow, and only to a caller who may
read a person's data at all (``Principal.reads_personal_data``: never a volunteer, even of a
referral they sent). Reads (one referral, its history, a list, an export) are audited."""

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.errors import InsufficientScope
from api.filters import ReferralFilters
from api.models.organization import Organization
from api.models.referral import (
    Box,
    Consent,
    DataCategory,
    Referral,
    ReferralEvent,
    ReferralStatus,
    SharingProfile,
)
from api.pagination import read_time_cursor, write_cursor
from api.repositories import referrals as repository
from api.repositories.base import act_as
from api.schemas.referrals import ConsentState, WithheldBecause
from api.services import audit, consents
from api.services.audit import Action
from api.services.consents import PROFILE_CATEGORIES
from api.services.referrals.errors import ReferralNotFound
from api.services.referrals.history import parties
from api.services.referrals.statuses import CLOSED_STATUSES

LIST_LIMIT = 100
SCOPE_OF_BOX = {Box.sent: Scope.referrals_send, Box.received: Scope.referrals_receive}


@dataclass
class Opened:
    """A referral as the caller may see it: its side, and the data key when it may read."""

    referral: Referral
    box: Box
    data_key: bytes | None
    withheld: WithheldBecause | None  # why the caller sees no personal data
    sealing_key: bytes | None = None
    """The data key to seal what the caller adds (a note), when the referral still shares
    data with its side: a volunteer writes notes they cannot read back."""


async def open_for(
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
    box = Box.sent if referral.from_organization_id == principal.organization_id else Box.received
    if not (principal.has(Scope.referrals_send) or principal.has(Scope.referrals_receive)):
        raise InsufficientScope([SCOPE_OF_BOX[box].value])
    withheld = None
    if referral.erased_at is not None:
        withheld = WithheldBecause.erased
    elif box is Box.received:
        if ReferralStatus(referral.status) in CLOSED_STATUSES:
            withheld = WithheldBecause.closed
        else:
            consent = await repository.consent(session, referral.consent_id)
            current = consents.state(consent, datetime.now(UTC)) if consent else None
            if current is not ConsentState.active:
                withheld = WithheldBecause(f"consent_{current.value if current else 'missing'}")
    data_key = None
    if withheld is None:
        key = await repository.key_of(session, referral.id)
        if key is None:
            withheld = WithheldBecause.erased
        else:
            data_key = settings.master.unwrap(key.wrapped_key, key.master_version, referral.id)
    if withheld is None and not principal.reads_personal_data:
        return Opened(referral, box, None, WithheldBecause.not_for_your_role, data_key)
    return Opened(referral, box, data_key, withheld, data_key)


def withheld_for(principal: Principal) -> WithheldBecause | None:
    """Why ``principal`` sees no person's data of any referral (None: the referral decides)."""
    return None if principal.reads_personal_data else WithheldBecause.not_for_your_role


def require_scope(principal: Principal, box: Box) -> None:
    """The scope of the caller's side: sending to act as the sender, receiving as the receiver."""
    if not principal.has(SCOPE_OF_BOX[box]):
        raise InsufficientScope([SCOPE_OF_BOX[box].value])


def personal_data(opened: Opened) -> dict[DataCategory, dict[str, Any]]:
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


def summary(referral: Referral, box: Box) -> dict[str, Any]:
    """A referral without any personal data: ids, codes and times, as lists show it."""
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
        "role": box.role.value,
    }
    if referral.erased_at is not None:
        body["erased_at"] = referral.erased_at.isoformat()
    return body


def view(
    referral: Referral,
    box: Box,
    personal: dict[DataCategory, dict[str, Any]],
    withheld: WithheldBecause | None,
) -> dict[str, Any]:
    """A referral as the caller's side may see it: the sharing profile's personal data, or why
    none is shown."""
    body = summary(referral, box)
    if withheld is not None:
        body["personal_data_withheld"] = withheld.value
        return body
    shared = PROFILE_CATEGORIES[SharingProfile(referral.sharing_profile)]
    visible = {c: f for c, f in personal.items() if box is Box.sent or c in shared}
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


def event_view(event: ReferralEvent, opened: Opened) -> dict[str, Any]:
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


async def get(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    opened = await open_for(session, settings, principal, referral_id)
    await audit.record(
        session, principal, Action.read, "referral", [referral_id], parties(opened.referral)
    )
    return view(opened.referral, opened.box, personal_data(opened), opened.withheld)


async def events(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    opened = await open_for(session, settings, principal, referral_id)
    found = await repository.events(session, opened.referral.id)
    await audit.record(
        session, principal, Action.read, "referral", [referral_id], parties(opened.referral)
    )
    return {
        "data": [event_view(event, opened) for event in found],
        "meta": {"referral_id": str(referral_id), "count": len(found)},
    }


async def listing(
    session: AsyncSession,
    principal: Principal,
    filters: ReferralFilters,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of sent or received referrals: ids, codes and times only, never personal data."""
    await act_as(session, principal.organization_id)
    require_scope(principal, filters.box)
    after = read_time_cursor(cursor) if cursor else None
    rows = await repository.listing(
        session, principal.organization_id, filters, after=after, limit=limit + 1
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
    data = [summary(row, filters.box) for row in page]
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
    opened = await open_for(session, settings, principal, referral_id)
    referral = opened.referral
    await audit.record(
        session, principal, Action.export, "referral", [referral.id], parties(referral)
    )
    shown = view(referral, Box.received, personal_data(opened), opened.withheld)
    shown["role"] = opened.box.role.value
    found = await repository.events(session, referral.id)
    sender = await repository.organization(session, referral.from_organization_id)
    receiver = await repository.organization(session, referral.to_organization_id)
    assert sender is not None
    assert receiver is not None
    return Export(
        shown,
        # No note's text in an export (note_withheld): it travels beyond the two organisations.
        [event_view(event, replace(opened, data_key=None)) for event in found],
        sender,
        receiver,
        await repository.consent(session, referral.consent_id),
    )
