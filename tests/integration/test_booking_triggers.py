"""The triggers over real HTTP against the sandbox: serialise round trip, the wait loop's outcomes and the
event trigger's one event per change, across a restart.

Polling waits are made instant by a fake ``asyncio.sleep`` that moves the sandbox's clock instead (and,
for the event trigger, runs the next scripted change): nothing here depends on wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal import exceptions as errors
from airflow_provider_neetocal.booking_wait import exception_from_event
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger, NeetoCalBookingTrigger
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.integration.conftest import API_SETUPS

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

REAL_SLEEP = asyncio.sleep


def book(sandbox: NeetoCalSandbox, *, days: int = 1, at: str = "10:00 AM", email: str = "eve@example.com") -> dict:
    """A quick-sync booking (15 min, UTC) ``days`` after the sandbox's today, through the sync hook."""
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=days).to_date_string()
    hook = NeetoCalHook()
    payload = {
        "meeting_slug": "quick-sync",
        "name": "Eve",
        "email": email,
        "slot_date": day,
        "slot_start_time": at,
        "time_zone": "UTC",
    }
    return hook.create_booking(payload)


@pytest.fixture
def moving_clock(sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """``asyncio.sleep(s)`` advances the sandbox clock by ``s`` and runs the next queued action, if any."""
    actions: list[Callable[[], Any]] = []

    async def fake_sleep(seconds: float, result: Any = None) -> Any:
        if seconds > 0:
            sandbox.advance_clock(seconds)
            if actions:
                actions.pop(0)()
        return await REAL_SLEEP(0, result)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return actions


def run_trigger(trigger: NeetoCalBookingTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    return asyncio.run(first_event())


def wait_trigger(sid: str, **kwargs: Any) -> NeetoCalBookingTrigger:
    kwargs.setdefault("poll_interval", 60.0)
    return NeetoCalBookingTrigger(booking_sid=sid, **kwargs)


def test_both_triggers_serialise_every_argument_and_rebuild_from_it() -> None:
    for trigger in (
        NeetoCalBookingTrigger(
            booking_sid="abc",
            wait_for="end",
            target_statuses=[],
            neetocal_conn_id="c",
            api_version="v1",
            poll_interval=5.0,
            deadline=1900000000.0,
        ),
        NeetoCalBookingEventTrigger(
            neetocal_conn_id="c",
            changes=["created"],
            meeting_slug="quick-sync",
            host_email="sam@example.com",
            poll_interval=5.0,
            max_pages=3,
            max_rechecks=4,
        ),
    ):
        classpath, kwargs = trigger.serialize()
        module, name = classpath.rsplit(".", 1)
        rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert TEST_API_KEY not in repr(kwargs)


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_success_when_the_status_is_already_there(sandbox: NeetoCalSandbox) -> None:
    booking = book(sandbox)
    event = run_trigger(wait_trigger(booking["sid"], target_statuses=["confirmed"]))
    assert event["status"] == "success"
    assert event["booking"]["sid"] == booking["sid"]
    assert {r.method for r in sandbox.requests if r.path.startswith("/bookings/")} == {"GET"}


def test_waits_until_the_meeting_has_ended_by_neetocals_clock(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    booking = book(sandbox, days=1)
    hours_left = (pendulum.parse(booking["ends_at"]) - pendulum.instance(sandbox.now())).total_seconds() / 3600
    event = run_trigger(wait_trigger(booking["sid"], wait_for="end", poll_interval=3600.0))
    assert event["status"] == "success"
    assert pendulum.instance(sandbox.now()) >= pendulum.parse(booking["ends_at"])
    polls = [r for r in sandbox.requests if r.path == f"/bookings/{booking['sid']}"]
    assert len(polls) == int(hours_left) + 2  # one read now, one per simulated hour, the last after the end


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_a_booking_cancelled_while_waiting_ends_the_wait(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    booking = book(sandbox)
    sandbox.set_status(booking["sid"], "cancelled", at=sandbox.now() + dt.timedelta(minutes=2), reason="ill")
    event = run_trigger(wait_trigger(booking["sid"], wait_for="end"))
    assert event["status"] == "ended"
    assert "cancelled (ill)" in event["message"]


def test_times_out_at_the_absolute_deadline(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    booking = book(sandbox)
    event = run_trigger(
        wait_trigger(booking["sid"], wait_for="status", target_statuses=["cancelled"], deadline=time.time() - 1)
    )
    assert event["status"] == "timeout"
    assert event["booking"]["status"] == "confirmed"


def test_a_wrong_key_is_an_auth_error_event(sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_WRONG", neetocal_conn_json(sandbox.url, password="wrong-key-123456"))
    event = run_trigger(wait_trigger("abc1234", neetocal_conn_id="neetocal_wrong"))
    assert event["status"] == "error"
    error = exception_from_event(event)
    assert isinstance(error, errors.NeetoCalAuthError)
    assert "wrong-key-123456" not in repr(event)


def test_a_missing_booking_is_a_not_found_event(sandbox: NeetoCalSandbox) -> None:
    assert isinstance(exception_from_event(run_trigger(wait_trigger("nosuch1"))), errors.NeetoCalNotFoundError)


def test_a_429_is_waited_out_then_the_read_succeeds(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    booking = book(sandbox)
    sandbox.inject("rate_limit", times=2, method="GET", retry_after=7)
    event = run_trigger(wait_trigger(booking["sid"]))
    assert event["status"] == "success"
    statuses = [r.status for r in sandbox.requests if r.path == f"/bookings/{booking['sid']}"]
    assert statuses == [429, 429, 200]


def test_5xx_past_the_retry_budget_is_a_retryable_error_event(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    booking = book(sandbox)
    sandbox.inject("server_error", times=10, method="GET", status=503)
    event = run_trigger(wait_trigger(booking["sid"]))
    error = exception_from_event(event)
    assert isinstance(error, errors.NeetoCalServerError)
    assert not isinstance(error, errors.AirflowFailException)
    assert len([r for r in sandbox.requests if r.status == 503]) == 4  # one try and the hook's 3 retries


def test_rate_limit_waits_stop_at_the_deadline_with_a_timeout_event(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry-After: 3600 five times, the deadline 1 s away: no wait (the client's included) passes it."""
    booking = book(sandbox)
    slept: list[float] = []

    async def record_sleep(seconds: float, result: Any = None) -> Any:
        slept.append(seconds)
        return await REAL_SLEEP(0, result)

    monkeypatch.setattr(asyncio, "sleep", record_sleep)
    sandbox.inject("rate_limit", times=5, method="GET", retry_after=3600)
    event = run_trigger(wait_trigger(booking["sid"], wait_for="end", deadline=time.time() + 1.0))
    assert event["status"] == "timeout"
    assert sum(slept) <= 1.0
    reads = [r.status for r in sandbox.requests if r.path == f"/bookings/{booking['sid']}"]
    assert reads in ([429], [429, 429])  # at most one last try at the deadline


@pytest.mark.parametrize("name", ["poll_interval", "deadline"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, "60", True])
def test_a_non_finite_or_negative_number_is_refused_naming_the_argument(name: str, value: object) -> None:
    with pytest.raises(errors.NeetoCalValidationError, match=f"{name}="):
        NeetoCalBookingTrigger(booking_sid="abc1234", **{name: value})


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": float("nan")}, {"poll_interval": 0}, {"max_pages": 0}, {"max_rechecks": 1.5}],
)
def test_the_event_trigger_refuses_numbers_that_would_spin_or_stall(kwargs: dict[str, Any]) -> None:
    with pytest.raises(errors.NeetoCalValidationError, match=f"{next(iter(kwargs))}="):
        NeetoCalBookingEventTrigger(**kwargs)


def test_the_same_watch_written_differently_serialises_and_hashes_alike() -> None:
    from airflow_provider_neetocal._compat import EVENT_TRIGGERS_SUPPORTED

    one = NeetoCalBookingEventTrigger(changes=["created", "cancelled", "created"], poll_interval=60, max_pages=10.0)
    other = NeetoCalBookingEventTrigger(changes=("cancelled", "created"), poll_interval=60.0, max_pages=10)
    assert one.serialize() == other.serialize()
    _classpath, kwargs = one.serialize()
    assert kwargs["changes"] == ["cancelled", "created"]
    assert isinstance(kwargs["poll_interval"], float)
    assert isinstance(kwargs["max_pages"], int)
    if EVENT_TRIGGERS_SUPPORTED:
        from airflow.triggers.base import BaseEventTrigger

        assert BaseEventTrigger.hash(*one.serialize()) == BaseEventTrigger.hash(*other.serialize())
    wait = NeetoCalBookingTrigger(booking_sid="abc1234", target_statuses=["confirmed", "awaiting_approval"])
    same = NeetoCalBookingTrigger(booking_sid="abc1234", target_statuses=["awaiting_approval", "confirmed"] * 2)
    assert wait.serialize() == same.serialize()


# -- the event trigger ---------------------------------------------------------------------------


def collect_events(trigger: NeetoCalBookingEventTrigger, count: int, polls: int = 20) -> list[dict[str, Any]]:
    """Run the event trigger until events carrying ``count`` changes came; returns those changes
    (each event is one poll's list of changes), failing after 30 s without one."""

    async def go() -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = []
        agen = trigger.run()
        try:
            while len(changes) < count:
                changes.extend((await asyncio.wait_for(agen.__anext__(), timeout=30)).payload["changes"])
        finally:
            await agen.aclose()
        return changes

    return asyncio.run(go())


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_each_change_once_and_without_a_store_a_restart_is_a_new_baseline(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    hook = NeetoCalHook()
    existing = book(sandbox, at="09:00 AM", email="old@example.com")
    state: dict[str, Any] = {}

    def create() -> None:
        state["new"] = book(sandbox, at="11:00 AM", email="new@example.com")

    def reschedule() -> None:
        day = pendulum.parse(existing["starts_at"]).to_date_string()
        hook.reschedule_booking(
            existing["sid"],
            {
                "name": "Eve",
                "email": "old@example.com",
                "slot_date": day,
                "slot_start_time": "02:00 PM",
                "time_zone": "UTC",
            },
        )

    def cancel() -> None:
        hook.cancel_booking(state["new"]["sid"], cancel_reason="no longer needed")

    moving_clock.extend([create, reschedule, cancel])
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    events = collect_events(trigger, 3)
    assert [(e["change"], e["booking_sid"]) for e in events] == [
        ("created", state["new"]["sid"]),
        ("rescheduled", existing["sid"]),
        ("cancelled", state["new"]["sid"]),
    ]
    assert events[1]["previous_starts_at"] == existing["starts_at"]
    assert events[2]["booking"]["cancel_reason"] == "no longer needed"

    # A triggerer restart without an asset state store (Airflow < 3.3): rebuilt from its arguments.
    _classpath, kwargs = trigger.serialize()
    restarted = NeetoCalBookingEventTrigger(**kwargs)
    later: dict[str, Any] = {}
    moving_clock.extend([lambda: None, lambda: None, lambda: later.setdefault("b", book(sandbox, at="04:00 PM"))])
    again = collect_events(restarted, 1)
    assert [(e["change"], e["booking_sid"]) for e in again] == [("created", later["b"]["sid"])]
    assert {r.method for r in sandbox.requests if r.path.startswith(("/bookings", "/meetings"))} >= {"GET"}
    assert TEST_API_KEY not in repr(events + again)


def test_the_event_trigger_only_reads(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    moving_clock.extend([lambda: book(sandbox)])
    before = len(sandbox.requests)
    collect_events(NeetoCalBookingEventTrigger(meeting_slug="quick-sync"), 1)
    trigger_requests = [r for r in sandbox.requests[before:] if not (r.method == "POST" and r.path == "/bookings")]
    assert trigger_requests
    assert {r.method for r in trigger_requests} == {"GET"}


class _StopPollingError(Exception):
    """Raised from the fake clock to end a scripted run of the event trigger."""


def events_over_polls(
    trigger: NeetoCalBookingEventTrigger, moving_clock: list, between: list[Callable[[], Any] | None]
) -> list[dict[str, Any]]:
    """Every change the events of ``len(between) + 1`` polls carry; ``between[i]`` runs before poll ``i + 2``."""

    def stop() -> None:
        raise _StopPollingError

    moving_clock.extend([action or (lambda: None) for action in between] + [stop])
    events: list[dict[str, Any]] = []

    async def go() -> None:
        agen = trigger.run()
        try:
            while True:
                events.extend((await agen.__anext__()).payload["changes"])
        except _StopPollingError:
            pass
        finally:
            await agen.aclose()

    asyncio.run(go())
    return events


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_a_booking_awaiting_approval_then_confirmed_again_is_no_event(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, days=2, at="09:00 AM", email="old@example.com")
    between = [
        lambda: sandbox.set_status(known["sid"], "awaiting_approval"),
        lambda: sandbox.set_status(known["sid"], "confirmed"),
        None,
    ]
    assert events_over_polls(NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, between) == []


def test_a_cancellation_during_a_two_page_walk_is_one_cancelled_event_and_nothing_created(
    sandbox: NeetoCalSandbox, moving_clock: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """101 upcoming bookings; page 1 is read, then its first booking is cancelled, so the 101st moves
    onto page 1 and is in neither page this poll."""
    from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient

    made = []
    for i in range(101):
        day, slot = divmod(i, 90)
        at = pendulum.datetime(2000, 1, 1).add(minutes=15 * slot).format("hh:mm A")
        made.append(book(sandbox, days=1 + day, at=at, email=f"p{i}@example.com"))
    by_start = sorted(made, key=lambda b: b["starts_at"])
    first = by_start[0]
    armed = {"now": False}
    read_page = NeetoCalAsyncClient._object

    async def cancel_after_page_one(self: NeetoCalAsyncClient, call: Any) -> dict[str, Any]:
        data = await read_page(self, call)
        if armed["now"] and call.path == "/bookings" and (call.query or {}).get("page_number") == 1:
            armed["now"] = False
            NeetoCalHook().cancel_booking(first["sid"], cancel_reason="concurrent")
        return data

    monkeypatch.setattr(NeetoCalAsyncClient, "_object", cancel_after_page_one)
    between = [lambda: armed.update(now=True), None, None]
    events = events_over_polls(NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, between)
    assert [(e["change"], e["booking_sid"]) for e in events] == [("cancelled", first["sid"])]
