"""Consent: recorded by the referring organisation, checked when a referral is created and on
every read by the receiver. Only the organisation that recorded a consent sees it."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import NotFound
from api.models.events import EventType
from api.models.organization import OrganizationKind
from api.models.referral import Consent, ConsentPurpose, DataCategory, SharingProfile
from api.repositories import referrals as repository
from api.repositories.base import act_as, add
from api.repositories.referrals import Recipient
from api.schemas.referrals import ConsentCreate, ConsentState, WithdrawalReason
from api.services import audit, events
from api.services.audit import Action

# Police and other authorities receive only what a consent names explicitly, for reporting.
AUTHORITIES = frozenset({OrganizationKind.police.value, OrganizationKind.authority.value})
PROFILE_CATEGORIES: dict[SharingProfile, frozenset[DataCategory]] = {
    SharingProfile.minimal: frozenset({DataCategory.demographics, DataCategory.safety}),
    SharingProfile.standard: frozenset(DataCategory),
    SharingProfile.police_report: frozenset({DataCategory.incident, DataCategory.safety}),
}


class ConsentNotFound(NotFound, code="consent-not-found"): ...


def state(consent: Consent, now: datetime) -> ConsentState:
    if consent.withdrawn_at is not None:
        return ConsentState.withdrawn
    if consent.valid_from > now:
        return ConsentState.not_yet_valid
    if consent.valid_until is not None and consent.valid_until <= now:
        return ConsentState.expired
    return ConsentState.active


def does_not_cover(
    consent: Consent, recipient: Recipient, profile: SharingProfile, now: datetime
) -> str | None:
    """Why this consent does not allow sending to ``recipient`` under ``profile`` (or None)."""
    current = state(consent, now)
    if current is not ConsentState.active:
        return f"The consent is {current.value.replace('_', ' ')}."
    named = recipient.id in consent.allowed_organizations
    if not named and recipient.kind not in consent.allowed_recipient_kinds:
        return "The consent does not allow sharing with this organisation."
    authority = recipient.kind in AUTHORITIES
    if authority and ConsentPurpose.reporting_to_police.value not in consent.purposes:
        return "The consent does not allow reporting to the police or another authority."
    if not authority and ConsentPurpose.services.value not in consent.purposes:
        return "The consent does not allow referral to services."
    if profile is SharingProfile.police_report and not authority:
        return "The police_report profile is for the police or another authority."
    missing = PROFILE_CATEGORIES[profile] - set(consent.data_categories)
    if missing:
        listed = ", ".join(sorted(missing))
        return f"The consent does not cover the data categories the profile shares: {listed}."
    return None


def view(consent: Consent, now: datetime) -> dict[str, Any]:
    body = consent.model_dump(mode="json")
    body["state"] = state(consent, now).value
    return {key: value for key, value in body.items() if value is not None}


async def create(
    session: AsyncSession, principal: Principal, body: ConsentCreate
) -> dict[str, Any]:
    await act_as(session, principal.organization_id)
    now = datetime.now(UTC)
    consent = Consent(
        organization_id=principal.organization_id,
        subject_ref=body.subject_ref,
        given_by=body.given_by.value,
        relationship=body.relationship,
        child_assent=body.child_assent,
        age_at_consent=body.age_at_consent,
        method=body.method.value,
        recorded_by=body.recorded_by,
        purposes=[purpose.value for purpose in body.purposes],
        allowed_organizations=list(body.allowed_organizations),
        allowed_recipient_kinds=[kind.value for kind in body.allowed_recipient_kinds],
        data_categories=[category.value for category in body.data_categories],
        valid_from=body.valid_from or now,
        valid_until=body.valid_until,
    )
    await add(session, consent)
    await events.consent_changed(session, consent, EventType.consent_recorded)
    await audit.record(
        session, principal, Action.create, "consent", [consent.id], [consent.organization_id]
    )
    return view(consent, now)


async def own(session: AsyncSession, principal: Principal, consent_id: uuid.UUID) -> Consent:
    await act_as(session, principal.organization_id)
    consent = await repository.own_consent(session, principal.organization_id, consent_id)
    if consent is None:
        raise ConsentNotFound("No consent with this id.")
    return consent


async def get(session: AsyncSession, principal: Principal, consent_id: uuid.UUID) -> dict[str, Any]:
    consent = await own(session, principal, consent_id)
    await audit.record(
        session, principal, Action.read, "consent", [consent.id], [consent.organization_id]
    )
    return view(consent, datetime.now(UTC))


async def withdraw(
    session: AsyncSession, principal: Principal, consent_id: uuid.UUID, reason: WithdrawalReason
) -> dict[str, Any]:
    consent = await own(session, principal, consent_id)
    first_withdrawal = consent.withdrawn_at is None
    await repository.withdraw_consent(session, consent.id, datetime.now(UTC), reason.value)
    refreshed = await repository.consent(session, consent.id)
    assert refreshed is not None
    if first_withdrawal:
        await events.consent_changed(session, refreshed, EventType.consent_withdrawn)
        await audit.record(
            session, principal, Action.update, "consent", [consent.id], [consent.organization_id]
        )
    return view(refreshed, datetime.now(UTC))
