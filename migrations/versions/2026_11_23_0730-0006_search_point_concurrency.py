"""``search_point`` under concurrent writes: the triggers of 0004 could, in two transactions at
once, copy a place's old point (exact, though it had just become confidential) or miss a
(place, need) pair added on both sides. Each trigger now locks the service's row and reads the
place ``FOR SHARE``, which waits for a concurrent change of it and then reads
the new version.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The service's row, locked for the rest of the transaction: the triggers of one service run
# one transaction at a time, and each statement then sees what the previous one committed. A row
# lock, not an advisory lock: an import touching 100,000 services in one transaction would
# exhaust the shared lock table (max_locks_per_transaction) with one advisory lock each.
LOCK = "PERFORM 1 FROM service WHERE id = {service} FOR NO KEY UPDATE;"

ATTRIBUTE = """
CREATE OR REPLACE FUNCTION search_point_from_attribute() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.link_entity = 'service' THEN
    {lock_old}
    DELETE FROM search_point
    WHERE service_id = OLD.link_id AND taxonomy_term_id = OLD.taxonomy_term_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.link_entity = 'service' THEN
    {lock_new}
    INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
    SELECT link.id, NEW.taxonomy_term_id, link.service_id, link.location_id, place.point,
           place.stand_in
    FROM service_at_location AS link JOIN location AS place ON place.id = link.location_id
    WHERE link.service_id = NEW.link_id AND place.point IS NOT NULL
    {share}
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$
"""

SERVICE_AT_LOCATION = """
CREATE OR REPLACE FUNCTION search_point_from_service_at_location() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    {lock_old}
    DELETE FROM search_point WHERE link_id = OLD.id;
  END IF;
  {lock_new}
  INSERT INTO search_point (link_id, taxonomy_term_id, service_id, location_id, point, stand_in)
  SELECT NEW.id, need.taxonomy_term_id, NEW.service_id, NEW.location_id, place.point,
         place.stand_in
  FROM attribute AS need JOIN location AS place ON place.id = NEW.location_id
  WHERE need.link_entity = 'service' AND need.link_id = NEW.service_id
    AND place.point IS NOT NULL
  {share}
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$
"""


def _functions(concurrent: bool) -> list[str]:
    parts = {
        "lock_old": LOCK.format(service="OLD.{}") if concurrent else "",
        "lock_new": LOCK.format(service="NEW.{}") if concurrent else "",
        "share": "FOR SHARE OF place" if concurrent else "",
    }
    return [
        ATTRIBUTE.format(
            lock_old=parts["lock_old"].format("link_id"),
            lock_new=parts["lock_new"].format("link_id"),
            share=parts["share"],
        ),
        SERVICE_AT_LOCATION.format(
            lock_old=parts["lock_old"].format("service_id"),
            lock_new=parts["lock_new"].format("service_id"),
            share=parts["share"],
        ),
    ]


def upgrade() -> None:
    for statement in _functions(concurrent=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _functions(concurrent=False):
        op.execute(statement)
