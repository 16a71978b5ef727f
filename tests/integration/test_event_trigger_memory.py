"""The event trigger's memory across restarts (Airflow 3.3's asset state store), its errors and its
events, over real HTTP against the sandbox, with a fake store that behaves like the real accessor
(:mod:`tests.state_store`: JSON values only).

A "triggerer restart" is what the triggerer does: a new trigger instance built from the serialised
arguments, handed the same asset's store. Polling waits are the fake clock of the trigger tests (a
sleep moves the sandbox clock and runs the next scripted action): nothing depends on wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal._compat import ASSET_STATE_STORE_SUPPORTED
from airflow_provider_neetocal.booking_changes import MEMORY_FORMAT
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.integration import test_booking_triggers
from tests.integration.conftest import API_SETUPS
from tests.integration.test_booking_triggers import book
from tests.state_store import FakeAssetStateStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

#: The trigger tests' fake clock: ``asyncio.sleep`` moves the sandbox clock and runs the next action.
moving_clock = test_booking_triggers.moving_clock
#: Memory across restarts needs the asset state store (Airflow 3.3+); below, the trigger ignores a store.
needs_store = pytest.mark.skipif(not ASSET_STATE_STORE_SUPPORTED, reason="asset state store: Airflow 3.3+")


class _StopPollingError(Exception):
    """Raised from the fake clock to end a scripted run of the trigger."""


def restarted(trigger: NeetoCalBookingEventTrigger) -> NeetoCalBookingEventTrigger:
    """What a triggerer restart runs: a new instance from the serialised arguments."""
    _classpath, kwargs = trigger.serialize()
    return NeetoCalBookingEventTrigger(**kwargs)


def drive(
    trigger: NeetoCalBookingEventTrigger,
    moving_clock: list,
    between: list[Callable[[], Any] | None],
    *,
    store: FakeAssetStateStore | None,
    crash_after_event: bool = False,
) -> list[dict[str, Any]]:
    """The event payloads of a run: ``between[i]`` runs at the trigger's ``i + 1``-th sleep, and the run
    ends at the sleep after the last one (or, with ``crash_after_event``, as soon as one event came,
    before the trigger's next statement: a triggerer killed right after the yield)."""
    trigger.asset_state_store = store

    def stop() -> None:
        raise _StopPollingError

    moving_clock.clear()
    moving_clock.extend([action or (lambda: None) for action in between] + [stop])
    payloads: list[dict[str, Any]] = []

    async def go() -> None:
        agen = trigger.run()
        try:
            while True:
                payloads.append((await asyncio.wait_for(agen.__anext__(), timeout=30)).payload)
                if crash_after_event:
                    return
        except _StopPollingError:
            pass
        finally:
            await agen.aclose()

    asyncio.run(go())
    moving_clock.clear()
    return payloads


def changes(payloads: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """Each event as the list of (change, sid) it carries."""
    return [[(c["change"], c["booking_sid"]) for c in payload["changes"]] for payload in payloads]


@needs_store
@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_a_restarted_watcher_emits_once_what_changed_while_it_was_down(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    hook = NeetoCalHook()
    known = book(sandbox, at="09:00 AM", email="known@example.com")
    store = FakeAssetStateStore()
    made: dict[str, Any] = {}
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    first = drive(
        trigger, moving_clock, [lambda: made.setdefault("b", book(sandbox, at="11:00 AM")), None], store=store
    )
    assert changes(first) == [[("created", made["b"]["sid"])]]

    # The triggerer is down: a booking is made and a known one cancelled.
    down = book(sandbox, at="01:00 PM", email="down@example.com")
    hook.cancel_booking(known["sid"], cancel_reason="while down")

    again = drive(restarted(trigger), moving_clock, [None, None], store=store)
    assert sorted(changes(again)[0]) == sorted([("created", down["sid"]), ("cancelled", known["sid"])])
    assert len(again) == 1  # the catch-up is one event; b is not emitted again
    assert TEST_API_KEY not in repr(store.values) + repr(first + again)


@needs_store
def test_a_crash_between_emitting_and_confirming_delivers_the_change_again_with_the_same_id(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """At least once: the memory is saved with the event's changes in its outbox before the yield; a
    triggerer killed before the next poll interval is over leaves them there, and the restarted
    watcher emits them again (same change_id), then never again."""
    store = FakeAssetStateStore()
    made: dict[str, Any] = {}
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    crashed = drive(
        trigger,
        moving_clock,
        [lambda: made.setdefault("b", book(sandbox, at="11:00 AM"))],
        store=store,
        crash_after_event=True,
    )
    assert changes(crashed) == [[("created", made["b"]["sid"])]]
    assert [c["change_id"] for c in store.only()["outbox"]] == [f"created:{made['b']['sid']}"]

    later: dict[str, Any] = {}
    again = drive(
        restarted(trigger),
        moving_clock,
        [lambda: later.setdefault("c", book(sandbox, at="03:00 PM")), None],
        store=store,
    )
    assert changes(again) == [[("created", made["b"]["sid"])], [("created", later["c"]["sid"])]]
    assert again[0]["changes"][0]["change_id"] == crashed[0]["changes"][0]["change_id"]
    assert store.only()["outbox"] == []  # confirmed: a third life emits nothing old
    assert drive(restarted(trigger), moving_clock, [None], store=store) == []


def test_a_403_among_good_answers_is_retried_without_a_new_baseline(
    sandbox: NeetoCalSandbox, moving_clock: list, log_output: Callable[[], str]
) -> None:
    store = FakeAssetStateStore()
    made: dict[str, Any] = {}

    def book_then_forbid_the_next_listing() -> None:
        made["c"] = book(sandbox, at="11:00 AM")
        sandbox.inject("raw", method="GET", path="/bookings", status=403, body='{"error": "Forbidden"}')

    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    payloads = drive(trigger, moving_clock, [book_then_forbid_the_next_listing, None, None], store=store)
    assert changes(payloads) == [[("created", made["c"]["sid"])]]
    listings = [r.status for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "upcoming"]
    assert listings == [200, 403, 200, 200]
    started = [r.status for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "past"]
    assert started == [200]  # the baseline's look at bookings that already started, once
    logged = log_output()
    assert "keeping what the watcher knows" in logged
    assert TEST_API_KEY not in logged


def test_a_burst_of_five_bookings_within_one_poll_is_one_event_carrying_all_five(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    made: list[dict[str, Any]] = []

    def burst() -> None:
        for hour in ("09:00 AM", "10:00 AM", "11:00 AM", "01:00 PM", "02:00 PM"):
            made.append(book(sandbox, at=hour, email=f"burst{len(made)}@example.com"))

    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, [burst, None], store=FakeAssetStateStore()
    )
    assert len(payloads) == 1
    assert sorted(sid for _kind, sid in changes(payloads)[0]) == sorted(b["sid"] for b in made)
    assert payloads[0]["more"] is False


def test_more_changes_than_max_changes_per_event_go_out_with_the_next_polls(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    made: list[dict[str, Any]] = []

    def burst() -> None:
        for hour in ("09:00 AM", "10:00 AM", "11:00 AM", "01:00 PM", "02:00 PM"):
            made.append(book(sandbox, at=hour, email=f"burst{len(made)}@example.com"))

    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_changes_per_event=2)
    payloads = drive(trigger, moving_clock, [burst, None, None, None], store=FakeAssetStateStore())
    assert [len(p["changes"]) for p in payloads] == [2, 2, 1]
    assert [p["more"] for p in payloads] == [True, True, False]
    assert sorted(sid for event in changes(payloads) for _kind, sid in event) == sorted(b["sid"] for b in made)


@needs_store
@pytest.mark.parametrize(
    "garbage",
    [
        "not json memory",
        42,
        [1, 2, 3],
        {"known": {"abc1234": ["confirmed", "2030-01-01T10:00:00Z"]}},  # no format: an older provider
        {"format": "neetocal-booking-changes/0", "known": {}},
        {"format": MEMORY_FORMAT, "watch": "?", "known": "everything"},
    ],
    ids=["text", "number", "list", "older-provider", "older-format", "wrong-shape"],
)
def test_a_store_holding_garbage_is_a_fresh_baseline_with_a_warning_not_a_crash_or_a_flood(
    sandbox: NeetoCalSandbox, moving_clock: list, log_output: Callable[[], str], garbage: Any
) -> None:
    for hour in ("09:00 AM", "10:00 AM"):
        book(sandbox, at=hour)
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    store = FakeAssetStateStore({trigger.memory_key(): garbage})
    made: dict[str, Any] = {}
    payloads = drive(
        trigger, moving_clock, [lambda: made.setdefault("c", book(sandbox, at="03:00 PM")), None], store=store
    )
    assert changes(payloads) == [[("created", made["c"]["sid"])]]  # the two existing bookings are not "new"
    assert "fresh baseline" in log_output()
    assert store.only()["format"] == MEMORY_FORMAT  # replaced by a good memory


@needs_store
def test_a_good_memory_of_another_watch_in_the_same_key_is_not_used(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    book(sandbox, at="09:00 AM")
    created_only = NeetoCalBookingEventTrigger(poll_interval=30.0, changes=["created"])
    store = FakeAssetStateStore()
    drive(created_only, moving_clock, [None], store=store)
    everything = NeetoCalBookingEventTrigger(poll_interval=30.0)
    assert everything.memory_key() != created_only.memory_key()
    value = store.only()
    value["known"] = {}  # if read, every booking would be "created"
    store.values.clear()
    store.set(everything.memory_key(), value)
    assert drive(everything, moving_clock, [None], store=store) == []


@needs_store
def test_memory_older_than_max_catch_up_age_is_a_fresh_baseline(
    sandbox: NeetoCalSandbox, moving_clock: list, log_output: Callable[[], str]
) -> None:
    """A DAG paused for longer than max_catch_up_age: what changed meanwhile is not emitted."""
    store = FakeAssetStateStore()
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_catch_up_age=86400.0)
    drive(trigger, moving_clock, [None], store=store)
    value = store.only()
    value["saved_at"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).isoformat()
    store.set(trigger.memory_key(), value)
    book(sandbox, at="09:00 AM")  # made while paused for two days
    assert drive(restarted(trigger), moving_clock, [None], store=store) == []
    assert "max_catch_up_age" in log_output()


@needs_store
def test_a_store_that_cannot_be_read_is_retried_not_taken_for_empty(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    store = FakeAssetStateStore()
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    drive(trigger, moving_clock, [None], store=store)
    down = book(sandbox, at="09:00 AM")
    store.fail_reads = 2
    payloads = drive(restarted(trigger), moving_clock, [None, None, None], store=store)
    assert changes(payloads) == [[("created", down["sid"])]]


@needs_store
def test_a_failed_save_still_emits_and_a_restart_emits_again_at_least_once(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    store = FakeAssetStateStore()
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    drive(trigger, moving_clock, [None], store=store)
    made = book(sandbox, at="09:00 AM")
    store.fail_writes = 1
    first = drive(restarted(trigger), moving_clock, [None], store=store, crash_after_event=True)
    assert changes(first) == [[("created", made["sid"])]]
    again = drive(restarted(trigger), moving_clock, [None], store=store)
    assert changes(again) == [[("created", made["sid"])]]


def test_a_refused_key_stops_polling_with_one_error_and_resumes_when_the_key_changes(
    sandbox: NeetoCalSandbox, moving_clock: list, monkeypatch: pytest.MonkeyPatch, log_output: Callable[[], str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_ROTATED", neetocal_conn_json(sandbox.url, password="revoked-key-98765"))
    made: dict[str, Any] = {}

    def fix_the_key() -> None:
        monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_ROTATED", neetocal_conn_json(sandbox.url))

    trigger = NeetoCalBookingEventTrigger(neetocal_conn_id="neetocal_rotated", poll_interval=30.0)
    payloads = drive(
        trigger,
        moving_clock,
        [None, None, None, fix_the_key, lambda: made.setdefault("b", book(sandbox, at="11:00 AM")), None],
        store=FakeAssetStateStore(),
    )
    assert changes(payloads) == [[("created", made["b"]["sid"])]]
    refused = [r for r in sandbox.requests if r.status == 401]
    # One 401 is confirmed by a second after a pause (one may be spurious); then parked: no request
    # while the key stays the same.
    assert len(refused) == NeetoCalBookingEventTrigger.REFUSALS_TO_PARK == 2
    logged = log_output()
    assert logged.count("stopped polling") == 1
    assert "polls again" in logged
    assert "revoked-key-98765" not in logged
    assert TEST_API_KEY not in logged


def test_an_argument_the_api_refuses_stops_the_watcher_with_one_error_not_a_restart_loop(
    sandbox: NeetoCalSandbox, moving_clock: list, log_output: Callable[[], str]
) -> None:
    # A meeting_slug with a '/' is refused when the trigger is built (test_bad_input), and so is a
    # host_email that is no address at all; the email validator's finer rules (here: no hyphen right
    # after the @) run only when the watcher lists (loading it at build would cost every DAG parse).
    trigger = NeetoCalBookingEventTrigger(host_email="not-an-email@-example.com", poll_interval=30.0)
    before = len(sandbox.requests)
    assert drive(trigger, moving_clock, [None, None, None], store=FakeAssetStateStore()) == []
    assert len(sandbox.requests) == before  # nothing sent, and run() did not end (Airflow would restart it)
    logged = log_output()
    assert logged.count("stopped polling") == 1
    assert "host_email" in logged


@needs_store
def test_quiet_polls_do_not_write_the_store_each_time_but_a_change_does(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    store = FakeAssetStateStore()
    made: dict[str, Any] = {}
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    payloads = drive(
        trigger,
        moving_clock,
        [None, None, None, lambda: made.setdefault("b", book(sandbox, at="11:00 AM")), None, None],
        store=store,
    )
    assert changes(payloads) == [[("created", made["b"]["sid"])]]
    # Seven polls: the baseline, the change (outbox in), the poll after it (outbox out); quiet ones skip.
    assert store.writes == 3
    assert store.only()["outbox"] == []


@pytest.mark.skipif(ASSET_STATE_STORE_SUPPORTED, reason="Airflow 3.3+ keeps the memory (tests above)")
def test_below_airflow_3_3_a_restart_is_a_new_baseline_whatever_the_store(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """Airflow 2.11 to 3.2 hand a trigger no store: even one set by hand is not used (today's behaviour)."""
    store = FakeAssetStateStore()
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    drive(trigger, moving_clock, [None], store=store)
    book(sandbox, at="09:00 AM")  # made while "down": not emitted, the restart is a baseline
    assert drive(restarted(trigger), moving_clock, [None], store=store) == []
    assert store.values == {}
