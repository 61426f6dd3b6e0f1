"""Administrative areas: lookup by point, and one area with its (simplified) outline."""

import uuid
from typing import Annotated, Any

from fastapi import Query

from api.deps import SessionDep
from api.routers.routing import resource_routers
from api.schemas.areas import AreaLookup, AreaPublic
from api.services import areas as service

# The service leaves an area's empty fields out; so do the models that check it.
router, area = resource_routers("areas", "/{area_id}", not_found="No such area")


@router.get(
    "/lookup",
    summary="Administrative areas containing a point, smallest first",
    response_model=AreaLookup,
)
async def lookup(
    session: SessionDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> dict[str, Any]:
    return await service.lookup(session, lat, lon)


@area.get("", summary="One administrative area", response_model=AreaPublic)
async def get_area(
    area_id: uuid.UUID,
    session: SessionDep,
    geometry: Annotated[bool, Query(description="Include the outline as GeoJSON.")] = False,
    simplify: Annotated[
        float | None, Query(gt=0, le=1, description="Simplification tolerance in degrees.")
    ] = None,
) -> dict[str, Any]:
    return await service.get(session, area_id, geometry=geometry, simplify=simplify)


router.include_router(area)
