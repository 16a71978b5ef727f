"""Specification of ``build_booking_payload``: what reaches ``POST /bookings`` and what is refused.

Pure functions only: no Airflow context, no HTTP, no wall clock.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.booking import (
    MEETING_SPOTS,
    build_booking_payload,
    build_reschedule_payload,
    format_slot_time,
    is_absent,
)
from airflow_provider_neetocal.exceptions import NeetoCalValidationError

REQUIRED: dict[str, Any] = {
    "meeting_slug": "meeting-with-oliver-smith",
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
}

OPTIONAL_FIELDS = ("slot_date", "slot_start_time", "slot_start", "preferred_meeting_spot", "form_responses", "metadata")


def build(**overrides: Any) -> dict[str, Any]:
    return build_booking_payload(**{**REQUIRED, **overrides})


def refusal(**overrides: Any) -> NeetoCalValidationError:
    with pytest.raises(NeetoCalValidationError) as caught:
        build(**overrides)
    return caught.value


def slot_of(payload: dict[str, Any]) -> tuple[str, str]:
    return payload["slot_date"], payload["slot_start_time"]


# --- the happy path and the shape of the payload -------------------------------------------------


def test_documented_example_builds_the_documented_body() -> None:
    payload = build(
        slot_date="2025-07-15",
        slot_start_time="01:30 PM",
        preferred_meeting_spot="jitsi",
        form_responses={"guest_email_s": ["sam@example.com", "charlie@example.com"], "language": "English"},
    )

    assert payload == {
        "meeting_slug": "meeting-with-oliver-smith",
        "name": "Eve Smith",
        "email": "eve@example.com",
        "slot_date": "2025-07-15",
        "slot_start_time": "01:30 PM",
        "time_zone": "Asia/Kolkata",
        "preferred_meeting_spot": "jitsi",
        "form_responses": {"guest_email_s": ["sam@example.com", "charlie@example.com"], "language": "English"},
    }


def test_keys_come_in_a_stable_order_required_first() -> None:
    payload = build(
        metadata={"source": "airflow"},
        form_responses={"language": "English"},
        preferred_meeting_spot="zoom",
        slot_start_time="1:30 pm",
        slot_date="2025-07-15",
    )

    assert list(payload) == [
        "meeting_slug",
        "name",
        "email",
        "time_zone",
        "slot_date",
        "slot_start_time",
        "preferred_meeting_spot",
        "form_responses",
        "metadata",
    ]


def test_only_required_fields_give_a_payload_without_optional_keys() -> None:
    payload = build()

    assert payload == REQUIRED
    assert list(payload) == ["meeting_slug", "name", "email", "time_zone"]


def test_no_slot_at_all_leaves_both_slot_keys_out_to_book_the_first_free_slot() -> None:
    payload = build(slot_date=None, slot_start_time=None, slot_start=None)

    assert "slot_date" not in payload
    assert "slot_start_time" not in payload


@pytest.mark.parametrize("absent", [None, "  ", "None"], ids=repr)
@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
def test_absent_optional_argument_is_left_out_never_sent_as_null(field: str, absent: Any) -> None:
    payload = build(**{field: absent})

    assert payload == REQUIRED
    assert None not in payload.values()


def test_payload_is_json_serialisable_without_nan() -> None:
    payload = build(slot_start="2025-07-15T08:00:00+00:00", form_responses='{"seats": 2}', metadata={"a": [1]})

    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


def test_surrounding_whitespace_is_trimmed_from_text_fields() -> None:
    payload = build(meeting_slug="  demo-call ", name="\tEve Smith\n", email=" eve@example.com ", time_zone=" UTC ")

    assert payload == {"meeting_slug": "demo-call", "name": "Eve Smith", "email": "eve@example.com", "time_zone": "UTC"}


def test_input_mappings_are_not_mutated() -> None:
    responses = {"guest_email_s": ["Sam@Example.COM"]}

    build(form_responses=responses)

    assert responses == {"guest_email_s": ["Sam@Example.COM"]}


# --- is_absent and format_slot_time ---------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", " ", "\n", "None", "  None  "], ids=repr)
def test_is_absent_for_none_blank_and_jinja_rendered_none(value: Any) -> None:
    assert is_absent(value)


@pytest.mark.parametrize("value", ["none", "NULL", "0", 0, False, [], {}, "x"], ids=repr)
def test_is_absent_is_false_for_anything_else(value: Any) -> None:
    assert not is_absent(value)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [(0, 0, "12:00 AM"), (0, 30, "12:30 AM"), (1, 5, "01:05 AM"), (12, 0, "12:00 PM"), (13, 30, "01:30 PM")],
)
def test_format_slot_time_is_zero_padded_twelve_hour_clock(hour: int, minute: int, expected: str) -> None:
    assert format_slot_time(hour, minute) == expected


# --- required fields --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["meeting_slug", "name", "email", "time_zone"])
@pytest.mark.parametrize("missing", [None, "", "  ", "None"], ids=repr)
def test_missing_required_field_is_refused_by_name(field: str, missing: Any) -> None:
    error = refusal(**{field: missing})

    assert error.fields == [field]
    assert field in str(error)


def test_all_required_fields_missing_are_reported_together() -> None:
    with pytest.raises(NeetoCalValidationError) as caught:
        build_booking_payload(meeting_slug=None, name=None, email=None, time_zone=None)

    assert caught.value.fields == ["meeting_slug", "name", "email", "time_zone"]
    assert str(caught.value).startswith("4 invalid NeetoCal booking arguments:\n  - meeting_slug=None")


@pytest.mark.parametrize("field", ["meeting_slug", "name", "email", "time_zone"])
@pytest.mark.parametrize("wrong", [42, True, ["a"], {"a": 1}], ids=repr)
def test_required_field_of_wrong_type_is_refused_naming_the_type(field: str, wrong: Any) -> None:
    error = refusal(**{field: wrong})

    assert error.fields == [field]
    assert type(wrong).__name__ in str(error)


@pytest.mark.parametrize(
    ("field", "wrong"),
    [
        ("slot_date", 20250715),
        ("slot_date", ["2025-07-15"]),
        ("slot_date", {"d": "2025-07-15"}),
        ("slot_start_time", 1330),
        ("slot_start_time", ["13:30"]),
        ("slot_start_time", {"t": "13:30"}),
        ("slot_start", 1752566400),
        ("slot_start", ["2025-07-15T08:00"]),
        ("slot_start", {"at": "2025-07-15T08:00"}),
        ("preferred_meeting_spot", 1),
        ("preferred_meeting_spot", ["zoom"]),
        ("preferred_meeting_spot", {"spot": "zoom"}),
        ("form_responses", 1),
        ("form_responses", ["language", "English"]),
        ("metadata", 1),
        ("metadata", [{"pre_bookings": []}]),
    ],
    ids=repr,
)
def test_optional_field_of_wrong_type_is_refused(field: str, wrong: Any) -> None:
    other = {"slot_date": {"slot_start_time": "13:30"}, "slot_start_time": {"slot_date": "2025-07-15"}}
    error = refusal(**{field: wrong, **other.get(field, {})})

    assert error.fields == [field]


# --- meeting_slug and name --------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["demo", "meeting-with-oliver-smith", "Sales_Call_2", "30min"])
def test_url_slug_is_accepted(slug: str) -> None:
    assert build(meeting_slug=slug)["meeting_slug"] == slug


@pytest.mark.parametrize("slug", ["meeting with oliver", "-demo", "demo/call", "démo", "https://x.neetocal.com/demo"])
def test_non_slug_is_refused(slug: str) -> None:
    error = refusal(meeting_slug=slug)

    assert error.fields == ["meeting_slug"]
    assert "not a URL slug" in str(error)


@pytest.mark.parametrize("field", ["meeting_slug", "name"])
def test_text_longer_than_255_characters_is_refused(field: str) -> None:
    error = refusal(**{field: "a" * 256})

    assert error.fields == [field]
    assert "too long (256 characters)" in str(error)


def test_text_of_255_characters_is_accepted() -> None:
    assert build(name="a" * 255)["name"] == "a" * 255


@pytest.mark.parametrize("name", ["Eve\nSmith", "Eve\x00Smith", "Eve\x1bSmith", "Eve\u2028Smith"], ids=repr)
def test_name_with_control_characters_is_refused(name: str) -> None:
    error = refusal(name=name)

    assert error.fields == ["name"]
    assert "control characters" in str(error)


@pytest.mark.parametrize(
    "name",
    ["José Álvarez", "李小龍", "Eve\u00a0Smith", "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627", "👩\u200d💻 Eve"],
    ids=["accents", "cjk", "no-break-space", "zero-width-non-joiner", "emoji-zwj-sequence"],
)
def test_printable_unicode_name_is_accepted(name: str) -> None:
    assert build(name=name)["name"] == name


# --- email -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "sent"),
    [
        ("eve@example.com", "eve@example.com"),
        ("eve.smith+airflow@example.co.uk", "eve.smith+airflow@example.co.uk"),
        ("Eve@Example.COM", "Eve@example.com"),
    ],
)
def test_valid_email_is_sent_normalised(email: str, sent: str) -> None:
    assert build(email=email)["email"] == sent


def test_email_deliverability_is_not_checked() -> None:
    assert build(email="eve@no-such-domain-for-neetocal-tests.com")["email"].endswith("tests.com")


@pytest.mark.parametrize(
    "email", ["eve", "eve@", "@example.com", "eve@@example.com", "eve smith@example.com", "Eve <eve@example.com>"]
)
def test_malformed_email_is_refused_with_the_value_and_expected_form(email: str) -> None:
    error = refusal(email=email)

    assert error.fields == ["email"]
    assert repr(email) in str(error)
    assert "expected an email address like 'eve@example.com'" in str(error)


# --- time_zone ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York", "Europe/London", "UTC", "Etc/GMT+5"])
def test_iana_time_zone_is_accepted(zone: str) -> None:
    assert build(time_zone=zone)["time_zone"] == zone


def test_lowercase_utc_is_sent_as_utc() -> None:
    assert build(time_zone="utc")["time_zone"] == "UTC"


def test_pendulum_timezone_object_is_sent_by_name() -> None:
    assert build(time_zone=pendulum.timezone("Europe/Paris"))["time_zone"] == "Europe/Paris"


@pytest.mark.parametrize(
    "zone",
    ["+05:30", "UTC+5", "GMT+05:30", "IST", "Mars/Olympus_Mons", "asia/kolkata", "/etc/localtime", "../UTC"],
)
def test_fixed_offset_or_unknown_time_zone_is_refused(zone: str) -> None:
    error = refusal(time_zone=zone)

    assert error.fields == ["time_zone"]
    assert repr(zone) in str(error)
    assert "expected an IANA time zone name" in str(error)


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "posix/Asia/Kolkata", "right/UTC"])
def test_zoneinfo_files_that_are_not_iana_names_are_refused(zone: str) -> None:
    assert refusal(time_zone=zone).fields == ["time_zone"]


@pytest.mark.parametrize(
    "zone", [pendulum.FixedTimezone(19800), dt.timezone.utc, zoneinfo.ZoneInfo("UTC")], ids=["fixed", "stdlib", "zi"]
)
def test_time_zone_objects_other_than_pendulum_timezone_are_refused(zone: Any) -> None:
    assert refusal(time_zone=zone).fields == ["time_zone"]


# --- slot_start: one instant, converted into time_zone ------------------------------------------------


def test_ts_template_string_is_converted_into_time_zone() -> None:
    payload = build(slot_start="2025-07-15T08:00:00+00:00", time_zone="Asia/Kolkata")

    assert slot_of(payload) == ("2025-07-15", "01:30 PM")
    assert payload["time_zone"] == "Asia/Kolkata"


def test_slot_start_with_offset_is_converted_into_time_zone() -> None:
    payload = build(slot_start="2025-07-15T13:30:00+05:30", time_zone="America/New_York")

    assert slot_of(payload) == ("2025-07-15", "04:00 AM")


def test_slot_start_conversion_can_change_the_date() -> None:
    payload = build(slot_start="2025-07-15T22:00:00Z", time_zone="Asia/Tokyo")

    assert slot_of(payload) == ("2025-07-16", "07:00 AM")


@pytest.mark.parametrize(
    "text",
    [
        "2025-07-15T08:00:00+00:00",
        "2025-07-15T08:00:00Z",
        "2025-07-15T08:00:00.000000+00:00",
        "2025-07-15T08:00+00:00",
        "2025-07-15 08:00:00+00:00",
        "20250715T080000Z",
        " 2025-07-15T08:00:00+00:00 ",
    ],
)
def test_iso_8601_spellings_of_one_instant_give_the_same_slot(text: str) -> None:
    assert slot_of(build(slot_start=text, time_zone="UTC")) == ("2025-07-15", "08:00 AM")


def test_naive_slot_start_string_is_read_in_time_zone() -> None:
    payload = build(slot_start="2025-07-15T13:30", time_zone="Asia/Kolkata")

    assert slot_of(payload) == ("2025-07-15", "01:30 PM")


def test_aware_stdlib_datetime_is_converted_into_time_zone() -> None:
    start = dt.datetime(2025, 7, 15, 8, 0, tzinfo=dt.timezone.utc)

    assert slot_of(build(slot_start=start, time_zone="Asia/Kolkata")) == ("2025-07-15", "01:30 PM")


def test_stdlib_datetime_with_zoneinfo_is_converted_into_time_zone() -> None:
    start = dt.datetime(2025, 7, 15, 9, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London"))

    assert slot_of(build(slot_start=start, time_zone="Asia/Kolkata")) == ("2025-07-15", "01:30 PM")


def test_naive_stdlib_datetime_is_read_in_time_zone() -> None:
    start = dt.datetime(2025, 7, 15, 13, 30)

    assert slot_of(build(slot_start=start, time_zone="Asia/Kolkata")) == ("2025-07-15", "01:30 PM")


def test_pendulum_datetime_is_converted_into_time_zone() -> None:
    start = pendulum.datetime(2025, 7, 15, 8, 0, tz="UTC")

    assert slot_of(build(slot_start=start, time_zone="Asia/Kolkata")) == ("2025-07-15", "01:30 PM")


def test_naive_pendulum_datetime_is_read_in_time_zone() -> None:
    start = pendulum.naive(2025, 7, 15, 13, 30)

    assert slot_of(build(slot_start=start, time_zone="Asia/Kolkata")) == ("2025-07-15", "01:30 PM")


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        ("2025-03-09T06:59:00Z", ("2025-03-09", "01:59 AM")),  # last minute of EST
        ("2025-03-09T07:00:00Z", ("2025-03-09", "03:00 AM")),  # first minute of EDT: 02:xx is skipped
        ("2025-11-02T04:59:00Z", ("2025-11-02", "12:59 AM")),  # last minute before the repeated hour
        ("2025-11-02T07:00:00Z", ("2025-11-02", "02:00 AM")),  # first minute after it
    ],
)
def test_instants_around_new_york_dst_changes_give_the_local_wall_clock(utc: str, local: tuple[str, str]) -> None:
    assert slot_of(build(slot_start=utc, time_zone="America/New_York")) == local


@pytest.mark.parametrize("utc", ["2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"], ids=["edt", "est"])
def test_instants_in_the_repeated_hour_are_refused_as_ambiguous_for_neetocal(utc: str) -> None:
    error = refusal(slot_start=utc, time_zone="America/New_York")

    assert error.fields == ["slot_start"]
    assert "2025-11-02T01:30 happens twice in America/New_York: ambiguous" in str(error)
    assert "clocks go back from 02:00 to 01:00 on 2025-11-02" in str(error)


@pytest.mark.parametrize(
    "start",
    ["2025-03-09T02:30", "2025-03-09T02:00:00", dt.datetime(2025, 3, 9, 2, 30), pendulum.naive(2025, 3, 9, 2, 30)],
    ids=["string", "string-seconds", "stdlib", "pendulum"],
)
def test_naive_slot_start_in_the_spring_forward_gap_is_refused(start: Any) -> None:
    error = refusal(slot_start=start, time_zone="America/New_York")

    assert error.fields == ["slot_start"]
    assert "does not exist in America/New_York: clocks jump from 02:00 to 03:00 on 2025-03-09" in str(error)
    assert "choose a time outside that gap, e.g. 03:00" in str(error)


def test_naive_slot_start_in_the_fall_back_overlap_is_refused_as_ambiguous() -> None:
    error = refusal(slot_start="2025-11-02T01:30", time_zone="America/New_York")

    assert error.fields == ["slot_start"]
    assert "2025-11-02T01:30 happens twice in America/New_York: ambiguous" in str(error)


def test_naive_slot_start_just_after_the_gap_is_accepted() -> None:
    assert slot_of(build(slot_start="2025-03-09T03:00", time_zone="America/New_York")) == ("2025-03-09", "03:00 AM")


@pytest.mark.parametrize(
    "start",
    ["2025-07-15T08:00:30+00:00", "2025-07-15T08:00:00.5+00:00", dt.datetime(2025, 7, 15, 8, 0, 1)],
    ids=repr,
)
def test_slot_start_not_on_a_whole_minute_is_refused(start: Any) -> None:
    error = refusal(slot_start=start, time_zone="UTC")

    assert error.fields == ["slot_start"]
    assert "not on a whole minute" in str(error)


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("2025-07-15", "a date without a time"),
        (dt.date(2025, 7, 15), "expected an ISO-8601 date-time"),
        ("13:30", "not a single date-time"),
        ("2025-07-15T08:00/2025-07-15T09:00", "not a single date-time"),
        ("2025-02-30T08:00:00+00:00", "not a date-time"),
        ("2025-07-15T25:00:00+00:00", "not a date-time"),
        ("1752566400", "not a date-time"),
        ("July 15th 2025, 1:30 PM", "expected an ISO-8601 date-time"),
        ("tomorrow", "expected an ISO-8601 date-time"),
        ("{{ ts }}", "expected an ISO-8601 date-time"),
    ],
    ids=repr,
)
def test_slot_start_that_is_not_one_date_time_is_refused(start: Any, says: str) -> None:
    error = refusal(slot_start=start)

    assert error.fields == ["slot_start"]
    assert says in str(error)


@pytest.mark.parametrize(
    "other", [{"slot_date": "2025-07-15"}, {"slot_start_time": "01:30 PM"}, {"slot_date": "x", "slot_start_time": "y"}]
)
def test_slot_start_together_with_slot_date_or_time_is_refused(other: dict[str, str]) -> None:
    error = refusal(slot_start="2025-07-15T08:00:00+00:00", **other)

    assert error.fields == ["slot_start"]
    assert "give either slot_start or slot_date + slot_start_time, not both" in str(error)


def test_slot_start_is_checked_even_when_time_zone_is_invalid() -> None:
    error = refusal(time_zone="Nowhere/City", slot_start="not a time")

    assert error.fields == ["time_zone", "slot_start"]


def test_valid_slot_start_with_invalid_time_zone_reports_only_the_time_zone() -> None:
    assert refusal(time_zone="Nowhere/City", slot_start="2025-07-15T08:00:00Z").fields == ["time_zone"]


# --- slot_date + slot_start_time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "sent"),
    [
        ("2025-07-15", "2025-07-15"),
        (" 2025-07-15 ", "2025-07-15"),
        ("2024-02-29", "2024-02-29"),
        (dt.date(2025, 7, 15), "2025-07-15"),
        (pendulum.date(2025, 7, 15), "2025-07-15"),
    ],
    ids=repr,
)
def test_slot_date_is_sent_as_iso_date(date: Any, sent: str) -> None:
    assert build(slot_date=date, slot_start_time="01:30 PM")["slot_date"] == sent


@pytest.mark.parametrize("date", ["2025-02-30", "2025-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "0000-01-01"])
def test_impossible_slot_date_is_refused_as_not_a_real_date(date: str) -> None:
    error = refusal(slot_date=date, slot_start_time="01:30 PM")

    assert error.fields == ["slot_date"]
    assert f"slot_date={date!r}: not a real date" in str(error)
    assert "YYYY-MM-DD" in str(error)


@pytest.mark.parametrize("date", ["15/07/2025", "2025-7-15", "20250715", "2025-07-15T00:00", "July 15", "{{ ds }}"])
def test_slot_date_in_another_form_is_refused(date: str) -> None:
    error = refusal(slot_date=date, slot_start_time="01:30 PM")

    assert error.fields == ["slot_date"]
    assert "expected a date YYYY-MM-DD" in str(error)


@pytest.mark.parametrize("value", [dt.datetime(2025, 7, 15, 13, 30), pendulum.datetime(2025, 7, 15)], ids=repr)
def test_datetime_as_slot_date_is_refused_pointing_to_slot_start(value: Any) -> None:
    error = refusal(slot_date=value, slot_start_time="01:30 PM")

    assert error.fields == ["slot_date"]
    assert "use slot_start" in str(error)


@pytest.mark.parametrize(
    ("time", "sent"),
    [
        ("01:30 PM", "01:30 PM"),
        ("1:30 pm", "01:30 PM"),
        ("1:30pm", "01:30 PM"),
        ("01:30 Pm", "01:30 PM"),
        ("13:30", "01:30 PM"),
        ("13:30:00", "01:30 PM"),
        (" 13:30 ", "01:30 PM"),
        ("09:05 AM", "09:05 AM"),
        ("9:05", "09:05 AM"),
        ("12:00 AM", "12:00 AM"),
        ("12:30 am", "12:30 AM"),
        ("00:00", "12:00 AM"),
        ("0:00", "12:00 AM"),
        ("12:00", "12:00 PM"),
        ("12:00 PM", "12:00 PM"),
        ("23:59", "11:59 PM"),
        ("1:30:00 pm", "01:30 PM"),
        (dt.time(13, 30), "01:30 PM"),
        (dt.time(0, 0), "12:00 AM"),
    ],
    ids=repr,
)
def test_slot_start_time_forms_are_sent_as_hh_mm_am_pm(time: Any, sent: str) -> None:
    assert build(slot_date="2025-07-15", slot_start_time=time)["slot_start_time"] == sent


@pytest.mark.parametrize(
    ("time", "says"),
    [
        ("24:00", "hour 24 does not exist on a 24-hour clock"),
        ("25:00", "hour 25 does not exist on a 24-hour clock"),
        ("13:30 PM", "hour 13 does not exist on a 12-hour clock"),
        ("0:30 AM", "hour 0 does not exist on a 12-hour clock"),
        ("00:00 AM", "hour 0 does not exist on a 12-hour clock"),
        ("12:60", "no such time on a whole minute"),
        ("12:30:15", "no such time on a whole minute"),
        ("1:5 PM", "expected 'hh:mm AM/PM'"),
        ("1330", "expected 'hh:mm AM/PM'"),
        ("1:30 P.M.", "expected 'hh:mm AM/PM'"),
        ("noon", "expected 'hh:mm AM/PM'"),
        ("01:30 PM IST", "expected 'hh:mm AM/PM'"),
        (dt.time(13, 30, 5), "not on a whole minute"),
    ],
    ids=repr,
)
def test_impossible_slot_start_time_is_refused(time: Any, says: str) -> None:
    error = refusal(slot_date="2025-07-15", slot_start_time=time)

    assert error.fields == ["slot_start_time"]
    assert says in str(error)
    assert "'hh:mm AM/PM' (e.g. '01:30 PM')" in str(error)


RESCHEDULE_REQUIRED: dict[str, Any] = {"name": "Eve Smith", "email": "eve@example.com", "time_zone": "Asia/Kolkata"}
BUILDERS = ["create", "reschedule"]


def build_with(builder: str, **overrides: Any) -> dict[str, Any]:
    """Build a create (``POST /bookings``) or reschedule (``PATCH /bookings/{sid}``) body."""
    if builder == "create":
        return build(**overrides)
    return build_reschedule_payload(**{**RESCHEDULE_REQUIRED, **overrides})


def refusal_with(builder: str, **overrides: Any) -> NeetoCalValidationError:
    with pytest.raises(NeetoCalValidationError) as caught:
        build_with(builder, **overrides)
    return caught.value


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("time", ["02:30 AM", "2:00 am", "02:59", dt.time(2, 30)], ids=repr)
def test_wall_clock_slot_in_the_spring_forward_gap_is_refused_naming_slot_start_time(builder: str, time: Any) -> None:
    error = refusal_with(builder, slot_date="2030-03-10", slot_start_time=time, time_zone="America/New_York")

    assert error.fields == ["slot_start_time"]
    assert "on 2030-03-10 does not exist in America/New_York: clocks jump from 02:00 to 03:00 on 2030-03-10" in str(
        error
    )
    assert "choose a time outside that gap, e.g. 03:00" in str(error)


def test_refusal_of_a_skipped_wall_clock_time_names_the_time_and_the_date() -> None:
    error = refusal(slot_date="2030-03-10", slot_start_time="02:30 AM", time_zone="America/New_York")

    assert str(error) == (
        "Invalid NeetoCal booking argument slot_start_time='02:30 AM' — fix it; nothing was sent\n"
        "slot_start_time='02:30 AM': 02:30 AM on 2030-03-10 does not exist in "
        "America/New_York: clocks jump from 02:00 to 03:00 on 2030-03-10; choose a time outside that gap, e.g. 03:00"
    )


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("time", ["01:30 AM", "1:00 am", "01:59", dt.time(1, 30)], ids=repr)
def test_wall_clock_slot_in_the_repeated_hour_is_refused_as_ambiguous(builder: str, time: Any) -> None:
    error = refusal_with(builder, slot_date="2030-11-03", slot_start_time=time, time_zone="America/New_York")

    assert error.fields == ["slot_start_time"]
    assert "on 2030-11-03 happens twice in America/New_York: ambiguous" in str(error)
    assert "clocks go back from 02:00 to 01:00 on 2030-11-03" in str(error)
    assert "cannot say which is meant; choose a time outside that repeated span, e.g. 02:00" in str(error)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize(
    ("date", "time", "sent"),
    [
        ("2030-03-10", "01:59 AM", "01:59 AM"),  # last minute before the gap
        ("2030-03-10", "03:00", "03:00 AM"),  # first minute after it
        ("2030-03-10", "01:30 PM", "01:30 PM"),
        ("2030-11-03", "12:59 AM", "12:59 AM"),  # last minute before the repeated hour
        ("2030-11-03", "2:00 am", "02:00 AM"),  # first minute after it
        ("2030-11-03", dt.time(13, 30), "01:30 PM"),
    ],
    ids=repr,
)
def test_wall_clock_slot_outside_the_clock_change_on_a_dst_day_is_sent(
    builder: str, date: str, time: Any, sent: str
) -> None:
    payload = build_with(builder, slot_date=date, slot_start_time=time, time_zone="America/New_York")

    assert slot_of(payload) == (date, sent)


def test_half_hour_repeated_span_of_lord_howe_is_refused() -> None:
    error = refusal(slot_date="2030-04-07", slot_start_time="01:45", time_zone="Australia/Lord_Howe")

    assert error.fields == ["slot_start_time"]
    assert "clocks go back from 02:00 to 01:30 on 2030-04-07" in str(error)


def test_a_day_skipped_whole_is_refused_naming_both_dates() -> None:
    """Samoa crossed the date line in 2011: 2011-12-30 never happened in Apia."""
    error = refusal(slot_date="2011-12-30", slot_start_time="10:00 AM", time_zone="Pacific/Apia")

    assert error.fields == ["slot_start_time"]
    assert "clocks jump from 00:00 on 2011-12-30 to 00:00 on 2011-12-31" in str(error)
    assert "e.g. 00:00 on 2011-12-31" in str(error)


def test_wall_clock_slot_is_not_checked_against_an_invalid_time_zone() -> None:
    error = refusal(slot_date="2030-03-10", slot_start_time="02:30 AM", time_zone="Mars/Olympus")

    assert error.fields == ["time_zone"]


def test_skipped_wall_clock_time_is_reported_with_the_other_problems() -> None:
    error = refusal(email="eve@", slot_date="2030-03-10", slot_start_time="02:30 AM", time_zone="America/New_York")

    assert error.fields == ["email", "slot_start_time"]


def test_slot_date_without_slot_start_time_is_refused_naming_the_missing_field() -> None:
    error = refusal(slot_date="2025-07-15")

    assert error.fields == ["slot_start_time"]
    assert "required together with slot_date; give both, or neither" in str(error)


def test_slot_start_time_without_slot_date_is_refused_naming_the_missing_field() -> None:
    error = refusal(slot_start_time="01:30 PM", slot_date="None")

    assert error.fields == ["slot_date"]
    assert "required together with slot_start_time" in str(error)


def test_lone_slot_date_is_still_checked_for_its_own_form() -> None:
    assert refusal(slot_date="2025-02-30").fields == ["slot_date", "slot_start_time"]


# --- preferred_meeting_spot --------------------------------------------------------------------------


def test_the_eight_documented_meeting_spots() -> None:
    assert set(MEETING_SPOTS) == {
        "custom",
        "jitsi",
        "in_person",
        "daily",
        "zoom",
        "whereby",
        "google_meet",
        "teams",
    }


@pytest.mark.parametrize("spot", MEETING_SPOTS)
def test_documented_meeting_spot_is_sent(spot: str) -> None:
    assert build(preferred_meeting_spot=spot)["preferred_meeting_spot"] == spot


@pytest.mark.parametrize("spot", ["Zoom", "google-meet", "skype", "in person"])
def test_unknown_meeting_spot_is_refused_listing_the_allowed_ones(spot: str) -> None:
    error = refusal(preferred_meeting_spot=spot)

    assert error.fields == ["preferred_meeting_spot"]
    assert "unknown meeting spot: expected one of custom, jitsi, in_person" in str(error)


# --- form_responses ---------------------------------------------------------------------------------


def test_form_responses_json_string_is_sent_as_a_mapping() -> None:
    payload = build(form_responses='{"language": "English", "guest_email_s": ["sam@example.com"], "seats": 2}')

    assert payload["form_responses"] == {"language": "English", "guest_email_s": ["sam@example.com"], "seats": 2}


@pytest.mark.parametrize(
    "answer",
    ["English", 2, 2.5, True, False, ["a", "b"], []],
    ids=["text", "int", "float", "true", "false", "multi", "empty"],
)
def test_form_answer_of_documented_type_is_sent_unchanged(answer: Any) -> None:
    assert build(form_responses={"q": answer})["form_responses"] == {"q": answer}


def test_guest_addresses_are_normalised() -> None:
    payload = build(form_responses={"guest_email_s": [" Sam@Example.COM "]})

    assert payload["form_responses"] == {"guest_email_s": ["Sam@example.com"]}


def test_guest_list_with_a_bad_address_is_refused_naming_the_address() -> None:
    error = refusal(
        form_responses={
            "language": "English, please, and a long answer to push the guest list past the repr limit",
            "guest_email_s": ["sam@example.com", "charlie-at-example.com"],
        }
    )

    assert error.fields == ["form_responses"]
    assert "guest 'charlie-at-example.com'" in str(error)
    assert "'guest_email_s' to hold guest email addresses" in str(error)


@pytest.mark.parametrize("guests", ["sam@example.com", None, {"sam": "sam@example.com"}], ids=repr)
def test_guests_that_are_not_a_list_are_refused(guests: Any) -> None:
    error = refusal(form_responses={"guest_email_s": guests})

    assert "'guest_email_s' must be a list of guest email addresses" in str(error)


def test_guest_that_is_not_a_string_is_refused() -> None:
    assert "got int" in str(refusal(form_responses={"guest_email_s": [42]}))


@pytest.mark.parametrize(
    ("responses", "says"),
    [
        ({"q": None}, "answer to 'q' is a NoneType"),
        ({"q": {"nested": 1}}, "answer to 'q' is a dict"),
        ({"q": ["a", 1]}, "answer to 'q' is a list with non-string items"),
        ({"q": float("nan")}, "answer to 'q' is not a finite number"),
        ({"q": float("inf")}, "answer to 'q' is not a finite number"),
        ('{"q": NaN}', "answer to 'q' is not a finite number"),
        ('{"q": -Infinity}', "answer to 'q' is not a finite number"),
        ({1: "a"}, "key 1 is not a non-empty string"),
        ({" ": "a"}, "key ' ' is not a non-empty string"),
        ("{'q': 'single quotes'}", "a string that is not JSON"),
        ('["q", "a"]', "or list of strings), got list"),
        ("null", "got NoneType"),
    ],
    ids=repr,
)
def test_bad_form_responses_are_refused_saying_why(responses: Any, says: str) -> None:
    error = refusal(form_responses=responses)

    assert error.fields == ["form_responses"]
    assert says in str(error)


# --- metadata ---------------------------------------------------------------------------------------


def test_metadata_mapping_is_sent() -> None:
    pre = {"pre_bookings": [{"duration": 15, "starts_at": "2025-07-15T08:00:00Z"}]}

    assert build(metadata=pre)["metadata"] == pre


def test_metadata_json_string_is_sent_as_a_mapping() -> None:
    assert build(metadata='{"pre_bookings": []}')["metadata"] == {"pre_bookings": []}


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ({"x": float("nan")}, "not JSON-serialisable"),
        ({"deep": [{"x": float("inf")}]}, "not JSON-serialisable"),
        ('{"x": NaN}', "not JSON-serialisable"),
        ({"when": dt.datetime(2025, 7, 15)}, "not JSON-serialisable"),
        ({"tags": {"a", "b"}}, "not JSON-serialisable"),
        ("not json", "a string that is not JSON"),
        ("[1, 2]", "got list"),
    ],
    ids=repr,
)
def test_bad_metadata_is_refused_saying_why(metadata: Any, says: str) -> None:
    error = refusal(metadata=metadata)

    assert error.fields == ["metadata"]
    assert says in str(error)


# --- the error itself -------------------------------------------------------------------------------


def test_validation_error_fails_the_task_without_retries() -> None:
    error = refusal(email="nope")

    assert isinstance(error, AirflowFailException)
    assert isinstance(error, ValueError)


def test_single_problem_message_names_field_value_and_expected_form() -> None:
    error = refusal(slot_date="2025-07-15", slot_start_time="25:00")

    assert str(error) == (
        "Invalid NeetoCal booking argument slot_start_time='25:00' — fix it; nothing was sent\n"
        "slot_start_time='25:00': hour 25 does not exist on a 24-hour clock: "
        "expected 'hh:mm AM/PM' (e.g. '01:30 PM'), 'h:mm am/pm' or 24-hour 'HH:MM' (e.g. '13:30')"
    )


def test_problem_carries_field_value_and_problem() -> None:
    (problem,) = refusal(preferred_meeting_spot="skype").problems

    assert problem.field == "preferred_meeting_spot"
    assert problem.value == "skype"
    assert problem.problem.startswith("unknown meeting spot")


def test_every_problem_is_reported_at_once_in_checking_order() -> None:
    with pytest.raises(NeetoCalValidationError) as caught:
        build_booking_payload(
            meeting_slug="bad slug",
            name="",
            email="nope",
            time_zone="+05:30",
            slot_date="2025-02-30",
            slot_start_time="13:30 PM",
            preferred_meeting_spot="skype",
            form_responses="[]",
            metadata="{",
        )

    error = caught.value
    assert error.fields == [
        "meeting_slug",
        "name",
        "email",
        "time_zone",
        "slot_date",
        "slot_start_time",
        "preferred_meeting_spot",
        "form_responses",
        "metadata",
    ]
    lines = str(error).splitlines()
    assert lines[0] == "9 invalid NeetoCal booking arguments:"
    assert lines[1].startswith("  - meeting_slug='bad slug': not a URL slug")
    assert len(lines) == 10


def test_long_bad_value_is_truncated_in_the_message() -> None:
    error = refusal(form_responses="x" * 500)

    message = str(error)
    assert "form_responses='xxxx" in message
    assert "..." in message
    assert "x" * 100 not in message


def test_an_invalid_email_message_has_no_doubled_punctuation():
    with pytest.raises(NeetoCalValidationError) as raised:
        build_booking_payload(meeting_slug="m", name="Eve", email="eve@example", time_zone="UTC")
    message = str(raised.value)
    assert "period: expected" in message
    assert ".:" not in message


# --- build_reschedule_payload: the body of PATCH /bookings/{sid} ----------------------------------------


def reschedule(**overrides: Any) -> dict[str, Any]:
    return build_reschedule_payload(
        **{**RESCHEDULE_REQUIRED, "slot_date": "2025-07-15", "slot_start_time": "13:30", **overrides}
    )


def reschedule_refusal(**overrides: Any) -> NeetoCalValidationError:
    with pytest.raises(NeetoCalValidationError) as caught:
        reschedule(**overrides)
    return caught.value


def test_reschedule_builds_the_documented_body_in_a_stable_order() -> None:
    payload = reschedule(
        form_responses={"guest_email_s": ["Sam@Example.com"], "language": "English"},
        reschedule_reason="  Clash with the all-hands  ",
    )

    assert payload == {
        "name": "Eve Smith",
        "email": "eve@example.com",
        "time_zone": "Asia/Kolkata",
        "slot_date": "2025-07-15",
        "slot_start_time": "01:30 PM",
        "form_responses": {"guest_email_s": ["Sam@example.com"], "language": "English"},
        "reschedule_reason": "Clash with the all-hands",
    }
    assert list(payload) == [
        "name",
        "email",
        "time_zone",
        "slot_date",
        "slot_start_time",
        "form_responses",
        "reschedule_reason",
    ]


def test_reschedule_with_only_the_required_arguments_sends_no_optional_key() -> None:
    assert reschedule() == {
        "name": "Eve Smith",
        "email": "eve@example.com",
        "time_zone": "Asia/Kolkata",
        "slot_date": "2025-07-15",
        "slot_start_time": "01:30 PM",
    }


def test_reschedule_slot_start_is_converted_into_time_zone() -> None:
    payload = build_reschedule_payload(**RESCHEDULE_REQUIRED, slot_start="2025-07-15T08:00:00Z")

    assert slot_of(payload) == ("2025-07-15", "01:30 PM")


def test_reschedule_without_a_slot_is_refused_naming_slot_start() -> None:
    with pytest.raises(NeetoCalValidationError) as caught:
        build_reschedule_payload(**RESCHEDULE_REQUIRED)

    assert str(caught.value) == (
        "Invalid NeetoCal booking argument slot_start=None: required: give slot_start, or slot_date + slot_start_time"
    )


@pytest.mark.parametrize("absent", [None, "", "  ", "None"], ids=repr)
def test_reschedule_reason_left_empty_is_not_sent(absent: Any) -> None:
    assert "reschedule_reason" not in reschedule(reschedule_reason=absent)


def test_reschedule_reason_of_1000_characters_is_sent() -> None:
    assert reschedule(reschedule_reason="r" * 1000)["reschedule_reason"] == "r" * 1000


def test_reschedule_reason_longer_than_1000_characters_is_refused_saying_the_limit() -> None:
    (problem,) = reschedule_refusal(reschedule_reason="r" * 1001).problems

    assert problem.field == "reschedule_reason"
    assert problem.problem == "too long (1001 characters): expected a short reason of at most 1000"


def test_reschedule_reason_that_is_not_text_is_refused_naming_its_type() -> None:
    error = reschedule_refusal(reschedule_reason=42)

    assert str(error) == (
        "Invalid NeetoCal booking argument reschedule_reason=42: expected a short reason as a string, got int"
    )


def test_reschedule_empty_form_responses_are_not_sent() -> None:
    assert "form_responses" not in reschedule(form_responses={})


def test_reschedule_bad_form_responses_are_refused_naming_form_responses() -> None:
    error = reschedule_refusal(form_responses="[]")

    assert error.fields == ["form_responses"]


def test_reschedule_reports_every_problem_at_once_in_checking_order() -> None:
    with pytest.raises(NeetoCalValidationError) as caught:
        build_reschedule_payload(
            name="",
            email="nope",
            time_zone="Mars/Olympus",
            slot_date="2025-02-30",
            slot_start_time="25:00",
            form_responses="[]",
            reschedule_reason="\x00",
        )

    assert caught.value.fields == [
        "name",
        "email",
        "time_zone",
        "slot_date",
        "slot_start_time",
        "form_responses",
        "reschedule_reason",
    ]
    assert caught.value.problems[-1].problem == "contains control characters: expected a short reason"


def test_metadata_that_is_not_a_mapping_is_refused_word_for_word() -> None:
    assert str(refusal(metadata=[1])) == (
        "Invalid NeetoCal booking argument metadata=[1]: expected a JSON object (mapping), "
        "e.g. {'pre_bookings': [...]}, got list"
    )


def test_meeting_spot_that_is_not_text_is_refused_listing_the_spots() -> None:
    (problem,) = refusal(preferred_meeting_spot=7).problems

    assert problem.problem == f"expected one of {', '.join(MEETING_SPOTS)} as a string, got int"


def test_slot_start_text_starting_with_one_digit_is_read_as_a_date_time_and_refused_as_none() -> None:
    (problem,) = refusal(slot_start="1 July 2025 13:30").problems

    assert problem.problem.startswith("not a date-time: expected an ISO-8601 date-time")
