"""``NeetoCalBookingSensor`` through Airflow (``dag.test()``) against the sandbox, in each mode.

Deferred runs go through the real trigger: ``dag.test()`` runs a deferred task's trigger inline. The
change a sensor waits for is made by a watcher thread as soon as the sandbox has answered the sensor's
first read, so every sensor really waits (a poke interval of one second); nothing asserts on time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import AirflowSkipException
from airflow_provider_neetocal.booking_wait import error_event
from airflow_provider_neetocal.exceptions import NeetoCalNotFoundError, NeetoCalServerError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY
from tests.integration.conftest import API_SETUPS
from tests.integration.runs import run_in_airflow, task_instances

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture(autouse=True)
def sequential_executor_on_airflow_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 2's ``dag.test()`` asks the default executor whether a sensor may be rescheduled, and its
    unit-test configuration names one that refuses SQLite; the sequential one is what it runs anyway."""
    from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")


def book(sandbox: NeetoCalSandbox, *, days: int = 1, at: str = "10:00 AM") -> dict[str, Any]:
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=days).to_date_string()
    return NeetoCalHook().create_booking(
        {
            "meeting_slug": "quick-sync",
            "name": "Eve",
            "email": "eve@example.com",
            "slot_date": day,
            "slot_start_time": at,
            "time_zone": "UTC",
        }
    )


@contextlib.contextmanager
def after_first_read(sandbox: NeetoCalSandbox, sid: str, action: Callable[[], Any]) -> Iterator[None]:
    """Run ``action`` once the sandbox has answered the first ``GET /bookings/{sid}``."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if gets_of(sandbox, sid):
                # The sandbox records a request before it sends the answer (whose Date header, NeetoCal's
                # clock for the sensor, is taken when it is sent): let that answer go out first, or the
                # first read may already see the changed clock (seen once on a loaded CI run).
                time.sleep(0.5)
                action()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=5)


def sensor_dag(name: str, sid: str, **arguments: Any) -> Any:
    with DAG(
        dag_id=f"neetocal_sensor_{name}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        tags=["neetocal", "test"],
    ) as dag:
        NeetoCalBookingSensor(
            task_id="wait",
            booking_sid=sid,
            **{"poke_interval": 1, "timeout": 60, "retries": 2, "retry_delay": 0, **arguments},
        )
    return dag


def outcome(run: Any) -> tuple[str, int]:
    ((state, tries),) = task_instances(run, "wait").values()
    return state.rsplit(".", 1)[-1].lower(), tries


def gets_of(sandbox: NeetoCalSandbox, sid: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "GET" and r.path == f"/bookings/{sid}"]


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_waits_for_a_status_that_comes_later(sandbox: NeetoCalSandbox, mode: str) -> None:
    booking = book(sandbox)
    sandbox.set_status(booking["sid"], "awaiting_approval")
    arguments = {"deferrable": True} if mode == "deferrable" else {"mode": mode, "deferrable": False}
    dag = sensor_dag(f"status_{mode}", booking["sid"], target_statuses=["confirmed"], **arguments)
    with after_first_read(sandbox, booking["sid"], lambda: sandbox.set_status(booking["sid"], "confirmed")):
        run = run_in_airflow(dag)
    assert outcome(run) == ("success", 1)
    assert len(gets_of(sandbox, booking["sid"])) >= 2  # it did wait
    returned = xcoms_of(run.dag_id, run.run_id)[("wait", -1, "return_value")]
    assert returned["sid"] == booking["sid"]
    assert returned["status"] == "confirmed"
    assert TEST_API_KEY not in repr(returned)


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_booking_cancelled_while_waiting_for_its_end_fails_at_once(
    sandbox: NeetoCalSandbox, deferrable: bool
) -> None:
    booking = book(sandbox)
    dag = sensor_dag(f"cancelled_{deferrable}", booking["sid"], wait_for="end", deferrable=deferrable)
    with after_first_read(sandbox, booking["sid"], lambda: sandbox.set_status(booking["sid"], "cancelled")):
        run = run_in_airflow(dag)
    assert len(gets_of(sandbox, booking["sid"])) >= 2
    assert outcome(run) == ("failed", 1)  # no Airflow retry: it can never end


@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_missing_booking_fails_at_once_or_skips(sandbox: NeetoCalSandbox, soft_fail: bool) -> None:
    run = run_in_airflow(sensor_dag(f"missing_{soft_fail}", "nosuch1", soft_fail=soft_fail, deferrable=True))
    assert outcome(run) == (("skipped", 1) if soft_fail else ("failed", 1))


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_a_deferred_wait_for_the_end_completes_when_the_meeting_has_ended(
    sandbox: NeetoCalSandbox, request: pytest.FixtureRequest
) -> None:
    booking = book(sandbox)
    past_the_end = pendulum.parse(booking["ends_at"]).add(seconds=1)
    dag = sensor_dag(f"end_deferred_{request.node.callspec.id}", booking["sid"], wait_for="end", deferrable=True)
    with after_first_read(sandbox, booking["sid"], lambda: sandbox.set_clock(past_the_end)):
        run = run_in_airflow(dag)
    assert outcome(run) == ("success", 1)
    assert len(gets_of(sandbox, booking["sid"])) >= 2
    assert {r.method for r in sandbox.requests[1:]} == {"GET"}


def test_a_deferred_timeout_with_soft_fail_skips(sandbox: NeetoCalSandbox) -> None:
    booking = book(sandbox)
    dag = sensor_dag("timeout_soft", booking["sid"], wait_for="start", deferrable=True, soft_fail=True, timeout=1)
    run = run_in_airflow(dag)
    assert outcome(run) == ("skipped", 1)


# -- soft_fail after a deferral: skip only what poke mode skips ------------------------------------


def resumed_with(event: dict[str, Any], *, soft_fail: bool = True) -> Any:
    """Resume a deferred sensor with ``event`` the way Airflow does (``resume_execution``)."""
    sensor = NeetoCalBookingSensor(task_id="wait", booking_sid="abc1234", soft_fail=soft_fail, deferrable=True)
    return sensor.resume_execution("execute_complete", {"event": event}, {})


def test_a_retryable_error_after_deferral_with_soft_fail_is_raised_not_skipped() -> None:
    storm = NeetoCalServerError(method="GET", endpoint="/bookings/abc1234", status=503, message="Service Unavailable")
    with pytest.raises(NeetoCalServerError, match="503"):
        resumed_with(error_event(storm, "abc1234"))


@pytest.mark.parametrize(
    "event",
    [
        error_event(NeetoCalNotFoundError(method="GET", endpoint="/bookings/abc1234", status=404, message="nope")),
        {"status": "ended", "booking_sid": "abc1234", "message": "booking abc1234 was cancelled"},
        {"status": "timeout", "booking_sid": "abc1234", "message": "timed out: booking abc1234 is confirmed"},
    ],
    ids=["not-found", "ended", "timeout"],
)
def test_not_found_ended_and_timeout_after_deferral_with_soft_fail_still_skip(event: dict[str, Any]) -> None:
    with pytest.raises(AirflowSkipException):
        resumed_with(event)


def test_a_poke_mode_503_storm_with_soft_fail_is_a_retryable_error(sandbox: NeetoCalSandbox) -> None:
    """What the deferred path now matches: poke mode raises the retryable error under soft_fail."""
    sandbox.inject("server_error", times=10, method="GET", status=503)
    sensor = NeetoCalBookingSensor(
        task_id="wait", booking_sid="abc1234", soft_fail=True, deferrable=False, poke_interval=0, timeout=5
    )
    with pytest.raises(NeetoCalServerError):
        sensor.execute({})
