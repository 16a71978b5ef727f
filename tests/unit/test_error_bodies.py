"""Specification of NeetoCal's error types and of ``error_messages_from_body``."""

from __future__ import annotations

import json

import pytest

from airflow_provider_neetocal._compat import AirflowException, AirflowFailException
from airflow_provider_neetocal.exceptions import (
    MAX_BODY_EXCERPT,
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalPaginationError,
    NeetoCalRateLimitError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    NeetoCalValidationError,
    error_messages_from_body,
)

# --- error_messages_from_body ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ('{"error": "Could not authenticate, invalid API Key"}', ["Could not authenticate, invalid API Key"]),
        ('{"errors": ["Slot is not available", "Email is invalid"]}', ["Slot is not available", "Email is invalid"]),
        ('{"message": "The provided API key is invalid or expired"}', ["The provided API key is invalid or expired"]),
        ('{"notice": "Booking has been cancelled"}', ["Booking has been cancelled"]),
    ],
    ids=["error", "errors-list", "message", "notice"],
)
def test_documented_json_shapes_yield_neetocals_own_words(body: str, messages: list[str]) -> None:
    assert error_messages_from_body(body, "application/json") == messages


def test_errors_by_field_are_prefixed_with_the_field_name() -> None:
    body = '{"errors": {"email": ["is invalid"], "slot_start_time": ["is not available", "must be hh:mm"]}}'

    assert error_messages_from_body(body) == [
        "email is invalid",
        "slot_start_time is not available",
        "slot_start_time must be hh:mm",
    ]


def test_field_message_that_already_names_the_field_is_not_prefixed_twice() -> None:
    assert error_messages_from_body('{"errors": {"email": ["Email is invalid"]}}') == ["Email is invalid"]


def test_field_with_a_single_string_message() -> None:
    assert error_messages_from_body('{"errors": {"name": "can\'t be blank"}}') == ["name can't be blank"]


def test_several_documented_keys_are_all_collected_in_order() -> None:
    body = '{"notice": "n", "message": "m", "errors": ["e2"], "error": "e1"}'

    assert error_messages_from_body(body) == ["e1", "e2", "m", "n"]


def test_json_object_without_a_known_key_is_quoted_whole() -> None:
    assert error_messages_from_body('{"status": 422, "detail": "bad slot"}') == [
        '{"status": 422, "detail": "bad slot"}'
    ]


def test_null_message_falls_back_to_the_whole_object() -> None:
    assert error_messages_from_body('{"error": null}') == ['{"error": null}']


def test_json_list_body_yields_each_item() -> None:
    assert error_messages_from_body('["Slot is not available", "Meeting not found"]') == [
        "Slot is not available",
        "Meeting not found",
    ]


def test_json_string_body_yields_the_string() -> None:
    assert error_messages_from_body('"Rate limit exceeded"') == ["Rate limit exceeded"]


def test_numbers_in_errors_are_turned_into_text() -> None:
    assert error_messages_from_body('{"errors": [42]}') == ["42"]


@pytest.mark.parametrize("body", ["", "   ", "\n\t\n"], ids=repr)
def test_empty_body_yields_no_message(body: str) -> None:
    assert error_messages_from_body(body, "text/html") == []


NGINX_502 = """<html>
<head><title>502 Bad Gateway</title>
<style>body { color: red }</style></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>"""


def test_html_gateway_page_yields_its_title() -> None:
    assert error_messages_from_body(NGINX_502, "text/html; charset=utf-8") == ["non-JSON response: 502 Bad Gateway"]


def test_html_is_recognised_without_a_content_type() -> None:
    assert error_messages_from_body(NGINX_502) == ["non-JSON response: 502 Bad Gateway"]


def test_html_title_entities_and_whitespace_are_cleaned() -> None:
    page = "<html><head><title>\n  Service &amp; Gateway\n   Unavailable </title></head></html>"

    assert error_messages_from_body(page, "text/html") == ["non-JSON response: Service & Gateway Unavailable"]


def test_html_without_title_yields_its_visible_text_without_scripts_or_styles() -> None:
    page = "<html><script>var x = 1;</script><style>p{}</style><body><p>Upstream   timed out</p></body></html>"

    assert error_messages_from_body(page, "text/html") == ["non-JSON response: Upstream timed out"]


def test_plain_text_body_yields_its_text() -> None:
    assert error_messages_from_body("Retry later.\n", "text/plain") == ["non-JSON response: Retry later."]


def test_long_plain_text_body_is_truncated() -> None:
    (message,) = error_messages_from_body("x" * 5000, "text/plain")

    assert message == "non-JSON response: " + "x" * (MAX_BODY_EXCERPT - 3) + "..."


def test_long_html_title_is_truncated() -> None:
    (message,) = error_messages_from_body(f"<title>{'t' * 1000}</title>", "text/html")

    assert message.endswith("...")
    assert len(message) == len("non-JSON response: ") + MAX_BODY_EXCERPT


def test_long_unknown_json_object_is_truncated() -> None:
    (message,) = error_messages_from_body(json.dumps({"detail": "d" * 1000}))

    assert len(message) == MAX_BODY_EXCERPT
    assert message.endswith("...")


def test_long_json_error_message_is_truncated() -> None:
    (message,) = error_messages_from_body(json.dumps({"error": "e" * 5000}))

    assert len(message) <= MAX_BODY_EXCERPT


def test_html_content_type_with_a_json_body_is_read_as_json() -> None:
    assert error_messages_from_body('{"error": "Not found"}', "text/html") == ["Not found"]


# --- which errors fail the task and which let Airflow retry ---------------------------------------------

API = {"method": "POST", "endpoint": "/bookings", "status": 400, "message": "bad"}


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalValidationError([FieldProblem("email", "x", "bad")]),
        NeetoCalConfigError("host", "bad"),
        NeetoCalClientError(**API),
        NeetoCalAuthError(**{**API, "status": 401}),
        NeetoCalNotFoundError(**{**API, "status": 404}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_retrying_cannot_fix_fail_the_task_at_once(error: Exception) -> None:
    assert isinstance(error, AirflowFailException)


@pytest.mark.parametrize(
    "error",
    [
        NeetoCalApiError(**API),
        NeetoCalRetryableError(**API),
        NeetoCalRateLimitError(**{**API, "status": 429}),
        NeetoCalServerError(**{**API, "status": 503}),
        NeetoCalPaginationError(**{**API, "status": None}),
        NeetoCalConnectionError(request_sent=True, **{**API, "status": None}),
        NeetoCalOutcomeUnknownError(cause=NeetoCalServerError(**{**API, "status": 502})),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_may_pass_on_their_own_let_airflow_retry(error: Exception) -> None:
    assert isinstance(error, AirflowException)
    assert not isinstance(error, AirflowFailException)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (NeetoCalClientError, NeetoCalApiError),
        (NeetoCalAuthError, NeetoCalClientError),
        (NeetoCalNotFoundError, NeetoCalClientError),
        (NeetoCalRetryableError, NeetoCalApiError),
        (NeetoCalRateLimitError, NeetoCalRetryableError),
        (NeetoCalServerError, NeetoCalRetryableError),
        (NeetoCalPaginationError, NeetoCalServerError),
        (NeetoCalConnectionError, NeetoCalRetryableError),
        (NeetoCalOutcomeUnknownError, NeetoCalRetryableError),
    ],
)
def test_error_hierarchy(child: type, parent: type) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize("error_type", [NeetoCalValidationError, NeetoCalConfigError])
def test_argument_errors_are_also_value_errors(error_type: type) -> None:
    assert issubclass(error_type, ValueError)


# --- what the errors say -----------------------------------------------------------------------------------


def test_api_error_keeps_every_message_given() -> None:
    error = NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message="a; b", errors=["a", "b"])

    assert error.errors == ["a", "b"]


def test_config_error_message_names_the_field() -> None:
    error = NeetoCalConfigError("base_url", "is wrong")

    assert str(error) == "Invalid NeetoCal connection base_url: is wrong"
    assert (error.field, error.problem) == ("base_url", "is wrong")


def test_field_problem_renders_field_repr_and_problem() -> None:
    assert str(FieldProblem("slot_start_time", "25:00", "expected 'hh:mm AM/PM'")) == (
        "slot_start_time='25:00': expected 'hh:mm AM/PM'"
    )


def test_field_problem_truncates_a_long_value_repr_to_80_characters() -> None:
    text = str(FieldProblem("name", "n" * 200, "too long"))

    shown = text.split(": ")[0].removeprefix("name=")
    assert len(shown) == 80
    assert shown.endswith("...")


def test_validation_error_with_one_problem_is_one_line() -> None:
    error = NeetoCalValidationError([FieldProblem("email", "x", "bad")])

    assert str(error) == "Invalid NeetoCal booking argument email='x': bad"
    assert error.fields == ["email"]


def test_validation_error_with_several_problems_lists_each_on_its_own_line() -> None:
    error = NeetoCalValidationError([FieldProblem("email", "x", "bad"), FieldProblem("name", None, "required")])

    assert str(error) == "2 invalid NeetoCal booking arguments:\n  - email='x': bad\n  - name=None: required"
    assert error.fields == ["email", "name"]
