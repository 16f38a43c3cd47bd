# Two commands are the whole set-up: `make run` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_USER ?= postgres
PG_DB ?= test
BYOKBOT_TEST_POSTGRES_URL ?= postgresql+psycopg://$(PG_USER)@$(PG_HOST):$(PG_PORT)/$(PG_DB)
export BYOKBOT_TEST_POSTGRES_URL

.PHONY: run test lint bench lock postgres compose-check

# A fresh venv's pip (23 on Python 3.11) fails on hash-locked extras: the first thing a new
# venv installs is a newer pip, itself pinned and hash-checked.
# (A stamp, not $(BIN)/python: that is a symlink, and make would read its target's age.)
$(VENV)/.pip-installed: requirements-pip.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-pip.lock
	touch $@

# Stamps record which lock file was installed; they are redone when it changes.
$(VENV)/.run-installed: requirements.lock pyproject.toml | $(VENV)/.pip-installed
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml | $(VENV)/.pip-installed
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/byokbot serve

LINT = $(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

lint: $(VENV)/.dev-installed
	$(LINT)

# The whole suite on SQLite and on PostgreSQL (the PostgreSQL run keeps the tests that use
# the run's database), as shards side by side: see tests/run-suites.
TEST_SHARDS ?= sqlite:1/3 sqlite:2/3 sqlite:3/3 postgres:1/3 postgres:2/3 postgres:3/3

# Lint runs beside the shards (mypy works the CPU while the shards mostly wait); its output
# comes first, the shards' total line last, and either failing fails `make test`.
test: $(VENV)/.dev-installed postgres
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	{ $(LINT); } >"$$out/lint" 2>&1 & lint=$$!; \
	tests/run-suites $(BIN)/pytest $(TEST_SHARDS) >"$$out/suites" 2>&1 & suites=$$!; \
	wait $$lint; lint_rc=$$?; cat "$$out/lint"; \
	[ $$lint_rc = 0 ] || echo "make test: lint failed (above); the suites still run" >&2; \
	wait $$suites; rc=$$?; cat "$$out/suites"; \
	[ $$lint_rc = 0 ] || rc=1; exit $$rc

# Start the local PostgreSQL cluster if it is down; fail loudly if there is none, because a
# suite that silently skipped its PostgreSQL half would prove nothing.
postgres:
	@if ! pg_isready -q -h $(PG_HOST) -p $(PG_PORT) 2>/dev/null; then \
	  echo "PostgreSQL is down on $(PG_HOST):$(PG_PORT); starting the local cluster"; \
	  version=$$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1); \
	  if [ -z "$$version" ] || ! command -v pg_ctlcluster >/dev/null; then \
	    echo "make test: no PostgreSQL server is running and none is installed to start" >&2; \
	    exit 1; \
	  fi; \
	  pg_ctlcluster --skip-systemctl-redirect $$version main start || exit 1; \
	  for i in $$(seq 1 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	fi
	@pg_isready -q -h $(PG_HOST) -p $(PG_PORT) || \
	  { echo "make test: PostgreSQL on $(PG_HOST):$(PG_PORT) did not come up" >&2; exit 1; }
	@psql -h $(PG_HOST) -p $(PG_PORT) -U $(PG_USER) -d postgres -tAc \
	  "SELECT 1 FROM pg_database WHERE datname = '$(PG_DB)'" | grep -q 1 || \
	  createdb -h $(PG_HOST) -p $(PG_PORT) -U $(PG_USER) $(PG_DB)

bench: $(VENV)/.dev-installed
	@set -e; found=0; for script in bench/*.py; do \
	  [ -e "$$script" ] || continue; found=1; \
	  echo "== $$script"; PYTHONPATH=. $(BIN)/python "$$script"; \
	done; [ $$found = 1 ] || echo "no benchmarks in bench/"

PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

# requirements-build.lock pins the build backend (setuptools, wheel) with hashes, so the image
# builds the byokbot wheel from hash-checked artefacts only (Dockerfile, builder stage).
lock: $(VENV)/.dev-installed
	$(PIP_COMPILE) --output-file requirements-pip.lock requirements-pip.in
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --output-file requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) --only-build-deps --build-deps-for wheel --output-file requirements-build.lock \
	  pyproject.toml

# `docker compose up --build` proven end to end (stand-in base images, healthchecks, non-root
# user). Needs root and a few minutes; not part of `make test`. It clones this repository,
# so it checks what is committed, not the uncommitted work tree.
compose-check:
	../shared/tools/compose-check $(CURDIR)
