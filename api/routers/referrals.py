"""Referrals: create (idempotent), read, list, move through the closed loop, notes, erasure."""

import json
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth.dependencies import Authenticated, ReferralsSender
from api.deps import SessionDep, SettingsDep
from api.filters import ReferralFilters
from api.languages import Language
from api.models.referral import Box, Priority, ReferralStatus
from api.routers.routing import assembled, resource_routers
from api.schemas.fhir import FhirBundle
from api.schemas.referrals import (
    Erasure,
    NoteCreate,
    ReferralCreate,
    ReferralEventPage,
    ReferralEventPublic,
    ReferralPage,
    ReferralPublic,
    StatusChange,
)
from api.services import fhir
from api.services import referrals as service
from api.web import render
from api.web.i18n import negotiate
from api.web.referral_form import render_referral_form

# The services shape referrals as dicts without their empty fields; the models check them on
# the way out and leave those fields out as before.
router, referral = resource_routers("referrals", "/{referral_id}", not_found="No such referral")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Documented here rather than declared as a header parameter: FastAPI would answer a missing
# required header with a 422 validation problem, where the service answers the clearer 400
# ``idempotency-key-required`` saying why the key matters.
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": IDEMPOTENCY_KEY_HEADER,
    "in": "header",
    "required": True,
    "description": (
        "Required. A new random value (a UUID) for each referral, sent again unchanged when you "
        "retry it: a retry with the same key and body returns the same referral (200, "
        "`Idempotent-Replayed: true`); the same key with another body is a 422. Without it the "
        "answer is 400 `urn:relay:problem:idempotency-key-required`."
    ),
    "schema": {
        "type": "string",
        "pattern": "^[\\x21-\\x7e]{1,255}$",
        "title": IDEMPOTENCY_KEY_HEADER,
    },
}


async def _idempotency_key(request: Request) -> str | None:
    """The key as sent (None without one: the service says why it is required); 422 when it
    is not 1-255 visible ASCII characters."""
    value = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if value is not None and not _IDEMPOTENCY_KEY.fullmatch(value):
        raise RequestValidationError(
            [
                {
                    "loc": ("header", IDEMPOTENCY_KEY_HEADER),
                    "msg": "must be 1 to 255 visible ASCII characters",
                    "type": "string_pattern_mismatch",
                }
            ]
        )
    return value


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


class OnReferral(NamedTuple):
    """What the routes of one referral (``/{referral_id}…``) give each service function first,
    in its order: ``service.add_note(*on_referral, body)``. Any valid token: the service checks
    which side of the referral the caller is on."""

    session: SessionDep
    settings: SettingsDep
    principal: Authenticated
    referral_id: uuid.UUID


class OnSentReferral(NamedTuple):
    """``OnReferral`` for what only the sending side may do: a token with ``referrals:send``."""

    session: SessionDep
    settings: SettingsDep
    principal: ReferralsSender
    referral_id: uuid.UUID


OnReferralDep = Annotated[OnReferral, Depends(assembled(OnReferral))]
OnSentReferralDep = Annotated[OnSentReferral, Depends(assembled(OnSentReferral))]


@router.post(
    "",
    status_code=201,
    summary="Refer a person to a service",
    response_model=ReferralPublic,
    responses={
        200: {
            "model": ReferralPublic,
            "description": "A retry with the same Idempotency-Key and body: the referral already "
            "made (`Idempotent-Replayed: true`)",
        }
    },
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER]},
)
async def create_referral(
    body: ReferralCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReferralsSender,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    created, new = await service.create(session, settings, principal, body, idempotency_key)
    if not new:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/referrals/{created['id']}"
    return created


@router.get(
    "",
    summary="Your organisation's sent or received referrals (no personal data)",
    response_model=ReferralPage,
)
async def list_referrals(
    session: SessionDep,
    principal: Authenticated,
    box: Annotated[Box, Query(description="sent: referrals you sent; received: sent to you")],
    status_: Annotated[
        list[ReferralStatus] | None, Query(alias="status", max_length=len(ReferralStatus))
    ] = None,
    priority: Annotated[list[Priority] | None, Query(max_length=len(Priority))] = None,
    updated_since: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=service.LIST_LIMIT)] = 20,
) -> dict[str, Any]:
    filters = ReferralFilters(
        box,
        statuses=tuple(item.value for item in status_ or []),
        priorities=tuple(item.value for item in priority or []),
        updated_since=updated_since,
    )
    return await service.listing(session, principal, filters, cursor=cursor, limit=limit)


@referral.get("", summary="One referral, as your side may see it", response_model=ReferralPublic)
async def get_referral(on_referral: OnReferralDep) -> dict[str, Any]:
    return await service.get(*on_referral)


@referral.post(
    "/status", summary="Move the referral in its closed loop", response_model=ReferralPublic
)
async def change_status(body: StatusChange, on_referral: OnReferralDep) -> dict[str, Any]:
    return await service.change_status(*on_referral, body)


@referral.post(
    "/notes",
    status_code=201,
    summary="Add a note to the thread between the two organisations",
    response_model=ReferralEventPublic,
)
async def add_note(body: NoteCreate, on_referral: OnReferralDep) -> dict[str, Any]:
    return await service.add_note(*on_referral, body)


@referral.get("/events", summary="The referral's closed loop", response_model=ReferralEventPage)
async def list_events(on_referral: OnReferralDep) -> dict[str, Any]:
    return await service.events(*on_referral)


class ExportFormat(StrEnum):
    fhir = "fhir"
    html = "html"


class FhirJSONResponse(JSONResponse):
    """The export's media type in the document; the route sends the bundle as it encodes it."""

    media_type = "application/fhir+json"


@referral.get(
    "/export",
    summary="The referral as a FHIR R4 Bundle, or as a printable form for an authority",
    response_class=FhirJSONResponse,
    responses={
        200: {
            "model": FhirBundle,
            "description": "format=fhir: a FHIR R4 Bundle (collection); format=html: the form",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
)
async def export_referral(
    request: Request,
    on_referral: OnReferralDep,
    format_: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.fhir,
    lang: Annotated[
        Language | None,
        Query(
            description="format=html: the form's language; without it, the best of "
            "`Accept-Language`, else English"
        ),
    ] = None,
) -> Response:
    # Personal data: never kept by a cache.
    headers = {"Cache-Control": "no-store"}
    if format_ is ExportFormat.html:
        form = await service.printable(*on_referral)
        language = negotiate(lang.value if lang else None, request.headers.get("accept-language"))
        return HTMLResponse(
            render_referral_form(form, language),
            headers={**render.PAGE_HEADERS, "Content-Language": language, **headers},
        )
    found = await service.export(*on_referral)
    document = fhir.bundle(
        found.view, found.events, found.sender, found.receiver, found.consent, datetime.now(UTC)
    )
    return Response(
        json.dumps(document, ensure_ascii=False),
        media_type=FhirJSONResponse.media_type,
        headers=headers,
    )


@referral.delete(
    "/personal-data",
    summary="Erase the person's data (the data key is destroyed)",
    response_model=ReferralPublic,
)
async def erase_personal_data(body: Erasure, on_referral: OnSentReferralDep) -> dict[str, Any]:
    return await service.erase(*on_referral, body)


router.include_router(referral)
