"""National lines: the operator's list, and the ones of the country a point lies in."""

import uuid
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.db import Compiled, Database
from api.models.directory import NationalLine

# The lines of the countries whose areas contain the point (the point's country: areas of
# one country share its code), answering any of the needs; read through the search's reader,
# and only when a need found nothing near.
_AT = Compiled(
    text(
        """
        SELECT line.country, line.kind, line.name, line.number, line.needs
        FROM national_line AS line
        WHERE line.country IN (
            SELECT area.country FROM admin_area AS area
            WHERE area.country IS NOT NULL
              AND ST_Intersects(
                area.geom,
                ST_SetSRID(ST_MakePoint(CAST(:longitude AS float8), CAST(:latitude AS float8)),
                           4326))
          )
          AND line.needs && CAST(:needs AS text[])
        ORDER BY line.country, line.kind, line.name, line.number
        """
    )
)


async def at(database: Database, latitude: float, longitude: float, needs: list[str]) -> list[Any]:
    """Rows (country, kind, name, number, needs) of the lines at the point for these needs."""
    return await _AT.fetch(database, latitude=latitude, longitude=longitude, needs=needs)


async def add(session: AsyncSession, line: NationalLine) -> NationalLine:
    session.add(line)
    await session.flush()
    return line


async def listed(session: AsyncSession, country: str | None) -> list[NationalLine]:
    statement = select(NationalLine).order_by(
        col(NationalLine.country), col(NationalLine.kind), col(NationalLine.name)
    )
    if country is not None:
        statement = statement.where(col(NationalLine.country) == country)
    return list((await session.execute(statement)).scalars())


async def of_countries(
    session: AsyncSession, countries: list[str], limit: int
) -> list[NationalLine]:
    """The lines of these countries (at most ``limit``), by country, kind and name."""
    statement = (
        select(NationalLine)
        .where(col(NationalLine.country).in_(countries))
        .order_by(
            col(NationalLine.country),
            col(NationalLine.kind),
            col(NationalLine.name),
            col(NationalLine.id),
        )
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def get(session: AsyncSession, line_id: uuid.UUID) -> NationalLine | None:
    return await session.get(NationalLine, line_id)


async def exists(session: AsyncSession, country: str, kind: str, number: str) -> bool:
    found = await session.scalar(
        select(col(NationalLine.id)).where(
            col(NationalLine.country) == country,
            col(NationalLine.kind) == kind,
            col(NationalLine.number) == number,
        )
    )
    return found is not None


async def remove(session: AsyncSession, line_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(NationalLine).where(col(NationalLine.id) == line_id).returning(col(NationalLine.id))
    )
    return result.first() is not None
