#!/usr/bin/env bash
# Make sure a PostgreSQL with PostGIS is reachable for development and tests.
#
# With RELAY_DATABASE_URL set, that database is used as it is and nothing is installed.
# Otherwise, on a Debian machine: install the missing packages, start the local cluster,
# create the owner role (runs migrations, owns every table), the application role (owns
# nothing, gets only the privileges migrations grant it) and the development and test
# databases, then write their URLs to .local/db.env. Running it again changes nothing.
set -euo pipefail

PG_MAJOR="${RELAY_PG_MAJOR:-15}"
PACKAGES=("postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-postgis-3")
OWNER_ROLE="relay_owner"
APP_ROLE="relay_app"
DATABASES=("relay" "relay_test" "relay_bench")
ENV_FILE=".local/db.env"

say() { printf 'db-bootstrap: %s\n' "$*" >&2; }

cannot() {
  cat >&2 <<EOF
db-bootstrap: $*

Relay needs PostgreSQL ${PG_MAJOR}+ with PostGIS 3. Either
  - install the Debian packages ${PACKAGES[*]} (as root) and run this again, or
  - point Relay at a database you already have, for example the one in compose.yaml
    ('docker compose up -d db'):
      export RELAY_DATABASE_URL=postgresql+asyncpg://relay:relay@127.0.0.1:5432/relay
EOF
  exit 1
}

if [ -n "${RELAY_DATABASE_URL:-}" ]; then
  say "RELAY_DATABASE_URL is set: using that database, installing nothing"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else cannot "installing packages needs root (or sudo), and this is user $(id -un)"
  fi
}

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || cannot "this machine has no apt-get to install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    say "package lists look stale; running apt-get update once"
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || cannot "apt-get could not install ${missing[*]}"
  fi
fi

command -v pg_lsclusters >/dev/null 2>&1 || cannot "pg_lsclusters (postgresql-common) is missing"
cluster=$(pg_lsclusters --no-header | awk -v v="$PG_MAJOR" '$1 == v { print $2; exit }')
if [ -z "$cluster" ]; then
  say "creating cluster ${PG_MAJOR}/main"
  as_root pg_createcluster "$PG_MAJOR" main >/dev/null
  cluster=main
fi
port=$(pg_lsclusters --no-header | awk -v v="$PG_MAJOR" -v c="$cluster" '$1 == v && $2 == c { print $3 }')
state=$(pg_lsclusters --no-header | awk -v v="$PG_MAJOR" -v c="$cluster" '$1 == v && $2 == c { print $4 }')
if [ "$state" != "online" ]; then
  say "starting cluster ${PG_MAJOR}/${cluster} on port ${port}"
  # pg_ctlcluster switches to the cluster owner (postgres) itself: the server never runs as root.
  as_root pg_ctlcluster "$PG_MAJOR" "$cluster" start
fi

psql_admin() {
  export PGOPTIONS="-c client_min_messages=warning"
  if [ "$(id -un)" = "postgres" ]; then psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"
  else as_root runuser -u postgres -- psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"
  fi
}

for _ in $(seq 1 30); do
  psql_admin -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
psql_admin -d postgres -c 'SELECT 1' >/dev/null || cannot "the local cluster on port ${port} does not answer"

# Memory and planner settings for a machine of this size (a fresh cluster assumes 128 MB and
# spinning disks): a quarter of the memory for shared buffers, at most 4 GB; SSD page costs; no JIT,
# which only slows short queries like Relay's. shared_buffers needs a restart, done once.
memory_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
buffers_mb=$(( memory_kb / 4 / 1024 ))
[ "$buffers_mb" -gt 4096 ] && buffers_mb=4096
if [ "$buffers_mb" -ge 256 ]; then
  current=$(psql_admin -d postgres -Atc "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'")
  psql_admin -d postgres >/dev/null <<SQL
ALTER SYSTEM SET shared_buffers = '${buffers_mb}MB';
ALTER SYSTEM SET effective_cache_size = '$(( memory_kb / 2 / 1024 ))MB';
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET jit = off;
SELECT pg_reload_conf();
SQL
  if [ "$current" != "$buffers_mb" ]; then
    say "restarting ${PG_MAJOR}/${cluster} for shared_buffers = ${buffers_mb} MB"
    as_root pg_ctlcluster "$PG_MAJOR" "$cluster" restart
    for _ in $(seq 1 30); do
      psql_admin -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
fi

# The roles, the databases and their extensions (shared with scripts/cluster.sh).
"$(dirname "$0")/db-roles.sh" "$port" "${DATABASES[@]}"

mkdir -p "$(dirname "$ENV_FILE")"
tmp="${ENV_FILE}.tmp"
cat >"$tmp" <<EOF
# Written by scripts/db-bootstrap.sh for the local cluster ${PG_MAJOR}/${cluster}. Not secret, not committed.
LOCAL_DATABASE_URL=postgresql+asyncpg://${APP_ROLE}:${APP_ROLE}@127.0.0.1:${port}/relay
LOCAL_MIGRATION_DATABASE_URL=postgresql+asyncpg://${OWNER_ROLE}:${OWNER_ROLE}@127.0.0.1:${port}/relay
LOCAL_TEST_DATABASE_URL=postgresql+asyncpg://${APP_ROLE}:${APP_ROLE}@127.0.0.1:${port}/relay_test
LOCAL_TEST_MIGRATION_DATABASE_URL=postgresql+asyncpg://${OWNER_ROLE}:${OWNER_ROLE}@127.0.0.1:${port}/relay_test
LOCAL_BENCH_DATABASE_URL=postgresql+asyncpg://${APP_ROLE}:${APP_ROLE}@127.0.0.1:${port}/relay_bench
LOCAL_BENCH_MIGRATION_DATABASE_URL=postgresql+asyncpg://${OWNER_ROLE}:${OWNER_ROLE}@127.0.0.1:${port}/relay_bench
EOF
if cmp -s "$tmp" "$ENV_FILE"; then rm -f "$tmp"; else mv "$tmp" "$ENV_FILE"; fi
say "PostgreSQL ${PG_MAJOR}/${cluster} with PostGIS is ready on 127.0.0.1:${port}"
