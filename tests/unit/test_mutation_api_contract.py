"""The API contract as data (``api_contract.py``): each operation's request per version, and answers.

Written for the survivors of mutation testing (``make mutation``): every request is compared whole
(method, path, query, body) for v1 and v2, every refusal word for word, and each status's exception
type and message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal.api_contract import Call
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalNotFoundError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
    NeetoCalValidationError,
)

V2_ONLY = (
    "only NeetoCal API v2 accepts it (v1 would ignore it): set the connection's api_version extra to 'v2', "
    "or leave it out"
)


def problems(call: Any, *args: Any, **kwargs: Any) -> list[FieldProblem]:
    with pytest.raises(NeetoCalValidationError) as raised:
        call(*args, **kwargs)
    return list(raised.value.problems)


def request(call: Call) -> tuple[str, str, dict[str, Any], Any]:
    return call.method, call.path, call.query, call.json


# ---- the version -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "version"), [(None, "v1"), ("", "v1"), ("  ", "v1"), ("v2", "v2"), (" V1 ", "v1")])
def test_the_api_version_defaults_to_v1_and_ignores_case_and_spaces(value: Any, version: str) -> None:
    assert contract.checked_api_version(value) == version


@pytest.mark.parametrize("value", ["v3", "2", 2, "v 2", ["v2"]])
def test_an_api_version_neetocal_does_not_serve_is_refused_naming_the_field_and_the_choices(value: Any) -> None:
    with pytest.raises(NeetoCalConfigError) as raised:
        contract.checked_api_version(value, field="extra api_version")

    assert raised.value.field == "extra api_version"
    assert raised.value.problem == f"{value!r} is not an API version NeetoCal serves: expected one of v1, v2"


def test_the_field_named_by_default_is_api_version() -> None:
    with pytest.raises(NeetoCalConfigError) as raised:
        contract.checked_api_version("v9")

    assert raised.value.field == "api_version"


def test_each_version_has_its_root_path() -> None:
    assert [contract.api_path(v) for v in contract.API_VERSIONS] == ["/api/external/v1", "/api/external/v2"]


# ---- path segments -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["8sqtzrs", "a-b_C9"])
def test_an_identifier_is_used_as_is(value: str) -> None:
    assert contract.path_id(value, "booking_sid") == value


@pytest.mark.parametrize("value", ["", "a/b", "..", "a b", "a.b", None, 12])
def test_a_value_that_would_change_the_path_is_refused_naming_the_field(value: Any) -> None:
    assert problems(contract.path_id, value, "meeting_sid") == [
        FieldProblem("meeting_sid", value, "expected an identifier of letters, digits, '-' and '_'")
    ]


# ---- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_create_posts_the_payload_as_the_body(version: str) -> None:
    payload = {"meeting_slug": "demo", "email": "eve@example.com", "host_email": None}

    call = contract.create_booking(version, payload)  # type: ignore[arg-type]

    assert request(call) == ("POST", "/bookings", {}, payload)
    assert call.json is not payload  # a copy: the caller's dict stays theirs
    assert call.idempotent is False


def test_create_on_v1_refuses_the_fields_only_v2_reads() -> None:
    payload = {"meeting_slug": "demo", "override_availability": True, "host_email": "host@example.com"}

    assert problems(contract.create_booking, "v1", payload) == [
        FieldProblem("host_email", "host@example.com", V2_ONLY),
        FieldProblem("override_availability", True, V2_ONLY),
    ]


def test_create_on_v2_sends_the_fields_only_v2_reads() -> None:
    payload = {"meeting_slug": "demo", "override_availability": True}

    assert contract.create_booking("v2", payload).json == payload


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_get_booking_reads_it_by_sid(version: str) -> None:
    call = contract.get_booking(version, "8sqtzrs")  # type: ignore[arg-type]

    assert request(call) == ("GET", "/bookings/8sqtzrs", {}, None)
    assert call.idempotent is True


def test_get_booking_refuses_a_sid_that_would_change_the_path() -> None:
    assert problems(contract.get_booking, "v1", "../meetings") == [
        FieldProblem("booking_sid", "../meetings", "expected an identifier of letters, digits, '-' and '_'")
    ]


def test_list_bookings_sends_the_page_and_the_given_filters_only() -> None:
    call = contract.list_bookings(
        "v2", page_number=2, page_size=100, filters={"client_email": "eve@example.com", "search": None}
    )

    assert request(call) == (
        "GET",
        "/bookings",
        {"client_email": "eve@example.com", "page_number": 2, "page_size": 100},
        None,
    )


def test_list_bookings_without_filters_sends_the_page_only() -> None:
    assert contract.list_bookings("v1", page_number=1, page_size=50).query == {"page_number": 1, "page_size": 50}


def test_list_bookings_on_v1_refuses_a_filter_only_v2_knows() -> None:
    filters = {"meeting_sid": "abc", "starts_after": "2030-01-01", "type": "upcoming"}

    assert problems(contract.list_bookings, "v1", page_number=1, page_size=100, filters=filters) == [
        FieldProblem("meeting_sid", "abc", V2_ONLY),
        FieldProblem("starts_after", "2030-01-01", V2_ONLY),
    ]


@pytest.mark.parametrize(
    ("version", "known"),
    [
        ("v1", "client_email, host_email, type"),
        (
            "v2",
            "client_email, host_email, meeting_sid, search, sorting_key, sorting_order, starts_after, "
            "starts_before, type",
        ),
    ],
)
def test_list_bookings_refuses_a_filter_no_version_knows_listing_the_known_ones(version: str, known: str) -> None:
    filters = {"colour": "red", "zone": "x", "client_email": "eve@example.com"}

    assert problems(contract.list_bookings, version, page_number=1, page_size=100, filters=filters) == [
        FieldProblem("colour", "red", f"not a filter of API {version}: expected one of {known}"),
        FieldProblem("zone", "x", f"not a filter of API {version}: expected one of {known}"),
    ]


def test_list_bookings_on_v1_refuses_a_mix_of_v2_only_and_unknown_filters_as_unknown() -> None:
    filters = {"meeting_sid": "abc", "colour": "red"}
    problem = "not a filter of API v1: expected one of client_email, host_email, type"

    assert problems(contract.list_bookings, "v1", page_number=1, page_size=100, filters=filters) == [
        FieldProblem("colour", "red", problem),
        FieldProblem("meeting_sid", "abc", problem),
    ]


def test_cancel_on_v1_posts_to_the_cancel_route_with_the_reason_in_the_query() -> None:
    assert request(contract.cancel_booking("v1", "8sqtzrs", "ill")) == (
        "POST",
        "/bookings/8sqtzrs/cancel",
        {"cancel_reason": "ill"},
        None,
    )


@pytest.mark.parametrize("reason", [None, ""])
def test_cancel_on_v1_without_a_reason_sends_no_reason(reason: str | None) -> None:
    assert request(contract.cancel_booking("v1", "8sqtzrs", reason)) == ("POST", "/bookings/8sqtzrs/cancel", {}, None)


def test_cancel_on_v2_patches_the_status_with_the_reason_in_the_body() -> None:
    assert request(contract.cancel_booking("v2", "8sqtzrs", "ill")) == (
        "PATCH",
        "/bookings/8sqtzrs",
        {},
        {"status": "cancelled", "cancel_reason": "ill"},
    )


@pytest.mark.parametrize("reason", [None, ""])
def test_cancel_on_v2_without_a_reason_patches_the_status_only(reason: str | None) -> None:
    assert request(contract.cancel_booking("v2", "8sqtzrs", reason)) == (
        "PATCH",
        "/bookings/8sqtzrs",
        {},
        {"status": "cancelled"},
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cancel_refuses_a_sid_that_would_change_the_path(version: str) -> None:
    assert [p.field for p in problems(contract.cancel_booking, version, "a/b")] == ["booking_sid"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_reschedule_patches_the_booking_with_the_new_slot(version: str) -> None:
    payload = {"slot_date": "2030-07-15", "slot_start_time": "01:30 PM"}

    call = contract.reschedule_booking(version, "8sqtzrs", payload)  # type: ignore[arg-type]

    assert request(call) == ("PATCH", "/bookings/8sqtzrs", {}, payload)
    assert call.idempotent is False
    assert [p.field for p in problems(contract.reschedule_booking, version, "a b", payload)] == ["booking_sid"]


def test_slots_on_v1_are_read_by_meeting_slug() -> None:
    call = contract.get_slots("v1", time_zone="Asia/Kolkata", year=2030, month=7, day=15, meeting_slug="demo")

    assert request(call) == (
        "GET",
        "/slots/demo",
        {"time_zone": "Asia/Kolkata", "year": 2030, "month": 7, "day": 15},
        None,
    )


def test_slots_on_v2_are_read_by_meeting_sid_and_a_month_without_a_day() -> None:
    call = contract.get_slots("v2", time_zone="UTC", year=2030, month=7, meeting_sid="m-1", meeting_slug="demo")

    assert request(call) == ("GET", "/meetings/m-1/slots", {"time_zone": "UTC", "year": 2030, "month": 7}, None)


@pytest.mark.parametrize(("version", "field"), [("v1", "meeting_slug"), ("v2", "meeting_sid")])
def test_slots_refuse_a_missing_meeting_naming_the_field_the_version_needs(version: str, field: str) -> None:
    assert problems(contract.get_slots, version, time_zone="UTC", year=2030, month=7) == [
        FieldProblem(field, None, "expected an identifier of letters, digits, '-' and '_'")
    ]


def test_list_meetings_sends_the_page_and_the_host_when_given() -> None:
    assert request(contract.list_meetings("v1", page_number=3, page_size=100, host_email="h@example.com")) == (
        "GET",
        "/meetings",
        {"host_email": "h@example.com", "page_number": 3, "page_size": 100},
        None,
    )
    assert contract.list_meetings("v2", page_number=1, page_size=10).query == {"page_number": 1, "page_size": 10}


# ---- answers -----------------------------------------------------------------------------------


def test_a_bare_booking_is_the_booking_in_both_versions() -> None:
    bare = {"sid": "8sqtzrs", "booking": {"sid": "inner"}}

    assert contract.booking_of("v1", bare) == bare
    assert contract.booking_of("v2", bare) == bare


def test_a_wrapped_booking_is_unwrapped_on_v2_only() -> None:
    wrapped = {"booking": {"sid": "8sqtzrs"}}

    assert contract.booking_of("v2", wrapped) == {"sid": "8sqtzrs"}
    assert contract.booking_of("v1", wrapped) == wrapped


def test_a_wrapper_that_holds_no_object_is_not_unwrapped() -> None:
    assert contract.booking_of("v2", {"booking": "8sqtzrs"}) == {"booking": "8sqtzrs"}


def test_the_days_of_a_slots_answer_are_its_list_or_none() -> None:
    days = [{"date": "2030-07-15", "slots": []}]

    assert contract.slot_days_of({"slots": days}) == days
    assert contract.slot_days_of({"slots": {"date": "2030-07-15"}}) == []
    assert contract.slot_days_of({}) == []


# ---- errors ------------------------------------------------------------------------------------


def error(status: int, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", [])
    return contract.error_for_answer(method="POST", endpoint="/bookings", status=status, **kwargs)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, NeetoCalClientError),
        (401, NeetoCalAuthError),
        (403, NeetoCalAuthError),
        (404, NeetoCalNotFoundError),
        (408, NeetoCalServerError),
        (409, NeetoCalClientError),
        (422, NeetoCalClientError),
        (429, NeetoCalRateLimitError),
        (499, NeetoCalClientError),
        (500, NeetoCalServerError),
        (503, NeetoCalServerError),
    ],
)
def test_each_status_maps_to_its_exception_type(status: int, kind: type) -> None:
    raised = error(status, messages=["nope"])

    assert type(raised) is kind
    assert (raised.method, raised.endpoint, raised.status, raised.api_message, raised.errors) == (
        "POST",
        "/bookings",
        status,
        "nope",
        ["nope"],
    )


def test_neetocal_s_messages_are_joined() -> None:
    assert error(422, messages=["slot taken", "email invalid"]).api_message == "slot taken; email invalid"


def test_without_messages_the_reason_phrase_is_used_redacted() -> None:
    raised = error(422, reason="Unprocessable key=SECRET", redact=lambda text: text.replace("SECRET", "***"))

    assert raised.api_message == "Unprocessable key=***"
    assert raised.errors == ["Unprocessable key=***"]


def test_without_messages_or_reason_it_says_no_details_given() -> None:
    assert error(500).api_message == "no details given"


def test_a_429_carries_retry_after_in_seconds() -> None:
    assert error(429, retry_after="7").retry_after == 7.0
    assert error(429).retry_after is None


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308, 399])
def test_a_redirect_is_not_followed_and_says_where_it_pointed_without_the_key(status: int) -> None:
    raised = error(
        status,
        location="https://elsewhere.example.com/?key=SECRET",
        redact=lambda text: text.replace("SECRET", "***"),
    )

    assert type(raised) is NeetoCalClientError
    assert raised.api_message == (
        "redirect to 'https://elsewhere.example.com/?key=***' not followed, so the API key stays with the "
        "configured server: check the connection's Workspace / base URL"
    )


def test_a_redirect_without_a_location_says_so() -> None:
    assert error(302).api_message.startswith("redirect to '?' not followed")


# -- survivors of the run on the revised contract (v2 filters, v1-only reschedule fields, attendee changes)


def _problems(call: Any) -> list[FieldProblem]:
    with pytest.raises(NeetoCalValidationError) as raised:
        call()
    return raised.value.problems


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param(
            {"type": "soon"},
            FieldProblem("type", "soon", f"expected one of {', '.join(contract.FILTER_CHOICES['type'])}"),
            id="type",
        ),
        pytest.param(
            {"starts_after": dt.datetime(2030, 1, 8, 9, 0)},
            FieldProblem(
                "starts_after",
                dt.datetime(2030, 1, 8, 9, 0),
                "a datetime without a time zone: expected an aware datetime",
            ),
            id="naive-datetime",
        ),
        pytest.param(
            {"starts_before": "next week"},
            FieldProblem(
                "starts_before", "next week", "expected an ISO-8601 date-time or a date YYYY-MM-DD, e.g. '2030-01-08'"
            ),
            id="date-text",
        ),
        pytest.param(
            {"search": "ab"}, FieldProblem("search", "ab", "expected text of at least 3 characters"), id="search"
        ),
        pytest.param(
            {"meeting_sid": "   "}, FieldProblem("meeting_sid", "   ", "expected non-empty text"), id="blank-text"
        ),
    ],
)
def test_a_refused_v2_filter_names_the_field_the_value_and_the_expected_form(
    filters: dict[str, Any], expected: FieldProblem
) -> None:
    assert _problems(lambda: contract.list_bookings("v2", page_number=1, page_size=10, filters=filters)) == [expected]


def test_form_responses_on_a_v2_reschedule_is_refused_word_for_word() -> None:
    answers = {"language": "en"}
    problems = _problems(
        lambda: contract.reschedule_booking(
            "v2", "abc1234", {"slot_date": "2030-01-08", "slot_start_time": "09:00 AM", "form_responses": answers}
        )
    )
    assert problems == [
        FieldProblem(
            "form_responses",
            answers,
            "NeetoCal API v2 does not document it for this call (v2 might drop it silently): leave it out, or set "
            "the connection's api_version extra to 'v1'",
        )
    ]


@pytest.mark.parametrize(
    ("payload", "current", "changed"),
    [
        pytest.param({"name": "Eve"}, {"name": None}, ["name"], id="current-name-unreadable"),
        pytest.param({"name": "Eve"}, {}, ["name"], id="current-name-missing"),
        pytest.param({"email": "new@example.com"}, {"email": "old@example.com"}, ["email"], id="new-email"),
        pytest.param({"email": " EVE@example.com "}, {"email": "eve@example.com"}, [], id="email-ignores-case"),
        pytest.param({"name": "eve"}, {"name": "Eve"}, ["name"], id="name-keeps-case"),
        pytest.param({"name": None, "email": None}, {"name": "Eve"}, [], id="not-given"),
    ],
)
def test_changed_attendee_fields(payload: dict[str, Any], current: dict[str, Any], changed: list[str]) -> None:
    assert contract.changed_attendee_fields(payload, current) == changed
