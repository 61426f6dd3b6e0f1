"""Onboarding partner organisations (operator only)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.models.organization import Organization
from api.repositories import organizations as repository
from api.schemas.organizations import OrganizationCreate


class OrganizationNotFound(
    NotFound, code="organization-not-found", title="Organisation not found"
): ...


async def create(session: AsyncSession, body: OrganizationCreate) -> Organization:
    return await repository.add(session, Organization(name=body.name, kind=body.kind.value))


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    organization = await repository.get(session, organization_id)
    if organization is None:
        raise OrganizationNotFound()
    return organization


async def page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[Organization], int]:
    return await repository.page(session, limit=limit, offset=offset)
