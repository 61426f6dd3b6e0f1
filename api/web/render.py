"""Rendering the lookup pages: Jinja2 templates (autoescaped) and the headers every page carries."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import QueryParams
from starlette.responses import HTMLResponse

from api.services.lookup import REACH_M
from api.web import assets, links, words
from api.web.i18n import LANGUAGES, Catalog, catalog

TEMPLATES = Path(__file__).parent / "templates"

# Only this origin, for everything; no inline script or style, so an injected tag cannot run.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "manifest-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # A result URL names a place (lat/lon or area): it must not leak to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=(), interest-cohort=()",
    # Pages are always revalidated; the service worker keeps the offline copy.
    "Cache-Control": "no-cache",
    "Vary": "Accept-Language",
}


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def url(path: str, parameters: Mapping[str, Any] | list[tuple[str, str]]) -> str:
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    query = urlencode([(key, value) for key, value in items if value not in (None, "")])
    return f"{path}?{query}" if query else path


def switcher(path: str, query: QueryParams) -> Callable[[str], str]:
    """``switch(code)``: this page's URL in another language (every other parameter kept)."""

    def switch(code: str) -> str:
        kept = [(key, value) for key, value in query.multi_items() if key != "lang"]
        return url(path, [("lang", code), *kept])

    return switch


def _render(template: str, language: str, path: str, query: QueryParams, **context: Any) -> str:
    words_of: Catalog = catalog(language)
    return (
        environment()
        .get_template(template)
        .render(
            lang=language,
            t=words_of,
            asset=assets.url,
            languages=[(code, catalog(code).name) for code in LANGUAGES],
            switch=switcher(path, query),
            need_label=lambda code: words_of(f"need.{code}"),
            distance=lambda metres: words.distance(words_of, metres),
            hours=lambda card: words.hours(words_of, card.schedules),
            who=lambda card: words.who(words_of, card),
            contacts=lambda card: links.contacts(words_of, card),
            faxes=links.faxes,
            directions=lambda card: links.directions(words_of, card),
            today=datetime.now(UTC).date().isoformat(),
            reach_km=REACH_M // 1000,
            **context,
        )
    )


def page(
    template: str,
    language: str,
    path: str,
    query: QueryParams,
    status_code: int = 200,
    *,
    fragment: bool = False,
    **context: Any,
) -> HTMLResponse:
    """A lookup page; or, with ``fragment``, a part of one for the script to put in place (the
    lookup's results), never kept in any cache, since the page that asked for it keeps it."""
    body = _render(template, language, path, query, **context)
    headers = {**PAGE_HEADERS, "Content-Language": language}
    if fragment:
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(body, status_code=status_code, headers=headers)
