"""Operator endpoints: onboard organisations and their OAuth clients (scope ``admin``)."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import AdminPrincipal
from api.deps import SessionDep, SettingsDep
from api.models.organization import OrganizationStatus
from api.pagination import Page, PageDep, PageMeta
from api.routers.actions import add_actions
from api.schemas.clients import ClientCreate, ClientCredentials, ClientPublic
from api.schemas.directory import NationalLineCreate, NationalLinePublic, StaleEntryPublic
from api.schemas.organizations import OrganizationCreate, OrganizationPublic
from api.services import clients, national_lines, organizations, verification
from api.services.audit import Action

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/organizations", status_code=201, summary="Register a partner organisation")
async def create_organization(
    body: OrganizationCreate, session: SessionDep, principal: AdminPrincipal
) -> OrganizationPublic:
    created = await organizations.register(session, principal, body)
    return OrganizationPublic.model_validate(created)


@router.get("/organizations", summary="List organisations, or find them by name")
async def list_organizations(
    session: SessionDep,
    page: PageDep,
    _: AdminPrincipal,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Part of the name (any case)."),
    ] = None,
) -> Page[OrganizationPublic]:
    rows, total = await organizations.page(session, limit=page.limit, offset=page.offset, search=q)
    return Page(
        data=[OrganizationPublic.model_validate(row) for row in rows],
        meta=PageMeta(limit=page.limit, offset=page.offset, total=total),
    )


@router.get("/organizations/{organization_id}", summary="One organisation")
async def get_organization(
    organization_id: uuid.UUID, session: SessionDep, _: AdminPrincipal
) -> OrganizationPublic:
    return OrganizationPublic.model_validate(await organizations.get(session, organization_id))


def _status_change(status: OrganizationStatus) -> Callable[..., Awaitable[OrganizationPublic]]:
    async def change(
        organization_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal
    ) -> OrganizationPublic:
        changed = await organizations.set_status(session, principal, organization_id, status)
        return OrganizationPublic.model_validate(changed)

    return change


add_actions(
    router,
    "/organizations/{organization_id}",
    "organization",
    (
        "suspend",
        "Suspend an organisation: its tokens, sessions and listings stop",
        _status_change(OrganizationStatus.suspended),
    ),
    ("reactivate", "Reactivate an organisation", _status_change(OrganizationStatus.active)),
)


@router.post(
    "/clients", status_code=201, summary="Register an OAuth client (the secret is shown once)"
)
async def create_client(
    body: ClientCreate, session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> ClientCredentials:
    created = await clients.create(session, settings.secret_key.get_secret_value(), body)
    await clients.audited(session, principal, Action.admin_create, created)
    return created


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
    await clients.audited(session, principal, Action.admin_rotate_secret, rotated)
    return rotated


@router.post("/clients/{client_id}/disable", summary="Disable a client and revoke its tokens")
async def disable_client(
    client_id: str, session: SessionDep, principal: AdminPrincipal
) -> ClientPublic:
    return await clients.disable(session, client_id, by=principal)


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
    return NationalLinePublic.model_validate(await national_lines.create(session, principal, body))


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
    await national_lines.remove(session, principal, line_id)
