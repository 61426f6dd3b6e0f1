"""The queries of the referral workspace (Relay's pages for people): drafts of referrals, the
receiving organisation's inbox in the order it is worked, its counts, and the sender's list with
the case reference of each consent. Each unit of work first calls ``act_as`` (row-level security
holds it to its organisation's rows)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.models.directory import Service, ServiceStatus, Visibility
from api.models.organization import Organization, OrganizationStatus
from api.models.referral import Consent, Priority, Referral, ReferralDraft, ReferralStatus
from api.repositories.base import names_by_id, one_or_none
from api.repositories.named_services import services_named

# Most pressing first: the FHIR priorities from stat down to routine.
PRIORITY_RANK = {
    Priority.stat.value: 0,
    Priority.asap.value: 1,
    Priority.urgent.value: 2,
    Priority.routine.value: 3,
}


async def draft(
    session: AsyncSession, draft_id: uuid.UUID, user_id: uuid.UUID, now: datetime, *, lock: bool
) -> ReferralDraft | None:
    """The person's draft, unless it has expired."""
    statement = select(ReferralDraft).where(
        col(ReferralDraft.id) == draft_id,
        col(ReferralDraft.user_id) == user_id,
        col(ReferralDraft.expires_at) > now,
    )
    return await one_or_none(session, statement, lock=lock)


async def add_draft(session: AsyncSession, row: ReferralDraft) -> bool:
    """Insert a new draft unless one with its id exists (whoever's: the id was a form's); True
    if it was inserted. A concurrent insert of the same id waits for the first to commit."""
    values = {
        column.name: getattr(row, column.name)
        for column in ReferralDraft.__table__.columns  # type: ignore[attr-defined]
        if getattr(row, column.name) is not None
    }
    inserted = await session.scalar(
        insert(ReferralDraft)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(ReferralDraft.id))
    )
    return inserted is not None


async def unsent_drafts(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, *, limit: int
) -> list[ReferralDraft]:
    """The person's drafts not sent yet and not expired, the latest first."""
    statement = (
        select(ReferralDraft)
        .where(
            col(ReferralDraft.user_id) == user_id,
            col(ReferralDraft.referral_id).is_(None),
            col(ReferralDraft.expires_at) > now,
        )
        .order_by(col(ReferralDraft.updated_at).desc())
        .limit(limit)
    )
    return list(await session.scalars(statement))


async def delete_draft(session: AsyncSession, draft_id: uuid.UUID) -> None:
    await session.execute(delete(ReferralDraft).where(col(ReferralDraft.id) == draft_id))


async def delete_expired_drafts(session: AsyncSession, now: datetime, *, limit: int) -> int:
    expired = (
        select(col(ReferralDraft.id))
        .where(col(ReferralDraft.expires_at) <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        delete(ReferralDraft)
        .where(col(ReferralDraft.id).in_(expired))
        .returning(col(ReferralDraft.id))
    )
    return len(result.all())


@dataclass(frozen=True)
class Line:
    """One referral of a list, with the names a person reads it by."""

    referral: Referral
    service: str
    other_party: str
    case_reference: str | None
    """The consent's subject reference: the sender's own case reference (None to the receiver)."""


def _open(statuses: frozenset[ReferralStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


def _received(
    organization_id: uuid.UUID, statuses: frozenset[ReferralStatus]
) -> Select[Referral, str, str]:
    """The organisation's received referrals in ``statuses``, with the service's and the
    sender's names."""
    return (
        select(Referral, col(Service.name), col(Organization.name))
        .join(Service, col(Service.id) == col(Referral.to_service_id))
        .join(Organization, col(Organization.id) == col(Referral.from_organization_id))
        .where(
            col(Referral.to_organization_id) == organization_id,
            col(Referral.status).in_(_open(statuses)),
        )
    )


async def _lines(session: AsyncSession, statement: Select[Referral, str, str]) -> list[Line]:
    rows = await session.execute(statement)
    return [Line(referral, service, sender, None) for referral, service, sender in rows]


async def inbox(
    session: AsyncSession,
    organization_id: uuid.UUID,
    open_statuses: frozenset[ReferralStatus],
    now: datetime,
    *,
    limit: int,
) -> list[Line]:
    """The open referrals the organisation received, in the order they are worked: overdue
    ones, then new ones (not received yet), then the rest; by priority, then due time."""
    new = col(Referral.status) == ReferralStatus.requested.value
    overdue = new & (col(Referral.due_at) <= now)
    statement = _received(organization_id, open_statuses).order_by(
        case((overdue, 0), (new, 1), else_=2),
        case(PRIORITY_RANK, value=col(Referral.priority), else_=9),
        col(Referral.due_at),
        col(Referral.id),
    )
    return await _lines(session, statement.limit(limit))


async def recently_closed(
    session: AsyncSession,
    organization_id: uuid.UUID,
    closed_statuses: frozenset[ReferralStatus],
    *,
    limit: int,
) -> list[Line]:
    """The organisation's received referrals closed last, the latest first."""
    statement = _received(organization_id, closed_statuses).order_by(
        col(Referral.updated_at).desc(), col(Referral.id)
    )
    return await _lines(session, statement.limit(limit))


async def sent(session: AsyncSession, organization_id: uuid.UUID, *, limit: int) -> list[Line]:
    """The referrals the organisation sent, the latest changed first, with each consent's case
    reference (the sender recorded it)."""
    statement = (
        select(Referral, col(Service.name), col(Organization.name), col(Consent.subject_ref))
        .join(Service, col(Service.id) == col(Referral.to_service_id))
        .join(Organization, col(Organization.id) == col(Referral.to_organization_id))
        .join(Consent, col(Consent.id) == col(Referral.consent_id))
        .where(col(Referral.from_organization_id) == organization_id)
        .order_by(col(Referral.updated_at).desc(), col(Referral.id))
        .limit(limit)
    )
    rows = await session.execute(statement)
    return [Line(*row) for row in rows]


async def inbox_counts(
    session: AsyncSession, organization_id: uuid.UUID, now: datetime
) -> tuple[int, int]:
    """How many received referrals are new (not received yet), and how many of those overdue."""
    waiting = (col(Referral.to_organization_id) == organization_id) & (
        col(Referral.status) == ReferralStatus.requested.value
    )
    statement = select(
        func.count().filter(waiting),
        func.count().filter(waiting & (col(Referral.due_at) <= now)),
    ).select_from(Referral)
    new, overdue = (await session.execute(statement)).one()
    return int(new), int(overdue)


async def service_names(
    session: AsyncSession, service_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    return await names_by_id(session, Service, service_ids)


async def names(session: AsyncSession, referral: Referral) -> tuple[str, str, str]:
    """The service, the sending and the receiving organisation's names of a referral."""
    sender, receiver = aliased(Organization), aliased(Organization)
    statement = (
        select(col(Service.name), col(sender.name), col(receiver.name))
        .select_from(Service)
        .join(sender, col(sender.id) == referral.from_organization_id)
        .join(receiver, col(receiver.id) == referral.to_organization_id)
        .where(col(Service.id) == referral.to_service_id)
    )
    service, sending, receiving = (await session.execute(statement)).one()
    return service, sending, receiving


async def subject_reference(session: AsyncSession, consent_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(col(Consent.subject_ref)).where(col(Consent.id) == consent_id)
    )


@dataclass(frozen=True)
class Chosen:
    """The service a draft refers to, with its organisation (for the consent: its name and
    kind)."""

    service_id: uuid.UUID
    service: str
    organization_id: uuid.UUID
    organization: str
    kind: str


async def chosen(session: AsyncSession, service_id: uuid.UUID) -> Chosen | None:
    """The service a referral may be sent to, or None: an active service, listed (not
    confidential: a shelter is reached through the hotline), of an active organisation, that
    accepts referrals. Anything else is not named on a page, whatever id a form posts."""
    statement = services_named(col(Organization.kind)).where(
        col(Service.id) == service_id,
        col(Service.status) == ServiceStatus.active.value,
        col(Service.visibility) != Visibility.confidential.value,
        col(Service.accepts_referrals).is_(True),
        col(Organization.status) == OrganizationStatus.active.value,
    )
    row = (await session.execute(statement)).one_or_none()
    return Chosen(*row) if row is not None else None
