"""Review 19 repros (pure): the event trigger's memory format, change ids and argument checks.
Each test states what should hold and is a strict xfail while it does not."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_provider_neetocal.booking_changes import (
    CHANGE_KINDS,
    SAVED_RETIRED,
    BookingChangeTracker,
    Change,
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


@pytest.mark.xfail(
    strict=True,
    reason="memory exceeds the store's limit: 1,000 upcoming bookings (the default max_pages=10) plus the "
    "saved retired ones make a value above [state_store] max_value_storage_bytes (64 KB); 'known' is unbounded",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="change_id collision: a booking moved A->B, back to A, then to B again gets the id "
    "rescheduled:<sid>@B twice, so changes_of (and a DAG de-duplicating on change_id) drops a real move",
)
def test_distinct_moves_of_one_booking_have_distinct_change_ids() -> None:
    at_a, at_b = "2030-01-07T10:00:00Z", "2030-01-08T10:00:00Z"
    booking = {"sid": "abc1234", "status": "confirmed"}
    moves = [
        Change("rescheduled", {**booking, "starts_at": at_b}, previous_starts_at=at_a),
        Change("rescheduled", {**booking, "starts_at": at_a}, previous_starts_at=at_b),
        Change("rescheduled", {**booking, "starts_at": at_b}, previous_starts_at=at_a),
    ]
    # Three polls, three events; Airflow merges events that arrive together into one DAG run.
    merged = {"asset": [_event(move.payload()) for move in moves]}
    assert len(changes_of(merged)) == 3


HOST_EMAIL_GAP = pytest.mark.xfail(
    strict=True,
    reason="parse-time validation gap: a host_email the watcher can never use is accepted when the DAG is parsed "
    "(checking it there would load the email validator on every parse); it only fails in the triggerer",
)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"api_version": "v3"}, id="api_version-v3"),
        pytest.param({"host_email": "  "}, id="host_email-blank", marks=HOST_EMAIL_GAP),
        pytest.param({"host_email": 42}, id="host_email-number", marks=HOST_EMAIL_GAP),
        pytest.param({"meeting_slug": "quick sync/.."}, id="meeting_slug-path"),
        pytest.param({"meeting_slug": "{{ params.slug }}"}, id="meeting_slug-template-never-rendered"),
        pytest.param({"neetocal_conn_id": ""}, id="conn_id-empty"),
    ],
)
def test_an_argument_the_watcher_can_never_use_is_refused_when_the_dag_is_parsed(kwargs: dict[str, Any]) -> None:
    with pytest.raises(NeetoCalValidationError):
        NeetoCalBookingEventTrigger(**kwargs)


@pytest.mark.xfail(
    strict=True,
    reason="normalisation gap: changes=None and changes=[all three kinds] are the same watch but serialise and "
    "fingerprint differently, so switching replaces the watcher and its memory (fresh baseline, changes lost)",
)
def test_every_kind_written_out_is_the_same_watch_as_the_default() -> None:
    default = NeetoCalBookingEventTrigger()
    spelled = NeetoCalBookingEventTrigger(changes=list(CHANGE_KINDS))
    assert spelled.serialize() == default.serialize()
    assert spelled.memory_key() == default.memory_key()
