"""The booking journal (Airflow 3.3's task state store): its format, :func:`resume`, and the driver's use of it.

The store here behaves like Airflow's accessor: values go through JSON (what the real one keeps), and
it can be told to fail on reads or writes (a store that errors, a try whose task instance was replaced by
a newer try, whose calls the API server refuses).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_neetocal.exactly_once import ExactlyOnce, Resume, create_identity, resume
from airflow_provider_neetocal.exceptions import (
    NeetoCalBookingClaimedError,
    NeetoCalBookingGoneError,
    NeetoCalBookingUnknownError,
    NeetoCalJournalUnreadableError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalServerError,
)
from airflow_provider_neetocal.journal import (
    JOURNAL_FORMAT,
    Entry,
    Journal,
    JournalError,
    Unreadable,
    decode,
    in_flight_until,
    journal_key,
    request_identity,
    sending,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

WORKSPACE = "https://acme.neetocal.com/api/external/v1"
SLUG = "weekly-webinar"
MEETING = {"id": "m-1", "slug": SLUG, "name": "Weekly webinar", "kind": "group"}
SLOTTED: dict[str, Any] = {
    "meeting_slug": SLUG,
    "name": "Eve",
    "email": "eve@example.com",
    "time_zone": "UTC",
    "slot_date": "2030-07-15",
    "slot_start_time": "10:00 AM",
}
SLOTLESS: dict[str, Any] = {k: v for k, v in SLOTTED.items() if not k.startswith("slot_")}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")


class Store:
    """Airflow's task state store as the journal meets it: JSON values, and failures on demand."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.fail_get: Exception | None = None
        self.fail_set: Exception | None = None
        self.sets: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        if self.fail_get is not None:
            raise self.fail_get
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: dt.timedelta | None = None) -> None:
        if self.fail_set is not None:
            raise self.fail_set
        self.values[key] = json.dumps(value)  # raises on anything but JSON, as the real one does
        self.sets.append((key, json.loads(self.values[key])))

    def entry(self, payload: dict[str, Any]) -> Any:
        return self.get(journal_key("create", create_identity(WORKSPACE, payload)))


class Hook:
    """A workspace in memory; POSTs can be lost after they land (commit then drop)."""

    base_url = WORKSPACE
    deadline_seconds = 40.0

    def __init__(self, bookings: list[dict[str, Any]] | None = None) -> None:
        self.bookings = list(bookings or [])
        self.posts: list[dict[str, Any]] = []
        self.lose_answers = 0
        self.fail_get_booking: Exception | None = None
        self.slept: list[float] = []
        self.before_attempt: Any = None
        self.last_server_date = "Mon, 01 Jul 2030 12:00:00 GMT"
        self.log = logging.getLogger("test.journal")

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def list_meetings(self) -> list[dict[str, Any]]:
        return [MEETING]

    def list_bookings_complete(self, *, client_email: str) -> list[dict[str, Any]]:
        return [dict(b) for b in self.bookings if b["email"].lower() == client_email.lower()]

    def get_booking(self, sid: str) -> dict[str, Any]:
        if self.fail_get_booking is not None:
            raise self.fail_get_booking
        for booking in self.bookings:
            if booking["sid"] == sid:
                return dict(booking)
        raise NeetoCalNotFoundError(method="GET", endpoint=f"/bookings/{sid}", status=404, message="not found")

    @contextlib.contextmanager
    def before_each_attempt(self, callback: Any) -> Iterator[None]:
        self.before_attempt = callback
        try:
            yield
        finally:
            self.before_attempt = None

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.before_attempt is not None:
            self.before_attempt()
        self.posts.append(payload)
        start = "2030-07-15T10:00:00Z" if "slot_date" in payload else f"2030-07-16T1{len(self.posts)}:00:00Z"
        # Made at NeetoCal's clock of the moment (the Date of its last answer).
        made = booking(
            sid=f"new{len(self.posts)}", email=payload["email"], starts_at=start, created_at="2030-07-01T12:00:00Z"
        )
        self.bookings.append(made)
        if self.lose_answers:
            self.lose_answers -= 1
            raise NeetoCalOutcomeUnknownError(
                cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="lost")
            )
        return dict(made)


def booking(**fields: Any) -> dict[str, Any]:
    return {
        "sid": "old1",
        "email": "eve@example.com",
        "status": "confirmed",
        "meeting_id": "m-1",
        "starts_at": "2030-07-15T10:00:00Z",
        "created_at": "2030-07-01T12:00:05Z",
        **fields,
    }


def journal(store: Store, *, proves_absence: bool = True) -> Journal:
    return Journal(store, retention=None, proves_absence=proves_absence)


def driver(hook: Hook, store: Store | None, *, try_number: int = 1, **kwargs: Any) -> ExactlyOnce:
    return ExactlyOnce(
        hook,  # type: ignore[arg-type]
        retrying=try_number > 1,
        run_started=RUN_START,
        journal=journal(store) if store is not None else None,
        try_number=try_number,
        **kwargs,
    )


def sending_entry(payload: dict[str, Any], before: list[str] | None, *, sent_at: str | None = None) -> dict[str, Any]:
    return {
        "format": JOURNAL_FORMAT,
        "operation": "create",
        "identity": create_identity(WORKSPACE, payload),
        "state": "sending",
        "before": before,
        "sid": None,
        "sent_at": sent_at or dt.datetime.now(dt.timezone.utc).isoformat(),
        "neetocal_clock": None,
        "try_number": 1,
        "sends": 1,
    }


def put(store: Store, payload: dict[str, Any], value: Any) -> None:
    store.values[journal_key("create", create_identity(WORKSPACE, payload))] = json.dumps(value)


# ---- the format -------------------------------------------------------------------------------------


def test_an_entry_survives_the_store_unchanged() -> None:
    entry = Entry("create", "id", "sending", ("b", "a"), None, "2030-07-01T12:00:00+00:00", "Mon", 2, 3)

    assert decode(json.loads(json.dumps(entry.to_json())), operation="create", identity="id") == Entry(
        "create", "id", "sending", ("a", "b"), None, "2030-07-01T12:00:00+00:00", "Mon", 2, 3
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("sending", "is a str"),
        ([1], "is a list"),
        ({"state": "sending"}, "journal format None"),
        ({"format": 2, "state": "sending"}, "journal format 2"),
        ({"format": JOURNAL_FORMAT, "operation": "create", "identity": "other", "state": "sending"}, "another request"),
        ({"format": JOURNAL_FORMAT, "operation": "cancel", "identity": "id", "state": "sending"}, "another request"),
        ({"format": JOURNAL_FORMAT, "operation": "create", "identity": "id", "state": "done"}, "unknown entry state"),
        ({"format": JOURNAL_FORMAT, "operation": "create", "identity": "id", "state": "answered"}, "without a booking"),
        (
            {"format": JOURNAL_FORMAT, "operation": "create", "identity": "id", "state": "sending", "before": "a"},
            "not a list",
        ),
        (
            {"format": JOURNAL_FORMAT, "operation": "create", "identity": "id", "state": "sending", "sends": True},
            "wrong type",
        ),
    ],
)
def test_a_value_this_provider_did_not_write_is_unreadable_never_guessed_at(value: Any, why: str) -> None:
    decoded = decode(value, operation="create", identity="id")

    assert isinstance(decoded, Unreadable)
    assert why in decoded.reason


def test_no_value_is_no_entry() -> None:
    assert decode(None, operation="create", identity="id") is None


def test_the_identity_ignores_case_and_the_workspaces_trailing_slash_and_the_key_is_short() -> None:
    one = request_identity("create", WORKSPACE + "/", {"email": "Eve@Example.com", "meeting": "Weekly-Webinar"})
    two = request_identity("create", WORKSPACE.upper(), {"meeting": "weekly-webinar", "email": "eve@example.com"})

    assert one == two
    assert journal_key("create", one) == journal_key("create", two)
    assert len(journal_key("create", one)) < 64


def test_a_send_counts_the_sends_before_it() -> None:
    now = dt.datetime(2030, 7, 1, 12, tzinfo=dt.timezone.utc)
    first = sending("create", "id", before=["b"], previous=None, now=now, neetocal_clock=None, try_number=1)
    second = sending("create", "id", before=None, previous=first, now=now, neetocal_clock=None, try_number=2)

    assert (first.sends, second.sends, second.before) == (1, 2, None)


def test_a_send_without_a_readable_time_has_no_end_of_flight() -> None:
    assert in_flight_until(Entry("create", "id", "sending", sent_at="yesterday"), request_deadline=40, settle=3) is None
    assert (
        in_flight_until(Entry("create", "id", "sending", sent_at="2030-07-01T12:00:00"), request_deadline=1, settle=1)
        is None
    )


# ---- resume(): the journal as one more input of the decision ----------------------------------------


def test_without_a_journal_a_retry_is_a_retry() -> None:
    assert resume(None, journaled=False, proves_absence=False, retrying=True) == Resume(retrying=True)


def test_no_entry_in_a_journal_that_keeps_entries_makes_a_retry_a_first_try() -> None:
    assert resume(None, journaled=True, proves_absence=True, retrying=True) == Resume(retrying=False)


def test_no_entry_proves_nothing_when_airflow_clears_the_journal_on_success() -> None:
    assert resume(None, journaled=True, proves_absence=False, retrying=True) == Resume(retrying=True)


def test_an_answered_entry_is_re_read_and_a_sending_one_resolved_against_its_before_list() -> None:
    answered = Entry("create", "id", "answered", sid="s1")
    pending = Entry("create", "id", "sending", before=("a",), sent_at="2030-07-01T12:00:00+00:00")

    assert resume(answered, journaled=True, proves_absence=True, retrying=True).reread_sid == "s1"
    assert resume(pending, journaled=True, proves_absence=True, retrying=True) == Resume(
        retrying=True, known_before=frozenset({"a"}), in_flight=True
    )


def test_a_send_without_a_before_list_counts_bookings_created_since_on_neetocals_clock() -> None:
    pending = Entry(
        "create", "id", "sending", sent_at="2030-07-01T13:00:00+00:00", neetocal_clock="Mon, 01 Jul 2030 12:59:58 GMT"
    )

    assert resume(pending, journaled=True, proves_absence=True, retrying=True).sent_since == pendulum.datetime(
        2030, 7, 1, 12, 59, 58, tz="UTC"
    )


# ---- the driver ----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [SLOTTED, SLOTLESS], ids=["slot", "slotless"])
def test_a_send_is_journaled_before_it_goes_out_and_its_booking_after(payload: dict[str, Any]) -> None:
    hook, store = Hook([booking(sid="other", starts_at="2030-01-01T00:00:00Z")]), Store()

    made, created = driver(hook, store).obtain(payload)

    assert created
    ((marker, first), (_, before), (_, after)) = store.sets
    assert (marker, first) == ("neetocal.journal", {"format": JOURNAL_FORMAT, "first_try": 1, "latest_try": 1})
    assert (before["state"], before["before"], before["sid"]) == ("sending", ["other"], None)
    assert (after["state"], after["sid"], after["before"]) == ("answered", made["sid"], ["other"])


def test_a_store_that_refuses_the_send_record_stops_the_send() -> None:
    # Also a try whose task instance a newer try replaced: Airflow refuses its store calls (404).
    hook, store = Hook(), Store()
    store.fail_set = RuntimeError("Task instance 0191 not found")

    with pytest.raises(NeetoCalBookingUnknownError, match="journal could not be read"):
        driver(hook, store).obtain(SLOTLESS)

    assert hook.posts == []


def test_a_store_that_refuses_the_send_record_after_the_marker_stops_the_send() -> None:
    hook, store = Hook(), Store()
    real_set = store.set

    def marker_only(key: str, value: Any, *, retention: dt.timedelta | None = None) -> None:
        if key != "neetocal.journal":
            raise RuntimeError("Task instance 0191 not found")
        real_set(key, value, retention=retention)

    store.set = marker_only  # type: ignore[method-assign]

    with pytest.raises(NeetoCalBookingUnknownError, match="could not record the request before sending"):
        driver(hook, store).obtain(SLOTLESS)

    assert hook.posts == []


def test_a_store_that_cannot_be_read_on_a_retry_sends_nothing() -> None:
    hook, store = Hook(), Store()
    store.fail_get = RuntimeError("API server unreachable")

    with pytest.raises(NeetoCalBookingUnknownError, match="journal could not be read"):
        driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert hook.posts == []


def test_a_store_that_fails_after_the_answer_still_returns_the_booking_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook, store = Hook(), Store()
    real_set = store.set
    calls = []

    def set_once(key: str, value: Any, *, retention: dt.timedelta | None = None) -> None:
        calls.append(key)
        if len(calls) > 2:  # the marker and the send record, then nothing
            raise RuntimeError("store down")
        real_set(key, value, retention=retention)

    store.set = set_once  # type: ignore[method-assign]

    with caplog.at_level(logging.WARNING):
        made, created = driver(hook, store).obtain(SLOTLESS)

    assert created
    assert made["sid"] == "new1"
    assert "the journal could not record it" in caplog.text
    assert store.entry(SLOTLESS)["state"] == "sending"  # what a retry then resolves


def test_a_retry_re_reads_the_booking_an_earlier_try_made_and_sends_nothing() -> None:
    hook, store = Hook(), Store()
    made, _ = driver(hook, store).obtain(SLOTLESS)

    again, created = driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert (again["sid"], created) == (made["sid"], False)
    assert len(hook.posts) == 1


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_a_booking_cancelled_since_is_reported_not_booked_again(status: str) -> None:
    hook, store = Hook(), Store()
    driver(hook, store).obtain(SLOTTED)
    hook.bookings[0]["status"] = status

    with pytest.raises(NeetoCalBookingGoneError, match=f"is {status} now"):
        driver(hook, store, try_number=2).obtain(SLOTTED)

    assert len(hook.posts) == 1


def test_a_booking_gone_from_neetocal_is_reported_and_one_that_cannot_be_read_is_retryable() -> None:
    hook, store = Hook(), Store()
    driver(hook, store).obtain(SLOTTED)
    hook.fail_get_booking = NeetoCalServerError(method="GET", endpoint="/bookings/new1", status=503, message="down")

    with pytest.raises(NeetoCalBookingUnknownError, match="reading it back failed"):
        driver(hook, store, try_number=2).obtain(SLOTTED)

    hook.fail_get_booking = None
    hook.bookings.clear()
    with pytest.raises(NeetoCalBookingGoneError, match="not found"):
        driver(hook, store, try_number=3).obtain(SLOTTED)
    assert len(hook.posts) == 1


@pytest.mark.parametrize("payload", [SLOTTED, SLOTLESS], ids=["slot", "slotless"])
def test_a_lost_answer_is_adopted_by_a_later_try_whatever_the_run_start(payload: dict[str, Any]) -> None:
    # The send landed, its answer was lost and this try's look-ups failed; the next try (a clear
    # weeks later: the run's start moved far past the booking's creation) resolves it by the journal.
    hook, store = Hook([booking(sid="earlier", starts_at="2030-01-01T00:00:00Z")]), Store()
    hook.lose_answers = 1
    listed = hook.list_bookings_complete
    calls: list[str] = []

    def listing_down_after_the_send(**filters: Any) -> list[dict[str, Any]]:
        calls.append(filters["client_email"])
        if hook.posts:
            raise NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="down")
        return listed(**filters)

    hook.list_bookings_complete = listing_down_after_the_send  # type: ignore[method-assign]
    if "slot_date" in payload:
        put(store, payload, sending_entry(payload, ["earlier"]))
        hook.bookings.append(booking(sid="landed", created_at="2030-07-01T12:00:07Z"))
    else:
        with pytest.raises(NeetoCalBookingUnknownError):
            driver(hook, store).obtain(payload)
        assert store.entry(payload)["before"] == ["earlier"]
    hook.list_bookings_complete = listed  # type: ignore[method-assign]
    landed = [b for b in hook.bookings if b["sid"] != "earlier"]

    late = ExactlyOnce(
        hook,  # type: ignore[arg-type]
        retrying=True,
        run_started=pendulum.datetime(2030, 8, 1, tz="UTC"),
        journal=journal(store),
        try_number=2,
    )
    got, created = late.obtain(payload)

    assert (got["sid"], created) == (landed[0]["sid"], False)
    assert len(hook.posts) == (0 if "slot_date" in payload else 1)
    assert store.entry(payload)["state"] == "answered"


def test_a_retry_waits_for_an_earlier_sends_flight_before_looking() -> None:
    hook, store = Hook([booking(sid="landed", created_at="2030-07-01T12:00:07Z")]), Store()
    put(store, SLOTTED, sending_entry(SLOTTED, []))

    driver(hook, store, try_number=2).obtain(SLOTTED)

    assert len(hook.slept) == 1
    assert 0 < hook.slept[0] <= hook.deadline_seconds + 3.0


def test_an_old_send_is_not_waited_for_and_a_garbled_time_waits_at_most_one_flight() -> None:
    hook, store = Hook([booking(sid="landed")]), Store()
    put(store, SLOTTED, sending_entry(SLOTTED, [], sent_at="2020-01-01T00:00:00+00:00"))
    driver(hook, store, try_number=2).obtain(SLOTTED)
    assert hook.slept == []

    hook2, store2 = Hook([booking(sid="landed")]), Store()
    put(store2, SLOTTED, sending_entry(SLOTTED, [], sent_at="2999-01-01T00:00:00+00:00"))
    driver(hook2, store2, try_number=2).obtain(SLOTTED)
    assert hook2.slept == [hook2.deadline_seconds + 3.0]


def test_a_journaled_send_that_never_landed_is_sent_once_more() -> None:
    hook, store = Hook(), Store()
    put(store, SLOTLESS, sending_entry(SLOTLESS, []))

    _, created = driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert created
    assert len(hook.posts) == 1
    assert store.entry(SLOTLESS)["sends"] == 2


def journaled_from_try_1(store: Store) -> Store:
    store.values["neetocal.journal"] = json.dumps({"format": JOURNAL_FORMAT, "first_try": 1})
    return store


def test_a_retry_with_no_entry_never_sent_so_a_booking_made_in_this_run_is_someone_elses() -> None:
    # Two mapped instances for one attendee and slot: the second's retry finds the first's booking.
    hook, store = Hook([booking(sid="sibling", created_at="2030-07-01T12:00:05Z")]), journaled_from_try_1(Store())

    with pytest.raises(NeetoCalBookingClaimedError):
        driver(hook, store, try_number=2).obtain(SLOTTED)

    assert hook.posts == []


def test_a_retry_with_no_entry_sends_a_slotless_request_without_adopting_a_similar_booking() -> None:
    hook, store = Hook([booking(sid="previous-run", starts_at="2030-07-16T09:00:00Z")]), journaled_from_try_1(Store())

    made, created = driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert created
    assert made["sid"] != "previous-run"


def test_with_clear_on_success_an_empty_journal_falls_back_to_looking_up() -> None:
    hook, store = Hook([booking(sid="mine", created_at="2030-07-01T12:00:05Z")]), Store()
    once = ExactlyOnce(
        hook,  # type: ignore[arg-type]
        retrying=True,
        run_started=RUN_START,
        journal=journal(store, proves_absence=False),
        try_number=2,
    )

    got, created = once.obtain(SLOTTED)

    assert (got["sid"], created) == ("mine", False)
    assert hook.posts == []


def test_an_unreadable_entry_sends_nothing_and_names_the_key() -> None:
    hook, store = Hook(), Store()
    put(store, SLOTLESS, {"format": 99})

    with pytest.raises(NeetoCalJournalUnreadableError, match=r"neetocal\.create\."):
        driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert hook.posts == []


def test_a_journal_error_is_typed() -> None:
    store = Store()
    store.fail_get = OSError("socket closed")

    with pytest.raises(JournalError, match=r"reading 'neetocal\.create\.") as raised:
        journal(store).read("create", "x")

    assert "socket closed" in str(raised.value)


@pytest.mark.parametrize(
    "marker",
    [None, {"format": JOURNAL_FORMAT, "first_try": 2}, {"format": 0, "first_try": 1}, "garbage"],
    ids=["no-marker", "journaled-from-try-2", "other-format", "garbage"],
)
def test_an_empty_journal_proves_nothing_unless_every_try_journaled(marker: Any) -> None:
    # Try 1 ran a provider without the journal (or Airflow cleared the store on success): a booking it
    # made during this run is found by the look-up and adopted, as before the journal.
    hook, store = Hook([booking(sid="try-1-made-it", starts_at="2030-07-16T09:00:00Z")]), Store()
    if marker is not None:
        store.values["neetocal.journal"] = json.dumps(marker)

    got, created = driver(hook, store, try_number=2).obtain(SLOTLESS)

    assert (got["sid"], created) == ("try-1-made-it", False)
    assert hook.posts == []


def test_a_sibling_booking_made_after_a_lost_send_came_back_is_neither_adopted_nor_taken_as_absence() -> None:
    # R1: the journal's send never landed; another task booked the same attendee and slot afterwards.
    hook, store = Hook([booking(sid="sibling", created_at="2030-07-01T12:10:00Z")]), journaled_from_try_1(Store())
    entry = sending_entry(SLOTTED, [], sent_at="2030-07-01T12:00:01+00:00")
    entry.update(neetocal_clock="Mon, 01 Jul 2030 12:00:00 GMT", returned_at="2030-07-01T12:00:02+00:00")
    put(store, SLOTTED, entry)

    with pytest.raises(NeetoCalBookingUnknownError, match="after this task's earlier request had come back"):
        driver(hook, store, try_number=2).obtain(SLOTTED)

    assert hook.posts == []


def test_a_booking_made_during_the_lost_sends_flight_is_adopted() -> None:
    hook, store = Hook([booking(sid="landed", created_at="2030-07-01T12:00:01Z")]), journaled_from_try_1(Store())
    entry = sending_entry(SLOTTED, [], sent_at="2030-07-01T12:00:01+00:00")
    entry.update(neetocal_clock="Mon, 01 Jul 2030 12:00:00 GMT", returned_at="2030-07-01T12:00:02+00:00")
    put(store, SLOTTED, entry)

    got, created = driver(hook, store, try_number=2).obtain(SLOTTED)

    assert (got["sid"], created) == ("landed", False)


def test_a_try_that_a_newer_try_superseded_stops_before_sending() -> None:
    # Try 1 was given up on by Airflow (its worker unreachable) but still runs; try 2 has started and
    # claimed the journal. Try 1 records its send, sees try 2's claim and sends nothing.
    hook, store = Hook(), Store()
    old = driver(hook, store, try_number=1)
    old._journal_complete()  # try 1 started first
    store.values["neetocal.journal"] = json.dumps({"format": JOURNAL_FORMAT, "first_try": 1, "latest_try": 2})

    with pytest.raises(NeetoCalBookingUnknownError, match=r"try 2 of this task has started since"):
        old.obtain(SLOTLESS)

    assert hook.posts == []
