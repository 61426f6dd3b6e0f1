"""``search_point`` is kept by triggers: after any write it equals what the directory says."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from api.models.directory import (
    Attribute,
    Location,
    Schedule,
    SearchPoint,
    ServiceAtLocation,
    Visibility,
)
from api.services.opening import CLOSED, is_open
from api.services.search import Hours, hour_of_week
from api.taxonomy import term_id
from tests.factories.directory import load_demo

EXPECTED = text(
    """
    SELECT link.id, need.taxonomy_term_id, link.service_id, link.location_id,
           ST_AsText(place.point), ST_AsText(place.stand_in)
    FROM service_at_location AS link
    JOIN location AS place ON place.id = link.location_id
    JOIN attribute AS need ON need.link_entity = 'service' AND need.link_id = link.service_id
    WHERE place.point IS NOT NULL
    """
)
ACTUAL = text(
    """
    SELECT link_id, taxonomy_term_id, service_id, location_id, ST_AsText(point),
           ST_AsText(stand_in)
    FROM search_point
    """
)


async def _assert_in_step(session: AsyncSession) -> set[Any]:
    await session.flush()
    expected = {tuple(row) for row in await session.execute(EXPECTED)}
    assert {tuple(row) for row in await session.execute(ACTUAL)} == expected
    return expected


class TestSearchIndex:
    async def test_follows_every_kind_of_write(self, session: AsyncSession) -> None:
        network = await load_demo(session)
        rows = await _assert_in_step(session)
        assert rows, "the demo network has located services"

        shelter = network.shelter
        stand_in = await session.scalar(
            text("SELECT ST_AsText(stand_in) FROM location WHERE id = :id"), {"id": shelter.id}
        )
        assert stand_in is not None
        assert stand_in != f"POINT({shelter.longitude} {shelter.latitude})"

        # A place moves, and stops being confidential.
        await session.execute(
            update(Location)
            .where(col(Location.id) == shelter.id)
            .values(latitude=14.0, longitude=-16.0, visibility=Visibility.partners.value)
        )
        await _assert_in_step(session)

        # A service stops meeting a need, then meets another.
        [link] = (
            await session.execute(
                ServiceAtLocation.__table__.select().where(  # type: ignore[attr-defined]
                    col(ServiceAtLocation.location_id) == shelter.id
                )
            )
        ).all()
        await session.execute(
            delete(Attribute).where(
                col(Attribute.link_id) == link.service_id,
                col(Attribute.taxonomy_term_id) == term_id("safe-shelter"),
            )
        )
        await _assert_in_step(session)
        session.add(
            Attribute(
                link_id=link.service_id,
                link_type="service",
                link_entity="service",
                taxonomy_term_id=term_id("legal-aid"),
            )
        )
        await _assert_in_step(session)

        # The service leaves the place; then the place loses its coordinates.
        await session.execute(delete(ServiceAtLocation).where(col(ServiceAtLocation.id) == link.id))
        await _assert_in_step(session)
        await session.execute(
            update(Location)
            .where(col(Location.visibility) == Visibility.public.value)
            .values(latitude=None, longitude=None)
        )
        await _assert_in_step(session)


def _instants() -> list[datetime]:
    """Every quarter of an hour of five weeks around the spring changes of clocks (the United
    States on 8 March 2026, Europe on 29 March) and three around the autumn ones (25 October,
    1 November): every hour of the week, several times, at both offsets of each zone."""
    instants = []
    for start, days in (
        (datetime(2026, 3, 1, tzinfo=UTC), 35),
        (datetime(2026, 10, 18, tzinfo=UTC), 21),
    ):
        instants += [start + timedelta(minutes=15 * step) for step in range(days * 96)]
    return instants


async def _hours(session: AsyncSession, service_ids: list[uuid.UUID]) -> dict[Any, set[int]]:
    """The hours of each (service, place) row of these services (the same for all its needs)."""
    await session.flush()
    rows = await session.execute(
        select(
            col(SearchPoint.service_id), col(SearchPoint.location_id), col(SearchPoint.hours)
        ).where(col(SearchPoint.service_id).in_(service_ids))
    )
    found: dict[Any, set[int]] = {}
    for service_id, location_id, hours in rows:
        assert list(hours) == sorted(set(hours)), "hours are sorted and unique"
        assert found.setdefault((service_id, location_id), set(hours)) == set(hours)
    return found


class TestOpeningHoursInTheIndex:
    """``search_point.hours`` (migration 0016): the UTC hours of the week in which a place may
    be open. The scan skips the rows without ``open_at``'s hour, so the hours must hold every
    instant ``is_open`` says is open (never less), and no hour in which no rule opens."""

    async def test_hold_every_open_instant_and_no_other_hour(self, session: AsyncSession) -> None:
        network = await load_demo(session)
        located = {
            row.service_id: row.location_id
            for row in await session.execute(
                select(SearchPoint.service_id, SearchPoint.location_id)
            )
        }
        first, second = [service for service in network.services if service.id in located][:2]
        await session.execute(
            delete(Schedule).where(
                col(Schedule.service_id).in_([first.id, second.id])
                | col(Schedule.location_id).in_([located[first.id], located[second.id]])
            )
        )
        # Dakar keeps UTC all year: the hours are exactly the local ones.
        session.add(
            Schedule(
                service_id=first.id,
                byday="MO,TU,WE,TH,FR",
                opens_at=time(8),
                closes_at=time(17),
                time_zone="Africa/Dakar",
            )
        )
        hours = await _hours(session, [first.id])
        weekdays = {day * 24 + hour for day in range(5) for hour in range(8, 17)}
        assert hours
        assert all(value == weekdays for value in hours.values())

        rules = [
            # The place's own rule counts for the service there: past midnight, at +05:45.
            Schedule(
                location_id=located[first.id],
                byday="SU",
                opens_at=time(22, 15),
                closes_at=time(6, 30),
                time_zone="Asia/Kathmandu",
            ),
            # Closures take no hour away; the exact check after the scan applies them.
            Schedule(
                service_id=first.id,
                byday="WE",
                opens_at=time(0),
                closes_at=time(0),
                time_zone="Africa/Dakar",
                attending_type=CLOSED,
            ),
            # Every day, all day (no byday; equal hours), and evenings across clock changes.
            Schedule(service_id=second.id, opens_at=time(0), closes_at=time(0), time_zone="UTC"),
            Schedule(
                service_id=second.id,
                byday="SA",
                opens_at=time(18, 45),
                closes_at=time(23, 15),
                time_zone="America/New_York",
            ),
            # Seconds are cut off, as the search reads hours (HH:MM): the same minute is all
            # day (Thursday), and a tab in byday is white space as anywhere else (Friday).
            Schedule(
                location_id=located[first.id],
                byday="TH",
                opens_at=time(9, 0, 10),
                closes_at=time(9, 0, 30),
                time_zone="Africa/Dakar",
            ),
            Schedule(
                location_id=located[first.id],
                byday="MO,\tFR",
                opens_at=time(20, 0, 40),
                closes_at=time(21, 0, 20),
                time_zone="Asia/Kathmandu",
            ),
            Schedule(
                location_id=located[second.id],
                byday="FR,SA",
                opens_at=time(9),
                closes_at=time(12),
                time_zone="Europe/Paris",
            ),
        ]
        session.add_all(rules)
        hours = await _hours(session, [first.id, second.id])
        assert hours[(second.id, located[second.id])] == set(range(168))
        # The first service's rows, against its rules and its place's.
        place = located[first.id]
        # The rules as the search reads them (the details statement writes HH:MM).
        own = [
            replace(
                Hours.of({"time_zone": rule.time_zone}),
                byday=rule.byday,
                opens_at=rule.opens_at and rule.opens_at.replace(second=0),
                closes_at=rule.closes_at and rule.closes_at.replace(second=0),
                attending_type=rule.attending_type,
            )
            for rule in await session.scalars(
                select(Schedule).where(
                    (col(Schedule.service_id) == first.id) | (col(Schedule.location_id) == place)
                )
            )
        ]
        opening = [rule for rule in own if rule.attending_type != CLOSED]
        reached = set()
        for instant in _instants():
            hour = hour_of_week(instant)
            if is_open(own, instant):
                assert hour in hours[(first.id, place)], f"open at {instant}, hour {hour} missing"
            if is_open(opening, instant):
                reached.add(hour)
        assert hours[(first.id, place)] == reached
        assert hours[(first.id, place)] > weekdays

        # Rules change and go: the rows follow.
        await session.execute(
            update(Schedule)
            .where(col(Schedule.location_id) == place)
            .values(byday="MO", opens_at=time(7), closes_at=time(8), time_zone="Africa/Dakar")
        )
        assert (await _hours(session, [first.id]))[(first.id, place)] == weekdays | {7}
        await session.execute(
            delete(Schedule).where(
                (col(Schedule.service_id) == first.id) | (col(Schedule.location_id) == place)
            )
        )
        assert (await _hours(session, [first.id]))[(first.id, place)] == set()


class TestSearchIndexUnderConcurrentWrites:
    """Two transactions at once, as two partners' requests would be (committed, then removed)."""

    async def test_a_place_turning_confidential_while_a_need_is_added(
        self, owner_engine: AsyncEngine
    ) -> None:
        url = owner_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        first, second = await asyncpg.connect(url), await asyncpg.connect(url)
        organization, service, place, other_place = (uuid.uuid4() for _ in range(4))
        try:
            await first.execute(
                "INSERT INTO organization (id, name, kind, status) "
                "VALUES ($1, 'Race (test)', 'shelter', 'active')",
                organization,
            )
            await first.execute(
                "INSERT INTO service (id, organization_id, name, status) "
                "VALUES ($1, $2, 'Race (test)', 'active')",
                service,
                organization,
            )
            for location, latitude in ((place, 14.03), (other_place, 14.5)):
                await first.execute(
                    "INSERT INTO location (id, organization_id, location_type, latitude, "
                    "longitude) VALUES ($1, $2, 'physical', $3, -16.02)",
                    location,
                    organization,
                    latitude,
                )
            await first.execute(
                "INSERT INTO service_at_location (id, service_id, location_id) VALUES ($1, $2, $3)",
                uuid.uuid4(),
                service,
                place,
            )

            # The place becomes confidential while, in another transaction, a need is added.
            # The second waits for the first, then copies the new stand-in, not the true point.
            async with first.transaction():
                await first.execute(
                    "UPDATE location SET visibility = 'confidential' WHERE id = $1", place
                )
                adding = asyncio.create_task(
                    second.execute(
                        "INSERT INTO attribute (id, link_id, link_entity, taxonomy_term_id) "
                        "VALUES ($1, $2, 'service', $3)",
                        uuid.uuid4(),
                        service,
                        term_id("legal-aid"),
                    )
                )
                await asyncio.sleep(0.3)
            await adding

            # A new place and a new need of the same service, at the same time.
            async with first.transaction():
                await first.execute(
                    "INSERT INTO service_at_location (id, service_id, location_id) "
                    "VALUES ($1, $2, $3)",
                    uuid.uuid4(),
                    service,
                    other_place,
                )
                adding = asyncio.create_task(
                    second.execute(
                        "INSERT INTO attribute (id, link_id, link_entity, taxonomy_term_id) "
                        "VALUES ($1, $2, 'service', $3)",
                        uuid.uuid4(),
                        service,
                        term_id("medical-care"),
                    )
                )
                await asyncio.sleep(0.3)
            await adding

            expected = {
                tuple(row)
                for row in await first.fetch(EXPECTED.text + " AND link.service_id = $1", service)
            }
            actual = {
                tuple(row)
                for row in await first.fetch(ACTUAL.text + " WHERE service_id = $1", service)
            }
            assert len(expected) == 4  # two places times two needs
            assert actual == expected
        finally:
            await first.execute("DELETE FROM attribute WHERE link_id = $1", service)
            await first.execute("DELETE FROM service_at_location WHERE service_id = $1", service)
            await first.execute("DELETE FROM service WHERE id = $1", service)
            await first.execute("DELETE FROM location WHERE organization_id = $1", organization)
            await first.execute("DELETE FROM organization WHERE id = $1", organization)
            await first.close()
            await second.close()

    async def test_a_rule_and_a_need_added_at_the_same_time(
        self, owner_engine: AsyncEngine
    ) -> None:
        """A need added (its row made, not committed) while a rule is added: the rule's trigger
        waits for the service the need's trigger locked, then rewrites the new row too; the
        other way round, the row is made after the rule commits, and reads it. Without the lock
        neither statement saw the other's row and the place lost the rule's hours."""
        url = owner_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        first, second = await asyncpg.connect(url), await asyncpg.connect(url)
        organization, service, place = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        hours = "SELECT DISTINCT hours FROM search_point WHERE service_id = $1"
        try:
            await first.execute(
                "INSERT INTO organization (id, name, kind, status) "
                "VALUES ($1, 'Race (test)', 'ngo', 'active')",
                organization,
            )
            await first.execute(
                "INSERT INTO service (id, organization_id, name, status) "
                "VALUES ($1, $2, 'Race (test)', 'active')",
                service,
                organization,
            )
            await first.execute(
                "INSERT INTO location (id, organization_id, location_type, latitude, longitude) "
                "VALUES ($1, $2, 'physical', 14.03, -16.02)",
                place,
                organization,
            )
            await first.execute(
                "INSERT INTO service_at_location (id, service_id, location_id) VALUES ($1, $2, $3)",
                uuid.uuid4(),
                service,
                place,
            )
            rule = (
                "INSERT INTO schedule (id, service_id, byday, opens_at, closes_at, time_zone) "
                "VALUES ($1, $2, $3, '10:00', '11:00', 'UTC')"
            )
            need = (
                "INSERT INTO attribute (id, link_id, link_entity, taxonomy_term_id) "
                "VALUES ($1, $2, 'service', $3)"
            )
            # The need first (uncommitted), the rule meanwhile: Monday 10:00.
            async with first.transaction():
                await first.execute(need, uuid.uuid4(), service, term_id("legal-aid"))
                adding = asyncio.create_task(second.execute(rule, uuid.uuid4(), service, "MO"))
                await asyncio.sleep(0.3)
            await adding
            assert [list(row[0]) for row in await first.fetch(hours, service)] == [[10]]

            # The rule first (uncommitted), a need meanwhile: Tuesday 10:00 too.
            async with second.transaction():
                await second.execute(rule, uuid.uuid4(), service, "TU")
                adding = asyncio.create_task(
                    first.execute(need, uuid.uuid4(), service, term_id("medical-care"))
                )
                await asyncio.sleep(0.3)
            await adding
            assert [list(row[0]) for row in await first.fetch(hours, service)] == [[10, 34]]
        finally:
            await first.execute("DELETE FROM schedule WHERE service_id = $1", service)
            await first.execute("DELETE FROM attribute WHERE link_id = $1", service)
            await first.execute("DELETE FROM service_at_location WHERE service_id = $1", service)
            await first.execute("DELETE FROM service WHERE id = $1", service)
            await first.execute("DELETE FROM location WHERE organization_id = $1", organization)
            await first.execute("DELETE FROM organization WHERE id = $1", organization)
            await first.close()
            await second.close()
