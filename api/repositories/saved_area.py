"""What a phone keeps of a few administrative areas (``api.services.saved_area``): the places and
services in them that an anonymous caller may see, in one statement.

Three kinds of rows, as the search ranks them (``api.repositories.search``):

- a *located* place: a public place whose position lies inside one of the areas (the outlines'
  bounding boxes on the coordinate indexes, then the exact test);
- a *confidential* place (a shelter), never by its position: it is kept when the area it is
  listed in is one of the areas, lies within one, or holds one (a shelter listed in a region is
  kept with each of its districts, as each district's search lists it), so that what is kept
  says no more than that listed area, as ``service_ids_in_area`` decides for the downloads;
- a *covering* service: its vetted service area holds the point of one of the areas (the point
  a search from that area starts at), with the ids of the areas it covers.

Only what an anonymous caller sees: active services and organisations listed to the public (or
listed confidential, redacted), places listed to the public; nothing listed to partners only.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models.directory import ServiceStatus, Visibility
from api.models.organization import OrganizationStatus

# The visibilities an anonymous caller is listed (a confidential record is listed, redacted),
# and those whose position it may know.
LISTED = [Visibility.public.value, Visibility.confidential.value]
LOCATED = [Visibility.public.value]

CANDIDATES = text(
    """
    WITH saved AS (
      SELECT area.id, area.geom, ST_PointOnSurface(area.geom) AS point
      FROM admin_area AS area WHERE area.id = ANY(CAST(:area_ids AS uuid[]))
    ),
    origin AS (SELECT saved.point FROM saved WHERE saved.id = CAST(:origin_id AS uuid)),
    listing AS (
      SELECT DISTINCT listed.id
      FROM saved JOIN admin_area AS listed ON listed.geom && saved.geom
      WHERE ST_CoveredBy(listed.geom, saved.geom) OR ST_CoveredBy(saved.geom, listed.geom)
    ),
    candidates AS (
      SELECT DISTINCT ON (link.id)
        link.service_id, link.location_id, false AS redacted, NULL::uuid[] AS covers,
        l.point::geometry AS ranked_at, NULL::uuid AS listed_id, NULL AS listed_name,
        NULL::integer AS listed_level
      FROM saved
      JOIN location AS l
        ON l.latitude BETWEEN ST_YMin(saved.geom) AND ST_YMax(saved.geom)
       AND l.longitude BETWEEN ST_XMin(saved.geom) AND ST_XMax(saved.geom)
       AND ST_Intersects(saved.geom, ST_SetSRID(ST_MakePoint(l.longitude, l.latitude), 4326))
      JOIN service_at_location AS link ON link.location_id = l.id
      JOIN organization AS owner ON owner.id = l.organization_id
      WHERE l.visibility = ANY(CAST(:located AS text[]))
        AND owner.status = :active_organization AND owner.visibility = ANY(CAST(:listed AS text[]))
      UNION ALL
      -- ranked at the point of the area it is listed in (its stand-in), never at its own
      SELECT link.service_id, link.location_id, true, NULL::uuid[],
        ST_PointOnSurface(listed.geom), listed.id, listed.name, listed.level
      FROM location AS l
      JOIN admin_area AS listed ON listed.id = l.admin_area_id
      JOIN service_at_location AS link ON link.location_id = l.id
      JOIN organization AS owner ON owner.id = l.organization_id
      WHERE l.visibility = :confidential AND l.admin_area_id IN (SELECT id FROM listing)
        AND owner.status = :active_organization AND owner.visibility = ANY(CAST(:listed AS text[]))
      UNION ALL
      SELECT reach.service_id, NULL, false, array_agg(DISTINCT saved.id), NULL, NULL, NULL, NULL
      FROM saved
      JOIN service_area AS reach ON reach.vetted AND ST_Intersects(reach.extent, saved.point)
      GROUP BY reach.service_id
    )
    SELECT c.service_id, c.location_id, c.redacted, c.covers,
      coalesce(ST_Distance(c.ranked_at::geography, (SELECT point FROM origin)::geography), 0)
        AS distance,
      c.listed_id, c.listed_name, c.listed_level, ST_Y(c.ranked_at), ST_X(c.ranked_at)
    FROM candidates AS c
    JOIN service AS s ON s.id = c.service_id
    JOIN organization AS o ON o.id = s.organization_id
    WHERE s.status = :active_service AND s.visibility = ANY(CAST(:listed AS text[]))
      AND o.status = :active_organization AND o.visibility = ANY(CAST(:listed AS text[]))
    ORDER BY c.covers IS NULL, distance, c.service_id, c.location_id
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class Kept:
    """One row to keep: a service at a place (``location_id``), or covering ``covers``."""

    service_id: uuid.UUID
    location_id: uuid.UUID | None
    redacted: bool  # a confidential place: kept without its position
    covers: tuple[uuid.UUID, ...]  # the areas a covering service's service area reaches
    distance_m: float  # from the first area's point (0 for a covering service), for the order
    # A confidential place's listed area (id, name, level, latitude and longitude of its point):
    # where it ranks, and all that is kept of where it is.
    listed: tuple[uuid.UUID, str, int, float, float] | None


async def candidates(session: AsyncSession, area_ids: list[uuid.UUID], *, limit: int) -> list[Kept]:
    """The rows to keep for the areas (the first is the one chosen): covering services first,
    then places by distance from the first area's point, at most ``limit``."""
    rows = await session.execute(
        CANDIDATES,
        {
            "area_ids": area_ids,
            "origin_id": area_ids[0],
            "located": LOCATED,
            "listed": LISTED,
            "confidential": Visibility.confidential.value,
            "active_service": ServiceStatus.active.value,
            "active_organization": OrganizationStatus.active.value,
            "limit": limit,
        },
    )
    kept = []
    for row in rows:
        service_id, location_id, redacted, covers, distance = row[:5]
        listed_id, name, level, latitude, longitude = row[5:]
        listed = (listed_id, name, level, float(latitude), float(longitude)) if redacted else None
        kept.append(
            Kept(
                service_id,
                location_id,
                bool(redacted),
                tuple(covers or ()),
                float(distance),
                listed,
            )
        )
    return kept
