"""The API contract, per version: what each operation sends, what is refused before sending, how answers
are read, and the one status -> exception rule. Pure: no HTTP, no Airflow."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal.booking import build_booking_payload, build_reschedule_payload
from airflow_provider_neetocal.exceptions import (
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalNotFoundError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
    NeetoCalValidationError,
)

CREATE = {"meeting_slug": "quick-sync", "name": "Eve", "email": "eve@example.com", "time_zone": "UTC"}
SLOT = {"slot_date": "2030-01-08", "slot_start_time": "10:00 AM", "time_zone": "UTC"}
CURRENT = {"sid": "abc1234", "name": "Eve", "email": "Eve@Example.com", "time_zone": "UTC"}


def fields_of(error: NeetoCalValidationError) -> list[str]:
    return [problem.field for problem in error.problems]


# ---- the switch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "version"), [(None, "v1"), ("", "v1"), ("  ", "v1"), ("v2", "v2"), (" V1 ", "v1")])
def test_api_version_is_read_leniently_and_defaults_to_v1(value: Any, version: str) -> None:
    assert contract.checked_api_version(value) == version


@pytest.mark.parametrize("value", ["v3", "2", 2, "version 2", ["v2"]])
def test_unknown_api_version_is_a_config_error_naming_the_field_and_the_choices(value: Any) -> None:
    with pytest.raises(NeetoCalConfigError, match="expected one of v1, v2") as raised:
        contract.checked_api_version(value, "api_version (hook argument)")
    assert "api_version (hook argument)" in str(raised.value)


def test_each_version_has_its_own_api_root() -> None:
    assert [contract.api_path(v) for v in contract.API_VERSIONS] == ["/api/external/v1", "/api/external/v2"]


# ---- requests: every operation on both versions -----------------------------------------------------


@pytest.mark.parametrize("version", contract.API_VERSIONS)
def test_create_get_and_list_share_their_paths(version: contract.ApiVersion) -> None:
    create = contract.create_booking(version, CREATE)
    get = contract.get_booking(version, "abc1234")
    listing = contract.list_bookings(version, page_number=2, page_size=50, filters={"client_email": "e@x.io"})
    meetings = contract.list_meetings(version, page_number=1, page_size=100)

    assert (create.method, create.path, create.json, create.idempotent) == ("POST", "/bookings", CREATE, False)
    assert (get.method, get.path, get.idempotent) == ("GET", "/bookings/abc1234", True)
    assert listing.query == {"client_email": "e@x.io", "page_number": 2, "page_size": 50}
    assert (listing.path, listing.items_key) == ("/bookings", "bookings")
    assert (meetings.path, meetings.items_key, meetings.query) == (
        "/meetings",
        "meetings",
        {"page_number": 1, "page_size": 100},
    )


def test_cancel_is_a_post_to_cancel_on_v1_and_a_status_patch_on_v2() -> None:
    v1 = contract.cancel_booking("v1", "abc1234", "Double booked")
    v2 = contract.cancel_booking("v2", "abc1234", "Double booked")

    assert (v1.method, v1.path, v1.query, v1.json) == (
        "POST",
        "/bookings/abc1234/cancel",
        {"cancel_reason": "Double booked"},
        None,
    )
    assert (v2.method, v2.path, v2.query, v2.json) == (
        "PATCH",
        "/bookings/abc1234",
        {},
        {"status": "cancelled", "cancel_reason": "Double booked"},
    )
    assert contract.cancel_booking("v1", "abc1234").query == {}
    assert contract.cancel_booking("v2", "abc1234").json == {"status": "cancelled"}


def test_reschedule_on_v1_sends_the_payload_as_given() -> None:
    payload = {**SLOT, "name": "Eve", "email": "eve@example.com", "form_responses": {"language": "English"}}

    call = contract.reschedule_booking("v1", "abc1234", payload, CURRENT)

    assert (call.method, call.path, call.json) == ("PATCH", "/bookings/abc1234", payload)


def test_reschedule_on_v2_sends_only_what_changes() -> None:
    payload = {**SLOT, "name": "Eve", "email": "eve@example.com", "reschedule_reason": "Conflict"}

    unchanged_attendee = contract.reschedule_booking("v2", "abc1234", payload, CURRENT)
    renamed = contract.reschedule_booking("v2", "abc1234", {**payload, "name": "Eve Jones"}, CURRENT)
    unknown_current = contract.reschedule_booking("v2", "abc1234", payload)

    assert unchanged_attendee.json == {**SLOT, "reschedule_reason": "Conflict"}
    assert renamed.json == {**SLOT, "name": "Eve Jones", "reschedule_reason": "Conflict"}
    assert unknown_current.json == payload  # nothing known to compare with: everything given is sent


def test_form_responses_are_refused_on_a_v2_reschedule_before_anything_is_sent() -> None:
    with pytest.raises(NeetoCalValidationError, match="api_version extra to 'v1'") as raised:
        contract.reschedule_booking("v2", "abc1234", {**SLOT, "form_responses": {"language": "English"}})
    assert fields_of(raised.value) == ["form_responses"]
    contract.check_reschedule_fields("v1", {"form_responses": {"language": "English"}})


def test_slots_go_by_slug_on_v1_and_by_meeting_sid_on_v2() -> None:
    v1 = contract.get_slots("v1", time_zone="UTC", year=2030, month=1, meeting_slug="quick-sync")
    v2 = contract.get_slots("v2", time_zone="UTC", year=2030, month=1, day=8, meeting_sid="a1b2c3d")

    assert (v1.path, v1.query) == ("/slots/quick-sync", {"time_zone": "UTC", "year": 2030, "month": 1})
    assert (v2.path, v2.query) == ("/meetings/a1b2c3d/slots", {"time_zone": "UTC", "year": 2030, "month": 1, "day": 8})
    with pytest.raises(NeetoCalValidationError) as raised:
        contract.get_slots("v2", time_zone="UTC", year=2030, month=1, meeting_slug="quick-sync")
    assert fields_of(raised.value) == ["meeting_sid"]


# ---- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(contract.V2_ONLY_CREATE_FIELDS))
def test_v2_only_create_fields_are_refused_on_v1_and_sent_on_v2(field: str) -> None:
    payload = {**CREATE, field: True if field == "override_availability" else "amelia@example.com"}

    with pytest.raises(NeetoCalValidationError, match="only NeetoCal API v2 accepts it") as raised:
        contract.create_booking("v1", payload)

    assert fields_of(raised.value) == [field]
    assert contract.create_booking("v2", payload).json == payload


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("meeting_sid", "a1b2c3d"),
        ("search", "eve"),
        ("starts_after", "2030-01-08"),
        ("starts_before", "2030-01-08T10:00:00Z"),
        ("sorting_key", "created_at"),
        ("sorting_order", "desc"),
    ],
)
def test_v2_only_filters_are_refused_on_v1_and_sent_on_v2(name: str, value: str) -> None:
    with pytest.raises(NeetoCalValidationError, match="only NeetoCal API v2 accepts it"):
        contract.list_bookings("v1", page_number=1, page_size=10, filters={name: value})

    assert contract.list_bookings("v2", page_number=1, page_size=10, filters={name: value}).query[name] == value


@pytest.mark.parametrize("version", contract.API_VERSIONS)
def test_a_filter_no_version_knows_is_refused_naming_the_known_ones(version: contract.ApiVersion) -> None:
    with pytest.raises(NeetoCalValidationError, match=f"not a filter of API {version}: expected one of"):
        contract.list_bookings(version, page_number=1, page_size=10, filters={"colour": "red"})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("type", "future", "expected one of upcoming, past, cancelled, incomplete"),
        ("sorting_key", "name", "expected one of created_at, starts_at"),
        ("sorting_order", "up", "expected one of asc, desc"),
        ("search", "ev", "at least 3 characters"),
        ("starts_after", "next week", "ISO-8601 date-time or a date YYYY-MM-DD"),
        ("starts_before", dt.datetime(2030, 1, 8, 10), "without a time zone"),
        ("client_email", "  ", "non-empty text"),
    ],
)
def test_filter_values_the_api_cannot_take_are_refused(name: str, value: Any, expected: str) -> None:
    with pytest.raises(NeetoCalValidationError, match=expected) as raised:
        contract.list_bookings("v2", page_number=1, page_size=10, filters={name: value})
    assert fields_of(raised.value) == [name]


def test_date_filters_take_dates_and_aware_datetimes() -> None:
    call = contract.list_bookings(
        "v2",
        page_number=1,
        page_size=10,
        filters={"starts_after": dt.date(2030, 1, 8), "starts_before": dt.datetime(2030, 1, 9, tzinfo=dt.timezone.utc)},
    )
    assert (call.query["starts_after"], call.query["starts_before"]) == ("2030-01-08", "2030-01-09T00:00:00+00:00")


@pytest.mark.parametrize("sid", ["../meetings", "a/b", "", "caf\u00e9", "\u0661\u0662", "a b", None, 7])
def test_an_id_that_could_change_the_path_is_refused(sid: Any) -> None:
    for version in contract.API_VERSIONS:
        with pytest.raises(NeetoCalValidationError, match="booking_sid"):
            contract.get_booking(version, sid)
        with pytest.raises(NeetoCalValidationError, match="booking_sid"):
            contract.cancel_booking(version, sid)


# ---- answers ----------------------------------------------------------------------------------------


def test_a_booking_is_read_bare_on_both_versions_and_wrapped_on_v2() -> None:
    booking = {"sid": "abc1234", "status": "confirmed"}

    assert contract.booking_of("v1", booking) == booking
    assert contract.booking_of("v2", booking) == booking
    assert contract.booking_of("v2", {"booking": booking}) == booking
    assert contract.booking_of("v1", {"booking": booking}) == {"booking": booking}  # v1 never wraps: no sid found
    assert contract.booking_of("v2", {"sid": "x1", "booking": "a field"}) == {"sid": "x1", "booking": "a field"}
    assert contract.booking_of("v1", {"message": "Booking has been successfully cancelled"}) == {
        "message": "Booking has been successfully cancelled"
    }


def test_slot_days_are_read_or_empty() -> None:
    assert contract.slot_days_of({"slots": [{"date": "2030-01-08"}]}) == [{"date": "2030-01-08"}]
    assert contract.slot_days_of({"slots": {"unexpected": "shape"}}) == []
    assert contract.slot_days_of({}) == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, NeetoCalClientError),
        (401, NeetoCalAuthError),
        (403, NeetoCalAuthError),
        (404, NeetoCalNotFoundError),
        (408, NeetoCalServerError),
        (422, NeetoCalClientError),
        (429, NeetoCalRateLimitError),
        (500, NeetoCalServerError),
        (503, NeetoCalServerError),
        (302, NeetoCalClientError),
    ],
)
def test_error_rule_maps_each_status_to_one_typed_error(status: int, kind: type[Exception]) -> None:
    error = contract.error_for_answer(method="GET", endpoint="/bookings", status=status, messages=["nope"])
    assert type(error) is kind
    assert error.status == status


def test_error_rule_carries_the_wait_the_reason_and_never_follows_a_redirect() -> None:
    limited = contract.error_for_answer(method="GET", endpoint="/b", status=429, messages=[], retry_after="7")
    silent = contract.error_for_answer(method="GET", endpoint="/b", status=500, messages=[], reason="Boom")
    moved = contract.error_for_answer(
        method="POST",
        endpoint="/b",
        status=302,
        messages=[],
        location="https://evil.example/?key=SECRET",
        redact=lambda text: text.replace("SECRET", "***"),
    )

    assert isinstance(limited, NeetoCalRateLimitError)
    assert limited.retry_after == 7
    assert "Boom" in str(silent)
    assert "redirect to 'https://evil.example/?key=***' not followed" in str(moved)
    assert "SECRET" not in str(moved)


# ---- the builder's v2 arguments ---------------------------------------------------------------------


def test_builder_sends_override_availability_only_when_true_and_host_email_normalised() -> None:
    base = {"meeting_slug": "quick-sync", "name": "Eve", "email": "eve@example.com", "time_zone": "UTC"}

    on = build_booking_payload(**base, override_availability="True", host_email=" amelia@example.com ")
    off = build_booking_payload(**base, override_availability=False, host_email="None")

    assert (on["override_availability"], on["host_email"]) == (True, "amelia@example.com")
    assert "override_availability" not in off
    assert "host_email" not in off


def test_builder_refuses_bad_v2_arguments_with_every_problem_named() -> None:
    with pytest.raises(NeetoCalValidationError) as raised:
        build_booking_payload(
            meeting_slug="quick-sync",
            name="Eve",
            email="eve@example.com",
            time_zone="UTC",
            override_availability="sometimes",
            host_email="not-an-address",
        )
    assert fields_of(raised.value) == ["override_availability", "host_email"]
    assert "expected true or false" in str(raised.value)


def test_reschedule_builder_leaves_the_attendee_out_when_not_required_and_checks_it_when_given() -> None:
    slot_only = build_reschedule_payload(
        name=None, email=None, time_zone="UTC", slot_date="2030-01-08", slot_start_time="10:00", attendee_required=False
    )
    with pytest.raises(NeetoCalValidationError) as raised:
        build_reschedule_payload(
            name=None, email="nope", time_zone="UTC", slot_start="2030-01-08T10:00:00Z", attendee_required=False
        )
    with pytest.raises(NeetoCalValidationError) as required:
        build_reschedule_payload(name=None, email=None, time_zone="UTC", slot_start="2030-01-08T10:00:00Z")

    assert slot_only == SLOT
    assert fields_of(raised.value) == ["email"]
    assert fields_of(required.value) == ["name", "email"]
