"""Operator endpoints: onboard organisations and their OAuth clients (scope ``admin``)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import AdminPrincipal
from api.auth.principal import Principal
from api.deps import SessionDep, SettingsDep
from api.pagination import Page, PageDep, PageMeta
from api.schemas.clients import ClientCreate, ClientCredentials, ClientPublic
from api.schemas.directory import NationalLineCreate, NationalLinePublic, StaleEntryPublic
from api.schemas.organizations import OrganizationCreate, OrganizationPublic
from api.services import audit, clients, national_lines, organizations, verification
from api.services.audit import Action

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/organizations", status_code=201, summary="Register a partner organisation")
async def create_organization(
    body: OrganizationCreate, session: SessionDep, principal: AdminPrincipal
) -> OrganizationPublic:
    created = await organizations.create(session, body)
    await audit.record(
        session, principal, Action.admin_create, "organization", [created.id], [created.id]
    )
    return OrganizationPublic.model_validate(created)


@router.get("/organizations", summary="List organisations")
async def list_organizations(
    session: SessionDep, page: PageDep, _: AdminPrincipal
) -> Page[OrganizationPublic]:
    rows, total = await organizations.page(session, limit=page.limit, offset=page.offset)
    return Page(
        data=[OrganizationPublic.model_validate(row) for row in rows],
        meta=PageMeta(limit=page.limit, offset=page.offset, total=total),
    )


@router.get("/organizations/{organization_id}", summary="One organisation")
async def get_organization(
    organization_id: uuid.UUID, session: SessionDep, _: AdminPrincipal
) -> OrganizationPublic:
    return OrganizationPublic.model_validate(await organizations.get(session, organization_id))


@router.post(
    "/clients", status_code=201, summary="Register an OAuth client (the secret is shown once)"
)
async def create_client(
    body: ClientCreate, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> ClientCredentials:
    created = await clients.create(session, settings.secret_key.get_secret_value(), body)
    await _audit_client(session, principal, Action.admin_create, created)
    return created


async def _audit_client(
    session: AsyncSession, principal: Principal, action: Action, client: ClientPublic
) -> None:
    await audit.record(
        session, principal, action, "oauth_client", [client.client_id], [client.organization_id]
    )


@router.get("/clients", summary="List OAuth clients")
async def list_clients(
    session: SessionDep,
    page: PageDep,
    _: AdminPrincipal,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[ClientPublic]:
    rows, total = await clients.page(session, organization_id, limit=page.limit, offset=page.offset)
    return Page(data=rows, meta=PageMeta(limit=page.limit, offset=page.offset, total=total))


@router.post("/clients/{client_id}/rotate-secret", summary="Replace a client's secret (shown once)")
async def rotate_client_secret(
    client_id: str, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> ClientCredentials:
    rotated = await clients.rotate_secret(
        session, settings.secret_key.get_secret_value(), client_id
    )
    await _audit_client(session, principal, Action.admin_rotate_secret, rotated)
    return rotated


@router.post("/clients/{client_id}/disable", summary="Disable a client and revoke its tokens")
async def disable_client(
    client_id: str, session: SessionDep, principal: AdminPrincipal
) -> ClientPublic:
    disabled = await clients.disable(session, client_id)
    await _audit_client(session, principal, Action.admin_disable, disabled)
    return disabled


@router.get(
    "/stale-services",
    summary="Services nobody confirmed for RELAY_DIRECTORY_STALE_DAYS, longest first",
)
async def list_stale_services(
    session: SessionDep, page: PageDep, principal: AdminPrincipal
) -> Page[StaleEntryPublic]:
    rows, total = await verification.stale_entries(
        session, principal, limit=page.limit, offset=page.offset
    )
    return Page(
        data=[StaleEntryPublic.model_validate(row, from_attributes=True) for row in rows],
        meta=PageMeta(limit=page.limit, offset=page.offset, total=total),
    )


@router.post(
    "/national-lines",
    status_code=201,
    summary="Add a country's national line (police emergency, child or women's helpline)",
)
async def create_national_line(
    body: NationalLineCreate, session: SessionDep, principal: AdminPrincipal
) -> NationalLinePublic:
    created = await national_lines.create(session, body)
    await audit.record(session, principal, Action.admin_create, "national_line", [created.id], [])
    return NationalLinePublic.model_validate(created)


@router.get("/national-lines", summary="The national lines, of one country or of all")
async def list_national_lines(
    session: SessionDep,
    _: AdminPrincipal,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
) -> list[NationalLinePublic]:
    return [
        NationalLinePublic.model_validate(line)
        for line in await national_lines.listed(session, country)
    ]


@router.delete("/national-lines/{line_id}", status_code=204, summary="Remove a national line")
async def delete_national_line(
    line_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal
) -> None:
    await national_lines.remove(session, line_id)
    await audit.record(session, principal, Action.delete, "national_line", [line_id], [])
