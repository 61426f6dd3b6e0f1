"""A confidential place's stand-in is a point of the area it is listed in, not a grid node.

Until now ``location.stand_in`` put a confidential place on the nearest node of a 0.5-degree
grid. From ranks and distances an anonymous caller could find that node, and so place a shelter
in the intersection of its listed area and the node's cell (issue 17: 37.5 % of its district).
Now the stand-in is chosen from the listed area alone: ``ST_PointOnSurface`` of the
``admin_area`` the place is listed in (the point area-based searches start from), the same for
every shelter of that area, whatever its position inside it. So nothing a caller without
``directory:confidential`` observes changes when a shelter moves within its listed area.

The stand-in reads another table, so it is no longer a generated column: a ``BEFORE`` trigger on
``location`` computes it on every insert and update (and a stand-in written by hand is
overwritten), and a trigger on ``admin_area`` computes it again when an outline changes. A
confidential place with a position but no listed area is listed, by the same trigger, in the
smallest area containing it (the write API's rule); if none does, it has no stand-in and is not
ranked at all for callers who may not locate it (``search_point.stand_in`` may now be null).

``search_point`` follows ``location`` through 0004's trigger, now fired whenever the position,
the visibility or the stand-in actually changes (the stand-in may change without any column of
0004's list being written: a new listed area, or a new outline).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 07:10:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The functions run as their owner (the migration role), as 0004's do.
UPGRADE = [
    "ALTER TABLE search_point ALTER COLUMN stand_in DROP NOT NULL",
    "ALTER TABLE location ALTER COLUMN stand_in DROP EXPRESSION",
    """
CREATE FUNCTION location_stand_in() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  here geometry;
BEGIN
  IF NEW.latitude IS NULL OR NEW.longitude IS NULL THEN
    NEW.stand_in := NULL;
    RETURN NEW;
  END IF;
  here := ST_SetSRID(ST_MakePoint(NEW.longitude, NEW.latitude), 4326);
  IF NEW.visibility <> 'confidential' THEN
    NEW.stand_in := here::geography;
    RETURN NEW;
  END IF;
  -- The real position only chooses the listed area, and only when there is none yet.
  IF NEW.admin_area_id IS NULL THEN
    NEW.admin_area_id := (
      SELECT area.id FROM admin_area AS area
      WHERE ST_Contains(area.geom, here)
      ORDER BY area.level DESC, ST_Area(area.geom)
      LIMIT 1
    );
  END IF;
  NEW.stand_in := (
    SELECT ST_PointOnSurface(area.geom)::geography FROM admin_area AS area
    WHERE area.id = NEW.admin_area_id
  );
  RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER location_stand_in BEFORE INSERT OR UPDATE ON location
FOR EACH ROW EXECUTE FUNCTION location_stand_in()
""",
    """
CREATE FUNCTION location_stand_in_from_area() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  -- location_stand_in() computes the stand-in again from the new outline.
  UPDATE location SET stand_in = NULL
  WHERE admin_area_id = NEW.id AND visibility = 'confidential';
  RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER location_stand_in AFTER UPDATE OF geom ON admin_area
FOR EACH ROW EXECUTE FUNCTION location_stand_in_from_area()
""",
    "DROP TRIGGER search_point_sync ON location",
    """
CREATE TRIGGER search_point_sync AFTER UPDATE ON location
FOR EACH ROW WHEN (
  OLD.latitude IS DISTINCT FROM NEW.latitude
  OR OLD.longitude IS DISTINCT FROM NEW.longitude
  OR OLD.visibility IS DISTINCT FROM NEW.visibility
  OR ST_AsBinary(OLD.stand_in) IS DISTINCT FROM ST_AsBinary(NEW.stand_in)
)
EXECUTE FUNCTION search_point_from_location()
""",
    # Every confidential place gets its new stand-in, and search_point with it.
    "UPDATE location SET stand_in = NULL WHERE visibility = 'confidential'",
]

GRID_STAND_IN = (
    "CASE WHEN latitude IS NULL THEN NULL "
    "WHEN visibility = 'confidential' THEN ST_SnapToGrid(ST_SetSRID("
    "ST_MakePoint(longitude, latitude), 4326), 0.5)::geography "
    "ELSE ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END"
)

DOWNGRADE = [
    "DROP TRIGGER search_point_sync ON location",
    """
CREATE TRIGGER search_point_sync AFTER UPDATE OF latitude, longitude, visibility ON location
FOR EACH ROW EXECUTE FUNCTION search_point_from_location()
""",
    "DROP TRIGGER location_stand_in ON admin_area",
    "DROP FUNCTION location_stand_in_from_area()",
    "DROP TRIGGER location_stand_in ON location",
    "DROP FUNCTION location_stand_in()",
    "DROP INDEX ix_location_stand_in",
    "ALTER TABLE location DROP COLUMN stand_in",
    f"ALTER TABLE location ADD COLUMN stand_in geography(POINT,4326) "
    f"GENERATED ALWAYS AS ({GRID_STAND_IN}) STORED",
    "CREATE INDEX ix_location_stand_in ON location USING gist (stand_in)",
    """
UPDATE search_point SET stand_in = place.stand_in
FROM location AS place
WHERE place.id = search_point.location_id
  AND ST_AsBinary(place.stand_in) IS DISTINCT FROM ST_AsBinary(search_point.stand_in)
""",
    "ALTER TABLE search_point ALTER COLUMN stand_in SET NOT NULL",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
