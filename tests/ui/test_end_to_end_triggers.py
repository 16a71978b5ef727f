"""Sensors and triggers in a real Airflow: scheduler, DAG processor, API server and **triggerer**.

A booking made in the sandbox starts the asset-scheduled DAG (``NeetoCalBookingEventTrigger`` in an
``AssetWatcher``), and a deferred ``NeetoCalBookingSensor`` waits in the triggerer (its task instance
``deferred``: no worker slot) until the booking is cancelled. Slow (a whole stack): marked ``deep``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_1_PLUS
from tests.conftest import ROOT
from tests.ui.stack import SANDBOX_API_KEY, AirflowStack

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.deep,
    pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="AssetWatcher and this stack need Airflow 3.1+"),
]
E2E_DAGS = Path(__file__).parent / "e2e_dags"


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[AirflowStack]:
    (ROOT / ".airflow").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="e2e-", dir=ROOT / ".airflow"))
    dags = root / "dags"
    shutil.copytree(E2E_DAGS, dags)
    running = AirflowStack(home=root / "home", dags_folder=dags)
    failed_before = request.session.testsfailed
    passed = False
    try:
        running.start()
        running.spawn("triggerer", [str(running.bin_dir / "airflow"), "triggerer"])
        yield running
        passed = request.session.testsfailed == failed_before
    finally:
        running.stop()
        if passed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"\nE2E stack logs kept in {running.home}")


def sandbox_call(stack: AirflowStack, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{stack.sandbox_url}/api/external/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"X-Api-Key": SANDBOX_API_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def book(stack: AirflowStack, at: str) -> dict[str, Any]:
    day = pendulum.now("UTC").add(days=1).to_date_string()
    return sandbox_call(
        stack,
        "POST",
        "/bookings",
        {
            "meeting_slug": "quick-sync",
            "name": "Eve",
            "email": "eve@example.com",
            "slot_date": day,
            "slot_start_time": at,
            "time_zone": "UTC",
        },
    )


def runs_of(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    answer = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")
    return list((answer or {}).get("dag_runs") or [])


def test_a_new_booking_starts_the_asset_scheduled_dag(stack: AirflowStack) -> None:
    stack.wait_for(lambda: stack.api("GET", "/api/v2/dags/e2e_neetocal_on_new_booking"), 180, "the DAG to be parsed")
    sandbox_log = stack.home / "sandbox.log"
    stack.wait_for(
        lambda: (
            "GET /api/external/v1/bookings " in sandbox_log.read_text()
            or "GET /api/external/v1/bookings?" in sandbox_log.read_text()
        ),
        180,
        "the event trigger's first poll in the triggerer",
    )
    booking = book(stack, "10:00 AM")
    run = stack.wait_for(
        lambda: next((r for r in runs_of(stack, "e2e_neetocal_on_new_booking") if r["state"] == "success"), None),
        180,
        "a successful run of the asset-scheduled DAG",
    )
    xcom = stack.api(
        "GET",
        f"/api/v2/dags/e2e_neetocal_on_new_booking/dagRuns/{run['dag_run_id']}/taskInstances/read_booking/xcomEntries/return_value",
    )
    assert xcom is not None
    assert booking["sid"] in json.dumps(xcom["value"])
    assert len(runs_of(stack, "e2e_neetocal_on_new_booking")) == 1  # one booking, one run


def test_a_deferred_sensor_waits_in_the_triggerer_until_the_booking_is_cancelled(stack: AirflowStack) -> None:
    stack.wait_for(lambda: stack.api("GET", "/api/v2/dags/e2e_neetocal_wait"), 180, "the DAG to be parsed")
    booking = book(stack, "11:00 AM")
    run = stack.api(
        "POST",
        "/api/v2/dags/e2e_neetocal_wait/dagRuns",
        {"logical_date": None, "conf": {"booking_sid": booking["sid"]}},
    )
    assert run is not None
    path = f"/api/v2/dags/e2e_neetocal_wait/dagRuns/{run['dag_run_id']}/taskInstances/wait"
    stack.wait_for(lambda: (stack.api("GET", path) or {}).get("state") == "deferred", 180, "the sensor to defer")
    sandbox_call(stack, "POST", f"/bookings/{booking['sid']}/cancel")
    stack.wait_for(lambda: (stack.api("GET", path) or {}).get("state") == "success", 180, "the sensor to succeed")
    ti = stack.api("GET", path)
    assert ti["try_number"] == 1
