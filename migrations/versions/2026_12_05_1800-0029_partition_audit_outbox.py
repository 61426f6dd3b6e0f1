"""Growth that stays cheap (issue 25): ``audit_event`` and ``outbox_event`` partitioned by month.

Both tables are rebuilt as ``PARTITION BY RANGE`` on their time (``audit_event.at``,
``outbox_event.occurred_at``), one partition per calendar month in UTC, named
``<table>_yYYYYmMM``, with their rows copied in place: the old table is renamed, a partitioned
twin is made ``LIKE`` it (columns, defaults, CHECKs, the identity and its next value), filled, and
the old one dropped; then the keys, indexes, triggers, row-level security policies and grants are
made again exactly as before, except that a partitioned table's unique keys must hold its
partition key:

- ``pk_audit_event`` is ``(id, at)`` and ``uq_audit_event_position`` ``(position, at)``;
  ``pk_outbox_event`` is ``(id, occurred_at)``, ``uq_outbox_event_position`` ``(position,
  occurred_at)`` and ``uq_outbox_event_seq`` ``(seq, occurred_at)``. Ids are random UUIDs and
  ``position`` and ``seq`` are given by one sequence and one numbering worker, so they stay
  unique across partitions.
- ``webhook_delivery`` gains ``event_occurred_at``, and its foreign key to the event is
  ``(event_id, event_occurred_at)``, still ``ON DELETE CASCADE``.
- ``audit_chain.event_id`` no longer references ``audit_event``: a month of the trail may be
  archived (detached, dumped, dropped) while its links, the hashes that let the rest verify,
  stay. The verifier checks every link's event instead, and accepts a missing prefix only up to a
  signed checkpoint (``api.services.audit.verify``).

Partitions are made by ``relay_month_partitions(table, first month, months)``, a ``SECURITY
DEFINER`` function the application role may call (it owns no table, so it cannot create one):
the worker keeps ``RELAY_PARTITION_MONTHS_AHEAD`` months ahead, and it makes none more than 24
months past this one (the most that setting allows), however it is called. There is no DEFAULT
partition: a row there would forbid creating its month's partition later and could never be
dropped with a month; the months ahead are the safety net.
``relay_drop_outbox_partitions(keep months)`` drops the outbox's months older than that, oldest
first, only while every event of the month is numbered, fanned out to every enabled
subscription of its audience, sent or given up, and read by the notifications, and moves the
feed's horizon past them. Both run with a short ``lock_timeout``: a busy table makes them fail
and the worker tries again on its next tick.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 18:00:00+00:00
"""

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import op

from api.migration_support import app_role, grant_to_app

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORGANIZATION = "NULLIF(current_setting('relay.organization_id', true), '')::uuid"
WORKER = "current_setting('relay.worker', true) = 'on'"
MONTHS_AHEAD = 3  # the worker keeps RELAY_PARTITION_MONTHS_AHEAD; these cover the first ticks


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    """The time the table is partitioned on."""
    unique: dict[str, tuple[str, ...]]
    """Constraint name: columns, without the partition key."""
    indexes: tuple[str, ...]
    triggers: tuple[str, ...]
    policies: tuple[str, ...]
    grants: tuple[str, ...]
    foreign_keys: tuple[str, ...] = ()

    def keys(self, partitioned: bool) -> list[str]:
        statements = []
        for name, columns in self.unique.items():
            kind = "PRIMARY KEY" if name.startswith("pk_") else "UNIQUE"
            listed = [f'"{column}"' for column in columns] + ([self.key] if partitioned else [])
            statements.append(
                f"ALTER TABLE {self.name} ADD CONSTRAINT {name} {kind} ({', '.join(listed)})"
            )
        return statements


AUDIT_EVENT = Table(
    name="audit_event",
    key="at",
    unique={"pk_audit_event": ("id",), "uq_audit_event_position": ("position",)},
    indexes=(
        "CREATE INDEX ix_audit_event_at ON audit_event USING btree (at, id)",
        "CREATE INDEX ix_audit_event_parties ON audit_event USING gin (parties)",
    ),
    triggers=(
        "CREATE TRIGGER audit_event_append_only BEFORE DELETE OR UPDATE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
        "CREATE TRIGGER audit_event_pending AFTER INSERT ON audit_event "
        "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
        "EXECUTE FUNCTION audit_pending_add()",
    ),
    policies=(
        "ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY",
        f"""CREATE POLICY parties ON audit_event FOR SELECT
            USING ({ORGANIZATION} = ANY(parties) OR {WORKER})""",
        "CREATE POLICY writers ON audit_event FOR INSERT WITH CHECK (true)",
    ),
    grants=("SELECT, INSERT",),
)
OUTBOX_EVENT = Table(
    name="outbox_event",
    key="occurred_at",
    unique={
        "pk_outbox_event": ("id",),
        "uq_outbox_event_position": ("position",),
        "uq_outbox_event_seq": ("seq",),
    },
    indexes=(
        "CREATE INDEX ix_outbox_event_feed ON outbox_event USING btree (organization_id, seq)",
        "CREATE INDEX ix_outbox_event_unsequenced ON outbox_event USING btree (position) "
        "WHERE seq IS NULL",
    ),
    triggers=(
        "CREATE TRIGGER outbox_event_seq_once BEFORE UPDATE ON outbox_event "
        "FOR EACH ROW EXECUTE FUNCTION outbox_seq_once()",
    ),
    policies=(
        "ALTER TABLE outbox_event ENABLE ROW LEVEL SECURITY",
        f"""CREATE POLICY readers ON outbox_event FOR SELECT
            USING (organization_id = {ORGANIZATION} OR organization_id IS NULL OR {WORKER})""",
        "CREATE POLICY writers ON outbox_event FOR INSERT WITH CHECK (true)",
        f"CREATE POLICY sweep ON outbox_event FOR DELETE USING ({WORKER})",
        f"CREATE POLICY sequencer ON outbox_event FOR UPDATE USING ({WORKER})",
    ),
    grants=("SELECT, INSERT, DELETE", "UPDATE (seq)"),
    foreign_keys=(
        "ALTER TABLE outbox_event ADD CONSTRAINT fk_outbox_event_organization_id_organization "
        "FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE",
    ),
)
TABLES = (AUDIT_EVENT, OUTBOX_EVENT)

MONTH_PARTITIONS = """
CREATE FUNCTION relay_month_partitions(parent text, first_month date, months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET lock_timeout = '2s' AS $$
DECLARE
  month date := date_trunc('month', first_month)::date;
  partition text;
  made integer := 0;
BEGIN
  IF parent NOT IN ('audit_event', 'outbox_event') THEN
    RAISE EXCEPTION 'not a table Relay partitions: %', parent
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Each month is a table every query of the parent plans over: none further than the worker's
  -- most (24 months ahead of this one), whoever calls.
  IF months NOT BETWEEN 1 AND 600 OR first_month < DATE '2000-01-01'
     OR month + make_interval(months => months - 1)
        > date_trunc('month', now() AT TIME ZONE 'UTC') + interval '24 months' THEN
    RAISE EXCEPTION 'months out of range' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR i IN 1..months LOOP
    partition := format('%s_y%sm%s', parent, to_char(month, 'YYYY'), to_char(month, 'MM'));
    -- Named in public: the caller's temporary schema is on the path too, and a temporary
    -- table of the month's name must not pass for its partition.
    IF to_regclass(format('public.%I', partition)) IS NULL THEN
      -- One maker at a time; made apart and attached, which only takes SHARE UPDATE EXCLUSIVE
      -- on the parent (CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).
      PERFORM pg_advisory_xact_lock(hashtext('relay_month_partitions'));
      IF to_regclass(format('public.%I', partition)) IS NULL THEN
        EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS '
                       'INCLUDING CONSTRAINTS)', partition, parent);
        EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I '
                       'FOR VALUES FROM (%L) TO (%L)',
                       parent, partition, month::timestamp AT TIME ZONE 'UTC',
                       (month + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC');
        IF parent = 'audit_event' THEN
          -- TRUNCATE of the parent is refused by its own trigger; of a partition, by this one.
          EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON public.%I '
                         'FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()', partition);
        END IF;
        made := made + 1;
      END IF;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN made;
END
$$"""

DROP_OUTBOX_PARTITIONS = """
CREATE FUNCTION relay_drop_outbox_partitions(keep_months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET lock_timeout = '1s' AS $$
DECLARE
  cutoff timestamptz;
  part record;
  newest bigint;
  redelivered bigint;
  dropped integer := 0;
BEGIN
  IF keep_months < 1 THEN
    RAISE EXCEPTION 'keep at least one month' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  cutoff := (date_trunc('month', now() AT TIME ZONE 'UTC')
             - make_interval(months => keep_months)) AT TIME ZONE 'UTC';
  FOR part IN
    SELECT c.oid::regclass::text AS name,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]
             ::timestamptz AS upper
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'outbox_event'::regclass
    ORDER BY 2
  LOOP
    EXIT WHEN part.upper > cutoff;
    -- The month goes only once nothing still needs one of its events; else it and every later
    -- month wait (what is dropped stays a prefix of the feed, which the horizon then names).
    EXECUTE format($check$
      SELECT CASE WHEN
        EXISTS (SELECT FROM %1$s e WHERE e.seq IS NULL)
        OR EXISTS (SELECT FROM webhook_delivery d JOIN %1$s e ON e.id = d.event_id
                   WHERE d.status = 'pending')
        OR EXISTS (SELECT FROM webhook_subscription s JOIN %1$s e
                     ON (e.organization_id = s.organization_id OR e.organization_id IS NULL)
                    AND e.seq > s.cursor_seq
                   WHERE s.enabled)
        OR EXISTS (SELECT FROM notification_cursor n JOIN %1$s e ON e.seq > n.seq)
      THEN NULL ELSE coalesce((SELECT max(seq) FROM %1$s), 0) END
    $check$, part.name) INTO newest;
    EXIT WHEN newest IS NULL;
    BEGIN
      -- Sent or given up: the deliveries (and their attempts) go with their events. One
      -- redelivered by hand since the check (its row was locked; the delete met it pending) is
      -- still to be sent: then nothing of the month goes, and it and every later one wait.
      EXECUTE format($delete$
        WITH gone AS (DELETE FROM webhook_delivery d USING %s e WHERE e.id = d.event_id
                      RETURNING d.status)
        SELECT count(*) FROM gone WHERE status = 'pending'
      $delete$, part.name) INTO redelivered;
      IF redelivered > 0 THEN
        RAISE EXCEPTION 'a delivery of % was redelivered', part.name
          USING ERRCODE = 'object_in_use';
      END IF;
      UPDATE outbox_horizon SET seq = newest WHERE id = 1 AND seq < newest;
      EXECUTE format('ALTER TABLE outbox_event DETACH PARTITION %s', part.name);
      EXECUTE format('DROP TABLE %s', part.name);
    EXCEPTION WHEN object_in_use THEN
      EXIT;
    END;
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END
$$"""


def _functions(create: bool) -> None:
    signatures = (
        "relay_month_partitions(text, date, integer)",
        "relay_drop_outbox_partitions(integer)",
    )
    if not create:
        for signature in signatures:
            op.execute(f"DROP FUNCTION {signature}")
        return
    op.execute(MONTH_PARTITIONS)
    op.execute(DROP_OUTBOX_PARTITIONS)
    for signature in signatures:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(
            f"""DO $grant$ BEGIN
              IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role()}') THEN
                EXECUTE format('GRANT EXECUTE ON FUNCTION {signature} TO %I', '{app_role()}');
              END IF;
            END $grant$"""
        )


def _rebuild(table: Table, *, partitioned: bool) -> None:
    """The table made again, partitioned by month or not, with its rows, keys, indexes,
    triggers, policies and grants."""
    name, old = table.name, f"{table.name}_before_0029"
    op.execute(f"ALTER TABLE {name} RENAME TO {old}")
    for constraint in table.unique:
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {constraint}")
    for index in table.indexes:
        op.execute(f"DROP INDEX {index.split()[2]}")
    op.execute(f"ALTER SEQUENCE {name}_position_seq RENAME TO {old}_position_seq")
    layout = f"PARTITION BY RANGE ({table.key})" if partitioned else ""
    op.execute(
        f"CREATE TABLE {name} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING IDENTITY INCLUDING STORAGE) {layout}"
    )
    op.execute(
        f"SELECT setval('{name}_position_seq', last_value, is_called) FROM {old}_position_seq"  # noqa: S608 (this file's names)
    )
    if partitioned:
        # Every month that has rows, the month before this one (a clock a little behind at the
        # turn of a month) and the months ahead.
        op.execute(
            f"""SELECT relay_month_partitions('{name}', first, (
                  (extract(year FROM age(last, first)) * 12
                   + extract(month FROM age(last, first)))::integer + 1))
                FROM (SELECT least(
                        (SELECT date_trunc('month', min({table.key}) AT TIME ZONE 'UTC')::date
                         FROM {old}),
                        (date_trunc('month', now() AT TIME ZONE 'UTC')
                         - interval '1 month')::date) AS first,
                        (date_trunc('month', now() AT TIME ZONE 'UTC')
                         + interval '{MONTHS_AHEAD} months')::date AS last) AS span"""  # noqa: S608
        )
    op.execute(f"INSERT INTO {name} SELECT * FROM {old}")  # noqa: S608 (this file's names)
    op.execute(f"DROP TABLE {old}")
    for statement in (
        *table.keys(partitioned),
        *table.indexes,
        *table.foreign_keys,
        *table.triggers,
        *table.policies,
    ):
        op.execute(statement)
    for privileges in table.grants:
        grant_to_app(name, privileges)


def _delivery_event_key(columns: str, referred: str) -> None:
    """A delivery's foreign key to its event (deleted with it)."""
    op.execute(
        "ALTER TABLE webhook_delivery ADD CONSTRAINT fk_webhook_delivery_event_id_outbox_event "
        f"FOREIGN KEY ({columns}) REFERENCES outbox_event ({referred}) ON DELETE CASCADE"
    )


def upgrade() -> None:
    _functions(create=True)
    op.execute("ALTER TABLE audit_chain DROP CONSTRAINT fk_audit_chain_event_id_audit_event")
    op.execute(
        "ALTER TABLE webhook_delivery DROP CONSTRAINT fk_webhook_delivery_event_id_outbox_event"
    )
    op.execute("ALTER TABLE webhook_delivery ADD COLUMN event_occurred_at timestamptz")
    op.execute(
        """UPDATE webhook_delivery d SET event_occurred_at = e.occurred_at
           FROM outbox_event e WHERE e.id = d.event_id"""
    )
    op.execute("ALTER TABLE webhook_delivery ALTER COLUMN event_occurred_at SET NOT NULL")
    for table in TABLES:
        _rebuild(table, partitioned=True)
    _delivery_event_key("event_id, event_occurred_at", "id, occurred_at")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE webhook_delivery DROP CONSTRAINT fk_webhook_delivery_event_id_outbox_event"
    )
    op.execute("ALTER TABLE webhook_delivery DROP COLUMN event_occurred_at")
    for table in TABLES:
        _rebuild(table, partitioned=False)
    _delivery_event_key("event_id", "id")
    op.execute(
        "ALTER TABLE audit_chain ADD CONSTRAINT fk_audit_chain_event_id_audit_event "
        "FOREIGN KEY (event_id) REFERENCES audit_event (id)"
    )
    _functions(create=False)
