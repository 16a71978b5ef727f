"""Fixtures for tests that talk real HTTP to the local sandbox and run DAGs through Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.conftest import ROOT, TEST_API_KEY, neetocal_conn_json

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLE_DAGS = ROOT / "example_dags"


#: The API set-ups the version-sensitive tests run on: v1, and v2 answering single bookings bare and
#: wrapped (the open question of NeetoCal's v2 reference). Use with ``indirect=["sandbox"]``, or as a
#: module's ``sandbox`` fixture params.
API_SETUPS = [
    pytest.param(("v1", "bare"), id="v1"),
    pytest.param(("v2", "bare"), id="v2-bare"),
    pytest.param(("v2", "wrapped"), id="v2-wrapped"),
]


def api_setup_of(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(api_version, v2_booking_answers)`` a test asked for through ``sandbox``'s param; v1 when none."""
    return getattr(request, "param", ("v1", "bare"))


def connection_extra(api_version: str, **extra: object) -> dict[str, object]:
    """The connection extras for ``api_version`` (v1 stays the default: no extra at all)."""
    return {**extra, "api_version": api_version} if api_version != "v1" else dict(extra)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[NeetoCalSandbox]:
    """A fresh sandbox on a free 127.0.0.1 port, with ``neetocal_default`` pointing at it.

    v1 unless parametrised (``indirect``) with one of :data:`API_SETUPS`: then the connection's
    ``api_version`` extra and the sandbox's v2 answer shape follow it.
    """
    version, answers = api_setup_of(request)
    with NeetoCalSandbox(api_key=TEST_API_KEY, v2_booking_answers=answers) as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url, **connection_extra(version))
        )
        yield running


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata DB in the test ``AIRFLOW_HOME`` (``airflow db migrate`` is repeatable)."""
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        # DAGs registered by tests belong to a bundle, which must exist in the DB first (a fresh DB
        # has none until something, e.g. the first ``dag.test()``, syncs them).
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()


@pytest.fixture(scope="session")
def dagbag(airflow_db: None) -> Any:
    """The example DAGs, parsed the way the DAG processor parses them."""
    from airflow_provider_neetocal._compat import dagbag_class

    return dagbag_class()(dag_folder=str(EXAMPLE_DAGS))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault matrix's table (tests/integration/test_fault_matrix.py), when it ran."""
    from tests.integration.runs import FAULT_MATRIX_ROWS, fault_matrix_table

    if FAULT_MATRIX_ROWS:
        terminalreporter.section("fault matrix: bookings per attendee after each fault")
        for line in fault_matrix_table(FAULT_MATRIX_ROWS):
            terminalreporter.write_line(line)
