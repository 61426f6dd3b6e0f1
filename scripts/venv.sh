#!/usr/bin/env bash
# Create or refresh .venv from requirements-dev.lock (exact versions, checked hashes), installing
# uv first when the machine has none. Relay itself is installed editable, so .venv/bin/relay
# runs the working tree. The OpenAPI client generator the tests run has an environment of its
# own, .venv/openapi-client, from requirements-openapi-client.lock (its typer is not relay's).
set -euo pipefail
PYTHON="${PYTHON:-python3}"

if command -v uv >/dev/null 2>&1; then
  uv=(uv)
elif "$PYTHON" -m uv --version >/dev/null 2>&1; then
  uv=("$PYTHON" -m uv)
else
  echo "venv: installing uv with $PYTHON -m pip" >&2
  "$PYTHON" -m pip install --quiet uv \
    || { echo "venv: could not install uv; install it ('pip install uv') and run make again" >&2; exit 1; }
  uv=("$PYTHON" -m uv)
fi

"${uv[@]}" venv --quiet --allow-existing --python "$PYTHON" .venv
"${uv[@]}" pip sync --quiet --python .venv/bin/python --require-hashes requirements-dev.lock
"${uv[@]}" pip install --quiet --python .venv/bin/python --no-deps --editable .
"${uv[@]}" venv --quiet --allow-existing --python "$PYTHON" .venv/openapi-client
"${uv[@]}" pip sync --quiet --python .venv/openapi-client/bin/python --require-hashes \
  requirements-openapi-client.lock
