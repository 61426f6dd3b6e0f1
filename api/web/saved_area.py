"""The saved area as the phone keeps it: one compact JSON document, in one language.

``lookup.js`` searches it on the phone when the network is gone (or the server does not answer
within the service worker's timeout) and builds the same cards as ``card.html`` from it; so
everything a card says is written here already, in the chosen language (links, hours, who may
come), and the phone only measures distances and orders the services. Format (``FORMAT`` 1)::

    {"format": 1, "language": "fr", "made": "2026-12-05T10:00:00Z", "complete": true,
     "area": "<id of the area saved>",
     "areas": [{"id", "name", "latitude", "longitude", "searchable", "country" (when known)}],
     "words": {messages the page needs to write results: distances, headings, none found},
     "lines": [{"country", "kind", "label" (the kind in words), "name", "number", "tel",
                "needs": [codes]}]      (the national lines of the areas' countries: offered
                                         for a need no service within reach meets),
     "services": [{"id", "name", "organization", "description", "needs": [codes],
                   "latitude", "longitude"          (a public place)
                   | "listed_in": "<area id>"       (a confidential place: no position)
                   | "covers": ["<area id>", ...]   (a service area covering these areas),
                   "confidential", "address", "area", "links": [[kind, href, label]],
                   "faxes", "hours", "who", "alert" (a notice), "checked" (when confirmed),
                   "referrals"}]}

The document is at most ``MAXIMUM_BYTES`` long, whatever the directory holds: services are
written nearest to the area first, and those that do not fit are left out (``complete`` is
then false, and the page says the copy is partial). A district of the demo network with its
two neighbours is 14 KB (20 KB in Khmer; tests/web/test_saved_area.py measures it); real data
fills the bound at about 600 bytes a service: a Malagasy region with its 5 to 7 neighbours
(WHO/KEMRI and healthsites facilities) keeps its 750 nearest in 450 KB, 44 KB gzipped.
"""

import json
from typing import Any

from api.services.lookup import REACH_M, RESULTS_PER_NEED
from api.services.saved_area import SavedDirectory, SavedService
from api.taxonomy import NEED_CODES
from api.web import links, words
from api.web.i18n import Catalog

FORMAT = 1
MAXIMUM_BYTES = 450_000  # before compression: a district's copy stays well under 500 KB
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# Messages written by the phone with values it computes (placeholders kept).
TEMPLATES = ("result.distance_m", "result.distance_km", "results.from_area", "results.from_point")
# Messages the phone writes as they are.
FIXED = (
    "number.digits",
    "number.decimal_mark",
    "results.title",
    "results.choose_need",
    "result.covering",
    "result.confidential",
    "result.hours",
    "result.who",
    "offline.not_saved",
    "directory.national_lines",
)


def _words(catalog: Catalog) -> dict[str, Any]:
    written: dict[str, Any] = {key: catalog.messages[key] for key in (*TEMPLATES, *FIXED)}
    written["results.none"] = catalog("results.none", distance=REACH_M // 1000)
    written["needs"] = {code: catalog(f"need.{code}") for code in NEED_CODES}
    written["reach_m"] = REACH_M
    written["per_need"] = RESULTS_PER_NEED
    return written


def _service(catalog: Catalog, saved: SavedService) -> dict[str, Any]:
    card = saved.card
    written: dict[str, Any] = {"id": card.id, "name": card.name}
    if card.organization:
        written["organization"] = card.organization
    if card.description:
        written["description"] = card.description
    written["needs"] = list(saved.needs)
    if card.position is not None:
        written["latitude"], written["longitude"] = (round(value, 6) for value in card.position)
    elif saved.listed_in is not None:
        written["listed_in"] = saved.listed_in
    elif saved.covers:
        written["covers"] = list(saved.covers)
    if card.redacted:
        written["confidential"] = True
    if card.address:
        written["address"] = card.address
    if card.area:
        written["area"] = catalog("result.area", area=card.area)
    shown = links.contacts(catalog, card)
    way = links.directions(catalog, card)
    if way is not None:
        shown.append(way)
    written["links"] = [[link.kind, link.href, link.label] for link in shown]
    faxes = [catalog("result.fax", number=number) for number in links.faxes(card)]
    if faxes:
        written["faxes"] = faxes
    written["hours"] = words.hours(catalog, card.schedules) or catalog("result.hours_unknown")
    written["who"] = words.who(catalog, card)
    if card.alert:
        until = card.alert_until
        written["alert"] = card.alert + (
            " " + catalog("directory.notice_until", date=catalog.numerals(until.isoformat()))
            if until
            else ""
        )
    if card.checked is not None:
        written["checked"] = catalog(
            "directory.checked_on", date=catalog.numerals(card.checked.isoformat())
        )
    written["referrals"] = catalog(
        "result.referrals" if card.accepts_referrals else "result.no_referrals"
    )
    return written


def document(saved: SavedDirectory, catalog: Catalog) -> bytes:
    """The saved area's JSON, at most ``MAXIMUM_BYTES`` long."""
    head = {
        "format": FORMAT,
        "language": catalog.language,
        "made": saved.made.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "area": saved.area.id,
        "areas": [
            {
                "id": area.id,
                "name": area.name,
                "latitude": round(area.latitude, 6),
                "longitude": round(area.longitude, 6),
                "searchable": area.searchable,
                **({"country": area.country} if area.country else {}),
            }
            for area in saved.areas
        ],
        "words": _words(catalog),
        "lines": [
            {
                "country": line.country,
                "kind": line.kind,
                "label": catalog(f"directory.line.{line.kind}"),
                "name": line.name,
                "number": line.number,
                "tel": line.tel,
                "needs": list(line.needs),
            }
            for line in saved.lines
        ],
    }
    complete = saved.complete
    opening = _ENCODER.encode(head)[:-1]
    room = MAXIMUM_BYTES - len(opening.encode()) - len(',"complete":false,"services":[]}')
    services: list[str] = []
    for item in saved.services:
        written = _ENCODER.encode(_service(catalog, item))
        size = len(written.encode()) + 1
        if size > room:
            complete = False
            break
        room -= size
        services.append(written)
    tail = f',"complete":{"true" if complete else "false"},"services":[{",".join(services)}]}}'
    return (opening + tail).encode()
