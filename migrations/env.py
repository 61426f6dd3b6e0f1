"""Alembic environment: async, runs as the owner role, compares against the SQLModel metadata.

A caller that already holds a connection (the tests) passes it as
``config.attributes["connection"]``; otherwise this opens one from Relay's settings.
"""

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import api.models  # registers every table on the metadata
from api.config import Settings
from api.models.base import include_object, metadata

config = context.config
config.attributes.setdefault("app_role", Settings().app_role)
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        include_object=include_object,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


connection: Any = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    run_offline(Settings().owner_database_url)
else:
    asyncio.run(_run_online(Settings().owner_database_url))
