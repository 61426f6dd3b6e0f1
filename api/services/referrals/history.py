"""A referral's history: each step appends a ``referral_event``, tells both parties (the partner
event feed and webhooks) and enters the audit trail, in the same transaction."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.models.referral import Referral, ReferralEvent, ReferralEventType
from api.repositories import referrals as repository
from api.repositories.base import add
from api.services import audit
from api.services import events as partner_events
from api.services.audit import Action, Actor

AUDIT_ACTIONS: dict[ReferralEventType, Action] = {
    ReferralEventType.created: Action.create,
    ReferralEventType.status_changed: Action.transition,
    ReferralEventType.note_added: Action.update,
    ReferralEventType.overdue: Action.update,
    ReferralEventType.personal_data_erased: Action.erase,
}


def parties(referral: Referral) -> list[uuid.UUID]:
    return [referral.from_organization_id, referral.to_organization_id]


async def append(
    session: AsyncSession,
    actor: Principal | Actor,
    referral: Referral,
    kind: ReferralEventType,
    **fields: Any,
) -> ReferralEvent:
    """Append one event (``fields``: its status, reason, outcome, note or alternatives). The
    actor is a partner's principal, or Relay itself (``audit.RELAY``: the worker's sweeps)."""
    who = Actor.of(actor) if isinstance(actor, Principal) else actor
    assert who.client_id is not None  # a partner's client, or the worker's
    first = kind is ReferralEventType.created  # the first event of a new referral: nothing to count
    event = ReferralEvent(
        referral_id=referral.id,
        sequence=1 if first else await repository.next_sequence(session, referral.id),
        organization_id=who.organization_id,
        client_id=who.client_id,
        acting_user=who.acting_user,
        type=kind.value,
        **fields,
    )
    await add(session, event)
    await partner_events.referral_changed(session, referral, kind, event.sequence)
    await audit.record(
        session, actor, AUDIT_ACTIONS[kind], "referral", [referral.id], parties(referral)
    )
    return event
