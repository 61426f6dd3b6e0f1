"""The worker's jobs on referrals: flag those not received in time (suggesting other services),
and erase the person's data of those closed longer than the retention period."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.config import Settings
from api.models.referral import Referral, ReferralEventType
from api.repositories import referrals as repository
from api.repositories.base import act_as_worker, add
from api.repositories.search import SearchFilters
from api.schemas.referrals import ErasureReason
from api.services import search
from api.services.audit import RELAY
from api.services.referrals.history import append
from api.services.search import NearestQuery

SWEEP_BATCH = 100
ALTERNATIVES = 3
SUGGESTING = Viewer(sees_partner_records=True, cleared=False)


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
        await append(
            session,
            RELAY,
            referral,
            ReferralEventType.overdue,
            alternatives=await _alternatives(session, referral),
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
        await append(
            session, RELAY, referral, ReferralEventType.personal_data_erased, reason=reason
        )
    return len(found)
