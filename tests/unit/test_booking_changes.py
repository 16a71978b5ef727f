"""The event trigger's change detection: baseline, created / rescheduled / cancelled, exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_neetocal.booking_changes import GONE_AFTER, BookingChangeTracker, checked_kinds
from airflow_provider_neetocal.exceptions import NeetoCalValidationError


def booking(sid: str, starts_at: str = "2030-01-08T10:00:00.000Z", status: str = "confirmed", **extra: Any) -> dict:
    return {"sid": sid, "status": status, "starts_at": starts_at, "meeting_id": "m1", **extra}


#: NeetoCal's clock in these tests: before the default booking's start (2030-01-08T10:00Z) ...
BEFORE_START = dt.datetime(2030, 1, 7, 12, 0, tzinfo=dt.timezone.utc)
#: ... and after it.
AFTER_START = dt.datetime(2030, 1, 8, 10, 30, tzinfo=dt.timezone.utc)


def kinds(changes: list) -> list[tuple[str, str]]:
    return [(c.kind, c.booking["sid"]) for c in changes]


def test_the_first_poll_is_a_baseline_and_emits_nothing() -> None:
    tracker = BookingChangeTracker()
    assert tracker.observe_listing([booking("a"), booking("b")]) == []
    assert set(tracker.known) == {"a", "b"}


def test_a_new_booking_is_created_once() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    assert kinds(tracker.observe_listing([booking("a"), booking("b")])) == [("created", "b")]
    assert tracker.observe_listing([booking("a"), booking("b")]) == []


def test_a_moved_start_is_rescheduled_with_the_previous_start() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    (change,) = tracker.observe_listing([booking("a", "2030-01-09T10:00:00.000Z")])
    assert change.kind == "rescheduled"
    assert change.payload()["previous_starts_at"] == "2030-01-08T10:00:00.000Z"
    assert tracker.observe_listing([booking("a", "2030-01-09T10:00:00.000Z")]) == []


def test_a_booking_that_left_the_listing_is_rechecked_once_and_cancelled_once() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a"), booking("b")])
    assert tracker.observe_listing([booking("b")]) == []
    assert tracker.next_rechecks(10) == ["a"]
    assert kinds(tracker.observe_recheck("a", booking("a", status="cancelled"), now=BEFORE_START)) == [
        ("cancelled", "a")
    ]
    assert tracker.observe_listing([booking("b")]) == []
    assert tracker.next_rechecks(10) == []


def test_a_booking_that_started_or_vanished_is_forgotten_silently() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a"), booking("b")])
    tracker.observe_listing([])
    assert tracker.observe_recheck("a", booking("a"), now=AFTER_START) == []
    for _poll in range(GONE_AFTER):  # a 404 is believed only once GONE_AFTER polls in a row say so
        assert set(tracker.known) == {"b"}
        tracker.observe_listing([])
        assert tracker.observe_recheck("b", None, now=AFTER_START) == []
    assert tracker.known == {}


def test_a_still_upcoming_booking_missing_from_a_listing_is_kept_and_not_created_when_listed_again() -> None:
    """A page shift during the walk (or a cut listing) skipped it: it starts later than NeetoCal's now."""
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a"), booking("b")])
    assert tracker.observe_listing([booking("a")]) == []
    assert tracker.observe_recheck("b", booking("b"), now=BEFORE_START) == []
    assert "b" in tracker.known
    assert tracker.observe_listing([booking("a"), booking("b")]) == []


def test_a_booking_awaiting_approval_then_confirmed_again_is_not_created() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    assert tracker.observe_listing([]) == []  # awaiting approval: not in the upcoming listing
    assert tracker.observe_recheck("a", booking("a", status="awaiting_approval"), now=BEFORE_START) == []
    assert tracker.observe_listing([]) == []
    assert tracker.next_rechecks(10) == ["a"]  # re-read while it stays missing
    assert kinds(tracker.observe_recheck("a", booking("a", status="rejected"), now=BEFORE_START)) == [
        ("cancelled", "a")
    ]


def test_a_booking_forgotten_as_started_and_listed_again_is_not_created() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    tracker.observe_listing([])
    assert tracker.observe_recheck("a", booking("a"), now=AFTER_START) == []
    assert "a" not in tracker.known
    assert tracker.observe_listing([booking("a")]) == []
    moved = tracker.observe_listing([booking("a", "2030-02-01T10:00:00.000Z")])
    assert kinds(moved) == [("rescheduled", "a")]


def test_a_booking_whose_start_is_unreadable_is_kept_not_forgotten() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a", starts_at="soon")])
    tracker.observe_listing([])
    assert tracker.observe_recheck("a", booking("a", starts_at="soon"), now=AFTER_START) == []
    assert tracker.observe_listing([booking("a", starts_at="soon")]) == []


def test_rechecks_beyond_the_cap_wait_for_the_next_poll() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking(s) for s in "abc"])
    tracker.observe_listing([])
    assert tracker.next_rechecks(2) == ["a", "b"]
    tracker.observe_recheck("a", booking("a", status="cancelled"), now=BEFORE_START)
    tracker.observe_recheck("b", booking("b", status="cancelled"), now=BEFORE_START)
    tracker.observe_listing([])
    assert tracker.next_rechecks(2) == ["c"]


def test_a_cut_listing_does_not_recheck_bookings_beyond_its_last_start() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("early", "2030-01-08T10:00:00Z"), booking("late", "2030-03-01T10:00:00Z")])
    tracker.observe_listing([booking("x", "2030-01-09T10:00:00Z")], complete=False)
    assert tracker.next_rechecks(10) == ["early"]


def test_a_booking_coming_into_a_cut_listing_from_beyond_it_is_not_new() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing(
        [booking("a", "2030-01-08T10:00:00Z"), booking("b", "2030-01-09T10:00:00Z")], complete=False
    )
    seen = tracker.observe_listing(
        [
            booking("b", "2030-01-09T10:00:00Z"),
            booking("c", "2030-01-10T10:00:00Z"),
            booking("n", "2030-01-09T09:00:00Z"),
        ],
        complete=False,
    )
    assert kinds(seen) == [("created", "n")]  # c was beyond the horizon: already there, never watched
    assert "c" in tracker.known


def test_filters_by_meeting_and_reports_only_the_asked_kinds() -> None:
    tracker = BookingChangeTracker(kinds=frozenset({"cancelled"}), meeting_id="m1")
    tracker.observe_listing([booking("a")])
    assert tracker.observe_listing([booking("a"), booking("b"), booking("c", meeting_id="m2")]) == []
    assert "c" not in tracker.known
    assert "b" in tracker.known


def test_a_new_tracker_after_a_restart_emits_nothing_already_known() -> None:
    first = BookingChangeTracker()
    first.observe_listing([booking("a")])
    assert kinds(first.observe_listing([booking("a"), booking("b")])) == [("created", "b")]
    restarted = BookingChangeTracker()
    assert restarted.observe_listing([booking("a"), booking("b")]) == []
    assert kinds(restarted.observe_listing([booking("a"), booking("b"), booking("c")])) == [("created", "c")]


@pytest.mark.parametrize("value", [[], ["moved"], "x", 3])
def test_changes_argument_is_checked(value: object) -> None:
    with pytest.raises(NeetoCalValidationError, match="changes="):
        checked_kinds(value)
    assert checked_kinds(None) == {"created", "cancelled", "rescheduled"}


# -- memory across restarts (pure: memory in, memory out) ------------------------------------------

NOW = dt.datetime(2030, 1, 7, 12, 0, tzinfo=dt.timezone.utc)


def saved(tracker: BookingChangeTracker, outbox: list | None = None, *, watch: str = "w1") -> Any:
    """The memory as the asset state store hands it back: through JSON, like the real accessor."""
    import json

    from airflow_provider_neetocal.booking_changes import WatcherMemory, memory_value

    value = memory_value(WatcherMemory(tracker, outbox=list(outbox or [])), watch=watch, now=NOW)
    return json.loads(json.dumps(value, allow_nan=False))


def restore(value: Any, **kwargs: Any) -> Any:
    from airflow_provider_neetocal.booking_changes import restore_memory

    kwargs.setdefault("watch", "w1")
    kwargs.setdefault("now", NOW + dt.timedelta(hours=1))
    kwargs.setdefault("max_age", 7 * 86400.0)
    return restore_memory(value, **kwargs)


def test_a_restored_tracker_is_no_baseline_it_reports_what_changed_since() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a"), booking("b")])
    memory, why = restore(saved(tracker))
    assert why == ""
    assert set(memory.tracker.known) == {"a", "b"}
    again = memory.tracker.observe_listing([booking("a", "2030-01-09T10:00:00.000Z"), booking("c")])
    assert sorted(kinds(again)) == [("created", "c"), ("rescheduled", "a")]
    assert memory.tracker.next_rechecks(10) == ["b"]


def test_the_outbox_and_retired_bookings_survive_and_retired_is_bounded() -> None:
    from airflow_provider_neetocal.booking_changes import SAVED_RETIRED, Change

    tracker = BookingChangeTracker()
    tracker.observe_listing([])
    for index in range(SAVED_RETIRED + 5):
        tracker.retired[f"r{index}"] = tracker.known.get("x") or _known("confirmed", "2030-01-01T10:00:00Z")
    outbox = [Change("created", booking("z")).payload()]
    memory, _why = restore(saved(tracker, outbox))
    assert len(memory.tracker.retired) == SAVED_RETIRED
    assert next(iter(memory.tracker.retired)) == "r5"  # the oldest ones are dropped
    assert [item["change_id"] for item in memory.outbox] == ["created:z"]


def _known(status: str, starts_at: str) -> Any:
    from airflow_provider_neetocal.booking_changes import _Known

    return _Known(status, starts_at)


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        17,
        [],
        {"known": {}},
        {"format": "neetocal-booking-changes/0"},
    ],
)
def test_a_value_that_is_not_this_formats_memory_gives_a_fresh_baseline_and_why(value: Any) -> None:
    memory, why = restore(value)
    assert memory is None
    assert "fresh baseline" in why


@pytest.mark.parametrize(
    ("part", "bad"),
    [
        ("watch", "w2"),
        ("saved_at", "yesterday"),
        ("saved_at", None),
        ("baselined", False),
        ("known", {"a": "confirmed"}),
        ("known", {"a": ["confirmed", "2030-01-08T10:00:00.000Z"]}),  # format 1's entry
        ("known", {"a": 5}),
        ("known", []),
        ("pending_rechecks", [1]),
        ("horizon", "soon"),
        ("since", "at the start"),
        ("not_found", {"a": 0}),
        ("not_found", []),
        ("moves", {"a": "1"}),
        ("retired", [["", None]]),
        ("retired", [["r", "confirmed", "2030-01-08T10:00:00.000Z"]]),  # format 1's entry
        ("retired", {}),
        ("outbox", [{"change": "exploded"}]),
        ("outbox", "all"),
    ],
)
def test_every_part_of_a_saved_memory_is_checked(part: str, bad: Any) -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    value = saved(tracker)
    value[part] = bad
    memory, why = restore(value)
    assert memory is None
    assert "fresh baseline" in why


def test_memory_older_than_max_age_is_not_caught_up_from_unless_unbounded() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    later = NOW + dt.timedelta(days=30)
    memory, why = restore(saved(tracker), now=later)
    assert memory is None
    assert "30.0 days old" in why
    memory, why = restore(saved(tracker), now=later, max_age=None)
    assert memory is not None
    assert why == ""


def test_nothing_saved_yet_is_a_fresh_baseline_without_a_warning() -> None:
    assert restore(None) == (None, "")


def test_a_limit_leaves_the_other_changes_for_the_next_listing() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    listing = [booking("a"), booking("b"), booking("c"), booking("d")]
    assert kinds(tracker.observe_listing(listing, limit=2)) == [("created", "b"), ("created", "c")]
    assert tracker.held_back == 1
    assert kinds(tracker.observe_listing(listing, limit=2)) == [("created", "d")]
    assert tracker.held_back == 0
    assert tracker.observe_listing(listing, limit=2) == []


def test_a_change_id_names_the_change_not_the_delivery() -> None:
    from airflow_provider_neetocal.booking_changes import Change

    assert Change("created", booking("a")).payload()["change_id"] == "created:a"
    moved = Change("rescheduled", booking("a", "2030-01-09T10:00:00.000Z"), "2030-01-08T10:00:00.000Z")
    assert moved.payload()["change_id"] == "rescheduled:a@2030-01-09T10:00:00.000Z"


def test_changes_of_reads_lists_and_single_payloads_each_change_once() -> None:
    from types import SimpleNamespace

    from airflow_provider_neetocal.booking_changes import Change, changes_of

    a, b = Change("created", booking("a")).payload(), Change("cancelled", booking("b")).payload()
    legacy = {"change": "created", "booking_sid": "c", "booking": {"sid": "c"}, "previous_starts_at": None}
    events = {
        "asset": [
            SimpleNamespace(extra={"payload": {"changes": [a, b], "more": False}}),
            SimpleNamespace(extra={"payload": {"changes": [a], "more": False}}),  # delivered again
            SimpleNamespace(extra={"payload": legacy}),
            SimpleNamespace(extra={"payload": {"changes": "broken"}}),
            SimpleNamespace(extra=None),
        ]
    }
    assert [(c["change"], c["booking_sid"]) for c in changes_of(events)] == [
        ("created", "a"),
        ("cancelled", "b"),
        ("created", "c"),
    ]
    assert changes_of(None) == []


# -- the baseline's time, started bookings, 404s, move ids, the memory's bound ------------------------

SINCE = dt.datetime(2030, 1, 7, 12, 0, tzinfo=dt.timezone.utc)


def test_a_booking_made_before_the_baseline_is_not_created_and_one_made_at_or_after_it_is() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")], since=SINCE)
    before = booking("old", created_at="2030-01-07T11:59:29.999Z")  # awaiting approval then, say
    after = booking("new", created_at="2030-01-07T12:00:00.000Z")
    # Within SINCE_MARGIN (30 s) before the baseline: a skewed Date header, so new (an event, not a loss).
    margin = booking("skew", created_at="2030-01-07T11:59:30.000Z")
    assert kinds(tracker.observe_listing([booking("a"), before, after, margin])) == [
        ("created", "new"),
        ("created", "skew"),
    ]
    assert set(tracker.known) == {"a", "old", "new", "skew"}  # known from now on: its cancellation is seen


@pytest.mark.parametrize("created_at", [None, "yesterday", 5])
def test_a_booking_whose_creation_time_cannot_be_read_is_created_rather_than_dropped(created_at: Any) -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")], since=SINCE)
    assert kinds(tracker.observe_listing([booking("a"), booking("x", created_at=created_at)])) == [("created", "x")]


def test_without_the_baselines_time_a_booking_made_long_ago_is_still_created() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])  # no Date header to read: since unknown
    old = booking("old", created_at="2020-01-01T00:00:00.000Z")
    assert kinds(tracker.observe_listing([booking("a"), old])) == [("created", "old")]


def test_a_booking_started_at_the_baseline_and_moved_later_is_rescheduled_from_its_old_start() -> None:
    tracker = BookingChangeTracker()
    started = booking("s", "2030-01-07T09:00:00.000Z", created_at="2030-01-01T00:00:00.000Z")
    tracker.observe_listing([], since=SINCE, started=[started])
    moved = booking("s", "2030-01-09T10:00:00.000Z", created_at="2030-01-01T00:00:00.000Z")
    (change,) = tracker.observe_listing([moved])
    assert (change.kind, change.previous_starts_at) == ("rescheduled", "2030-01-07T09:00:00.000Z")
    assert tracker.observe_listing([moved]) == []


def test_a_404_is_believed_only_after_gone_after_polls_in_a_row() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a")])
    for _poll in range(GONE_AFTER - 1):
        tracker.observe_listing([])
        tracker.observe_recheck("a", None, now=BEFORE_START)
    tracker.observe_listing([])
    tracker.observe_recheck("a", booking("a", status="awaiting_approval"), now=BEFORE_START)  # found: count again
    for _poll in range(GONE_AFTER - 1):
        tracker.observe_listing([])
        tracker.observe_recheck("a", None, now=BEFORE_START)
    assert "a" in tracker.known
    tracker.observe_listing([])
    assert kinds(tracker.observe_recheck("a", booking("a", status="cancelled"), now=BEFORE_START)) == [
        ("cancelled", "a")
    ]


def test_404_counts_move_numbers_and_the_baselines_time_survive_a_restart() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a"), booking("b")], since=SINCE)
    tracker.observe_listing([booking("a", "2030-01-09T10:00:00.000Z")])
    tracker.observe_recheck("b", None, now=BEFORE_START)
    memory, why = restore(saved(tracker))
    assert why == ""
    assert (memory.tracker.since, memory.tracker.not_found, memory.tracker.moves) == (SINCE, {"b": 1}, {"a": 1})
    (change,) = memory.tracker.observe_listing([booking("a"), booking("b")])
    assert change.payload()["change_id"] == "rescheduled:a@2030-01-08T10:00:00.000Z#2"


def test_the_saved_memory_drops_the_oldest_started_bookings_first_to_stay_in_its_budget() -> None:
    import json

    from airflow_provider_neetocal.booking_changes import MEMORY_BUDGET, SAVED_RETIRED

    tracker = BookingChangeTracker()
    tracker.observe_listing([booking(f"k{i:06d}") for i in range(1300)], since=SINCE)
    for index in range(SAVED_RETIRED):
        tracker.retired[f"r{index:06d}"] = _known("confirmed", "2030-01-01T10:00:00.000Z")
    value = saved(tracker)
    assert len(json.dumps(value)) <= MEMORY_BUDGET
    kept = [sid for sid, _start in value["retired"]]
    assert 0 < len(kept) < SAVED_RETIRED
    assert kept == [f"r{index:06d}" for index in range(SAVED_RETIRED - len(kept), SAVED_RETIRED)]  # the newest
    memory, why = restore(value)
    assert why == ""
    assert len(memory.tracker.known) == 1300  # known bookings are never dropped


def test_bookings_the_baseline_walk_gained_are_created_by_the_next_listing_the_latest_made_first() -> None:
    tracker = BookingChangeTracker()
    during = booking("during", created_at="2030-01-07T12:00:00.400Z")  # made while the pages were read
    just_before = booking("before", created_at="2030-01-07T12:00:00.100Z")  # same second, before it
    # The first answer listed "a"; the listing gained one booking (net) by the end of the walks.
    tracker.observe_listing([booking("a"), just_before, during], since=SINCE, present=["a"], grown=1)
    assert tracker.fresh == ["during"]
    assert kinds(tracker.observe_listing([booking("a"), just_before, during])) == [("created", "during")]
    assert kinds(tracker.observe_listing([booking("a"), just_before, during])) == []  # once


def test_without_evidence_of_growth_no_booking_of_the_baseline_is_created() -> None:
    tracker = BookingChangeTracker()
    tracker.observe_listing([booking("a", created_at="2030-01-07T12:00:00.400Z")], since=SINCE, present=[], grown=0)
    assert kinds(tracker.observe_listing([booking("a", created_at="2030-01-07T12:00:00.400Z")])) == []
