# The two set-up commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint sandbox bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/xero-pipeline run

# Parallel workers (pytest-xdist): four on two cores took the suite from 57 to 19 minutes; the
# longest tests start first (xero_pipeline_tests/conftest.py). The slowest 30 are listed at the
# end: the profile behind bench/RESULTS.md's "test suite" figure.
TEST_WORKERS ?= 4

test: $(VENV)/.installed-dev
	$(BIN)/ruff check --output-format concise xero_pipeline xero_pipeline_tests bench
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=30

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --output-format concise xero_pipeline xero_pipeline_tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run_all.py
	cat bench/RESULTS.md

sandbox: $(VENV)/.installed
	$(BIN)/xero-pipeline sandbox --port 8765

clean:
	rm -rf $(VENV) data/ .pytest_cache
