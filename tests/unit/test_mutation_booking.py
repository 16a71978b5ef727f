"""``build_booking_payload`` refusals that mutation testing (``make mutation``) found untested.

Plain examples, one behaviour each: a clock change that is not on a whole minute (old local mean
times, such as Amsterdam's +00:19:32 until 1937) and the wording of refusals a DAG author reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_neetocal.booking import SLOT_START_FORMAT, SLOT_TIME_FORMAT, build_booking_payload
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

REQUIRED: dict[str, Any] = {
    "meeting_slug": "meeting-with-oliver-smith",
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
}


def problems(**overrides: Any) -> list[FieldProblem]:
    with pytest.raises(NeetoCalValidationError) as raised:
        build_booking_payload(**{**REQUIRED, **overrides})
    return list(raised.value.problems)


def test_a_gap_of_seconds_names_its_end_to_the_second_and_the_next_whole_minute_as_the_example() -> None:
    # On 1937-07-01 Amsterdam went from +00:19:32 to +00:20: wall clocks jumped from 00:00 to 00:00:28.
    assert problems(time_zone="Europe/Amsterdam", slot_date="1937-07-01", slot_start_time="00:00") == [
        FieldProblem(
            "slot_start_time",
            "00:00",
            "12:00 AM on 1937-07-01 does not exist in Europe/Amsterdam: clocks jump from 00:00 to 00:00:28 "
            "on 1937-07-01; choose a time outside that gap, e.g. 00:01",
        )
    ]


def test_the_minute_after_a_gap_of_seconds_is_booked() -> None:
    payload = build_booking_payload(
        **{**REQUIRED, "time_zone": "Europe/Amsterdam", "slot_date": "1937-07-01", "slot_start_time": "00:01"}
    )
    assert (payload["slot_date"], payload["slot_start_time"]) == ("1937-07-01", "12:01 AM")


@pytest.mark.parametrize(("value", "kind"), [(1330, "int"), (13.5, "float"), (["13:30"], "list")])
def test_a_slot_start_time_that_is_no_text_is_refused_naming_its_type(value: Any, kind: str) -> None:
    assert problems(slot_date="2030-07-15", slot_start_time=value) == [
        FieldProblem("slot_start_time", value, f"expected {SLOT_TIME_FORMAT}, got {kind}")
    ]


def test_an_instant_past_the_calendar_in_the_time_zone_is_refused_saying_so() -> None:
    # 23:30 UTC on the calendar's last day is 05:00 on 10000-01-01 in Asia/Kolkata (+05:30): no such year.
    assert problems(slot_start="9999-12-31T23:30:00+00:00") == [
        FieldProblem(
            "slot_start",
            "9999-12-31T23:30:00+00:00",
            f"out of the calendar's range in Asia/Kolkata: expected {SLOT_START_FORMAT}",
        )
    ]


@pytest.mark.parametrize(
    ("zone", "date", "time", "problem"),
    [
        (
            "Europe/Berlin",
            "2025-10-26",
            "02:30",
            "02:30 AM on 2025-10-26 happens twice in Europe/Berlin: ambiguous, clocks go back from 03:00 to 02:00 "
            "on 2025-10-26 and NeetoCal's slot_date + slot_start_time cannot say which is meant; choose a time "
            "outside that repeated span, e.g. 03:00",
        ),
        (  # clocks went back at midnight: the span and the example cross into the next day
            "America/Sao_Paulo",
            "2019-02-16",
            "23:30",
            "11:30 PM on 2019-02-16 happens twice in America/Sao_Paulo: ambiguous, clocks go back from 00:00 on "
            "2019-02-17 to 23:00 on 2019-02-16 and NeetoCal's slot_date + slot_start_time cannot say which is "
            "meant; choose a time outside that repeated span, e.g. 00:00 on 2019-02-17",
        ),
    ],
    ids=["same-day", "across-midnight"],
)
def test_a_repeated_time_is_refused_with_the_span_and_a_time_after_it(
    zone: str, date: str, time: str, problem: str
) -> None:
    assert problems(time_zone=zone, slot_date=date, slot_start_time=time) == [
        FieldProblem("slot_start_time", time, problem)
    ]


@pytest.mark.parametrize(("rendered", "sent"), [(" False ", None), ("false", None), ("TRUE", True), (True, True)])
def test_override_availability_takes_what_a_template_renders(rendered: Any, sent: Any) -> None:
    """A templated flag arrives as text ("False" from a Jinja render): false is accepted and sends nothing."""
    from airflow_provider_neetocal.booking import build_booking_payload

    payload = build_booking_payload(
        meeting_slug="m", name="Eve", email="eve@example.com", time_zone="UTC", override_availability=rendered
    )
    assert payload.get("override_availability") is sent
