"""Administrative areas: which contain a point, one area's outline, an area's neighbours."""

import uuid
from typing import Any

from sqlalchemy import Uuid, and_, bindparam, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.db import Compiled, Database
from api.geo.points import geometry_point
from api.models.directory import AdminArea

MAXIMUM_DEPTH = 12  # nesting levels of administrative areas followed at most

_COLUMNS = (
    col(AdminArea.id),
    col(AdminArea.name),
    col(AdminArea.level),
    col(AdminArea.code),
    col(AdminArea.country),
    col(AdminArea.parent_id),
)


def _row(row: Any) -> dict[str, Any]:
    area_id, name, level, code, country, parent_id = row[:6]
    return {
        "id": str(area_id),
        "name": name,
        "level": level,
        "code": code,
        "country": country,
        "parent_id": str(parent_id) if parent_id else None,
    }


async def containing(
    session: AsyncSession, latitude: float, longitude: float
) -> list[dict[str, Any]]:
    """Areas containing the point, smallest first (GiST on ``admin_area.geom``)."""
    rows = await session.execute(
        select(*_COLUMNS)
        .where(func.ST_Intersects(col(AdminArea.geom), geometry_point(latitude, longitude)))
        .order_by(col(AdminArea.level).desc(), func.ST_Area(col(AdminArea.geom)))
    )
    return [_row(row) for row in rows]


async def one(
    session: AsyncSession, area_id: uuid.UUID, *, simplify: float | None, geometry: bool
) -> dict[str, Any] | None:
    outline: Any = col(AdminArea.geom)
    if simplify:
        outline = func.ST_Multi(func.ST_SimplifyPreserveTopology(outline, simplify))
    statement = select(*_COLUMNS)
    if geometry:
        statement = statement.add_columns(func.ST_AsGeoJSON(outline, 6))
    row = (await session.execute(statement.where(col(AdminArea.id) == area_id))).first()
    if row is None:
        return None
    body = _row(row)
    if geometry:
        body["geometry"] = tuple(row)[6]
    return body


async def stand_in_point(session: AsyncSession, area_id: uuid.UUID) -> tuple[float, float] | None:
    """A point surely inside the area (for area-based searches): latitude, longitude."""
    surface = func.ST_PointOnSurface(col(AdminArea.geom))
    row = (
        await session.execute(
            select(func.ST_Y(surface), func.ST_X(surface)).where(col(AdminArea.id) == area_id)
        )
    ).first()
    return (float(row[0]), float(row[1])) if row is not None else None


_INSIDE = aliased(AdminArea, name="inside")
_OUTLINE = Compiled(
    select(
        func.ST_AsEWKB(col(AdminArea.geom)),
        select(func.array_agg(col(_INSIDE.id)))
        .where(func.ST_CoveredBy(col(_INSIDE.geom), col(AdminArea.geom)))
        .scalar_subquery(),
    ).where(col(AdminArea.id) == bindparam("area_id", type_=Uuid))
)


async def outline_ewkb(
    database: Database, area_id: uuid.UUID
) -> tuple[bytes, tuple[uuid.UUID, ...]] | None:
    """The area's outline as EWKB, to bind as a constant the planner can estimate against, and
    the ids of the areas lying within it, itself included (a place listed in one of them is
    inside it even for a caller who may not know where the place is). On the driver: the search
    runs it, on a ``Reader``."""
    rows = await _OUTLINE.fetch(database, area_id=area_id)
    if not rows or rows[0][0] is None:
        return None
    return bytes(rows[0][0]), tuple(rows[0][1] or ())


async def children(
    session: AsyncSession, parent_id: uuid.UUID | None, *, limit: int
) -> list[dict[str, Any]]:
    """The areas directly inside ``parent_id`` (the top-level areas for None), by name."""
    parent = col(AdminArea.parent_id)
    rows = await session.execute(
        select(*_COLUMNS)
        .where(parent.is_(None) if parent_id is None else parent == parent_id)
        .order_by(col(AdminArea.name), col(AdminArea.id))
        .limit(limit)
    )
    return [_row(row) for row in rows]


async def with_ancestors(session: AsyncSession, area_id: uuid.UUID) -> list[dict[str, Any]]:
    """The area and the areas it lies in, outermost first; empty for an unknown id."""
    chain = (
        select(*_COLUMNS, literal(0).label("depth"))
        .where(col(AdminArea.id) == area_id)
        .cte("chain", recursive=True)
    )
    parent = (
        select(*_COLUMNS, (chain.c.depth + 1).label("depth"))
        .join(chain, col(AdminArea.id) == chain.c.parent_id)
        .where(chain.c.depth < MAXIMUM_DEPTH)  # a (corrupt) cycle of parents cannot loop forever
    )
    chain = chain.union_all(parent)
    rows = await session.execute(select(chain).order_by(chain.c.depth.desc()))
    return [_row(row) for row in rows]


async def with_neighbours(
    session: AsyncSession, area_id: uuid.UUID, *, tolerance: float, limit: int
) -> list[dict[str, Any]]:
    """The area, then its neighbours, each with a point surely inside it (``latitude``,
    ``longitude``: ``ST_PointOnSurface``, the point searches from an area start at); empty for
    an unknown id.

    A neighbour is an area of the same level whose outline comes within ``tolerance`` degrees
    of the area's: ``ST_DWithin`` rather than ``ST_Touches``, since boundaries from different
    sources, or simplified, leave slivers between districts that share a border or overlap
    them a little, and ``ST_Touches`` is false for both. The same level, whatever the parent:
    a district on a region's border has neighbours in the next region. At most ``limit``
    areas, the nearest neighbours first (one statement, on the GiST index of the outlines)."""
    chosen = aliased(AdminArea, name="chosen")
    point = func.ST_PointOnSurface(col(AdminArea.geom))
    is_chosen = col(AdminArea.id) == col(chosen.id)
    rows = await session.execute(
        select(*_COLUMNS, func.ST_Y(point), func.ST_X(point))
        .select_from(AdminArea)
        .join(chosen, col(chosen.id) == area_id)
        .where(
            or_(
                is_chosen,
                and_(
                    col(AdminArea.level) == col(chosen.level),
                    func.ST_DWithin(col(AdminArea.geom), col(chosen.geom), tolerance),
                ),
            )
        )
        .order_by(
            is_chosen.desc(),
            func.ST_Distance(point, func.ST_PointOnSurface(col(chosen.geom))),
            col(AdminArea.name),
            col(AdminArea.id),
        )
        .limit(limit)
    )
    return [{**_row(row), "latitude": float(row[6]), "longitude": float(row[7])} for row in rows]
