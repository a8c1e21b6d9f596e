# The reform monitoring warehouse. Two commands do everything on a fresh machine:
#   make demo   # install, generate sample data, run the Airflow DAGs, build, validate, publish
#   make test   # install, then the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint lock clean bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned stack into $(VENV) (first time: about a minute)"
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
	  || $(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/reform demo

# Two workers (pytest-xdist), one test file at a time each; the files sharing the demo warehouse go
# together (tests/conftest.py). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"

# The benchmark: pipeline vs the hand-written DuckDB floor vs pandas, at city and province scale
# (generates about 5 GB into bench/data the first time; see bench/run.py). BENCH_SCALES=small for a try.
BENCH_SCALES ?= city,province
bench: install
	$(BIN)/python -m bench --scales $(BENCH_SCALES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ingest dags tests

# Re-resolve the lock from pyproject.toml in a throw-away venv (needs PyPI).
lock:
	rm -rf /tmp/reform-lock && $(PYTHON) -m venv /tmp/reform-lock
	/tmp/reform-lock/bin/pip install -q -e '.[dev]'
	( echo "# Fully pinned lock for Python 3.11, resolved from pyproject.toml on $$(date +%F) (pip freeze of a clean venv)."; \
	  echo "# Regenerate: make lock. Airflow's constraints URL is unreachable offline, so this file is our constraints."; \
	  /tmp/reform-lock/bin/pip freeze --exclude-editable ) > requirements.lock

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache
