"""The nearest-service index: a stand-in point for confidential places and ``search_point``,
one row per (service at a located place, need it meets) with multi-column GiST indexes on
(need, point) and (need, stand-in), kept by triggers so that no write path can forget it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:20:00+00:00
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAND_IN = (
    "CASE WHEN latitude IS NULL THEN NULL "
    "WHEN visibility = 'confidential' THEN ST_SnapToGrid(ST_SetSRID("
    "ST_MakePoint(longitude, latitude), 4326), 0.5)::geography "
    "ELSE ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END"
)

# The functions run as their owner (the migration role): the application role may only read
# search_point, and its writes to the directory tables keep it current through these triggers.
# (One statement per execute: asyncpg prepares each.)
TRIGGERS = """
CREATE FUNCTION search_point_from_attribute() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.link_entity = 'service' THEN
    DELETE FROM search_point
    WHERE service_id = OLD.link_id AND taxonomy_term_id = OLD.taxonomy_term_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.link_entity = 'service' THEN
    INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
    SELECT link.id, NEW.taxonomy_term_id, link.service_id, link.location_id, place.point,
           place.stand_in
    FROM service_at_location AS link JOIN location AS place ON place.id = link.location_id
    WHERE link.service_id = NEW.link_id AND place.point IS NOT NULL
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
---
CREATE FUNCTION search_point_from_service_at_location() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM search_point WHERE link_id = OLD.id;
  END IF;
  INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
  SELECT NEW.id, need.taxonomy_term_id, NEW.service_id, NEW.location_id, place.point,
         place.stand_in
  FROM attribute AS need JOIN location AS place ON place.id = NEW.location_id
  WHERE need.link_entity = 'service' AND need.link_id = NEW.service_id
    AND place.point IS NOT NULL
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
---
CREATE FUNCTION search_point_from_location() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM search_point WHERE location_id = NEW.id;
  INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
  SELECT link.id, need.taxonomy_term_id, link.service_id, NEW.id, NEW.point, NEW.stand_in
  FROM service_at_location AS link
  JOIN attribute AS need ON need.link_entity = 'service' AND need.link_id = link.service_id
  WHERE link.location_id = NEW.id AND NEW.point IS NOT NULL;
  RETURN NULL;
END
$$;
---
CREATE TRIGGER search_point_sync AFTER INSERT OR UPDATE OR DELETE ON attribute
FOR EACH ROW EXECUTE FUNCTION search_point_from_attribute();
---
CREATE TRIGGER search_point_sync AFTER INSERT OR UPDATE OF service_id, location_id
ON service_at_location
FOR EACH ROW EXECUTE FUNCTION search_point_from_service_at_location();
---
CREATE TRIGGER search_point_sync AFTER UPDATE OF latitude, longitude, visibility ON location
FOR EACH ROW EXECUTE FUNCTION search_point_from_location();
"""

BACKFILL = """
INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
SELECT link.id, need.taxonomy_term_id, link.service_id, link.location_id, place.point,
       place.stand_in
FROM service_at_location AS link
JOIN location AS place ON place.id = link.location_id
JOIN attribute AS need ON need.link_entity = 'service' AND need.link_id = link.service_id
WHERE place.point IS NOT NULL
"""


def upgrade() -> None:
    op.add_column(
        "location",
        sa.Column(
            "stand_in",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            sa.Computed(STAND_IN, persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_location_stand_in", "location", ["stand_in"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "search_point",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy_term_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column(
            "point",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            nullable=False,
        ),
        sa.Column(
            "stand_in",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["service_at_location.id"],
            name=op.f("fk_search_point_link_id_service_at_location"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_term_id"],
            ["taxonomy_term.id"],
            name=op.f("fk_search_point_taxonomy_term_id_taxonomy_term"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", "taxonomy_term_id", name=op.f("pk_search_point")),
    )
    op.execute(BACKFILL)
    op.create_index(op.f("ix_search_point_service_id"), "search_point", ["service_id"])
    op.create_index(op.f("ix_search_point_location_id"), "search_point", ["location_id"])
    op.create_index(
        "ix_search_point_term_point",
        "search_point",
        ["taxonomy_term_id", "point"],
        postgresql_using="gist",
    )
    op.create_index(
        "ix_search_point_term_stand_in",
        "search_point",
        ["taxonomy_term_id", "stand_in"],
        postgresql_using="gist",
    )
    for statement in TRIGGERS.split("\n---\n"):
        op.execute(statement)
    grant_to_app("search_point", "SELECT")


def downgrade() -> None:
    op.execute("DROP TRIGGER search_point_sync ON location")
    op.execute("DROP TRIGGER search_point_sync ON service_at_location")
    op.execute("DROP TRIGGER search_point_sync ON attribute")
    op.execute("DROP FUNCTION search_point_from_location()")
    op.execute("DROP FUNCTION search_point_from_service_at_location()")
    op.execute("DROP FUNCTION search_point_from_attribute()")
    op.drop_table("search_point")
    op.drop_index("ix_location_stand_in", table_name="location", postgresql_using="gist")
    op.drop_column("location", "stand_in")
