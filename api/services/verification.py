"""Keeping the directory true: an organisation (or the operator) confirms an entry "still
correct" in one step, and the worker flags the entries nobody confirmed for
``RELAY_DIRECTORY_STALE_DAYS``.

A confirmation is HSDS 3.1's verification: ``assured_date`` becomes today and
``assurer_email`` the confirming organisation's published address (never a person's: the field
is public), like any change it bumps the entry's version and leaves metadata, an audit event
and ``directory.changed``. The sweep tells the entry's own organisation once
(``directory.stale``) and lists the entry for the operator until someone confirms it; flagging
changes nothing partners read, so the entry's ETag stays.
"""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.errors import InsufficientScope
from api.models.directory import Service
from api.repositories import verification as repository
from api.repositories.base import act_as_worker
from api.repositories.verification import KeptEntry as KeptEntry
from api.repositories.verification import StaleEntry as StaleEntry
from api.services import events
from api.services.directory import ChangeLog, OrganizationNotWritable, to_change

SWEEP_BATCH = 500


async def confirm(
    session: AsyncSession, principal: Principal, service_id: uuid.UUID, if_match: str | None
) -> Service:
    """The service is still correct, says the caller (its organisation, or the operator)."""
    service = await to_change(session, principal, Service, service_id, if_match, required=False)
    today = datetime.now(UTC).date()
    email = await repository.organization_email(session, principal.organization_id)
    log = ChangeLog(principal, service)
    log.record("update", "assured_date", service.assured_date, today)
    if email != service.assurer_email:
        log.record("update", "assurer_email", service.assurer_email, email)
    service.assured_date = today
    service.assurer_email = email
    service.stale_since = None
    await log.save_change(session)
    return service


async def flag_stale(session: AsyncSession, settings: Settings) -> int:
    """Worker job: entries unchecked for ``RELAY_DIRECTORY_STALE_DAYS`` (never checked: since
    they were listed) are flagged, and their organisation hears of it once. Returns how many."""
    await act_as_worker(session)
    now = datetime.now(UTC)
    bound = now - timedelta(days=settings.directory_stale_days)
    found = await repository.check_due(session, bound.date(), bound, limit=SWEEP_BATCH)
    for service in found:
        service.stale_since = now
        await events.directory_stale(
            session,
            service_id=service.id,
            organization_id=service.organization_id,
            assured_date=service.assured_date,
        )
    await session.flush()
    return len(found)


async def stale_entries(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> tuple[list[StaleEntry], int]:
    """The operator's list of stale entries; an organisation's own for anyone else who writes
    the directory."""
    if principal.has(Scope.admin):
        owner = None
    elif principal.has(Scope.directory_write):
        owner = principal.organization_id
    else:
        raise InsufficientScope([Scope.directory_write.value])
    return await repository.stale(session, organization_id=owner, limit=limit, offset=offset)


def writer(principal: Principal) -> None:
    """Refuse a caller who may not keep directory entries (the pages' check; the API's routes
    declare the scope)."""
    if not principal.has(Scope.directory_write):
        raise InsufficientScope([Scope.directory_write.value])


async def entries(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID | None = None
) -> list[KeptEntry]:
    """The services an organisation keeps, for its directory page: the caller's own, or with
    ``admin`` any organisation's."""
    writer(principal)
    owner = organization_id or principal.organization_id
    if owner != principal.organization_id and not principal.has(Scope.admin):
        raise OrganizationNotWritable("No organisation with this id is yours to write.")
    return await repository.entries(session, owner)
