"""Helpers shared by the integration tests that run DAGs against the sandbox: running an in-test DAG
under Airflow, reading back its task instances, and reading what the sandbox received and holds.
"""

from __future__ import annotations

import collections
import datetime as dt
import socket
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_neetocal.hooks import neetocal as hook_module
from tests.compat import dag_test

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import task
else:  # Airflow 2.x: no airflow.sdk
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox, RecordedRequest

__all__ = ["task"]  # the @task decorator for in-test DAGs, from where this Airflow has it

DEAD_STATUSES = ("cancelled", "rejected")
#: One dict per (fault kind, shape, mode) the fault matrix ran; printed in the terminal summary.
FAULT_MATRIX_ROWS: list[dict[str, Any]] = []
FAULT_MATRIX_COLUMNS = (
    "kind",
    "shape",
    "mode",
    "journal",
    "runs",
    "tries",
    "expected",
    "found",
    "duplicates",
    "lost",
    "refused",
)


def fault_matrix_table(rows: list[dict[str, Any]]) -> list[str]:
    """The fault matrix as aligned text lines, with a totals line."""
    totals = {c: sum(r[c] for r in rows) for c in FAULT_MATRIX_COLUMNS[4:]}
    body = [[str(r[c]) for c in FAULT_MATRIX_COLUMNS] for r in rows]
    body.append(["total", "", "", "", *(str(totals[c]) for c in FAULT_MATRIX_COLUMNS[4:])])
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(FAULT_MATRIX_COLUMNS)]
    header = "  ".join(c.ljust(w) for c, w in zip(FAULT_MATRIX_COLUMNS, widths, strict=True))
    lines = [header, "-" * len(header)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in body]
    return lines


def record_hook_waits(monkeypatch: pytest.MonkeyPatch, sleep: Callable[[float], None] | None = None) -> list[float]:
    """Record every wait the hook asks for (settle, back-off, ``Retry-After``) instead of sleeping it.

    The hook module's ``time`` is replaced by a namespace whose ``sleep`` records (then calls
    ``sleep``, if given), so Airflow and the sandbox keep the real one.
    """
    recorded: list[float] = []

    def wait(seconds: float) -> None:
        recorded.append(seconds)
        if sleep is not None:
            sleep(seconds)

    monkeypatch.setattr(hook_module, "time", SimpleNamespace(sleep=wait, monotonic=time.monotonic))
    return recorded


def run_in_airflow(dag: Any, **kwargs: Any) -> Any:
    """Register an in-test DAG in the metadata DB (what the DAG processor would do), then ``dag.test()``.

    Airflow 3's ``dag.test()`` runs only a DAG the DB knows; Airflow 2's runs the in-memory DAG as it is.
    """
    if not AIRFLOW_V_3_0_PLUS:
        return dag_test(dag, **kwargs)
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )
    return dag_test(dag, **kwargs)


def rerun_after_clear(dag: Any, run: Any, *, task_ids: list[str], later: dt.timedelta = dt.timedelta()) -> Any:
    """Clear ``task_ids`` of a finished run the way ``airflow tasks clear`` does, then run the run again.

    Airflow 3.3's ``dag.test()`` replaces a run it is given again (and the run's task state store
    with it), so this keeps the run: Airflow's own :func:`clear_task_instances` resets the tasks (their
    try numbers carry on, as after a real clear), the run is set running again with its start moved to
    now + ``later`` (a clear ``later`` after the first run), and ``dag.test()``'s loop runs it, finding
    the existing run instead of replacing it.
    """
    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .filter(TaskInstance.task_id.in_(task_ids))
            .all()
        )
        clear_task_instances(tis, session)
    original = dagrun_module.get_or_create_dagrun

    def existing_run(*, dag: Any, session: Any, **_: Any) -> Any:
        dr = session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one()
        dr.dag = dag
        dr.state = DagRunState.RUNNING
        dr.start_date = dt.datetime.now(dt.timezone.utc) + later
        session.commit()
        return dr

    dagrun_module.get_or_create_dagrun = existing_run
    try:
        return dag_test(dag, logical_date=run.logical_date)
    finally:
        dagrun_module.get_or_create_dagrun = original


def task_instances(run: Any, task_id: str) -> dict[int, Any]:
    """``{map_index: (state, try_number)}`` of one task of a finished run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id).all()
        return {ti.map_index: (str(ti.state), ti.try_number) for ti in rows}


def try_number_of(run: Any, task_id: str = "book") -> int:
    """How many tries an unmapped task of a finished run used."""
    ((_, try_number),) = task_instances(run, task_id).values()
    return try_number


def closed_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def posts(sandbox: NeetoCalSandbox) -> list[RecordedRequest]:
    """Every ``POST /bookings`` the sandbox answered (or dropped), in order."""
    return [r for r in sandbox.requests if r.method == "POST" and r.path == "/bookings"]


def answered_posts(sandbox: NeetoCalSandbox, expected: int) -> list[RecordedRequest]:
    """The booking POSTs once ``expected`` of them were recorded: a stalled one is recorded when it ends."""
    for _ in range(100):
        if len(posts(sandbox)) >= expected:
            break
        time.sleep(0.05)
    return posts(sandbox)


def live_bookings(sandbox: NeetoCalSandbox) -> list[dict[str, Any]]:
    """The bookings that still hold their slot."""
    return [b for b in sandbox.bookings if b["status"] not in DEAD_STATUSES]


def live_per_attendee(sandbox: NeetoCalSandbox) -> collections.Counter[str]:
    """Live bookings per attendee email (lower case)."""
    return collections.Counter(b["email"].lower() for b in live_bookings(sandbox))


def described(sandbox: NeetoCalSandbox) -> list[tuple[str, str, str, str]]:
    """Every booking as ``(sid, email, starts_at, status)``: for assertion messages."""
    return [(b["sid"], b["email"], b["starts_at"], b["status"]) for b in sandbox.bookings]
