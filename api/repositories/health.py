"""Queries the operations endpoints ask."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def postgis_version(session: AsyncSession) -> str:
    """The answer of ``postgis_full_version()``: proves the database and PostGIS both answer."""
    result = await session.execute(text("SELECT postgis_full_version()"))
    return str(result.scalar_one())
