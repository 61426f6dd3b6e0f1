#!/usr/bin/env bash
# Relay's two roles and its databases on a PostgreSQL server, as its superuser (postgres):
# the owner role (runs migrations, owns every table), the application role (owns nothing, gets
# only the privileges migrations grant it), each database owned by the owner, and the
# extensions only a superuser may create. Running it again changes nothing.
#   usage: scripts/db-roles.sh PORT DATABASE...
# PGHOST (a socket directory) picks the server when it is not the default socket's; used by
# scripts/db-bootstrap.sh (the local cluster) and scripts/cluster.sh (the Patroni leader).
set -euo pipefail
port="$1"; shift
OWNER_ROLE="relay_owner"
APP_ROLE="relay_app"

psql_admin() {
  export PGOPTIONS="-c client_min_messages=warning"
  if [ "$(id -un)" = "postgres" ]; then psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"
  else sudo -u postgres psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@"
  fi
}

# Development passwords only: the servers listen on loopback, and production sets its own URLs.
psql_admin -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${OWNER_ROLE}') THEN
    CREATE ROLE ${OWNER_ROLE} LOGIN PASSWORD '${OWNER_ROLE}';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
    CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${APP_ROLE}' NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
END
\$\$;
SQL

for database in "$@"; do
  psql_admin -d postgres <<SQL
SELECT 'CREATE DATABASE ${database} OWNER ${OWNER_ROLE}'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${database}') \gexec
GRANT CONNECT, TEMPORARY ON DATABASE ${database} TO ${APP_ROLE};
SQL
  # PostGIS is not a trusted extension: the superuser creates it once, the owner role's
  # migrations then find it in place ("CREATE EXTENSION IF NOT EXISTS"). pg_trgm (the text
  # search's indexes) and intarray (the search's opening hours) are trusted, but are created
  # here too for owners without CREATE.
  psql_admin -d "$database" <<SQL
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS intarray;
SQL
done
