"""Relay's pages for keeping the directory true (HTML, issue 22): ``/app/directory`` for an
organisation's admins (its services, their review queue of reports, a service's phones,
capacity and status, the one-step confirmation); the operator's own pages are
``api/routers/operator_pages.py``.

Each page calls the same services as the API (``api.services.directory``, ``verification``,
``reports``), with the person as the principal: the same validation, the same ETags (each form
carries the version it was shown, so a change made meanwhile is refused, not overwritten) and
the same history (metadata, audit, ``directory.changed``). A refusal becomes words in the page's
language. Every form carries the session's CSRF token and posts to its own page's address.
"""

import re
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.viewer import Viewer
from api.deps import SessionDep
from api.errors import RelayError
from api.models.directory import Gender, Location, Service, ServiceStatus, TargetGroup, Visibility
from api.schemas.directory import CapacityUpdate, LocationUpdate, ServiceUpdate
from api.services import directory, hsds, reports, verification
from api.services.directory import etag
from api.web.pages import (
    FIRST_SHOWING,
    FormAnswer,
    Problem,
    app_page,
    form_page,
    not_allowed,
    posted,
    redirect,
    whole_number,
)
from api.web.paths import DIRECTORY_PATH, OPERATOR_PATH
from api.web.session import PersonPrincipal, SignedInVisitor

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)

PHONE_TYPES = ("voice", "sms", "whatsapp", "hotline", "fax")
PHONE_ROWS = 4  # phone rows a service's form offers at most (its phones, then empty ones)
CAPACITY_UNITS = ("bed", "place", "appointment")
STATUSES = (ServiceStatus.active, ServiceStatus.temporarily_closed, ServiceStatus.inactive)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
HOUR_ROWS = 2  # empty rows of opening hours a service's form offers besides its own (14 at most)
MAXIMUM_HOUR_ROWS = 14  # as many as the API takes
VERSION_DIGITS = 18  # a record's version as its form carries it (a bigint)
ADDRESS_FIELDS = ("address_1", "address_2", "city", "state_province", "postal_code", "country")


def _organization(request: Request) -> uuid.UUID | None:
    """``?org=``: the organisation the operator chose (a service refuses it to anyone else)."""
    try:
        return uuid.UUID(request.query_params.get("org", ""))
    except ValueError:
        return None


# -- an organisation's entries ---------------------------------------------------------------------


@router.get("/directory", summary="An organisation's directory entries and review queue (HTML)")
async def directory_page(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    chosen = _organization(request)
    try:
        entries = await verification.entries(database, principal, chosen)
        places = await verification.places(database, principal, chosen)
        queue, waiting = await reports.queue(
            database, principal, organization_id=chosen or principal.organization_id
        )
    except RelayError as error:
        return not_allowed(request, error)
    return app_page(
        request, "app/directory.html", entries=entries, places=places, queue=queue, waiting=waiting
    )


KeptT = TypeVar("KeptT", Service, Location)


async def _kept(
    database: AsyncSession, principal: Principal, model: type[KeptT], record_id: uuid.UUID
) -> KeptT:
    """The service or location a person keeps true (their organisation's; any, for the operator),
    locked for the page or the change to come."""
    verification.writer(principal)
    return await directory.writable(database, principal, model, record_id)


@dataclass(frozen=True)
class EntryKind(Generic[KeptT]):
    """A kind of entry a person keeps true: its model, where its pages are, their template and
    what a page shows of one (``shows``: besides the version and the form, which every page has)."""

    model: type[KeptT]
    segment: str
    template: str
    shows: Callable[[AsyncSession, Principal, KeptT], Awaitable[dict[str, Any]]]

    def path(self, record_id: uuid.UUID) -> str:
        return f"{DIRECTORY_PATH}/{self.segment}/{record_id}"


async def _entry_page(
    request: Request,
    database: AsyncSession,
    principal: Principal,
    entry: EntryKind[KeptT],
    record_id: uuid.UUID,
    answer: FormAnswer = FIRST_SHOWING,
    form: dict[str, str] | None = None,
) -> Response:
    """A service's or location's page: every form carries the version shown (a form shown before
    someone else's change is refused), a refused form shows what was sent, and ``?done=`` what
    was saved."""
    try:
        found = await _kept(database, principal, entry.model, record_id)
        shown = await entry.shows(database, principal, found)
    except RelayError as error:
        return not_allowed(request, error)
    return form_page(
        request,
        entry.template,
        answer,
        version=found.version,
        form=form or {},
        **shown,
    )


async def _service_shows(
    database: AsyncSession, principal: Principal, service: Service
) -> dict[str, Any]:
    shown = await hsds.get_service(database, Viewer.of(principal), service.id)
    queue, _ = await reports.queue(database, principal, service_id=service.id)
    phones = list(shown.get("phones", []))[:PHONE_ROWS]
    phones += [{"number": "", "type": "voice"}] * (PHONE_ROWS - len(phones))
    hours = [_hours_row(item) for item in shown.get("schedules", [])][:MAXIMUM_HOUR_ROWS]
    time_zone = hours[0]["time_zone"] if hours else ""
    hours += [_hours_row({})] * (min(len(hours) + HOUR_ROWS, MAXIMUM_HOUR_ROWS) - len(hours))
    return {
        "service": service,
        "shown": shown,
        "phones": phones,
        "phone_types": PHONE_TYPES,
        "units": CAPACITY_UNITS,
        "statuses": [status.value for status in STATUSES],
        "hours": hours,
        "time_zone": time_zone,
        "weekdays": WEEKDAYS,
        "languages_spoken": ", ".join(item["code"] for item in shown.get("languages", [])),
        "genders": [gender.value for gender in Gender],
        "groups": [group.value for group in TargetGroup],
        "visibilities": [level.value for level in Visibility],
        "queue": queue,
    }


async def _location_shows(
    database: AsyncSession, principal: Principal, location: Location
) -> dict[str, Any]:
    [shown] = await verification.places_shown(database, principal, [location])
    return {
        "location": location,
        "shown": shown,
        "address": (shown.get("addresses") or [{}])[0],
        "address_fields": ADDRESS_FIELDS,
        "visibilities": [level.value for level in Visibility],
    }


SERVICE = EntryKind(Service, "services", "app/directory_service.html", _service_shows)
LOCATION = EntryKind(Location, "locations", "app/directory_location.html", _location_shows)


@router.get("/directory/services/{service_id}", summary="One service to keep true (HTML)")
async def service_page(
    service_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    return await _entry_page(request, database, principal, SERVICE, service_id)


async def _change(
    request: Request,
    database: AsyncSession,
    principal: Principal,
    record_id: uuid.UUID,
    done: str,
    work: Any,
    explain: Callable[[ValidationError], Problem] | None = None,
    *,
    entry: EntryKind[Any] = SERVICE,
) -> Response:
    """Run one change of a service's (or, with ``entry=LOCATION``, a location's) forms:
    303 back to its page when done, the page with the problem named otherwise (the form as sent
    kept): a request the API's contract refuses is ``directory.problem.<done>``, or what
    ``explain`` makes of it."""
    form = await posted(request)
    version = whole_number(form.get("version"), digits=VERSION_DIGITS)
    if_match = None if version is None else etag(version)
    try:
        verification.writer(principal)
        await work(principal, form, if_match)
    except ValidationError as error:
        problem = explain(error) if explain else (f"directory.problem.{done}", {})
        answer = FormAnswer(problem, 422)
    except RelayError as error:
        answer = FormAnswer.of(error)
    else:
        return redirect(request, f"{entry.path(record_id)}?done={done}")
    return await _entry_page(request, database, principal, entry, record_id, answer, form)


@router.post("/directory/services/{service_id}/confirm", summary="Confirm a service (HTML form)")
async def confirm(
    service_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        await verification.confirm(database, principal, service_id, if_match)

    return await _change(request, database, principal, service_id, "confirmed", work)


def _typed(value: str | None, *, digits: int) -> int | str | None:
    """A count or an age typed in a form: a whole number (of at most ``digits`` digits, in any
    script), none when empty; anything else is passed on as typed, for the API's contract to
    refuse."""
    text = (value or "").strip()
    number = whole_number(text, digits=digits)
    return (text or None) if number is None else number


@router.post(
    "/directory/services/{service_id}/capacity", summary="Say what is available now (HTML form)"
)
async def change_capacity(
    service_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        body = CapacityUpdate.model_validate(
            {
                "unit": form.get("unit", "bed"),
                "available": _typed(form.get("available"), digits=6),
                "maximum": _typed(form.get("maximum"), digits=6),
            }
        )
        await directory.set_capacity(database, principal, service_id, body, if_match)

    return await _change(request, database, principal, service_id, "capacity", work)


# The service page's forms that change fields of the service: each reads its form into the
# API's PATCH body (``ServiceUpdate``, validated as the API validates it) and optionally names
# what a refused one got wrong; one route per form, ``/app/directory/services/{id}/<form>``.


def _phones(form: dict[str, str]) -> dict[str, Any]:
    return {
        "phones": [
            {"number": number, "type": form.get(f"type_{row}", "voice")}
            for row in range(PHONE_ROWS)
            if (number := form.get(f"number_{row}", "").strip())
        ]
    }


def _status(form: dict[str, str]) -> dict[str, Any]:
    # The page offers fewer statuses than the API takes; the API's contract checks what is sent.
    return {"status": form.get("status", "")}


def _notice(form: dict[str, str]) -> dict[str, Any]:
    text = form.get("alert", "").strip()
    return {
        "alert": text or None,
        "alert_until": (form.get("alert_until", "").strip() or None) if text else None,
    }


def _hours_row(item: dict[str, Any]) -> dict[str, Any]:
    """A schedule as the hours form shows it: its days, and its times as HH:MM."""
    return {
        "days": set((item.get("byday") or "").split(",")),
        "opens_at": str(item.get("opens_at") or "")[:5],
        "closes_at": str(item.get("closes_at") or "")[:5],
        "time_zone": item.get("time_zone") or "",
    }


def _ascii(value: str) -> str:
    """A time as typed, its digits those of any script (Devanagari, Khmer...) written as 0-9."""
    return "".join(
        str(unicodedata.digit(char)) if char.isdigit() else char for char in value.strip()
    )


def _posted_hours(form: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of the hours form a person filled (days ticked or a time typed), as the API's
    ``schedules`` (weekly: HSDS ``byday``, ``opens_at``, ``closes_at``, one IANA time zone)."""
    time_zone = form.get("time_zone", "").strip()
    rows: list[dict[str, Any]] = []
    for row in range(MAXIMUM_HOUR_ROWS):
        days = [day for day in WEEKDAYS if form.get(f"day_{row}_{day}")]
        opens, closes = (_ascii(form.get(f"{end}_{row}", "")) for end in ("opens", "closes"))
        if days or opens or closes:
            rows.append(
                {
                    "byday": ",".join(days),
                    "opens_at": opens or None,
                    "closes_at": closes or None,
                    "time_zone": time_zone,
                }
            )
    return rows


def _hours_problem(error: ValidationError) -> Problem:
    """What is wrong with the hours sent, in words: the row, and which of its parts."""
    for item in error.errors():
        where = [part for part in item["loc"] if part != "schedules"]
        row = next((part + 1 for part in where if isinstance(part, int)), 1)
        if "time_zone" in where:
            return "directory.problem.hours_zone", {}
        if "byday" in where:
            return "directory.problem.hours_days", {"row": row}
        if "opens_at" in where or "closes_at" in where:
            return "directory.problem.hours_time", {"row": row}
        if "closes_at must be after" in item["msg"]:
            return "directory.problem.hours_order", {"row": row}
    return "directory.problem.hours", {}


def _hours(form: dict[str, str]) -> dict[str, Any]:
    return {"schedules": _posted_hours(form)}


def _languages(form: dict[str, str]) -> dict[str, Any]:
    return {"languages": [code for code in re.split(r"[\s,;]+", form.get("languages", "")) if code]}


def _eligibility(form: dict[str, str]) -> dict[str, Any]:
    return {
        "minimum_age": _typed(form.get("minimum_age"), digits=3),
        "maximum_age": _typed(form.get("maximum_age"), digits=3),
        "genders": [gender.value for gender in Gender if form.get(f"gender_{gender}")],
        "target_groups": [group.value for group in TargetGroup if form.get(f"group_{group}")],
        "eligibility_description": form.get("eligibility_description", "").strip() or None,
    }


def _visibility(form: dict[str, str]) -> dict[str, Any]:
    return {"visibility": form.get("visibility", "")}


ServiceForm = tuple[
    str, Callable[[dict[str, str]], dict[str, Any]], Callable[[ValidationError], Problem] | None
]
SERVICE_FORMS: dict[str, ServiceForm] = {
    "phones": ("Change its phones", _phones, None),
    "status": ("Open, close for a while, or withdraw a service", _status, None),
    "notice": ("Post or remove a short-term notice, such as a temporary closure", _notice, None),
    "hours": ("Change its weekly opening hours", _hours, _hours_problem),
    "languages": ("Change the languages spoken there", _languages, None),
    "eligibility": ("Change who may come: ages, genders, groups", _eligibility, None),
    "visibility": ("Change who may list the service", _visibility, None),
}


def _service_form(done: str) -> Callable[..., Awaitable[Response]]:
    """The route of one of ``SERVICE_FORMS``: the API's ``update_service`` with its body."""
    _, fields, explain = SERVICE_FORMS[done]

    async def change(
        service_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
    ) -> Response:
        async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
            body = ServiceUpdate.model_validate(fields(form))
            await directory.update_service(database, principal, service_id, body, if_match)

        return await _change(request, database, principal, service_id, done, work, explain)

    return change


for _form, _described in SERVICE_FORMS.items():
    router.add_api_route(
        f"/directory/services/{{service_id}}/{_form}",
        _service_form(_form),
        methods=["POST"],
        summary=f"{_described[0]} (HTML form)",
        name=f"change_{_form}",
    )

# Each form's address shows the service's page too (a reload after a refused post, a link).
for _action in ("confirm", "capacity", *SERVICE_FORMS):
    router.add_api_route(
        f"/directory/services/{{service_id}}/{_action}",
        service_page,
        methods=["GET"],
        summary=f"One service to keep true, at its {_action} form (HTML)",
        name=f"service_page_{_action}",
    )


# -- an organisation's locations -------------------------------------------------------------------


@router.get("/directory/locations/{location_id}", summary="One location to keep true (HTML)")
async def location_page(
    location_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    return await _entry_page(request, database, principal, LOCATION, location_id)


def _location_update(form: dict[str, str], redacted: bool) -> LocationUpdate:
    """The location form as the API's PATCH body. Its name and address replace what was there;
    for a place whose name and address the page withholds from the person (a confidential one),
    what is left empty is left as it was."""
    fields: dict[str, Any] = {"visibility": form["visibility"]} if "visibility" in form else {}
    name = form.get("name", "").strip()
    if name or not redacted:
        fields["name"] = name
    address = {key: form.get(key, "").strip() for key in ADDRESS_FIELDS}
    if any(address.values()):
        fields["address"] = {key: value for key, value in address.items() if value} | {
            "country": address["country"].upper()
        }
    elif not redacted:
        fields["address"] = None
    return LocationUpdate.model_validate(fields)


@router.post("/directory/locations/{location_id}", summary="Change a location (HTML form)")
async def change_location(
    location_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        found = await directory.writable(database, principal, Location, location_id)
        body = _location_update(form, Viewer.of(principal).redacts(found))
        await directory.update_location(database, principal, location_id, body, if_match)

    return await _change(
        request, database, principal, location_id, "location", work, entry=LOCATION
    )


# -- the review queue ------------------------------------------------------------------------------


def _resolution(accepted: bool) -> Callable[..., Awaitable[Response]]:
    """The route that accepts a report (``accepted``) or dismisses it, then goes back to the page
    the form was on: the queue, the operator's, or the service's."""
    done = "accepted" if accepted else "dismissed"

    async def resolve(
        report_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
    ) -> Response:
        form = await posted(request)
        try:
            verification.writer(principal)
            resolved = await reports.resolve(database, principal, report_id, accepted=accepted)
        except RelayError as error:
            return not_allowed(request, error)
        back = form.get("back", "")
        if back not in {"directory", "operator"}:
            back = "service"
        where = {
            "directory": DIRECTORY_PATH,
            "operator": OPERATOR_PATH,
            "service": SERVICE.path(resolved.service_id),
        }[back]
        return redirect(request, f"{where}?done={done}")

    return resolve


async def report_page(report_id: uuid.UUID, request: Request, visitor: SignedInVisitor) -> Response:
    """A report's action has nothing of its own to show: the queue does."""
    return redirect(request, DIRECTORY_PATH)


REPORT_ACTIONS = {"accept": ("Accept a report", True), "dismiss": ("Dismiss a report", False)}
for _action, (_summary, _accepted) in REPORT_ACTIONS.items():
    _path = f"/directory/reports/{{report_id}}/{_action}"
    router.add_api_route(
        _path, report_page, methods=["GET"], summary=f"{_summary} (HTML)", name=f"{_action}_page"
    )
    router.add_api_route(
        _path,
        _resolution(_accepted),
        methods=["POST"],
        summary=f"{_summary} (HTML form)",
        name=_action,
    )
