"""Specification of ``checked_booking_sid``: the check cancel and reschedule run before any request."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_neetocal.booking import checked_booking_sid
from airflow_provider_neetocal.exceptions import NeetoCalValidationError


def refusal(value: Any, **kwargs: Any) -> NeetoCalValidationError:
    with pytest.raises(NeetoCalValidationError) as caught:
        checked_booking_sid(value, **kwargs)
    return caught.value


@pytest.mark.parametrize("sid", ["8sqtzrs", "A_1-b", "0", "x" * 40])
def test_an_identifier_is_returned_unchanged(sid: str) -> None:
    assert checked_booking_sid(sid) == sid


@pytest.mark.parametrize("value", [" 8sqtzrs", "8sqtzrs\n", "\t8sqtzrs  "], ids=repr)
def test_surrounding_whitespace_is_stripped(value: str) -> None:
    assert checked_booking_sid(value) == "8sqtzrs"


@pytest.mark.parametrize("value", [None, "", "   ", "None", " None\n"], ids=repr)
def test_an_absent_sid_is_refused_as_empty_pointing_at_the_upstream_xcom(value: Any) -> None:
    error = refusal(value)

    assert error.fields == ["booking_sid"]
    assert error.problems[0].value == value
    assert "the booking sid is empty" in str(error)
    assert "An xcom_pull that found nothing renders as 'None'" in str(error)
    assert "booking_sid XCom" in str(error)


def test_the_refusal_names_the_field_it_is_given() -> None:
    error = refusal("None", field="sid")

    assert error.fields == ["sid"]
    assert str(error).startswith("Invalid NeetoCal booking argument sid='None': the booking sid is empty")


@pytest.mark.parametrize(
    "value",
    [
        "../meetings",
        "a/b",
        "8sq tzrs",
        "a?b=1",
        "a#b",
        "a.b",
        "a%2Fb",
        "ab\ncd",
        "caf\u00e9",
        "\u0661\u0662",
        "{{ x }}",
    ],
    ids=repr,
)
def test_a_value_that_is_not_an_identifier_is_refused_with_the_expected_form(value: str) -> None:
    error = refusal(value)

    assert error.fields == ["booking_sid"]
    assert "not a booking sid: expected letters, digits, '-' and '_', e.g. '8sqtzrs'" in str(error)


@pytest.mark.parametrize("value", [12, 8.5, True, b"8sqtzrs", ["8sqtzrs"], {"sid": "8sqtzrs"}], ids=repr)
def test_a_value_that_is_not_a_string_is_refused_with_the_expected_form(value: Any) -> None:
    error = refusal(value)

    assert error.fields == ["booking_sid"]
    assert f"got {type(value).__name__}: expected the booking's sid as a string of letters, digits" in str(error)
