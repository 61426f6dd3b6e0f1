"""The nearest scan checks the filters itself (issue 18): ``search_point`` carries who a row is
listed to and the eligibility of its service, and each need's partial GiST indexes hold them.

The ordered scan of 0007's indexes stopped after ``k`` rows passing the filters, all of which
were checked after it (joins to the service, the place and their organisations): when none
passed (every shelter listed to partners only, asked anonymously; a man asking for a women's
shelter) it read and joined every row of the need within the radius, up to 2,000 km.

Each ``search_point`` row now has, kept by a ``BEFORE`` trigger on the row itself (so that
0004's triggers, which insert the rows, need no change) and recomputed by triggers on the
tables they come from:

- ``audience``: ``public`` when every viewer may list it (the service, the place and both
  organisations visible to the public — a confidential place is listed, redacted —, the service
  and both organisations active), ``partners`` when only partners may, null when nobody may;
- ``ages``: the service's age range (``@>`` an age is its eligibility test);
- ``genders``: the genders it serves as a multirange of codes (female 1, male 2, other 3; every
  gender when it names none);
- ``intake``: ``referrals`` when it accepts referrals, ``walk-in`` otherwise.

Per need there are three partial GiST indexes on (position, ages, genders, intake): the
stand-in of rows listed to the public (anonymous callers), the stand-in and the point of rows
listed to anyone (partners; cleared partners). The query keeps every exact check after the
scan: these columns only let the index skip rows that cannot pass.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:00:00+00:00
"""

import uuid
from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The taxonomy as migration 0003 created it (ids are uuid5 of the code in Relay's namespace).
TAXONOMY = uuid.UUID("6f1c9a52-6d1e-4f0e-9d55-0b5e1a7c2f10")
NEEDS = (
    "emergency-police",
    "medical-care",
    "post-rape-care",
    "psychosocial-support",
    "safe-shelter",
    "legal-aid",
    "child-protection-case-management",
    "family-support",
    "anti-trafficking",
    "reintegration",
    "education-literacy",
    "livelihoods",
    "early-childhood",
    "maternal-infant-health",
    "helpline",
)
FILTERED = "ages, genders, intake"
# (index name prefix, ranking column, audience condition)
INDEXES = (
    ("point", "point", "audience IS NOT NULL"),
    ("stand_in", "stand_in", "audience IS NOT NULL"),
    ("public", "stand_in", "audience = 'public'"),
)


def _name(prefix: str, code: str) -> str:
    return f"ix_search_point_{prefix}_{code.replace('-', '_')}"


def _term(code: str) -> str:
    return f"taxonomy_term_id = '{uuid.uuid5(TAXONOMY, code)}'::uuid"


# The functions run as their owner (the migration role), as 0004's do.
FUNCTIONS = [
    """
CREATE FUNCTION search_point_listing() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  SELECT
    CASE
      WHEN service.status <> 'active' OR owner.status <> 'active'
        OR host.status <> 'active' THEN NULL
      WHEN 'partners' IN (service.visibility, owner.visibility, place.visibility,
                          host.visibility) THEN 'partners'
      ELSE 'public'
    END,
    int4range(service.minimum_age, service.maximum_age, '[]'),
    CASE WHEN cardinality(service.genders) = 0 THEN '{(,)}'::int4multirange
    ELSE coalesce((
      SELECT range_agg(int4range(code.value, code.value + 1))
      FROM unnest(service.genders) AS served(gender)
      JOIN (VALUES ('female', 1), ('male', 2), ('other', 3)) AS code(gender, value)
        USING (gender)
    ), '{}'::int4multirange) END,
    CASE WHEN service.accepts_referrals THEN 'referrals' ELSE 'walk-in' END
  INTO NEW.audience, NEW.ages, NEW.genders, NEW.intake
  FROM service
  JOIN organization AS owner ON owner.id = service.organization_id
  CROSS JOIN location AS place
  JOIN organization AS host ON host.id = place.organization_id
  WHERE service.id = NEW.service_id AND place.id = NEW.location_id;
  RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER search_point_listing BEFORE INSERT OR UPDATE ON search_point
FOR EACH ROW EXECUTE FUNCTION search_point_listing()
""",
    # A write to what a row's listing comes from rewrites the row, and the trigger above
    # computes it again.
    """
CREATE FUNCTION search_point_listing_from_service() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE search_point SET audience = NULL WHERE service_id = NEW.id;
  RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER search_point_listing AFTER UPDATE ON service
FOR EACH ROW WHEN (
  OLD.status IS DISTINCT FROM NEW.status
  OR OLD.visibility IS DISTINCT FROM NEW.visibility
  OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
  OR OLD.minimum_age IS DISTINCT FROM NEW.minimum_age
  OR OLD.maximum_age IS DISTINCT FROM NEW.maximum_age
  OR OLD.genders IS DISTINCT FROM NEW.genders
  OR OLD.accepts_referrals IS DISTINCT FROM NEW.accepts_referrals
)
EXECUTE FUNCTION search_point_listing_from_service()
""",
    """
CREATE FUNCTION search_point_listing_from_location() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE search_point SET audience = NULL WHERE location_id = NEW.id;
  RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER search_point_listing AFTER UPDATE ON location
FOR EACH ROW WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id)
EXECUTE FUNCTION search_point_listing_from_location()
""",
    """
CREATE FUNCTION search_point_listing_from_organization() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE search_point SET audience = NULL
  WHERE service_id IN (SELECT id FROM service WHERE organization_id = NEW.id)
     OR location_id IN (SELECT id FROM location WHERE organization_id = NEW.id);
  RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER search_point_listing AFTER UPDATE ON organization
FOR EACH ROW WHEN (
  OLD.status IS DISTINCT FROM NEW.status OR OLD.visibility IS DISTINCT FROM NEW.visibility
)
EXECUTE FUNCTION search_point_listing_from_organization()
""",
]


def upgrade() -> None:
    op.execute(
        "ALTER TABLE search_point ADD COLUMN audience text "
        "CONSTRAINT ck_search_point_audience CHECK (audience IN ('public', 'partners')), "
        "ADD COLUMN ages int4range, ADD COLUMN genders int4multirange, ADD COLUMN intake text "
        "CONSTRAINT ck_search_point_intake CHECK (intake IN ('referrals', 'walk-in'))"
    )
    for statement in FUNCTIONS:
        op.execute(statement)
    op.execute("UPDATE search_point SET audience = NULL")
    for column in ("ages", "genders", "intake"):
        op.execute(f"ALTER TABLE search_point ALTER COLUMN {column} SET NOT NULL")
    for code in NEEDS:
        for prefix, _, _ in INDEXES[:2]:
            op.execute(f"DROP INDEX {_name(prefix, code)}")
        for prefix, column, audience in INDEXES:
            op.execute(
                f"CREATE INDEX {_name(prefix, code)} ON search_point USING gist "
                f"({column}, {FILTERED}) WHERE {_term(code)} AND {audience}"
            )


def downgrade() -> None:
    for code in NEEDS:
        for prefix, _, _ in INDEXES:
            op.execute(f"DROP INDEX {_name(prefix, code)}")
        for prefix, column, _ in INDEXES[:2]:
            op.execute(
                f"CREATE INDEX {_name(prefix, code)} ON search_point USING gist ({column}) "
                f"WHERE {_term(code)}"
            )
    for table in ("organization", "location", "service", "search_point"):
        op.execute(f"DROP TRIGGER search_point_listing ON {table}")
    for suffix in ("", "_from_service", "_from_location", "_from_organization"):
        op.execute(f"DROP FUNCTION search_point_listing{suffix}()")
    op.execute(
        "ALTER TABLE search_point DROP COLUMN audience, DROP COLUMN ages, "
        "DROP COLUMN genders, DROP COLUMN intake"
    )
