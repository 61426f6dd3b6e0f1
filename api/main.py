"""The application factory: ``create_app(settings)`` builds a Relay API.

Nothing connects at import time. The engine is created in the lifespan and disposed there, so
tests and tools can build apps with other settings side by side.
"""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api import __version__
from api.auth import token_cache
from api.auth.ratelimit import Limits
from api.compression import CompressionMiddleware
from api.config import Settings
from api.db import connect_alone, create_engine, create_read_sessionmaker, create_sessionmaker
from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, Problem, install_error_handlers
from api.input_guard import InputGuardMiddleware
from api.logging import configure_logging, get_logger
from api.metrics import Metrics
from api.middleware import RequestContextMiddleware
from api.routers import (
    admin,
    areas,
    authorize_page,
    clients,
    consents,
    directory,
    directory_pages,
    events,
    health,
    hsds,
    lookup,
    oauth,
    ogc,
    operator_pages,
    people_pages,
    referral_form_pages,
    referral_pages,
    referrals,
    search,
    sign_in_pages,
    stats,
    stats_pages,
    webhooks,
)
from api.routers import audit as audit_router
from api.services import audit
from api.web.pages import install_page_handlers

log = get_logger("relay.api")

DESCRIPTION = """\
Relay is a referral network and service directory for organisations that protect children and
women from violence, exploitation and trafficking.

Every error is an RFC 9457 `application/problem+json` document; every response carries
`X-Request-ID`.
"""


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: ``{tag}-{function name}``."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    audit.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        # The replicas, for the reads that tolerate lag (docs/scaling.md); none: the primary.
        read_url = settings.database_read_url
        read_engine = create_engine(settings, url=read_url.get_secret_value()) if read_url else None
        app.state.read_sessionmaker = (
            create_read_sessionmaker(read_engine) if read_engine is not None else None
        )
        if app.state.freeze_heap:
            # What the process holds once started (modules, models, compiled routes) will be
            # kept to the end: moved out of the collector's sight, so that a full collection
            # walks only what requests allocate (it walked all of it: long pauses at the tail).
            gc.collect()
            gc.freeze()
        listening = (
            asyncio.create_task(
                token_cache.listen(
                    app.state.token_cache,
                    lambda: connect_alone(engine, settings, "relay-token-cache"),
                ),
                name="token-cache-listener",
            )
            if settings.token_cache_seconds > 0
            else None
        )
        log.info("api_started", version=__version__, environment=settings.environment)
        try:
            yield
        finally:
            if listening is not None:
                listening.cancel()
                with suppress(asyncio.CancelledError):
                    await listening
            await engine.dispose()
            if read_engine is not None:
                await read_engine.dispose()
            log.info("api_stopped")

    app = FastAPI(
        title="Relay",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        responses=PROBLEM_RESPONSES,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.freeze_heap = False
    app.state.token_cache = token_cache.TokenCache(settings.token_cache_seconds)
    token_cache.watch_writes()
    app.state.metrics = Metrics()
    app.state.limits = Limits(
        client_requests_per_minute=settings.client_requests_per_minute,
        token_failures_per_window=settings.token_failures_per_window,
        token_failures_per_ip_per_window=settings.token_failures_per_ip_per_window,
        token_failure_window_seconds=settings.token_failure_window_seconds,
        anonymous_requests_per_minute=settings.anonymous_requests_per_minute,
    )
    install_error_handlers(app)
    install_page_handlers(app)
    # Added first, so it runs inside the request context (request id, body size limit, logging).
    app.add_middleware(InputGuardMiddleware)
    # Inside the request context too: the metrics and the log line see every request, with the
    # status the client got, and the X-Request-ID header is set on the compressed answer.
    app.add_middleware(CompressionMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=app.state.metrics,
    )
    # Routes are matched in order: the searches, by far the most frequent requests, first.
    app.include_router(search.router)
    app.include_router(health.router)
    app.include_router(oauth.router)
    app.include_router(admin.router)
    app.include_router(clients.router)
    app.include_router(hsds.router)
    app.include_router(ogc.router)
    app.include_router(directory.router)
    app.include_router(areas.router)
    app.include_router(lookup.router)
    app.include_router(sign_in_pages.router)
    app.include_router(people_pages.router)
    app.include_router(referral_form_pages.router)
    app.include_router(referral_pages.router)
    app.include_router(directory_pages.router)
    app.include_router(operator_pages.router)
    app.include_router(authorize_page.router)
    app.include_router(consents.router)
    app.include_router(referrals.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(audit_router.router)
    app.include_router(stats.router)
    app.include_router(stats_pages.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_served_app() -> FastAPI:
    """The app ``relay serve`` runs: one per process, for the process's lifetime."""
    app = create_app()
    app.state.freeze_heap = True
    return app


def _declares_model(response: dict[str, Any]) -> bool:
    """An error response that names its own schema (the OAuth endpoints' RFC 6749 errors)."""
    return any("$ref" in media.get("schema", {}) for media in response.get("content", {}).values())


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with the problem schema every error response refers to."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("parameters") or operation.get("requestBody"):
                operation["responses"].setdefault(
                    "422", {"description": "The request does not match this operation"}
                )
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")) and not _declares_model(response):
                    response["content"] = problem_content
    return schema
