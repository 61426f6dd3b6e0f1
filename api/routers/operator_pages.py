"""The operator's pages (HTML, issue 22), ``/app/operator``: every organisation's open reports
and those left unanswered, stale entries and the imports' results (``/app/operator``); the
organisations, found by name, registered, suspended and reactivated, each with its people and
its API clients (``/app/operator/organizations``); the national lines of each country
(``/app/operator/national-lines``).

Each page calls the same services as the API's ``/v1/admin`` routes (``organizations``,
``clients``, ``national_lines``, ``import_jobs``) with the person as the principal, so the
validation, the refusals (403 for anyone but the operator) and the audit trail (``user/<id>``)
are the API's. A change that cannot be undone in one step (suspending, disabling a client,
removing a line) asks first. Every form carries the session's CSRF token.
"""

import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.deps import SessionDep
from api.errors import RelayError
from api.models.directory import NationalLine, NationalLineKind
from api.models.organization import Organization, OrganizationKind, OrganizationStatus
from api.schemas.clients import ClientPublic
from api.schemas.directory import NationalLineCreate
from api.schemas.organizations import OrganizationCreate
from api.services import (
    clients,
    import_jobs,
    national_lines,
    organizations,
    reports,
    verification,
)
from api.web.pages import (
    FIRST_SHOWING,
    Confirmed,
    FormAnswer,
    Subject,
    asks_first,
    form_page,
    not_allowed,
    posted,
    redirect,
    whole_number,
)
from api.web.paths import OPERATOR_PATH
from api.web.session import PersonPrincipal

router = APIRouter(prefix=OPERATOR_PATH, tags=["app"], include_in_schema=False)
AboutT = TypeVar("AboutT")
IdT = TypeVar("IdT")

ORGANIZATIONS_PATH = f"{OPERATOR_PATH}/organizations"
LINES_PATH = f"{OPERATOR_PATH}/national-lines"
PER_PAGE = 25  # organisations a page of the search lists
OVERVIEW_ORGANIZATIONS = 10  # the latest registered, on the operator's first page
CLIENTS_SHOWN = 100
SEARCH_LENGTH = 200  # an organisation's name is at most this long


def _organization_path(organization_id: uuid.UUID) -> str:
    return f"{ORGANIZATIONS_PATH}/{organization_id}"


# -- the queues, stale entries and imports ---------------------------------------------------------


@router.get("", summary="The operator's queues, stale entries and imports (HTML)")
async def operator_page(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    shown: dict[str, Any] = {}
    try:
        shown["unanswered"], shown["late"] = await reports.unanswered(database, principal)
        shown["queue"], shown["waiting"] = await reports.queue(database, principal)
        shown["stale"], shown["stale_total"] = await verification.stale_entries(
            database, principal, limit=100, offset=0
        )
        shown["organizations"], shown["organizations_total"] = await organizations.found(
            database, principal, None, limit=OVERVIEW_ORGANIZATIONS, offset=0
        )
        shown["jobs"] = await import_jobs.latest(database, principal)
    except RelayError as error:
        return not_allowed(request, error)
    return form_page(request, "app/operator.html", **shown)


@router.get("/imports/{job_id}/report.csv", summary="An import's report of rejected rows (CSV)")
async def import_report(
    job_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    try:
        body = await import_jobs.report_csv(database, principal, job_id)
    except RelayError as error:
        return not_allowed(request, error)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- organisations -----------------------------------------------------------------------------


def _page_number(request: Request) -> int:
    return whole_number(request.query_params.get("page"), digits=6) or 1


@router.get("/organizations", summary="Organisations, found by name (HTML)")
async def organizations_page(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    search = request.query_params.get("q", "").strip()[:SEARCH_LENGTH]
    number = _page_number(request)
    try:
        listed, total = await organizations.found(
            database,
            principal,
            search or None,
            limit=PER_PAGE,
            offset=(number - 1) * PER_PAGE,
        )
    except RelayError as error:
        return not_allowed(request, error)
    return form_page(
        request,
        "app/operator_organizations.html",
        organizations=listed,
        total=total,
        search=search,
        page_number=number,
        pages=max(1, math.ceil(total / PER_PAGE)),
    )


def _new_organization_form(
    request: Request, form: dict[str, str], answer: FormAnswer = FIRST_SHOWING
) -> Response:
    return form_page(
        request,
        "app/operator_organization_new.html",
        answer,
        form=form,
        kinds=[kind.value for kind in OrganizationKind],
    )


@router.get("/organizations/new", summary="Register an organisation (HTML)")
async def new_organization_page(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    try:
        organizations.operator_only(principal)
    except RelayError as error:
        return not_allowed(request, error)
    return _new_organization_form(request, {})


@router.post("/organizations/new", summary="Register an organisation (HTML form)")
async def new_organization(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    form = await posted(request)
    try:
        body = OrganizationCreate.model_validate(
            {"name": form.get("name", ""), "kind": form.get("kind", "")}
        )
    except ValidationError as error:
        field = _first_field(error)
        key = "problem.organization-kind" if field == "kind" else "problem.organization-name"
        return _new_organization_form(request, form, FormAnswer.invalid(key))
    try:
        created = await organizations.register(database, principal, body)
    except RelayError as error:
        return _new_organization_form(request, form, FormAnswer.of(error))
    return redirect(request, f"{_organization_path(created.id)}?done=created")


def _first_field(error: ValidationError) -> str:
    """The field the first error is about ("" for the body as a whole)."""
    location = error.errors()[0]["loc"] if error.errors() else ()
    return str(location[0]) if location else ""


@dataclass(frozen=True)
class Overseen(Generic[IdT, AboutT]):
    """What a change of the operator's can be about: its page's address, how the services find
    one for the principal (403 for anyone but the operator, 404), and its name on the
    confirmation."""

    path: Callable[[IdT], str]
    find: Callable[[AsyncSession, Principal, IdT], Awaitable[AboutT]]
    named: Callable[[AboutT], str]

    async def subject(
        self, record_id: IdT, request: Request, database: AsyncSession, principal: Principal
    ) -> Subject[AboutT] | Response:
        """The one ``record_id`` names, or the page saying why not."""
        try:
            about = await self.find(database, principal, record_id)
        except RelayError as error:
            return not_allowed(request, error)
        return Subject(self.path(record_id), principal, about, shown={"named": self.named(about)})


ORGANIZATION = Overseen(
    _organization_path, organizations.overseen, lambda organization: organization.name
)


async def _overseen(
    organization_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Subject[Organization] | Response:
    return await ORGANIZATION.subject(organization_id, request, database, principal)


@router.get(
    "/organizations/{organization_id}",
    summary="One organisation: its status, people and API clients (HTML)",
)
async def organization_page(
    request: Request,
    database: SessionDep,
    at: Annotated[Subject[Organization] | Response, Depends(_overseen)],
) -> Response:
    if isinstance(at, Response):
        return at
    try:
        listed, total = await clients.of_organization(
            database, at.principal, at.about.id, limit=CLIENTS_SHOWN
        )
    except RelayError as error:
        return not_allowed(request, error)
    return form_page(
        request,
        "app/operator_organization.html",
        organization=at.about,
        clients=listed,
        clients_total=total,
    )


def _status_change(status: OrganizationStatus) -> Callable[[Confirmed[Organization]], Any]:
    async def change(confirmed: Confirmed[Organization]) -> Response:
        at = confirmed.subject
        await organizations.set_status(confirmed.database, at.principal, at.about.id, status)
        return redirect(confirmed.request, f"{at.path}?done={status.value}")

    return change


# Suspending and reactivating, each after a confirmation (``suspend.*``, ``reactivate.*``).
for _status, _segment, _summary in (
    (OrganizationStatus.suspended, "suspend", "Suspend an organisation"),
    (OrganizationStatus.active, "reactivate", "Reactivate an organisation"),
):
    asks_first(
        router,
        _overseen,
        f"/organizations/{{organization_id}}/{_segment}",
        _summary,
        name=_segment,
    )(_status_change(_status))


# -- an organisation's API clients ---------------------------------------------------------------


@router.get("/clients/{client_id}", summary="An API client: its organisation's page")
async def client_page(
    client_id: str, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    """A client is shown on its organisation's page (where a confirmation's cancel goes)."""
    found = await _client(client_id, request, database, principal)
    if isinstance(found, Response):
        return found
    return redirect(request, _organization_path(found.about.organization_id))


CLIENT = Overseen(
    lambda client_id: f"{OPERATOR_PATH}/clients/{client_id}",
    clients.overseen,
    lambda client: client.name,
)


async def _client(
    client_id: str, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Subject[ClientPublic] | Response:
    return await CLIENT.subject(client_id, request, database, principal)


@asks_first(
    router, _client, "/clients/{client_id}/disable", "Disable an API client and revoke its tokens"
)
async def disable_client(confirmed: Confirmed[ClientPublic]) -> Response:
    at = confirmed.subject
    disabled = await clients.disable(confirmed.database, at.about.client_id, by=at.principal)
    return redirect(
        confirmed.request, f"{_organization_path(disabled.organization_id)}?done=client_disabled"
    )


# -- national lines ------------------------------------------------------------------------------


def _lines_by_country(lines: list[NationalLine]) -> list[tuple[str, list[NationalLine]]]:
    grouped: dict[str, list[NationalLine]] = {}
    for line in lines:
        grouped.setdefault(line.country, []).append(line)
    return list(grouped.items())


async def _lines_page(
    request: Request,
    database: SessionDep,
    principal: Principal,
    form: dict[str, str],
    answer: FormAnswer = FIRST_SHOWING,
) -> Response:
    try:
        organizations.operator_only(principal)
        lines = await national_lines.listed(database, None)
    except RelayError as error:
        return not_allowed(request, error)
    return form_page(
        request,
        "app/operator_lines.html",
        answer,
        countries=_lines_by_country(lines),
        kinds=[kind.value for kind in NationalLineKind],
        form=form,
    )


@router.get("/national-lines", summary="The national lines of every country (HTML)")
async def lines_page(
    request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    return await _lines_page(request, database, principal, {})


# What a field of a national line refused says (the first refused field's).
LINE_PROBLEMS = {
    "country": "problem.line-country",
    "kind": "problem.line-kind",
    "name": "problem.line-name",
    "number": "problem.line-number",
}


@router.post("/national-lines", summary="Add a national line (HTML form)")
async def add_line(request: Request, database: SessionDep, principal: PersonPrincipal) -> Response:
    form = await posted(request)
    values: dict[str, Any] = {name: form.get(name, "") for name in LINE_PROBLEMS}
    try:
        body = NationalLineCreate.model_validate(values)
    except ValidationError as error:
        key = LINE_PROBLEMS.get(_first_field(error), "problem.other")
        return await _lines_page(request, database, principal, form, FormAnswer.invalid(key))
    try:
        await national_lines.create(database, principal, body)
    except RelayError as error:
        return await _lines_page(request, database, principal, form, FormAnswer.of(error))
    return redirect(request, f"{LINES_PATH}?done=line_added")


@router.get("/national-lines/{line_id}", summary="A national line: the list (HTML)")
async def line_page(
    line_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Response:
    """A line is shown in the list (where a confirmation's cancel goes)."""
    found = await _line(line_id, request, database, principal)
    return found if isinstance(found, Response) else redirect(request, LINES_PATH)


LINE = Overseen(
    lambda line_id: f"{LINES_PATH}/{line_id}",
    national_lines.get,
    lambda line: f"{line.country} · {line.name} · {line.number}",
)


async def _line(
    line_id: uuid.UUID, request: Request, database: SessionDep, principal: PersonPrincipal
) -> Subject[NationalLine] | Response:
    return await LINE.subject(line_id, request, database, principal)


@asks_first(router, _line, "/national-lines/{line_id}/remove", "Remove a national line")
async def remove_line(confirmed: Confirmed[NationalLine]) -> Response:
    at = confirmed.subject
    await national_lines.remove(confirmed.database, at.principal, at.about.id)
    return redirect(confirmed.request, f"{LINES_PATH}?done=line_removed")
