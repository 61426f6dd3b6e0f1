"""One transaction per request: a handler that fails leaves nothing behind."""

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from api.errors import Conflict
from api.models.organization import Organization
from api.repositories import organizations


async def test_a_failing_request_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    path = "/test/half-written"

    async def half_written(session: SessionDep) -> None:
        await organizations.add(session, Organization(name="Half written", kind="ngo"))
        raise Conflict("Stopped after the first write.")

    app.add_api_route(path, half_written, methods=["POST"], tags=["test"])
    try:
        response = await client.post(path)
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != path]
    assert response.status_code == 409
    found = await session.execute(select(Organization).where(Organization.name == "Half written"))  # type: ignore[arg-type]
    assert found.first() is None


async def test_a_successful_request_commits(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    path = "/test/written"

    async def written(session: SessionDep) -> None:
        await organizations.add(session, Organization(name="Written", kind="ngo"))

    app.add_api_route(path, written, methods=["POST"], tags=["test"])
    try:
        response = await client.post(path)
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != path]
    assert response.status_code == 200
    found = await session.execute(select(Organization).where(Organization.name == "Written"))  # type: ignore[arg-type]
    assert found.first() is not None
