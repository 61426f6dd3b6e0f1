"""Consents: recorded by the referring organisation before it refers anyone."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, status

from api.auth.dependencies import requires
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.deps import SessionDep
from api.schemas.referrals import ConsentCreate, ConsentPublic, ConsentWithdrawal
from api.services import consents as service

router = APIRouter(prefix="/v1/consents", tags=["consents"])
Sender = Annotated[Principal, requires(Scope.referrals_send)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such consent"}}


# The service leaves a consent's empty fields out; so does the model that checks it.
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record a person's consent",
    response_model=ConsentPublic,
    response_model_exclude_none=True,
)
async def create_consent(
    body: ConsentCreate, session: SessionDep, principal: Sender
) -> dict[str, Any]:
    return await service.create(session, principal, body)


@router.get(
    "/{consent_id}",
    summary="One consent your organisation recorded",
    response_model=ConsentPublic,
    response_model_exclude_none=True,
    responses=NOT_FOUND,
)
async def get_consent(
    consent_id: uuid.UUID, session: SessionDep, principal: Sender
) -> dict[str, Any]:
    return await service.get(session, principal, consent_id)


@router.post(
    "/{consent_id}/withdraw",
    summary="Record that the consent is withdrawn (referrals on it stop sharing data)",
    response_model=ConsentPublic,
    response_model_exclude_none=True,
    responses=NOT_FOUND,
)
async def withdraw_consent(
    consent_id: uuid.UUID, body: ConsentWithdrawal, session: SessionDep, principal: Sender
) -> dict[str, Any]:
    return await service.withdraw(session, principal, consent_id, body.reason)
