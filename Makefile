# The project's commands. Everything the project needs is installed from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: install install-test run test lint typecheck bench bench-quality chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@ $(STAMP)

install: $(STAMP)

install-test: $(TSTAMP) chromium

# The browser test (tests/test_browser.py) drives Debian's Chromium: installed when missing.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  ( [ "$$(id -u)" = 0 ] && SUDO= || SUDO="sudo -n"; \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ) || \
	  echo "Chromium not installed: tests/test_browser.py is skipped (and fails under CI=true)"

run: install
	$(BIN)/python -m bot db upgrade
	$(BIN)/python -m bot serve

lint: install-test
	$(BIN)/ruff check bot handlers tests benchmarks
	$(BIN)/mypy

test: install-test lint
	$(BIN)/python -m pytest -q

bench-quality: install-test
	$(BIN)/python benchmarks/quality.py

# Not part of `make test`: each script prints a table and appends it to benchmarks/RESULTS.md.
# The load benchmark adds PostgreSQL runs when TEST_DATABASE_URL is set.
bench: install-test
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/kb_scaling.py
	$(BIN)/python benchmarks/load.py

# Not part of `make test`: webhooks under faults (database away, server killed) against
# PostgreSQL (TEST_DATABASE_URL or the local default); the report goes to benchmarks/RESULTS.md.
chaos: install-test
	$(BIN)/python benchmarks/chaos.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
