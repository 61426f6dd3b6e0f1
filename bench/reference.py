"""The reference endpoint: the limit of this stack on this machine.

A bare ASGI app under the same uvicorn, running the same SQL as ``/v1/search/nearest`` (the
covering, nearest and details statements, built by the API's own query builders for the
benchmark's request shape: one need, a partner viewer) on a raw asyncpg pool, with no
authentication, no validation, no ORM, no transaction, and the JSON PostgreSQL built spliced
into the response as it comes.

    uvicorn bench.reference:app --port 8011
"""

import os
from typing import Any
from urllib.parse import parse_qs

import asyncpg
from sqlalchemy.dialects import postgresql

from api.auth.viewer import Viewer
from api.db import Compiled
from api.repositories.search import (
    DETAILS,
    PARAMETERS,
    SearchFilters,
    covering_statement,
    nearest_statement,
)
from api.services.search import DEFAULT_RADIUS_M, SLACK, window_for

LIMIT = 10
WINDOW = window_for(LIMIT + SLACK)  # rows of the nearest scan read for a LIMIT
PARTNER = Viewer(sees_partner_records=True, cleared=False)
# Placeholder coordinates, recognised among the bound values and replaced per request.
LATITUDE, LONGITUDE = -89.123456, -179.654321


def filters_for(need: str) -> SearchFilters:
    """The benchmark request's filters as the API makes them: one need, the default radius."""
    return SearchFilters(needs=(need,), radius_m=DEFAULT_RADIUS_M)


def _compiled(statement: Any) -> tuple[str, list[Any]]:
    """SQL with ``$n`` placeholders and its values, compiled as the API compiles it."""
    compiled = Compiled(statement, parameters=PARAMETERS)
    return compiled.sql, compiled.values({})


def nearest_sql(need: str) -> tuple[str, list[Any]]:
    """The API's nearest query for one need: SQL with ``$n`` placeholders, and its values."""
    return _compiled(
        nearest_statement(PARTNER, filters_for(need), LATITUDE, LONGITUDE, window=WINDOW)
    )


def covering_sql(need: str) -> tuple[str, list[Any]]:
    return _compiled(covering_statement(PARTNER, filters_for(need), LATITUDE, LONGITUDE))


DETAILS_SQL, DETAILS_ORDER = (lambda c: (c.string, list(c.positiontup or [])))(
    DETAILS.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
)


def _placed(template: list[Any], latitude: float, longitude: float) -> list[Any]:
    return [
        latitude if value == LATITUDE else longitude if value == LONGITUDE else value
        for value in template
    ]


class Reference:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.statements: dict[str, tuple[tuple[str, list[Any]], tuple[str, list[Any]]]] = {}

    async def search(self, latitude: float, longitude: float, need: str) -> bytes:
        """The same three statements as the API's search, in the same order."""
        if need not in self.statements:
            self.statements[need] = (covering_sql(need), nearest_sql(need))
        (covering, covering_values), (nearest, nearest_values) = self.statements[need]
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            covers = await connection.fetch(
                covering, *_placed(covering_values, latitude, longitude)
            )
            located = await connection.fetch(nearest, *_placed(nearest_values, latitude, longitude))
            chosen = sorted(
                [(0.0, False, row[0], None) for row in covers]
                + [(row[3], row[5], row[0], row[1]) for row in located],
                key=lambda c: (c[0], str(c[2])),
            )[:LIMIT]
            named = {
                "service_ids": [c[2] for c in chosen],
                "location_ids": [c[3] for c in chosen],
                "cleared": False,
                "redacted_name": "Confidential location",
            }
            rows = await connection.fetch(DETAILS_SQL, *[named[n] for n in DETAILS_ORDER])
        items = [
            f'{{"distance_m":{distance:.1f},"service":{row[1]},"location":{row[2] or "null"}}}'
            for (distance, _, _, _), row in zip(chosen, rows, strict=True)
        ]
        return ('{"data":[' + ",".join(items) + "]}").encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    url = os.environ["RELAY_DATABASE_URL"].replace(
                        "postgresql+asyncpg", "postgresql"
                    )
                    self.pool = await asyncpg.create_pool(url, min_size=8, max_size=8)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.pool:
                        await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        query = parse_qs(scope["query_string"].decode())
        body = await self.search(float(query["lat"][0]), float(query["lon"][0]), query["need"][0])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


app = Reference()
