"""Writes of imported public data (api/importers/): insert-only and idempotent.

Every statement is ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` with many rows, so a
re-run inserts nothing and the returned ids tell what was new. SQLAlchemy sends a list of
parameter sets as multi-row ``VALUES`` statements (its "insertmanyvalues" mode, up to 1,000 rows
per statement), which keeps an import of 100,000 facilities to a few hundred round trips.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import LargeBinary, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

import api.models  # noqa: F401 - registers every table on the metadata
from api.models.base import metadata

# Parents before children: the order the rows of one facility must be inserted in.
FACILITY_TABLES = ("organization", "location", "service", "service_at_location", "attribute")


def _table(name: str) -> Table:
    return metadata.tables[name]


async def insert_new_rows(
    session: AsyncSession, rows_by_table: Mapping[str, Sequence[dict[str, Any]]]
) -> dict[str, list[uuid.UUID]]:
    """Insert the rows of ``FACILITY_TABLES`` in order; the ids of those that were not there."""
    created: dict[str, list[uuid.UUID]] = {}
    for name in FACILITY_TABLES:
        rows = rows_by_table.get(name, ())
        if not rows:
            created[name] = []
            continue
        table = _table(name)
        statement = insert(table).on_conflict_do_nothing().returning(table.c.id)
        result = await session.execute(statement, list(rows))
        created[name] = list(result.scalars())
    return created


def _admin_area_geometry() -> Any:
    """The area's polygon from WKB, in 2D, made valid by PostGIS and kept polygonal (a repair
    can leave stray lines or points beside the polygons), always a MultiPolygon."""
    geometry = func.ST_GeomFromWKB(bindparam("geometry_wkb", type_=LargeBinary), 4326)
    repaired = func.ST_CollectionExtract(func.ST_MakeValid(func.ST_Force2D(geometry)), 3)
    return func.ST_Multi(repaired)


async def insert_admin_areas(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[uuid.UUID]:
    """Insert areas (each row has the columns of ``admin_area`` but ``geom``, and the polygon as
    ``geometry_wkb``); the ids of those that were not there."""
    if not rows:
        return []
    table = _table("admin_area")
    statement = (
        insert(table)
        .values(geom=_admin_area_geometry())
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    result = await session.execute(statement, list(rows))
    return list(result.scalars())


async def link_admin_area_parents(session: AsyncSession, source: str, level: int) -> int:
    """Give the areas of ``source`` at ``level`` that have no parent yet the area one level up
    (of the same country, when both say) that contains a point inside them. Returns how many
    were linked."""
    table = _table("admin_area")
    child, parent = table.alias("child"), table.alias("parent")
    candidates = (
        select(child.c.id.label("child_id"), parent.c.id.label("parent_id"))
        .join(
            parent,
            (parent.c.level == child.c.level - 1)
            & (
                (parent.c.country == child.c.country)
                | parent.c.country.is_(None)
                | child.c.country.is_(None)
            )
            & func.ST_Contains(parent.c.geom, func.ST_PointOnSurface(child.c.geom)),
        )
        .where(child.c.source == source, child.c.level == level, child.c.parent_id.is_(None))
        .order_by(child.c.id, parent.c.id)
        .ext(distinct_on(child.c.id))
        .subquery("candidate")
    )
    statement = (
        update(table)
        .where(table.c.id == candidates.c.child_id)
        .values(parent_id=candidates.c.parent_id)
        .returning(table.c.id)
    )
    result = await session.execute(statement)
    return len(result.all())
