"""Search: the nearest appropriate services for a point, a need and a person."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from api.auth.dependencies import BearerIfPresent, principal_if_present
from api.auth.viewer import Viewer
from api.config import Settings
from api.deps import ReadSessionDep, reading
from api.errors import Unprocessable
from api.models.directory import Gender, TargetGroup
from api.query import QueryModel
from api.repositories.search import SearchFilters
from api.routers.routing import MeteredViewerDep
from api.schemas.directory import LANGUAGE_CODE, NeedCode
from api.schemas.search import Pathway, SearchPage
from api.services import areas
from api.services import search as service
from api.services.search import NearestQuery

router = APIRouter(prefix="/v1/search", tags=["search"])


class PlaceRequired(Unprocessable, code="place-required"): ...


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


class NearestParameters(BaseModel):
    """The query of ``/v1/search/nearest``, validated as one model (``api.query``: this is
    the most frequent request)."""

    lat: float = Field(ge=-90, le=90, description="Latitude (WGS 84).")
    lon: float = Field(ge=-180, le=180, description="Longitude (WGS 84).")
    need: list[NeedCode] | None = Field(
        None, max_length=15, description="Referral-needs codes (any of)."
    )
    age: int | None = Field(None, ge=0, le=120)
    gender: Gender | None = None
    group: TargetGroup | None = Field(None, description="Target group.")
    open_at: Instant | None = Field(None, description="'now' or an ISO 8601 date-time: open then.")
    has_capacity: bool | None = None
    accepts_referrals: bool | None = None
    language: str | None = Field(None, pattern=LANGUAGE_CODE)
    radius_m: float | None = Field(
        None,
        gt=0,
        le=service.MAXIMUM_RADIUS_M,
        description=(
            f"Only places within this many metres (default {service.DEFAULT_RADIUS_M:,}, "
            f"at most {service.MAXIMUM_RADIUS_M:,})."
        ),
    )
    area: uuid.UUID | None = Field(
        None, description="Only places inside this administrative area (see /v1/areas/lookup)."
    )
    limit: int = Field(10, ge=1, le=100)
    prefer: Literal["checked"] | None = Field(
        None,
        description="`checked`: services someone confirmed within the staleness period "
        "(`assured_date` in the last `RELAY_DIRECTORY_STALE_DAYS` days, `meta.checked_since` "
        "on) rank before unchecked ones at a similar distance: an unchecked one ranks as if "
        f"{round((service.UNCHECKED_HANDICAP - 1) * 100)} % further. Nothing is left out.",
    )


NEAREST = QueryModel(NearestParameters)


def checked_since(request: Request) -> date:
    """The first day a confirmation still counts as a check (``RELAY_DIRECTORY_STALE_DAYS``)."""
    settings: Settings = request.app.state.settings
    return datetime.now(UTC).date() - timedelta(days=settings.directory_stale_days)


NEAREST_DESCRIPTION = f"""\
The `limit` nearest services meeting the need(s) and the person, nearest first, by geodesic
distance in metres on WGS 84, with the services whose service area covers the point.

Only places within `radius_m` are listed: {service.DEFAULT_RADIUS_M // 1000:,} km when it is not
given (as far as the committees' lookup page looks: a place further away is rarely of help), at
most {service.MAXIMUM_RADIUS_M // 1000:,} km. `meta.radius_m` is the radius used; when nothing
is found within it, `meta.nothing_within_radius` is `true` and `meta.message` says so.
"""


@router.get(
    "/nearest",
    summary="The nearest appropriate services for a point and a person",
    description=NEAREST_DESCRIPTION,
    # Documents the body only: the route sends the bytes the service wrote (a test holds them
    # to this model).
    response_model=SearchPage,
    openapi_extra=NEAREST.openapi,
)
async def nearest(
    request: Request,
    authorization: BearerIfPresent,
    given: Annotated[NearestParameters, Depends(NEAREST)],
) -> Response:
    moment = None
    if given.open_at is not None:
        moment = (
            datetime.now(UTC) if given.open_at == "now" else datetime.fromisoformat(given.open_at)
        )
    # Anonymous or a valid token (401 for a bad one), checked on the search's own connection.
    async with reading(request) as reader:
        principal = await principal_if_present(request, reader, authorization, metered=True)
        area = await areas.outline(reader, given.area) if given.area is not None else None
        query = NearestQuery(
            latitude=given.lat,
            longitude=given.lon,
            filters=SearchFilters(
                needs=tuple(sorted(set(given.need or ()))),
                age=given.age,
                gender=given.gender.value if given.gender else None,
                group=given.group.value if given.group else None,
                accepts_referrals=given.accepts_referrals,
                has_capacity=given.has_capacity,
                language=given.language,
                radius_m=given.radius_m or float(service.DEFAULT_RADIUS_M),
                area_outline=area[0] if area else None,
                areas_within=area[1] if area else (),
            ),
            open_at=moment,
            limit=given.limit,
            checked_since=checked_since(request) if given.prefer == "checked" else None,
        )
        # The body as the service wrote it: encoded once, never decoded and validated again.
        body = await service.nearest_json(reader, Viewer.of(principal), query)
    return Response(body, media_type="application/json")


@router.get(
    "/pathway",
    summary="The referral pathway of a place: the nearest service per need",
    response_model=Pathway,
)
async def pathway(
    session: ReadSessionDep,
    viewer: MeteredViewerDep,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    area: Annotated[uuid.UUID | None, Query(description="An administrative area id.")] = None,
    radius_m: Annotated[
        float,
        Query(
            gt=0,
            le=service.MAXIMUM_RADIUS_M,
            description=(
                "Only services within this many metres of the place; a need with none within it "
                f"has no service (default {service.DEFAULT_RADIUS_M:,}, "
                f"at most {service.MAXIMUM_RADIUS_M:,})."
            ),
        ),
    ] = service.DEFAULT_RADIUS_M,
) -> Response:
    if area is not None:
        lat, lon = await areas.stand_in_point(session, area)
    elif lat is None or lon is None:
        raise PlaceRequired("Give lat and lon, or area.")
    # The steps as the search writes its results, not decoded and encoded again.
    body = await service.pathway_json(
        session, viewer, lat, lon, area=str(area) if area else None, radius_m=radius_m
    )
    return Response(body, media_type="application/json")
