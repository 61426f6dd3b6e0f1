"""A fictional demo referral network, generated the same way every time.

Three districts of an invented region ("Terre-Démo"), each with a protection committee, a
police post and a health centre; a regional social welfare office; NGOs for legal aid,
psychosocial support, anti-trafficking and education; a confidential shelter; and a national
hotline whose service area covers the whole region. English with French translations, opening
hours in Africa/Dakar time, eligibility, capacity, partner-only services; a voice number for
every organisation and service, and an SMS line and a WhatsApp line besides. Every name says
"(demo)" and every phone number is marked as a demo number: nothing here is a real service.

The network itself is data (``demo_network.toml``, beside this module); this module makes its rows,
the same ids in the same order on every run.
"""

import base64
import hashlib
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from api.auth import passwords
from api.auth.roles import requires_second_factor
from api.config import Environment, Settings
from api.errors import Forbidden
from api.geo.regions import region_key
from api.models import directory
from api.models.base import utcnow
from api.models.organization import Organization, OrganizationKind
from api.models.people import UserAccount, UserRole
from api.repositories import demo as repository
from api.repositories import organizations as organization_repository
from api.repositories import people as people_repository
from api.taxonomy import term_id, unit_id

SOURCE = "relay-demo"
NAMESPACE = uuid.UUID("0c7d6c1e-53b4-4d4e-8f36-6a0d2f1e9b77")
NETWORK_FILE = Path(__file__).with_name("demo_network.toml")
WEEKDAYS = "MO,TU,WE,TH,FR"
EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
OFFICE_HOURS = (WEEKDAYS, time(8), time(17))
ALWAYS = (EVERY_DAY, time(0), time(0))

Spec = dict[str, Any]  # a table of demo_network.toml


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


def _rectangle(south: float, west: float, north: float, east: float) -> WKTElement:
    ring = f"{west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}"
    return WKTElement(f"MULTIPOLYGON((({ring})))", srid=4326)


def _phone(serial: int) -> str:
    return f"+22130000{serial:04d}"


# The numbers of the lines listed in a service's ``more_phones`` count from here, so that they
# never move the numbers every organisation and service has.
MORE_PHONES_FROM = 9000


@dataclass
class Network:
    """The rows of the demo network, in insertion order."""

    time_zone: str
    rows: list[SQLModel] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    serial: int = 0
    more_serial: int = MORE_PHONES_FROM

    def add(self, row: SQLModel) -> Any:
        self.rows.append(row)
        name = type(row).__tablename__
        self.counts[str(name)] = self.counts.get(str(name), 0) + 1
        return row

    def add_phone(self, owner: str, key: str, **owner_id: Any) -> None:
        """The next demo number, for the ``owner`` (organization, service) of ``key``."""
        self.serial += 1
        self.add(
            directory.Phone(
                id=_id("phone", owner, key),
                number=_phone(self.serial),
                type="voice",
                description="Demo number",
                **owner_id,
            )
        )

    def add_more_phones(self, key: str, phones: list[Spec], **owner_id: Any) -> None:
        """A service's other lines, each with a number of its own and its phone ``type``
        (``text``: an SMS line, as HSDS says; ``whatsapp``: a WhatsApp line)."""
        for index, spec in enumerate(phones):
            self.more_serial += 1
            self.add(
                directory.Phone(
                    id=_id("phone", "service", key, str(index)),
                    number=_phone(self.more_serial),
                    type=spec["type"],
                    description=f"Demo number: {spec['description']}",
                    **owner_id,
                )
            )


def _area(
    network: Network, key: str, name: str, bounds: list[float], **fields: Any
) -> directory.AdminArea:
    area: directory.AdminArea = network.add(
        directory.AdminArea(
            id=_id("area", key),
            name=name,
            country="ZZ",
            geom=_rectangle(*bounds),
            source=SOURCE,
            source_id=f"area/{key}",
            **fields,
        )
    )
    return area


def _organization(network: Network, spec: Spec) -> Organization:
    key, kind = spec["key"], OrganizationKind(spec["kind"])
    organization: Organization = network.add(
        Organization(
            id=_id("organization", key),
            name=f"{spec['name']} (demo)",
            kind=kind.value,
            description=spec.get(
                "description", f"Fictional {kind.value} organisation of the Relay demo."
            ),
            source=SOURCE,
            source_id=f"organization/{key}",
        )
    )
    network.add_phone("organization", key, organization_id=organization.id)
    return organization


def _location(
    network: Network,
    organization: Organization,
    key: str,
    spec: Spec,
    latitude: float,
    longitude: float,
    area: directory.AdminArea,
) -> directory.Location:
    location: directory.Location = network.add(
        directory.Location(
            id=_id("location", key),
            organization_id=organization.id,
            name=f"{spec['name']} (demo)",
            latitude=latitude,
            longitude=longitude,
            region_key=region_key(latitude, longitude),
            admin_area_id=area.id,
            visibility=spec.get("visibility", directory.Visibility.public.value),
            source=SOURCE,
            source_id=f"location/{key}",
        )
    )
    network.add(
        directory.Address(
            id=_id("address", key),
            location_id=location.id,
            address_1=f"{len(network.rows) % 90 + 1} Demo street",
            city=f"{area.name.removesuffix(' (demo)')}",
            state_province="Terre-Démo",
            postal_code="00000",
            country="ZZ",
            address_type="physical",
        )
    )
    network.add(
        directory.Language(
            id=_id("language", "location", key, "fr"),
            location_id=location.id,
            code="fr",
            name="French",
        )
    )
    return location


def _hours(spec: Spec) -> tuple[str, time, time]:
    hours = spec.get("hours")
    if hours is None:
        return OFFICE_HOURS
    if hours == "always":
        return ALWAYS
    return hours["days"], hours["opens"], hours["closes"]


def _service(
    network: Network,
    organization: Organization,
    locations: list[directory.Location],
    spec: Spec,
    region: directory.AdminArea,
) -> directory.Service:
    key = spec["key"]
    service: directory.Service = network.add(
        directory.Service(
            id=_id("service", key),
            organization_id=organization.id,
            name=f"{spec['name']} (demo)",
            description=spec["description"],
            status="active",
            eligibility_description=_eligibility_text(spec),
            minimum_age=spec.get("minimum_age"),
            maximum_age=spec.get("maximum_age"),
            genders=list(spec.get("genders", [])),
            target_groups=list(spec.get("target_groups", [])),
            accepts_referrals=spec.get("accepts_referrals", True),
            intake_channel=spec.get("intake_channel", "phone"),
            visibility=spec.get("visibility", directory.Visibility.public.value),
            translations={"fr": {"name": f"{spec['name_fr']} (démo)"}},
            source=SOURCE,
            source_id=f"service/{key}",
        )
    )
    for location in locations:
        network.add(
            directory.ServiceAtLocation(
                id=_id("service_at_location", key, str(location.id)),
                service_id=service.id,
                location_id=location.id,
                region_key=location.region_key,
            )
        )
    for code in spec["needs"]:
        network.add(
            directory.Attribute(
                id=_id("attribute", key, code),
                link_id=service.id,
                link_entity="service",
                link_type="need",
                taxonomy_term_id=term_id(code),
            )
        )
    network.add_phone("service", key, service_id=service.id)
    network.add_more_phones(key, spec.get("more_phones", []), service_id=service.id)
    for code, name in (("fr", "French"), ("wo", "Wolof")):
        network.add(
            directory.Language(
                id=_id("language", key, code), service_id=service.id, code=code, name=name
            )
        )
    days, opens, closes = _hours(spec)
    network.add(
        directory.Schedule(
            id=_id("schedule", key),
            service_id=service.id,
            freq="WEEKLY",
            byday=days,
            opens_at=opens,
            closes_at=closes,
            time_zone=network.time_zone,
            description=_hours_text(days, opens, closes),
        )
    )
    if "capacity" in spec:
        capacity = spec["capacity"]
        network.add(
            directory.ServiceCapacity(
                id=_id("capacity", key),
                service_id=service.id,
                unit_id=unit_id(capacity["unit"]),
                available=capacity["available"],
                maximum=capacity["maximum"],
            )
        )
    if "service_area" in spec:
        network.add(
            directory.ServiceArea(
                id=_id("service_area", key),
                service_id=service.id,
                name=spec["service_area"],
                extent=region.geom,
                admin_area_id=region.id,
                vetted=True,
            )
        )
    return service


def _eligibility_text(spec: Spec) -> str | None:
    parts: list[str] = []
    minimum, maximum = spec.get("minimum_age"), spec.get("maximum_age")
    if spec.get("genders"):
        parts.append(" and ".join(spec["genders"]))
    if spec.get("target_groups"):
        parts.append(", ".join(group.replace("_", " ") for group in spec["target_groups"]))
    if minimum is not None or maximum is not None:
        parts.append(f"aged {minimum or 0} to {maximum or 'any age'}")
    return "For " + "; ".join(parts) + "." if parts else None


def _hours_text(days: str, opens: time, closes: time) -> str:
    if opens == closes == time(0):
        return "Open 24 hours, every day."
    return f"{days.replace(',', ', ')}: {opens:%H:%M}-{closes:%H:%M}"


def _in_district(value: Any, district: Spec) -> Any:
    """A district organisation's table with the district's name and key filled in."""
    if isinstance(value, str):
        return value.replace("{district}", district["name"]).replace("{key}", district["key"])
    if isinstance(value, dict):
        return {name: _in_district(item, district) for name, item in value.items()}
    if isinstance(value, list):
        return [_in_district(item, district) for item in value]
    return value


def _member(
    network: Network,
    spec: Spec,
    area: directory.AdminArea,
    region: directory.AdminArea,
    at: tuple[float, float],
) -> None:
    """An organisation, its place at ``at`` (latitude, longitude) in ``area``, its services."""
    organization = _organization(network, spec)
    places = []
    if "place" in spec:
        latitude, longitude = at
        places.append(
            _location(network, organization, spec["key"], spec["place"], latitude, longitude, area)
        )
    for service in spec.get("services", []):
        _service(network, organization, places, service, region)


def _districts(network: Network, data: Spec, region: directory.AdminArea) -> None:
    """Each district's area, then its organisations (those ``in_every_district``)."""
    templates = [spec for spec in data["organizations"] if spec.get("in_every_district")]
    for district in data["districts"]:
        south, west, north, east = district["bounds"]
        area = _area(
            network,
            district["key"],
            f"{district['name']} (demo)",
            district["bounds"],
            level=2,
            code=f"DEMO-{district['key'][:3].upper()}",
            parent_id=region.id,
        )
        centre = ((south + north) / 2, (west + east) / 2)
        for template in templates:
            member = _in_district(template, district)
            offset = member["place"]["offset"]
            _member(network, member, area, region, (centre[0] + offset[0], centre[1] + offset[1]))


def build() -> Network:
    data = tomllib.loads(NETWORK_FILE.read_text(encoding="utf-8"))
    network = Network(time_zone=data["time_zone"])
    region = _area(
        network,
        "region",
        data["region"]["name"],
        data["region"]["bounds"],
        level=1,
        code=data["region"]["code"],
    )
    districts_placed = False
    for spec in data["organizations"]:
        if not spec.get("in_every_district"):
            place = spec.get("place", {})
            _member(network, spec, region, region, (place.get("latitude"), place.get("longitude")))
        elif not districts_placed:  # the districts stand where the first of their organisations
            _districts(network, data, region)
            districts_placed = True
    return network


async def load(session: AsyncSession, *, only_if_empty: bool = False) -> dict[str, int]:
    """Insert the demo network; returns counts by table. Loading twice changes nothing; with
    ``only_if_empty`` nothing is loaded into a directory that has any organisation."""
    if await repository.demo_loaded(session, SOURCE):
        return {}
    if only_if_empty and not await repository.directory_is_empty(session):
        return {}
    network = build()
    await repository.add_all(session, network.rows)
    return dict(sorted(network.counts.items()))


DEMO_PARTNER = "relay-demo-partner"
DEMO_PARTNER_SCOPES = [
    "directory:read",
    "directory:write",
    "directory:confidential",
    "referrals:send",
    "referrals:receive",
    "webhooks:manage",
    "audit:read",
    "stats:read",
]


async def partner_credentials(session: AsyncSession, secret_key: str) -> dict[str, str]:
    """The demo partner's client, created on first use, with a new secret each call (a
    development convenience: ``make run`` prints working credentials every time)."""
    from api.schemas.clients import ClientCreate
    from api.services import clients

    organization = await repository.get_demo_partner(session, DEMO_PARTNER)
    if organization is None:
        organization = await _add_organization(
            session,
            DEMO_PARTNER,
            "Relay demo partner (demo)",
            "The organisation whose client `make run` prints.",
        )
    client_id = await repository.first_client_of(session, organization.id)
    if client_id is None:
        created = await clients.create(
            session,
            secret_key,
            ClientCreate.model_validate(
                {"organization_id": organization.id, "name": "demo", "scopes": DEMO_PARTNER_SCOPES}
            ),
        )
    else:
        created = await clients.rotate_secret(session, secret_key, client_id)
    return {
        "client_id": created.client_id,
        "client_secret": created.client_secret or "",
        "scope": " ".join(created.scopes),
    }


# -- demo people ----------------------------------------------------------------------------------

DEMO_OPERATOR = "relay-demo-operator"


class DemoPeopleRefused(Forbidden, code="demo-people-development-only"):
    """Demo people have passwords anyone can read in the source: never outside development."""


@dataclass(frozen=True)
class DemoPerson:
    login_name: str
    role: UserRole
    organization: str
    """The ``source_id`` of their organisation in the demo network (or ``DEMO_OPERATOR``)."""
    display_name: str
    password: str
    phone: str | None = None
    language: str = "en"

    @property
    def totp_secret(self) -> str | None:
        """A fixed secret (development only) for the roles that must use TOTP: the same on
        every machine, so the printed instructions always work."""
        if not requires_second_factor(self.role):
            return None
        digest = hashlib.sha256(f"relay-demo-totp/{self.login_name}".encode()).digest()
        return base64.b32encode(digest[:20]).decode()


DEMO_PEOPLE = (
    DemoPerson(
        "demo.volunteer",
        UserRole.volunteer,
        "organization/committee-sabali",
        "Aminata (demo volunteer)",
        "sabali committee demo",
        phone="+22130009001",
        language="fr",
    ),
    DemoPerson(
        "demo.caseworker",
        UserRole.caseworker,
        "organization/health-sabali",
        "Moussa (demo caseworker)",
        "sabali health demo",
    ),
    DemoPerson(
        "demo.admin",
        UserRole.org_admin,
        "organization/health-sabali",
        "Fatou (demo admin)",
        "sabali admin demo",
    ),
    DemoPerson(
        "demo.operator",
        UserRole.operator,
        DEMO_OPERATOR,
        "Ousmane (demo operator)",
        "terre demo operator",
    ),
)


def _refuse_outside_development(settings: Settings) -> None:
    if settings.environment is not Environment.development:
        raise DemoPeopleRefused("Demo people exist only in development.")


async def _operator_organization(session: AsyncSession) -> Organization:
    found = await organization_repository.operator(session)
    if found is not None:
        return found
    return await _add_organization(
        session,
        DEMO_OPERATOR,
        "Relay operator (demo)",
        "The operating organisation of the demo: its people are operators.",
        operator=True,
    )


async def _add_organization(
    session: AsyncSession, source_id: str, name: str, description: str, *, operator: bool = False
) -> Organization:
    """One of the demo's own organisations (an NGO that only partners list)."""
    return await repository.add_organization(
        session,
        Organization(
            name=name,
            kind=OrganizationKind.ngo.value,
            description=description,
            visibility=directory.Visibility.partners.value,
            source=SOURCE,
            source_id=source_id,
            operator=operator,
        ),
    )


async def load_people(session: AsyncSession, settings: Settings) -> int:
    """The demo people (development only), each with its password and, for the roles that need
    one, a confirmed authenticator with a fixed secret; returns how many were created (those
    already there are left as they are). Needs the demo network (``load``)."""
    _refuse_outside_development(settings)
    if not await repository.demo_loaded(session, SOURCE):
        return 0  # a directory of someone's own: no demo organisations to put people in
    created = 0
    for person in DEMO_PEOPLE:
        if await people_repository.find_by_login(session, login_name=person.login_name):
            continue
        if person.organization == DEMO_OPERATOR:
            organization: Organization | None = await _operator_organization(session)
        else:
            organization = await repository.get_demo_partner(session, person.organization)
        if organization is None:
            continue  # the demo network is not loaded (a directory of someone's own)
        user = UserAccount(
            organization_id=organization.id,
            role=person.role.value,
            operator=person.role is UserRole.operator,
            login_name=person.login_name,
            phone=person.phone,
            display_name=person.display_name,
            preferred_language=person.language,
            password_hash=await passwords.hash_password(
                settings, passwords.normalise(person.password)
            ),
            password_changed_at=utcnow(),
        )
        if person.totp_secret is not None:
            user.totp_secret, user.totp_secret_version = settings.master.seal(
                person.totp_secret.encode(), table="user_account", column="totp_secret", row=user.id
            )
            user.totp_confirmed_at = utcnow()
        await people_repository.add(session, user)
        created += 1
    return created


def people_credentials(settings: Settings) -> list[dict[str, str | None]]:
    """How to sign in as each demo person (development only)."""
    _refuse_outside_development(settings)
    return [
        {
            "role": person.role.value,
            "login": person.login_name,
            "phone": person.phone,
            "password": person.password,
            "totp_secret": person.totp_secret,
            "totp_code_now": (
                f"python3 -c \"import pyotp; print(pyotp.TOTP('{person.totp_secret}').now())\""
                if person.totp_secret
                else None
            ),
        }
        for person in DEMO_PEOPLE
    ]
