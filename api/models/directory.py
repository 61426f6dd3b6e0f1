"""The service directory, in Open Referral HSDS 3.1 shape, with Relay's extensions.

HSDS field names are kept as the spec spells them. Extensions are added fields, never renamed
ones: ``visibility`` (public | partners | confidential), structured eligibility (``genders``,
``target_groups`` beside HSDS ``minimum_age``/``maximum_age``), ``accepts_referrals`` and
``intake_channel``, ``translations`` (``{"fr": {"name": …, "description": …}}``), a coarse
``region_key`` on every located row, and ``source``/``source_id`` that make imports idempotent.

Visibility: *public* rows are shown to everyone; *partners* rows only to callers with
``directory:read``; *confidential* rows are listed for everyone, but what locates them
(coordinates, addresses, exact distance) only reaches callers with ``directory:confidential``.
"""

import uuid
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from geoalchemy2 import Geography, Geometry
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, trigram_indexes, utcnow
from api.taxonomy import NEED_CODES, term_id


class Visibility(StrEnum):
    public = "public"
    partners = "partners"
    confidential = "confidential"


class ServiceStatus(StrEnum):
    active = "active"
    inactive = "inactive"
    defunct = "defunct"
    temporarily_closed = "temporarily closed"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"


class TargetGroup(StrEnum):
    children = "children"
    adolescents = "adolescents"
    adolescent_girls = "adolescent_girls"
    women = "women"
    survivors_of_gbv = "survivors_of_gbv"
    survivors_of_trafficking = "survivors_of_trafficking"
    migrants = "migrants"
    people_with_disabilities = "people_with_disabilities"
    families = "families"


class IntakeChannel(StrEnum):
    api = "api"
    phone = "phone"
    walk_in = "walk_in"
    email = "email"
    referral_form = "referral_form"


class LocationType(StrEnum):
    physical = "physical"
    postal = "postal"
    virtual = "virtual"


def _translations() -> Any:
    return Field(
        default_factory=dict,
        sa_type=postgresql.JSONB,
        sa_column_kwargs={"server_default": sa.text("'{}'::jsonb")},
    )


def _text_array() -> Any:
    return Field(
        default_factory=list,
        sa_type=postgresql.ARRAY(sa.Text),
        sa_column_kwargs={"server_default": sa.text("'{}'::text[]")},
    )


def _last_modified() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
        index=True,
    )


def _visibility() -> Any:
    return Field(
        default=Visibility.public.value,
        sa_type=sa.Text,
        sa_column_kwargs={"server_default": Visibility.public.value},
    )


class _Kept(SQLModel):
    """The columns of a record an organisation keeps in the directory (a service, a location):
    who may list it, its words in other languages, where it was imported from, and the
    ``version`` its ETag names (bumped, with ``last_modified``, by every change)."""

    visibility: str = _visibility()
    translations: dict[str, Any] = _translations()
    source: str | None = Field(default=None, sa_type=sa.Text)
    source_id: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()
    last_modified: datetime = _last_modified()
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Service(_Kept, table=True):
    __tablename__ = "service"
    __table_args__ = (
        enum_check("status", ServiceStatus),
        enum_check("visibility", Visibility),
        sa.CheckConstraint(
            "minimum_age IS NULL OR maximum_age IS NULL OR minimum_age <= maximum_age",
            name="age_range",
        ),
        sa.UniqueConstraint("source", "source_id"),
        # What the stale sweep reads: the entries not flagged yet, by when they were checked.
        sa.Index(
            "ix_service_check_due",
            "assured_date",
            "created_at",
            postgresql_where=sa.text("stale_since IS NULL"),
        ),
        *trigram_indexes("service"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    name: str = Field(sa_type=sa.Text)
    alternate_name: str | None = Field(default=None, sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)
    url: str | None = Field(default=None, sa_type=sa.Text)
    email: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(default=ServiceStatus.active.value, sa_type=sa.Text)
    application_process: str | None = Field(default=None, sa_type=sa.Text)
    fees_description: str | None = Field(default=None, sa_type=sa.Text)
    eligibility_description: str | None = Field(default=None, sa_type=sa.Text)
    minimum_age: int | None = None
    maximum_age: int | None = None
    genders: list[str] = _text_array()
    target_groups: list[str] = _text_array()
    accepts_referrals: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    intake_channel: str | None = Field(default=None, sa_type=sa.Text)
    # HSDS 3.1's verification: the day someone last confirmed the entry still true, and the
    # e-mail address of the organisation that did (never a person's: it is published).
    assured_date: date | None = None
    assurer_email: str | None = Field(default=None, sa_type=sa.Text)
    # HSDS ``alert``: a short-term notice (a temporary closure, a move), shown until
    # ``alert_until`` (Relay's extension; none: until it is removed).
    alert: str | None = Field(default=None, sa_type=sa.Text)
    alert_until: date | None = None
    wait_time: str | None = Field(default=None, sa_type=sa.Text)  # HSDS (deprecated in 3.1)
    # When the worker found the entry unchecked for too long (``directory.stale`` was sent then,
    # once); cleared when someone confirms it. Not published.
    stale_since: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AdminArea(SQLModel, table=True):
    """Administrative areas (country > region > district > commune), as polygons."""

    __tablename__ = "admin_area"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id"),
        sa.Index("ix_admin_area_geom", "geom", postgresql_using="gist"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.Text)
    level: int = Field(index=True)
    code: str | None = Field(default=None, sa_type=sa.Text)
    country: str | None = Field(default=None, sa_type=sa.Text)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="admin_area.id", index=True)
    geom: Any = Field(
        sa_type=Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
    )
    source: str | None = Field(default=None, sa_type=sa.Text)
    source_id: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = created_at_field()


class Location(_Kept, table=True):
    __tablename__ = "location"
    __table_args__ = (
        enum_check("location_type", LocationType),
        enum_check("visibility", Visibility),
        sa.CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        sa.CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="both_coordinates"),
        sa.UniqueConstraint("source", "source_id"),
        sa.Index("ix_location_point", "point", postgresql_using="gist"),
        sa.Index("ix_location_stand_in", "stand_in", postgresql_using="gist"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    location_type: str = Field(default=LocationType.physical.value, sa_type=sa.Text)
    name: str | None = Field(default=None, sa_type=sa.Text)
    alternate_name: str | None = Field(default=None, sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)
    transportation: str | None = Field(default=None, sa_type=sa.Text)
    # Indexed for the extent of a collection (first place in each coordinate order).
    latitude: float | None = Field(default=None, index=True)
    longitude: float | None = Field(default=None, index=True)
    point: Any = Field(
        default=None,
        sa_column=sa.Column(
            Geography("POINT", srid=4326, spatial_index=False),
            sa.Computed(
                "CASE WHEN latitude IS NULL THEN NULL ELSE "
                "ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END",
                persisted=True,
            ),
        ),
    )
    # Where search ranks the place for a caller who may not locate it: every place on its point,
    # but a confidential one on a point of the area it is listed in (``ST_PointOnSurface`` of
    # ``admin_area_id``'s outline), the same for every place listed there, so that its rank and
    # distances say no more than that area; none without a listed area (not ranked at all).
    # Written by a trigger on every insert and update (migration 0013), never by the application.
    stand_in: Any = Field(
        default=None,
        sa_column=sa.Column(Geography("POINT", srid=4326, spatial_index=False)),
    )
    external_identifier: str | None = Field(default=None, sa_type=sa.Text)
    external_identifier_type: str | None = Field(default=None, sa_type=sa.Text)
    region_key: str | None = Field(default=None, sa_type=sa.Text, index=True)
    admin_area_id: uuid.UUID | None = Field(default=None, foreign_key="admin_area.id", index=True)


# Either kind of record an organisation keeps, for what reads, locks or writes both alike.
KeptT = TypeVar("KeptT", Service, Location)


class ServiceAtLocation(SQLModel, table=True):
    __tablename__ = "service_at_location"
    __table_args__ = (sa.UniqueConstraint("service_id", "location_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    service_id: uuid.UUID = Field(foreign_key="service.id", index=True)
    location_id: uuid.UUID = Field(foreign_key="location.id", index=True)
    description: str | None = Field(default=None, sa_type=sa.Text)
    region_key: str | None = Field(default=None, sa_type=sa.Text, index=True)
    created_at: datetime = created_at_field()


class Address(SQLModel, table=True):
    __tablename__ = "address"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    location_id: uuid.UUID = Field(foreign_key="location.id", index=True)
    attention: str | None = Field(default=None, sa_type=sa.Text)
    address_1: str = Field(sa_type=sa.Text)
    address_2: str | None = Field(default=None, sa_type=sa.Text)
    city: str = Field(sa_type=sa.Text)
    region: str | None = Field(default=None, sa_type=sa.Text)
    state_province: str = Field(default="", sa_type=sa.Text)
    postal_code: str = Field(default="", sa_type=sa.Text)
    country: str = Field(sa_type=sa.Text)
    address_type: str = Field(default="physical", sa_type=sa.Text)


def _one_owner(*owners: str) -> sa.CheckConstraint:
    """Exactly one of the ``owners`` columns is set: the row belongs to one record."""
    return sa.CheckConstraint(f"num_nonnulls({', '.join(owners)}) = 1", name="one_owner")


class _OfService(SQLModel):
    """A row that belongs to a service (a document it asks for, a cost, a contact, an area it
    reaches, its capacity)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    service_id: uuid.UUID = Field(foreign_key="service.id", index=True)


class _OfServiceOrLocation(SQLModel):
    """A row that belongs to a service or to a location (its table checks ``_one_owner``)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    service_id: uuid.UUID | None = Field(default=None, foreign_key="service.id", index=True)
    location_id: uuid.UUID | None = Field(default=None, foreign_key="location.id", index=True)


class Phone(SQLModel, table=True):
    __tablename__ = "phone"
    __table_args__ = (_one_owner("organization_id", "service_id", "location_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", index=True
    )
    service_id: uuid.UUID | None = Field(default=None, foreign_key="service.id", index=True)
    location_id: uuid.UUID | None = Field(default=None, foreign_key="location.id", index=True)
    number: str = Field(sa_type=sa.Text)
    extension: int | None = None
    type: str | None = Field(default=None, sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)


class Schedule(_OfServiceOrLocation, table=True):
    """Opening hours as RRULE parts (HSDS), in the IANA time zone ``time_zone``."""

    __tablename__ = "schedule"
    __table_args__ = (_one_owner("service_id", "location_id"),)

    valid_from: date | None = None
    valid_to: date | None = None
    freq: str | None = Field(default="WEEKLY", sa_type=sa.Text)
    byday: str | None = Field(default=None, sa_type=sa.Text)
    opens_at: time | None = None
    closes_at: time | None = None
    time_zone: str = Field(default="UTC", sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)
    attending_type: str | None = Field(default=None, sa_type=sa.Text)
    notes: str | None = Field(default=None, sa_type=sa.Text)


class RequiredDocument(_OfService, table=True):
    """HSDS ``required_document``: what a person must bring to use the service."""

    __tablename__ = "required_document"

    document: str = Field(sa_type=sa.Text)
    uri: str | None = Field(default=None, sa_type=sa.Text)


class CostOption(_OfService, table=True):
    """HSDS ``cost_option``: what the service costs (``fees_description`` in structure)."""

    __tablename__ = "cost_option"

    valid_from: date | None = None
    valid_to: date | None = None
    option: str | None = Field(default=None, sa_type=sa.Text)
    currency: str | None = Field(default=None, sa_type=sa.Text)
    amount: float | None = None
    amount_description: str | None = Field(default=None, sa_type=sa.Text)


class Contact(_OfService, table=True):
    """HSDS ``contact``: a named contact point of a service (a desk, a role; published)."""

    __tablename__ = "contact"

    name: str | None = Field(default=None, sa_type=sa.Text)
    title: str | None = Field(default=None, sa_type=sa.Text)
    department: str | None = Field(default=None, sa_type=sa.Text)
    email: str | None = Field(default=None, sa_type=sa.Text)


class ServiceArea(_OfService, table=True):
    """Where a service reaches without a visit: a mobile team's district, a national hotline."""

    __tablename__ = "service_area"
    __table_args__ = (sa.Index("ix_service_area_extent", "extent", postgresql_using="gist"),)

    name: str | None = Field(default=None, sa_type=sa.Text)
    description: str | None = Field(default=None, sa_type=sa.Text)
    extent: Any = Field(
        sa_type=Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
    )
    admin_area_id: uuid.UUID | None = Field(default=None, foreign_key="admin_area.id")
    # Whether the area makes its service *covering* in searches: set when Relay's rules
    # accepted it (bounded size, within the organisation's own countries) or the operator
    # declared it. Rows written any other way (an import, a hand-made insert) are not trusted
    # until the operator says so: a world-wide area must not rank first everywhere.
    vetted: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Language(_OfServiceOrLocation, table=True):
    __tablename__ = "language"
    __table_args__ = (_one_owner("service_id", "location_id"),)

    name: str | None = Field(default=None, sa_type=sa.Text)
    code: str = Field(sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)


class Taxonomy(SQLModel, table=True):
    __tablename__ = "taxonomy"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.Text, unique=True)
    description: str = Field(sa_type=sa.Text)
    uri: str | None = Field(default=None, sa_type=sa.Text)
    version: str | None = Field(default=None, sa_type=sa.Text)


class TaxonomyTerm(SQLModel, table=True):
    __tablename__ = "taxonomy_term"
    __table_args__ = (sa.UniqueConstraint("taxonomy_id", "code"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    taxonomy_id: uuid.UUID = Field(foreign_key="taxonomy.id", index=True)
    code: str = Field(sa_type=sa.Text)
    name: str = Field(sa_type=sa.Text)
    description: str = Field(sa_type=sa.Text)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="taxonomy_term.id", index=True)
    language: str | None = Field(default="en", sa_type=sa.Text)
    term_uri: str | None = Field(default=None, sa_type=sa.Text)
    translations: dict[str, Any] = _translations()


class Attribute(SQLModel, table=True):
    """Links an HSDS object to a taxonomy term: how a service says which needs it meets."""

    __tablename__ = "attribute"
    __table_args__ = (
        sa.UniqueConstraint("link_entity", "link_id", "taxonomy_term_id"),
        sa.Index("ix_attribute_term_link", "taxonomy_term_id", "link_entity", "link_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    link_id: uuid.UUID = Field(index=True)
    link_type: str | None = Field(default=None, sa_type=sa.Text)
    link_entity: str = Field(sa_type=sa.Text)
    taxonomy_term_id: uuid.UUID = Field(foreign_key="taxonomy_term.id")
    value: str | None = Field(default=None, sa_type=sa.Text)
    label: str | None = Field(default=None, sa_type=sa.Text)


def need_index_name(column: str, code: str) -> str:
    """The partial GiST index of one need on ``search_point``: ``point`` and ``stand_in`` hold
    the rows listed to anyone, ``public`` (on ``stand_in``) those listed to the public."""
    return f"ix_search_point_{column}_{code.replace('-', '_')}"


class Audience(StrEnum):
    """Who may list a ``search_point`` row (null: nobody)."""

    public = "public"
    partners = "partners"


class Intake(StrEnum):
    referrals = "referrals"
    walk_in = "walk-in"


# Genders as ``search_point.genders`` codes them (a multirange of these integers).
GENDER_CODES = {Gender.female.value: 1, Gender.male.value: 2, Gender.other.value: 3}
# The columns besides the position that each need's indexes hold: what the scan checks itself.
SCAN_FILTERS = ("ages", "genders", "intake", "hours")
# ``hours`` is an ``int4[]``: intarray's operator class (exact for a few ranges of hours).
SCAN_FILTER_OPERATOR_CLASSES = {"hours": "gist__int_ops"}
# (index name prefix, ranking column, the rows it holds)
NEED_INDEXES = (
    ("point", "point", "audience IS NOT NULL"),
    ("stand_in", "stand_in", "audience IS NOT NULL"),
    ("public", "stand_in", "audience = 'public'"),
)


class SearchPoint(SQLModel, table=True):
    """One row per (service at a located place, need it meets): the nearest-service index.

    Kept by database triggers on ``attribute``, ``service_at_location`` and ``location``
    (migrations 0004 and 0013: ``stand_in`` is the place's, so a confidential place's point of
    its listed area), never written by the application. Who the row is listed to and its
    service's eligibility are copied onto it by a trigger on the row itself, recomputed when the
    service, the place or an organisation changes (migration 0015); so are the hours of the week
    it may be open, when its rules or the place's change (migration 0016). Each need has partial
    GiST indexes on the ranking position and those columns (``NEED_INDEXES``): "nearest place
    meeting need X that this caller may see and this person may use, open then" is one ordered
    scan of an index holding only places meeting X and listed to the caller, which itself skips
    the ineligible (STYLE.md rule 10; issue 18).
    """

    __tablename__ = "search_point"
    __table_args__ = (
        enum_check("audience", Audience),
        enum_check("intake", Intake),
        *(
            sa.Index(
                need_index_name(prefix, code),
                column,
                *SCAN_FILTERS,
                postgresql_using="gist",
                postgresql_ops=SCAN_FILTER_OPERATOR_CLASSES,
                postgresql_where=sa.text(f"taxonomy_term_id = '{term_id(code)}'::uuid AND {rows}"),
            )
            for code in NEED_CODES
            for prefix, column, rows in NEED_INDEXES
        ),
    )

    link_id: uuid.UUID = Field(
        foreign_key="service_at_location.id", ondelete="CASCADE", primary_key=True
    )
    taxonomy_term_id: uuid.UUID = Field(
        foreign_key="taxonomy_term.id", ondelete="CASCADE", primary_key=True
    )
    service_id: uuid.UUID = Field(index=True)
    location_id: uuid.UUID = Field(index=True)
    point: Any = Field(
        sa_column=sa.Column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)
    )
    # Null for a confidential place listed in no area: not ranked for a viewer who may not
    # locate it.
    stand_in: Any = Field(
        sa_column=sa.Column(Geography("POINT", srid=4326, spatial_index=False), nullable=True)
    )
    audience: str | None = Field(default=None, sa_type=sa.Text)
    ages: Any = Field(sa_column=sa.Column(postgresql.INT4RANGE(), nullable=False))
    genders: Any = Field(sa_column=sa.Column(postgresql.INT4MULTIRANGE(), nullable=False))
    intake: str = Field(sa_type=sa.Text)
    # The UTC hours of the week (0: Monday 00:00-01:00) in which the service may be open at the
    # place: a superset of its opening rules and the place's (migration 0016), for the scan to
    # skip what cannot be open at ``open_at``; ``is_open`` decides after it.
    hours: list[int] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Integer()), nullable=False))


class TimeZoneOffsets(SQLModel, table=True):
    """The UTC offsets (minutes) each time zone the database server knows has from 2020 to 2040,
    for ``search_point.hours`` (migration 0016); never written by the application."""

    __tablename__ = "time_zone_offsets"

    zone: str = Field(sa_type=sa.Text, primary_key=True)
    minutes: list[int] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Integer()), nullable=False))


class Unit(SQLModel, table=True):
    __tablename__ = "unit"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.Text, unique=True)
    scheme: str | None = Field(default=None, sa_type=sa.Text)
    identifier: str | None = Field(default=None, sa_type=sa.Text)


class ServiceCapacity(_OfService, table=True):
    __tablename__ = "service_capacity"
    __table_args__ = (
        sa.UniqueConstraint("service_id", "unit_id"),
        sa.CheckConstraint("available >= 0", name="available"),
        sa.CheckConstraint("maximum IS NULL OR maximum >= available", name="maximum"),
    )

    unit_id: uuid.UUID = Field(foreign_key="unit.id")
    available: int
    maximum: int | None = None
    description: str | None = Field(default=None, sa_type=sa.Text)
    updated: datetime = created_at_field()


class NationalLineKind(StrEnum):
    police = "police"
    child_helpline = "child_helpline"
    womens_helpline = "womens_helpline"
    other = "other"


class NationalLine(SQLModel, table=True):
    """A country's national line (police emergency number, child helpline, women's helpline),
    entered by the operator: what the lookup and the search show for a need when no service
    near the point meets it, so that a volunteer is never left with "no service known" alone."""

    __tablename__ = "national_line"
    __table_args__ = (
        enum_check("kind", NationalLineKind),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
        sa.UniqueConstraint("country", "kind", "number"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # ISO 3166-1 alpha-2, as ``admin_area.country``.
    country: str = Field(sa_type=sa.Text, index=True)
    kind: str = Field(sa_type=sa.Text)
    name: str = Field(sa_type=sa.Text)
    number: str = Field(sa_type=sa.Text)
    # The needs it answers (referral-needs codes).
    needs: list[str] = _text_array()
    created_at: datetime = created_at_field()


class ReportReason(StrEnum):
    wrong_number = "wrong_number"
    closed = "closed"
    moved = "moved"
    other = "other"


class ReportStatus(StrEnum):
    open = "open"
    accepted = "accepted"
    dismissed = "dismissed"


class DirectoryReport(SQLModel, table=True):
    """Someone (anonymous) says an entry is wrong: what, and an optional correction. Waits in
    the review queue of the entry's organisation and the operator; never published as it is.
    Holds nothing of who sent it (no address, no session): the throttle keeps a keyed hash of
    the address, elsewhere, for an hour."""

    __tablename__ = "directory_report"
    __table_args__ = (
        enum_check("reason", ReportReason),
        enum_check("status", ReportStatus),
        sa.Index(
            "ix_directory_report_open",
            "organization_id",
            "created_at",
            postgresql_where=sa.text("status = 'open'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    service_id: uuid.UUID = Field(foreign_key="service.id", ondelete="CASCADE", index=True)
    # The organisation whose queue it waits in: the service's when reported.
    organization_id: uuid.UUID = Field(foreign_key="organization.id", ondelete="CASCADE")
    reason: str = Field(sa_type=sa.Text)
    correction: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(
        default=ReportStatus.open.value,
        sa_type=sa.Text,
        sa_column_kwargs={"server_default": ReportStatus.open.value},
    )
    created_at: datetime = created_at_field()
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Who accepted or dismissed it: a client id, or ``user/<id>`` for a person.
    resolved_by: str | None = Field(default=None, sa_type=sa.Text)


class ImportJob(SQLModel, table=True):
    """One run of ``relay import …``, as the operator sees it: what was read, the counts
    (``ImportReport.summary()``: created, updated, already present, rejected by reason) and its
    CSV report of rejected rows (fixed phrases and source ids, never a row's values)."""

    __tablename__ = "import_job"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(sa_type=sa.Text)
    source: str = Field(sa_type=sa.Text)
    file: str = Field(sa_type=sa.Text)
    finished_at: datetime = created_at_field()
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=postgresql.JSONB)
    report: str = Field(default="", sa_type=sa.Text)


class Metadata(SQLModel, table=True):
    """HSDS change records: who changed which field of which record, when, from what to what."""

    __tablename__ = "metadata"
    __table_args__ = (sa.Index("ix_metadata_resource", "resource_type", "resource_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    resource_id: uuid.UUID
    resource_type: str = Field(sa_type=sa.Text)
    last_action_date: datetime = created_at_field()
    last_action_type: str = Field(sa_type=sa.Text)
    field_name: str = Field(sa_type=sa.Text)
    previous_value: str = Field(default="", sa_type=sa.Text)
    replacement_value: str = Field(default="", sa_type=sa.Text)
    updated_by: str = Field(sa_type=sa.Text)
