"""Nearest appropriate service: "where is the nearest place that can help this person with this
need, and is it open?"

Distances are metres on the WGS 84 ellipsoid (PostGIS geography). A confidential place that
the caller may not locate is ranked by a stand-in point (the nearest node of a 0.5-degree grid),
and carries neither position nor distance: querying from many points can then reveal at most
that grid node, a cell of about 55 by 55 km, about as much as the listed area says anyway.
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.repositories import search as repository
from api.repositories.directory import Viewer
from api.repositories.search import Candidate, SearchFilters
from api.services.hsds import CONFIDENTIAL_LOCATION_NAME, clean
from api.services.opening import is_open
from api.taxonomy import NEED_CODES

OVERFETCH = 3
MAXIMUM_BATCHES = 8


@dataclass(frozen=True)
class NearestQuery:
    latitude: float
    longitude: float
    filters: SearchFilters
    open_at: datetime | None
    limit: int


@dataclass
class Hours:
    """A schedule row as the details query returns it, in the shape ``is_open`` reads."""

    byday: str | None
    opens_at: time | None
    closes_at: time | None
    time_zone: str
    valid_from: date | None
    valid_to: date | None
    attending_type: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Hours":
        def moment(value: str | None) -> time | None:
            return time.fromisoformat(value) if value else None

        def day(value: str | None) -> date | None:
            return date.fromisoformat(value) if value else None

        return cls(
            byday=row.get("byday"),
            opens_at=moment(row.get("opens_at")),
            closes_at=moment(row.get("closes_at")),
            time_zone=row["time_zone"],
            valid_from=day(row.get("valid_from")),
            valid_to=day(row.get("valid_to")),
            attending_type=row.get("attending_type"),
        )


@dataclass(frozen=True)
class Found:
    candidate: Candidate
    details: repository.Details
    open_now: bool | None


async def _found(
    session: AsyncSession, viewer: Viewer, candidates: list[Candidate], instant: datetime
) -> list[Found]:
    shown = await repository.details(session, viewer, candidates, CONFIDENTIAL_LOCATION_NAME)
    return [
        Found(candidate, details, is_open([Hours.of(row) for row in details.schedules], instant))
        for candidate, details in zip(candidates, shown, strict=True)
    ]


async def nearest_found(session: AsyncSession, viewer: Viewer, query: NearestQuery) -> list[Found]:
    """The ``limit`` nearest candidates with what they show, open at ``open_at`` when given.

    The index scan ranks by distance on the sphere; ``OVERFETCH`` more rows are read so that the
    final order, by distance on the ellipsoid, is exact. With ``open_at``, batches are read
    until enough of them are open then.
    """
    instant = query.open_at or datetime.now().astimezone()
    batch = query.limit * OVERFETCH + 10
    covering = await repository.covering(
        session, viewer, query.filters, query.latitude, query.longitude
    )

    async def located(round_number: int) -> list[Candidate]:
        return await repository.nearest_located(
            session,
            viewer,
            query.filters,
            query.latitude,
            query.longitude,
            limit=batch,
            offset=round_number * batch,
        )

    if query.open_at is None:
        nearest = sorted(await located(0) + covering, key=_key)[: query.limit]
        return await _found(session, viewer, nearest, instant)
    found = [item for item in await _found(session, viewer, covering, instant) if item.open_now]
    for round_number in range(MAXIMUM_BATCHES):
        candidates = await located(round_number)
        found += [
            item for item in await _found(session, viewer, candidates, instant) if item.open_now
        ]
        if len(candidates) < batch or len(found) >= query.limit:
            break
    return sorted(found, key=lambda item: _key(item.candidate))[: query.limit]


def _key(candidate: Candidate) -> tuple[float, bool, str]:
    return (candidate.distance_m, not candidate.covering, str(candidate.service_id))


async def nearest(session: AsyncSession, viewer: Viewer, query: NearestQuery) -> dict[str, Any]:
    found = await nearest_found(session, viewer, query)
    needs = set(query.filters.needs)
    data = []
    for item in found:
        candidate, shown = item.candidate, item.details
        offered = set(shown.service.get("needs", []))
        service = (
            {**shown.service, "schedules": shown.schedules} if shown.schedules else shown.service
        )
        # Only the top level needs cleaning: PostgreSQL already left nulls out of the bodies.
        # Also withheld when the place became confidential between the two statements.
        withheld = candidate.withheld or bool(shown.location and shown.location.get("confidential"))
        body = {
            "distance_m": None if withheld else round(candidate.distance_m, 1),
            "covering": candidate.covering,
            "position_withheld": withheld,
            "open_now": item.open_now,
            "service": service,
            "location": shown.location,
            "capacity": shown.capacity,
            "matched": {
                "needs": sorted(needs & offered) if needs else sorted(offered),
                "eligibility": _eligibility(query.filters),
            },
        }
        data.append({key: value for key, value in body.items() if value is not None})
    return {
        "data": data,
        "meta": clean(
            {
                "latitude": query.latitude,
                "longitude": query.longitude,
                "radius_m": query.filters.radius_m,
                "open_at": query.open_at.isoformat() if query.open_at else None,
                "limit": query.limit,
                "count": len(data),
            }
        ),
    }


def _eligibility(filters: SearchFilters) -> list[str]:
    reasons = []
    if filters.age is not None:
        reasons.append(f"age {filters.age} within the service's age range")
    if filters.gender is not None:
        reasons.append(f"serves {filters.gender}")
    if filters.group is not None:
        reasons.append(f"serves {filters.group.replace('_', ' ')}")
    if filters.language is not None:
        reasons.append(f"speaks {filters.language}")
    if filters.has_capacity:
        reasons.append("has capacity now")
    if filters.accepts_referrals is not None:
        reasons.append("accepts referrals" if filters.accepts_referrals else "walk-in")
    return reasons


async def pathway(
    session: AsyncSession, viewer: Viewer, latitude: float, longitude: float, *, area: str | None
) -> dict[str, Any]:
    """The referral pathway of a place: the nearest service for each need of the taxonomy."""
    steps = []
    for code in NEED_CODES:
        found = await nearest(
            session,
            viewer,
            NearestQuery(latitude, longitude, SearchFilters(needs=(code,)), None, 1),
        )
        steps.append({"need": code, "service": found["data"][0] if found["data"] else None})
    return {
        "data": [clean(step) for step in steps],
        "meta": clean({"latitude": latitude, "longitude": longitude, "area": area}),
    }
