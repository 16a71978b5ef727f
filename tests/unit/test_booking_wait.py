"""The sensor's decision (judge) and the trip of typed errors through trigger events."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from airflow_provider_neetocal import exceptions as errors
from airflow_provider_neetocal.booking_wait import (
    booking_summary,
    checked_wait,
    error_event,
    exception_from_event,
    judge,
    server_now,
)

UTC = dt.timezone.utc
START = dt.datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
BOOKING = {
    "sid": "abc1234",
    "status": "confirmed",
    "starts_at": "2030-01-07T10:00:00.000Z",
    "ends_at": "2030-01-07T10:15:00.000Z",
    "email": "eve@example.com",
    "form_responses": [{"field": "x", "value": "y"}],
}


def test_wait_for_end_waits_until_the_end_has_passed() -> None:
    spec = checked_wait("end", [])
    assert judge(BOOKING, spec, START + dt.timedelta(minutes=14)).verdict == "waiting"
    assert judge(BOOKING, spec, START + dt.timedelta(minutes=15)).verdict == "met"


def test_wait_for_start_compares_with_starts_at_in_any_offset() -> None:
    spec = checked_wait("start", [])
    booking = {**BOOKING, "starts_at": "2030-01-07T15:30:00+05:30"}
    assert judge(booking, spec, START - dt.timedelta(seconds=1)).verdict == "waiting"
    assert judge(booking, spec, START).verdict == "met"


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_a_cancelled_or_rejected_booking_ends_a_wait_for_time(status: str) -> None:
    judgement = judge({**BOOKING, "status": status, "cancel_reason": "sick"}, checked_wait("end", []), START)
    assert judgement.verdict == "ended"
    assert status in judgement.message
    assert "sick" in judgement.message


def test_wait_for_status_is_met_by_a_target_even_an_ended_one() -> None:
    spec = checked_wait("status", ["cancelled"])
    assert judge({**BOOKING, "status": "cancelled"}, spec, START).verdict == "met"
    assert judge(BOOKING, spec, START).verdict == "waiting"


def test_wait_for_status_ends_on_a_status_it_can_never_leave() -> None:
    spec = checked_wait("status", ["confirmed"])
    assert judge({**BOOKING, "status": "awaiting_approval"}, spec, START).verdict == "waiting"
    assert judge({**BOOKING, "status": "rejected"}, spec, START).verdict == "ended"


@pytest.mark.parametrize(
    ("booking", "spec"),
    [
        ({**BOOKING, "status": None}, ("status", ["confirmed"])),
        ({**BOOKING, "ends_at": "tomorrow"}, ("end", [])),
        ({**BOOKING, "ends_at": "2030-01-07T10:15:00"}, ("end", [])),  # no offset: which zone?
        ({k: v for k, v in BOOKING.items() if k != "starts_at"}, ("start", [])),
    ],
)
def test_an_unreadable_answer_is_unknowable_not_a_no(booking: dict, spec: tuple) -> None:
    assert judge(booking, checked_wait(*spec), START + dt.timedelta(days=1)).verdict == "unknowable"


@pytest.mark.parametrize(
    ("wait_for", "statuses", "field", "text"),
    [
        ("finish", [], "wait_for", "expected one of 'status', 'start', 'end'"),
        ("status", ["done"], "target_statuses", "done not a NeetoCal booking status"),
        ("status", [], "target_statuses", "needs at least one status"),
        ("status", 5, "target_statuses", "expected a list of statuses"),
    ],
)
def test_bad_arguments_name_the_field(wait_for: object, statuses: object, field: str, text: str) -> None:
    with pytest.raises(errors.NeetoCalValidationError, match=text) as caught:
        checked_wait(wait_for, statuses)
    assert caught.value.fields == [field]


def test_a_single_status_string_is_accepted_case_insensitively() -> None:
    assert checked_wait("status", "Cancelled").target_statuses == {"cancelled"}


def test_the_summary_keeps_only_the_compact_fields() -> None:
    summary = booking_summary(BOOKING)
    assert summary["sid"] == "abc1234"
    assert "form_responses" not in summary


@pytest.mark.parametrize(
    "error",
    [
        errors.NeetoCalAuthError(method="GET", endpoint="/bookings/x", status=401, message="invalid API Key"),
        errors.NeetoCalNotFoundError(method="GET", endpoint="/bookings/x", status=404, message="Booking not found"),
        errors.NeetoCalRateLimitError(method="GET", endpoint="/bookings/x", status=429, message="slow down"),
        errors.NeetoCalServerError(method="GET", endpoint="/bookings/x", status=503, message="down"),
        errors.NeetoCalConnectionError(
            method="GET", endpoint="/bookings/x", status=None, message="refused", request_sent=False
        ),
    ],
)
def test_a_typed_error_survives_the_trip_through_a_json_event(error: errors.NeetoCalApiError) -> None:
    event = json.loads(json.dumps(error_event(error, "x")))
    back = exception_from_event(event)
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert isinstance(back, errors.AirflowFailException) == isinstance(error, errors.AirflowFailException)


def test_a_validation_error_survives_the_trip() -> None:
    error = errors.NeetoCalValidationError([errors.FieldProblem("booking_sid", "a/b", "expected an identifier")])
    back = exception_from_event(json.loads(json.dumps(error_event(error))))
    assert isinstance(back, errors.NeetoCalValidationError)
    assert back.fields == ["booking_sid"]


def test_an_unexpected_error_comes_back_retryable_with_its_name() -> None:
    back = exception_from_event(error_event(RuntimeError("boom")))
    assert isinstance(back, errors.NeetoCalServerError)
    assert "RuntimeError" in str(back)
    assert "boom" in str(back)


def test_server_now_reads_the_date_header_and_falls_back_to_the_local_clock() -> None:
    assert server_now("Mon, 07 Jan 2030 10:15:00 GMT", START) == START + dt.timedelta(minutes=15)
    assert server_now(None, START) == START
    assert server_now("yesterday-ish", START) == START
