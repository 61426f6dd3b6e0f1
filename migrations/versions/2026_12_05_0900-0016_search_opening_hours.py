"""The nearest scan checks ``open_at`` itself (issue 18): each ``search_point`` row carries the
hours of the week, in UTC, at which its service may be open there, and each need's partial GiST
indexes hold them.

Before, a search with ``open_at`` read the need's nearest rows, built the details of each and
dropped the closed ones in Python, reading again four times further while too few were open: on
a Saturday, when no health centre opens, it read and built every medical place within the radius
(about 170 ms of database CPU per request on 1M points).

``hours`` is a sorted ``int4[]`` of hours of the week (0 is Monday 00:00-01:00 UTC, 167 Sunday
23:00-24:00 UTC), indexed with intarray's ``gist__int_ops`` (exact for a few ranges of hours, as
every weekly pattern is); a search asks ``hours @> '{h}'`` for the hour holding ``open_at``.
It is a superset of when the place is open, never less, so the exact check (``is_open``: the
rule's validity dates, closures, minutes) still decides after the scan:

- each opening rule of the service, and of the place, counts (closures do not take hours away,
  validity dates are not read): its days (``byday``, every day when unset), from the hour holding
  ``opens_at`` to the hour holding the minute before ``closes_at``, both cut to the minute as
  ``is_open`` reads them (all day when either is unset or they are the same minute; past midnight
  when ``closes_at`` comes first), each shifted by every UTC offset its time zone has from 2020 to
  2040 as the server's time zone data knows them (daylight saving time takes both offsets), a
  zone PostgreSQL does not know every hour. A search with ``open_at`` outside those years does not
  use them (``api.services.search.OPEN_HOURS_YEARS``);
- a service with no opening rule has no hours: it is never "open", as ``is_open`` says.

A ``BEFORE`` trigger on the row computes them (as 0015's do the listing); statement triggers on
``schedule`` recompute the rows of the services and places whose rules changed. The offsets of
every zone the server knows are computed once, into ``time_zone_offsets`` (a millisecond a zone:
too slow for every row of an import). After an update of the server's time zone data, run
``SELECT refresh_time_zone_offsets()`` (docs/operations.md): a zone given a new offset would
otherwise be missing it. Python's time zone data (``is_open``) and the server's are updated
separately: keep them at the same release, and refresh after updating either.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 09:00:00+00:00
"""

import uuid
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
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
# (index name prefix, ranking column, audience condition), as 0015 made them
INDEXES = (
    ("point", "point", "audience IS NOT NULL"),
    ("stand_in", "stand_in", "audience IS NOT NULL"),
    ("public", "stand_in", "audience = 'public'"),
)
BEFORE = "ages, genders, intake"
AFTER = "ages, genders, intake, hours gist__int_ops"


def _name(prefix: str, code: str) -> str:
    return f"ix_search_point_{prefix}_{code.replace('-', '_')}"


def _term(code: str) -> str:
    return f"taxonomy_term_id = '{uuid.uuid5(TAXONOMY, code)}'::uuid"


def _drop_indexes() -> None:
    for code in NEEDS:
        for prefix, _, _ in INDEXES:
            op.execute(f"DROP INDEX {_name(prefix, code)}")


def _create_indexes(columns: str) -> None:
    for code in NEEDS:
        for prefix, column, audience in INDEXES:
            op.execute(
                f"CREATE INDEX {_name(prefix, code)} ON search_point USING gist "
                f"({column}, {columns}) WHERE {_term(code)} AND {audience}"
            )


# The functions run as their owner (the migration role), as 0004's and 0015's do.
FUNCTIONS = [
    # Every UTC offset (minutes) the zone has from 2020 to 2040, sampled weekly: a period of
    # daylight saving time lasts longer than a week everywhere. Null for a zone PostgreSQL does
    # not know (its time zone data may lag Python's). About a millisecond: kept in a table.
    """
CREATE FUNCTION time_zone_offsets_computed(zone text) RETURNS int[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN ARRAY(
    SELECT DISTINCT (extract(epoch FROM (moment AT TIME ZONE zone) - (moment AT TIME ZONE 'UTC'))
                     / 60)::int
    FROM generate_series(timestamptz '2020-01-01 00:00+00', timestamptz '2040-01-01 00:00+00',
                         interval '7 days') AS moment
  );
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN NULL;
END
$$
""",
    # After an update of the server's time zone data: the offsets again, and every row's hours.
    """
CREATE FUNCTION refresh_time_zone_offsets() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  rewritten bigint;
BEGIN
  INSERT INTO time_zone_offsets (zone, minutes)
  SELECT name, time_zone_offsets_computed(name) FROM pg_timezone_names
  ON CONFLICT (zone) DO UPDATE SET minutes = EXCLUDED.minutes;
  UPDATE search_point SET hours = NULL;
  GET DIAGNOSTICS rewritten = ROW_COUNT;
  RETURN rewritten;
END
$$
""",
    # The hours of one (service, place): its opening rules and the place's, closures aside. For
    # each rule: its minutes in the local day (all day when either end is unset or they are
    # equal; past midnight when it closes first), on each of its days, shifted by each offset of
    # its zone, as hours of the week (every hour for a zone the server does not know). One
    # statement, planned once: a function per step cost several times more per row.
    r"""
CREATE FUNCTION search_point_week_hours(service uuid, place uuid) RETURNS int[]
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT wrapped.week_hour ORDER BY wrapped.week_hour), '{}')
  FROM schedule AS rule
  CROSS JOIN LATERAL (
    SELECT coalesce(
      (SELECT known.minutes FROM time_zone_offsets AS known WHERE known.zone = rule.time_zone),
      time_zone_offsets_computed(rule.time_zone),
      ARRAY[NULL::int]
    ) AS offsets,
    -- The minutes of the day, seconds cut off, as is_open reads them (HH:MM).
    floor(extract(epoch FROM rule.opens_at) / 60)::int AS opens,
    floor(extract(epoch FROM rule.closes_at) / 60)::int AS closes
  ) AS zone
  CROSS JOIN LATERAL (
    SELECT
      CASE WHEN zone.opens IS NULL OR zone.closes IS NULL OR zone.opens = zone.closes THEN 0
           ELSE zone.opens END AS first_minute,
      CASE WHEN zone.opens IS NULL OR zone.closes IS NULL OR zone.opens = zone.closes THEN 1440
           WHEN zone.closes < zone.opens THEN zone.closes + 1440
           ELSE zone.closes END AS end_minute
  ) AS span
  CROSS JOIN LATERAL unnest(
    string_to_array(coalesce(nullif(rule.byday, ''), 'MO,TU,WE,TH,FR,SA,SU'), ',')
  ) AS listed(code)
  CROSS JOIN LATERAL (
    SELECT array_position(
             ARRAY['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'],
             regexp_replace(listed.code, '^\s+|\s+$', '', 'g')
           ) - 1 AS weekday
  ) AS day
  CROSS JOIN LATERAL unnest(zone.offsets) AS shift(minutes)
  CROSS JOIN LATERAL generate_series(
    CASE WHEN shift.minutes IS NULL THEN 0
         ELSE floor((day.weekday * 1440 + span.first_minute - shift.minutes) / 60.0)::int END,
    CASE WHEN shift.minutes IS NULL THEN 167
         ELSE ceil((day.weekday * 1440 + span.end_minute - shift.minutes) / 60.0)::int - 1 END
  ) AS hour
  CROSS JOIN LATERAL (SELECT ((hour % 168) + 168) % 168 AS week_hour) AS wrapped
  WHERE (rule.service_id = service OR rule.location_id = place)
    AND rule.attending_type IS DISTINCT FROM 'closed'
    AND day.weekday IS NOT NULL
$$
""",
    """
CREATE FUNCTION search_point_hours() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  NEW.hours := search_point_week_hours(NEW.service_id, NEW.location_id);
  RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER search_point_hours BEFORE INSERT OR UPDATE ON search_point
FOR EACH ROW EXECUTE FUNCTION search_point_hours()
""",
    # A write to the rules rewrites the rows of their services and places (once a statement,
    # however many rules it writes), and the trigger above computes them again. Semi-joins with
    # the transition tables, whose sizes the planner knows: index probes for a few rules, one
    # pass over the table for an import (an array of ids would be searched row by row).
    # First the services and places are locked as 0006's triggers lock them when they make rows
    # (services, then places): a row being made for them in another transaction, which cannot
    # see these rules yet and which this statement cannot see, is then made after, seeing them.
    """
CREATE FUNCTION search_point_hours_from_schedule() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM 1 FROM service WHERE id IN (SELECT service_id FROM added)
    ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM location WHERE id IN (SELECT location_id FROM added)
    ORDER BY id FOR NO KEY UPDATE;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM 1 FROM service WHERE id IN (SELECT service_id FROM removed)
    ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM location WHERE id IN (SELECT location_id FROM removed)
    ORDER BY id FOR NO KEY UPDATE;
  ELSE
    PERFORM 1 FROM service
    WHERE id IN (SELECT service_id FROM added UNION SELECT service_id FROM removed)
    ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM location
    WHERE id IN (SELECT location_id FROM added UNION SELECT location_id FROM removed)
    ORDER BY id FOR NO KEY UPDATE;
  END IF;
  IF TG_OP = 'INSERT' THEN
    UPDATE search_point SET hours = NULL WHERE service_id IN (SELECT service_id FROM added);
    UPDATE search_point SET hours = NULL WHERE location_id IN (SELECT location_id FROM added);
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE search_point SET hours = NULL WHERE service_id IN (SELECT service_id FROM removed);
    UPDATE search_point SET hours = NULL WHERE location_id IN (SELECT location_id FROM removed);
  ELSE
    UPDATE search_point SET hours = NULL
    WHERE service_id IN (SELECT service_id FROM added UNION SELECT service_id FROM removed);
    UPDATE search_point SET hours = NULL
    WHERE location_id IN (SELECT location_id FROM added UNION SELECT location_id FROM removed);
  END IF;
  RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER search_point_hours_added AFTER INSERT ON schedule
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION search_point_hours_from_schedule()
""",
    """
CREATE TRIGGER search_point_hours_changed AFTER UPDATE ON schedule
REFERENCING OLD TABLE AS removed NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION search_point_hours_from_schedule()
""",
    """
CREATE TRIGGER search_point_hours_removed AFTER DELETE ON schedule
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION search_point_hours_from_schedule()
""",
]


def upgrade() -> None:
    # intarray is a trusted extension: the database's owner may create it (as pg_trgm, 0014).
    op.execute("CREATE EXTENSION IF NOT EXISTS intarray")
    # Written again without the indexes (every row changes), which are then built with hours.
    _drop_indexes()
    op.execute("ALTER TABLE search_point ADD COLUMN hours int4[]")
    op.execute(
        "CREATE TABLE time_zone_offsets (zone text NOT NULL, minutes integer[] NOT NULL, "
        "CONSTRAINT pk_time_zone_offsets PRIMARY KEY (zone))"
    )
    for statement in FUNCTIONS:
        op.execute(statement)
    # Only the migration role calls these directly: the refresh rewrites every row, and the
    # trigger functions run as their owner (the triggers need no EXECUTE privilege to fire).
    for function in (
        "refresh_time_zone_offsets()",
        "search_point_hours()",
        "search_point_hours_from_schedule()",
    ):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(
        "INSERT INTO time_zone_offsets (zone, minutes) "
        "SELECT name, time_zone_offsets_computed(name) FROM pg_timezone_names"
    )
    # Only the new trigger needs to run: the listing's would compute the same values again.
    op.execute("ALTER TABLE search_point DISABLE TRIGGER search_point_listing")
    op.execute("UPDATE search_point SET hours = NULL")
    op.execute("ALTER TABLE search_point ENABLE TRIGGER search_point_listing")
    op.execute("ALTER TABLE search_point ALTER COLUMN hours SET NOT NULL")
    _create_indexes(AFTER)


def downgrade() -> None:
    _drop_indexes()
    _create_indexes(BEFORE)
    for trigger in ("added", "changed", "removed"):
        op.execute(f"DROP TRIGGER search_point_hours_{trigger} ON schedule")
    op.execute("DROP TRIGGER search_point_hours ON search_point")
    for function in (
        "search_point_hours_from_schedule()",
        "search_point_hours()",
        "search_point_week_hours(uuid, uuid)",
        "refresh_time_zone_offsets()",
        "time_zone_offsets_computed(text)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP TABLE time_zone_offsets")
    op.execute("ALTER TABLE search_point DROP COLUMN hours")
    # intarray stays: another database object may have come to use it.
