"""The filtered nearest search against a brute-force oracle (issue 18).

The scan now skips rows by what ``search_point`` copies of the directory (who a row is listed
to, the service's ages, genders and intake); the answers must stay exactly what the rules
say. The oracle reads every candidate row back from the database, decides in Python who may
see it and whom it serves (the repository's rules, written out again) and whether it is open
(``api.services.opening.is_open``, across time zones), and ranks by geodesic distance. After
writes to services and organisations it is asked again: the copied columns must follow.
"""

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from geographiclib.geodesic import Geodesic
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import (
    Attribute,
    Location,
    Schedule,
    Service,
    ServiceAtLocation,
)
from api.models.organization import Organization
from api.services.opening import is_open
from api.services.search import Hours
from api.taxonomy import term_id
from tests.factories.auth import create_partner

NEED = "legal-aid"
SOURCE = "oracle-18"
LIMIT = 5
CENTRE = (-41.2, 174.8)  # far from every other test's places
ZONES = ("Pacific/Auckland", "America/New_York", "Asia/Kolkata", "UTC")
GENDERS: tuple[list[str], ...] = (
    [],
    [],
    ["female"],
    ["male"],
    ["female", "other"],
    ["female", "male"],
    ["other"],
)
DAYS = ("MO,TU,WE,TH,FR", "SA,SU", None, "MO,WE,FR", "SU")

CANDIDATES = text(
    """
    SELECT place.id::text, place.latitude, place.longitude, place.visibility,
           host.status, host.visibility, service.id, service.status, service.visibility,
           owner.status, owner.visibility, service.minimum_age, service.maximum_age,
           service.genders, service.accepts_referrals
    FROM service_at_location AS link
    JOIN service ON service.id = link.service_id
    JOIN organization AS owner ON owner.id = service.organization_id
    JOIN location AS place ON place.id = link.location_id
    JOIN organization AS host ON host.id = place.organization_id
    WHERE place.source = :source
    """
)
HOURS = text(
    """
    SELECT service_id, byday, opens_at, closes_at, time_zone, valid_from, valid_to,
           attending_type
    FROM schedule WHERE service_id = ANY(:services)
    """
)


async def _build(session: AsyncSession, generator: random.Random) -> list[Service]:
    organizations = [
        Organization(
            name=f"Oracle organisation {n}",
            kind="ngo",
            status="active" if generator.random() < 0.9 else "suspended",
            visibility="public" if generator.random() < 0.8 else "partners",
        )
        for n in range(30)
    ]
    session.add_all(organizations)
    await session.flush()
    services = []
    for n in range(150):
        owner, host = generator.choice(organizations), generator.choice(organizations)
        low = generator.choice([None, None, 0, 12, 18])
        high = generator.choice([None, None, 17, 25, 60])
        if low is not None and high is not None and low > high:
            low, high = high, low
        service = Service(
            organization_id=owner.id,
            name=f"Oracle service {n}",
            status="active" if generator.random() < 0.9 else "inactive",
            visibility="public" if generator.random() < 0.6 else "partners",
            minimum_age=low,
            maximum_age=high,
            genders=generator.choice(GENDERS),
            accepts_referrals=generator.random() < 0.5,
        )
        place = Location(
            organization_id=host.id,
            name=f"Oracle place {n}",
            latitude=CENTRE[0] + generator.uniform(-0.6, 0.6),
            longitude=CENTRE[1] + generator.uniform(-0.8, 0.8),
            visibility="public" if generator.random() < 0.85 else "partners",
            source=SOURCE,
        )
        session.add_all([service, place])
        await session.flush()
        session.add(ServiceAtLocation(service_id=service.id, location_id=place.id))
        session.add(
            Attribute(link_id=service.id, link_entity="service", taxonomy_term_id=term_id(NEED))
        )
        for _ in range(generator.choice([0, 1, 1, 2])):
            opens = time(generator.randrange(0, 24), generator.choice([0, 30]))
            closes = time(generator.randrange(0, 24), generator.choice([0, 30]))
            closure = generator.random() < 0.15
            start = date(2026, 12, 1) + timedelta(days=generator.randrange(0, 20))
            session.add(
                Schedule(
                    service_id=service.id,
                    byday=generator.choice(DAYS),
                    opens_at=opens,
                    closes_at=closes,
                    time_zone=generator.choice(ZONES),
                    valid_from=start if closure or generator.random() < 0.2 else None,
                    valid_to=start + timedelta(days=3) if closure else None,
                    attending_type="closed" if closure else None,
                )
            )
        services.append(service)
    await session.flush()
    return services


def _listed(row: Any, partner: bool) -> bool:
    (
        _,
        _,
        _,
        place_visibility,
        host_status,
        host_visibility,
        _,
        status,
        visibility,
        owner_status,
        owner_visibility,
        *_,
    ) = row
    if status != "active" or host_status != "active" or owner_status != "active":
        return False
    levels = {"public", "partners", "confidential"} if partner else {"public", "confidential"}
    return {place_visibility, host_visibility, visibility, owner_visibility} <= levels


def _serves(row: Any, filters: dict[str, Any]) -> bool:
    low, high, genders, referrals = row[11:15]
    if "age" in filters:
        age = filters["age"]
        if (low is not None and low > age) or (high is not None and high < age):
            return False
    if "gender" in filters and genders and filters["gender"] not in genders:
        return False
    return "accepts_referrals" not in filters or referrals is filters["accepts_referrals"]


async def _oracle(
    session: AsyncSession,
    point: tuple[float, float],
    filters: dict[str, Any],
    instant: datetime | None,
    *,
    partner: bool,
) -> list[tuple[str, float]]:
    rows = (await session.execute(CANDIDATES, {"source": SOURCE})).all()
    hours: dict[Any, list[Hours]] = {}
    for service_id, *rule in await session.execute(HOURS, {"services": [row[6] for row in rows]}):
        hours.setdefault(service_id, []).append(Hours(*rule))
    ranked = []
    for row in rows:
        if not (_listed(row, partner) and _serves(row, filters)):
            continue
        if instant is not None and not is_open(hours.get(row[6], []), instant):
            continue
        distance = Geodesic.WGS84.Inverse(point[0], point[1], row[1], row[2])["s12"]
        ranked.append((row[0], distance))
    return sorted(ranked, key=lambda item: item[1])[:LIMIT]


def _random_filters(generator: random.Random) -> tuple[dict[str, Any], datetime | None]:
    filters: dict[str, Any] = {}
    if generator.random() < 0.5:
        filters["age"] = generator.choice([5, 15, 17, 18, 30, 70])
    if generator.random() < 0.5:
        filters["gender"] = generator.choice(["female", "male", "other"])
    if generator.random() < 0.4:
        filters["accepts_referrals"] = generator.random() < 0.5
    instant = None
    if generator.random() < 0.5:
        instant = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(
            minutes=generator.randrange(0, 60 * 24 * 28)
        )
    return filters, instant


async def _compare(
    client: httpx.AsyncClient,
    session: AsyncSession,
    generator: random.Random,
    headers: dict[str, str],
    *,
    partner: bool,
    rounds: int,
) -> int:
    found = 0
    for _ in range(rounds):
        point = (CENTRE[0] + generator.uniform(-0.7, 0.7), CENTRE[1] + generator.uniform(-1, 1))
        filters, instant = _random_filters(generator)
        params: dict[str, Any] = {
            "lat": point[0],
            "lon": point[1],
            "need": NEED,
            "limit": LIMIT,
            **filters,
        }
        if instant is not None:
            params["open_at"] = instant.isoformat()
        response = await client.get("/v1/search/nearest", params=params, headers=headers)
        assert response.status_code == 200, response.text
        got = [(item["location"]["id"], item["distance_m"]) for item in response.json()["data"]]
        expected = await _oracle(session, point, filters, instant, partner=partner)
        assert [link for link, _ in got] == [link for link, _ in expected], (params, got, expected)
        for (_, mine), (_, theirs) in zip(got, expected, strict=True):
            assert abs(mine - theirs) < 0.5
        found += len(got)
    return found


class TestFilteredSearchAgainstAnOracle:
    async def test_random_filters_for_the_public_and_for_partners(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        generator = random.Random(18)
        services = await _build(session, generator)
        reader = await create_partner(session, settings, scopes=[Scope.directory_read])
        for headers, partner in (({}, False), (reader.headers, True)):
            assert (
                await _compare(client, session, generator, headers, partner=partner, rounds=60) > 0
            )

        # What search_point copies follows the directory: services change their visibility,
        # status and eligibility, organisations are suspended or listed to partners only.
        for service in generator.sample(services, 40):
            await session.execute(
                update(Service)
                .where(col(Service.id) == service.id)
                .values(
                    visibility=generator.choice(["public", "partners"]),
                    status=generator.choice(["active", "active", "inactive"]),
                    minimum_age=generator.choice([None, 16]),
                    maximum_age=None,
                    genders=generator.choice(GENDERS),
                    accepts_referrals=generator.random() < 0.5,
                )
            )
        owners = {service.organization_id for service in generator.sample(services, 10)}
        await session.execute(
            update(Organization)
            .where(col(Organization.id).in_(owners))
            .values(status="suspended", visibility="partners")
        )
        await session.flush()
        for headers, partner in (({}, False), (reader.headers, True)):
            assert (
                await _compare(client, session, generator, headers, partner=partner, rounds=40) > 0
            )

    async def test_an_inactive_service_never_enters_the_scan(self, session: AsyncSession) -> None:
        generator = random.Random(5)
        services = await _build(session, generator)
        rows = dict(
            (
                await session.execute(
                    text(
                        "SELECT service_id, audience FROM search_point "
                        "WHERE service_id = ANY(:services)"
                    ),
                    {"services": [service.id for service in services]},
                )
            ).all()
        )
        inactive = [service for service in services if service.status != "active"]
        assert inactive
        assert all(rows[service.id] is None for service in inactive)
        assert {rows[service.id] for service in services} == {None, "public", "partners"}
