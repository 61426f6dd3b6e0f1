"""Directory data for tests: the demo network, loaded inside the test's transaction."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import Location, NationalLine, Service, Visibility
from api.services import demo

# The WHO/KEMRI health facilities of sub-Saharan Africa, read from ../shared/data at run time.
WHO_KEMRI = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "who_kemri_ssa_health_facilities"
    / "who_kemri_ssa_public_health_facilities.csv"
)


@dataclass(frozen=True)
class DemoNetwork:
    services: list[Service]
    shelter: Location
    partner_only: Service


async def load_demo(session: AsyncSession) -> DemoNetwork:
    await demo.load(session)
    services = list((await session.execute(select(Service).order_by(col(Service.name)))).scalars())
    shelter = (
        await session.execute(
            select(Location).where(col(Location.visibility) == Visibility.confidential.value)
        )
    ).scalar_one()
    partner_only = next(s for s in services if s.visibility == Visibility.partners.value)
    return DemoNetwork(services, shelter, partner_only)


async def add_national_lines(session: AsyncSession, *lines: tuple[str, str, str, str, str]) -> None:
    """National lines, each ``(country, kind, name, number, need)`` answering that one need
    (the demo's areas are in country ``ZZ``)."""
    session.add_all(
        NationalLine(country=country, kind=kind, name=name, number=number, needs=[need])
        for country, kind, name, number, need in lines
    )
    await session.flush()
