"""The lookup pages for protection committees (HTML, anonymous): see ``api.web``.

``GET /lookup`` is a plain GET form (``lat``/``lon`` or ``area``, ``need``), so every result has
a URL to share or bookmark; ``GET /lookup/results`` answers the same query with the results
part of that page alone, which the page's script puts in place when a need is ticked (one small
request, no reload); ``GET /lookup/pathway`` prints on one A4 page; ``GET /lookup/export``
downloads an area's directory as GeoJSON or CSV. Bad input re-renders the form with the problem
named, in the page's language, with status 422: never a stack trace.
"""

import json
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import charge_anonymous
from api.auth.viewer import Viewer
from api.db import transaction
from api.deps import ReadSessionDep, ReadSessionMakerDep, SessionDep
from api.errors import TooManyRequests, Unprocessable
from api.models.directory import ReportReason
from api.services import exports, lookup, reports, saved_area
from api.services.areas import AreaNotFound
from api.services.exports import ExportFormat
from api.services.lookup import Area, NeedResults, Origin
from api.services.reports import Reportable, ReportedServiceNotFound
from api.taxonomy import NEED_CODES
from api.web import assets, pages, render
from api.web import saved_area as saved_area_document
from api.web.i18n import catalog, negotiate

router = APIRouter(prefix="/lookup", tags=["lookup"], include_in_schema=False)


class InvalidExport(Unprocessable, code="invalid-export"):
    """An export asked without one known area or format: the problem in the page's language."""


SERVICE_WORKER = (render.TEMPLATES / "sw.js").read_text(encoding="utf-8")


@dataclass
class Form:
    """The lookup form's values as sent, and what is wrong with them (message keys)."""

    language: str
    latitude: float | None = None
    longitude: float | None = None
    latitude_text: str = ""
    longitude_text: str = ""
    areas: list[uuid.UUID] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, request: Request) -> "Form":
        query = request.query_params
        form = cls(negotiate(query.get("lang"), request.headers.get("accept-language")))
        form.latitude_text = query.get("lat", "").strip()[:32]
        form.longitude_text = query.get("lon", "").strip()[:32]
        form.latitude = form._coordinate(form.latitude_text, 90, "error.latitude")
        form.longitude = form._coordinate(form.longitude_text, 180, "error.longitude")
        if (form.latitude is None) != (form.longitude is None) and not form.errors:
            form.errors.append("error.half_point")
        for value in query.getlist("area")[: lookup.MAXIMUM_AREA_VALUES]:
            if not value.strip():
                continue
            try:
                form.areas.append(uuid.UUID(value.strip()))
            except ValueError:
                form.errors.append("error.area")
                break
        for value in dict.fromkeys(query.getlist("need")[: len(NEED_CODES) + 1]):
            if value in NEED_CODES:
                form.needs.append(value)
            elif "error.need" not in form.errors:
                form.errors.append("error.need")
        return form

    def _coordinate(self, text: str, bound: float, error: str) -> float | None:
        if not text:
            return None
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > bound:
            self.errors.append(error)
            return None
        return value


async def _place(session: AsyncSession, form: Form) -> tuple[list[Area], Origin | None]:
    """The chosen area's chain and the origin of distances: the position when one is given
    (the lists then show the areas around it), else a point inside the chosen area. Nothing when
    the form has errors; an unknown area becomes one."""
    if form.errors:
        return [], None
    try:
        if form.latitude is not None and form.longitude is not None:
            chain = await lookup.area_at(session, form.latitude, form.longitude)
            return chain, Origin(form.latitude, form.longitude)
        if form.areas:
            chain = await lookup.chosen_area(session, form.areas)
            return chain, await lookup.origin_of_area(session, chain[-1])
    except AreaNotFound:
        form.errors.append("error.area")
    return [], None


def _charge(request: Request, form: Form) -> dict[str, str]:
    """Count an expensive page against the address's budget (``charge_anonymous``); over it, the
    form says so in the reader's language and the answer carries ``Retry-After``."""
    try:
        charge_anonymous(request)
    except TooManyRequests as exc:
        form.errors.append("error.busy")
        return exc.headers
    return {}


@dataclass
class Search:
    """A lookup as asked: the form, the place it names, the results, and ``Retry-After`` when
    the address is over its budget."""

    form: Form
    chain: list[Area]
    origin: Origin | None
    results: list[NeedResults]
    retry: dict[str, str]


async def _search(request: Request, session: AsyncSession) -> Search:
    form = Form.read(request)
    retry = _charge(request, form) if form.needs and not form.errors else {}
    # a search per need is counted (the empty form is not)
    chain, origin = await _place(session, form)
    results = []
    if origin is not None and form.needs:
        results = await lookup.nearest(session, origin, form.needs, form.language)
    return Search(form, chain, origin, results, retry)


@router.get("", summary="Find the nearest services for a place and a need (HTML)")
async def lookup_page(request: Request, session: ReadSessionDep) -> Response:
    search = await _search(request, session)
    return await _form_page(
        request, session, search.form, search.chain, search.origin, search.results, search.retry
    )


@router.get("/results", summary="The results part of a lookup page, for its script (HTML)")
async def results_part(request: Request, session: ReadSessionDep) -> Response:
    """What ``GET /lookup`` shows under the form for the same query, alone: the script asks for
    it when a need is ticked and puts it in place of the page's. A query that names no place,
    or bad input, is answered with the problem and an error status: the script then loads the
    whole page, which shows the form with the problem named."""
    search = await _search(request, session)
    form, origin = search.form, search.origin
    if origin is None and not form.errors:
        form.errors.append("error.place")
    response = render.page(
        "errors.html" if origin is None else "results.html",
        form.language,
        "/lookup",
        request.query_params,
        status_code=429 if search.retry else 422 if form.errors else 200,
        fragment=True,
        form=form,
        origin=origin,
        results=search.results,
        pathway_url=_pathway_url(form, origin),
    )
    response.headers.update(search.retry)
    return response


def _pathway_url(form: Form, origin: Origin | None) -> str | None:
    return render.url("/lookup/pathway", _place_parameters(form, origin)) if origin else None


async def _form_page(
    request: Request,
    session: AsyncSession,
    form: Form,
    chain: list[Area],
    origin: Origin | None,
    results: list[NeedResults],
    retry: dict[str, str] | None = None,
) -> Response:
    response = render.page(
        "lookup.html",
        form.language,
        "/lookup",
        request.query_params,
        status_code=429 if retry else 422 if form.errors else 200,
        form=form,
        lists=await lookup.picker(session, chain),
        origin=origin,
        needs=NEED_CODES,
        results=results,
        pathway_url=_pathway_url(form, origin),
    )
    response.headers.update(retry or {})
    return response


def _place_parameters(form: Form, origin: Origin) -> dict[str, str]:
    if origin.area is not None:
        return {"lang": form.language, "area": origin.area.id}
    return {"lang": form.language, "lat": form.latitude_text, "lon": form.longitude_text}


@router.get("/pathway", summary="The printable referral pathway of a place (HTML)")
async def pathway_page(request: Request, session: ReadSessionDep) -> Response:
    form = Form.read(request)
    retry = _charge(request, form)  # a search per need of the taxonomy
    if retry:
        return await _form_page(request, session, form, [], None, [], retry)
    chain, origin = await _place(session, form)
    if origin is None and not form.errors:
        form.errors.append("error.place")
    if origin is None:
        return await _form_page(request, session, form, chain, None, [])
    return render.page(
        "pathway.html",
        form.language,
        "/lookup/pathway",
        request.query_params,
        origin=origin,
        steps=await lookup.pathway(session, origin, form.language),
        back_url=render.url("/lookup", _place_parameters(form, origin)),
        export_urls=(
            {
                kind: render.url("/lookup/export", {"area": origin.area.id, "format": kind})
                for kind in ("geojson", "csv")
            }
            if origin.area
            else {}
        ),
    )


def _report_page(
    request: Request,
    language: str,
    *,
    status_code: int = 200,
    retry_after: float | None = None,
    **context: Any,
) -> Response:
    values = {
        "service_id": None,
        "service_name": None,
        "problem": None,
        "problem_values": {},
        "chosen": None,
        "correction": "",
        "done": False,
        **context,
    }
    response = render.page(
        "report.html",
        language,
        "/lookup/report",
        request.query_params,
        status_code=status_code,
        reasons=[reason.value for reason in ReportReason],
        maximum=reports.MAXIMUM_CORRECTION,
        **values,
    )
    if retry_after is not None:
        response.headers.update(pages.retry_after(retry_after))
    response.headers["Cache-Control"] = "no-store"
    return response


def _service_name(found: Reportable, language: str) -> str:
    translated = (found.translations.get(language) or {}).get("name")
    return f"{translated or found.name} ({found.organization})"


async def _reportable(session: AsyncSession, value: str | None) -> Reportable | None:
    """The service a report form names (``value``, its id), if it may be reported."""
    try:
        service_id = uuid.UUID((value or "").strip())
    except ValueError:
        return None
    try:
        return await reports.reportable(session, service_id)
    except ReportedServiceNotFound:
        return None


@router.get("/report", summary="Report a problem with a lookup card (HTML form)")
async def report_form(request: Request, session: SessionDep) -> Response:
    language = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    found = await _reportable(session, request.query_params.get("service"))
    if found is None:
        return _report_page(request, language, status_code=404, problem="report.error.service")
    return _report_page(
        request, language, service_id=found.id, service_name=_service_name(found, language)
    )


@router.post("/report", summary="Report a problem with a lookup card (HTML form post)")
async def report_post(request: Request, session: SessionDep) -> Response:
    """Anonymous, throttled per address (``RELAY_REPORTS_PER_ADDRESS``): 429 with
    ``Retry-After`` past it. A post from another site is refused (403)."""
    language = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return _report_page(request, language, status_code=403, problem="report.error.origin")
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    found = await _reportable(session, fields.get("service"))
    if found is None:
        return _report_page(request, language, status_code=404, problem="report.error.service")
    correction = fields.get("correction", "")[: reports.MAXIMUM_CORRECTION * 4]
    kept: dict[str, Any] = {
        "service_id": found.id,
        "service_name": _service_name(found, language),
        "chosen": fields.get("reason"),
        "correction": correction[: reports.MAXIMUM_CORRECTION],
    }
    try:
        reason = ReportReason(fields.get("reason", ""))
    except ValueError:
        return _report_page(
            request, language, status_code=422, problem="report.error.reason", **kept
        )
    client = request.client
    filed = await reports.report(
        session,
        request.app.state.settings,
        found.id,
        reason,
        correction,
        client.host if client else None,
    )
    if isinstance(filed, reports.Throttled):
        minutes = max(1, math.ceil(filed.retry_after / 60))
        return _report_page(
            request,
            language,
            status_code=429,
            retry_after=filed.retry_after,
            problem="report.error.busy",
            problem_values={"minutes": minutes},
            **kept,
        )
    return _report_page(request, language, done=True)


@router.get("/export", summary="An area's directory as GeoJSON or CSV (public view)")
async def export(
    request: Request, session: ReadSessionDep, sessionmaker: ReadSessionMakerDep
) -> Response:
    charge_anonymous(request)  # a whole area's directory
    form = Form.read(request)
    words = catalog(form.language)
    chosen = request.query_params.get("format", "")
    if chosen not in (ExportFormat.geojson, ExportFormat.csv):
        raise InvalidExport(words("error.format"))
    if form.errors or len(form.areas) != 1:
        raise InvalidExport(words("error.area"))
    try:
        chain = await lookup.chosen_area(session, form.areas)
    except AreaNotFound as error:
        raise InvalidExport(words("error.area")) from error
    area_id = uuid.UUID(chain[-1].id)
    export_format = ExportFormat(chosen)
    public = Viewer(sees_partner_records=False, cleared=False)

    async def body() -> AsyncIterator[bytes]:
        async with transaction(sessionmaker) as stream_session:
            async for text in exports.chunks(stream_session, public, export_format, area_id):
                yield text.encode()

    suffix = "geojson" if export_format is ExportFormat.geojson else "csv"
    media_type = "application/geo+json" if suffix == "geojson" else "text/csv; charset=utf-8"
    return StreamingResponse(
        body(),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="relay-{area_id}.{suffix}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@router.get(
    "/area/{area_id}/offline.json",
    summary="An area and its neighbours' public directory, for a phone to search offline",
)
async def saved_area_directory(
    area_id: uuid.UUID, request: Request, session: ReadSessionDep
) -> Response:
    """What the page's script keeps when a committee saves its area: public directory data only,
    in the chosen language; 404 problem for an unknown area, 422 for an id that is none. Kept by
    the phone in its own storage, never by a shared cache (``private``)."""
    charge_anonymous(request)  # the directory of several areas
    language = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    directory = await saved_area.directory(session, area_id, language)
    return Response(
        saved_area_document.document(directory, catalog(language)),
        media_type="application/json",
        headers={
            "Cache-Control": "private, no-cache",
            "Content-Language": language,
            "Vary": "Accept-Language",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/static/{name}", summary="A static file of the lookup pages")
async def static_file(name: str, request: Request) -> Response:
    asset = assets.assets().get(name)
    if asset is None:
        return Response(status_code=404, media_type="text/plain", content="Not found")
    current = request.query_params.get("v") == asset.version
    headers = {
        "ETag": asset.etag,
        "Cache-Control": assets.IMMUTABLE if current else assets.REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/sw.js", summary="The service worker that keeps the last pathway and the saved area")
async def service_worker() -> Response:
    shell = [asset.url for asset in assets.assets().values()]
    script = SERVICE_WORKER.replace("__VERSION__", assets.fingerprint()).replace(
        "__SHELL__", json.dumps(shell)
    )
    return Response(
        script,
        media_type="text/javascript; charset=utf-8",
        headers={
            # The worker lives under /lookup/ but serves /lookup itself.
            "Service-Worker-Allowed": "/lookup",
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/manifest.webmanifest", summary="Web app manifest: install the lookup page")
async def manifest(request: Request) -> Response:
    language = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    words = catalog(language)
    body = {
        "name": f"Relay: {words('site.title')}",
        "short_name": "Relay",
        "lang": language,
        "start_url": f"/lookup?lang={language}",
        "scope": "/lookup",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b4f6c",
        "icons": [{"src": assets.url("icon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"},
    )
