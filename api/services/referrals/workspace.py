"""What the referral workspace's pages show (issue 21): the receiving organisation's inbox in
the order it is worked, with its counts; the sender's list, with each case reference; and one
referral's case file: the view its side may see (``views``), its loop with times, the
alternatives an overdue mark suggested, and the moves the status table allows this side now.
Reads are audited as the API's are: a list as a list, a case file as one read."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.models.referral import Box, ReferralStatus
from api.repositories import referrals as referral_repository
from api.repositories import workspace as repository
from api.repositories.base import act_as
from api.repositories.workspace import Line
from api.services import audit
from api.services.audit import Action
from api.services.referrals.history import parties
from api.services.referrals.statuses import CLOSED_STATUSES, STATUSES, TRANSITIONS
from api.services.referrals.views import (
    event_view,
    open_for,
    personal_data,
    require_scope,
    view,
)

LISTED = 100
CLOSED_LISTED = 20
OPEN_STATUSES = frozenset(ReferralStatus) - CLOSED_STATUSES


@dataclass(frozen=True)
class Counts:
    new: int
    overdue: int


@dataclass(frozen=True)
class Move:
    """A status this side may set now, with the codes it needs."""

    status: ReferralStatus
    reasons: tuple[str, ...]
    needs_outcome: bool


@dataclass(frozen=True)
class CaseFile:
    referral: dict[str, Any]
    """The referral as this side may see it (``views.view``)."""
    box: Box
    events: list[dict[str, Any]]
    service: str
    sender: str
    receiver: str
    case_reference: str | None
    """The sender's case reference (the consent's): shown to the sender only."""
    alternatives: dict[str, str]
    """Services an overdue mark suggested: id -> name."""
    moves: list[Move]
    overdue: bool
    notes_allowed: bool


def overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """Not received by its due time."""
    return status == ReferralStatus.requested.value and due_at <= now


def moves(box: Box, status: ReferralStatus) -> list[Move]:
    """What this side may do next, in the status table's order."""
    return [
        Move(
            target,
            tuple(code.value for code in rule.reasons) if rule.reasons else (),
            rule.needs_outcome,
        )
        for target, rule in STATUSES.items()
        if rule.set_by is box and status in TRANSITIONS[(box, target)]
    ]


async def counts(session: AsyncSession, principal: Principal) -> Counts | None:
    """New and overdue referrals waiting for the organisation (None: this person does not
    receive referrals)."""
    if not principal.has(Scope.referrals_receive):
        return None
    await act_as(session, principal.organization_id)
    new, late = await repository.inbox_counts(session, principal.organization_id, datetime.now(UTC))
    return Counts(new, late)


async def inbox(session: AsyncSession, principal: Principal) -> tuple[list[Line], list[Line]]:
    """The open referrals received (overdue, new, then the rest, by priority) and the last
    closed ones."""
    await act_as(session, principal.organization_id)
    require_scope(principal, Box.received)
    now = datetime.now(UTC)
    working = await repository.inbox(
        session, principal.organization_id, OPEN_STATUSES, now, limit=LISTED
    )
    closed = await repository.recently_closed(
        session, principal.organization_id, CLOSED_STATUSES, limit=CLOSED_LISTED
    )
    await _audit_list(session, principal, [*working, *closed])
    return working, closed


async def sent(session: AsyncSession, principal: Principal) -> list[Line]:
    """The referrals the organisation sent, with their case references."""
    await act_as(session, principal.organization_id)
    require_scope(principal, Box.sent)
    found = await repository.sent(session, principal.organization_id, limit=LISTED)
    await _audit_list(session, principal, found)
    return found


async def _audit_list(session: AsyncSession, principal: Principal, lines: list[Line]) -> None:
    await audit.record(
        session,
        principal,
        Action.list,
        "referral",
        [line.referral.id for line in lines],
        [principal.organization_id],
    )


async def case_file(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> CaseFile:
    opened = await open_for(session, settings, principal, referral_id)
    referral, box = opened.referral, opened.box
    require_scope(principal, box)
    await audit.record(
        session, principal, Action.read, "referral", [referral.id], parties(referral)
    )
    found = await referral_repository.events(session, referral.id)
    suggested = sorted(
        {service for event in found for service in (event.alternatives or [])}, key=str
    )
    names = await repository.service_names(session, suggested)
    service, sender, receiver = await repository.names(session, referral)
    reference = (
        await repository.subject_reference(session, referral.consent_id)
        if box is Box.sent
        else None
    )
    status = ReferralStatus(referral.status)
    return CaseFile(
        referral=view(referral, box, personal_data(opened), opened.withheld),
        box=box,
        events=[event_view(event, opened) for event in found],
        service=service,
        sender=sender,
        receiver=receiver,
        case_reference=reference,
        alternatives={str(key): value for key, value in names.items()},
        moves=moves(box, status),
        overdue=overdue(referral.status, referral.due_at, datetime.now(UTC)),
        notes_allowed=opened.sealing_key is not None and status not in CLOSED_STATUSES,
    )
