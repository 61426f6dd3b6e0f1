#!/usr/bin/env bash
# Run a command with Relay's database variables set for MODE (dev or test).
#
# A RELAY_DATABASE_URL already in the environment wins (and, for tests, is the test database);
# otherwise the local cluster's URLs written by scripts/db-bootstrap.sh are used.
#   usage: scripts/with-db.sh dev|test|bench COMMAND [ARG...]
set -euo pipefail
mode="$1"; shift

# The benchmark fills its database with a million generated rows: it never follows
# RELAY_DATABASE_URL, only RELAY_BENCH_DATABASE_URL (and its _MIGRATION_ twin) or the local one.
if [ "$mode" = bench ]; then
  RELAY_DATABASE_URL="${RELAY_BENCH_DATABASE_URL:-}"
  RELAY_MIGRATION_DATABASE_URL="${RELAY_BENCH_MIGRATION_DATABASE_URL:-${RELAY_BENCH_DATABASE_URL:-}}"
fi

if [ -z "${RELAY_DATABASE_URL:-}" ]; then
  [ -f .local/db.env ] || { echo "with-db: .local/db.env missing: run 'make db' first" >&2; exit 1; }
  # shellcheck disable=SC1091
  . ./.local/db.env
  case "$mode" in
    dev)  RELAY_DATABASE_URL="$LOCAL_DATABASE_URL"
          RELAY_MIGRATION_DATABASE_URL="$LOCAL_MIGRATION_DATABASE_URL" ;;
    test) RELAY_DATABASE_URL="$LOCAL_TEST_DATABASE_URL"
          RELAY_MIGRATION_DATABASE_URL="$LOCAL_TEST_MIGRATION_DATABASE_URL" ;;
    bench) RELAY_DATABASE_URL="$LOCAL_BENCH_DATABASE_URL"
          RELAY_MIGRATION_DATABASE_URL="$LOCAL_BENCH_MIGRATION_DATABASE_URL" ;;
    *) echo "with-db: mode must be dev, test or bench" >&2; exit 2 ;;
  esac
fi
: "${RELAY_MIGRATION_DATABASE_URL:=$RELAY_DATABASE_URL}"
export RELAY_DATABASE_URL RELAY_MIGRATION_DATABASE_URL
if [ "$mode" = test ]; then
  # The suite reads only these, so it can never be pointed at a development database by accident.
  export RELAY_TEST_DATABASE_URL="$RELAY_DATABASE_URL"
  export RELAY_TEST_MIGRATION_DATABASE_URL="$RELAY_MIGRATION_DATABASE_URL"
fi
exec "$@"
