"""Review 19 repros (pure): the event trigger's memory format, change ids and argument checks.
Each test states what should hold; those still open are strict xfails (README, "Known gaps")."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_provider_neetocal.booking_changes import (
    CHANGE_KINDS,
    SAVED_RETIRED,
    BookingChangeTracker,
    WatcherMemory,
    _Known,
    changes_of,
    memory_value,
)
from airflow_provider_neetocal.exceptions import NeetoCalValidationError
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

#: Airflow 3.3's default ``[state_store] max_value_storage_bytes``.
MAX_VALUE_STORAGE_BYTES = 65535


def _sid(i: int) -> str:
    return f"b{i:06d}"  # NeetoCal sids are 7 characters


def test_the_saved_memory_of_a_default_watcher_fits_the_asset_state_store_limit() -> None:
    start = dt.datetime(2030, 1, 7, 10, tzinfo=dt.timezone.utc)
    tracker = BookingChangeTracker(baselined=True)
    tracker.known = {
        _sid(i): _Known("confirmed", (start + dt.timedelta(minutes=15 * i)).isoformat().replace("+00:00", ".000Z"))
        for i in range(NeetoCalBookingEventTrigger().max_pages * 100)
    }
    for i in range(SAVED_RETIRED):
        tracker.retired[_sid(10_000 + i)] = _Known("confirmed", (start - dt.timedelta(hours=i)).isoformat())
    value = memory_value(WatcherMemory(tracker), watch="0123456789abcdef", now=start)
    assert len(json.dumps(value)) <= MAX_VALUE_STORAGE_BYTES


def _event(*items: dict[str, Any]) -> dict[str, Any]:
    return {"extra": {"payload": {"changes": list(items), "more": False}}}


def test_distinct_moves_of_one_booking_have_distinct_change_ids() -> None:
    at_a, at_b = "2030-01-07T10:00:00Z", "2030-01-08T10:00:00Z"
    booking = {"sid": "abc1234", "status": "confirmed"}
    tracker = BookingChangeTracker()
    tracker.observe_listing([{**booking, "starts_at": at_a}])  # the baseline
    moves = [tracker.observe_listing([{**booking, "starts_at": start}]) for start in (at_b, at_a, at_b)]
    assert [[c.kind for c in changes] for changes in moves] == [["rescheduled"]] * 3
    # Three polls, three events; Airflow merges events that arrive together into one DAG run.
    merged = {"asset": [_event(*(c.payload() for c in changes)) for changes in moves]}
    assert len(changes_of(merged)) == 3


def test_a_move_found_by_a_recheck_is_numbered_like_one_found_by_the_listing() -> None:
    at_a, at_b = "2030-01-07T10:00:00Z", "2030-01-08T10:00:00Z"
    booking = {"sid": "abc1234", "status": "confirmed"}
    tracker = BookingChangeTracker()
    tracker.observe_listing([{**booking, "starts_at": at_a}])
    (first,) = tracker.observe_listing([{**booking, "starts_at": at_b}])
    tracker.observe_listing([])  # missing: re-checked
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    (second,) = tracker.observe_recheck("abc1234", {**booking, "starts_at": at_a}, now=now)
    ids = [first.payload()["change_id"], second.payload()["change_id"]]
    assert ids == [f"rescheduled:abc1234@{at_b}#1", f"rescheduled:abc1234@{at_a}#2"]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"api_version": "v3"}, id="api_version-v3"),
        pytest.param({"host_email": "  "}, id="host_email-blank"),
        pytest.param({"host_email": 42}, id="host_email-number"),
        pytest.param({"meeting_slug": "quick sync/.."}, id="meeting_slug-path"),
        pytest.param({"meeting_slug": "{{ params.slug }}"}, id="meeting_slug-template-never-rendered"),
        pytest.param({"neetocal_conn_id": ""}, id="conn_id-empty"),
    ],
)
def test_an_argument_the_watcher_can_never_use_is_refused_when_the_dag_is_parsed(kwargs: dict[str, Any]) -> None:
    with pytest.raises(NeetoCalValidationError):
        NeetoCalBookingEventTrigger(**kwargs)


def test_every_kind_written_out_is_the_same_watch_as_the_default() -> None:
    default = NeetoCalBookingEventTrigger()
    spelled = NeetoCalBookingEventTrigger(changes=list(CHANGE_KINDS))
    assert spelled.serialize() == default.serialize()
    assert spelled.memory_key() == default.memory_key()
