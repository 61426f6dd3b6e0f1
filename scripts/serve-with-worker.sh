#!/usr/bin/env bash
# `make run`'s last step: the worker (webhook delivery, referral SLA, retention) in the
# background and the API in the foreground; Ctrl-C, or either one ending, stops both.
#   usage: scripts/serve-with-worker.sh HOST PORT
set -euo pipefail
host="$1"; port="$2"
bin=.venv/bin

"$bin/relay" worker &
worker=$!
"$bin/relay" serve --host "$host" --port "$port" &
api=$!

stop() {
  trap - INT TERM EXIT
  kill -TERM "$api" "$worker" 2>/dev/null || true
  wait "$api" "$worker" 2>/dev/null || true
}
trap stop INT TERM EXIT
# Whichever ends first (Ctrl-C reaches both; a crash reaches one), the other is stopped.
wait -n "$api" "$worker" || true
