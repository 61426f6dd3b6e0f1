"""The accountability figures' pages: ``/stats`` (anyone: the network's public summary of an
ended quarter, regions and the loop) and ``/app/stats`` (a person with ``stats:read``: their
organisation's figures, the operator the network's), each with its CSV (the same cells as the
page's tables). Tables with bar charts drawn here as SVG: no script, printable on A4.

``/stats`` holds no one's data and changes only when the worker rebuilds a quarter: it may be
kept for a few minutes by any cache. ``/app/stats`` is an app page (``no-store``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import SessionDep, SettingsDep
from api.errors import RelayError
from api.routers.stats import csv_response
from api.services import statistics
from api.services.statistics import Quarter, Release, last_ended
from api.web import render
from api.web.i18n import negotiate
from api.web.pages import app_page, message_page, problem_of
from api.web.session import SignedInVisitor

router = APIRouter(tags=["stats-pages"], include_in_schema=False)

PUBLIC_QUARTERS = 4
APP_QUARTERS = 4
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300", "Vary": "Accept-Language"}
QuarterText = Annotated[str | None, Query(max_length=16)]
ANONYMOUS: dict[str, Any] = {"person": None, "reads_figures": False}
"""What the app's frame (``app/base.html``) asks of a page for someone not signed in."""


def _parse(text: str | None, default: Quarter) -> Quarter | None:
    if text is None or not text.strip():
        return default
    try:
        return Quarter.parse(text.strip())
    except ValueError:
        return None


def _shown(release: Release) -> dict[str, Any]:
    return {
        "release": release,
        "funnel": statistics.funnel_steps(release),
        "overdue_share": release.share("overdue:yes", "total"),
    }


async def _public_release(
    request: Request, session: SessionDep, settings: SettingsDep, quarter: str | None
) -> Release | str:
    """The public release asked for, or the catalogue key of what is wrong with the ask."""
    chosen = _parse(quarter, last_ended())
    if chosen is None:
        return "stats.error.quarter"
    try:
        return await statistics.public_figures(session, chosen, settings)
    except statistics.QuarterNotPublished:
        return "stats.error.not_ended"


@router.get("/stats", summary="The network's public figures of a quarter (HTML)")
async def public_page(
    request: Request, session: SessionDep, settings: SettingsDep, quarter: QuarterText = None
) -> Response:
    language = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    found = await _public_release(request, session, settings, quarter)
    quarters = last_ended().recent(PUBLIC_QUARTERS)
    if isinstance(found, str):
        return render.page(
            "stats/public.html",
            language,
            request.url.path,
            request.query_params,
            status_code=422,
            release=None,
            error=found,
            quarters=quarters,
            **ANONYMOUS,
        )
    response = render.page(
        "stats/public.html",
        language,
        request.url.path,
        request.query_params,
        error=None,
        quarters=quarters,
        **ANONYMOUS,
        **_shown(found),
    )
    response.headers.update(PUBLIC_CACHE)
    return response


@router.get("/stats.csv", summary="The network's public figures of a quarter (CSV)")
async def public_csv(
    request: Request, session: SessionDep, settings: SettingsDep, quarter: QuarterText = None
) -> Response:
    found = await _public_release(request, session, settings, quarter)
    if isinstance(found, str):
        language = negotiate(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )
        return render.page(
            "stats/public.html",
            language,
            "/stats",
            request.query_params,
            status_code=422,
            release=None,
            error=found,
            quarters=last_ended().recent(PUBLIC_QUARTERS),
            **ANONYMOUS,
        )
    return csv_response(found, "network", PUBLIC_CACHE)


async def _app_release(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    quarter: QuarterText = None,
) -> Release | Response:
    chosen = _parse(quarter, Quarter.current())
    if chosen is None:
        return message_page(
            request,
            status_code=422,
            title="stats.title",
            message="stats.error.quarter",
            back="/app/stats",
        )
    try:
        return await statistics.referral_figures(
            session, visitor.principal(settings), chosen, settings
        )
    except RelayError as error:
        key, _ = problem_of(error)
        return message_page(
            request, status_code=error.status, title="stats.title", message=key, back="/app"
        )


AppRelease = Annotated[Release | Response, Depends(_app_release)]
"""The person's release, or the page saying why there is none."""


@router.get("/app/stats", summary="The figures of the person's organisation (HTML)")
async def app_stats(
    request: Request,
    found: AppRelease,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
) -> Response:
    if isinstance(found, Response):
        return found
    directory = await statistics.directory_health(session, visitor.principal(settings), settings)
    return app_page(
        request,
        "app/stats.html",
        quarters=Quarter.current().recent(APP_QUARTERS),
        directory=directory,
        **_shown(found),
    )


@router.get("/app/stats.csv", summary="The figures of the person's organisation (CSV)")
async def app_stats_csv(found: AppRelease) -> Response:
    if isinstance(found, Response):
        return found
    return csv_response(found, "figures", {"Cache-Control": "no-store"})
