"""Database engine and sessions.

The engine is created in the application's lifespan (never at import time) and the session
dependency owns one transaction per request: commit when the handler returns, roll back when
it raises. Services ``flush()``; only this module commits.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.config import Settings

SessionMaker = async_sessionmaker[AsyncSession]


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """An asyncpg engine with bounded pools and a statement timeout on every connection."""
    return create_async_engine(
        url or settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "application_name": "relay",
                "statement_timeout": str(settings.database_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """Yield a session whose work is committed on success and rolled back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
