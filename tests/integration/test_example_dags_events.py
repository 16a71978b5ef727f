"""The two example DAGs of sensors and triggers: the follow-up DAG runs through ``dag.test()`` (its
deferred sensor's trigger runs inline), and the on-new-booking DAG's asset watcher emits the event its
task reads. Both with a recognisable key that must end up nowhere.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import EVENT_TRIGGERS_SUPPORTED
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from tests.compat import xcoms_of
from tests.integration import test_secrets
from tests.integration.conftest import EXAMPLE_DAGS
from tests.integration.runs import task_instances
from tests.integration.test_booking_sensor import sequential_executor_on_airflow_2
from tests.integration.test_example_dags import run_dag
from tests.integration.test_secrets import assert_no_leak, everything_produced, new_canary, sandbox_with_key

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

pytestmark = pytest.mark.integration
#: The secrets test's fixtures: these runs join its search for the key.
sandbox_log = test_secrets.sandbox_log
task_log_folder = test_secrets.task_log_folder
#: Airflow 2's dag.test() and sensors: see the sensor tests.
use_sequential_executor_on_airflow_2 = sequential_executor_on_airflow_2


@pytest.mark.parametrize("dag_id", ["neetocal_meeting_followup", "neetocal_on_new_booking"])
def test_the_new_example_dags_explain_themselves_in_the_ui(dagbag, dag_id: str) -> None:
    if dag_id == "neetocal_on_new_booking" and not EVENT_TRIGGERS_SUPPORTED:
        assert dag_id not in dagbag.dag_ids  # Airflow 2.11: no event-driven scheduling, no DAG
        return
    dag = dagbag.get_dag(dag_id)
    assert len(dag.doc_md or "") > 200
    assert "neetocal" in dag.tags


def end_meetings_once_read(sandbox: NeetoCalSandbox, stop: threading.Event) -> None:
    """Once the sensor has read the booking, move the sandbox clock past the meeting's end."""
    while not stop.is_set():
        for booking in sandbox.bookings:
            if any(r.method == "GET" and r.path == f"/bookings/{booking['sid']}" for r in sandbox.requests):
                sandbox.set_clock(pendulum.parse(booking["ends_at"]).add(seconds=1))
                return
        time.sleep(0.02)


def test_the_follow_up_dag_books_waits_deferred_for_the_end_and_follows_up(
    dagbag, monkeypatch, log_output, sandbox_log, task_log_folder
) -> None:
    key = new_canary()
    with sandbox_with_key(monkeypatch, key, key) as sandbox:
        stop = threading.Event()
        watcher = threading.Thread(target=end_meetings_once_read, args=(sandbox, stop), daemon=True)
        watcher.start()
        try:
            run = run_dag(dagbag, "neetocal_meeting_followup")
        finally:
            stop.set()
            watcher.join(timeout=5)
        (booking,) = sandbox.bookings
        reads = [r for r in sandbox.requests if r.path == f"/bookings/{booking['sid']}"]

    assert run.state == "success"
    states = {
        task: task_instances(run, task)[-1][0].rsplit(".", 1)[-1].lower()
        for task in ("find_slot", "book", "wait_until_ended", "follow_up")
    }
    assert set(states.values()) == {"success"}, states
    assert len(reads) >= 2  # one poke before deferring, then the trigger's read after the end
    assert {r.method for r in reads} == {"GET"}
    xcoms = xcoms_of(run.dag_id, run.run_id)
    assert xcoms[("wait_until_ended", -1, "return_value")]["sid"] == booking["sid"]
    assert booking["starts_at"] in xcoms[("follow_up", -1, "return_value")]
    texts = everything_produced([(run.dag_id, run.run_id)], log_output, sandbox_log)
    assert "NeetoCal booking" in texts["captured output and logging"]
    assert_no_leak(key, texts, task_log_folder)


@pytest.mark.skipif(not EVENT_TRIGGERS_SUPPORTED, reason="AssetWatcher: Airflow 3.1+")
def test_the_on_new_booking_dags_watcher_emits_the_booking_its_task_reads(
    dagbag, monkeypatch, log_output, sandbox_log, task_log_folder
) -> None:
    dag = dagbag.get_dag("neetocal_on_new_booking")
    (watcher,) = example_module("neetocal_on_new_booking").new_bookings.watchers
    trigger = watcher.trigger
    key = new_canary()
    with sandbox_with_key(monkeypatch, key, key):
        booked: dict[str, Any] = {}

        async def fake_sleep(seconds: float, result: Any = None) -> Any:
            if "b" not in booked:
                day = pendulum.now("UTC").add(days=2).to_date_string()
                booked["b"] = NeetoCalHook().create_booking(
                    {
                        "meeting_slug": "quick-sync",
                        "name": "Eve",
                        "email": "eve@example.com",
                        "slot_date": day,
                        "slot_start_time": "10:00 AM",
                        "time_zone": "UTC",
                    }
                )
            return await real_sleep(0, result)

        real_sleep = asyncio.sleep
        monkeypatch.setattr(asyncio, "sleep", fake_sleep)

        async def first_event() -> dict[str, Any]:
            agen = trigger.run()
            try:
                return (await asyncio.wait_for(agen.__anext__(), timeout=30)).payload
            finally:
                await agen.aclose()

        payload = asyncio.run(first_event())
        monkeypatch.setattr(asyncio, "sleep", real_sleep)

    (change,) = payload["changes"]
    assert change["change"] == "created"
    assert change["booking"]["sid"] == booked["b"]["sid"]
    event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    greeted = dag.get_task("welcome").python_callable(triggering_asset_events={"asset": [event]})
    assert greeted == [booked["b"]["sid"]]
    assert_no_leak(key, {"event": repr(payload), **everything_produced([], log_output, sandbox_log)}, task_log_folder)


def example_module(name: str) -> Any:
    """An example DAG file imported as a module (the DAG bag hides the module objects)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLE_DAGS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not EVENT_TRIGGERS_SUPPORTED, reason="AssetWatcher: Airflow 3.1+")
def test_the_on_new_booking_dag_greets_every_booking_of_merged_and_redelivered_events_once(dagbag) -> None:
    """Airflow may merge events into one run, and a triggerer crash may deliver a change again: each
    booking is greeted once, in order; an event of another source is skipped."""
    dag = dagbag.get_dag("neetocal_on_new_booking")

    def created(sid: str) -> dict[str, Any]:
        return {"change": "created", "change_id": f"created:{sid}", "booking_sid": sid, "booking": {"sid": sid}}

    first = SimpleNamespace(extra={"payload": {"changes": [created("a1"), created("a2")], "more": False}})
    again = SimpleNamespace(extra={"payload": {"changes": [created("a2"), created("a3")], "more": False}})
    other = SimpleNamespace(extra={"note": "made by hand"})
    greeted = dag.get_task("welcome").python_callable(triggering_asset_events={"asset": [first, other, again]})
    assert greeted == ["a1", "a2", "a3"]
