"""Reports of a wrong directory entry: anyone reading a lookup card or a pathway line may say
the number is wrong, the place closed or moved (with an optional correction). No personal data
is asked or kept: not the address (the throttle counts a keyed hash of it, elsewhere, and
forgets it within the hour), not a session, not a name. A report is never published: it waits
in the review queue of the entry's organisation (its admins) and of the operator, who accept it
(having corrected the entry) or dismiss it.

Throttled per address: ``RELAY_REPORTS_PER_ADDRESS`` per ``RELAY_REPORT_ADDRESS_WINDOW_SECONDS``
(5 an hour), so that nobody can fill a queue.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.errors import Conflict, InsufficientScope, NotFound
from api.models.directory import DirectoryReport, ReportReason, ReportStatus
from api.repositories import reports as repository
from api.repositories.reports import QueuedReport as QueuedReport
from api.repositories.reports import Reportable as Reportable
from api.services import audit
from api.services.audit import Action
from api.services.people import throttle

MAXIMUM_CORRECTION = 300
# The operator's queue also shows, apart, what organisations have left waiting this long.
UNANSWERED_AFTER = timedelta(days=7)


class ReportedServiceNotFound(NotFound, code="reported-service-not-found"): ...


class ReportNotFound(NotFound, code="report-not-found"): ...


class ReportAlreadyResolved(Conflict, code="report-already-resolved"): ...


@dataclass(frozen=True)
class Throttled:
    retry_after: float


async def reportable(session: AsyncSession, service_id: uuid.UUID) -> Reportable:
    found = await repository.reportable(session, service_id)
    if found is None:
        raise ReportedServiceNotFound("No service with this id is shown on the lookup pages.")
    return found


def correction_of(text: str) -> str | None:
    """The correction as kept: printable characters, spaces collapsed, at most
    ``MAXIMUM_CORRECTION`` characters; None when empty."""
    kept = " ".join("".join(char for char in text if char.isprintable()).split())
    return kept[:MAXIMUM_CORRECTION] or None


async def report(
    session: AsyncSession,
    settings: Settings,
    service_id: uuid.UUID,
    reason: ReportReason,
    correction: str | None,
    address: str | None,
) -> DirectoryReport | Throttled:
    """File an anonymous report (or say how long the address must wait first)."""
    service = await reportable(session, service_id)
    wait = await throttle.spend(
        session,
        settings,
        "report",
        address,
        datetime.now(UTC),
        allowed=settings.reports_per_address,
        window_seconds=settings.report_address_window_seconds,
    )
    if wait > 0:
        return Throttled(wait)
    filed = DirectoryReport(
        service_id=service.id,
        organization_id=service.organization_id,
        reason=reason.value,
        correction=correction_of(correction or ""),
    )
    await repository.add(session, filed)
    return filed


def _reviewer(principal: Principal, organization_id: uuid.UUID | None) -> uuid.UUID | None:
    """Whose queue the caller reviews: the operator any (``organization_id``, None: all), an
    organisation that writes the directory its own."""
    if principal.has(Scope.admin):
        return organization_id
    if principal.has(Scope.directory_write):
        return principal.organization_id
    raise InsufficientScope([Scope.directory_write.value])


async def queue(
    session: AsyncSession,
    principal: Principal,
    *,
    organization_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
) -> tuple[list[QueuedReport], int]:
    """The open reports the caller reviews, oldest first (at most 200) and how many."""
    owner = _reviewer(principal, organization_id)
    return await repository.queue(session, organization_id=owner, service_id=service_id)


async def unanswered(session: AsyncSession, principal: Principal) -> tuple[list[QueuedReport], int]:
    """The operator's: reports organisations have left open longer than ``UNANSWERED_AFTER``."""
    if not principal.has(Scope.admin):
        raise InsufficientScope([Scope.admin.value])
    return await repository.queue(
        session, organization_id=None, older_than=datetime.now(UTC) - UNANSWERED_AFTER
    )


async def resolve(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID, *, accepted: bool
) -> DirectoryReport:
    """Accept (the entry was corrected) or dismiss a report of the caller's queue, once."""
    owner = None if principal.has(Scope.admin) else _reviewer(principal, None)
    found = await repository.lock(session, report_id, owner)
    if found is None:
        raise ReportNotFound("No report with this id waits in your queue.")
    if found.status != ReportStatus.open.value:
        raise ReportAlreadyResolved("This report was already accepted or dismissed.")
    found.status = (ReportStatus.accepted if accepted else ReportStatus.dismissed).value
    found.resolved_at = datetime.now(UTC)
    found.resolved_by = principal.acting_user or principal.client_id
    await session.flush()
    await audit.record(
        session, principal, Action.update, "directory_report", [found.id], [found.organization_id]
    )
    return found
