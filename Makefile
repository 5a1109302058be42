# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint pytest system-deps js-deps conformance-deep bench lock clean

# Pinned dependencies, then the project itself without build isolation, so a second run needs no network.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/mockserver serve

test: lint pytest

# Dovecot (IMAP), PostgreSQL and Chromium (the inbox page) come from Debian; the script installs what is missing.
system-deps:
	./scripts/install-system-deps.sh

# The JavaScript the tests run (pinned by tests/js/package-lock.json): the official CometD client for the GWS
# notification tests; openapi-typescript, openapi-fetch and tsc for the typed-client tests. Reinstalled when
# the lock file is newer than the installed tree.
js-deps:
	@test tests/js/node_modules/.package-lock.json -nt tests/js/package-lock.json || (cd tests/js && npm ci --no-audit --no-fund)

pytest: $(STAMP) system-deps js-deps
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check mockserver tests bench
	$(BIN)/ruff format --check mockserver tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench

# Schemathesis' coverage phase on top of `make test`'s campaign: every boundary of every property (slow).
conformance-deep: $(STAMP) system-deps
	MOCKSERVER_CONFORMANCE_DEEP=1 $(BIN)/pytest -q tests/tools/test_conformance.py

# Our mock (1 and 2 workers) vs Prism and a bare-Starlette ceiling; installs wrk (apt) and Prism (npm) when
# missing. BENCH_QUICK=1 for a smoke run. Results: bench/results/latest.json; see bench/README.md.
bench: $(STAMP)
	./bench/setup.sh
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --disable-pip-version-check -e ".[test]" hatchling editables
	.lockenv/bin/pip freeze --exclude-editable --all | grep -v -E '^(pip|setuptools|wheel)==' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
