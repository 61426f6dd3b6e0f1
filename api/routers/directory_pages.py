"""Relay's pages for keeping the directory true (HTML, issue 22): ``/app/directory`` for an
organisation's admins (its services, their review queue of reports, a service's phones,
capacity and status, the one-step confirmation) and ``/app/operator`` for the operator (every
open report, those organisations leave unanswered, stale entries, organisations).

Each page calls the same services as the API (``api.services.directory``, ``verification``,
``reports``), with the person as the principal: the same validation, the same ETags (each form
carries the version it was shown, so a change made meanwhile is refused, not overwritten) and
the same history (metadata, audit, ``directory.changed``). A refusal becomes words in the page's
language. Every form carries the session's CSRF token and posts to its own page's address.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.viewer import Viewer
from api.config import Settings
from api.deps import SessionDep
from api.errors import RelayError
from api.models.directory import Service, ServiceStatus
from api.schemas.directory import CapacityUpdate, PhoneIn, ServiceUpdate
from api.services import directory, hsds, import_jobs, organizations, reports, verification
from api.services.directory import etag
from api.services.people.sessions import Visitor
from api.web.pages import Problem, app_page, message_page, posted, problem_of, redirect
from api.web.session import HOME_PATH, SignedInVisitor

router = APIRouter(prefix="/app", tags=["app"], include_in_schema=False)

DIRECTORY_PATH = "/app/directory"
OPERATOR_PATH = "/app/operator"
PHONE_TYPES = ("voice", "sms", "whatsapp", "hotline", "fax")
PHONE_ROWS = 4  # phone rows a service's form offers at most (its phones, then empty ones)
CAPACITY_UNITS = ("bed", "place", "appointment")
STATUSES = (ServiceStatus.active, ServiceStatus.temporarily_closed, ServiceStatus.inactive)


def _principal(request: Request, visitor: Visitor) -> Principal:
    settings: Settings = request.app.state.settings
    return visitor.principal(settings)


def _refused(request: Request, error: RelayError) -> Response:
    key, _ = problem_of(error)
    return message_page(
        request, status_code=error.status, title="problem.title", message=key, back=HOME_PATH
    )


def _organization(request: Request) -> uuid.UUID | None:
    """``?org=``: the organisation the operator chose (a service refuses it to anyone else)."""
    try:
        return uuid.UUID(request.query_params.get("org", ""))
    except ValueError:
        return None


def _service_path(service_id: uuid.UUID) -> str:
    return f"{DIRECTORY_PATH}/services/{service_id}"


# -- an organisation's entries ---------------------------------------------------------------------


@router.get("/directory", summary="An organisation's directory entries and review queue (HTML)")
async def directory_page(
    request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    principal = _principal(request, visitor)
    chosen = _organization(request)
    try:
        entries = await verification.entries(database, principal, chosen)
        queue, waiting = await reports.queue(
            database, principal, organization_id=chosen or principal.organization_id
        )
    except RelayError as error:
        return _refused(request, error)
    return app_page(request, "app/directory.html", entries=entries, queue=queue, waiting=waiting)


async def _service_page(
    request: Request,
    database: AsyncSession,
    principal: Principal,
    service_id: uuid.UUID,
    *,
    problem: Problem | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    try:
        verification.writer(principal)
        found = await directory.writable(database, principal, Service, service_id)
        shown = await hsds.get_service(database, Viewer.of(principal), service_id)
        queue, _ = await reports.queue(database, principal, service_id=service_id)
    except RelayError as error:
        return _refused(request, error)
    phones = list(shown.get("phones", []))[:PHONE_ROWS]
    phones += [{"number": "", "type": "voice"}] * (PHONE_ROWS - len(phones))
    return app_page(
        request,
        "app/directory_service.html",
        status_code=status_code,
        service=found,
        shown=shown,
        version=found.version,
        phones=phones,
        phone_types=PHONE_TYPES,
        units=CAPACITY_UNITS,
        statuses=[status.value for status in STATUSES],
        queue=queue,
        problem=problem,
        form=form or {},
        done=request.query_params.get("done"),
    )


@router.get("/directory/services/{service_id}", summary="One service to keep true (HTML)")
async def service_page(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    return await _service_page(request, database, _principal(request, visitor), service_id)


# Each form's address shows the service's page too (a reload after a refused post, a link).
for _action in ("confirm", "phones", "capacity", "status", "notice"):
    router.add_api_route(
        f"/directory/services/{{service_id}}/{_action}",
        service_page,
        methods=["GET"],
        summary=f"One service to keep true, at its {_action} form (HTML)",
        name=f"service_page_{_action}",
    )


async def _change(
    request: Request,
    database: AsyncSession,
    visitor: Visitor,
    service_id: uuid.UUID,
    done: str,
    work: Any,
) -> Response:
    """Run one change of the service page's forms: 303 back to the page when done, the page
    with the problem named otherwise (the form as sent kept)."""
    form = await posted(request)
    principal = _principal(request, visitor)
    if_match = etag(int(form["version"])) if form.get("version", "").isdigit() else None
    try:
        verification.writer(principal)
        await work(principal, form, if_match)
    except ValidationError:
        return await _service_page(
            request,
            database,
            principal,
            service_id,
            problem=(f"directory.problem.{done}", {}),
            status_code=422,
            form=form,
        )
    except RelayError as error:
        return await _service_page(
            request,
            database,
            principal,
            service_id,
            problem=problem_of(error),
            status_code=error.status,
            form=form,
        )
    return redirect(request, f"{_service_path(service_id)}?done={done}")


@router.post("/directory/services/{service_id}/confirm", summary="Confirm a service (HTML form)")
async def confirm(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        await verification.confirm(database, principal, service_id, if_match)

    return await _change(request, database, visitor, service_id, "confirmed", work)


@router.post("/directory/services/{service_id}/phones", summary="Change its phones (HTML form)")
async def change_phones(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        phones = [
            PhoneIn(number=number, type=form.get(f"type_{row}", "voice"))
            for row in range(PHONE_ROWS)
            if (number := form.get(f"number_{row}", "").strip())
        ]
        body = ServiceUpdate(phones=phones)
        await directory.update_service(database, principal, service_id, body, if_match)

    return await _change(request, database, visitor, service_id, "phones", work)


def _count(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 6 else None


@router.post(
    "/directory/services/{service_id}/capacity", summary="Say what is available now (HTML form)"
)
async def change_capacity(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        body = CapacityUpdate.model_validate(
            {
                "unit": form.get("unit", "bed"),
                "available": _count(form.get("available")),
                "maximum": _count(form.get("maximum")),
            }
        )
        await directory.set_capacity(database, principal, service_id, body, if_match)

    return await _change(request, database, visitor, service_id, "capacity", work)


@router.post(
    "/directory/services/{service_id}/status",
    summary="Open, close for a while, or withdraw a service (HTML form)",
)
async def change_status(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        # Validated as the API validates it (the page offers fewer statuses than it takes).
        body = ServiceUpdate.model_validate({"status": form.get("status", "")})
        await directory.update_service(database, principal, service_id, body, if_match)

    return await _change(request, database, visitor, service_id, "status", work)


@router.post(
    "/directory/services/{service_id}/notice",
    summary="Post or remove a short-term notice, such as a temporary closure (HTML form)",
)
async def change_notice(
    service_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    async def work(principal: Principal, form: dict[str, str], if_match: str | None) -> None:
        text = form.get("alert", "").strip()
        body = ServiceUpdate.model_validate(
            {
                "alert": text or None,
                "alert_until": (form.get("alert_until", "").strip() or None) if text else None,
            }
        )
        await directory.update_service(database, principal, service_id, body, if_match)

    return await _change(request, database, visitor, service_id, "notice", work)


# -- the review queue ------------------------------------------------------------------------------


async def _resolve(
    request: Request,
    database: AsyncSession,
    visitor: Visitor,
    report_id: uuid.UUID,
    *,
    accepted: bool,
) -> Response:
    form = await posted(request)
    principal = _principal(request, visitor)
    try:
        verification.writer(principal)
        resolved = await reports.resolve(database, principal, report_id, accepted=accepted)
    except RelayError as error:
        return _refused(request, error)
    back = form.get("back", "")
    if back not in {"directory", "operator"}:
        back = "service"
    where = {
        "directory": DIRECTORY_PATH,
        "operator": OPERATOR_PATH,
        "service": _service_path(resolved.service_id),
    }[back]
    return redirect(request, f"{where}?done={'accepted' if accepted else 'dismissed'}")


@router.get("/directory/reports/{report_id}/accept", summary="Accept a report (HTML)")
async def accept_page(report_id: uuid.UUID, request: Request, visitor: SignedInVisitor) -> Response:
    return redirect(request, DIRECTORY_PATH)


@router.post("/directory/reports/{report_id}/accept", summary="Accept a report (HTML form)")
async def accept(
    report_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    return await _resolve(request, database, visitor, report_id, accepted=True)


@router.get("/directory/reports/{report_id}/dismiss", summary="Dismiss a report (HTML)")
async def dismiss_page(
    report_id: uuid.UUID, request: Request, visitor: SignedInVisitor
) -> Response:
    """A report's action has nothing of its own to show: the queue does."""
    return redirect(request, DIRECTORY_PATH)


@router.post("/directory/reports/{report_id}/dismiss", summary="Dismiss a report (HTML form)")
async def dismiss(
    report_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    return await _resolve(request, database, visitor, report_id, accepted=False)


# -- the operator ----------------------------------------------------------------------------------


@router.get("/operator", summary="The operator's queues, stale entries and organisations (HTML)")
async def operator_page(
    request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    principal = _principal(request, visitor)
    try:
        unanswered, late = await reports.unanswered(database, principal)
        queue, waiting = await reports.queue(database, principal)
        stale, stale_total = await verification.stale_entries(
            database, principal, limit=100, offset=0
        )
        listed, total = await organizations.page(database, limit=200, offset=0)
        jobs = await import_jobs.latest(database, principal)
    except RelayError as error:
        return _refused(request, error)
    return app_page(
        request,
        "app/operator.html",
        queue=queue,
        waiting=waiting,
        unanswered=unanswered,
        late=late,
        stale=stale,
        stale_total=stale_total,
        organizations=listed,
        organizations_total=total,
        jobs=jobs,
        done=request.query_params.get("done"),
    )


@router.get(
    "/operator/imports/{job_id}/report.csv", summary="An import's report of rejected rows (CSV)"
)
async def import_report(
    job_id: uuid.UUID, request: Request, database: SessionDep, visitor: SignedInVisitor
) -> Response:
    try:
        body = await import_jobs.report_csv(database, _principal(request, visitor), job_id)
    except RelayError as error:
        return _refused(request, error)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
