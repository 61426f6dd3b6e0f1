"""A fictional demo referral network, generated the same way every time.

Three districts of an invented region ("Terre-Démo"), each with a protection committee, a
police post and a health centre; a regional social welfare office; NGOs for legal aid,
psychosocial support, anti-trafficking and education; a confidential shelter; and a national
hotline whose service area covers the whole region. English with French translations, opening
hours in Africa/Dakar time, eligibility, capacity, partner-only services. Every name says
"(demo)" and every phone number is marked as a demo number: nothing here is a real service.
"""

import uuid
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from api.geo.regions import region_key
from api.models.directory import (
    Address,
    AdminArea,
    Attribute,
    Language,
    Location,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Visibility,
)
from api.models.organization import Organization, OrganizationKind
from api.repositories import demo as repository
from api.taxonomy import term_id, unit_id

SOURCE = "relay-demo"
NAMESPACE = uuid.UUID("0c7d6c1e-53b4-4d4e-8f36-6a0d2f1e9b77")
TIME_ZONE = "Africa/Dakar"
WEEKDAYS = "MO,TU,WE,TH,FR"
EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
REGION = ("Terre-Démo (demo)", 13.80, -16.40, 14.40, -15.50)  # name, south, west, north, east
DISTRICTS = [
    ("Sabali", 13.80, -16.40, 14.40, -16.10),
    ("Kounda", 13.80, -16.10, 14.40, -15.80),
    ("Mbayène", 13.80, -15.80, 14.40, -15.50),
]


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


def _rectangle(south: float, west: float, north: float, east: float) -> WKTElement:
    ring = f"{west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}"
    return WKTElement(f"MULTIPOLYGON((({ring})))", srid=4326)


def _phone(serial: int) -> str:
    return f"+22130000{serial:04d}"


@dataclass
class Network:
    """The rows of the demo network, in insertion order."""

    rows: list[SQLModel] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def add(self, row: SQLModel) -> Any:
        self.rows.append(row)
        name = type(row).__tablename__
        self.counts[str(name)] = self.counts.get(str(name), 0) + 1
        return row

    def next_phone(self) -> str:
        self.serial += 1
        return _phone(self.serial)


@dataclass(frozen=True)
class ServiceSpec:
    key: str
    name: str
    name_fr: str
    description: str
    needs: tuple[str, ...]
    schedule: tuple[str, time, time] | None = (WEEKDAYS, time(8), time(17))
    visibility: Visibility = Visibility.public
    accepts_referrals: bool = True
    intake_channel: str = "phone"
    minimum_age: int | None = None
    maximum_age: int | None = None
    genders: tuple[str, ...] = ()
    target_groups: tuple[str, ...] = ()
    capacity: tuple[str, int, int] | None = None


def _organization(
    network: Network, key: str, name: str, kind: OrganizationKind, **extra: Any
) -> Organization:
    organization: Organization = network.add(
        Organization(
            id=_id("organization", key),
            name=f"{name} (demo)",
            kind=kind.value,
            description=extra.pop(
                "description", f"Fictional {kind.value} organisation of the Relay demo."
            ),
            source=SOURCE,
            source_id=f"organization/{key}",
            **extra,
        )
    )
    network.add(
        Phone(
            id=_id("phone", "organization", key),
            organization_id=organization.id,
            number=network.next_phone(),
            type="voice",
            description="Demo number",
        )
    )
    return organization


def _location(
    network: Network,
    organization: Organization,
    key: str,
    name: str,
    latitude: float,
    longitude: float,
    area: AdminArea,
    visibility: Visibility = Visibility.public,
) -> Location:
    location: Location = network.add(
        Location(
            id=_id("location", key),
            organization_id=organization.id,
            name=f"{name} (demo)",
            latitude=latitude,
            longitude=longitude,
            region_key=region_key(latitude, longitude),
            admin_area_id=area.id,
            visibility=visibility.value,
            source=SOURCE,
            source_id=f"location/{key}",
        )
    )
    network.add(
        Address(
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
        Language(
            id=_id("language", "location", key, "fr"),
            location_id=location.id,
            code="fr",
            name="French",
        )
    )
    return location


def _service(
    network: Network,
    organization: Organization,
    locations: list[Location],
    spec: ServiceSpec,
) -> Service:
    service: Service = network.add(
        Service(
            id=_id("service", spec.key),
            organization_id=organization.id,
            name=f"{spec.name} (demo)",
            description=spec.description,
            status="active",
            eligibility_description=_eligibility_text(spec),
            minimum_age=spec.minimum_age,
            maximum_age=spec.maximum_age,
            genders=list(spec.genders),
            target_groups=list(spec.target_groups),
            accepts_referrals=spec.accepts_referrals,
            intake_channel=spec.intake_channel,
            visibility=spec.visibility.value,
            translations={"fr": {"name": f"{spec.name_fr} (démo)"}},
            source=SOURCE,
            source_id=f"service/{spec.key}",
        )
    )
    for location in locations:
        network.add(
            ServiceAtLocation(
                id=_id("service_at_location", spec.key, str(location.id)),
                service_id=service.id,
                location_id=location.id,
                region_key=location.region_key,
            )
        )
    for code in spec.needs:
        network.add(
            Attribute(
                id=_id("attribute", spec.key, code),
                link_id=service.id,
                link_entity="service",
                link_type="need",
                taxonomy_term_id=term_id(code),
            )
        )
    network.add(
        Phone(
            id=_id("phone", "service", spec.key),
            service_id=service.id,
            number=network.next_phone(),
            type="voice",
            description="Demo number",
        )
    )
    for code, name in (("fr", "French"), ("wo", "Wolof")):
        network.add(
            Language(
                id=_id("language", spec.key, code), service_id=service.id, code=code, name=name
            )
        )
    if spec.schedule is not None:
        days, opens, closes = spec.schedule
        network.add(
            Schedule(
                id=_id("schedule", spec.key),
                service_id=service.id,
                freq="WEEKLY",
                byday=days,
                opens_at=opens,
                closes_at=closes,
                time_zone=TIME_ZONE,
                description=_hours_text(days, opens, closes),
            )
        )
    if spec.capacity is not None:
        unit, available, maximum = spec.capacity
        network.add(
            ServiceCapacity(
                id=_id("capacity", spec.key),
                service_id=service.id,
                unit_id=unit_id(unit),
                available=available,
                maximum=maximum,
            )
        )
    return service


def _eligibility_text(spec: ServiceSpec) -> str | None:
    parts: list[str] = []
    if spec.genders:
        parts.append(" and ".join(spec.genders))
    if spec.target_groups:
        parts.append(", ".join(group.replace("_", " ") for group in spec.target_groups))
    if spec.minimum_age is not None or spec.maximum_age is not None:
        parts.append(f"aged {spec.minimum_age or 0} to {spec.maximum_age or 'any age'}")
    return "For " + "; ".join(parts) + "." if parts else None


def _hours_text(days: str, opens: time, closes: time) -> str:
    if opens == closes == time(0):
        return "Open 24 hours, every day."
    return f"{days.replace(',', ', ')}: {opens:%H:%M}-{closes:%H:%M}"


ALWAYS = (EVERY_DAY, time(0), time(0))


def build() -> Network:
    network = Network()
    name, south, west, north, east = REGION
    region = network.add(
        AdminArea(
            id=_id("area", "region"),
            name=name,
            level=1,
            code="DEMO",
            country="ZZ",
            geom=_rectangle(south, west, north, east),
            source=SOURCE,
            source_id="area/region",
        )
    )
    social_welfare = _organization(
        network, "social-welfare", "Regional social welfare office", OrganizationKind.social_welfare
    )
    welfare_office = _location(
        network,
        social_welfare,
        "social-welfare",
        "Social welfare office, Sabali",
        14.12,
        -16.25,
        region,
    )
    _service(
        network,
        social_welfare,
        [welfare_office],
        ServiceSpec(
            "child-protection-case-management",
            "Child protection case management",
            "Gestion de cas de protection de l'enfant",
            "A social worker assesses the child's situation, plans and follows up the case.",
            ("child-protection-case-management", "family-support", "reintegration"),
            maximum_age=17,
            target_groups=("children",),
        ),
    )

    for district, d_south, d_west, d_north, d_east in DISTRICTS:
        key = district.lower().replace("è", "e")
        area = network.add(
            AdminArea(
                id=_id("area", key),
                name=f"{district} (demo)",
                level=2,
                code=f"DEMO-{key[:3].upper()}",
                country="ZZ",
                parent_id=region.id,
                geom=_rectangle(d_south, d_west, d_north, d_east),
                source=SOURCE,
                source_id=f"area/{key}",
            )
        )
        centre_lat = (d_south + d_north) / 2
        centre_lon = (d_west + d_east) / 2
        committee = _organization(
            network,
            f"committee-{key}",
            f"{district} child protection committee",
            OrganizationKind.committee,
        )
        committee_place = _location(
            network,
            committee,
            f"committee-{key}",
            f"{district} village hall",
            centre_lat + 0.05,
            centre_lon - 0.04,
            area,
        )
        _service(
            network,
            committee,
            [committee_place],
            ServiceSpec(
                f"committee-{key}",
                f"{district} community protection committee",
                f"Comité communautaire de protection de {district}",
                "Trained volunteers who identify children and women at risk and refer them.",
                ("child-protection-case-management", "family-support"),
                schedule=(WEEKDAYS, time(9), time(13)),
                intake_channel="walk_in",
            ),
        )
        police = _organization(
            network, f"police-{key}", f"{district} police post", OrganizationKind.police
        )
        police_place = _location(
            network,
            police,
            f"police-{key}",
            f"{district} police post",
            centre_lat - 0.02,
            centre_lon + 0.03,
            area,
        )
        _service(
            network,
            police,
            [police_place],
            ServiceSpec(
                f"police-{key}",
                f"{district} police: emergency response",
                f"Police de {district} : intervention d'urgence",
                "Emergency response and complaints, with a gender and child desk.",
                ("emergency-police",),
                schedule=ALWAYS,
            ),
        )
        health = _organization(
            network, f"health-{key}", f"{district} health centre", OrganizationKind.health
        )
        health_place = _location(
            network,
            health,
            f"health-{key}",
            f"{district} health centre",
            centre_lat + 0.01,
            centre_lon + 0.01,
            area,
        )
        _service(
            network,
            health,
            [health_place],
            ServiceSpec(
                f"health-{key}-prc",
                f"{district} health centre: post-rape care",
                f"Centre de santé de {district} : prise en charge du viol",
                "Clinical care after rape: emergency contraception, PEP within 72 hours, "
                "forensic notes.",
                ("post-rape-care", "medical-care"),
                schedule=ALWAYS,
            ),
        )
        _service(
            network,
            health,
            [health_place],
            ServiceSpec(
                f"health-{key}-mch",
                f"{district} health centre: mothers and infants",
                f"Centre de santé de {district} : santé maternelle et infantile",
                "Antenatal and postnatal consultations, deliveries, care of infants.",
                ("maternal-infant-health", "medical-care"),
                schedule=("MO,TU,WE,TH,FR,SA", time(8), time(16)),
                accepts_referrals=False,
                genders=("female",),
            ),
        )

    legal = _organization(
        network, "legal-aid", "Justice for all legal clinic", OrganizationKind.legal
    )
    legal_place = _location(
        network, legal, "legal-aid", "Legal clinic, Kounda", 14.08, -15.96, region
    )
    _service(
        network,
        legal,
        [legal_place],
        ServiceSpec(
            "legal-aid",
            "Free legal aid for survivors",
            "Aide juridique gratuite pour les survivantes",
            "Advice, accompaniment to court and representation for survivors of violence.",
            ("legal-aid",),
            target_groups=("survivors_of_gbv", "women", "children"),
        ),
    )
    ngo = _organization(
        network, "ngo-horizons", "Horizons women and children", OrganizationKind.ngo
    )
    ngo_place = _location(
        network, ngo, "ngo-horizons", "Horizons centre, Mbayène", 14.15, -15.66, region
    )
    _service(
        network,
        ngo,
        [ngo_place],
        ServiceSpec(
            "psychosocial",
            "Listening and psychosocial support",
            "Écoute et soutien psychosocial",
            "Individual counselling and support groups for women and adolescents.",
            ("psychosocial-support",),
            genders=("female",),
            target_groups=("women", "adolescent_girls", "survivors_of_gbv"),
            minimum_age=12,
        ),
    )
    _service(
        network,
        ngo,
        [ngo_place],
        ServiceSpec(
            "anti-trafficking",
            "Assistance to victims of trafficking",
            "Assistance aux victimes de la traite",
            "Identification, protection, family tracing and return of victims of trafficking.",
            ("anti-trafficking", "reintegration", "livelihoods"),
            target_groups=("survivors_of_trafficking", "migrants", "children"),
        ),
    )
    _service(
        network,
        ngo,
        [ngo_place],
        ServiceSpec(
            "case-conference",
            "Monthly case conference (partners only)",
            "Conférence de cas mensuelle (partenaires)",
            "Coordination meeting of the referral network's case workers.",
            ("child-protection-case-management",),
            schedule=("TH", time(10), time(12)),
            visibility=Visibility.partners,
            intake_channel="api",
        ),
    )
    school = _organization(network, "education", "Second chance school", OrganizationKind.ngo)
    school_place = _location(
        network, school, "education", "Second chance school, Sabali", 14.20, -16.31, region
    )
    _service(
        network,
        school,
        [school_place],
        ServiceSpec(
            "education",
            "Catch-up classes and literacy",
            "Cours de rattrapage et alphabétisation",
            "Schooling for children who dropped out and literacy for adolescents and women.",
            ("education-literacy", "early-childhood"),
            minimum_age=3,
        ),
    )

    shelter = _organization(
        network,
        "shelter",
        "Safe haven shelter",
        OrganizationKind.shelter,
        description="Shelter for women and children in danger. Reach it through the hotline.",
    )
    shelter_place = _location(
        network,
        shelter,
        "shelter",
        "Safe haven house",
        14.03,
        -16.02,
        region,
        Visibility.confidential,
    )
    _service(
        network,
        shelter,
        [shelter_place],
        ServiceSpec(
            "safe-shelter",
            "Emergency shelter for women and children",
            "Hébergement d'urgence pour femmes et enfants",
            "A safe place to stay, meals, care and accompaniment. Admission through the hotline.",
            ("safe-shelter", "psychosocial-support"),
            schedule=ALWAYS,
            genders=("female",),
            target_groups=("women", "children", "survivors_of_gbv", "survivors_of_trafficking"),
            capacity=("bed", 5, 12),
        ),
    )

    hotline = _organization(network, "hotline", "Ligne verte 116", OrganizationKind.hotline)
    helpline = _service(
        network,
        hotline,
        [],
        ServiceSpec(
            "hotline",
            "National child and women helpline",
            "Ligne d'écoute nationale enfants et femmes",
            "Free, anonymous, 24 hours: listening, advice and referral.",
            ("helpline", "psychosocial-support"),
            schedule=ALWAYS,
            intake_channel="phone",
        ),
    )
    network.add(
        ServiceArea(
            id=_id("service_area", "hotline"),
            service_id=helpline.id,
            name="Whole region (demo)",
            extent=_rectangle(south, west, north, east),
            admin_area_id=region.id,
            vetted=True,
        )
    )
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
]


async def partner_credentials(session: AsyncSession, secret_key: str) -> dict[str, str]:
    """The demo partner's client, created on first use, with a new secret each call (a
    development convenience: ``make run`` prints working credentials every time)."""
    from api.schemas.clients import ClientCreate
    from api.services import clients

    organization = await repository.get_demo_partner(session, DEMO_PARTNER)
    if organization is None:
        organization = await repository.add_organization(
            session,
            Organization(
                name="Relay demo partner (demo)",
                kind=OrganizationKind.ngo.value,
                description="The organisation whose client `make run` prints.",
                visibility=Visibility.partners.value,
                source=SOURCE,
                source_id=DEMO_PARTNER,
            ),
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
