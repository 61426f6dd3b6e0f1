"""Search: the nearest appropriate services for a point, a need and a person."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from api.auth.dependencies import AnonymousOrPrincipal
from api.deps import SessionDep
from api.errors import RelayError
from api.models.directory import Gender, TargetGroup
from api.repositories.directory import Viewer
from api.repositories.search import SearchFilters
from api.schemas.directory import LANGUAGE_CODE, NeedCode
from api.services import areas
from api.services import search as service
from api.services.search import NearestQuery

router = APIRouter(prefix="/v1/search", tags=["search"])


class PlaceRequired(RelayError):
    status = 422
    title = "Unprocessable Content"
    code = "place-required"


def _instant(value: str) -> str:
    if value != "now":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError("must be 'now' or an ISO 8601 date-time with its offset") from error
        if moment.tzinfo is None:
            raise ValueError("must carry a UTC offset (or Z), e.g. 2026-11-23T21:30:00+00:00")
    return value


Instant = Annotated[str, AfterValidator(_instant)]


@router.get("/nearest", summary="The nearest appropriate services for a point and a person")
async def nearest(
    session: SessionDep,
    principal: AnonymousOrPrincipal,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS 84).")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS 84).")],
    need: Annotated[
        list[NeedCode] | None, Query(max_length=15, description="Referral-needs codes (any of).")
    ] = None,
    age: Annotated[int | None, Query(ge=0, le=120)] = None,
    gender: Annotated[Gender | None, Query()] = None,
    group: Annotated[TargetGroup | None, Query(description="Target group.")] = None,
    open_at: Annotated[
        Instant | None, Query(description="'now' or an ISO 8601 date-time: open then.")
    ] = None,
    has_capacity: Annotated[bool | None, Query()] = None,
    accepts_referrals: Annotated[bool | None, Query()] = None,
    language: Annotated[str | None, Query(pattern=LANGUAGE_CODE)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=2_000_000)] = None,
    area: Annotated[
        uuid.UUID | None,
        Query(description="Only places inside this administrative area (see /v1/areas/lookup)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    outline = await areas.outline(session, area) if area is not None else None
    moment = None
    if open_at is not None:
        moment = datetime.now(UTC) if open_at == "now" else datetime.fromisoformat(open_at)
    query = NearestQuery(
        latitude=lat,
        longitude=lon,
        filters=SearchFilters(
            needs=tuple(sorted(set(need or ()))),
            age=age,
            gender=gender.value if gender else None,
            group=group.value if group else None,
            accepts_referrals=accepts_referrals,
            has_capacity=has_capacity,
            language=language,
            radius_m=radius_m,
            area_outline=outline,
        ),
        open_at=moment,
        limit=limit,
    )
    return await service.nearest(session, Viewer.of(principal), query)


@router.get("/pathway", summary="The referral pathway of a place: the nearest service per need")
async def pathway(
    session: SessionDep,
    principal: AnonymousOrPrincipal,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    area: Annotated[uuid.UUID | None, Query(description="An administrative area id.")] = None,
) -> dict[str, Any]:
    if area is not None:
        lat, lon = await areas.stand_in_point(session, area)
    elif lat is None or lon is None:
        raise PlaceRequired("Give lat and lon, or area.")
    return await service.pathway(
        session, Viewer.of(principal), lat, lon, area=str(area) if area else None
    )
