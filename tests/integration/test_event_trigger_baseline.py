"""The event trigger's baseline and its reading of doubtful answers, over real HTTP against the sandbox:
a proven baseline walk, bookings that started before it, a 404 believed only after several polls, and
on v2 new bookings read newest first beyond the page cap (and what that costs).

Same harness as ``test_event_trigger_memory.py`` (fake asset state store, fake clock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal.booking_changes import GONE_AFTER
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.integration import test_booking_triggers
from tests.integration.test_booking_triggers import book
from tests.integration.test_event_trigger_memory import changes, drive
from tests.state_store import FakeAssetStateStore

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

moving_clock = test_booking_triggers.moving_clock


def _slot(i: int) -> tuple[int, str]:
    day, slot = divmod(i, 90)
    return 1 + day, pendulum.datetime(2000, 1, 1).add(minutes=15 * slot).format("hh:mm A")


def _many(sandbox: NeetoCalSandbox, count: int) -> list[dict[str, Any]]:
    made = [book(sandbox, days=_slot(i)[0], at=_slot(i)[1], email=f"p{i}@example.com") for i in range(count)]
    sandbox.advance_clock(60)  # made a minute before the watcher starts
    return sorted(made, key=lambda b: b["starts_at"])


def test_a_booking_hidden_by_a_page_shift_during_the_baseline_walk_is_known_its_cancellation_is_emitted(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    made = _many(sandbox, 101)
    # Page 1 is answered, then its first booking is cancelled: the 101st moves onto page 1 and is on
    # neither page of that walk. A second walk sees it; the two walks then agree.
    sandbox.after_page(lambda: NeetoCalHook().cancel_booking(made[0]["sid"], cancel_reason="shift"), page=1)
    hidden = made[100]
    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0),
        moving_clock,
        [lambda: NeetoCalHook().cancel_booking(hidden["sid"], cancel_reason="later"), None],
        store=FakeAssetStateStore(),
    )
    assert changes(payloads) == [[("cancelled", hidden["sid"])]]


def test_a_known_booking_answering_404_is_re_read_until_three_polls_agree_then_dropped_silently(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, days=2, at="09:00 AM", email="known@example.com")
    sandbox.advance_clock(60)  # made a minute before the watcher starts

    def hide_it() -> None:
        sandbox.set_status(known["sid"], "awaiting_approval")  # missing from the listing: re-checked
        sandbox.inject("raw", GONE_AFTER, method="GET", path=f"/bookings/{known['sid']}", status=404, body="{}")

    between = [hide_it] + [None] * (GONE_AFTER + 1) + [lambda: sandbox.set_status(known["sid"], "confirmed"), None]
    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, between, store=FakeAssetStateStore()
    )
    rechecks = [r.status for r in sandbox.requests if r.path == f"/bookings/{known['sid']}"]
    assert rechecks == [404] * GONE_AFTER  # then forgotten: no more re-reads
    assert changes(payloads) == []  # listed again once approved: made before the baseline, not new


@pytest.mark.parametrize("sandbox", [pytest.param(("v2", "bare"), id="v2")], indirect=True)
def test_a_booking_started_at_the_baseline_and_moved_later_is_rescheduled_on_v2(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    older = book(sandbox, days=1, at="08:00 AM", email="older@example.com")
    started = book(sandbox, days=1, at="09:00 AM", email="started@example.com")
    sandbox.set_clock(pendulum.parse(started["starts_at"]).add(minutes=5))
    day = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=3).to_date_string()

    def move() -> None:
        NeetoCalHook().reschedule_booking(
            started["sid"], {"slot_date": day, "slot_start_time": "10:00 AM", "time_zone": "UTC"}
        )

    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0), moving_clock, [move, None], store=FakeAssetStateStore()
    )
    assert changes(payloads) == [[("rescheduled", started["sid"])]]
    assert payloads[0]["changes"][0]["previous_starts_at"] == started["starts_at"]
    past = [r.query for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "past"]
    assert [(q.get("sorting_key"), q.get("sorting_order")) for q in past] == [("starts_at", "desc")]
    assert older["sid"] != started["sid"]


@pytest.mark.parametrize("sandbox", [pytest.param(("v2", "bare"), id="v2")], indirect=True)
def test_beyond_the_page_cap_v2_reads_only_the_pages_of_new_bookings_newest_first(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    _many(sandbox, 150)
    new: list[dict[str, Any]] = []
    between = [lambda: new.append(book(sandbox, days=6, at="10:00 AM", email="new@example.com")), None, None]
    trigger = NeetoCalBookingEventTrigger(poll_interval=30.0, max_pages=1)
    payloads = drive(trigger, moving_clock, between, store=FakeAssetStateStore())
    assert changes(payloads) == [[("created", new[0]["sid"])]]
    newest = [r for r in sandbox.requests if r.path == "/bookings" and r.query.get("sorting_key") == "created_at"]
    assert [r.query.get("sorting_order") for r in newest] == ["desc"] * 3  # one page a poll after the baseline
    assert all(r.query.get("page_number") == "1" for r in newest)


def test_a_failed_read_of_started_bookings_keeps_the_baseline_and_is_tried_again_next_poll(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, days=2, at="09:00 AM", email="known@example.com")
    sandbox.advance_clock(60)

    def forbid_the_next_listing() -> None:  # the baseline's next listing is its look at started bookings
        sandbox.inject("raw", method="GET", path="/bookings", status=403, body='{"error": "Forbidden"}')

    sandbox.after_page(forbid_the_next_listing, page=1)
    payloads = drive(
        NeetoCalBookingEventTrigger(poll_interval=30.0),
        moving_clock,
        [lambda: NeetoCalHook().cancel_booking(known["sid"], cancel_reason="after the baseline"), None],
        store=FakeAssetStateStore(),
    )
    assert changes(payloads) == [[("cancelled", known["sid"])]]  # the baseline stood: known was known
    past = [r.status for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "past"]
    assert past == [403, 200]  # tried again with the next poll, then not again
