# closeloop: `make run` runs the whole stack on the embedded default, `make test` runs the suite.
# Both set up everything they need (a virtual environment with pinned packages) first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench install browser axe clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/closeloop dev

# The store and projection cases also run on PostgreSQL when CLOSELOOP_TEST_POSTGRES_URL names
# a server (each test makes a database of its own); .ci/run sets it and requires it.
PG_URL_DEFAULT := postgresql+psycopg://postgres@127.0.0.1:5432/postgres

# The browser tests drive Debian's Chromium (Playwright's own browser download does not work
# here); install it when it is missing.
# A Chinese font makes the screenshots readable.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  echo "installing Debian's chromium and a Chinese font for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

# axe-core (pinned in package.json / package-lock.json) checks the pages' accessibility in
# the browser tests; it is installed from npm once, never fetched while the tests run.
AXE := node_modules/axe-core/axe.min.js

axe: $(AXE)

$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install browser axe
	@if [ -z "$$CLOSELOOP_TEST_POSTGRES_URL" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  echo "PostgreSQL answers on 127.0.0.1:5432: running the PostgreSQL cases too"; \
	  export CLOSELOOP_TEST_POSTGRES_URL="$(PG_URL_DEFAULT)"; \
	fi; $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
