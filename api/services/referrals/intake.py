"""Creating a referral: idempotent on the caller's key, on a consent that covers the receiver and
the sharing profile, to an active service of another organisation that accepts referrals, meets
one of the needs, has room and serves the person. The person's data is sealed under the
referral's own data key."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth.principal import Principal
from api.config import Settings
from api.models.organization import OrganizationStatus
from api.models.referral import (
    Box,
    DataCategory,
    IdempotencyRecord,
    Referral,
    ReferralEventType,
    ReferralKey,
    ReferralStatus,
)
from api.repositories import referrals as repository
from api.repositories.base import act_as, add, lock_organization_key
from api.repositories.referrals import Target
from api.schemas.referrals import ReferralCreate
from api.services import consents
from api.services.consents import PROFILE_CATEGORIES
from api.services.referrals.errors import (
    ConsentRefused,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    NoCapacity,
    NotAccepting,
    NotEligible,
    ProfileMismatch,
    UnknownService,
)
from api.services.referrals.history import append
from api.services.referrals.views import get, view, withheld_for

_IDENTITY, _DEMOGRAPHICS = ("name", "date_of_birth"), ("age", "gender", "language")


def _categories(body: ReferralCreate) -> dict[DataCategory, dict[str, Any]]:
    """The body's personal data by category (only the fields given)."""
    subject = body.subject.model_dump(mode="json", exclude_none=True)
    found = {
        DataCategory.identity: {k: v for k, v in subject.items() if k in _IDENTITY},
        DataCategory.demographics: {k: v for k, v in subject.items() if k in _DEMOGRAPHICS},
        DataCategory.contact: {k: v for k, v in subject.items() if k == "contact"},
        DataCategory.incident: body.reason.model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        ),
        DataCategory.safety: body.safety.model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        ),
    }
    return {category: fields for category, fields in found.items() if fields}


def _fields_of(category: DataCategory, fields: dict[str, Any]) -> list[str]:
    prefix = {DataCategory.incident: "reason", DataCategory.safety: "safety"}.get(
        category, "subject"
    )
    return [f"{prefix}.{name}" for name in fields]


def _age(subject: dict[str, Any], today: date) -> int | None:
    if "age" in subject:
        age: int = subject["age"]
        return age
    if "date_of_birth" in subject:
        born = date.fromisoformat(subject["date_of_birth"])
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return None


def _check_target(target: Target | None, principal: Principal, body: ReferralCreate) -> Target:
    if (
        target is None
        or target.service.status != "active"
        or target.service.visibility == "confidential"
        or target.organization.status != OrganizationStatus.active.value
    ):
        raise UnknownService("No active service with this id can receive referrals.")
    if target.organization.id == principal.organization_id:
        raise UnknownService("A referral goes to another organisation's service.")
    if not target.service.accepts_referrals:
        raise NotAccepting("This service does not accept referrals; the person may walk in.")
    if not set(body.needs) & target.needs:
        raise NotEligible("This service meets none of the needs of the referral.")
    if target.available is not None and target.available <= 0:
        raise NoCapacity("This service has no capacity now; choose another or try later.")
    return target


def _check_eligibility(target: Target, personal: dict[DataCategory, dict[str, Any]]) -> None:
    subject = {
        **personal.get(DataCategory.identity, {}),
        **personal.get(DataCategory.demographics, {}),
    }
    service = target.service
    age = _age(subject, datetime.now(UTC).date())
    if age is not None:
        if service.minimum_age is not None and age < service.minimum_age:
            raise NotEligible(f"This service is for people aged {service.minimum_age} and over.")
        if service.maximum_age is not None and age > service.maximum_age:
            raise NotEligible(f"This service is for people aged up to {service.maximum_age}.")
    gender = subject.get("gender")
    if gender and service.genders and gender not in service.genders:
        raise NotEligible("This service does not serve people of this gender.")


def _check_profile(body: ReferralCreate, personal: dict[DataCategory, dict[str, Any]]) -> None:
    """Every field given is one the sharing profile shares."""
    shared = PROFILE_CATEGORIES[body.sharing_profile]
    outside = [
        field
        for category, fields in personal.items()
        if category not in shared
        for field in _fields_of(category, fields)
    ]
    if outside:
        raise ProfileMismatch(
            f"The {body.sharing_profile.value} profile does not share "
            f"{', '.join(outside)}: leave them out, or choose another profile.",
            errors=[
                {"loc": ["body", *field.split(".")], "type": "not_shared"} for field in outside
            ],
        )


def request_hash(body: ReferralCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    body: ReferralCreate,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create the referral; returns its sender view and whether it is new (False: a retry).

    The idempotency key is required: without one, a partner retrying after a lost answer (a
    timeout on a poor connection) would refer the person twice."""
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    await act_as(session, principal.organization_id)
    fingerprint = request_hash(body)
    await lock_organization_key(session, principal.organization_id, idempotency_key)
    record = await repository.idempotency_record(
        session, principal.organization_id, idempotency_key
    )
    if record is not None:
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with another request body.")
        return await get(session, settings, principal, record.referral_id), False

    consent = await repository.own_consent(session, principal.organization_id, body.consent_id)
    if consent is None:
        raise ConsentRefused("No consent with this id was recorded by your organisation.")
    target = _check_target(await repository.target(session, body.to_service_id), principal, body)
    now = datetime.now(UTC)
    refusal = consents.does_not_cover(consent, target.organization, body.sharing_profile, now)
    if refusal:
        raise ConsentRefused(refusal)
    personal = _categories(body)
    _check_profile(body, personal)
    _check_eligibility(target, personal)

    referral = Referral(
        from_organization_id=principal.organization_id,
        to_organization_id=target.organization.id,
        to_service_id=target.service.id,
        consent_id=consent.id,
        priority=body.priority.value,
        needs=list(body.needs),
        sharing_profile=body.sharing_profile.value,
        due_at=now + timedelta(hours=settings.due_hours[body.priority.value]),
        created_at=now,
        updated_at=now,
    )
    data_key = crypto.new_key()
    wrapped, version = settings.master.wrap(data_key, referral.id)
    plaintext = json.dumps({category.value: fields for category, fields in personal.items()})
    referral.personal_data = crypto.seal(
        data_key, plaintext.encode(), table="referral", column="personal_data", row=referral.id
    )
    await add(session, referral)
    await add(
        session,
        ReferralKey(referral_id=referral.id, wrapped_key=wrapped, master_version=version),
    )
    await append(
        session,
        principal,
        referral,
        ReferralEventType.created,
        status=ReferralStatus.requested.value,
    )
    await repository.insert_idempotency(
        session,
        IdempotencyRecord(
            organization_id=principal.organization_id,
            key=idempotency_key,
            request_hash=fingerprint,
            referral_id=referral.id,
        ),
    )
    withheld = withheld_for(principal)
    return view(referral, Box.sent, {} if withheld else personal, withheld), True
