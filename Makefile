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

.PHONY: venv test lint pytest bench demo test-matrix wheel-demo ui-test mutation test-distributed clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version > /dev/null 2>&1 || $(BIN)/python -m ensurepip --default-pip > /dev/null
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python "apache-airflow==$(AIRFLOW_VERSION)" -e . --group test
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint pytest

# The suite has an Airflow home of its own: its DB holds trigger rows encrypted with the tests' Fernet key
# (tests/conftest.py), which the demo's home, with its own key, could not read.
TEST_AIRFLOW_HOME := $(CURDIR)/.airflow/test-$(AIRFLOW_VERSION)
pytest: venv
	AIRFLOW_HOME=$(TEST_AIRFLOW_HOME) $(BIN)/airflow db migrate > /dev/null
	AIRFLOW_HOME=$(TEST_AIRFLOW_HOME) $(BIN)/pytest $(PYTEST_ARGS)

# Every benchmark in benchmarks/ (parse cost, hook overhead, bulk throughput, memory); prints tables.
bench: venv
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/python benchmarks/run_all.py

demo: venv
	$(BIN)/python scripts/demo.py

# The whole pytest suite on each Airflow version in MATRIX_VERSIONS, each in its own venv
# (.venv-airflow-X.Y.Z) and AIRFLOW_HOME (.airflow/X.Y.Z); prints install and test time per version.
MATRIX_VERSIONS ?= 2.11.2 3.1.8 3.3.2
MATRIX_PYTEST_ARGS ?=
test-matrix:
	$(PYTHON) scripts/test_matrix.py --pytest-args '$(MATRIX_PYTEST_ARGS)' $(MATRIX_VERSIONS)

# Build sdist + wheel, twine-check them, install the wheel alone (with Airflow) in a clean venv and
# run the manual-booking example DAG against the sandbox from a temp dir.
wheel-demo: venv
	$(BIN)/python scripts/wheel_demo.py --airflow-version $(AIRFLOW_VERSION)

# The real Airflow UI in headless Chromium (skips, with the reason, when Chromium is missing).
ui-test: venv
	$(BIN)/pytest -m ui -rs tests/ui

# Mutation testing of the pure core (scripts/mutation.py): per module generated / killed / survived /
# equivalent / score, then every survivor not in tests/mutation/equivalent.txt. mutmut is installed
# here, not as a test dependency. Slow (see README); not part of `make test` or CI.
MUTATION_ARGS ?= --fail-under 95
mutation: venv
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python mutmut==3.8.1
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

# The provider on a distributed Airflow (scripts/distributed_check.py): PostgreSQL + Redis (apt-get when
# missing), CeleryExecutor with two workers, example DAGs and three bulk DAGs on a group meeting triggered
# through the REST API against the sandbox with a commit-then-drop fault; each bulk first try hit while it
# books (task process SIGKILLed, worker's process group SIGKILLed, task and worker frozen then thawed beside
# the retry). Counts every booking in the sandbox: expected/found/duplicated/lost/unexpected per DAG, exit 1
# on any. DISTRIBUTED_ARGS='--break no-lookup' (or no-journal): a broken build. Its own venv. Takes minutes
# (see README); not part of CI.
DIST_VENV ?= .venv-distributed
DIST_STAMP := $(DIST_VENV)/.installed-$(AIRFLOW_VERSION)
$(DIST_STAMP): pyproject.toml | venv
	test -x $(DIST_VENV)/bin/python || $(PYTHON) -m venv $(DIST_VENV)
	$(BIN)/python -m uv pip install --quiet --python $(DIST_VENV)/bin/python "apache-airflow==$(AIRFLOW_VERSION)" \
		apache-airflow-providers-celery psycopg2-binary asyncpg -e .
	touch $@
test-distributed: $(DIST_STAMP)
	$(DIST_VENV)/bin/python scripts/distributed_check.py $(DISTRIBUTED_ARGS)

clean:
	rm -rf $(VENV) $(DIST_VENV) .venv-airflow-* .venv-wheel-* .airflow .mypy_cache .ruff_cache .pytest_cache dist build
