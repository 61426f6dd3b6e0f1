"""Consents: recorded by the referring organisation before it refers anyone."""

import uuid
from typing import Any

from api.auth.dependencies import ReferralsSender
from api.deps import SessionDep
from api.routers.routing import resource_routers
from api.schemas.referrals import ConsentCreate, ConsentPublic, ConsentWithdrawal
from api.services import consents as service

# The service leaves a consent's empty fields out; so does the model that checks it.
router, consent = resource_routers("consents", "/{consent_id}", not_found="No such consent")


@router.post("", status_code=201, summary="Record a person's consent", response_model=ConsentPublic)
async def create_consent(
    body: ConsentCreate, session: SessionDep, principal: ReferralsSender
) -> dict[str, Any]:
    return await service.create(session, principal, body)


@consent.get("", summary="One consent your organisation recorded", response_model=ConsentPublic)
async def get_consent(
    consent_id: uuid.UUID, session: SessionDep, principal: ReferralsSender
) -> dict[str, Any]:
    return await service.get(session, principal, consent_id)


@consent.post(
    "/withdraw",
    summary="Record that the consent is withdrawn (referrals on it stop sharing data)",
    response_model=ConsentPublic,
)
async def withdraw_consent(
    consent_id: uuid.UUID, body: ConsentWithdrawal, session: SessionDep, principal: ReferralsSender
) -> dict[str, Any]:
    return await service.withdraw(session, principal, consent_id, body.reason)


router.include_router(consent)
