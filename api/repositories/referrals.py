"""Every query on consents and referrals. Partner reads start from ``readable_consents`` and
``readable_referrals``; each unit of work first calls ``api.repositories.base.act_as`` so that
the database's row-level security (migration 0008) holds the request to its organisation's rows
as well."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.filters import ReferralFilters
from api.models.directory import (
    Attribute,
    Location,
    Service,
    ServiceAtLocation,
    ServiceCapacity,
    TaxonomyTerm,
    Visibility,
)
from api.models.organization import Organization
from api.models.referral import (
    Box,
    Consent,
    IdempotencyRecord,
    Referral,
    ReferralEvent,
    ReferralKey,
    ReferralStatus,
)
from api.repositories import areas
from api.repositories.base import one_or_none


def readable_consents(organization_id: uuid.UUID) -> Select[Consent]:
    """The consents an organisation may see: those it recorded."""
    return select(Consent).where(col(Consent.organization_id) == organization_id)


def readable_referrals(organization_id: uuid.UUID) -> Select[Referral]:
    """The referrals an organisation may see: those it sent or received."""
    return select(Referral).where(
        or_(
            col(Referral.from_organization_id) == organization_id,
            col(Referral.to_organization_id) == organization_id,
        )
    )


async def own_consent(
    session: AsyncSession, organization_id: uuid.UUID, consent_id: uuid.UUID
) -> Consent | None:
    found = await session.execute(
        readable_consents(organization_id).where(col(Consent.id) == consent_id)
    )
    return found.scalar_one_or_none()


async def consent(session: AsyncSession, consent_id: uuid.UUID) -> Consent | None:
    return await session.get(Consent, consent_id, populate_existing=True)


async def withdraw_consent(
    session: AsyncSession, consent_id: uuid.UUID, at: datetime, reason: str
) -> None:
    await session.execute(
        update(Consent)
        .where(col(Consent.id) == consent_id, col(Consent.withdrawn_at).is_(None))
        .values(withdrawn_at=at, withdrawal_reason=reason)
    )


@dataclass(frozen=True)
class TargetService:
    id: uuid.UUID
    status: str
    visibility: str
    accepts_referrals: bool
    minimum_age: int | None
    maximum_age: int | None
    genders: list[str]


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    kind: str
    status: str


@dataclass(frozen=True)
class Target:
    """The service a referral is sent to, with what the rules check."""

    service: TargetService
    organization: Recipient
    needs: frozenset[str]
    available: int | None  # places free now, when the service publishes capacity


async def target(session: AsyncSession, service_id: uuid.UUID) -> Target | None:
    """The service, its organisation, its needs and its free capacity, in one statement."""
    needs = (
        select(func.array_agg(col(TaxonomyTerm.code)))
        .join(Attribute, col(Attribute.taxonomy_term_id) == col(TaxonomyTerm.id))
        .where(col(Attribute.link_entity) == "service", col(Attribute.link_id) == col(Service.id))
        .scalar_subquery()
    )
    available = (
        select(func.sum(col(ServiceCapacity.available)))
        .where(col(ServiceCapacity.service_id) == col(Service.id))
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                col(Service.id),
                col(Service.status),
                col(Service.visibility),
                col(Service.accepts_referrals),
                col(Service.minimum_age),
                col(Service.maximum_age),
                col(Service.genders),
                col(Organization.id),
                col(Organization.kind),
                col(Organization.status),
                needs,
                available,
            )
            .join(Organization, col(Organization.id) == col(Service.organization_id))
            .where(col(Service.id) == service_id)
        )
    ).first()
    if row is None:
        return None
    return Target(
        TargetService(*row[:6], genders=list(row[6] or [])),
        Recipient(*row[7:10]),
        frozenset(row[10] or ()),
        None if row[11] is None else int(row[11]),
    )


async def idempotency_record(
    session: AsyncSession, organization_id: uuid.UUID, key: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (organization_id, key))


async def referral(
    session: AsyncSession, organization_id: uuid.UUID, referral_id: uuid.UUID, *, lock: bool = False
) -> Referral | None:
    """The referral, if ``organization_id`` sent or received it."""
    statement = readable_referrals(organization_id).where(col(Referral.id) == referral_id)
    return await one_or_none(
        session, statement.execution_options(populate_existing=True), lock=lock
    )


async def key_of(session: AsyncSession, referral_id: uuid.UUID) -> ReferralKey | None:
    return await session.get(ReferralKey, referral_id, populate_existing=True)


async def events(session: AsyncSession, referral_id: uuid.UUID) -> list[ReferralEvent]:
    rows = await session.scalars(
        select(ReferralEvent)
        .where(col(ReferralEvent.referral_id) == referral_id)
        .order_by(col(ReferralEvent.sequence))
    )
    return list(rows)


async def next_sequence(session: AsyncSession, referral_id: uuid.UUID) -> int:
    """The next event number (the caller holds the referral's row lock)."""
    last = await session.scalar(
        select(func.max(col(ReferralEvent.sequence))).where(
            col(ReferralEvent.referral_id) == referral_id
        )
    )
    return (last or 0) + 1


async def erase(session: AsyncSession, referral_id: uuid.UUID, at: datetime, reason: str) -> None:
    """Shred the referral's personal data: its data key goes, and the ciphertext with it."""
    await session.execute(
        ReferralKey.__table__.delete().where(  # type: ignore[attr-defined]
            ReferralKey.__table__.c.referral_id == referral_id  # type: ignore[attr-defined]
        )
    )
    await session.execute(
        update(Referral)
        .where(col(Referral.id) == referral_id)
        .values(personal_data=None, erased_at=at, erasure_reason=reason, updated_at=at)
    )


async def listing(
    session: AsyncSession,
    organization_id: uuid.UUID,
    filters: ReferralFilters,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Referral]:
    """A page of the organisation's sent or received referrals, most recently updated first."""
    sent = filters.box is Box.sent
    party = col(Referral.from_organization_id if sent else Referral.to_organization_id)
    statement = readable_referrals(organization_id).where(party == organization_id)
    if filters.statuses:
        statement = statement.where(col(Referral.status).in_(filters.statuses))
    if filters.priorities:
        statement = statement.where(col(Referral.priority).in_(filters.priorities))
    if filters.updated_since is not None:
        statement = statement.where(col(Referral.updated_at) >= filters.updated_since)
    if after is not None:
        statement = statement.where(
            func.row(col(Referral.updated_at), col(Referral.id))
            < func.row(literal(after[0]), literal(after[1]))
        )
    statement = statement.order_by(col(Referral.updated_at).desc(), col(Referral.id).desc())
    return list(await session.scalars(statement.limit(limit)))


async def insert_idempotency(session: AsyncSession, record: IdempotencyRecord) -> None:
    await session.execute(
        insert(IdempotencyRecord)
        .values(
            organization_id=record.organization_id,
            key=record.key,
            request_hash=record.request_hash,
            referral_id=record.referral_id,
        )
        .on_conflict_do_nothing()
    )


async def keys_not_wrapped_by(
    session: AsyncSession, version: int, *, limit: int
) -> list[ReferralKey]:
    rows = await session.scalars(
        select(ReferralKey)
        .where(col(ReferralKey.master_version) != version)
        .order_by(col(ReferralKey.referral_id))
        .limit(limit)
        .with_for_update()
    )
    return list(rows)


async def count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ReferralKey)) or 0)


async def organization(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def organization_names(session: AsyncSession, organization_ids: list[uuid.UUID]) -> list[str]:
    """The names of these organisations (those that exist), in alphabetical order."""
    if not organization_ids:
        return []
    names = await session.scalars(
        select(col(Organization.name))
        .where(col(Organization.id).in_(organization_ids))
        .order_by(col(Organization.name))
    )
    return list(names)


async def overdue(session: AsyncSession, now: datetime, *, limit: int) -> list[Referral]:
    """Referrals not yet received by their due time and not yet flagged (locked, skipping rows
    another worker holds, so two workers never flag one twice)."""
    rows = await session.scalars(
        select(Referral)
        .where(
            col(Referral.status) == ReferralStatus.requested.value,
            col(Referral.due_at) < now,
            col(Referral.overdue_at).is_(None),
        )
        .order_by(col(Referral.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def closed_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> list[Referral]:
    """Closed referrals past retention whose data is not yet erased (locked, skip locked)."""
    rows = await session.scalars(
        select(Referral)
        .where(col(Referral.closed_at) < cutoff, col(Referral.erased_at).is_(None))
        .order_by(col(Referral.closed_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def service_position(
    session: AsyncSession, service_id: uuid.UUID
) -> tuple[float, float] | None:
    """Where a service is (its first place), for suggesting alternatives near it. For a
    confidential place, a point inside the area it is listed in: the suggestions must not
    outline a shelter's position."""
    first_place = (
        select(
            col(Location.latitude),
            col(Location.longitude),
            col(Location.visibility),
            col(Location.admin_area_id),
        )
        .join(ServiceAtLocation, col(ServiceAtLocation.location_id) == col(Location.id))
        .where(col(ServiceAtLocation.service_id) == service_id, col(Location.latitude).is_not(None))
        .order_by(col(Location.id))
        .limit(1)
    )
    row = (await session.execute(first_place)).first()
    if row is None:
        return None
    latitude, longitude, visibility, area_id = row
    if visibility == Visibility.confidential.value:
        if area_id is None:
            return None
        return await areas.stand_in_point(session, area_id)
    if latitude is None or longitude is None:
        return None
    return float(latitude), float(longitude)


async def receivers_on_consent(session: AsyncSession, consent_id: uuid.UUID) -> list[uuid.UUID]:
    """The organisations that received a referral resting on this consent."""
    found = await session.scalars(
        select(col(Referral.to_organization_id))
        .where(col(Referral.consent_id) == consent_id)
        .distinct()
    )
    return list(found.all())
