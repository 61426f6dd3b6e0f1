"""Moving a referral through its closed loop (the table in ``statuses``), notes between the two
organisations, and erasure of the person's data by the sender. Each appends to the history."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth.principal import Principal
from api.config import Settings
from api.models.referral import Box, Referral, ReferralEventType, ReferralStatus
from api.repositories import referrals as repository
from api.repositories.base import add
from api.schemas.referrals import Erasure, NoteCreate, StatusChange, WithheldBecause
from api.services.referrals.errors import (
    InvalidStatusChange,
    InvalidTransition,
    NotYourTransition,
)
from api.services.referrals.history import append
from api.services.referrals.statuses import CLOSED_STATUSES, STATUSES, TRANSITIONS
from api.services.referrals.views import (
    Opened,
    event_view,
    open_for,
    personal_data,
    require_scope,
    view,
)


async def change_status(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    change: StatusChange,
) -> dict[str, Any]:
    opened = await open_for(session, settings, principal, referral_id, lock=True)
    referral, box = opened.referral, opened.box
    require_scope(principal, box)
    allowed_from = TRANSITIONS.get((box, change.status))
    if allowed_from is None:
        raise NotYourTransition(f"The {box.role} of a referral cannot set it {change.status}.")
    current = ReferralStatus(referral.status)
    if current not in allowed_from:
        raise InvalidTransition(
            f"A {current.value} referral cannot become {change.status.value}.",
            allowed=sorted(
                target.value
                for (side, target), sources in TRANSITIONS.items()
                if side is box and current in sources
            ),
        )
    _check_codes(change)
    now = datetime.now(UTC)
    referral.status = change.status.value
    referral.updated_at = now
    if change.status in CLOSED_STATUSES:
        referral.closed_at = now
    await add(session, referral)
    await append(
        session,
        principal,
        referral,
        ReferralEventType.status_changed,
        status=change.status.value,
        reason=change.reason,
        outcome=change.outcome.value if change.outcome else None,
        note=_seal_note(opened, change.note),
    )
    return view(referral, box, personal_data(opened), _withheld_after(opened, referral))


def _withheld_after(opened: Opened, referral: Referral) -> WithheldBecause | None:
    closed = ReferralStatus(referral.status) in CLOSED_STATUSES
    if opened.withheld is None and opened.box is Box.received and closed:
        return WithheldBecause.closed
    return opened.withheld


def _check_codes(change: StatusChange) -> None:
    rule = STATUSES[change.status]
    if rule.reasons is None and change.reason is not None:
        raise InvalidStatusChange(f"Status {change.status.value} takes no reason.")
    if rule.reasons is not None:
        allowed = sorted(code.value for code in rule.reasons)
        if change.reason not in allowed:
            raise InvalidStatusChange(
                f"Status {change.status.value} needs a reason: one of {', '.join(allowed)}."
            )
    if rule.needs_outcome and change.outcome is None:
        raise InvalidStatusChange(f"Status {change.status.value} needs an outcome.")
    if not rule.needs_outcome and change.outcome is not None:
        raise InvalidStatusChange(f"Status {change.status.value} takes no outcome.")


def _seal_note(opened: Opened, note: str | None) -> bytes | None:
    if note is None:
        return None
    if opened.sealing_key is None:
        raise InvalidStatusChange(
            "Notes carry personal data, which this referral no longer shares with you."
        )
    event_row = opened.referral.id
    return crypto.seal(
        opened.sealing_key, note.encode(), table="referral_event", column="note", row=event_row
    )


async def add_note(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    body: NoteCreate,
) -> dict[str, Any]:
    opened = await open_for(session, settings, principal, referral_id, lock=True)
    require_scope(principal, opened.box)
    event = await append(
        session,
        principal,
        opened.referral,
        ReferralEventType.note_added,
        note=_seal_note(opened, body.note),
    )
    opened.referral.updated_at = datetime.now(UTC)
    await add(session, opened.referral)
    return event_view(event, opened)


async def erase(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    referral_id: uuid.UUID,
    body: Erasure,
) -> dict[str, Any]:
    opened = await open_for(session, settings, principal, referral_id, lock=True)
    if opened.box is not Box.sent:
        raise NotYourTransition("Only the organisation that sent a referral erases its data.")
    require_scope(principal, Box.sent)
    now = datetime.now(UTC)
    if opened.referral.erased_at is None:
        await repository.erase(session, opened.referral.id, now, body.reason.value)
        await append(
            session,
            principal,
            opened.referral,
            ReferralEventType.personal_data_erased,
            reason=body.reason.value,
        )
    referral = await repository.referral(session, principal.organization_id, referral_id)
    assert referral is not None
    return view(referral, Box.sent, {}, WithheldBecause.erased)
