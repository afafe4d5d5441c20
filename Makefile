# Two commands for a fresh machine with Python 3.11+, git and make:
#   make demo   set up .venv and run the example pipeline end to end
#   make test   set up .venv with the dev extras and run the whole test suite

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PYTEST_ARGS ?= -n auto

.PHONY: demo test lint bench clean help postgres-server browser

help:
	@echo "make demo   - set up .venv, train the taxi example from YAML, predict a few rows (run it twice to see the cache)"
	@echo "make test   - set up .venv with dev extras and run the test suite"
	@echo "make lint   - ruff and the import-layer contracts"
	@echo "make bench  - run the benchmarks in benchmarks/"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed; pass PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/shipyard run examples/taxi/pipeline.yaml
	$(BIN)/shipyard predict latest --input examples/taxi/new_trips.csv --keep payment_type --keep fare
	@echo "See the run, its pipeline graph, data report and model in the browser: $(BIN)/shipyard ui"

test: $(VENV)/.installed-dev postgres-server browser
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

# The shared-store tests start a throwaway PostgreSQL server (initdb + pg_ctl).
# Install Debian's package when it is missing and we can (root with apt-get);
# if that fails, those tests are skipped and say why.
postgres-server:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing PostgreSQL (for the shared-store tests)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
	      || echo "Could not install PostgreSQL; its tests will be skipped"; \
	  else echo "PostgreSQL (initdb) not found; its tests will be skipped"; fi; \
	fi

# The dashboard's browser tests drive the system's Chromium (never a browser
# download of Playwright's). Install Debian's package when it is missing and we
# can (root with apt-get); if that fails, those tests are skipped and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
	  && ! command -v google-chrome >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Chromium (for the dashboard's browser tests)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "Could not install Chromium; the browser tests will be skipped"; \
	  else echo "Chromium not found; the browser tests will be skipped"; fi; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/data.py
	$(BIN)/python benchmarks/ui.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/serving.py

clean:
	rm -rf $(VENV) .shipyard .pytest_cache build src/*.egg-info
