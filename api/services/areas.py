"""Administrative areas as the API shows them."""

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.db import Database
from api.errors import NotFound
from api.repositories import areas as repository


class AreaNotFound(NotFound, code="area-not-found"): ...


async def lookup(session: AsyncSession, latitude: float, longitude: float) -> dict[str, Any]:
    areas = await repository.containing(session, latitude, longitude)
    return {
        "data": [
            {key: value for key, value in area.items() if value is not None} for area in areas
        ],
        "meta": {"latitude": latitude, "longitude": longitude, "count": len(areas)},
    }


async def get(
    session: AsyncSession, area_id: uuid.UUID, *, geometry: bool, simplify: float | None
) -> dict[str, Any]:
    area = await repository.one(session, area_id, simplify=simplify, geometry=geometry)
    if area is None:
        raise AreaNotFound("No administrative area with this id.")
    if geometry:
        area["geometry"] = json.loads(area["geometry"])
    return {key: value for key, value in area.items() if value is not None}


async def stand_in_point(session: AsyncSession, area_id: uuid.UUID) -> tuple[float, float]:
    point = await repository.stand_in_point(session, area_id)
    if point is None:
        raise AreaNotFound("No administrative area with this id.")
    return point


async def outline(database: Database, area_id: uuid.UUID) -> tuple[bytes, tuple[uuid.UUID, ...]]:
    """The area's outline (EWKB) and the ids of the areas within it, for search filters; 404
    problem for an unknown area."""
    found = await repository.outline_ewkb(database, area_id)
    if found is None:
        raise AreaNotFound("No administrative area with this id.")
    return found
