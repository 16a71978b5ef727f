"""Second hostile review of the event trigger (branch events2): repros over real HTTP against the sandbox.

Each test states what should hold and fails on the reviewed code (strict xfail). Same harness as
``test_review_events.py``: a fake asset state store and a fake clock (``asyncio.sleep`` moves the
sandbox clock and runs the next scripted action); shared polls run through Airflow 3.3's own
``SharedStreamManager``.
All now pass as plain tests (their strict xfail markers were removed with the fixes).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.integration import test_booking_triggers
from tests.integration.test_booking_triggers import book
from tests.integration.test_event_trigger_memory import changes, drive, restarted
from tests.state_store import FakeAssetStateStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

moving_clock = test_booking_triggers.moving_clock
needs_shared = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="shared trigger streams: Airflow 3.3+")


def _slot(i: int) -> tuple[int, str]:
    day, slot = divmod(i, 90)
    return 1 + day, pendulum.datetime(2000, 1, 1).add(minutes=15 * slot).format("hh:mm A")


def _many(sandbox: NeetoCalSandbox, count: int) -> list[dict[str, Any]]:
    made = [book(sandbox, days=_slot(i)[0], at=_slot(i)[1], email=f"p{i}@example.com") for i in range(count)]
    sandbox.advance_clock(60)  # made a minute before the watcher starts
    return sorted(made, key=lambda b: b["starts_at"])


class _StopError(Exception):
    pass


def _shared(
    first: list[NeetoCalBookingEventTrigger],
    moving_clock: list,
    between: list[Callable[[Callable[[NeetoCalBookingEventTrigger], None]], Any] | None],
) -> dict[int, list[dict[str, Any]]]:
    """``first`` subscribe at once to one shared poll; ``between[i](join)`` runs at the poll's i+1-th
    sleep and may call ``join(trigger)`` to subscribe another watcher then (a DAG enabled later)."""
    from airflow.triggers.shared_stream import SharedStreamManager

    out: dict[int, list[dict[str, Any]]] = {}

    async def go() -> None:
        manager = SharedStreamManager()
        tasks: list[asyncio.Task[None]] = []

        async def one(i: int, trigger: NeetoCalBookingEventTrigger) -> None:
            key = trigger.shared_stream_key()
            stream = manager.subscribe(trigger_id=i, trigger=trigger, key=key)
            try:
                async for event in trigger.filter_shared_stream(stream):
                    out[i].append(event.payload)
            except _StopError:
                pass
            finally:
                await manager.unsubscribe(i, key)

        def join(trigger: NeetoCalBookingEventTrigger) -> None:
            i = len(out)
            out[i] = []
            tasks.append(asyncio.get_running_loop().create_task(one(i, trigger)))

        def stop() -> None:
            raise _StopError

        moving_clock.clear()
        moving_clock.extend([(lambda a=a: a(join)) if a else (lambda: None) for a in between] + [stop])
        for trigger in first:
            join(trigger)
        for _ in range(600):  # until every task ended (the stop ends the stream, so every subscriber)
            await asyncio.sleep(0)
            if tasks and all(t.done() for t in tasks):
                break
            await asyncio.wait(tasks, timeout=0.05)
        for task in tasks:
            task.cancel()
        await manager.stop_all()

    asyncio.run(go())
    moving_clock.clear()
    return out


def _watcher() -> NeetoCalBookingEventTrigger:
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    trigger.asset_state_store = FakeAssetStateStore()
    return trigger


@needs_shared
@pytest.mark.parametrize("sandbox", [pytest.param(("v2", "bare"), id="v2")], indirect=True)
def test_a_watcher_joining_a_running_shared_poll_sees_a_booking_that_started_before_it_moved_later(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """A watcher's baseline must know the bookings that had started (the change's claim: "reads up to
    5 pages of past bookings so a started booking moved later is ``rescheduled``").

    A watcher that joins a shared poll already running (its DAG enabled later, a second watcher of the
    workspace added) takes the stream's ``started``, read once when the *stream* began. A booking that
    started between the stream's start and the watcher's join is in neither list: moved to a later
    slot, it is listed, unknown, made before the baseline, so silently known: the reschedule is lost.
    (A watcher polling alone reads started bookings itself and emits it: see
    ``test_a_booking_started_at_the_baseline_and_moved_later_is_rescheduled_on_v2``.)
    """
    soon = book(sandbox, days=1, at="09:00 AM", email="soon@example.com")
    start = pendulum.parse(soon["starts_at"])
    sandbox.set_clock(start.subtract(minutes=10))  # not started when the shared poll begins
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=3).to_date_string()

    def it_starts(join: Any) -> None:
        sandbox.set_clock(start.add(minutes=5))

    def a_second_watcher_joins(join: Any) -> None:
        join(NeetoCalBookingEventTrigger(poll_interval=30.0, changes=["rescheduled"]))
        out_of_band["late"] = True

    def move_it_later(join: Any) -> None:
        NeetoCalHook().reschedule_booking(
            soon["sid"], {"slot_date": day, "slot_start_time": "10:00 AM", "time_zone": "UTC"}
        )

    out_of_band: dict[str, bool] = {}
    out = _shared([_watcher()], moving_clock, [it_starts, a_second_watcher_joins, None, move_it_later, None, None])
    assert out_of_band.get("late")
    assert changes(out[0]) == [[("rescheduled", soon["sid"])]]  # the first watcher: fine
    assert changes(out[1]) == [[("rescheduled", soon["sid"])]]  # the late one: nothing


@needs_shared
def test_a_shared_watcher_baseline_knows_a_booking_hidden_by_a_page_shift_its_cancellation_is_emitted(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """ "The baseline walks until two walks agree" must hold for every watcher, shared or not.

    The same scenario as ``test_a_booking_hidden_by_a_page_shift_during_the_baseline_walk_is_known_its_
    cancellation_is_emitted`` (which passes for a watcher polling alone), but through a shared poll
    (the default on Airflow 3.3): the watcher baselines from the stream's single walk, the booking
    the page shift hid is unknown to it, and its cancellation is never emitted.
    """
    made = _many(sandbox, 101)
    sandbox.after_page(lambda: NeetoCalHook().cancel_booking(made[0]["sid"], cancel_reason="shift"), page=1)
    hidden = made[100]

    def cancel_hidden(join: Any) -> None:
        NeetoCalHook().cancel_booking(hidden["sid"], cancel_reason="later")

    out = _shared([_watcher()], moving_clock, [cancel_hidden, None, None])
    seen = [item for event in changes(out[0]) for item in event]
    assert ("cancelled", hidden["sid"]) in seen  # (made[0], cancelled after its page was read, may be too)


def test_a_booking_made_while_the_baseline_is_walked_reaches_a_created_event(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """Every booking made after the baseline time (``since``: the first answer's ``Date`` less 1 s)
    must reach a ``created`` event: the tracker's own rule calls it new.

    The baseline walks the listing (two walks, 2 pages each here). A booking made after page 1 of the
    first walk was answered has ``created_at`` after ``since``, is listed by the later pages and walks,
    and so is taken into the baseline as known: no event, ever (a fresh baseline happens at the first
    start, after ``max_catch_up_age``, after an unreadable or older-format memory).
    """
    _many(sandbox, 101)
    new: list[dict[str, Any]] = []
    sandbox.after_page(lambda: new.append(book(sandbox, days=6, at="10:00 AM", email="new@example.com")), page=1)
    payloads = drive(_watcher(), moving_clock, [None, None], store=FakeAssetStateStore())
    assert new, "the booking was made during the baseline walk"
    assert changes(payloads) == [[("created", new[0]["sid"])]]


def test_on_v1_a_booking_that_just_started_and_is_moved_later_is_rescheduled_in_a_workspace_with_history(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """The change claims the baseline "reads up to 5 pages of past bookings so a started booking moved
    later is ``rescheduled``", and the README's gap is only a booking that "had started long before"
    the baseline. On v1 ``GET /bookings?type=past`` has no sort parameter and lists the *oldest* first
    (the sandbox, like NeetoCal, orders by start ascending), so in any workspace with more than 500
    past bookings the pages read are the oldest 500 and a booking that started five minutes before the
    baseline is not among them: moved to a later slot it is silently known, the reschedule is lost.
    """
    _many(sandbox, 501)  # a workspace with some history: 501 bookings over the next 6 days
    recent = book(sandbox, days=7, at="09:00 AM", email="recent@example.com")
    start = pendulum.parse(recent["starts_at"])
    sandbox.set_clock(start.add(minutes=5))  # the 501 are past, ``recent`` started 5 minutes ago
    day = start.add(days=3).to_date_string()

    def move() -> None:
        NeetoCalHook().reschedule_booking(
            recent["sid"],
            {
                "name": "Eve",
                "email": "recent@example.com",
                "slot_date": day,
                "slot_start_time": "10:00 AM",
                "time_zone": "UTC",
            },
        )

    payloads = drive(_watcher(), moving_clock, [move, None], store=FakeAssetStateStore())
    past = [r for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "past"]
    assert len(past) == 5  # the 5 pages were read
    assert changes(payloads) == [[("rescheduled", recent["sid"])]]


def test_a_watcher_stopped_cleanly_after_an_event_does_not_emit_it_again_when_re_enabled(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """Only a triggerer *crash* may re-deliver a change (README: "A triggerer that dies in between ...
    a change can reach two DAG runs then"); issue 19: every booking made while the DAG is enabled,
    across a pause, reaches exactly one DAG run.

    The outbox is cleared in the store only by the save of the *next successful poll*. Pausing the DAG
    (Airflow cancels its watcher: the cancellation lands in the ``asyncio.sleep`` after the yield), a
    graceful triggerer restart or a move of the trigger to another triggerer at any time between an
    event and the next poll leaves the event's changes in the stored outbox: unpaused, the watcher
    emits them again and the booking reaches a second DAG run. The event was handed to the triggerer
    long before (the generator was resumed), and a cancellation runs the trigger's ``finally``: it
    could confirm the outbox there.
    """
    store = FakeAssetStateStore()
    made: dict[str, Any] = {}
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    first = drive(trigger, moving_clock, [lambda: made.setdefault("b", book(sandbox, at="11:00 AM"))], store=store)
    assert changes(first) == [[("created", made["b"]["sid"])]]  # then paused during the next poll interval
    again = drive(restarted(trigger), moving_clock, [None], store=store)
    assert changes(again) == []


@pytest.mark.parametrize("sandbox", [pytest.param(("v2", "bare"), id="v2")], indirect=True)
def test_on_v2_a_burst_of_new_bookings_beyond_the_page_cap_larger_than_the_cap_all_reach_events(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """The change: "on v2, while the page cap cuts the listing, each poll reads newest-first until a
    known booking". That read is itself cut at ``max_pages``: a burst of more new bookings than
    ``max_pages * 100`` within one poll (a bulk import, a campaign; 101 here with ``max_pages=1``)
    fills the pages read; the next poll's first newest page then holds only known bookings and it
    stops there, so the oldest new ones (beyond the cap by start) are never read: no ``created``
    until they come into view by start time, and none at all if they are cancelled before.
    """
    _many(sandbox, 101)  # the listing is cut at max_pages=1
    new: list[dict[str, Any]] = []

    def burst() -> None:
        for i in range(101):
            day, at = _slot(180 + i)  # later than every booking listed
            new.append(book(sandbox, days=day, at=at, email=f"n{i}@example.com"))

    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_pages=1)
    payloads = drive(trigger, moving_clock, [burst, None, None, None], store=FakeAssetStateStore())
    created = {sid for event in changes(payloads) for kind, sid in event if kind == "created"}
    assert len(new) == 101
    assert {b["sid"] for b in new} - created == set()


def test_a_restart_before_the_retried_look_at_started_bookings_still_reads_them(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    """The change: when the baseline's look at started bookings fails, "the baseline stands and the
    read is tried again before each poll until it succeeds". That promise lives only in RAM
    (``_started_unread``); the memory saved right after the baseline does not say the read is still
    owed. A triggerer restarted before the next poll (a deploy, a crash, the DAG paused) restores that
    memory and never reads started bookings: a booking that had started at the baseline and is then
    moved to a later slot is silently known, the reschedule is lost.
    """
    started = book(sandbox, days=1, at="09:00 AM", email="started@example.com")
    sandbox.set_clock(pendulum.parse(started["starts_at"]).add(minutes=5))  # it has started: not upcoming
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=3).to_date_string()

    def forbid_the_next_listing() -> None:  # the baseline's next listing is its look at started bookings
        sandbox.inject("raw", method="GET", path="/bookings", status=403, body='{"error": "Forbidden"}')

    sandbox.after_page(forbid_the_next_listing, page=1)
    store = FakeAssetStateStore()
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    assert drive(trigger, moving_clock, [], store=store) == []  # baseline, failed look; stopped before a poll
    assert [r.status for r in sandbox.requests if r.query.get("type") == "past"] == [403]

    def move() -> None:
        NeetoCalHook().reschedule_booking(
            started["sid"],
            {
                "name": "Eve",
                "email": "started@example.com",
                "slot_date": day,
                "slot_start_time": "10:00 AM",
                "time_zone": "UTC",
            },
        )

    payloads = drive(restarted(trigger), moving_clock, [move, None], store=store)
    assert changes(payloads) == [[("rescheduled", started["sid"])]]
