"""Onboarding partner organisations, and suspending them (operator only).

A suspended organisation's tokens and people's sessions stop working at once (each checks the
organisation's status on every use), its services leave every list, search and saved area, and
no referral may be sent to it (as for any organisation that is not active); partners hear
``directory.changed`` for the organisation; reactivating it brings all of that back. Relay's
operating organisation is never suspended: its people are the only ones who could reactivate
it.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.errors import Conflict, InsufficientScope, NotFound
from api.models.organization import Organization, OrganizationStatus
from api.repositories import organizations as repository
from api.schemas.organizations import OrganizationCreate
from api.services import audit, events
from api.services.audit import Action


class OrganizationNotFound(
    NotFound, code="organization-not-found", title="Organisation not found"
): ...


class OperatorExists(Conflict, code="operator-organization-exists"): ...


class OperatorStaysActive(Conflict, code="operator-organization-stays-active"): ...


class StatusUnchanged(Conflict, code="organization-status-unchanged"): ...


def operator_only(principal: Principal) -> None:
    """What only the operator does (scope ``admin``): a page refuses anyone else with 403, as
    the API's ``/v1/admin`` routes do."""
    if not principal.has(Scope.admin):
        raise InsufficientScope([Scope.admin.value])


async def create(
    session: AsyncSession, body: OrganizationCreate, *, operator: bool = False
) -> Organization:
    """A partner organisation; with ``operator``, Relay's operating organisation (there is one
    at most: its people are the operators, ``api/services/people/accounts.py``)."""
    if operator and await repository.operator(session) is not None:
        raise OperatorExists("Relay already has an operating organisation.")
    return await repository.add(
        session, Organization(name=body.name, kind=body.kind.value, operator=operator)
    )


async def register(
    session: AsyncSession, principal: Principal, body: OrganizationCreate
) -> Organization:
    """A partner organisation registered by the operator, audited."""
    operator_only(principal)
    created = await create(session, body)
    await audit.record(
        session, principal, Action.admin_create, "organization", [created.id], [created.id]
    )
    return created


async def set_status(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    status: OrganizationStatus,
) -> Organization:
    """Suspend or reactivate an organisation (409 when it already is so), audited."""
    operator_only(principal)
    organization = await get(session, organization_id)
    if organization.operator and status is not OrganizationStatus.active:
        raise OperatorStaysActive("Relay's operating organisation cannot be suspended.")
    if organization.status == status.value:
        raise StatusUnchanged(f"The organisation is {status.value} already.")
    await repository.set_status(session, organization, status.value)
    # Partners keeping a copy of the directory hear that its entries left it (or came back).
    await events.directory_changed(
        session,
        resource="organization",
        resource_id=organization.id,
        organization_id=organization.id,
        action="update",
        confidential=organization.visibility == "confidential",
    )
    active = status is OrganizationStatus.active
    action = Action.admin_reactivate if active else Action.admin_suspend
    await audit.record(
        session, principal, action, "organization", [organization.id], [organization.id]
    )
    return organization


async def operator(session: AsyncSession) -> Organization | None:
    """Relay's operating organisation, if one is registered."""
    return await repository.operator(session)


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    organization = await repository.get(session, organization_id)
    if organization is None:
        raise OrganizationNotFound()
    return organization


async def overseen(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> Organization:
    """One organisation, as the operator's pages show it (whatever its status)."""
    operator_only(principal)
    return await get(session, organization_id)


async def found(
    session: AsyncSession, principal: Principal, search: str | None, *, limit: int, offset: int
) -> tuple[list[Organization], int]:
    """The operator's search of organisations by name (all of them without ``search``)."""
    operator_only(principal)
    return await page(session, limit=limit, offset=offset, search=search)


async def page(
    session: AsyncSession, *, limit: int, offset: int, search: str | None = None
) -> tuple[list[Organization], int]:
    """Organisations, oldest first; with ``search``, those whose name contains it (any case),
    best match first."""
    return await repository.page(session, limit=limit, offset=offset, search=search or None)
