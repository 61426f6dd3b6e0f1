"""Contract of the directory management API (``/v1/services``, ``/v1/locations``, ...).

Validation here is what makes a directory trustworthy: coordinates in range, E.164 phone
numbers (or a 2-6 digit short code such as 116, or 17 for the police in Senegal), age ranges
in order, RRULE weekdays, IANA time zones, and service areas that are valid GeoJSON polygons.
"""

import re
import uuid
import zoneinfo
from datetime import date, datetime, time
from functools import cache
from typing import Annotated, Any

from geojson_pydantic import MultiPolygon, Polygon
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from shapely.geometry import shape

from api.models.directory import (
    Gender,
    IntakeChannel,
    LocationType,
    NationalLineKind,
    ReportReason,
    ReportStatus,
    ServiceStatus,
    TargetGroup,
    Visibility,
)
from api.schemas.common import Flag, Integer, Number, PatchBody, RequestBody, ShortName, Text
from api.taxonomy import NEED_CODES

_PHONE = re.compile(r"\+[1-9]\d{6,14}|\d{2,6}")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
LANGUAGE_CODE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"

LongText = Annotated[Text, Field(max_length=5000)]
Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s]+$")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


def _phone_number(value: str) -> str:
    compact = re.sub(r"[\s().-]", "", value)
    if not _PHONE.fullmatch(compact):
        raise ValueError("must be an E.164 number (+ and 7 to 15 digits) or a 2-6 digit short code")
    return compact


def _byday(value: str) -> str:
    days = [day.strip().upper() for day in value.split(",") if day.strip()]
    if not days or any(day not in _WEEKDAYS for day in days) or len(set(days)) != len(days):
        raise ValueError("must list distinct weekdays among MO,TU,WE,TH,FR,SA,SU")
    return ",".join(sorted(days, key=_WEEKDAYS.index))


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError("must be an IANA time zone such as Africa/Dakar")
    return value


def _need(value: str) -> str:
    if value not in NEED_CODES:
        raise ValueError("must be a referral-needs code (see /hsds/taxonomy_terms)")
    return value


PhoneNumber = Annotated[str, AfterValidator(_phone_number)]
ByDay = Annotated[str, AfterValidator(_byday)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
NeedCode = Annotated[str, AfterValidator(_need)]
Age = Annotated[Integer, Field(ge=0, le=120)]
Latitude = Annotated[Number, Field(ge=-90, le=90)]
Longitude = Annotated[Number, Field(ge=-180, le=180)]


class PhoneIn(RequestBody):
    number: PhoneNumber
    type: Annotated[str, Field(pattern=r"^(voice|sms|whatsapp|hotline|fax)$")] = "voice"
    description: Annotated[Text, Field(max_length=200)] | None = None


class ScheduleIn(RequestBody):
    byday: ByDay
    opens_at: time
    closes_at: time
    time_zone: TimeZone
    description: Annotated[Text, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _hours(self) -> "ScheduleIn":
        all_day = self.opens_at == self.closes_at == time(0)
        if not all_day and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at (00:00-00:00 means all day)")
        return self


class AddressIn(RequestBody):
    address_1: Annotated[Text, Field(min_length=1, max_length=200)]
    address_2: Annotated[Text, Field(max_length=200)] | None = None
    city: Annotated[Text, Field(min_length=1, max_length=100)]
    state_province: Annotated[Text, Field(max_length=100)] = ""
    postal_code: Annotated[Text, Field(max_length=20)] = ""
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class LocationIn(RequestBody):
    name: ShortName
    description: LongText | None = None
    latitude: Latitude
    longitude: Longitude
    location_type: LocationType = LocationType.physical
    visibility: Visibility = Visibility.public
    address: AddressIn | None = None
    phones: Annotated[list[PhoneIn], Field(max_length=10)] = []
    schedules: Annotated[list[ScheduleIn], Field(max_length=14)] = []


class LocationUpdate(PatchBody):
    NEVER_NULL = ("visibility",)

    name: ShortName | None = None
    description: LongText | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    visibility: Visibility | None = None
    address: AddressIn | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> "LocationUpdate":
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude change together")
        return self


def _valid_area(value: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    geometry = shape(value.model_dump(exclude_none=True))
    if not geometry.is_valid:
        raise ValueError("the polygon is not valid (self-intersecting or badly nested rings)")
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("coordinates must be longitude, latitude in WGS 84 (EPSG:4326)")
    return value


def _flat_positions(value: Any) -> Any:
    """Every position is [longitude, latitude], two JSON numbers. A third (a height) is refused
    rather than dropped: the column is two-dimensional, and a position of three numbers may as
    well be a garbled one. Strings and booleans are refused, not converted."""
    if not isinstance(value, dict):
        return value
    pending = [value.get("coordinates")]
    while pending:
        item = pending.pop()
        if not isinstance(item, list):
            continue  # the GeoJSON model names what is wrong with it
        if item and all(isinstance(part, list) for part in item):
            pending.extend(item)
        elif len(item) != 2 or not all(_is_number(part) for part in item):
            raise ValueError("each position must be [longitude, latitude]: two numbers, no height")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


AreaGeometry = Annotated[
    Polygon | MultiPolygon, BeforeValidator(_flat_positions), AfterValidator(_valid_area)
]


class ServiceAreaIn(RequestBody):
    name: ShortName
    extent: AreaGeometry = Field(
        description="GeoJSON Polygon or MultiPolygon, WGS 84; positions are [longitude, latitude] "
        "(a third number, a height, is refused)."
    )


class Translation(RequestBody):
    name: ShortName | None = None
    description: LongText | None = None


Translations = Annotated[
    dict[Annotated[str, Field(pattern=LANGUAGE_CODE)], Translation], Field(max_length=20)
]


class RequiredDocumentIn(RequestBody):
    document: ShortName = Field(examples=["Birth certificate or health booklet"])
    uri: Url | None = None


class CostOptionIn(RequestBody):
    option: ShortName | None = Field(default=None, examples=["Consultation"])
    amount: Annotated[Number, Field(ge=0, le=1e9)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, description="ISO 4217, e.g. MGA."
    )
    amount_description: Annotated[Text, Field(max_length=200)] | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _period(self) -> "CostOptionIn":
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class ContactIn(RequestBody):
    """A contact point, published: a desk or a role rather than a person, where possible."""

    name: ShortName | None = None
    title: ShortName | None = None
    department: ShortName | None = None
    email: Email | None = None


class _ServiceFields(RequestBody):
    alternate_name: ShortName | None = None
    description: LongText | None = None
    url: Url | None = None
    email: Email | None = None
    application_process: LongText | None = None
    fees_description: LongText | None = None
    eligibility_description: LongText | None = None
    minimum_age: Age | None = None
    maximum_age: Age | None = None
    genders: Annotated[list[Gender], Field(max_length=3)] | None = None
    target_groups: Annotated[list[TargetGroup], Field(max_length=len(TargetGroup))] | None = None
    accepts_referrals: Flag | None = None
    intake_channel: IntakeChannel | None = None
    visibility: Visibility | None = None
    needs: Annotated[list[NeedCode], Field(min_length=1, max_length=len(NEED_CODES))] | None = None
    phones: Annotated[list[PhoneIn], Field(max_length=10)] | None = None
    schedules: Annotated[list[ScheduleIn], Field(max_length=14)] | None = None
    languages: (
        Annotated[list[Annotated[str, Field(pattern=LANGUAGE_CODE)]], Field(max_length=20)] | None
    ) = None
    translations: Translations | None = None
    alert: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None, description="HSDS: a short-term notice (a temporary closure, a move)."
    )
    alert_until: date | None = Field(
        default=None, description="Relay: the last day the alert is shown (none: until removed)."
    )
    wait_time: ShortName | None = None
    required_documents: Annotated[list[RequiredDocumentIn], Field(max_length=20)] | None = None
    cost_options: Annotated[list[CostOptionIn], Field(max_length=20)] | None = None
    contacts: Annotated[list[ContactIn], Field(max_length=10)] | None = None

    @model_validator(mode="after")
    def _age_range(self) -> Any:
        if (
            self.minimum_age is not None
            and self.maximum_age is not None
            and self.minimum_age > self.maximum_age
        ):
            raise ValueError("minimum_age must not exceed maximum_age")
        return self


class ServiceCreate(_ServiceFields):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the caller's organisation; only admin may choose."
    )
    name: ShortName
    needs: Annotated[list[NeedCode], Field(min_length=1, max_length=len(NEED_CODES))]
    locations: Annotated[list[LocationIn], Field(max_length=50)] = []
    service_areas: Annotated[list[ServiceAreaIn], Field(max_length=20)] = []


class ServiceUpdate(_ServiceFields, PatchBody):
    """Every field optional; what is sent replaces what was there (lists as a whole)."""

    NEVER_NULL = ("name", "status", "visibility", "accepts_referrals", "needs")

    name: ShortName | None = None
    status: ServiceStatus | None = None


class CapacityUpdate(RequestBody):
    unit: Annotated[str, Field(pattern=r"^(bed|place|appointment)$")] = "bed"
    available: Annotated[Integer, Field(ge=0, le=100_000)]
    maximum: Annotated[Integer, Field(ge=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _within_maximum(self) -> "CapacityUpdate":
        if self.maximum is not None and self.available > self.maximum:
            raise ValueError("available must not exceed maximum")
        return self


class OrganizationUpdate(PatchBody):
    NEVER_NULL = ("name", "visibility")

    name: ShortName | None = None
    alternate_name: ShortName | None = None
    description: LongText | None = None
    email: Email | None = None
    website: Url | None = None
    visibility: Visibility | None = None
    translations: Translations | None = None


class StaleEntryPublic(BaseModel):
    """A service nobody confirmed for ``RELAY_DIRECTORY_STALE_DAYS``."""

    service_id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    organization: str
    assured_date: date | None = Field(description="Last confirmed; null: never.")
    stale_since: datetime = Field(description="When the worker flagged it.")


Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"),
]


class NationalLineCreate(RequestBody):
    country: Country = Field(description="ISO 3166-1 alpha-2, as the areas' `country`.")
    kind: NationalLineKind
    name: ShortName = Field(examples=["Police secours"])
    number: PhoneNumber
    needs: list[NeedCode] | None = Field(
        default=None,
        max_length=len(NEED_CODES),
        description="The needs it answers; by default those of its kind (police: "
        "emergency-police; child helpline: helpline, child-protection-case-management; "
        "women's helpline: helpline, psychosocial-support).",
    )


class NationalLinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    country: str
    kind: NationalLineKind
    name: str
    number: str
    needs: list[str]


class NationalLineShown(BaseModel):
    """A national line shown for a need no service near the point meets."""

    country: str
    kind: NationalLineKind
    name: str
    number: str
    needs: list[str]


class ReportPublic(BaseModel):
    """An anonymous report of a wrong entry, waiting in a review queue (nothing of who sent it
    is kept)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    service_id: uuid.UUID
    service: str = Field(description="The service's name.")
    organization_id: uuid.UUID
    organization: str
    reason: ReportReason
    correction: str | None = Field(description="What the reporter says is right, as typed.")
    created_at: datetime


class ReportQueueMeta(BaseModel):
    total: int = Field(description="Open reports in the queue (the list shows the oldest 200).")


class ReportQueue(BaseModel):
    data: list[ReportPublic]
    meta: ReportQueueMeta


class ReportResolved(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: ReportStatus
    resolved_at: datetime | None
