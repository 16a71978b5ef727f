"""The pure look-up of exactly-once creation: is the request's booking Found, Absent or Unknowable?

``judge_lookup`` reads the attendee's bookings (``GET /bookings?client_email=…``) and the meeting
(``GET /meetings``) and says which. It must never call "absent" what it could not see: a booking it
cannot attribute (no readable start, creation time or meeting) makes the answer Unknowable, and the
operator then sends nothing. The helpers it is built from are specified here too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal.exactly_once import (
    CLOCK_SKEW_ALLOWANCE,
    DEAD_STATUSES,
    Absent,
    Found,
    Unknowable,
    belongs_to_meeting,
    created_after,
    judge_lookup,
    parse_instant,
    resolve_meeting,
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


def judge(bookings: Any, payload: dict[str, Any] = PAYLOAD, meeting: Any = MEETING, **kwargs: Any) -> Any:
    kwargs.setdefault("run_started", RUN_START)
    return judge_lookup(bookings, payload, meeting, **kwargs)


def found_sid(result: Any) -> str:
    assert isinstance(result, Found), result
    return result.booking["sid"]


# ---- the attendee ------------------------------------------------------------------------------


def test_the_same_attendee_meeting_and_start_is_found_as_made_in_this_run():
    assert judge([booking()]) == Found(booking(), made_in_this_run=True)


def test_a_found_booking_is_a_plain_copy():
    original = booking()
    result = judge([original])
    assert isinstance(result, Found)
    assert result.booking == original
    assert result.booking is not original


@pytest.mark.parametrize("email", ["EVE@EXAMPLE.COM", "Eve@Example.com", "eve@EXAMPLE.com"])
def test_attendee_email_matches_whatever_the_case_of_the_booking(email):
    assert isinstance(judge([booking(email=email)]), Found)


def test_attendee_email_matches_whatever_the_case_of_the_payload():
    assert isinstance(judge([booking()], {**PAYLOAD, "email": "Eve@Example.COM"}), Found)


def test_another_attendee_is_absent():
    assert judge([booking(email="mallory@example.com")]) == Absent()


@pytest.mark.parametrize("email", [None, 42, ["eve@example.com"]], ids=repr)
def test_a_booking_at_that_start_without_a_readable_email_is_unknowable(email):
    # The listing is filtered by client_email: a booking there without one may well be the attendee's.
    result = judge([booking(email=email)])
    assert isinstance(result, Unknowable)
    assert "'8sqtzrs'" in result.reason
    assert "has no attendee email" in result.reason


def test_a_booking_without_the_email_key_is_unknowable():
    without = booking()
    del without["email"]
    assert isinstance(judge([without]), Unknowable)


# ---- the meeting -------------------------------------------------------------------------------


def test_same_meeting_by_id_even_when_the_name_differs():
    assert isinstance(judge([booking(meeting={"name": "Renamed since"})]), Found)


def test_another_meeting_id_is_absent_even_with_the_same_name():
    assert judge([booking(meeting_id="m-2")]) == Absent()


def test_meeting_id_compares_as_text():
    assert belongs_to_meeting({"meeting_id": 42}, {"id": "42", "slug": SLUG}) is True
    assert belongs_to_meeting({"meeting_id": "42"}, {"id": 42}) is True
    assert belongs_to_meeting({"meeting_id": 43}, {"id": "42"}) is False


def test_without_a_meeting_id_the_same_name_is_found():
    assert isinstance(judge([booking(meeting_id=None)]), Found)
    assert isinstance(judge([{k: v for k, v in booking().items() if k != "meeting_id"}]), Found)


def test_without_a_meeting_id_another_name_is_absent():
    assert judge([booking(meeting_id=None, meeting={"name": "Product demo"})]) == Absent()


def test_the_name_is_compared_with_the_resolved_meeting_record():
    # The slug was already checked when the meeting was resolved from GET /meetings.
    assert belongs_to_meeting({"meeting": {"name": "Product demo"}}, OTHER_MEETING) is True
    assert belongs_to_meeting({"meeting": {"name": "Product demo"}}, MEETING) is False


@pytest.mark.parametrize(
    "fields",
    [
        {"meeting_id": None, "meeting": None},
        {"meeting_id": "", "meeting": {}},
        {"meeting_id": None, "meeting": "Meeting with Oliver Smith"},
        {"meeting_id": None, "meeting": ["Meeting with Oliver Smith"]},
        {"meeting_id": None, "meeting": {"name": None}},
    ],
    ids=repr,
)
def test_a_booking_naming_no_meeting_is_unknowable(fields):
    assert belongs_to_meeting(booking(**fields), MEETING) is None
    result = judge([booking(**fields)])
    assert isinstance(result, Unknowable)
    assert "names no meeting" in result.reason


def test_a_meeting_record_without_id_or_name_attributes_nothing():
    assert belongs_to_meeting(booking(), {}) is None
    assert isinstance(judge([booking()], meeting={}), Unknowable)


def test_an_unlisted_meeting_with_a_candidate_at_that_start_is_unknowable():
    result = judge([booking()], meeting=None)
    assert isinstance(result, Unknowable)
    assert f"meeting {SLUG!r} is not listed by GET /meetings" in result.reason


def test_a_meeting_that_could_not_be_fetched_with_a_candidate_is_unknowable_with_the_reason():
    result = judge([booking()], meeting=Unknowable("GET /meetings failed: HTTP 503"))
    assert isinstance(result, Unknowable)
    assert "cannot be attributed to a meeting: GET /meetings failed: HTTP 503" in result.reason


@pytest.mark.parametrize("meeting", [None, Unknowable("GET /meetings failed")], ids=["unlisted", "unfetched"])
@pytest.mark.parametrize(
    "bookings",
    [
        [],
        [booking(starts_at="2030-07-15T08:30:00.000Z")],
        [booking(status="cancelled")],
        [booking(email="mallory@example.com")],
    ],
    ids=["none", "another-start", "cancelled", "another-attendee"],
)
def test_without_the_meeting_an_attendee_without_any_candidate_is_still_absent(meeting, bookings):
    assert judge(bookings, meeting=meeting) == Absent(duplicate_refused=False)


def test_a_slotless_candidate_of_an_unlisted_meeting_is_unknowable():
    assert isinstance(judge([booking()], SLOTLESS, meeting=None), Unknowable)


# ---- resolving the meeting from GET /meetings --------------------------------------------------


def test_the_meeting_is_resolved_by_its_exact_slug():
    assert resolve_meeting([OTHER_MEETING, MEETING], SLUG) == MEETING


def test_an_exact_slug_wins_over_one_differing_in_case():
    upper = {**MEETING, "id": "m-up", "slug": SLUG.upper()}
    assert resolve_meeting([upper, MEETING], SLUG)["id"] == "m-1"


def test_a_unique_slug_differing_in_case_is_resolved():
    assert resolve_meeting([OTHER_MEETING, {**MEETING, "slug": "Meeting-With-Oliver-Smith"}], SLUG)["id"] == "m-1"


def test_two_slugs_differing_only_in_case_resolve_nothing():
    twins = [{**MEETING, "slug": SLUG.upper()}, {**MEETING, "id": "m-3", "slug": SLUG.title()}]
    assert resolve_meeting(twins, SLUG) is None


def test_an_unlisted_slug_resolves_nothing():
    assert resolve_meeting([OTHER_MEETING], SLUG) is None
    assert resolve_meeting([], SLUG) is None


def test_entries_that_are_not_meetings_are_skipped_when_resolving():
    assert resolve_meeting([None, "x", 42, {"slug": None}, {"slug": 7}, MEETING], SLUG) == MEETING


def test_the_resolved_meeting_is_a_plain_copy_read_from_any_iterable():
    result = resolve_meeting(iter([MEETING]), SLUG)
    assert result == MEETING
    assert result is not MEETING


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
def test_the_same_utc_instant_is_found_in_any_offset(starts_at):
    assert isinstance(judge([booking(starts_at=starts_at)]), Found)


def test_the_payload_zone_does_not_change_the_instant_it_names():
    new_york = {**PAYLOAD, "time_zone": "America/New_York", "slot_start_time": "04:00 AM"}  # 08:00 UTC
    assert isinstance(judge([booking()], new_york), Found)


@pytest.mark.parametrize(
    "starts_at",
    [
        "2030-07-15T08:30:00.000Z",  # the next slot
        "2030-07-15T13:30:00.000Z",  # the wall-clock time read as UTC
        "2030-07-16T08:00:00.000Z",  # the next day
        "2030-07-15T08:00:01.000Z",
    ],
)
def test_another_start_is_absent(starts_at):
    assert judge([booking(starts_at=starts_at)]) == Absent()


@pytest.mark.parametrize(
    "starts_at",
    [None, 1784102400, "not a date", "", ["2030-07-15T08:00:00Z"], "P1D"],
    ids=repr,
)
def test_a_candidate_without_a_readable_start_is_unknowable(starts_at):
    result = judge([booking(starts_at=starts_at)])
    assert isinstance(result, Unknowable)
    assert "has no readable starts_at" in result.reason


def test_with_a_slot_the_creation_time_only_says_whether_it_was_made_in_this_run():
    old = booking(created_at="2020-01-01T00:00:00.000Z")
    assert judge([old]) == Found(old, made_in_this_run=False)
    assert judge([booking(created_at=None)]) == Found(booking(created_at=None), made_in_this_run=False)


def test_made_in_this_run_is_false_when_the_run_start_is_unknown():
    assert judge([booking()], run_started=None) == Found(booking(), made_in_this_run=False)


# ---- the status --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "canceled", "rejected", "CANCELLED", "Rejected"])
def test_cancelled_or_rejected_bookings_are_absent(status):
    assert judge([booking(status=status)]) == Absent()


def test_dead_statuses_are_the_documented_and_sandbox_ones():
    assert {"cancelled", "rejected"} <= DEAD_STATUSES


@pytest.mark.parametrize("status", ["confirmed", "pending", "awaiting_approval", "", None, 0])
def test_any_other_status_counts_as_live(status):
    assert isinstance(judge([booking(status=status)]), Found)


def test_a_live_booking_wins_over_a_cancelled_one_for_the_same_slot():
    cancelled = booking(sid="dead111", status="cancelled", created_at="2030-07-01T12:00:09.000Z")
    live = booking(sid="live222")
    assert found_sid(judge([cancelled, live])) == "live222"
    assert found_sid(judge([live, cancelled])) == "live222"


# ---- bookings already claimed by another request of this task ----------------------------------


def test_a_claimed_booking_is_never_found_again():
    assert judge([booking()], claimed={"8sqtzrs"}) == Absent()


def test_a_claimed_booking_leaves_the_other_one_to_be_found():
    other = booking(sid="other22")
    assert found_sid(judge([booking(), other], claimed=frozenset({"8sqtzrs"}))) == "other22"


def test_a_claimed_slotless_booking_leaves_the_only_other_one():
    first = booking(sid="first11", starts_at="2030-07-02T03:00:00.000Z")
    second = booking(sid="second2", starts_at="2030-07-03T03:00:00.000Z")
    assert found_sid(judge([first, second], SLOTLESS, claimed={"first11"})) == "second2"


# ---- duplicate_refused: may a lost answer be re-sent? ------------------------------------------


def test_a_slotted_request_on_a_one_on_one_meeting_is_absent_with_duplicates_refused():
    assert judge([], meeting={**MEETING, "kind": "one_on_one"}) == Absent(duplicate_refused=True)


@pytest.mark.parametrize("kind", [None, "group", "round_robin", "ONE_ON_ONE", "one-on-one"])
def test_any_other_meeting_kind_does_not_refuse_duplicates(kind):
    assert judge([], meeting={**MEETING, "kind": kind}) == Absent(duplicate_refused=False)


def test_a_slotless_request_never_has_duplicates_refused():
    assert judge([], SLOTLESS, meeting={**MEETING, "kind": "one_on_one"}) == Absent(duplicate_refused=False)


def test_an_unlisted_meeting_never_has_duplicates_refused():
    assert judge([], meeting=None) == Absent(duplicate_refused=False)


# ---- payloads without a slot -------------------------------------------------------------------


def test_slotless_payload_finds_a_live_booking_created_since_the_run_started():
    assert judge([booking(starts_at="2031-01-01T00:00:00.000Z")], SLOTLESS) == Found(
        booking(starts_at="2031-01-01T00:00:00.000Z"), made_in_this_run=True
    )


def test_slotless_payload_finds_a_booking_created_exactly_at_the_run_start():
    assert isinstance(judge([booking(created_at="2030-07-01T12:00:00.000Z")], SLOTLESS), Found)


def test_slotless_payload_ignores_bookings_created_before_the_run_started():
    # The run started at 12:00 UTC; NeetoCal's clock may be up to CLOCK_SKEW_ALLOWANCE (5 min) behind.
    assert judge([booking(created_at="2030-07-01T11:54:59.999Z")], SLOTLESS) == Absent()


def test_slotless_payload_tolerates_a_server_clock_slightly_behind():
    assert isinstance(judge([booking(created_at="2030-07-01T11:59:59.000Z")], SLOTLESS), Found)
    assert isinstance(judge([booking(created_at="2030-07-01T11:55:00.000Z")], SLOTLESS), Found)


def test_slotless_payload_compares_creation_instants_across_offsets():
    # 17:24 in Kolkata is 11:54 UTC: before the run less the allowance; 17:26 is within it.
    assert judge([booking(created_at="2030-07-01T17:24:00.000+05:30")], SLOTLESS) == Absent()
    assert isinstance(judge([booking(created_at="2030-07-01T17:26:00.000+05:30")], SLOTLESS), Found)


def test_slotless_payload_accepts_a_stdlib_run_start():
    since = dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 10:00 UTC
    assert isinstance(judge([booking(created_at="2030-07-01T09:55:01.000Z")], SLOTLESS, run_started=since), Found)
    assert judge([booking(created_at="2030-07-01T09:54:59.000Z")], SLOTLESS, run_started=since) == Absent()


@pytest.mark.parametrize("created_at", [None, "", "yesterday", 1751371200, "2030-13-45T00:00:00Z"], ids=repr)
def test_slotless_payload_with_a_candidate_of_unknown_creation_time_is_unknowable(created_at):
    result = judge([booking(created_at=created_at)], SLOTLESS)
    assert isinstance(result, Unknowable)
    assert "has no readable created_at" in result.reason


def test_slotless_payload_still_checks_attendee_meeting_and_status():
    assert judge([booking(email="other@example.com")], SLOTLESS) == Absent()
    assert judge([booking(meeting_id="m-2")], SLOTLESS) == Absent()
    assert judge([booking(status="cancelled")], SLOTLESS) == Absent()


def test_slotless_payload_without_a_run_start_takes_any_live_booking():
    old = booking(created_at="2001-01-01T00:00:00Z")
    assert judge([old], SLOTLESS, run_started=None) == Found(old, made_in_this_run=False)


def test_slotless_payload_with_several_bookings_made_during_the_run_is_unknowable():
    # NeetoCal picked each slot: nothing tells which one this request made.
    first = booking(sid="first11", created_at="2030-07-01T12:00:01.000Z", starts_at="2030-08-01T08:00:00.000Z")
    latest = booking(sid="latest2", created_at="2030-07-01T12:00:09.000Z", starts_at="2030-07-20T08:00:00.000Z")
    result = judge([first, latest], SLOTLESS)
    assert isinstance(result, Unknowable)
    assert "2 live bookings" in result.reason
    assert "'first11'" in result.reason
    assert "'latest2'" in result.reason


# ---- several candidates for one slot -----------------------------------------------------------


def test_the_most_recently_created_of_several_bookings_at_the_slot_is_found():
    first = booking(sid="first11", created_at="2030-07-01T12:00:01.000Z")
    latest = booking(sid="latest2", created_at="2030-07-01T12:00:09.000Z")
    middle = booking(sid="middle3", created_at="2030-07-01T12:00:05.000Z")
    for order in ([first, latest, middle], [latest, middle, first], [middle, first, latest]):
        assert found_sid(judge(order)) == "latest2"


def test_most_recent_compares_instants_not_text():
    utc = booking(sid="utc1111", created_at="2030-07-01T12:00:09.000Z")
    kolkata = booking(sid="ist2222", created_at="2030-07-01T17:30:10.000+05:30")  # 12:00:10 UTC
    assert found_sid(judge([kolkata, utc])) == "ist2222"
    assert found_sid(judge([utc, kolkata])) == "ist2222"


def test_a_match_without_a_creation_time_loses_to_one_with_it():
    undated = booking(sid="undated", created_at=None)
    dated = booking(sid="dated11")
    assert found_sid(judge([dated, undated])) == "dated11"
    assert found_sid(judge([undated, dated])) == "dated11"


def test_no_bookings_is_absent():
    assert judge([]) == Absent()
    assert judge(iter(())) == Absent()


def test_bookings_are_read_from_any_iterable_once():
    assert found_sid(judge(b for b in [booking(email="x@example.com"), booking(sid="gen1234")])) == "gen1234"


# ---- garbage -----------------------------------------------------------------------------------


def test_garbage_beside_an_exact_match_does_not_hide_it():
    junk = [
        booking(sid="junk111", starts_at="nope"),
        booking(sid="junk222", status={"weird": True}, email=None),
        booking(sid="junk333", created_at={"at": 1}, starts_at=None),
    ]
    assert found_sid(judge([*junk, booking(sid="real444")])) == "real444"


def test_garbage_alone_is_unknowable_and_names_each_doubt():
    result = judge([booking(sid="junk111", starts_at="nope"), booking(sid="junk222", email=None)])
    assert isinstance(result, Unknowable)
    assert "'junk111'" in result.reason
    assert "'junk222'" in result.reason


def test_unknown_extra_fields_are_ignored_and_kept():
    result = judge([booking(extra={"nested": [1, 2, {"x": None}]}, meeting_outcome={"kind": "done"})])
    assert isinstance(result, Found)
    assert result.booking["extra"] == {"nested": [1, 2, {"x": None}]}


def test_entries_that_are_not_objects_do_not_hide_an_exact_match():
    assert found_sid(judge([None, "8sqtzrs", 42, ["x"], booking(sid="real444")])) == "real444"


@pytest.mark.parametrize("entry", [None, "8sqtzrs", 42, ["x"]], ids=repr)
def test_an_entry_that_is_not_an_object_alone_is_unknowable(entry):
    result = judge([entry])
    assert isinstance(result, Unknowable)
    assert "not a booking object" in result.reason


# ---- reading instants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2030-07-15T08:00:00Z",
        "2030-07-15T08:00:00.000Z",
        "2030-07-15T13:30:00+05:30",
        "2030-07-15T04:00:00-04:00",
    ],
)
def test_parse_instant_reads_iso_timestamps_into_utc(value):
    parsed = parse_instant(value)
    assert parsed == pendulum.datetime(2030, 7, 15, 8, 0, tz="UTC")
    assert parsed.timezone_name == "UTC"


@pytest.mark.parametrize(
    "value", [None, "", "yesterday", "P1D", "2030-13-45T00:00:00Z", 1784102400, ["2030-07-15T08:00:00Z"], {}]
)
def test_parse_instant_returns_none_for_anything_else(value):
    assert parse_instant(value) is None


@pytest.mark.parametrize("value", ["08:00", "2030-07-15"])
def test_parse_instant_refuses_a_time_or_date_that_is_not_an_instant(value):
    assert parse_instant(value) is None


def test_a_slotless_candidate_whose_created_at_is_only_a_time_of_day_is_unknowable():
    today = pendulum.today("UTC")
    assert isinstance(judge([booking(created_at="00:00")], SLOTLESS, run_started=today), Unknowable)


def test_created_after_allows_the_clock_skew_before_the_moment():
    moment = RUN_START
    edge = (moment - CLOCK_SKEW_ALLOWANCE).isoformat()
    assert created_after({"created_at": edge}, moment)
    assert not created_after(
        {"created_at": (moment - CLOCK_SKEW_ALLOWANCE - dt.timedelta(seconds=1)).isoformat()}, moment
    )
    assert created_after({"created_at": "2030-07-01T12:00:05Z"}, moment)


def test_created_after_accepts_a_stdlib_moment_in_any_zone():
    moment = dt.datetime(2030, 7, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 12:00 UTC
    assert created_after({"created_at": "2030-07-01T11:56:00Z"}, moment)
    assert not created_after({"created_at": "2030-07-01T11:54:00Z"}, moment)


@pytest.mark.parametrize("created_at", [None, "", "soon", 1751371200], ids=repr)
def test_created_after_is_false_without_a_readable_creation_time(created_at):
    assert not created_after({"created_at": created_at}, RUN_START)
    assert not created_after({}, RUN_START)


# ---- a booking passed over never ends the search ----------------------------------------------


@pytest.mark.parametrize(
    "passed_over",
    [
        booking(sid="other-meeting", meeting_id="m-2", meeting={"name": "Product demo"}),
        booking(sid="cancelled", status="cancelled"),
        booking(sid="other-attendee", email="sam@example.com"),
        booking(sid="other-start", starts_at="2030-07-15T09:00:00Z"),
    ],
    ids=["another-meeting", "cancelled", "another-attendee", "another-start"],
)
def test_a_booking_passed_over_earlier_in_the_listing_does_not_hide_the_match(passed_over):
    assert found_sid(judge([passed_over, booking()])) == "8sqtzrs"


def test_a_live_booking_of_the_attendee_for_another_meeting_listed_first_does_not_make_a_slotless_request_absent():
    other = booking(sid="other-meeting", meeting_id="m-2", meeting={"name": "Product demo"})

    assert found_sid(judge([other, booking()], SLOTLESS)) == "8sqtzrs"


def test_a_claimed_booking_listed_first_does_not_hide_the_match():
    assert found_sid(judge([booking(sid="taken"), booking()], claimed={"taken"})) == "8sqtzrs"


@pytest.mark.parametrize(
    "value", ["P1D", "PT30M", "2030-07-15T08:00:00Z/P1D", "2030-07-15T08:00:00Z/2030-07-16T08:00:00Z"]
)
def test_parse_instant_ignores_a_duration_or_an_interval(value):
    assert parse_instant(value) is None


def test_a_candidate_whose_starts_at_is_a_duration_is_unknowable_not_a_crash():
    result = judge([booking(starts_at="P1D")])

    assert isinstance(result, Unknowable)
    assert "has no readable starts_at" in result.reason


def test_a_slotless_request_passes_over_a_booking_at_a_reserved_start():
    reserved = {("eve@example.com", SLUG, "2030-07-15T08:00:00+00:00")}

    assert judge([booking()], SLOTLESS, reserved=reserved) == Absent()


def test_a_reserved_start_is_matched_whatever_the_case_of_the_payload_slug():
    reserved = {("eve@example.com", SLUG, "2030-07-15T08:00:00+00:00")}
    payload = {**SLOTLESS, "meeting_slug": SLUG.upper()}

    assert judge([booking()], payload, reserved=reserved) == Absent()


def test_a_booking_at_another_start_than_the_reserved_one_is_still_found_by_a_slotless_request():
    reserved = {("eve@example.com", SLUG, "2030-07-15T09:00:00+00:00")}

    assert found_sid(judge([booking()], SLOTLESS, reserved=reserved)) == "8sqtzrs"


def test_a_reserved_booking_listed_first_does_not_hide_the_slotless_match():
    reserved = {("eve@example.com", SLUG, "2030-07-15T08:00:00+00:00")}
    mine = booking(sid="mine", starts_at="2030-07-16T08:00:00Z")

    assert found_sid(judge([booking(), mine], SLOTLESS, reserved=reserved)) == "mine"


def test_the_reason_names_the_type_of_an_entry_that_is_not_a_booking():
    assert judge(["8sqtzrs"]) == Unknowable("an entry of the listing is not a booking object (str)")


def test_the_reason_says_when_a_candidate_has_no_attendee_email():
    result = judge([booking(email=None)])

    assert result == Unknowable("booking '8sqtzrs' of this attendee has no attendee email")


@pytest.mark.parametrize("override", [True, "true"])
def test_override_availability_never_counts_on_neetocal_refusing_a_duplicate(override: Any) -> None:
    """API v2's ``override_availability`` books past the meeting's rules: a taken slot may not be refused, so
    a lost answer must not be re-sent on the strength of a refusal that may never come."""
    one_on_one = {**MEETING, "kind": "one_on_one"}
    assert judge([], payload={**PAYLOAD, "override_availability": override}, meeting=one_on_one) == Absent(
        duplicate_refused=False
    )
    assert judge([], payload={**PAYLOAD, "override_availability": False}, meeting=one_on_one) == Absent(
        duplicate_refused=True
    )
