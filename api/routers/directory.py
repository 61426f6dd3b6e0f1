"""Directory management under ``/v1``: a partner lists and keeps its own entries
(``directory:write``; with ``admin`` too, any organisation's). Reads here return the full HSDS
record with an ``ETag``; updates need ``If-Match``."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import DirectoryWriter
from api.auth.principal import Principal
from api.auth.viewer import Viewer
from api.deps import SessionDep, SettingsDep
from api.models.directory import Location, Service
from api.routers.actions import add_actions
from api.schemas.directory import (
    CapacityUpdate,
    LocationIn,
    LocationUpdate,
    OrganizationUpdate,
    ReportPublic,
    ReportQueue,
    ReportQueueMeta,
    ReportResolved,
    ServiceCreate,
    ServiceUpdate,
)
from api.schemas.hsds import HsdsLocation, HsdsOrganization, HsdsService
from api.services import directory as service
from api.services import hsds, hsds_presenter, reports, verification
from api.services.directory import etag

IfMatch = Annotated[
    str | None,
    Header(description="The ETag you last read; required on PATCH (412 when stale)."),
]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such record, or not your organisation's"},
    412: {"description": "If-Match does not match the current ETag"},
    428: {"description": "If-Match is missing"},
}
router = APIRouter(prefix="/v1", tags=["directory"], responses=WRITE_ERRORS)


def _with_etag(body: dict[str, Any], version: int, created_at: str | None) -> JSONResponse:
    """The record as its owner reads it, with its ETag; a new one's is a 201 with its
    ``Location`` (``created_at``)."""
    headers = {"ETag": etag(version)}
    response = JSONResponse(body, status_code=201 if created_at else 200, headers=headers)
    if created_at:
        response.headers["Location"] = created_at
    return response


async def _service_response(
    session: SessionDep, principal: Principal, found: Service, *, created: bool = False
) -> JSONResponse:
    body = await hsds.get_service(session, Viewer.owner(principal), found.id)
    return _with_etag(body, found.version, f"/v1/services/{found.id}" if created else None)


async def _location_response(
    session: SessionDep, principal: Principal, found: Location, *, created: bool = False
) -> JSONResponse:
    shaped = await hsds_presenter.Nester(session, Viewer.owner(principal)).locations([found])
    body = hsds_presenter.clean(shaped[found.id])
    return _with_etag(body, found.version, f"/v1/locations/{found.id}" if created else None)


def _service_change(
    change: Callable[[AsyncSession, Principal, uuid.UUID, str | None], Awaitable[Service]],
) -> Callable[..., Awaitable[JSONResponse]]:
    """The route of a change to one service that takes no body, only its ETag."""

    async def change_service(
        service_id: uuid.UUID,
        session: SessionDep,
        principal: DirectoryWriter,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        changed = await change(session, principal, service_id, if_match)
        return await _service_response(session, principal, changed)

    return change_service


@router.post(
    "/services",
    status_code=201,
    summary="List a service, with its locations, in one call",
    response_model=HsdsService,
)
async def create_service(
    body: ServiceCreate, session: SessionDep, settings: SettingsDep, principal: DirectoryWriter
) -> Any:
    created = await service.create_service(
        session, principal, body, largest_area_km2=settings.max_service_area_km2
    )
    return await _service_response(session, principal, created, created=True)


@router.get(
    "/services/{service_id}",
    summary="One of your services, with its ETag",
    response_model=HsdsService,
)
async def get_service(
    service_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter
) -> Any:
    found = await service.writable(session, principal, Service, service_id)
    return await _service_response(session, principal, found)


@router.patch(
    "/services/{service_id}",
    summary="Change a service (fields sent replace what was there)",
    response_model=HsdsService,
)
async def update_service(
    service_id: uuid.UUID,
    body: ServiceUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.update_service(session, principal, service_id, body, if_match)
    return await _service_response(session, principal, updated)


add_actions(
    router,
    "/services/{service_id}",
    "service",
    ("deactivate", "Mark a service inactive", _service_change(service.deactivate_service)),
    (
        "confirm",
        "Confirm a service is still correct (HSDS assured_date becomes today)",
        _service_change(verification.confirm),
    ),
    response_model=HsdsService,
)


@router.put(
    "/services/{service_id}/capacity",
    summary="Say how many beds or places are available now",
    response_model=HsdsService,
)
async def set_capacity(
    service_id: uuid.UUID,
    body: CapacityUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.set_capacity(session, principal, service_id, body, if_match)
    return await _service_response(session, principal, updated)


@router.post("/locations", status_code=201, summary="Add a location", response_model=HsdsLocation)
async def create_location(
    body: LocationIn,
    session: SessionDep,
    principal: DirectoryWriter,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Any:
    created = await service.create_location(session, principal, body, organization_id)
    return await _location_response(session, principal, created, created=True)


@router.get(
    "/locations/{location_id}", summary="One of your locations", response_model=HsdsLocation
)
async def get_location(
    location_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter
) -> Any:
    found = await service.writable(session, principal, Location, location_id)
    return await _location_response(session, principal, found)


@router.patch("/locations/{location_id}", summary="Change a location", response_model=HsdsLocation)
async def update_location(
    location_id: uuid.UUID,
    body: LocationUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.update_location(session, principal, location_id, body, if_match)
    return await _location_response(session, principal, updated)


@router.patch(
    "/organizations/{organization_id}",
    summary="Change your organisation's profile",
    response_model=HsdsOrganization,
)
async def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.update_organization(session, principal, organization_id, body, if_match)
    shaped = hsds_presenter.clean(hsds_presenter.organization_item(updated))
    return _with_etag(shaped, updated.version, None)


@router.get(
    "/directory/reports",
    summary="Open reports of wrong entries: your organisation's (the operator: all, or one's)",
)
async def list_reports(
    session: SessionDep,
    principal: DirectoryWriter,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ReportQueue:
    found, total = await reports.queue(session, principal, organization_id=organization_id)
    return ReportQueue(
        data=[ReportPublic.model_validate(row) for row in found],
        meta=ReportQueueMeta(total=total),
    )


def _resolution(accepted: bool) -> Callable[..., Awaitable[ReportResolved]]:
    async def resolve(
        report_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter
    ) -> ReportResolved:
        resolved = await reports.resolve(session, principal, report_id, accepted=accepted)
        return ReportResolved.model_validate(resolved)

    return resolve


add_actions(
    router,
    "/directory/reports/{report_id}",
    "report",
    (
        "accept",
        "Accept a report (you corrected the entry); 409 when already resolved",
        _resolution(accepted=True),
    ),
    (
        "dismiss",
        "Dismiss a report (the entry was right); 409 when already resolved",
        _resolution(accepted=False),
    ),
)
