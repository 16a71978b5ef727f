"""Test-wide set-up: a project-local Airflow home, no example DAGs, and connection helpers.

Airflow reads its configuration when first imported, so the environment is fixed here, at
collection time, before any test module imports it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow" / "test"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "example_dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# A fixed, test-only Fernet key: unit-test mode otherwise makes a new one per process, and the trigger
# rows of an asset watcher (example DAG neetocal_on_new_booking), re-read whenever DAGs are synced to
# the DB, could not be decrypted by the next test process.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMhIT0=")
#: Test-only DAG files. ``dag.test()`` (Airflow 3) runs a DAG only if it is found in a DAG bundle, so
#: they form a second bundle beside the example DAGs (the default "dags-folder" bundle).
TEST_DAGS = ROOT / "tests" / "integration" / "dags"
os.environ.setdefault(
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
    json.dumps(
        [
            {
                "name": "dags-folder",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": os.environ["AIRFLOW__CORE__DAGS_FOLDER"]},
            },
            {
                "name": "test-dags",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(TEST_DAGS)},
            },
        ]
    ),
)

#: A key long enough for Airflow's masker and recognisable when grepping output for leaks.
TEST_API_KEY = "test-key-0123456789-do-not-leak"


def neetocal_conn_json(host: str, password: str = TEST_API_KEY, **extra: object) -> str:
    """The JSON form of an ``AIRFLOW_CONN_*`` value for a ``neetocal`` connection."""
    conn: dict[str, object] = {"conn_type": "neetocal", "host": host, "password": password}
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


@pytest.fixture
def neetocal_conn(monkeypatch: pytest.MonkeyPatch):
    """Point ``neetocal_default`` at a workspace (or server) through an env var, no metadata DB."""

    def make(host: str = "acme", password: str = TEST_API_KEY, conn_id: str = "neetocal_default", **extra: object):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", neetocal_conn_json(host, password, **extra))
        return conn_id

    return make


@pytest.fixture
def log_output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    """Everything logged so far, whichever way it went out.

    Airflow 3 routes task and hook loggers through structlog to stdout, which ``caplog`` alone
    does not see; checks for leaked secrets must read both. Airflow 2 logs through stdlib logging
    (``caplog``) and its console handler prints each record to stdout too: those copies are dropped,
    so a line logged once is read once.
    """
    from tests.compat import stdout_without_log_copies

    caplog.set_level(logging.DEBUG)

    def read() -> str:
        captured = capsys.readouterr()
        return "\n".join([caplog.text, stdout_without_log_copies(captured.out, caplog.records), captured.err])

    return read
