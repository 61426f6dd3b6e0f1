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
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.errors import InsufficientScope
from api.models.directory import Location, Service, Visibility
from api.repositories import verification as repository
from api.repositories.base import act_as_worker
from api.repositories.verification import KeptEntry as KeptEntry
from api.repositories.verification import StaleEntry as StaleEntry
from api.services import events
from api.services.directory import ChangeLog, OrganizationNotWritable, to_change
from api.services.hsds_presenter import Nester

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


def _kept_by(principal: Principal, organization_id: uuid.UUID | None) -> uuid.UUID:
    """The organisation whose entries the caller keeps: its own, or with ``admin`` any."""
    writer(principal)
    owner = organization_id or principal.organization_id
    if owner != principal.organization_id and not principal.has(Scope.admin):
        raise OrganizationNotWritable("No organisation with this id is yours to write.")
    return owner


async def entries(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID | None = None
) -> list[KeptEntry]:
    """The services an organisation keeps, for its directory page: the caller's own, or with
    ``admin`` any organisation's."""
    return await repository.entries(session, _kept_by(principal, organization_id))


async def places(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """The locations an organisation keeps, for its directory page (as ``entries``), shaped as
    HSDS shows them to the caller (``places_shown``)."""
    found = await repository.kept_locations(session, _kept_by(principal, organization_id))
    return await places_shown(session, principal, found)


async def places_shown(
    session: AsyncSession, principal: Principal, locations: Sequence[Location]
) -> list[dict[str, Any]]:
    """Locations as HSDS shows them to the caller, with their address: a confidential one is
    redacted for a caller not cleared to locate it (no name, position or address, as search
    and ``/hsds`` answer), even its own organisation's admin (``api/auth/roles.py``);
    ``position_withheld``: whether the public and partners not cleared are told its area only."""
    shaped = await Nester(session, Viewer.of(principal)).locations(locations)
    return [
        shaped[location.id]
        | {"position_withheld": location.visibility == Visibility.confidential.value}
        for location in locations
    ]
