"""Migrations are the only way the schema changes: they round-trip and match the models."""

import re

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.models.base import include_object, metadata
from tests.conftest import TEST_DATABASE_URL, TEST_MIGRATION_DATABASE_URL, run_alembic


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True}
    )
    return list(compare_metadata(context, metadata))


def _enumerated_checks() -> dict[str, set[str]]:
    """The models' CHECKs that keep a column within an enumeration (``enum_check``): the values each
    allows, by the constraint's name in the database."""
    found = {}
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if not isinstance(constraint, sa.CheckConstraint):
                continue
            sql = str(constraint.sqltext)
            if re.fullmatch(r"\w+ IN \(.*\)", sql):
                found[str(constraint.name)] = set(re.findall(r"'([^']*)'", sql))
    return found


async def _tables(connection: AsyncConnection) -> set[str]:
    result = await connection.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    return set(result.scalars()) - {"spatial_ref_sys", "alembic_version"}


class TestMigrations:
    async def test_round_trip_upgrade_downgrade_upgrade(
        self, owner_engine: AsyncEngine, app: FastAPI
    ) -> None:
        async with owner_engine.begin() as connection:
            at_head = await _tables(connection)
            await connection.run_sync(run_alembic, command.downgrade, "base")
            assert await _tables(connection) == set()
            version = await connection.execute(text("SELECT count(*) FROM alembic_version"))
            assert version.scalar_one() == 0
            await connection.run_sync(run_alembic, command.upgrade, "head")
            assert await _tables(connection) == at_head
        # Tables were dropped and created again: pooled connections must not reuse old plans.
        await app.state.engine.dispose()

    async def test_autogenerate_finds_no_drift(self, owner_engine: AsyncEngine) -> None:
        async with owner_engine.connect() as connection:
            assert await connection.run_sync(_drift) == []

    async def test_enumerations_and_their_database_constraints_agree(
        self, owner_engine: AsyncEngine
    ) -> None:
        """Autogenerate does not compare CHECK constraints: a value added to an enumeration (a
        referral status, an event type) without a migration of its constraint fails here."""
        expected = _enumerated_checks()
        assert "ck_referral_status" in expected
        async with owner_engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE contype = 'c' AND conname = ANY(:names)"
                ),
                {"names": list(expected)},
            )
            in_database = {name: set(re.findall(r"'([^']*)'::text", sql)) for name, sql in rows}
        assert in_database == expected

    async def test_first_revision_enables_postgis_and_btree_gist(
        self, owner_engine: AsyncEngine
    ) -> None:
        async with owner_engine.connect() as connection:
            result = await connection.execute(text("SELECT extname FROM pg_extension"))
            assert {"postgis", "btree_gist"} <= set(result.scalars())


@pytest.mark.skipif(
    TEST_MIGRATION_DATABASE_URL == TEST_DATABASE_URL,
    reason="one database role configured: no separate application role to check",
)
class TestApplicationRole:
    async def test_owns_no_table_and_cannot_create_one(self, connection: AsyncConnection) -> None:
        role = (await connection.execute(text("SELECT current_user"))).scalar_one()
        owned = await connection.execute(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        )
        assert owned.scalar_one() == 0
        assert role != "postgres"
        savepoint = await connection.begin_nested()
        with pytest.raises(ProgrammingError, match="permission denied"):
            await connection.execute(text("CREATE TABLE intruder (id int)"))
        await savepoint.rollback()
