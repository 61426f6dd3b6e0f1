"""Nearest appropriate service: "where is the nearest place that can help this person with this
need, and is it open?"

Distances are metres on the WGS 84 ellipsoid (PostGIS geography). A confidential place that
the caller may not locate is ranked by a stand-in point chosen from the area it is listed in
alone (the same point for every place listed there), and carries neither position nor distance:
querying from many points can then reveal that point, which says which area the place is listed
in, as its result does anyway, and nothing of where in that area it is. Ties (two shelters
listed in one area) are broken by ids, never by anything their positions decide.
"""

import functools
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from api.auth.viewer import Viewer
from api.db import Database
from api.repositories import search as repository
from api.repositories.search import Candidate, SearchFilters
from api.services import national_lines
from api.services.hsds_presenter import REDACTED_LOCATION_NAME, clean
from api.services.opening import Hours, is_open
from api.taxonomy import NEED_CODES

# Distances on the WGS 84 ellipsoid and on PostGIS's sphere (mean radius) differ by at most
# about 0.56 % (the ellipsoid's radii of curvature span 6,335 to 6,400 km): 1 % is a safe bound.
SPHERE_ERROR = 0.01
SLACK = 5  # rows read past the limit: usually enough for the ellipsoidal order to be exact
MAXIMUM_WINDOW = 1024  # rows read at most (the window grows x4 while the order is unsettled)
# How far a search looks when the caller names no radius: as far as the committees' lookup page
# looks. Unbounded, "the nearest police" from a place with none nearby was a post 7,822 km away,
# which no one in danger can reach; a caller who wants further asks with radius_m.
DEFAULT_RADIUS_M = 250_000
# The years whose UTC offsets ``search_point.hours`` was computed with (migration 0016): outside
# them, a zone may have had another offset, and the scan does not filter by the hour.
OPEN_HOURS_YEARS = range(2020, 2040)
MAXIMUM_RADIUS_M = 2_000_000


# How much further an entry nobody confirmed lately may be and still rank after a checked one,
# when a search prefers checked entries: an unchecked place ranks as if it were 25 % further.
UNCHECKED_HANDICAP = 1.25


@dataclass(frozen=True)
class NearestQuery:
    latitude: float
    longitude: float
    filters: SearchFilters
    open_at: datetime | None
    limit: int
    # ``prefer=checked``: the services confirmed on or after this day (within the staleness
    # period) rank before unchecked ones at a similar distance (``UNCHECKED_HANDICAP``).
    checked_since: date | None = None


@dataclass(frozen=True)
class Found:
    """One result of a search, typed: what internal callers (the lookup pages, the pathway,
    referral suggestions) read, and what ``nearest_json`` writes for the HTTP route."""

    candidate: Candidate
    details: repository.Details
    open_now: bool | None

    @property
    def redacted(self) -> bool:
        """Whether the caller may not know the place's position, nor its distance: also when
        the place became confidential between the search's two statements."""
        return self.candidate.redacted or self.details.redacted

    @property
    def distance_m(self) -> float | None:
        """Metres to the place on the WGS 84 ellipsoid, to a decimetre; None when redacted."""
        return None if self.redacted else round(self.candidate.distance_m, 1)

    def service(self) -> dict[str, Any]:
        """The HSDS service with its organisation, needs, phones and schedules (no nulls)."""
        service: dict[str, Any] = json.loads(self.details.service)
        return service

    def location(self) -> dict[str, Any] | None:
        """The HSDS location (redacted when ``redacted``), None for a service covering the point."""
        location: dict[str, Any] | None = (
            json.loads(self.details.location) if self.details.location is not None else None
        )
        return location


async def _found(
    database: Database, viewer: Viewer, candidates: list[Candidate], instant: datetime
) -> list[Found]:
    shown = await repository.details(database, viewer, candidates, REDACTED_LOCATION_NAME)
    return [
        Found(candidate, details, is_open(_hours(details.schedules), instant))
        for candidate, details in zip(candidates, shown, strict=True)
        if details is not None
    ]


@functools.lru_cache(maxsize=4096)
def _hours(schedules: str | None) -> tuple[Hours, ...]:
    """Schedules as the details statement writes them, read once per distinct text (most
    places share a handful of weekly patterns)."""
    return tuple(Hours.of(row) for row in json.loads(schedules)) if schedules else ()


async def nearest_found(database: Database, viewer: Viewer, query: NearestQuery) -> list[Found]:
    """The ``limit`` nearest candidates with what they show, open at ``open_at`` when given.

    The index ranks by distance on the sphere, the answer is ordered on the ellipsoid. The two
    differ by less than ``SPHERE_ERROR``, so once the ``limit``-th best ellipsoidal distance is
    under the sphere distance reached by the scan, shrunk by that error, nothing unread can come
    before it: the order is exact. A few rows past the limit are usually enough; when they are
    not (places crowded at one spot), the scan is read again, four times further. With
    ``open_at``, the scan skips the places that cannot be open in its hour (their weekly hours
    in the index); the rules' minutes, validity dates and closures are checked here, and the
    scan read further until enough of the places are open then.
    """
    instant = query.open_at or datetime.now().astimezone()
    filters = query.filters
    if query.open_at is not None and query.open_at.astimezone(UTC).year in OPEN_HOURS_YEARS:
        filters = replace(filters, open_hour=hour_of_week(query.open_at))
    covering = await repository.covering(
        database, viewer, query.filters, query.latitude, query.longitude
    )
    rank = Ranking(query.checked_since)

    async def located(window: int) -> repository.Window:
        return await repository.nearest_located(
            database, viewer, filters, query.latitude, query.longitude, window=window
        )

    if query.open_at is None:
        window = window_for(query.limit + SLACK)
        while True:
            read = await located(window)
            nearest = sorted(read.candidates + covering, key=rank.key)[: query.limit]
            distances = [rank.distance(candidate) for candidate in nearest]
            if window >= MAXIMUM_WINDOW or _settled(read, distances, query.limit):
                return await _found(database, viewer, nearest, instant)
            window = window_for(window * 4)

    found = [item for item in await _found(database, viewer, covering, instant) if item.open_now]
    seen: set[Any] = set()
    window = window_for(query.limit + SLACK)
    while True:
        read = await located(window)
        fresh = [candidate for candidate in read.candidates if candidate.link_id not in seen]
        seen.update(candidate.link_id for candidate in fresh)
        found += [item for item in await _found(database, viewer, fresh, instant) if item.open_now]
        found = sorted(found, key=lambda item: rank.key(item.candidate))[: query.limit]
        distances = [rank.distance(item.candidate) for item in found]
        if window >= MAXIMUM_WINDOW or _settled(read, distances, query.limit):
            return found
        window = window_for(window * 4)


def hour_of_week(instant: datetime) -> int:
    """The UTC hour of the week holding the instant, as ``search_point.hours`` counts them."""
    utc = instant.astimezone(UTC)
    return utc.weekday() * 24 + utc.hour


def window_for(rows: int) -> int:
    """Rows to read: a power of two, so that the statement comes in a few shapes only."""
    return min(1 << (rows - 1).bit_length(), MAXIMUM_WINDOW)


def _settled(window: repository.Window, distances: list[float], limit: int) -> bool:
    """Whether no row beyond the window can rank among the first ``limit`` on the ellipsoid
    (``distances``: the ranking distances of the first ``limit``, never shorter than the real
    ones, so that a row beyond the window ranks at least as far as it is)."""
    if window.exhausted:
        return True
    return len(distances) == limit and distances[-1] <= window.reach_m * (1 - SPHERE_ERROR)


@dataclass(frozen=True)
class Ranking:
    """The order of a search's results: by distance; with ``checked_since`` (``prefer=checked``)
    an entry not confirmed since then ranks as if ``UNCHECKED_HANDICAP`` times further. The
    ranking distance is never shorter than the real one, so the scan's stopping rule (``_settled``)
    holds as it is: the order stays exact, the index scan unchanged (it may read further)."""

    checked_since: date | None = None

    def checked(self, candidate: Candidate) -> bool:
        return (
            self.checked_since is not None
            and candidate.assured_date is not None
            and candidate.assured_date >= self.checked_since
        )

    def distance(self, candidate: Candidate) -> float:
        if self.checked_since is None or self.checked(candidate):
            return candidate.distance_m
        return candidate.distance_m * UNCHECKED_HANDICAP

    def key(self, candidate: Candidate) -> tuple[float, bool, bool, str, str]:
        return (
            self.distance(candidate),
            not candidate.covering,
            self.checked_since is not None and not self.checked(candidate),
            str(candidate.service_id),
            str(candidate.location_id),
        )


BY_DISTANCE = Ranking()


async def nearest_json(database: Database, viewer: Viewer, query: NearestQuery) -> bytes:
    """The search's response body, as JSON: what the HTTP route sends as it is.

    The service, location and capacity are spliced in as PostgreSQL wrote them; only the few
    fields computed here are encoded (a dict built and encoded again cost a third of a
    search's Python)."""
    found = await nearest_found(database, viewer, query)
    needs = frozenset(query.filters.needs)
    eligibility = _encode(_eligibility(query.filters))
    items = [_item_json(item, needs, eligibility) for item in found]
    meta: dict[str, Any] = {
        "latitude": query.latitude,
        "longitude": query.longitude,
        "radius_m": query.filters.radius_m,
        "open_at": query.open_at.isoformat() if query.open_at else None,
        "limit": query.limit,
        "count": len(items),
    }
    if query.checked_since is not None:
        meta["prefer"] = "checked"
        meta["checked_since"] = query.checked_since.isoformat()
    if not items and query.filters.radius_m is not None:
        # Say that the search was bounded, so that "nothing" is not read as "nothing anywhere".
        meta["nothing_within_radius"] = True
        meta["message"] = nothing_within(query.filters.radius_m)
    if not items:
        # Never "nothing" alone: the country's national lines for what was asked.
        asked = list(query.filters.needs) or list(NEED_CODES)
        lines = await national_lines.at(database, query.latitude, query.longitude, asked)
        if lines:
            meta["national_lines"] = [line.json() for line in lines]
    return f'{{"data":[{",".join(items)}],"meta":{_encode(clean(meta))}}}'.encode()


def _item_json(item: Found, needs: frozenset[str], eligibility: str) -> str:
    """One result as the search's JSON writes it (``needs`` asked for, ``eligibility`` encoded)."""
    shown = item.details
    parts = ["{"]
    if item.distance_m is not None:
        parts += ['"distance_m":', repr(item.distance_m), ","]
    parts += [
        '"covering":',
        _BOOLEAN[item.candidate.covering],
        ',"position_withheld":',
        _BOOLEAN[item.redacted],
    ]
    if item.open_now is not None:
        parts += [',"open_now":', _BOOLEAN[item.open_now]]
    parts += [',"service":', shown.service]
    if shown.location is not None:
        parts += [',"location":', shown.location]
    if shown.capacity is not None:
        parts += [',"capacity":', shown.capacity]
    offered = needs.intersection(shown.needs) if needs else shown.needs
    parts += [',"matched":{"needs":', _codes(tuple(sorted(offered)))]
    parts += [',"eligibility":', eligibility, "}}"]
    return "".join(parts)


def nothing_within(radius_m: float) -> str:
    kilometres = f"{radius_m / 1000:,.1f}".removesuffix(".0")
    return (
        f"Nothing matching was found within {kilometres} km of this point; ask again with a "
        f"larger radius_m (at most {MAXIMUM_RADIUS_M // 1000:,} km) to look further."
    )


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_BOOLEAN = {True: "true", False: "false"}


def _encode(value: Any) -> str:
    return _ENCODER.encode(value)


@functools.lru_cache(maxsize=1024)
def _codes(codes: tuple[str, ...]) -> str:
    """Need codes as a JSON array (few combinations: the taxonomy's own codes)."""
    return _encode(list(codes))


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


async def nearest_of_each_need(
    database: Database,
    viewer: Viewer,
    latitude: float,
    longitude: float,
    needs: tuple[str, ...],
    *,
    limit: int,
    radius_m: float,
) -> dict[str, list[Found]]:
    """The ``limit`` nearest services of each need within ``radius_m``: what ``nearest_found``
    gives for each need alone, in two statements whatever the number of needs (a referral
    pathway asks the whole taxonomy: fifteen searches, about 45 statements, before).

    The first statement reads every need's first window and the services covering the point
    (``repository.nearest_of_needs``), the second shows what the chosen candidates of every
    need show (``repository.details``). The order on the ellipsoid is made exact as in
    ``nearest_found``: a need whose window does not settle it (places crowded at one spot) is
    read again, with the others still unsettled, four times further: at most four more
    statements (windows of 32 to ``MAXIMUM_WINDOW`` rows), however many needs are asked."""
    instant = datetime.now().astimezone()
    filters = SearchFilters(radius_m=radius_m)
    needs = tuple(dict.fromkeys(needs))
    pending = dict.fromkeys(needs, window_for(limit + SLACK))

    async def read(with_covering: bool) -> repository.NeedsRead:
        return await repository.nearest_of_needs(
            database,
            viewer,
            filters,
            latitude,
            longitude,
            windows=pending,
            with_covering=with_covering,
        )

    first = await read(with_covering=True)
    covering, scanned = first.covering, first.windows
    chosen: dict[str, list[Candidate]] = {}
    while True:
        for code, window in list(pending.items()):
            nearest = sorted(scanned[code].candidates + covering[code], key=BY_DISTANCE.key)[:limit]
            distances = [candidate.distance_m for candidate in nearest]
            if window >= MAXIMUM_WINDOW or _settled(scanned[code], distances, limit):
                chosen[code] = nearest
                del pending[code]
            else:
                pending[code] = window_for(window * 4)
        if not pending:
            break
        scanned = (await read(with_covering=False)).windows
    asked = [(code, candidate) for code in needs for candidate in chosen[code]]
    shown = await repository.details(
        database, viewer, [candidate for _, candidate in asked], REDACTED_LOCATION_NAME
    )
    found: dict[str, list[Found]] = {code: [] for code in needs}
    for (code, candidate), details in zip(asked, shown, strict=True):
        if details is not None:
            open_now = is_open(_hours(details.schedules), instant)
            found[code].append(Found(candidate, details, open_now))
    return found


async def pathway_json(
    database: Database,
    viewer: Viewer,
    latitude: float,
    longitude: float,
    *,
    area: str | None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> bytes:
    """The referral pathway of a place, as JSON: the nearest service for each need of the
    taxonomy, within ``radius_m`` (a police post thousands of kilometres away is no step of a
    pathway); each step's ``service`` written as the search writes a result (the same bytes as
    the first result of a search for that need alone, with ``limit=1``)."""
    nearest = await nearest_of_each_need(
        database, viewer, latitude, longitude, NEED_CODES, limit=1, radius_m=radius_m
    )
    eligibility = _encode(_eligibility(SearchFilters()))
    missing = [code for code, found in nearest.items() if not found]
    lines = await national_lines.at(database, latitude, longitude, missing)
    steps = []
    for code, found in nearest.items():
        step = f'{{"need":{_encode(code)}'
        if found:
            step += f',"service":{_item_json(found[0], frozenset((code,)), eligibility)}'
        elif fallback := national_lines.of_need(lines, code):
            step += f',"national_lines":{_encode([line.json() for line in fallback])}'
        steps.append(step + "}")
    meta = {"latitude": latitude, "longitude": longitude, "area": area, "radius_m": radius_m}
    return f'{{"data":[{",".join(steps)}],"meta":{_encode(clean(meta))}}}'.encode()
