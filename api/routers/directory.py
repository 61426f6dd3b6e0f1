"""Directory management under ``/v1``: a partner lists and keeps its own entries
(``directory:write``; with ``admin`` too, any organisation's). Reads here return the full HSDS
record with an ``ETag``; updates need ``If-Match``."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from api.auth.dependencies import DirectoryWriter
from api.auth.viewer import Viewer
from api.deps import SessionDep, SettingsDep
from api.schemas.directory import (
    CapacityUpdate,
    LocationIn,
    LocationUpdate,
    OrganizationUpdate,
    ServiceCreate,
    ServiceUpdate,
)
from api.schemas.hsds import HsdsLocation, HsdsOrganization, HsdsService
from api.services import directory as service
from api.services import hsds, hsds_presenter
from api.services.directory import etag

router = APIRouter(prefix="/v1", tags=["directory"])
OWNER = Viewer(sees_partner_records=True, cleared=True)
IfMatch = Annotated[
    str | None,
    Header(description="The ETag you last read; required on PATCH (412 when stale)."),
]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such record, or not your organisation's"},
    412: {"description": "If-Match does not match the current ETag"},
    428: {"description": "If-Match is missing"},
}


def _with_etag(body: dict[str, Any], version: int, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"ETag": etag(version)})


async def _service_body(session: SessionDep, service_id: uuid.UUID) -> dict[str, Any]:
    return await hsds.get_service(session, OWNER, service_id)


@router.post(
    "/services",
    status_code=201,
    summary="List a service, with its locations, in one call",
    response_model=HsdsService,
    responses=WRITE_ERRORS,
)
async def create_service(
    body: ServiceCreate, session: SessionDep, settings: SettingsDep, principal: DirectoryWriter
) -> Any:
    created = await service.create_service(
        session, principal, body, largest_area_km2=settings.max_service_area_km2
    )
    response = _with_etag(await _service_body(session, created.id), created.version, 201)
    response.headers["Location"] = f"/v1/services/{created.id}"
    return response


@router.get(
    "/services/{service_id}",
    summary="One of your services, with its ETag",
    response_model=HsdsService,
    responses=WRITE_ERRORS,
)
async def get_service(
    service_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter
) -> Any:
    found = await service.get_writable_service(session, principal, service_id)
    return _with_etag(await _service_body(session, found.id), found.version)


@router.patch(
    "/services/{service_id}",
    summary="Change a service (fields sent replace what was there)",
    response_model=HsdsService,
    responses=WRITE_ERRORS,
)
async def update_service(
    service_id: uuid.UUID,
    body: ServiceUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.update_service(session, principal, service_id, body, if_match)
    return _with_etag(await _service_body(session, updated.id), updated.version)


@router.post(
    "/services/{service_id}/deactivate",
    summary="Mark a service inactive",
    response_model=HsdsService,
    responses=WRITE_ERRORS,
)
async def deactivate_service(
    service_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter, if_match: IfMatch = None
) -> Any:
    updated = await service.deactivate_service(session, principal, service_id, if_match)
    return _with_etag(await _service_body(session, updated.id), updated.version)


@router.put(
    "/services/{service_id}/capacity",
    summary="Say how many beds or places are available now",
    response_model=HsdsService,
    responses=WRITE_ERRORS,
)
async def set_capacity(
    service_id: uuid.UUID,
    body: CapacityUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.set_capacity(session, principal, service_id, body, if_match)
    return _with_etag(await _service_body(session, updated.id), updated.version)


@router.post(
    "/locations",
    status_code=201,
    summary="Add a location",
    response_model=HsdsLocation,
    responses=WRITE_ERRORS,
)
async def create_location(
    body: LocationIn,
    session: SessionDep,
    principal: DirectoryWriter,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Any:
    created = await service.create_location(session, principal, body, organization_id)
    shaped = await hsds_presenter.Nester(session, OWNER).locations([created])
    response = _with_etag(hsds_presenter.clean(shaped[created.id]), created.version, 201)
    response.headers["Location"] = f"/v1/locations/{created.id}"
    return response


@router.get(
    "/locations/{location_id}",
    summary="One of your locations",
    response_model=HsdsLocation,
    responses=WRITE_ERRORS,
)
async def get_location(
    location_id: uuid.UUID, session: SessionDep, principal: DirectoryWriter
) -> Any:
    found = await service.get_writable_location(session, principal, location_id)
    shaped = await hsds_presenter.Nester(session, OWNER).locations([found])
    return _with_etag(hsds_presenter.clean(shaped[found.id]), found.version)


@router.patch(
    "/locations/{location_id}",
    summary="Change a location",
    response_model=HsdsLocation,
    responses=WRITE_ERRORS,
)
async def update_location(
    location_id: uuid.UUID,
    body: LocationUpdate,
    session: SessionDep,
    principal: DirectoryWriter,
    if_match: IfMatch = None,
) -> Any:
    updated = await service.update_location(session, principal, location_id, body, if_match)
    shaped = await hsds_presenter.Nester(session, OWNER).locations([updated])
    return _with_etag(hsds_presenter.clean(shaped[updated.id]), updated.version)


@router.patch(
    "/organizations/{organization_id}",
    summary="Change your organisation's profile",
    response_model=HsdsOrganization,
    responses=WRITE_ERRORS,
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
    return _with_etag(shaped, updated.version)
