"""Onboarding partner organisations (operator only)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, NotFound
from api.models.organization import Organization
from api.repositories import organizations as repository
from api.schemas.organizations import OrganizationCreate


class OrganizationNotFound(
    NotFound, code="organization-not-found", title="Organisation not found"
): ...


class OperatorExists(Conflict, code="operator-organization-exists"): ...


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


async def operator(session: AsyncSession) -> Organization | None:
    """Relay's operating organisation, if one is registered."""
    return await repository.operator(session)


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    organization = await repository.get(session, organization_id)
    if organization is None:
        raise OrganizationNotFound()
    return organization


async def page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[Organization], int]:
    return await repository.page(session, limit=limit, offset=offset)
