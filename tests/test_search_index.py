"""``search_point`` is kept by triggers: after any write it equals what the directory says."""

import asyncio
import uuid
from typing import Any

import asyncpg
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from api.models.directory import Attribute, Location, ServiceAtLocation, Visibility
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
