"""Organisations, as plain async functions."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.models.organization import Organization, OrganizationKind
from api.repositories import organizations


async def create_organization(
    session: AsyncSession,
    *,
    name: str = "Centre d'écoute Kaolack",
    kind: OrganizationKind = OrganizationKind.ngo,
) -> Organization:
    return await organizations.add(session, Organization(name=name, kind=kind.value))
