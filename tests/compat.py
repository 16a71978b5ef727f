"""Where the tests, not the provider, meet Airflow-version differences.

The provider's own differences live in ``airflow_provider_neetocal._compat``; this module only adds
what tests need and the provider does not: a ``DAG`` to build operators in, running a DAG with
``dag.test()``, reading a run's XComs back from the metadata DB, and skipping what an older
Airflow cannot do (always with the reason shown in pytest's summary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION

if TYPE_CHECKING:
    from datetime import datetime

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import DAG
else:  # Airflow 2.x: no airflow.sdk
    from airflow.models import DAG

__all__ = ["AIRFLOW_VERSION", "DAG", "dag_test", "requires_airflow", "xcoms_of"]


def requires_airflow(minimum: str, reason: str) -> pytest.MarkDecorator:
    """Skip (visibly, with ``reason``) on Airflow older than ``minimum``."""
    from packaging.version import Version

    return pytest.mark.skipif(
        Version(minimum) > AIRFLOW_VERSION,
        reason=f"needs Airflow >= {minimum} (running {AIRFLOW_VERSION}): {reason}",
    )


def dag_test(dag: Any, *, logical_date: datetime | None = None, run_conf: dict[str, Any] | None = None) -> Any:
    """``dag.test()``; Airflow 2 names the logical date ``execution_date``."""
    if AIRFLOW_V_3_0_PLUS:
        return dag.test(logical_date=logical_date, run_conf=run_conf)
    return dag.test(execution_date=logical_date, run_conf=run_conf)


def xcoms_of(dag_id: str, run_id: str) -> dict[tuple[str, int, str], Any]:
    """Every XCom a DAG run left in the metadata DB, keyed by (task_id, map_index, key).

    Airflow 3 keeps the rows in ``XComModel``; Airflow 2 in ``XCom`` (``BaseXCom``), and both
    decode a row with ``deserialize_value(row)``.
    """
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.xcom import XComModel as XComRow
    else:
        from airflow.models.xcom import XCom as XComRow

    with create_session() as session:
        rows = session.query(XComRow).filter(XComRow.dag_id == dag_id, XComRow.run_id == run_id).all()
        return {(row.task_id, row.map_index, row.key): XComRow.deserialize_value(row) for row in rows}
