"""``search_point`` is kept by triggers: after any write it equals what the directory says."""

from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession
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
