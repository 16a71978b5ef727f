"""Review 19 repros: the event trigger (memory in the asset state store, one event per poll, shared
streams). Each test states what should hold; those still open are strict xfails (README, "Known gaps").

Same harness as ``test_event_trigger_memory.py``: real HTTP against the sandbox, a fake asset state
store, and a fake clock (``asyncio.sleep`` moves the sandbox clock and runs the next scripted action).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS, ASSET_STATE_STORE_SUPPORTED
from airflow_provider_neetocal.booking_changes import MEMORY_FORMAT
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.integration import test_booking_triggers
from tests.integration.test_booking_triggers import book
from tests.integration.test_event_trigger_memory import changes, drive, restarted
from tests.state_store import FakeAssetStateStore

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

moving_clock = test_booking_triggers.moving_clock


def _slot(i: int) -> tuple[int, str]:
    day, slot = divmod(i, 90)
    return 1 + day, pendulum.datetime(2000, 1, 1).add(minutes=15 * slot).format("hh:mm A")


# -- false "created" ---------------------------------------------------------------------------------


def test_a_booking_awaiting_approval_at_the_baseline_then_approved_is_not_created(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    pending = book(sandbox, days=2, at="09:00 AM", email="pending@example.com")
    sandbox.set_status(pending["sid"], "awaiting_approval")  # before the watcher's baseline
    sandbox.advance_clock(60)  # a minute before it (one made in the baseline's second reads as new: README)
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    payloads = drive(
        trigger,
        moving_clock,
        [lambda: sandbox.set_status(pending["sid"], "confirmed"), None],
        store=FakeAssetStateStore(),
    )
    assert changes(payloads) == []  # it existed before the watcher started: not new


def test_a_started_booking_moved_to_a_later_slot_is_rescheduled_not_created(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    started = book(sandbox, days=1, at="09:00 AM", email="started@example.com")
    sandbox.set_clock(pendulum.parse(started["starts_at"]).add(minutes=5))  # it has started: not upcoming
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=3).to_date_string()

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

    payloads = drive(trigger, moving_clock, [move, None], store=FakeAssetStateStore())
    assert changes(payloads) == [[("rescheduled", started["sid"])]]  # never "created": it is not new


def test_a_page_shift_during_the_baseline_walk_does_not_make_an_old_booking_created(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    made = [book(sandbox, days=_slot(i)[0], at=_slot(i)[1], email=f"p{i}@example.com") for i in range(101)]
    first = min(made, key=lambda b: b["starts_at"])
    # During the baseline walk: page 1 is answered, then its first booking is cancelled, so the 101st
    # moves onto page 1 and is in neither page of the baseline.
    sandbox.after_page(lambda: sandbox.set_status(first["sid"], "cancelled"), page=1)
    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, [None, None], store=FakeAssetStateStore()
    )
    created = [sid for event in changes(payloads) for kind, sid in event if kind == "created"]
    assert created == []  # every booking existed before the watcher started


# -- a garbage memory that crashes run() (Airflow re-creates it a second later: a restart loop) --------


def _memory_with(
    trigger: NeetoCalBookingEventTrigger, sandbox: NeetoCalSandbox, moving_clock: list
) -> tuple[FakeAssetStateStore, dict[str, Any]]:
    store = FakeAssetStateStore()
    drive(trigger, moving_clock, [None], store=store)
    return store, store.only()


@pytest.mark.skipif(not ASSET_STATE_STORE_SUPPORTED, reason="the memory lives in the asset state store: Airflow 3.3+")
@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(
            lambda v: v.update(outbox=[{"change": ["created"], "change_id": "x", "booking_sid": "x", "booking": {}}]),
            id="outbox-change-is-a-list",
        ),
    ],
)
def test_a_corrupt_memory_of_the_right_format_is_a_fresh_baseline_not_an_exception(
    sandbox: NeetoCalSandbox, moving_clock: list, corrupt: Any
) -> None:
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    store, value = _memory_with(trigger, sandbox, moving_clock)
    assert value["format"] == MEMORY_FORMAT
    corrupt(value)
    store.set(trigger.memory_key(), value)
    made: dict[str, Any] = {}
    payloads = drive(
        restarted(trigger),
        moving_clock,
        [lambda: made.setdefault("b", book(sandbox, at="11:00 AM")), None],
        store=store,
    )
    assert changes(payloads) == [[("created", made["b"]["sid"])]]


# -- a 401 that never recovers ----------------------------------------------------------------------


def test_one_spurious_401_does_not_stop_the_watcher_for_good(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    made: dict[str, Any] = {}

    def one_401() -> None:
        sandbox.inject("raw", method="GET", path="/bookings", status=401, body='{"error": "Unauthorized"}')

    polls: list[Any] = [one_401] + [None] * 5 + [lambda: made.setdefault("b", book(sandbox, at="11:00 AM"))]
    polls += [None] * 40
    payloads = drive(NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, polls, store=FakeAssetStateStore())
    assert changes(payloads) == [[("created", made["b"]["sid"])]]


# -- shared streams ----------------------------------------------------------------------------------


def test_a_refused_listing_argument_does_not_end_the_shared_poll(sandbox: NeetoCalSandbox) -> None:
    # Passes the parse-time check (syntax only); the email validator refuses it when the watcher lists.
    trigger = NeetoCalBookingEventTrigger(host_email="host@-example.com", poll_interval=30.0)

    async def first_item() -> Any:
        stream = NeetoCalBookingEventTrigger.open_shared_stream(trigger.serialize()[1])
        try:
            return await asyncio.wait_for(stream.__anext__(), timeout=5)
        except asyncio.TimeoutError:
            return "parked"
        finally:
            await stream.aclose()

    item = asyncio.run(first_item())  # run() parks on the same error; the shared poll must not raise
    assert item == "parked" or (isinstance(item, dict) and item.get("kind") in ("refused", "failed"))


# -- one 404 on a re-check -----------------------------------------------------------------------------


def _one_404(sandbox: NeetoCalSandbox, sid: str) -> None:
    sandbox.inject("raw", method="GET", path=f"/bookings/{sid}", status=404, body='{"error": "Not found"}')


@pytest.mark.parametrize(
    "sandbox", [pytest.param(("v1", "bare"), id="v1"), pytest.param(("v2", "bare"), id="v2")], indirect=True
)
def test_one_404_on_the_recheck_of_a_cancelled_booking_does_not_lose_the_cancellation(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, days=2, at="09:00 AM", email="known@example.com")

    def cancel_and_404_once() -> None:
        NeetoCalHook().cancel_booking(known["sid"], cancel_reason="gone for good")
        _one_404(sandbox, known["sid"])

    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0),
        moving_clock,
        [cancel_and_404_once, None, None],
        store=FakeAssetStateStore(),
    )
    assert changes(payloads) == [[("cancelled", known["sid"])]]


def test_one_404_on_the_recheck_of_a_booking_awaiting_approval_is_no_created_event(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, days=2, at="09:00 AM", email="known@example.com")

    def await_approval_and_404_once() -> None:
        sandbox.set_status(known["sid"], "awaiting_approval")
        _one_404(sandbox, known["sid"])

    between = [await_approval_and_404_once, None, lambda: sandbox.set_status(known["sid"], "confirmed"), None]
    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, between, store=FakeAssetStateStore()
    )
    assert changes(payloads) == []


# -- a connection that does not exist: an exception escapes run() (Airflow re-creates it: a loop) -----


def test_a_missing_connection_parks_the_watcher_instead_of_raising_out_of_run(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    trigger = NeetoCalBookingEventTrigger(neetocal_conn_id="neetocal_typo", poll_interval=30.0)
    assert drive(trigger, moving_clock, [None, None], store=FakeAssetStateStore()) == []


def test_a_missing_connection_does_not_end_the_shared_poll(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    trigger = NeetoCalBookingEventTrigger(neetocal_conn_id="neetocal_typo", poll_interval=30.0)

    async def first_item() -> Any:
        stream = NeetoCalBookingEventTrigger.open_shared_stream(trigger.serialize()[1])
        try:
            return await asyncio.wait_for(stream.__anext__(), timeout=5)
        except asyncio.TimeoutError:
            return "parked"
        finally:
            await stream.aclose()

    moving_clock.extend([lambda: None] * 5)
    item = asyncio.run(first_item())
    assert item == "parked" or (isinstance(item, dict) and item.get("kind") in ("refused", "failed"))


# -- new bookings beyond the page cap --------------------------------------------------------------


@pytest.mark.parametrize("sandbox", [pytest.param(("v2", "bare"), id="v2")], indirect=True)
def test_a_new_booking_beyond_the_page_cap_reaches_an_event(sandbox: NeetoCalSandbox, moving_clock: list) -> None:
    made = [book(sandbox, days=_slot(i)[0], at=_slot(i)[1], email=f"p{i}@example.com") for i in range(101)]
    early = sorted(made, key=lambda b: b["starts_at"])[:2]
    new: dict[str, Any] = {}
    sandbox.advance_clock(60)  # made a minute before the watcher starts

    def cancel_two_early() -> None:
        for booking in early:
            NeetoCalHook().cancel_booking(booking["sid"], cancel_reason="room for the new one")

    between = [
        lambda: new.setdefault("b", book(sandbox, days=5, at="10:00 AM", email="new@example.com")),
        None,
        cancel_two_early,
        None,
        None,
    ]
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_pages=1)
    payloads = drive(trigger, moving_clock, between, store=FakeAssetStateStore())
    created = [sid for event in changes(payloads) for kind, sid in event if kind == "created"]
    assert created == [new["b"]["sid"]], changes(payloads)


# -- shared streams: a key rotation --------------------------------------------------------------------


def _shared_payloads(
    triggers: list[NeetoCalBookingEventTrigger], moving_clock: list, between: list[Any]
) -> dict[int, list[dict[str, Any]]]:
    """Run ``triggers`` through Airflow 3.3's real SharedStreamManager, as the triggerer does (one group,
    one poll loop, each trigger's filter_shared_stream); ``between[i]`` runs at the poll loop's i+1-th sleep."""
    from airflow.triggers.shared_stream import SharedStreamManager

    class _StopError(Exception):
        pass

    def stop() -> None:
        raise _StopError

    moving_clock.clear()
    moving_clock.extend([a or (lambda: None) for a in between] + [stop])
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(triggers))}

    async def go() -> None:
        manager = SharedStreamManager()

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

        tasks = [asyncio.create_task(one(i, t)) for i, t in enumerate(triggers)]
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
        await manager.stop_all()

    asyncio.run(go())
    moving_clock.clear()
    return out


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="shared trigger streams: Airflow 3.3+")
def test_after_a_key_rotation_shared_watchers_emit_again(
    sandbox: NeetoCalSandbox, moving_clock: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import neetocal_conn_json

    first = book(sandbox, days=2, at="09:00 AM", email="first@example.com")
    second = book(sandbox, days=2, at="10:00 AM", email="second@example.com")
    made: dict[str, Any] = {}

    def rotate_the_key_then_change_things() -> None:
        sandbox._server.api_key = "rotated-key-24680"  # NeetoCal: the old key is revoked, a new one issued
        monkeypatch.setenv(
            "AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, password="rotated-key-24680")
        )
        sandbox.set_status(second["sid"], "cancelled")
        made["b"] = book(sandbox, days=3, at="11:00 AM", email="after@example.com")

    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0)
    trigger.asset_state_store = FakeAssetStateStore()
    between = [lambda: sandbox.set_status(first["sid"], "cancelled"), None, None, rotate_the_key_then_change_things]
    out = _shared_payloads([trigger], moving_clock, between + [None] * 8)
    seen = sorted((kind, sid) for payload in out[0] for kind, sid in changes([payload])[0])
    assert ("cancelled", first["sid"]) in seen  # before the rotation
    assert ("created", made["b"]["sid"]) in seen
    assert ("cancelled", second["sid"]) in seen


def test_a_booking_moved_from_beyond_the_page_cap_into_view_is_not_created(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    made = [book(sandbox, days=_slot(i)[0], at=_slot(i)[1], email=f"p{i}@example.com") for i in range(101)]
    last = max(made, key=lambda b: b["starts_at"])  # beyond the first page: never listed
    sandbox.advance_clock(60)  # made a minute before the watcher starts
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=1).to_date_string()

    def move_into_view() -> None:
        NeetoCalHook().reschedule_booking(
            last["sid"],
            {
                "name": "Eve",
                "email": last["email"],
                "slot_date": day,
                "slot_start_time": "10:30 PM",
                "time_zone": "UTC",
            },
        )

    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_pages=1)
    payloads = drive(trigger, moving_clock, [move_into_view, None], store=FakeAssetStateStore())
    created = [sid for event in changes(payloads) for kind, sid in event if kind == "created"]
    assert created == [], changes(payloads)
