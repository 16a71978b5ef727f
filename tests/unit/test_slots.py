"""Free slots as rows: the observed shape, the tolerated ones, and refusals that quote the unknown."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_neetocal.exceptions import NeetoCalServerError, NeetoCalValidationError
from airflow_provider_neetocal.slots import checked_window, months_of, slot_rows

D = dt.date(2030, 1, 8)


def rows(days: list) -> list[tuple[str, str]]:
    return [
        (r["slot_date"], r["slot_start_time"])
        for r in slot_rows(days, meeting_slug="m", time_zone="UTC", start=D, end=D)
    ]


def test_the_observed_shape_skips_full_slots_and_sorts_by_time() -> None:
    day = {
        "date": "2030-01-08",
        "slots": {
            "01:00 PM": {"available_spots": 1},
            "09:30 AM": {"available_spots": 2},
            "10:00 AM": {"available_spots": 0},
            "12:00 AM": {"available_spots": 1},
        },
    }
    assert rows([day]) == [("2030-01-08", "12:00 AM"), ("2030-01-08", "09:30 AM"), ("2030-01-08", "01:00 PM")]


def test_lists_of_times_or_objects_are_accepted_and_other_days_dropped() -> None:
    days = [
        {"date": "2030-01-07", "slots": ["09:00 AM"]},
        {"date": "2030-01-08", "slots": ["09:00 AM", {"start_time": "10:00 AM"}]},
        {"date": "2030-01-08", "slots": {}},
    ]
    assert rows(days) == [("2030-01-08", "09:00 AM"), ("2030-01-08", "10:00 AM")]


@pytest.mark.parametrize(
    ("days", "quoted"),
    [
        ([{"date": "2030-01-08", "slots": 7}], "are 7"),
        ([{"date": "2030-01-08", "slots": ["9am"]}], '"9am"'),
        ([{"date": "2030-01-08", "slots": {"09:00 AM": {"available_spots": "many"}}}], '"many"'),
        (["2030-01-08"], 'a day is "2030-01-08"'),
    ],
)
def test_an_unknown_shape_is_an_error_quoting_it_not_an_empty_answer(days: list, quoted: str) -> None:
    with pytest.raises(NeetoCalServerError, match="unknown shape") as caught:
        rows(days)
    assert quoted in str(caught.value)


def test_windows_are_checked_and_walked_by_month() -> None:
    assert checked_window("2030-12-30", "2031-01-02") == (dt.date(2030, 12, 30), dt.date(2031, 1, 2))
    assert months_of(dt.date(2030, 12, 30), dt.date(2031, 2, 1)) == [(2030, 12), (2031, 1), (2031, 2)]
    with pytest.raises(NeetoCalValidationError, match="at most 92 days"):
        checked_window("2030-01-01", "2030-06-01")
    with pytest.raises(NeetoCalValidationError, match="YYYY-MM-DD") as caught:
        checked_window("8 Jan", "2030-01-09")
    assert caught.value.fields == ["date_from"]
