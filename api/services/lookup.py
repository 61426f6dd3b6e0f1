"""What the lookup pages show: a place chosen from lists or by position, the nearest services per
need, the referral pathway of a place. Words are the web layer's business (``api.web.words``);
this module gives it facts, always as an anonymous caller sees them (public records, no position
of a confidential place).

How a number is reached is its phone ``type``: HSDS 3.1 draws it from RFC 6350's list, where
``text`` is an SMS line; Relay's write API says ``sms`` for the same and ``whatsapp`` for a
WhatsApp line (neither HSDS nor Open Referral UK has a word for it; a number reached both by
voice and by WhatsApp is two phones, one of each type). ``fax`` is shown, never linked; every
other type (``voice``, ``cell``, ``hotline``, none…) is called.
"""

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.repositories import areas as area_repository
from api.repositories.search import SearchFilters
from api.services import national_lines, search
from api.services.areas import AreaNotFound
from api.services.national_lines import Line, of_need
from api.services.search import Found, NearestQuery
from api.taxonomy import NEED_CODES

RESULTS_PER_NEED = 3
# How far the lookup pages look: a service further away is no help to a village committee, and
# a pathway that names one would mislead. The API's search looks as far by default.
REACH_M = search.DEFAULT_RADIUS_M
AREA_OPTIONS = 500  # options of one list at most
MAXIMUM_AREA_VALUES = 12
REFERRAL_CHOICES = 8  # services offered to refer to
ANONYMOUS = Viewer(sees_partner_records=False, cleared=False)


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    level: int
    parent_id: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Area":
        return cls(row["id"], row["name"], row["level"], row["parent_id"])


@dataclass(frozen=True)
class AreaList:
    """One list of the place picker: the areas of one level, and the one chosen if any."""

    level: int
    options: list[Area]
    selected: str | None


@dataclass(frozen=True)
class Origin:
    """Where distances are measured from: a position, or a point inside an area."""

    latitude: float
    longitude: float
    area: Area | None = None


class Channel(StrEnum):
    """How a number is reached from the lookup pages, in the order a card offers them."""

    voice = "voice"
    whatsapp = "whatsapp"
    sms = "sms"
    fax = "fax"


# The directory's phone ``type`` (lower case) -> its channel; any other type is a voice line.
PHONE_CHANNELS = {
    "text": Channel.sms,  # HSDS 3.1 / RFC 6350
    "sms": Channel.sms,  # Relay's write API
    "whatsapp": Channel.whatsapp,  # Relay's write API
    "fax": Channel.fax,
}


@dataclass(frozen=True)
class Phone:
    number: str
    channel: Channel = Channel.voice

    @classmethod
    def of(cls, phone: dict[str, Any]) -> "Phone":
        """A phone of the directory. A WhatsApp line needs an international number: a short
        code said to be one is called instead."""
        channel = PHONE_CHANNELS.get(str(phone.get("type") or "").strip().lower(), Channel.voice)
        if channel is Channel.whatsapp and not str(phone["number"]).startswith("+"):
            channel = Channel.voice
        return cls(phone["number"], channel)

    @property
    def tel(self) -> str:
        """The number for a ``tel:`` or ``sms:`` link (RFC 3966 global number: + and digits)."""
        return "".join(char for char in self.number if char.isdigit() or char == "+")

    @property
    def digits(self) -> str:
        """The number's digits alone (a ``wa.me`` link's international number)."""
        return "".join(char for char in self.number if char.isdigit())


@dataclass(frozen=True)
class Capacity:
    """Places a service publishes: free now of the most, in a unit (beds, appointments)."""

    unit: str
    available: int | None
    maximum: int | None


@dataclass(frozen=True)
class Card:
    """One service as a volunteer needs it: whom to call, how far, when, for whom."""

    id: str
    name: str
    description: str | None
    organization: str | None
    distance_m: float | None
    covering: bool
    redacted: bool
    open_now: bool | None
    address: str | None
    area: str | None
    # Where the place is, for a directions link: a place's own position (latitude, longitude);
    # never a confidential place's nor a stand-in point (a service covering the point has none).
    position: tuple[float, float] | None
    phones: list[Phone]
    schedules: list[dict[str, Any]]
    genders: list[str]
    target_groups: list[str]
    minimum_age: int | None
    maximum_age: int | None
    accepts_referrals: bool
    # When someone last confirmed the entry still correct (HSDS ``assured_date``), not when it
    # last changed: a volunteer trusts a number someone checked.
    checked: date | None
    # A short-term notice from the organisation (a temporary closure), while it lasts.
    alert: str | None = None
    alert_until: date | None = None
    capacity: tuple["Capacity", ...] = ()


@dataclass(frozen=True)
class NeedResults:
    need: str
    cards: list[Card] = field(default_factory=list)
    # Without a card: the national lines of the place's country for the need.
    national_lines: list[Line] = field(default_factory=list)


async def _with_national_lines(
    session: AsyncSession, origin: "Origin", results: list[NeedResults]
) -> list[NeedResults]:
    """The results, each need without a card given its national lines (one query, and none
    when every need found a service)."""
    missing = [result.need for result in results if not result.cards]
    lines = await national_lines.at(session, origin.latitude, origin.longitude, missing)
    return [
        result if result.cards else replace(result, national_lines=of_need(lines, result.need))
        for result in results
    ]


def _translated(record: dict[str, Any], language: str) -> dict[str, Any]:
    """A record's words in ``language`` (``translations``), empty when it has none."""
    words: dict[str, Any] = (record.get("translations") or {}).get(language) or {}
    return words


def _position(location: dict[str, Any], redacted: bool) -> tuple[float, float] | None:
    if redacted or location.get("visibility") == "confidential":
        return None
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if latitude is None or longitude is None:
        return None
    return float(latitude), float(longitude)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def card(found: Found, language: str) -> Card:
    """A search result in the chosen language: the service's and its organisation's names and
    the description where the directory has a translation (an administrative area has none:
    ``admin_area`` keeps one name)."""
    service = found.service()
    location = found.location() or {}
    organization: dict[str, Any] = service.get("organization") or {}
    translated = _translated(service, language)
    redacted = found.redacted or bool(location.get("confidential"))
    address = None
    if not redacted:
        first: dict[str, Any] = next(iter(location.get("addresses") or []), {})
        parts = [first.get(key) for key in ("address_1", "city")]
        address = ", ".join(part for part in parts if part) or None
    checked = service.get("assured_date")
    phones = [Phone.of(phone) for phone in service.get("phones", [])]
    return Card(
        id=service["id"],
        name=translated.get("name") or service["name"],
        description=translated.get("description") or service.get("description"),
        organization=_translated(organization, language).get("name") or organization.get("name"),
        distance_m=found.distance_m,
        covering=found.candidate.covering,
        redacted=redacted,
        open_now=found.open_now,
        address=address,
        area=(location.get("admin_area") or {}).get("name"),
        position=_position(location, redacted),
        phones=sorted(phones, key=lambda phone: list(Channel).index(phone.channel)),
        schedules=service.get("schedules", []),
        genders=service.get("genders", []),
        target_groups=service.get("target_groups", []),
        minimum_age=service.get("minimum_age"),
        maximum_age=service.get("maximum_age"),
        accepts_referrals=bool(service.get("accepts_referrals")),
        checked=_day(checked),
        alert=service.get("alert"),
        alert_until=_day(service.get("alert_until")),
        capacity=tuple(
            Capacity(row["unit"], row.get("available"), row.get("maximum"))
            for row in json.loads(found.details.capacity or "[]")
        ),
    )


async def chosen_area(session: AsyncSession, values: list[uuid.UUID]) -> list[Area]:
    """The area a form's lists name, with the areas it lies in (outermost first).

    The lists are submitted together, outermost first; when one was changed without JavaScript,
    the lists after it still hold choices inside the area chosen before. So the choice is the
    last of the values that each lie inside the one before; the rest are ignored.
    """
    chain: list[Area] = []
    for value in values[:MAXIMUM_AREA_VALUES]:
        areas = [Area.of(row) for row in await area_repository.with_ancestors(session, value)]
        if not areas:
            if chain:
                break
            raise AreaNotFound("No administrative area with this id.")
        if chain and areas[-1].parent_id != chain[-1].id:
            break
        chain = areas
    return chain


async def area_at(session: AsyncSession, latitude: float, longitude: float) -> list[Area]:
    """The smallest area containing the point, with the areas it lies in (outermost first)."""
    containing = await area_repository.containing(session, latitude, longitude)
    if not containing:
        return []
    smallest = uuid.UUID(containing[0]["id"])
    return [Area.of(row) for row in await area_repository.with_ancestors(session, smallest)]


async def picker(session: AsyncSession, chain: list[Area]) -> list[AreaList]:
    """The lists of the place picker: the top level, then the areas inside each chosen one."""
    lists = []
    parents: list[Area | None] = [None, *chain]
    for depth, parent in enumerate(parents):
        rows = await area_repository.children(
            session, uuid.UUID(parent.id) if parent else None, limit=AREA_OPTIONS
        )
        if not rows:
            break
        options = [Area.of(row) for row in rows]
        selected = chain[depth].id if depth < len(chain) else None
        lists.append(AreaList(options[0].level, options, selected))
    return lists


async def origin_of_area(session: AsyncSession, area: Area) -> Origin:
    """A point surely inside the area, from which distances are measured."""
    point = await area_repository.stand_in_point(session, uuid.UUID(area.id))
    if point is None:
        raise AreaNotFound("No administrative area with this id.")
    return Origin(point[0], point[1], area)


async def _nearest(
    session: AsyncSession, origin: Origin, need: str, limit: int, language: str
) -> NeedResults:
    filters = SearchFilters(needs=(need,), radius_m=REACH_M)
    query = NearestQuery(origin.latitude, origin.longitude, filters, None, limit)
    found = await search.nearest_found(session, ANONYMOUS, query)
    return NeedResults(need, [card(item, language) for item in found])


async def nearest(
    session: AsyncSession, origin: Origin, needs: list[str], language: str
) -> list[NeedResults]:
    """The nearest few services for each need, as an anonymous caller may see them (a need
    with none: its national lines)."""
    results = [await _nearest(session, origin, need, RESULTS_PER_NEED, language) for need in needs]
    return await _with_national_lines(session, origin, results)


async def referral_choices(
    session: AsyncSession, viewer: Viewer, origin: Origin, needs: list[str], language: str
) -> list[Card]:
    """The nearest services a person may refer to for any of the needs: those that accept
    referrals, as ``viewer`` may see them (a place it may not locate cannot be chosen)."""
    filters = SearchFilters(needs=tuple(needs), accepts_referrals=True, radius_m=REACH_M)
    query = NearestQuery(origin.latitude, origin.longitude, filters, None, REFERRAL_CHOICES)
    found = await search.nearest_found(session, viewer, query)
    return [card(item, language) for item in found if not item.redacted]


async def pathway(session: AsyncSession, origin: Origin, language: str) -> list[NeedResults]:
    """The referral pathway: the nearest service for each need of the taxonomy (or none), in
    two statements for all the needs (``search.nearest_of_each_need``)."""
    nearest = await search.nearest_of_each_need(
        session,
        ANONYMOUS,
        origin.latitude,
        origin.longitude,
        NEED_CODES,
        limit=1,
        radius_m=REACH_M,
    )
    steps = [
        NeedResults(need, [card(item, language) for item in found])
        for need, found in nearest.items()
    ]
    return await _with_national_lines(session, origin, steps)
