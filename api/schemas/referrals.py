"""Request and response contracts of consents and referrals (field names from the issue, FHIR
codes for statuses and priorities, GBVIMS incident types for the reason)."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from api.models.directory import Gender
from api.models.organization import OrganizationKind
from api.models.referral import (
    ConsentGiver,
    ConsentMethod,
    ConsentPurpose,
    DataCategory,
    Priority,
    ReferralEventType,
    ReferralRole,
    ReferralStatus,
    SharingProfile,
)
from api.schemas.common import (
    CursorMeta,
    DateTime,
    DocumentedAs,
    Flag,
    Integer,
    Public,
    RequestBody,
    unique,
)
from api.schemas.directory import LANGUAGE_CODE, NeedCode

# A pseudonymous reference: letters, digits and . _ : - only (no spaces, so not a name).
PSEUDONYM = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a UTC offset (or Z)")
    return value


Instant = Annotated[datetime, AfterValidator(_aware)]


class ConsentCreate(RequestBody):
    subject_ref: Annotated[str, Field(pattern=PSEUDONYM, description="Your case reference.")]
    given_by: ConsentGiver
    relationship: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    child_assent: Flag | None = None
    age_at_consent: Annotated[Integer, Field(ge=0, le=120)]
    method: ConsentMethod
    recorded_by: Annotated[str, Field(pattern=PSEUDONYM, description="Staff pseudonym.")]
    purposes: Annotated[list[ConsentPurpose], Field(min_length=1), AfterValidator(unique)]
    allowed_organizations: Annotated[
        list[uuid.UUID], Field(max_length=50), AfterValidator(unique)
    ] = []
    allowed_recipient_kinds: Annotated[
        list[OrganizationKind], Field(max_length=10), AfterValidator(unique)
    ] = []
    data_categories: Annotated[list[DataCategory], Field(min_length=1), AfterValidator(unique)]
    valid_from: Instant | None = None
    valid_until: Instant | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.given_by is not ConsentGiver.self_ and self.relationship is None:
            raise ValueError("relationship is required when consent is not given by the person")
        if (
            self.age_at_consent < 18
            and self.given_by is not ConsentGiver.self_
            and self.child_assent is None
        ):
            raise ValueError("child_assent is required for a child whose consent a carer gives")
        if not self.allowed_organizations and not self.allowed_recipient_kinds:
            raise ValueError("name allowed_organizations or allowed_recipient_kinds")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class WithdrawalReason(StrEnum):
    withdrawn_by_person = "withdrawn_by_person"
    withdrawn_by_guardian = "withdrawn_by_guardian"
    recorded_in_error = "recorded_in_error"
    other = "other"


class ConsentWithdrawal(RequestBody):
    reason: WithdrawalReason


class ConsentState(StrEnum):
    active = "active"
    withdrawn = "withdrawn"
    expired = "expired"
    not_yet_valid = "not_yet_valid"


class ConsentPublic(Public):
    """A consent as the organisation that recorded it sees it (no one else does)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    subject_ref: str = Field(description="Your case reference.")
    given_by: ConsentGiver
    relationship: str | None = None
    child_assent: bool | None = None
    age_at_consent: int
    method: ConsentMethod
    recorded_by: str = Field(description="Staff pseudonym.")
    purposes: list[ConsentPurpose]
    allowed_organizations: list[uuid.UUID]
    allowed_recipient_kinds: list[OrganizationKind]
    data_categories: list[DataCategory]
    valid_from: DateTime
    valid_until: DateTime | None = None
    withdrawn_at: DateTime | None = None
    withdrawal_reason: WithdrawalReason | None = None
    created_at: DateTime
    state: ConsentState = Field(description="Whether referrals may rest on it now.")


class GbvType(StrEnum):
    """The six GBVIMS core incident types."""

    rape = "rape"
    sexual_assault = "sexual_assault"
    physical_assault = "physical_assault"
    forced_marriage = "forced_marriage"
    denial_of_resources = "denial_of_resources"
    psychological_abuse = "psychological_abuse"


class ChildProtectionConcern(StrEnum):
    physical_violence = "physical_violence"
    sexual_violence = "sexual_violence"
    emotional_abuse = "emotional_abuse"
    neglect = "neglect"
    child_labour = "child_labour"
    child_marriage = "child_marriage"
    unaccompanied_or_separated = "unaccompanied_or_separated"
    trafficking = "trafficking"
    associated_with_armed_groups = "associated_with_armed_groups"
    other = "other"


class TraffickingIndicator(StrEnum):
    deception = "deception"
    debt_bondage = "debt_bondage"
    documents_withheld = "documents_withheld"
    restricted_movement = "restricted_movement"
    forced_labour = "forced_labour"
    sexual_exploitation = "sexual_exploitation"
    under_18 = "under_18"


class Reason(RequestBody):
    gbv_type: GbvType | None = None
    child_protection_concern: ChildProtectionConcern | None = None
    trafficking_indicators: Annotated[
        list[TraffickingIndicator], Field(max_length=7), AfterValidator(unique)
    ] = []
    incident_date: date | None = None
    incident_area_id: uuid.UUID | None = None


class ContactChannel(StrEnum):
    phone = "phone"
    sms = "sms"
    in_person = "in_person"
    through_referrer = "through_referrer"


class Contact(RequestBody):
    phone: Annotated[str | None, Field(pattern=r"^\+?[0-9 ()-]{3,32}$")] = None
    address: Annotated[str | None, Field(min_length=1, max_length=300)] = None


class Subject(RequestBody):
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    date_of_birth: date | None = None
    age: Annotated[Integer | None, Field(ge=0, le=120)] = None
    gender: Gender | None = None
    language: Annotated[str | None, Field(pattern=LANGUAGE_CODE)] = None
    contact: Contact | None = None


class Safety(RequestBody):
    do_not_contact_directly: Flag = False
    safe_channel: ContactChannel | None = None
    safe_times: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class ReferralCreate(RequestBody):
    to_service_id: uuid.UUID
    consent_id: uuid.UUID
    priority: Priority
    needs: Annotated[list[NeedCode], Field(min_length=1, max_length=15), AfterValidator(unique)]
    reason: Reason = Reason()
    sharing_profile: SharingProfile
    subject: Subject = Subject()
    safety: Safety = Safety()


class RejectionReason(StrEnum):
    no_capacity = "no_capacity"
    not_eligible = "not_eligible"
    outside_service_area = "outside_service_area"
    service_not_offered = "service_not_offered"
    duplicate = "duplicate"
    other = "other"


class HoldReason(StrEnum):
    awaiting_information = "awaiting_information"
    person_unreachable = "person_unreachable"
    awaiting_capacity = "awaiting_capacity"
    other = "other"


class FailureReason(StrEnum):
    person_unreachable = "person_unreachable"
    declined_by_person = "declined_by_person"
    service_interrupted = "service_interrupted"
    other = "other"


class CancellationReason(StrEnum):
    no_longer_needed = "no_longer_needed"
    referred_elsewhere = "referred_elsewhere"
    consent_withdrawn = "consent_withdrawn"
    entered_in_error = "entered_in_error"
    other = "other"


class Outcome(StrEnum):
    service_provided = "service_provided"
    partially_provided = "partially_provided"
    referred_onward = "referred_onward"
    other = "other"


StatusReason = RejectionReason | HoldReason | FailureReason | CancellationReason


class StatusChange(RequestBody):
    status: ReferralStatus
    reason: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z_]{1,40}$",
            description=(
                "Required for rejected (a RejectionReason), on-hold (a HoldReason), failed (a "
                "FailureReason) and cancelled (a CancellationReason); other statuses take none."
            ),
        ),
        # The service checks the code against the status (422 invalid-status-change, naming
        # the codes allowed): the document lists them.
        DocumentedAs(StatusReason | None),
    ] = None
    outcome: Outcome | None = None
    note: Annotated[str | None, Field(min_length=1, max_length=4000)] = None


class NoteCreate(RequestBody):
    note: Annotated[str, Field(min_length=1, max_length=4000)]


class ErasureReason(StrEnum):
    requested_by_person = "requested_by_person"
    retention_expired = "retention_expired"
    entered_in_error = "entered_in_error"
    safety_risk = "safety_risk"


class Erasure(RequestBody):
    reason: ErasureReason


# -- responses ------------------------------------------------------------------------------------


class ContactPublic(Public):
    phone: str | None = None
    address: str | None = None


class SubjectPublic(Public):
    """The person, as far as the sharing profile shares it with the caller."""

    name: str | None = None
    date_of_birth: date | None = None
    age: int | None = None
    gender: Gender | None = None
    language: str | None = None
    contact: ContactPublic | None = None


class ReasonPublic(Public):
    gbv_type: GbvType | None = None
    child_protection_concern: ChildProtectionConcern | None = None
    trafficking_indicators: list[TraffickingIndicator] | None = None
    incident_date: date | None = None
    incident_area_id: uuid.UUID | None = None


class SafetyPublic(Public):
    do_not_contact_directly: bool | None = Field(
        default=None, description="true: reach the person only through the safe channel."
    )
    safe_channel: ContactChannel | None = None
    safe_times: str | None = None


class WithheldBecause(StrEnum):
    """Why a referral shows no personal data."""

    erased = "erased"
    closed = "closed"
    consent_withdrawn = "consent_withdrawn"
    consent_expired = "consent_expired"
    consent_not_yet_valid = "consent_not_yet_valid"
    consent_missing = "consent_missing"
    not_for_your_role = "not_for_your_role"
    """A person whose role reads no one's data (a volunteer), even of a referral they sent: they
    see its status and ids, never the person's data or the notes."""


class ReferralSummary(Public):
    """A referral without personal data, as lists show it."""

    id: uuid.UUID
    from_organization_id: uuid.UUID
    to_organization_id: uuid.UUID
    to_service_id: uuid.UUID
    consent_id: uuid.UUID
    status: ReferralStatus
    priority: Priority
    needs: list[str] = Field(description="Referral-needs codes (/hsds/taxonomy_terms).")
    sharing_profile: SharingProfile
    due_at: DateTime
    created_at: DateTime
    updated_at: DateTime
    role: ReferralRole
    erased_at: DateTime | None = None


class ReferralPublic(ReferralSummary):
    """A referral as the caller's side may see it: the receiver sees only the categories of the
    sharing profile, and none once the referral is closed or the consent no longer holds."""

    personal_data_withheld: WithheldBecause | None = Field(
        default=None, description="Present when no personal data is shown, saying why."
    )
    subject: SubjectPublic | None = None
    reason: ReasonPublic | None = None
    safety: SafetyPublic | None = None
    consent_to_report: bool | None = Field(
        default=None,
        description="true on a police_report referral: the person consented to the report.",
    )


class ReferralPage(Public):
    data: list[ReferralSummary]
    meta: CursorMeta


class ReferralEventPublic(Public):
    """One step of a referral's closed loop."""

    sequence: int
    at: DateTime
    type: ReferralEventType
    organization_id: uuid.UUID | None = Field(
        default=None, description="Who acted; absent when Relay did (overdue, retention)."
    )
    status: ReferralStatus | None = None
    reason: StatusReason | ErasureReason | None = None
    outcome: Outcome | None = None
    alternatives: list[uuid.UUID] | None = Field(
        default=None,
        description="overdue: other services near the target meeting the same needs.",
    )
    note_withheld: bool | None = Field(
        default=None, description="true: a note the referral no longer shares with you."
    )
    note: str | None = None


class ReferralEventMeta(Public):
    referral_id: uuid.UUID
    count: int


class ReferralEventPage(Public):
    data: list[ReferralEventPublic]
    meta: ReferralEventMeta
