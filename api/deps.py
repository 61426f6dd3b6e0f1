"""Request dependencies as ``Annotated`` aliases named for what they give."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.config import Settings
from api.db import PRIMARY, Reader, SessionMaker, create_read_sessionmaker, transaction


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # A context manager, not a nested generator: an exception thrown in at ``yield`` must reach
    # the rollback now, not when a garbage-collected generator is finalised later.
    async with transaction(request.app.state.sessionmaker) as session:
        yield session


def reading(request: Request) -> Reader:
    """A reader for the request (``async with reading(request) as reader``), bound as the
    sessions are: to the engine (to a test's connection in the test harness), or to the
    replicas' (``RELAY_DATABASE_READ_URL``) for a read that tolerates lag. Opened in the
    handler rather than as a dependency: a dependency that cleans up after the handler costs
    FastAPI more per request than the search's own Python."""
    primary = request.app.state.sessionmaker.kw["bind"]
    replicas = _replicas(request)
    if replicas is None or _reads_own_writes(request):
        return Reader(primary)
    return Reader(replicas.kw["bind"], primary=primary)


_READS_OWN_WRITES = "reads_own_writes"


def _replicas(request: Request) -> SessionMaker | None:
    """The replicas' sessions (``RELAY_DATABASE_READ_URL``), None without replicas."""
    replicas: SessionMaker | None = getattr(request.app.state, "read_sessionmaker", None)
    return replicas


def read_own_writes(request: Request) -> None:
    """Mark the request's caller as one that may write what it reads (the directory): its
    reads go to the primary, never to a replica that may not have its last change yet."""
    setattr(request.state, _READS_OWN_WRITES, True)


def _reads_own_writes(request: Request) -> bool:
    return bool(getattr(request.state, _READS_OWN_WRITES, False))


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


def _primary_if_writer(request: Request) -> Callable[[], Any]:
    """For a ``ReadSession``: the primary's bind once the caller is known to write what it
    reads, else None (decided at the session's first statement, after authentication)."""
    primary = request.app.state.sessionmaker.kw["bind"]

    def primary_if_writer() -> Any:
        if not _reads_own_writes(request):
            return None
        return (
            primary.sync_connection if isinstance(primary, AsyncConnection) else primary.sync_engine
        )

    return primary_if_writer


async def _read_session(request: Request, session: SessionDep) -> AsyncIterator[AsyncSession]:
    """A session for a read that tolerates a little lag: on the replicas when
    ``RELAY_DATABASE_READ_URL`` is set (on the primary after all for a caller that may write
    the directory), else the request's own session."""
    replicas = _replicas(request)
    if replicas is None:
        yield session
        return
    async with transaction(replicas) as replica:
        replica.info[PRIMARY] = _primary_if_writer(request)
        yield replica


async def _read_sessionmaker(request: Request) -> SessionMaker:
    replicas = _replicas(request)
    if replicas is None:
        return await _sessionmaker(request)
    return create_read_sessionmaker(
        replicas.kw["bind"], info={PRIMARY: _primary_if_writer(request)}
    )


# The reads that tolerate lag (the searches, HSDS, OGC, the lookup pages): see ``_read_session``.
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]
# The same for streams (HSDS's and the lookup's downloads).
ReadSessionMakerDep = Annotated[SessionMaker, Depends(_read_sessionmaker)]
