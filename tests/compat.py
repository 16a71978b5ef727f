"""Where the tests, not the provider, meet Airflow-version differences.

The provider's own differences live in ``airflow_provider_neetocal._compat``; this module only adds
what tests need and the provider does not: a ``DAG`` to build operators in, running a DAG with
``dag.test()``, reading a run's XComs back from the metadata DB, and skipping what an older
Airflow cannot do (always with the reason shown in pytest's summary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS, AIRFLOW_VERSION

if TYPE_CHECKING:
    import logging
    from datetime import datetime

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import DAG
else:  # Airflow 2.x: no airflow.sdk
    from airflow.models import DAG

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.exceptions import ParamValidationError
else:  # Airflow 2.11 and 3.1
    from airflow.exceptions import ParamValidationError

__all__ = [
    "AIRFLOW_VERSION",
    "DAG",
    "ParamValidationError",
    "dag_test",
    "extra_link_url",
    "has_connection_form_widgets",
    "requires_airflow",
    "requires_connection_form_widgets",
    "stdout_without_log_copies",
    "xcoms_of",
]


def requires_airflow(minimum: str, reason: str) -> pytest.MarkDecorator:
    """Skip (visibly, with ``reason``) on Airflow older than ``minimum``."""
    from packaging.version import Version

    return pytest.mark.skipif(
        Version(minimum) > AIRFLOW_VERSION,
        reason=f"needs Airflow >= {minimum} (running {AIRFLOW_VERSION}): {reason}",
    )


def has_connection_form_widgets() -> bool:
    """Whether this Airflow can build a provider's connection form.

    Airflow >= 3.2 reads it from provider info. Older versions call the hook's
    ``get_connection_form_widgets`` / ``get_ui_field_behaviour``, and their providers manager
    drops both (and logs "UI widgets will be missing") unless ``flask_appbuilder`` and ``wtforms``
    are installed: Airflow 2 always has them, a plain Airflow 3.1 install does not (they come with
    the ``fab`` provider).
    """
    if AIRFLOW_V_3_2_PLUS:
        return True
    try:
        import flask_appbuilder  # noqa: F401
        import wtforms  # noqa: F401
    except ImportError:
        return False
    return True


def requires_connection_form_widgets() -> pytest.MarkDecorator:
    """Skip (visibly) where Airflow cannot build the connection form, see ``has_connection_form_widgets``."""
    return pytest.mark.skipif(
        not has_connection_form_widgets(),
        reason=(
            f"Airflow {AIRFLOW_VERSION} builds connection forms with flask_appbuilder/wtforms (the fab provider), "
            "not installed here: its providers manager drops every hook's form fields and field behaviour"
        ),
    )


def dag_test(dag: Any, *, logical_date: datetime | None = None, run_conf: dict[str, Any] | None = None) -> Any:
    """``dag.test()``; Airflow 2 names the logical date ``execution_date``.

    Airflow 2's ``dag.test()`` deletes an earlier run of the same logical date first; that delete
    needs the ``ab_user`` table (``dag_run_note.user_id`` points at it) in SQLAlchemy's metadata,
    which only the fab provider's models register, so they are imported here.

    Without ``logical_date`` nothing is passed for it, so each Airflow picks its default (now).
    Airflow 3 takes an explicit ``logical_date=None`` literally: its ``dag.test()`` then clears the
    task instances (and XComs) of *every* earlier run of the DAG, not only of the same date.
    """
    kwargs: dict[str, Any] = {"run_conf": run_conf}
    if AIRFLOW_V_3_0_PLUS:
        if logical_date is not None:
            kwargs["logical_date"] = logical_date
        return dag.test(**kwargs)
    import logging

    import airflow.providers.fab.auth_manager.models  # noqa: F401

    if logical_date is not None:
        kwargs["execution_date"] = logical_date
    # Airflow 2's dag.test() adds a StreamHandler(sys.stdout) to the shared "airflow.task" logger
    # once per process: under pytest it would keep writing to the first test's (then closed)
    # capture stream, and every later task log line would end in a "--- Logging error ---".
    task_logger = logging.getLogger("airflow.task")
    handlers = list(task_logger.handlers)
    try:
        return dag.test(**kwargs)
    finally:
        for handler in task_logger.handlers[:]:
            if handler not in handlers:
                task_logger.removeHandler(handler)


def extra_link_url(dag: Any, run: Any, task_id: str, link: Any) -> str | None:
    """The URL an operator extra link shows for a task of a finished run, as the UI gets it.

    Airflow 3 computes it when the task ends and stores it as the ``_link_<class name>`` XCom,
    which the UI reads; Airflow 2's webserver calls ``link.get_link()`` on each page view.
    """
    if AIRFLOW_V_3_0_PLUS:
        return xcoms_of(dag.dag_id, run.run_id).get((task_id, -1, f"_link_{type(link).__name__}"))
    ti = run.get_task_instance(task_id)
    return link.get_link(dag.get_task(task_id), ti_key=ti.key)


def stdout_without_log_copies(stdout: str, records: list[logging.LogRecord]) -> str:
    """``stdout`` minus the lines that only repeat a log record ``caplog`` already holds.

    Airflow 3 sends task and hook logs through structlog to stdout only. Airflow 2 logs through
    stdlib logging, which ``caplog`` sees, and its console handler prints each record to stdout as
    well: reading both would show every line twice.
    """
    if AIRFLOW_V_3_0_PLUS:
        return stdout
    # A message of several lines (a first line to act on, the details after) is printed line by line,
    # the first one after the handler's prefix.
    messages = {part for record in records for part in record.getMessage().splitlines() if part.strip()}
    return "\n".join(line for line in stdout.splitlines() if not any(line.endswith(message) for message in messages))


def xcoms_of(dag_id: str, run_id: str) -> dict[tuple[str, int, str], Any]:
    """Every XCom a DAG run left in the metadata DB, keyed by (task_id, map_index, key).

    Airflow 3 keeps the rows in ``XComModel`` and decodes one with ``deserialize_value(row)``;
    Airflow 2's ``XCom`` rows decode their value when loaded (``init_on_load``).
    """
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_V_3_0_PLUS:
            from airflow.models.xcom import XComModel

            rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
            return {(row.task_id, row.map_index, row.key): XComModel.deserialize_value(row) for row in rows}
        from airflow.models.xcom import XCom

        rows = session.query(XCom).filter(XCom.dag_id == dag_id, XCom.run_id == run_id).all()
        return {(row.task_id, row.map_index, row.key): row.value for row in rows}
