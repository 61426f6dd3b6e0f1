"""The search's results (``/v1/search/nearest``) and a place's referral pathway.

The nearest search sends the body PostgreSQL and the service wrote, never decoded and encoded
again (``api.services.search.nearest_json``); these models document it, and the tests hold the
bytes to them. Fields absent from a result are left out, never null. A confidential place the
caller may not locate keeps its id, area and contact channels only: no distance, coordinates,
address or name (``position_withheld``)."""

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from api.models import directory
from api.models.organization import OrganizationKind
from api.schemas.common import DateTime, Numeric, Open, Public
from api.schemas.directory import NationalLineShown


class TranslationPublic(Open):
    name: str | None = None
    description: str | None = None


Translations = dict[str, TranslationPublic]


class PhonePublic(Public):
    number: str
    extension: int | None = None
    type: str | None = Field(default=None, examples=["voice", "sms", "hotline"])
    description: str | None = None


class SchedulePublic(Public):
    """Opening hours, RRULE-like (HSDS schedule)."""

    freq: str | None = Field(default=None, examples=["WEEKLY"])
    byday: str | None = Field(default=None, examples=["MO,TU,WE,TH,FR"])
    opens_at: str | None = Field(default=None, pattern=r"^\d\d:\d\d$", examples=["08:00"])
    closes_at: str | None = Field(default=None, pattern=r"^\d\d:\d\d$", examples=["17:00"])
    time_zone: str = Field(examples=["Africa/Dakar"])
    valid_from: date | None = None
    valid_to: date | None = None
    attending_type: str | None = None
    description: str | None = None


class OrganizationLabel(Public):
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    website: str | None = None
    translations: Translations | None = None


class ServiceFound(Public):
    """The service (HSDS field names), with its organisation, needs, phones and hours."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    alternate_name: str | None = None
    description: str | None = None
    url: str | None = None
    email: str | None = None
    status: directory.ServiceStatus
    application_process: str | None = None
    fees_description: str | None = None
    eligibility_description: str | None = None
    minimum_age: int | None = None
    maximum_age: int | None = None
    genders: list[directory.Gender] | None = None
    target_groups: list[directory.TargetGroup] | None = None
    accepts_referrals: bool
    intake_channel: directory.IntakeChannel | None = None
    visibility: directory.Visibility
    translations: Translations | None = None
    last_modified: DateTime | None = None
    assured_date: date | None = Field(
        default=None,
        description="HSDS: the day the service was last confirmed still correct (absent: never).",
    )
    alert: str | None = Field(
        default=None, description="HSDS: a short-term notice (a temporary closure), while it lasts."
    )
    alert_until: date | None = Field(default=None, description="The last day of the notice.")
    organization: OrganizationLabel
    needs: list[str] | None = Field(default=None, description="Referral-needs codes.")
    phones: list[PhonePublic] | None = None
    schedules: list[SchedulePublic] | None = None


class AreaLabel(Public):
    id: uuid.UUID
    name: str
    level: int


class AddressPublic(Public):
    address_1: str
    address_2: str | None = None
    city: str
    region: str | None = None
    state_province: str | None = None
    postal_code: str | None = None
    country: str
    address_type: str | None = None


class LocationFound(Public):
    """The place (HSDS field names); for a caller who may not locate it, its id, type,
    visibility, area and phones only, named as a confidential place."""

    id: uuid.UUID
    location_type: directory.LocationType
    name: str | None = None
    description: str | None = None
    latitude: Numeric | None = None
    longitude: Numeric | None = None
    visibility: directory.Visibility
    confidential: bool | None = Field(
        default=None, description="true: a confidential place you may not locate."
    )
    translations: Translations | None = None
    admin_area: AreaLabel | None = None
    addresses: list[AddressPublic] | None = None
    phones: list[PhonePublic] | None = None


class CapacityPublic(Public):
    unit: str = Field(examples=["bed", "place", "appointment"])
    available: int
    maximum: int | None = None
    updated: DateTime


class Matched(Public):
    needs: list[str] = Field(description="The needs asked for that the service meets.")
    eligibility: list[str] = Field(
        description="Why the service suits the person, in words (age, gender, group, ...)."
    )


class SearchResult(Public):
    distance_m: float | None = Field(
        default=None,
        description="Geodesic distance in metres (WGS 84, to 0.1 m); absent when the position "
        "is withheld.",
    )
    covering: bool = Field(description="true: the service's area covers the point.")
    position_withheld: bool
    open_now: bool | None = Field(
        default=None, description="Open at open_at (or now); absent without opening hours."
    )
    service: ServiceFound
    location: LocationFound | None = Field(
        default=None, description="Absent for a service found by its area."
    )
    capacity: list[CapacityPublic] | None = None
    matched: Matched


class SearchMeta(Public):
    latitude: Numeric
    longitude: Numeric
    radius_m: Numeric | None = Field(default=None, description="The radius searched.")
    open_at: DateTime | None = None
    limit: int
    count: int
    nothing_within_radius: bool | None = Field(
        default=None, description="true when nothing was found within radius_m."
    )
    message: str | None = Field(default=None, description="Says so, and how to look further.")
    national_lines: list[NationalLineShown] | None = Field(
        default=None,
        description="When nothing was found: the national lines of the point's country for the "
        "needs asked (all needs when none), entered by the operator.",
    )
    prefer: Literal["checked"] | None = Field(
        default=None, description="`checked` when asked: checked entries ranked first."
    )
    checked_since: date | None = Field(
        default=None,
        description="With prefer=checked: services confirmed on or after this day count as "
        "checked (the staleness period).",
    )


class SearchPage(Public):
    data: list[SearchResult] = Field(description="Nearest first.")
    meta: SearchMeta


class PathwayStep(Public):
    need: str = Field(description="A referral-needs code (/hsds/taxonomy_terms).")
    service: SearchResult | None = Field(
        default=None, description="The nearest service for it; absent when none is within reach."
    )
    national_lines: list[NationalLineShown] | None = Field(
        default=None,
        description="Without a service: the national lines of the point's country for the need.",
    )


class PathwayMeta(Public):
    latitude: Numeric
    longitude: Numeric
    area: uuid.UUID | None = None
    radius_m: Numeric


class Pathway(Public):
    data: list[PathwayStep] = Field(description="One step per need of the taxonomy.")
    meta: PathwayMeta
