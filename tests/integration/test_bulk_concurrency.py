"""The bulk operator at several rows in flight, against the sandbox over real HTTP.

Every assertion is a count (bookings, requests, rows), never a duration: the sandbox's journal says
what arrived and when, so the client-side rate limit and the whole-batch pause after a 429 are
checked on the server's side of the wire.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal import pacing
from airflow_provider_neetocal.exceptions import NeetoCalBulkClientError, NeetoCalValidationError
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.pacing import Pacer
from airflow_provider_neetocal.sandbox import Faults, NeetoCalSandbox
from tests.compat import DAG
from tests.integration.runs import live_per_attendee, posts, record_hook_waits, run_in_airflow, task_instances

FIRST_SLOT = pendulum.datetime(2031, 1, 6, tz="UTC")  # a Monday


class RecordingTI:
    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(try_number: int = 1) -> dict[str, Any]:
    return {"ti": RecordingTI(try_number), "dag_run": SimpleNamespace(start_date=pendulum.now("UTC"))}


def slotted(count: int, *, prefix: str = "guest", first: int = 0) -> list[dict[str, Any]]:
    """Rows of distinct attendees on consecutive 15-minute ``quick-sync`` slots."""
    return [
        {
            "name": f"Guest {n}",
            "email": f"{prefix}{n}@example.com",
            "slot_start": FIRST_SLOT.add(minutes=15 * n).to_iso8601_string(),
        }
        for n in range(first, first + count)
    ]


def bulk(rows: list[dict[str, Any]], **kwargs: Any) -> NeetoCalCreateBookingsOperator:
    return NeetoCalCreateBookingsOperator(
        task_id="bulk", bookings=rows, meeting_slug="quick-sync", time_zone="UTC", **kwargs
    )


def api_requests(sandbox: NeetoCalSandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.authenticated]


# ---- every row booked, whatever the concurrency ---------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_every_row_is_booked_once_at_concurrency(sandbox, concurrency):
    rows = slotted(30)
    # Five attendees also ask for a second booking without a slot: same worker, after the fixed one.
    rows += [{"name": f"Guest {n}", "email": f"GUEST{n}@example.com"} for n in range(0, 30, 6)]
    results = bulk(rows, max_concurrency=concurrency).execute(context())
    assert [r["status"] for r in results] == ["created"] * len(rows)
    assert [r["row"] for r in results] == list(range(len(rows)))
    assert len({r["sid"] for r in results}) == len(rows)
    assert len(sandbox.bookings) == len(rows)
    per_attendee = live_per_attendee(sandbox)
    assert all(per_attendee[f"guest{n}@example.com"] == (2 if n % 6 == 0 else 1) for n in range(30))
    by_sid = {b["sid"]: b for b in sandbox.bookings}
    assert all(by_sid[r["sid"]]["email"].lower() == rows[r["row"]]["email"].lower() for r in results)


def test_the_return_value_is_compact_unless_full_bookings_are_asked_for(sandbox):
    (compact,) = bulk(slotted(1)).execute(context())
    assert set(compact) == {"row", "sid", "status", "starts_at", "error"}
    (full,) = bulk(slotted(1, first=1), return_full_bookings=True).execute(context())
    assert full == sandbox.bookings[-1]  # the booking as NeetoCal answered the POST


# ---- few requests per booking -------------------------------------------------------------------


def test_a_fresh_workspace_costs_at_most_1_1_requests_per_booking(sandbox):
    rows = slotted(500)
    bulk(rows, max_concurrency=8).execute(context())
    sent = api_requests(sandbox)
    assert len(sandbox.bookings) == 500
    assert len(sent) <= 1.1 * 500, collections.Counter((r.method, r.path) for r in sent)
    # One listing of the workspace and one of the meetings replace 500 per-attendee look-ups.
    assert [r.query.get("client_email") for r in sent if r.method == "GET" and r.path == "/bookings"] == [None]


def test_a_busy_workspace_is_looked_up_per_attendee_not_listed_in_full(sandbox):
    bulk(slotted(250, prefix="earlier"), max_concurrency=8).execute(context())  # 3 pages of 100
    before = len(sandbox.requests)
    bulk(slotted(2, first=300), max_concurrency=2).execute(context())
    gets = [r for r in sandbox.requests[before:] if r.method == "GET" and r.path == "/bookings"]
    # First page says 3 pages > 2 attendees: each attendee is listed alone instead.
    assert sorted(r.query.get("client_email") or "" for r in gets) == [
        "",
        "guest300@example.com",
        "guest301@example.com",
    ]


# ---- pace -----------------------------------------------------------------------------------------


def test_the_client_rate_limit_holds_on_the_sandbox_side(sandbox):
    rate = 40
    bulk(slotted(60), max_concurrency=8, max_requests_per_second=rate).execute(context())
    arrivals = sorted(r.arrived for r in api_requests(sandbox))
    assert len(arrivals) >= 60
    # In every one-second window starting at a request, at most `rate` requests arrived (+1 for the
    # request on the window's far edge that scheduler jitter can pull in).
    busiest = max(sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals))
    assert busiest <= rate + 1


class RecordingPacer(Pacer):
    """A pacer that remembers every pause and when each thread was let through."""

    instances: list[RecordingPacer] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.windows: list[tuple[float, float]] = []
        self.passes: list[tuple[float, str]] = []
        RecordingPacer.instances.append(self)

    def pause(self, seconds: float) -> None:
        now = time.monotonic()
        super().pause(seconds)
        self.windows.append((now, now + seconds))

    def wait(self) -> None:
        super().wait()
        self.passes.append((time.monotonic(), threading.current_thread().name))


def test_a_429_storm_pauses_the_whole_batch_not_one_worker(sandbox, monkeypatch):
    monkeypatch.setattr(pacing, "Pacer", RecordingPacer)  # the operator imports it from there when it runs
    RecordingPacer.instances.clear()
    retry_after = 0.4
    sandbox.faults = Faults(rate_limit_every=15, retry_after=retry_after)
    results = bulk(slotted(40), max_concurrency=8).execute(context())
    assert [r["status"] for r in results] == ["created"] * 40
    assert len(sandbox.bookings) == 40
    (pacer,) = RecordingPacer.instances
    limited = [r for r in sandbox.requests if r.status == 429]
    assert len(limited) >= 2
    assert len(pacer.windows) == len(limited)
    for start, end in pacer.windows:
        # Nobody was let through while a pause held...
        assert not [t for t, _ in pacer.passes if start < t < end - 0.001]
        # ...and nothing reached the sandbox then, bar requests already on the wire when the 429 came.
        assert not [r for r in api_requests(sandbox) if start + 0.15 < r.arrived < end - 0.05]
    # The pause held several workers, not only the one that met the 429.
    first_end = pacer.windows[0][1]
    assert len({name for t, name in pacer.passes if first_end <= t < first_end + retry_after / 2}) >= 2


# ---- failures ---------------------------------------------------------------------------------------


def test_partial_failures_are_reported_by_row(sandbox):
    rows = slotted(12)
    for n in (3, 7):
        rows[n] = {**rows[n], "meeting_slug": "no-such-meeting"}
    ctx = context()
    with pytest.raises(NeetoCalBulkClientError, match="2 of 12 NeetoCal bookings failed"):
        bulk(rows, max_concurrency=8).execute(ctx)
    assert [f["row"] for f in ctx["ti"].xcoms["failures"]] == [3, 7]
    assert all("Meeting not found" in f["error"] for f in ctx["ti"].xcoms["failures"])
    sids = ctx["ti"].xcoms["booking_sids"]
    assert [n for n, sid in enumerate(sids) if sid is None] == [3, 7]
    assert len(sandbox.bookings) == 10


def test_failed_rows_are_in_the_compact_return_when_not_failing_the_task(sandbox):
    rows = slotted(4)
    rows[1] = {**rows[1], "meeting_slug": "no-such-meeting"}
    results = bulk(rows, max_concurrency=4, fail_on_error=False).execute(context())
    assert [r["status"] for r in results] == ["created", "failed", "created", "created"]
    assert results[1]["sid"] is None
    assert "Meeting not found" in results[1]["error"]


def test_invalid_rows_are_refused_before_any_request(sandbox):
    rows = slotted(50)
    rows[17] = {**rows[17], "email": "not-an-address"}
    rows[42] = {**rows[42], "slot_start": "2031-02-30T10:00:00Z"}
    with pytest.raises(NeetoCalValidationError) as raised:
        bulk(rows, max_concurrency=8).execute(context())
    assert raised.value.fields == ["bookings[17].email", "bookings[42].slot_start"]
    assert sandbox.requests == []


# ---- exactly once under faults -----------------------------------------------------------------------


def test_exactly_once_under_periodic_faults_with_concurrency(sandbox, airflow_db, monkeypatch):
    """Lost answers after commit and 5xx before it, 8 rows in flight, on a group meeting (where NeetoCal
    would accept a duplicate): after Airflow's retries every attendee holds exactly one booking."""
    record_hook_waits(monkeypatch)  # the settle waits are recorded, not slept
    sandbox.faults = Faults(commit_then_drop_every=5, server_error_every=11)
    start = pendulum.datetime(2031, 1, 6, 10, tz="Europe/London")  # Monday, webinar hours 10:00-16:00
    rows = [
        {
            "name": f"Guest {n}",
            "email": f"guest{n}@example.com",
            "slot_start": start.add(days=7 * (n // 6), hours=n % 6).to_iso8601_string(),
        }
        for n in range(24)
    ]
    rows += [{"name": f"Walk-in {n}", "email": f"walkin{n}@example.com"} for n in range(6)]  # slot-less
    with DAG(
        dag_id="neetocal_bulk_concurrency_faults",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 4, "retry_delay": dt.timedelta(0)},
    ) as dag:
        NeetoCalCreateBookingsOperator(
            task_id="bulk", bookings=rows, meeting_slug="weekly-webinar", time_zone="Europe/London", max_concurrency=8
        )
    run = run_in_airflow(dag)
    assert run.state == "success", task_instances(run, "bulk")
    ((_, tries),) = task_instances(run, "bulk").values()
    assert tries >= 2, "no row was left for Airflow's retry: the faults proved nothing about it"
    per_attendee = live_per_attendee(sandbox)
    assert sorted(per_attendee) == sorted(r["email"] for r in rows)  # none lost
    assert set(per_attendee.values()) == {1}  # none twice
    faulted = [r for r in posts(sandbox) if r.fault]
    assert faulted, "the fault switch never hit a POST"


# ---- size ----------------------------------------------------------------------------------------------


def test_a_2000_row_batch_completes(sandbox):
    rows = slotted(2000)
    ctx = context()
    results = bulk(rows, max_concurrency=8, progress_every_rows=500).execute(ctx)
    assert sum(r["status"] == "created" for r in results) == 2000
    assert len(sandbox.bookings) == 2000
    assert None not in ctx["ti"].xcoms["booking_sids"]
