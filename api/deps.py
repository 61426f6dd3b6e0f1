"""Request dependencies as ``Annotated`` aliases named for what they give."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.db import Reader, SessionMaker, transaction


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # A context manager, not a nested generator: an exception thrown in at ``yield`` must reach
    # the rollback now, not when a garbage-collected generator is finalised later.
    async with transaction(request.app.state.sessionmaker) as session:
        yield session


def reading(request: Request) -> Reader:
    """A reader for the request (``async with reading(request) as reader``), bound as the
    sessions are: to the engine (to a test's connection in the test harness). Opened in the
    handler rather than as a dependency: a dependency that cleans up after the handler costs
    FastAPI more per request than the search's own Python."""
    return Reader(request.app.state.sessionmaker.kw["bind"])


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the transaction is committed before the response is sent, so a failed
# commit answers with an error instead of a success the database never kept.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(_settings)]


async def _sessionmaker(request: Request) -> SessionMaker:
    sessionmaker: SessionMaker = request.app.state.sessionmaker
    return sessionmaker


# For streamed responses, which outlive the request's own transaction: the stream opens a
# session of its own (read-only work) while it sends.
SessionMakerDep = Annotated[SessionMaker, Depends(_sessionmaker)]
