"""Every booking reaches exactly one DAG run, through a real Airflow 3.3 (scheduler, DAG processor, API
server, LocalExecutor, **triggerer**) and the event trigger's memory in the real asset state store.

The sandbox runs in this process (127.0.0.1), so faults can be injected into what the triggerer reads.
Phases: a burst of 5 bookings within one poll; one 403 among good answers; ``kill -9`` of the triggerer
while 3 bookings are made; the DAG paused while 2 are made, then unpaused. Bookings delivered to runs
are counted through the REST API (each run's XCom), and the table is printed. Slow: marked ``deep``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pendulum
import pytest

from airflow_provider_neetocal._compat import ASSET_STATE_STORE_SUPPORTED
from airflow_provider_neetocal.booking_changes import MEMORY_FORMAT
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.conftest import ROOT, neetocal_conn_json
from tests.ui.stack import SANDBOX_API_KEY, AirflowStack

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.deep,
    pytest.mark.skipif(not ASSET_STATE_STORE_SUPPORTED, reason="the watcher's memory needs Airflow 3.3+"),
]
DAGS = Path(__file__).parent / "e2e_event_dags"
DAG_ID = "e2e_neetocal_every_booking"


class _StackWithSandboxHere(AirflowStack):
    """The stack, its connection pointing at a sandbox of this process (for ``inject``)."""

    local_sandbox: NeetoCalSandbox | None = None

    def start_sandbox(self) -> None:
        assert self.local_sandbox is not None
        self.sandbox_url = self.local_sandbox.url


@pytest.fixture(scope="module")
def running(request: pytest.FixtureRequest) -> Iterator[tuple[_StackWithSandboxHere, NeetoCalSandbox]]:
    (ROOT / ".airflow").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="e2e-events-", dir=ROOT / ".airflow"))
    shutil.copytree(DAGS, root / "dags")
    failed_before = request.session.testsfailed
    with NeetoCalSandbox(api_key=SANDBOX_API_KEY) as sandbox:
        stack = _StackWithSandboxHere(home=root / "home", dags_folder=root / "dags")
        stack.local_sandbox = sandbox
        try:
            stack.start()
            stack.spawn("triggerer", [str(stack.bin_dir / "airflow"), "triggerer"])
            yield stack, sandbox
        finally:
            os.environ.pop("AIRFLOW_CONN_NEETOCAL_E2E_BOOKER", None)
            stack.stop()
            if request.session.testsfailed == failed_before:
                shutil.rmtree(root, ignore_errors=True)
            else:
                print(f"\nE2E stack logs kept in {stack.home}")


def book(sandbox: NeetoCalSandbox, made: list[str], count: int) -> None:
    """``count`` quick-sync bookings on distinct slots, through the sync hook against the sandbox."""
    os.environ["AIRFLOW_CONN_NEETOCAL_E2E_BOOKER"] = neetocal_conn_json(sandbox.url, password=SANDBOX_API_KEY)
    hook = NeetoCalHook("neetocal_e2e_booker")
    for _ in range(count):
        index = len(made)
        moment = pendulum.now("UTC").add(days=2 + index // 30).start_of("day").add(hours=1, minutes=15 * (index % 30))
        answer = hook.create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": "Eve",
                "email": f"e2e{index}@example.com",
                "slot_date": moment.to_date_string(),
                "slot_start_time": moment.format("hh:mm A"),
                "time_zone": "UTC",
            }
        )
        made.append(answer["sid"])


def delivered(stack: AirflowStack) -> Counter[str]:
    """How many successful runs saw each booking (each run's ``read_bookings`` XCom)."""
    seen: Counter[str] = Counter()
    runs = (stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100") or {}).get("dag_runs") or []
    for run in runs:
        if run["state"] != "success":
            continue
        xcom = stack.api(
            "GET",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/read_bookings/xcomEntries/return_value",
        )
        for sid in (xcom or {}).get("value") or []:
            seen[sid] += 1
    return seen


def all_delivered(stack: AirflowStack, made: list[str]) -> bool:
    seen = delivered(stack)
    return all(seen[sid] >= 1 for sid in made)


def watcher_quiet(sandbox: NeetoCalSandbox, seconds: float) -> bool:
    """No listing for ``seconds``: the watcher is not running."""
    arrived = [r.arrived for r in sandbox.requests if r.method == "GET" and r.path == "/bookings"]
    return bool(arrived) and time.monotonic() - max(arrived) > seconds


def listings(sandbox: NeetoCalSandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "GET" and r.path == "/bookings")


def test_every_booking_reaches_exactly_one_run_across_a_burst_a_403_a_kill_and_a_pause(
    running: tuple[_StackWithSandboxHere, NeetoCalSandbox],
) -> None:
    stack, sandbox = running
    stack.wait_for(lambda: stack.api("GET", f"/api/v2/dags/{DAG_ID}"), 180, "the DAG to be parsed")
    stack.wait_for(lambda: listings(sandbox) >= 2, 180, "the watcher's first polls in the triggerer")
    made: list[str] = []
    phases: list[tuple[str, int]] = []

    book(sandbox, made, 5)  # a burst within one poll (2 s)
    phases.append(("burst of 5 within one poll", 5))
    stack.wait_for(lambda: all_delivered(stack, made), 240, "the burst to reach runs")

    sandbox.inject("raw", method="GET", path="/bookings", status=403, body='{"error": "Forbidden"}')
    book(sandbox, made, 1)
    phases.append(("one 403 among good answers", 1))
    stack.wait_for(lambda: all_delivered(stack, made), 240, "the booking after the 403 to reach a run")
    assert any(r.status == 403 for r in sandbox.requests)

    triggerer = stack.processes.pop("triggerer")
    os.killpg(triggerer.pid, signal.SIGKILL)
    triggerer.wait(timeout=10)
    book(sandbox, made, 3)
    phases.append(("3 made while the triggerer was killed -9", 3))
    time.sleep(3)
    stack.spawn("triggerer-2", [str(stack.bin_dir / "airflow"), "triggerer"])
    stack.wait_for(lambda: all_delivered(stack, made), 300, "the bookings made while down to reach runs")

    # Pausing stops the watcher only once the DAG file is parsed again (Airflow removes the watcher
    # of a paused DAG then); what it emits before is registered on the asset but starts no run, so
    # the bookings are made once the watcher has stopped (no listing for 3 poll intervals).
    paused_at = time.monotonic()
    assert stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": True}) is not None
    stack.wait_for(lambda: watcher_quiet(sandbox, 6.0), 180, "the paused DAG's watcher to stop")
    print(f"\nthe watcher stopped polling {time.monotonic() - paused_at - 6.0:.0f} s after the pause")
    book(sandbox, made, 2)
    phases.append(("2 made while the DAG was paused (watcher stopped)", 2))
    time.sleep(4)
    assert stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}) is not None
    stack.wait_for(lambda: all_delivered(stack, made), 300, "the bookings made while paused to reach runs")
    time.sleep(6)  # a few more polls: anything delivered twice would show now

    seen = delivered(stack)
    twice = [sid for sid in made if seen[sid] > 1]
    never = [sid for sid in made if seen[sid] == 0]
    print("\nphase | bookings made")
    for name, count in phases:
        print(f"{name} | {count}")
    print(
        f"made {len(made)} / delivered {sum(1 for sid in made if seen[sid])} / twice {len(twice)} / never {len(never)}"
    )
    assert never == []
    assert twice == []
    assert set(seen) <= set(made)

    triggerer_logs = "".join((stack.home / f"{name}.log").read_text() for name in ("triggerer", "triggerer-2"))
    assert "reads the shared poll of its workspace" in triggerer_logs  # Airflow 3.3 ran the shared stream
    assert "goes on from its memory" in triggerer_logs  # the restarted / re-created watcher read the store
    assert SANDBOX_API_KEY not in triggerer_logs

    asset = next(
        a
        for a in (stack.api("GET", "/api/v2/assets") or {}).get("assets", [])
        if a["name"] == "e2e_neetocal_every_booking"
    )
    state = stack.api("GET", f"/api/v2/assets/{asset['id']}/state-store")
    assert MEMORY_FORMAT in repr(state)
    assert SANDBOX_API_KEY not in repr(state)
