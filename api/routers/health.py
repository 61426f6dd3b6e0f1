"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.deps import SessionDep, SessionMakerDep
from api.metrics import Metrics
from api.services import operations

router = APIRouter(tags=["operations"])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    postgis: str


@router.get("/healthz", summary="The process is alive")
async def liveness() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="The database and PostGIS answer",
    responses={503: {"description": "The database or PostGIS does not answer"}},
)
async def readiness(session: SessionDep) -> Readiness:
    return Readiness(status="ok", postgis=await operations.postgis_version(session))


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, sessionmaker: SessionMakerDep) -> Response:
    registry: Metrics = request.app.state.metrics
    registry.show(await operations.snapshot(sessionmaker, datetime.now(UTC)))
    return Response(registry.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
