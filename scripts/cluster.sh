#!/usr/bin/env bash
# A replicated PostgreSQL cluster for Relay on this machine: etcd and three PostgreSQL 15 +
# PostGIS nodes under Patroni, synchronous replication, Relay's roles and migrations applied
# through the leader (docs/scaling.md).
#   usage: scripts/cluster.sh start|stop|status|env
# start: install Debian's patroni and etcd-server if missing, start etcd and the three nodes
#   (each its own port and data directory, run as postgres), wait for a leader and a
#   synchronous standby, create the roles and databases on the leader, migrate, and write the
#   cluster's URLs to .local/cluster.env. Running it again on a running cluster changes nothing.
# stop: stop the processes this script started (their pid files), replicas first, then etcd.
# Everything lives under RELAY_CLUSTER_DIR (/var/lib/relay-cluster); the ports are fixed apart
# from any other PostgreSQL on the machine (5432 is never touched).
set -euo pipefail

PG_MAJOR="${RELAY_PG_MAJOR:-15}"
BIN_DIR="/usr/lib/postgresql/${PG_MAJOR}/bin"
PACKAGES=("postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-postgis-3" patroni etcd-server)
DIR="${RELAY_CLUSTER_DIR:-/var/lib/relay-cluster}"
HOST=127.0.0.1
NODES=(relay1 relay2 relay3)
PG_PORTS=(5441 5442 5443)
REST_PORTS=(8441 8442 8443)
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
SHARED_BUFFERS="${RELAY_CLUSTER_SHARED_BUFFERS:-256MB}"
DATABASES=(relay relay_bench)
ENV_FILE=".local/cluster.env"
TEMPLATE="deploy/patroni/node.yml.in"

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "this needs root (or sudo), and this is user $(id -un)"
  fi
}

# A command as postgres, detached from this shell (its own session), output to a log, its pid
# (the daemon's own: every wrapper execs) written to a pid file.
start_daemon() {
  local name="$1"; shift
  as_root bash -c 'pidfile="$1"; log="$2"; shift 2
    nohup setsid setpriv --reuid=postgres --regid=postgres --init-groups \
      env -i HOME="'"$DIR"'" PATH=/usr/bin:/bin LANG=C.UTF-8 "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"' _ "$DIR/run/$name.pid" "$DIR/log/$name.log" "$@"
}

running() {
  local pidfile="$DIR/run/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

install_packages() {
  local missing=() package status
  for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  command -v apt-get >/dev/null 2>&1 || die "this machine has no apt-get to install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    say "package lists look stale; running apt-get update once"
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get could not install ${missing[*]}"
  fi
}

# Development passwords, made once per cluster directory and kept in it (mode 600, postgres).
password() {
  local file="$DIR/secrets/$1"
  if ! as_root test -s "$file"; then
    as_root bash -c "umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >'$file'"
  fi
  as_root cat "$file"
}

prepare() {
  as_root install -d -o postgres -g postgres -m 700 "$DIR" "$DIR/run" "$DIR/log" "$DIR/etcd" \
    "$DIR/secrets"
  local index name node_dir
  for index in "${!NODES[@]}"; do
    name="${NODES[$index]}"
    node_dir="$DIR/$name"
    as_root install -d -o postgres -g postgres -m 700 "$node_dir"
    sed -e "s|@NAME@|$name|g" -e "s|@HOST@|$HOST|g" -e "s|@LISTEN@|$HOST|g" \
      -e "s|@CLIENTS@|$HOST/32|g" \
      -e "s|@REST_PORT@|${REST_PORTS[$index]}|g" -e "s|@PG_PORT@|${PG_PORTS[$index]}|g" \
      -e "s|@ETCD_HOSTS@|$HOST:$ETCD_CLIENT_PORT|g" -e "s|@DATA_DIR@|$node_dir/data|g" \
      -e "s|@NODE_DIR@|$node_dir|g" -e "s|@BIN_DIR@|$BIN_DIR|g" \
      -e "s|@SOCKET_DIR@|$DIR/run|g" -e "s|@SHARED_BUFFERS@|$SHARED_BUFFERS|g" \
      -e "s|@SUPERUSER_PASSWORD@|$(password superuser)|g" \
      -e "s|@REPLICATION_PASSWORD@|$(password replication)|g" \
      -e "s|@REWIND_PASSWORD@|$(password rewind)|g" \
      "$TEMPLATE" | as_root bash -c "umask 077; cat >'$node_dir/patroni.yml'"
    as_root chown postgres:postgres "$node_dir/patroni.yml"
  done
}

start_etcd() {
  if running etcd; then return; fi
  say "starting etcd on $HOST:$ETCD_CLIENT_PORT"
  start_daemon etcd /usr/bin/etcd --name relay-etcd --data-dir "$DIR/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://$HOST:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "relay-etcd=http://$HOST:$ETCD_PEER_PORT" \
    --enable-v2=true
  for _ in $(seq 1 60); do
    curl -fsS "http://$HOST:$ETCD_CLIENT_PORT/health" >/dev/null 2>&1 && return
    sleep 0.5
  done
  die "etcd does not answer (see $DIR/log/etcd.log)"
}

start_nodes() {
  local index name bootstrap=yes
  # A cluster that ran before (any node has data) restarts all its nodes at once: the leader
  # after the last failover may be any of them, and the others will not lead without it.
  for name in "${NODES[@]}"; do
    [ -f "$DIR/$name/data/PG_VERSION" ] && bootstrap=no
  done
  for index in "${!NODES[@]}"; do
    name="${NODES[$index]}"
    running "$name" && continue
    say "starting $name: PostgreSQL on $HOST:${PG_PORTS[$index]}, Patroni on $HOST:${REST_PORTS[$index]}"
    start_daemon "$name" /usr/bin/patroni "$DIR/$name/patroni.yml"
    # A new cluster: the first node bootstraps it alone; the others then clone it.
    if [ "$index" -eq 0 ] && [ "$bootstrap" = yes ]; then wait_for_leader 120 >/dev/null; fi
  done
}

# The cluster as Patroni's REST API tells it: one line per member, "name role state lag".
members() {
  local port
  for port in "${REST_PORTS[@]}"; do
    if curl -fsS --max-time 2 "http://$HOST:$port/cluster" 2>/dev/null; then
      break
    fi
  done | /usr/bin/python3 -c '
import json, sys
text = sys.stdin.read()
for member in (json.loads(text)["members"] if text else []):
    print(member["name"], member["role"], member["state"], member.get("lag", "-"), member["port"])
' || true
}

wait_for_leader() {
  local seconds="$1" leader
  for _ in $(seq 1 $((seconds * 2))); do
    leader=$(members | awk '$2 == "leader" && $3 == "running" { print $5; exit }')
    if [ -n "$leader" ]; then echo "$leader"; return; fi
    sleep 0.5
  done
  die "no leader after ${seconds} s (see $DIR/log/)"
}

wait_for_replicas() {
  for _ in $(seq 1 360); do
    if [ "$(members | awk '$2 == "sync_standby" && ($3 == "running" || $3 == "streaming")' | wc -l)" -ge 1 ] &&
      [ "$(members | awk '$2 != "leader" && ($3 == "running" || $3 == "streaming")' | wc -l)" -ge 2 ]; then
      return
    fi
    sleep 0.5
  done
  members >&2
  die "the replicas are not streaming after 180 s (see $DIR/log/)"
}

multi_host_url() {
  local role="$1" database="$2" attributes="$3" hosts="" port
  for port in "${PG_PORTS[@]}"; do hosts+="&host=$HOST:$port"; done
  echo "postgresql+asyncpg://$role:$role@/$database?${hosts#&}&target_session_attrs=$attributes"
}

write_env() {
  mkdir -p "$(dirname "$ENV_FILE")"
  cat >"$ENV_FILE" <<EOF
# Written by scripts/cluster.sh for the Patroni cluster under $DIR. Not secret, not committed.
# Writes go to whichever node is primary now (target_session_attrs=read-write); reads that
# tolerate lag prefer a standby (prefer-standby), and fall back to the primary.
CLUSTER_DATABASE_URL='$(multi_host_url relay_app relay read-write)'
CLUSTER_MIGRATION_DATABASE_URL='$(multi_host_url relay_owner relay read-write)'
CLUSTER_DATABASE_READ_URL='$(multi_host_url relay_app relay prefer-standby)'
CLUSTER_BENCH_DATABASE_URL='$(multi_host_url relay_app relay_bench read-write)'
CLUSTER_BENCH_MIGRATION_DATABASE_URL='$(multi_host_url relay_owner relay_bench read-write)'
CLUSTER_BENCH_DATABASE_READ_URL='$(multi_host_url relay_app relay_bench prefer-standby)'
EOF
}

start() {
  install_packages
  [ -r "$TEMPLATE" ] || die "run from the repository's root ($TEMPLATE missing)"
  prepare
  start_etcd
  start_nodes
  local leader
  leader=$(wait_for_leader 120)
  wait_for_replicas
  say "leader on port $leader; creating Relay's roles and databases there"
  PGHOST="$DIR/run" scripts/db-roles.sh "$leader" "${DATABASES[@]}"
  write_env
  # shellcheck disable=SC1090
  . "./$ENV_FILE"
  local relay=".venv/bin/relay"
  [ -x "$relay" ] || die "$relay missing: run 'make venv' first"
  RELAY_DATABASE_URL="$CLUSTER_DATABASE_URL" RELAY_MIGRATION_DATABASE_URL="$CLUSTER_MIGRATION_DATABASE_URL" \
    "$relay" db upgrade
  # The fictional demo network (as `make run` loads it), for searches to find something.
  RELAY_DATABASE_URL="$CLUSTER_DATABASE_URL" "$relay" demo load --if-empty >/dev/null
  RELAY_DATABASE_URL="$CLUSTER_BENCH_DATABASE_URL" \
    RELAY_MIGRATION_DATABASE_URL="$CLUSTER_BENCH_MIGRATION_DATABASE_URL" "$relay" db upgrade
  status
  say "ready; the URLs are in $ENV_FILE ('make cluster-stop' stops it)"
}

stop_one() {
  local name="$1" pid
  running "$name" || { as_root rm -f "$DIR/run/$name.pid"; return 0; }
  pid=$(cat "$DIR/run/$name.pid")
  as_root kill -TERM "$pid"
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { as_root rm -f "$DIR/run/$name.pid"; return 0; }
    sleep 0.5
  done
  say "$name (pid $pid) did not stop in 60 s"
  return 1
}

# A node's PostgreSQL left running without its Patroni (after a failover test killed Patroni):
# stopped through its own data directory, never by name.
stop_orphan_postgres() {
  local name="$1" data="$DIR/$1/data"
  as_root test -f "$data/postmaster.pid" || return 0
  if as_root runuser -u postgres -- "$BIN_DIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "stopping $name's PostgreSQL left without Patroni"
    as_root runuser -u postgres -- "$BIN_DIR/pg_ctl" -D "$data" stop -m fast -w >/dev/null
  fi
}

stop() {
  local leader_name name
  leader_name=$(members | awk '$2 == "leader" { print $1; exit }')
  for name in "${NODES[@]}"; do
    [ "$name" = "$leader_name" ] || stop_one "$name"
  done
  [ -n "$leader_name" ] && stop_one "$leader_name"
  for name in "${NODES[@]}"; do stop_orphan_postgres "$name"; done
  stop_one etcd
  say "stopped (data kept under $DIR)"
}

status() {
  printf '%-8s %-13s %-10s %-6s %s\n' member role state lag port >&2
  members | awk '{ printf "%-8s %-13s %-10s %-6s %s\n", $1, $2, $3, $4, $5 }' >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) write_env; cat "$ENV_FILE" ;;
  *) die "usage: scripts/cluster.sh start|stop|status|env" ;;
esac
