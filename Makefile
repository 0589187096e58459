# Two commands set up a fresh machine: `make run` serves the app, `make test` checks it.
# Needs only python3 and make; everything else is installed from the lock file.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION ?= 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install run serve worker migrate superuser version test lint typecheck contracts \
        format lock clean migration

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode at install, dependencies and app: a start that compiles its imports takes ~3 s
# instead of ~1 s, and every start does so where the venv is read-only (docs/deployment.md).
$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-groups --compile-bytecode
	$(BIN)/python -m compileall -q app
	@touch $@ $(VENV)/.serving

# Serving needs only the runtime dependencies and the reloader: a first `make run` does not
# wait for the test, browser and profiling tools (--inexact keeps them if already there).
$(VENV)/.serving: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --no-dev --group serve --inexact --compile-bytecode
	$(BIN)/python -m compileall -q app
	@touch $@

install: $(VENV)/.installed ## create .venv and install the locked dependencies

run: $(VENV)/.serving migrate superuser ## migrate the database and serve with reload on HOST:PORT
	$(BIN)/uvicorn app.main:app --reload --host $(HOST) --port $(PORT) --no-access-log

serve: $(VENV)/.serving ## serve like production: gunicorn -c gunicorn.conf.py
	$(BIN)/gunicorn -c gunicorn.conf.py

worker: $(VENV)/.serving ## run background jobs (same settings and logs as the API; docs/jobs.md)
	$(BIN)/python -m app.worker

migrate: $(VENV)/.serving ## apply every migration (alembic upgrade head)
	$(BIN)/alembic upgrade head

superuser: $(VENV)/.serving ## create the first superuser from FIRST_SUPERUSER_* (idempotent)
	$(BIN)/python -m app.cli create-superuser

version: install ## write app/core/version_info.py from git
	$(BIN)/python -m tools.build_info

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy strict on app/ and tools/
	$(BIN)/mypy

contracts: install ## import-linter architecture contracts
	$(BIN)/lint-imports

# The coverage gate lives here, not in pytest's addopts, so `pytest tests/items` runs one
# domain without failing on the coverage of the others. `make test COV=` runs without it.
COVERAGE_MIN ?= 90
COV ?= --cov=app --cov-report=term --cov-fail-under=$(COVERAGE_MIN)
test: install lint typecheck contracts ## lint, type-check, check contracts, run every test (coverage >= 90%)
	$(BIN)/pytest $(COV) $(PYTEST_ARGS)

format: install ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(UV) ## refresh uv.lock after changing dependencies in pyproject.toml
	$(UV) lock

clean: ## remove the virtualenvs, caches and the local database
	rm -rf $(VENV) $(TOOLS) .bench .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov data

migration: install ## new migration from model changes: make migration m="add orders"
	@test -n "$(m)" || { echo 'usage: make migration m="what it does"'; exit 2; }
	$(BIN)/alembic revision --autogenerate -m "$(m)" \
	  --rev-id $$(printf '%04d' $$(( $$(ls migrations/versions/[0-9]*_*.py 2>/dev/null | wc -l) + 1 )))

# --- production serving -------------------------------------------------------------------
.PHONY: loadcheck loadcheck-short faultcheck jobcheck

# gunicorn listens on a free port from the OS; LOADCHECK_ARGS="--port 9100" picks one.
LOADCHECK_ARGS ?=
loadcheck: install ## gunicorn under load through HUP, recycling, SIGKILL, SIGTERM (about 35 s)
	$(BIN)/python scripts/loadcheck.py $(LOADCHECK_ARGS)

loadcheck-short: install ## the CI run of the load check (about 20 s)
	$(BIN)/python scripts/loadcheck.py --short $(LOADCHECK_ARGS)

jobcheck: install ## 1,000 exports under load while a job worker is killed (PostgreSQL, Redis)
	bash .ci/jobs.sh

faultcheck: install ## the database edge under faults: stopped, frozen, locked, saturated (about 70 s)
	$(BIN)/python scripts/faultcheck.py
# --- shipping: container, cluster, air-gapped install ------------------------------------
WHEELHOUSE ?= wheelhouse
IMAGE ?= fastapi-service-template:latest

.PHONY: wheelhouse ship-check image

# Build it on a machine with the target's OS, CPU architecture and Python ($(PYTHON)).
# Beside the wheels: requirements.txt (pinned, with hashes), python-version (what the wheels
# fit) and sbom.cdx.json (CycloneDX, the runtime dependencies as locked).
wheelhouse: install ## build wheelhouse/: every runtime dependency from the lock + this project's wheel + SBOM
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(BIN)/python -m tools.build_info >/dev/null
	$(UV) export --frozen --no-dev --no-emit-project --format requirements.txt \
		--output-file $(WHEELHOUSE)/requirements.txt >/dev/null
	$(UV) export --frozen --no-dev --no-emit-project --format cyclonedx1.5 \
		--preview-features sbom-export --output-file $(WHEELHOUSE)/sbom.cdx.json >/dev/null
	$(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' >$(WHEELHOUSE)/python-version
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --require-hashes \
		--wheel-dir $(WHEELHOUSE) -r $(WHEELHOUSE)/requirements.txt
	$(UV) build --wheel --out-dir $(WHEELHOUSE)
	@ls $(WHEELHOUSE)/*.whl | wc -l | xargs printf '%s wheels in $(WHEELHOUSE)/\n'

ship-check: install ## hadolint, Kubernetes manifests, compose file, offline install, browser test
	bash .ci/ship.sh

# DEPENDENCIES=wheelhouse builds from ./wheelhouse with no network at all, for the Python the
# wheelhouse was made with (its python-version file).
DEPENDENCIES ?= index
PYTHON_VERSION ?= $(if $(filter wheelhouse,$(DEPENDENCIES)),$(shell cat $(WHEELHOUSE)/python-version 2>/dev/null),3.13)
image: ## build the production image (needs a Docker engine); DEPENDENCIES=wheelhouse: offline
	docker build --target runtime --build-arg DEPENDENCIES=$(DEPENDENCIES) \
		$(if $(filter wheelhouse,$(DEPENDENCIES)),--network none) \
		--build-arg PYTHON_VERSION=$(PYTHON_VERSION) \
		--build-arg GIT_BRANCH="$$(git rev-parse --abbrev-ref HEAD)" \
		--build-arg GIT_REVISION="$$(git rev-parse HEAD)" \
		--build-arg BUILD_DATE="$$(date -u '+%Y-%m-%d %H:%M:%S')" -t $(IMAGE) .

# ---- Making the template your own -------------------------------------------------------
.PHONY: domain rename precommit

domain: install ## scaffold a domain: make domain name=orders (then make migrate && make test)
	@test -n "$(name)" || { echo 'usage: make domain name=orders [singular=order]'; exit 2; }
	$(BIN)/python -m tools.new_domain "$(name)" $(if $(singular),--singular "$(singular)")

rename: install ## rename the service: make rename name="Orders Service" code=ord package=orders-service
	$(BIN)/python -m tools.rename $(if $(name),--name "$(name)") $(if $(code),--code "$(code)") \
	  $(if $(package),--package "$(package)")

precommit: install ## install the git pre-commit hook (ruff, mypy; runs offline from .venv)
	$(BIN)/pre-commit install

# --- benchmark (bench/): gunicorn and uvicorn against bare FastAPI baselines, on PostgreSQL ---
.PHONY: bench bench-smoke
BENCH_ARGS ?=

bench: install ## benchmark: Markdown table of req/s, latency, CPU/request, RSS (~15 min, needs PostgreSQL)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install ## every benchmark scenario once, briefly: fails on any error (no timings judged)
	$(BIN)/python -m bench --smoke
