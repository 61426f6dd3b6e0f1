"""The audit trail for partners (events about their resources), its signed checkpoints and
public key for anyone, and verification for the operator."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.auth.dependencies import AdminPrincipal, AuditReader
from api.deps import SessionDep, SettingsDep
from api.schemas.audit import AuditEventPage, CheckpointPage, JwkSet, VerificationReport
from api.schemas.fhir import FhirBundle
from api.services import audit as service
from api.services.audit import Action, AuditQuery

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditFormat(StrEnum):
    json = "json"
    fhir = "fhir"


@router.get(
    "",
    summary="Audit events about your organisation's resources, newest first",
    description="format=json: the events and a cursor; format=fhir: a FHIR R4 Bundle "
    "(searchset) of AuditEvents.",
    response_model=AuditEventPage | FhirBundle,
)
async def list_audit_events(
    session: SessionDep,
    principal: AuditReader,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    action: Annotated[list[Action] | None, Query(max_length=len(Action))] = None,
    resource_type: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    resource_id: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=service.QUERY_LIMIT)] = 50,
    format_: Annotated[AuditFormat, Query(alias="format")] = AuditFormat.json,
) -> dict[str, Any]:
    spec = AuditQuery(
        since=since,
        until=until,
        actions=[item.value for item in action or []],
        resource_type=resource_type,
        resource_id=resource_id,
        cursor=cursor,
        limit=limit,
    )
    page, next_cursor = await service.query(session, principal, spec)
    if format_ is AuditFormat.fhir:
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(page),
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{event.id}",
                    "resource": service.fhir_audit_event(event, seq, principal.organization_id),
                }
                for event, seq in page
            ],
        }
        if next_cursor:
            bundle["link"] = [{"relation": "next", "url": f"?cursor={next_cursor}&format=fhir"}]
        return bundle
    meta: dict[str, Any] = {"count": len(page), "limit": limit}
    if next_cursor:
        meta["next_cursor"] = next_cursor
    viewer = principal.organization_id
    return {"data": [service.event_view(event, seq, viewer) for event, seq in page], "meta": meta}


@router.get(
    "/checkpoints",
    summary="The signed heads of the audit chain (public)",
    response_model=CheckpointPage,
)
async def list_checkpoints(
    session: SessionDep,
    response: Response,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Only checkpoints after this seq.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-cache"
    return await service.checkpoints(session, after, limit)


@router.get(
    "/public-key",
    summary="The Ed25519 keys checkpoints are signed with, current first (JWK set)",
    response_model=JwkSet,
)
async def public_key(settings: SettingsDep) -> dict[str, Any]:
    return {"keys": service.published_keys(settings)}


@router.get(
    "/verify",
    summary="Recompute the chain and check the checkpoints (operator)",
    response_model=VerificationReport,
)
async def verify_chain(
    session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> dict[str, Any]:
    return (await service.verify(session, settings)).as_dict()
