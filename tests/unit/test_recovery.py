"""Recognising the booking an earlier create made: the pure matching rules of exactly-once creation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal.recovery import (
    DEAD_STATUSES,
    find_matching_booking,
    meeting_matches,
    slot_start_utc,
)

SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "sid": "abc", "slug": SLUG, "name": "Meeting with Oliver Smith"}
OTHER_MEETING = {"id": "m-2", "sid": "def", "slug": "product-demo", "name": "Product demo"}
#: 01:30 PM in Asia/Kolkata on 2030-07-15 is 08:00 UTC.
PAYLOAD: dict[str, Any] = {
    "meeting_slug": SLUG,
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
SLOTLESS: dict[str, Any] = {k: v for k, v in PAYLOAD.items() if not k.startswith("slot_")}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")


def booking(**fields: Any) -> dict[str, Any]:
    """A live booking of Eve with Oliver at 2030-07-15 08:00 UTC, created during the run."""
    return {
        "id": "0b9f7c1e-0000-0000-0000-000000000001",
        "sid": "8sqtzrs",
        "email": "eve@example.com",
        "status": "confirmed",
        "meeting_id": "m-1",
        "meeting": {"name": "Meeting with Oliver Smith"},
        "starts_at": "2030-07-15T08:00:00.000Z",
        "created_at": "2030-07-01T12:00:05.000Z",
        **fields,
    }


def find(bookings: list[Any], payload: dict[str, Any] = PAYLOAD, **kwargs: Any) -> dict[str, Any] | None:
    kwargs.setdefault("created_since", RUN_START)
    return find_matching_booking(bookings, payload, MEETING, **kwargs)


# ---- the attendee ------------------------------------------------------------------------------


def test_the_same_attendee_meeting_and_start_is_a_match():
    assert find([booking()]) == booking()


def test_a_match_is_returned_as_a_plain_copy():
    original = booking()
    found = find([original])
    assert found == original
    assert found is not original


@pytest.mark.parametrize("email", ["EVE@EXAMPLE.COM", "Eve@Example.com", "eve@EXAMPLE.com"])
def test_attendee_email_matches_whatever_the_case_of_the_booking(email):
    assert find([booking(email=email)]) is not None


def test_attendee_email_matches_whatever_the_case_of_the_payload():
    assert find([booking()], {**PAYLOAD, "email": "Eve@Example.COM"}) is not None


def test_another_attendee_is_not_a_match():
    assert find([booking(email="mallory@example.com")]) is None


def test_a_booking_without_an_email_is_not_a_match():
    without = booking()
    del without["email"]
    assert find([without, booking(email=None)]) is None


# ---- the meeting -------------------------------------------------------------------------------


def test_same_meeting_by_id_even_when_the_name_differs():
    assert find([booking(meeting={"name": "Renamed since"})]) is not None


def test_another_meeting_id_is_not_a_match_even_with_the_same_name():
    assert find([booking(meeting_id="m-2")]) is None


def test_meeting_id_compares_as_text():
    assert meeting_matches({"meeting_id": 42}, {"id": "42", "slug": SLUG}, SLUG)


def test_without_a_meeting_id_the_same_name_and_slug_is_a_match():
    assert find([booking(meeting_id=None)]) is not None
    assert find([{k: v for k, v in booking().items() if k != "meeting_id"}]) is not None


def test_without_a_meeting_id_another_name_is_not_a_match():
    assert find([booking(meeting_id=None, meeting={"name": "Product demo"})]) is None


def test_without_any_meeting_reference_nothing_is_proven():
    assert find([booking(meeting_id=None, meeting=None)]) is None
    assert find([booking(meeting_id="", meeting={})]) is None


def test_name_match_needs_the_meeting_record_to_carry_the_requested_slug():
    assert not meeting_matches({"meeting": {"name": "Product demo"}}, OTHER_MEETING, SLUG)
    assert meeting_matches({"meeting": {"name": "Product demo"}}, OTHER_MEETING, "product-demo")


def test_without_the_meeting_record_nothing_matches():
    assert not meeting_matches(booking(), None, SLUG)
    assert find_matching_booking([booking()], PAYLOAD, None, created_since=RUN_START) is None
    assert find_matching_booking([booking()], PAYLOAD, {}, created_since=RUN_START) is None


# ---- the start ---------------------------------------------------------------------------------


def test_slot_start_is_read_in_the_payload_zone_and_converted_to_utc():
    assert slot_start_utc(PAYLOAD) == pendulum.datetime(2030, 7, 15, 8, 0, tz="UTC")
    assert slot_start_utc({**PAYLOAD, "time_zone": "America/New_York", "slot_start_time": "12:00 AM"}) == (
        pendulum.datetime(2030, 7, 15, 4, 0, tz="UTC")
    )


def test_slot_start_of_a_slotless_payload_is_unknown():
    assert slot_start_utc(SLOTLESS) is None
    assert slot_start_utc({**SLOTLESS, "slot_date": "2030-07-15"}) is None


@pytest.mark.parametrize(
    "starts_at",
    [
        "2030-07-15T08:00:00.000Z",
        "2030-07-15T08:00:00Z",
        "2030-07-15T08:00:00+00:00",
        "2030-07-15T13:30:00.000+05:30",
        "2030-07-15T04:00:00-04:00",
        "2030-07-15T10:00:00+02:00",
    ],
)
def test_the_same_utc_instant_matches_in_any_offset(starts_at):
    assert find([booking(starts_at=starts_at)]) is not None


def test_the_payload_zone_does_not_change_the_instant_it_names():
    new_york = {**PAYLOAD, "time_zone": "America/New_York", "slot_start_time": "04:00 AM"}  # 08:00 UTC
    assert find([booking()], new_york) is not None


@pytest.mark.parametrize(
    "starts_at",
    [
        "2030-07-15T08:30:00.000Z",  # the next slot
        "2030-07-15T13:30:00.000Z",  # the wall-clock time read as UTC
        "2030-07-16T08:00:00.000Z",  # the next day
        "2030-07-15T08:00:01.000Z",
    ],
)
def test_another_start_is_not_a_match(starts_at):
    assert find([booking(starts_at=starts_at)]) is None


def test_with_a_slot_the_creation_time_does_not_matter():
    old = booking(created_at="2020-01-01T00:00:00.000Z")
    assert find([old]) == old
    assert find([booking(created_at=None)]) is not None


# ---- the status --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "canceled", "rejected", "CANCELLED", "Rejected"])
def test_cancelled_or_rejected_bookings_are_ignored(status):
    assert find([booking(status=status)]) is None


def test_dead_statuses_are_the_documented_and_sandbox_ones():
    assert {"cancelled", "rejected"} <= DEAD_STATUSES


@pytest.mark.parametrize("status", ["confirmed", "pending", "awaiting_approval", "", None])
def test_any_other_status_counts_as_live(status):
    assert find([booking(status=status)]) is not None


def test_a_live_booking_wins_over_a_cancelled_one_for_the_same_slot():
    cancelled = booking(sid="dead111", status="cancelled", created_at="2030-07-01T12:00:09.000Z")
    live = booking(sid="live222")
    assert find([cancelled, live])["sid"] == "live222"
    assert find([live, cancelled])["sid"] == "live222"


# ---- payloads without a slot -------------------------------------------------------------------


def test_slotless_payload_matches_a_live_booking_created_since_the_run_started():
    assert find([booking(starts_at="2031-01-01T00:00:00.000Z")], SLOTLESS) is not None


def test_slotless_payload_matches_a_booking_created_exactly_at_the_run_start():
    assert find([booking(created_at="2030-07-01T12:00:00.000Z")], SLOTLESS) is not None


def test_slotless_payload_ignores_bookings_created_before_the_run_started():
    # The run started at 12:00 UTC; NeetoCal's clock may be up to CLOCK_SKEW_ALLOWANCE (5 min) behind.
    assert find([booking(created_at="2030-07-01T11:54:59.999Z")], SLOTLESS) is None


def test_slotless_payload_tolerates_a_server_clock_slightly_behind():
    assert find([booking(created_at="2030-07-01T11:59:59.000Z")], SLOTLESS) is not None
    assert find([booking(created_at="2030-07-01T11:55:00.000Z")], SLOTLESS) is not None


def test_slotless_payload_compares_creation_instants_across_offsets():
    # 17:24 in Kolkata is 11:54 UTC: before the run less the allowance; 17:26 is within it.
    assert find([booking(created_at="2030-07-01T17:24:00.000+05:30")], SLOTLESS) is None
    assert find([booking(created_at="2030-07-01T17:26:00.000+05:30")], SLOTLESS) is not None


def test_slotless_payload_accepts_a_stdlib_created_since():
    since = dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 10:00 UTC
    assert find([booking(created_at="2030-07-01T09:55:01.000Z")], SLOTLESS, created_since=since) is not None
    assert find([booking(created_at="2030-07-01T09:54:59.000Z")], SLOTLESS, created_since=since) is None


@pytest.mark.parametrize("created_at", [None, "", "yesterday", 1751371200, "2030-13-45T00:00:00Z"])
def test_slotless_payload_never_adopts_a_booking_of_unknown_creation_time(created_at):
    assert find([booking(created_at=created_at)], SLOTLESS) is None


def test_slotless_payload_still_checks_attendee_meeting_and_status():
    assert find([booking(email="other@example.com")], SLOTLESS) is None
    assert find([booking(meeting_id="m-2")], SLOTLESS) is None
    assert find([booking(status="cancelled")], SLOTLESS) is None


def test_slotless_payload_without_created_since_takes_any_live_booking():
    assert find([booking(created_at="2001-01-01T00:00:00Z")], SLOTLESS, created_since=None) is not None


# ---- several candidates ------------------------------------------------------------------------


def test_the_most_recently_created_match_wins():
    first = booking(sid="first11", created_at="2030-07-01T12:00:01.000Z", starts_at="2030-08-01T08:00:00.000Z")
    latest = booking(sid="latest2", created_at="2030-07-01T12:00:09.000Z", starts_at="2030-07-20T08:00:00.000Z")
    middle = booking(sid="middle3", created_at="2030-07-01T12:00:05.000Z", starts_at="2030-09-01T08:00:00.000Z")
    for order in ([first, latest, middle], [latest, middle, first], [middle, first, latest]):
        assert find(order, SLOTLESS)["sid"] == "latest2"


def test_most_recent_compares_instants_not_text():
    utc = booking(sid="utc1111", created_at="2030-07-01T12:00:09.000Z")
    kolkata = booking(sid="ist2222", created_at="2030-07-01T17:30:10.000+05:30")  # 12:00:10 UTC
    assert find([kolkata, utc])["sid"] == "ist2222"
    assert find([utc, kolkata])["sid"] == "ist2222"


def test_a_match_without_a_creation_time_loses_to_one_with_it():
    undated = booking(sid="undated", created_at=None)
    dated = booking(sid="dated11")
    assert find([dated, undated])["sid"] == "dated11"
    assert find([undated, dated])["sid"] == "dated11"


def test_no_candidates_is_no_match():
    assert find([]) is None
    assert find(iter(())) is None


def test_bookings_are_read_from_any_iterable_once():
    assert find(b for b in [booking(email="x@example.com"), booking(sid="gen1234")])["sid"] == "gen1234"


# ---- garbage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        {"starts_at": None},
        {"starts_at": 1784102400},
        {"starts_at": "not a date"},
        {"starts_at": ""},
        {"starts_at": ["2030-07-15T08:00:00Z"]},
        {"starts_at": "08:00"},
        {"email": ["eve@example.com"]},
        {"email": 42},
        {"meeting_id": None, "meeting": "Meeting with Oliver Smith"},
        {"meeting_id": None, "meeting": ["Meeting with Oliver Smith"]},
        {"meeting_id": None, "meeting": {"name": None}},
    ],
)
def test_garbage_fields_never_match_and_never_raise(garbage):
    assert find([booking(**garbage)]) is None


def test_garbage_beside_a_real_match_does_not_hide_it():
    junk = [
        booking(sid="junk111", starts_at="nope"),
        booking(sid="junk222", status={"weird": True}, email=None),
        booking(sid="junk333", created_at={"at": 1}, starts_at=None),
    ]
    assert find([*junk, booking(sid="real444")])["sid"] == "real444"


def test_unknown_extra_fields_are_ignored_and_kept():
    found = find([booking(extra={"nested": [1, 2, {"x": None}]}, meeting_outcome={"kind": "done"})])
    assert found["extra"] == {"nested": [1, 2, {"x": None}]}


def test_a_non_string_status_is_compared_as_text():
    assert find([booking(status=0)]) is not None


def test_entries_that_are_not_objects_are_skipped():
    assert find([None, "8sqtzrs", 42, ["x"], booking(sid="real444")])["sid"] == "real444"
