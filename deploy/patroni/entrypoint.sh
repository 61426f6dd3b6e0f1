#!/bin/sh
# A container of compose.yaml's cluster profile: `etcd` runs the configuration store, `node`
# renders node.yml.in for this container (NAME; the passwords from the environment) and runs
# Patroni. Data under /data (a volume).
set -eu
case "${1:-node}" in
  etcd)
    exec etcd --name "$(hostname)" --data-dir /data/etcd \
      --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls "http://$(hostname):2379" \
      --listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls "http://$(hostname):2380" \
      --initial-cluster "$(hostname)=http://$(hostname):2380" --enable-v2=true ;;
  node)
    : "${NAME:?NAME is this node's name}" "${ETCD_HOSTS:=etcd:2379}"
    : "${PATRONI_SUPERUSER_PASSWORD:?}" "${PATRONI_REPLICATION_PASSWORD:?}" "${PATRONI_REWIND_PASSWORD:?}"
    mkdir -p /data/run
    sed -e "s|@NAME@|$NAME|g" -e "s|@HOST@|$NAME|g" -e "s|@LISTEN@|0.0.0.0|g" \
      -e "s|@CLIENTS@|samenet|g" -e "s|@REST_PORT@|8008|g" -e "s|@PG_PORT@|5432|g" \
      -e "s|@ETCD_HOSTS@|$ETCD_HOSTS|g" -e "s|@DATA_DIR@|/data/pgdata|g" -e "s|@NODE_DIR@|/data|g" \
      -e "s|@BIN_DIR@|/usr/lib/postgresql/15/bin|g" -e "s|@SOCKET_DIR@|/data/run|g" \
      -e "s|@SHARED_BUFFERS@|${SHARED_BUFFERS:-256MB}|g" \
      -e "s|@SUPERUSER_PASSWORD@|$PATRONI_SUPERUSER_PASSWORD|g" \
      -e "s|@REPLICATION_PASSWORD@|$PATRONI_REPLICATION_PASSWORD|g" \
      -e "s|@REWIND_PASSWORD@|$PATRONI_REWIND_PASSWORD|g" \
      /etc/relay/node.yml.in >/data/patroni.yml
    exec patroni /data/patroni.yml ;;
  *) echo "usage: entrypoint.sh etcd|node" >&2; exit 2 ;;
esac
