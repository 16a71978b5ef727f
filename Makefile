# Two commands matter: `make demo` (an example DAG end to end through real Airflow against the local
# sandbox) and `make test` (lint, types and the whole test suite). Both create .venv when needed.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venv
AIRFLOW_HOME_DIR ?= $(CURDIR)/.airflow/$(AIRFLOW_VERSION)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)

export AIRFLOW_HOME := $(AIRFLOW_HOME_DIR)
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/example_dags

.PHONY: venv test lint demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/pytest

demo: venv
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .airflow .mypy_cache .ruff_cache .pytest_cache dist build
