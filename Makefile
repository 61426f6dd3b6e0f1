# Relay's entry points. `make run` and `make test` work on a fresh clone (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
RELAY_PORT ?= 8000
PYTHON ?= python3
# tests/test_generated_client.py generates a partner's client with it. It pins typer below the
# version relay's CLI runs on, so it has an environment of its own: .venv/openapi-client.
OPENAPI_CLIENT := openapi-python-client>=0.29

.PHONY: help run test lint typecheck pytest bench bench-referrals bench-stats db venv migrate openapi lock \
	clean cluster cluster-stop cluster-status cluster-failover test-cluster bench-replicas

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: venv db ## Migrate, load the demo network, serve on 127.0.0.1:$RELAY_PORT with the worker beside it
	@scripts/with-db.sh dev $(BIN)/relay db upgrade
	@scripts/with-db.sh dev $(BIN)/relay demo load --if-empty
	@RELAY_PUBLIC_URL=http://127.0.0.1:$(RELAY_PORT) scripts/with-db.sh dev $(BIN)/relay demo credentials
	@echo "Relay on http://127.0.0.1:$(RELAY_PORT) (lookup page at /lookup, sign in at /app/sign-in, docs at /docs) and its worker; Ctrl-C stops both"
	@# Development only: webhooks may reach this machine (loopback), so a partner can try them here.
	@RELAY_PORT=$(RELAY_PORT) RELAY_PUBLIC_URL=$${RELAY_PUBLIC_URL:-http://127.0.0.1:$(RELAY_PORT)} \
	  RELAY_WEBHOOK_ALLOWED_NETWORKS=$${RELAY_WEBHOOK_ALLOWED_NETWORKS:-127.0.0.0/8,::1/128} \
	  scripts/with-db.sh dev scripts/serve-with-worker.sh 127.0.0.1 $(RELAY_PORT)

test: venv db ## Migrate the test database, then lint, type-check, check the layers and run the whole suite
	@scripts/with-db.sh test $(BIN)/relay db upgrade
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict api/
	$(BIN)/lint-imports --no-logo
	@scripts/test-tools.sh
	scripts/with-db.sh test $(BIN)/pytest $(PYTEST_ARGS)

pytest: venv db ## Only the test suite (PYTEST_ARGS="-k name" to pick tests)
	@scripts/with-db.sh test $(BIN)/relay db upgrade
	@scripts/test-tools.sh
	scripts/with-db.sh test $(BIN)/pytest $(PYTEST_ARGS)

bench: venv db ## Benchmark the searches on 1M points (BENCH_ARGS="--points 100000 --duration 5 --variants none")
	@TOOL_PACKAGES=wrk TOOL_COMMANDS=wrk scripts/test-tools.sh
	@scripts/with-db.sh bench $(BIN)/relay db upgrade
	scripts/with-db.sh bench $(BIN)/python -m bench.run $(BENCH_ARGS)

bench-referrals: venv db ## Benchmark referral creation against a plain insert (BENCH_ARGS="--duration 5")
	@scripts/with-db.sh bench $(BIN)/relay db upgrade
	scripts/with-db.sh bench $(BIN)/python -m bench.referrals $(BENCH_ARGS)

bench-stats: venv db ## Dashboard queries' p99 on 1M referrals over a year (BENCH_ARGS="--referrals 100000 --requests 50")
	@scripts/with-db.sh bench $(BIN)/relay db upgrade
	scripts/with-db.sh bench $(BIN)/python -m bench.stats $(BENCH_ARGS)

cluster: venv ## Start etcd and 3 PostgreSQL nodes under Patroni (ports 5441-5443), migrate (docs/scaling.md)
	@scripts/cluster.sh start

cluster-stop: ## Stop the Patroni cluster started by `make cluster` (its data is kept)
	@scripts/cluster.sh stop

cluster-failover: cluster ## Kill the cluster's primary while referrals are created over HTTP; check nothing is lost
	@set -a && . ./.local/cluster.env && set +a && $(BIN)/python -m bench.failover $(FAILOVER_ARGS)

test-cluster: venv ## The failover test on a fresh start of the cluster (make cluster-failover), then stop it; .ci/run runs it after make test
	@scripts/cluster.sh start
	@set -a && . ./.local/cluster.env && set +a && $(BIN)/python -m bench.failover $(FAILOVER_ARGS); \
	  status=$$?; scripts/cluster.sh stop; exit $$status

bench-replicas: cluster ## Search throughput with reads on 1 and 2 replicas against the primary alone (BENCH_ARGS="--points 50000")
	@TOOL_PACKAGES=wrk TOOL_COMMANDS=wrk scripts/test-tools.sh
	@set -a && . ./.local/cluster.env && set +a && $(BIN)/python -m bench.replicas $(BENCH_ARGS)

cluster-status: ## The Patroni cluster's members, roles and lag
	@scripts/cluster.sh status

lint: venv ## ruff lint and format check, and the layer rules (import-linter contracts)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: venv ## mypy --strict on api/
	$(BIN)/mypy --strict api/

db: ## Make sure a PostgreSQL with PostGIS is reachable (installs and starts one if needed)
	@scripts/db-bootstrap.sh

migrate: venv db ## Migrate the development database to the newest revision
	scripts/with-db.sh dev $(BIN)/relay db upgrade

venv: $(VENV)/.installed ## Create .venv from requirements-dev.lock (and .venv/openapi-client)

$(VENV)/.installed: requirements-dev.lock requirements-openapi-client.lock pyproject.toml scripts/venv.sh
	@PYTHON=$(PYTHON) scripts/venv.sh
	@touch $@

openapi: venv ## Write openapi/openapi.json from the app
	$(BIN)/relay openapi

lock: ## Re-resolve pyproject.toml into requirements.lock (runtime) and requirements-dev.lock
	uv lock --quiet
	uv export --quiet --format requirements.txt --no-default-groups --no-emit-project --no-header --no-annotate > requirements.lock
	uv export --quiet --format requirements.txt --all-groups --no-emit-project --no-header --no-annotate > requirements-dev.lock
	echo "$(OPENAPI_CLIENT)" | uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header --no-annotate - -o requirements-openapi-client.lock

clean: ## Remove the virtual environment and caches (databases are left alone)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
