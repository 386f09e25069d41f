# AquaLab — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# make verify: valid + invalid cases per operation and role (100 + 100), and pytest-xdist
# workers (one per fuzzed role: anonymous, admin, technician, viewer).
FUZZ_EXAMPLES ?= 100
VERIFY_WORKERS ?= 4

.PHONY: run stop test verify lint typecheck contracts unit contract integration e2e browser install browser-deps poppler-deps bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Serve on http://127.0.0.1:8000 (HOST/PORT override); embedded PostgreSQL under ./var when DATABASE_URL is unset.
run: install
	$(BIN)/aqualab serve

## Stop what `make run` started: the server (if still running) and the embedded PostgreSQL.
stop:
	@if [ -f var/aqualab.pid ]; then kill $$(cat var/aqualab.pid) 2>/dev/null || true; rm -f var/aqualab.pid; fi
	@if [ -x $(BIN)/aqualab ] && [ -d var/pg/pgdata ]; then $(BIN)/aqualab db stop; fi

## Lint, type checks, import contracts, then every test (starts its own throwaway PostgreSQL).
test: install browser-deps poppler-deps lint typecheck contracts
	$(BIN)/pytest -q

## The long runs (`pytest -m verify`, budgets raised): schemathesis, 200 cases per operation and role.
verify: install
	AQUALAB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -m verify -n $(VERIFY_WORKERS) -p tests.fuzz.report

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy domain application adapters entrypoints migrations

contracts: install
	$(BIN)/lint-imports

unit: install poppler-deps
	$(BIN)/pytest -q tests/unit

contract: install
	$(BIN)/pytest -q tests/contract

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	$(BIN)/pytest -q tests/e2e

browser: install browser-deps
	$(BIN)/pytest -q tests/browser

browser-deps:
	@scripts/ensure-chromium.sh

poppler-deps:
	@scripts/ensure-poppler.sh

## The benchmark suite of issue 6 (~40 min; fresh PostgreSQL and data; docs/performance.md).
bench: install
	$(BIN)/python bench/suite.py
	$(BIN)/python bench/mixed.py

clean: stop
	rm -rf var .mypy_cache .pytest_cache .ruff_cache
