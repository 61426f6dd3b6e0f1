"""Writes of imported public data (api/importers/): idempotent.

Every insert is ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` with many rows, so a
re-run inserts nothing and the returned ids tell what was new; a facility already there whose
source row changed is updated in place, field by field, only where a value differs
(``update_changed_facilities``), so a re-run that changes nothing writes nothing. SQLAlchemy
sends a list of parameter sets as multi-row ``VALUES`` statements (its "insertmanyvalues" mode,
up to 1,000 rows per statement), which keeps an import of 100,000 facilities to a few hundred
round trips.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import LargeBinary, Table, bindparam, func, select, text, update
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


# The smallest administrative area containing a location's point (as a new place is listed).
_SMALLEST_AREA = """
    SELECT area.id FROM admin_area AS area
    WHERE ST_Contains(area.geom, ST_SetSRID(ST_MakePoint({longitude}, {latitude}), 4326))
    ORDER BY area.level DESC, ST_Area(area.geom) LIMIT 1
"""

Columns = tuple[tuple[str, str], ...]
"""What an import owns of a table's rows: (column, its PostgreSQL type), in order."""

# What the facilities import owns of each facility's rows, per table.
_UPDATED_COLUMNS: dict[str, Columns] = {
    "organization": (("name", "text"), ("description", "text")),
    "location": (
        ("name", "text"),
        ("latitude", "float8"),
        ("longitude", "float8"),
        ("region_key", "text"),
    ),
    "service": (("name", "text"), ("description", "text")),
}

# What an HSDS feed import owns of its organisations, locations and services (the fields it
# reads from the feed; what people changed on Relay beyond them stays).
HSDS_UPDATED_COLUMNS: dict[str, Columns] = {
    "organization": (
        ("name", "text"),
        ("alternate_name", "text"),
        ("description", "text"),
        ("email", "text"),
        ("website", "text"),
    ),
    "location": (
        ("location_type", "text"),
        ("name", "text"),
        ("alternate_name", "text"),
        ("description", "text"),
        ("transportation", "text"),
        ("latitude", "float8"),
        ("longitude", "float8"),
        ("region_key", "text"),
        ("external_identifier", "text"),
        ("external_identifier_type", "text"),
    ),
    "service": (
        ("name", "text"),
        ("alternate_name", "text"),
        ("description", "text"),
        ("url", "text"),
        ("email", "text"),
        ("status", "text"),
        ("application_process", "text"),
        ("fees_description", "text"),
        ("eligibility_description", "text"),
        ("minimum_age", "int4"),
        ("maximum_age", "int4"),
    ),
}


def _update_statement(table: str, columns: Columns) -> Any:
    names = [name for name, _ in columns]
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    assignments = ", ".join(f"{name} = given.{name}" for name in names)
    if table == "location":
        area = _SMALLEST_AREA.format(longitude="given.longitude", latitude="given.latitude")
        assignments += f", admin_area_id = ({area})"
    kept = ", ".join(f"row.{name}" for name in names)
    sent = ", ".join(f"given.{name}" for name in names)
    # Table and column names are this module's constants; every value is bound.
    sql = f"""
        UPDATE {table} AS row SET {assignments},
            version = row.version + 1, last_modified = now()
        FROM unnest(CAST(:ids AS uuid[]), {arrays}) AS given(id, {", ".join(names)})
        WHERE row.id = given.id AND ({kept}) IS DISTINCT FROM ({sent})
        RETURNING row.id, row.source_id
        """  # noqa: S608
    return text(sql)


async def update_changed(
    session: AsyncSession, table: str, columns: Columns, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[uuid.UUID, str | None]]:
    """Update the ``table`` rows already there (by ``id``) whose ``columns`` differ from those
    given, only those, bumping their version (a moved place is listed in its area again); the
    id and source id of each row changed."""
    if not rows:
        return []
    values: dict[str, Any] = {"ids": [row["id"] for row in rows]}
    for name, _ in columns:
        values[name] = [row.get(name) for row in rows]
    result = await session.execute(_update_statement(table, columns), values)
    return [(row_id, source_id) for row_id, source_id in result]


async def update_changed_facilities(
    session: AsyncSession, rows_by_table: Mapping[str, Sequence[dict[str, Any]]]
) -> set[str]:
    """Update the organisation, location and service rows of facilities already there whose
    imported fields differ (bumping their version); the source ids of those that changed."""
    changed: set[str] = set()
    for table, columns in _UPDATED_COLUMNS.items():
        updated = await update_changed(session, table, columns, rows_by_table.get(table, ()))
        changed.update(source_id for _, source_id in updated if source_id is not None)
    return changed


async def fill_admin_areas(session: AsyncSession, location_ids: Sequence[uuid.UUID]) -> None:
    """List new imported places in the smallest administrative area containing them."""
    if not location_ids:
        return
    area = _SMALLEST_AREA.format(longitude="location.longitude", latitude="location.latitude")
    await session.execute(
        text(
            f"UPDATE location SET admin_area_id = ({area}) "  # noqa: S608 (constants only)
            "WHERE location.id = ANY(CAST(:ids AS uuid[])) AND location.admin_area_id IS NULL "
            "AND location.latitude IS NOT NULL"
        ),
        {"ids": list(location_ids)},
    )
