"""Regressions from the hostile review of API v2 (each test is a repro that failed before its fix).

1. A reschedule to the slot a booking already has, with a new name, succeeded sending nothing.
2. The check script reported a booking "bare" for answers holding no booking, or a wrapped one.
3. The check script picked slots by its own rule (a full slot first; a list-shaped day unread).
4. A blank ``api_version`` hook argument turned a v2 connection into v1; an upper-case v1 root in
   ``base_url`` survived under v2.
5. On v2 a slots answer of unknown shape named v1's ``/slots`` route instead of the path sent.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest

from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal.exceptions import NeetoCalServerError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.lifecycle import NeetoCalRescheduleBookingOperator
from airflow_provider_neetocal.operators.read import NeetoCalFindSlotsOperator
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from airflow_provider_neetocal.slots import slot_rows
from tests.conftest import neetocal_conn_json
from tests.integration.conftest import API_SETUPS
from tests.integration.test_check_api_version_script import load_script

pytestmark = pytest.mark.integration

OLIVER = {
    "meeting_slug": "meeting-with-oliver-smith",
    "slot_start": "2030-07-15T11:00:00+05:30",
    "name": "Eve Smith",
    "attendee_email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
}


class _TaskInstance:
    try_number = 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context() -> dict[str, Any]:
    return {"ti": _TaskInstance(), "dag_run": None}


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_a_new_name_at_the_same_slot_is_sent(sandbox: NeetoCalSandbox) -> None:
    booking = NeetoCalCreateBookingOperator(task_id="book", **OLIVER).execute(context())
    moved = NeetoCalRescheduleBookingOperator(
        task_id="move",
        booking_sid=booking["sid"],
        slot_start=OLIVER["slot_start"],
        name="Eve Jones",
        attendee_email="eve@example.com",
        time_zone="Asia/Kolkata",
    ).execute(context())
    patches = [r for r in sandbox.requests if r.method == "PATCH"]
    assert len(patches) == 1
    assert moved["name"] == "Eve Jones"
    assert sandbox.booking(booking["sid"])["name"] == "Eve Jones"


@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_the_same_slot_and_attendee_sends_nothing(sandbox: NeetoCalSandbox) -> None:
    booking = NeetoCalCreateBookingOperator(task_id="book", **OLIVER).execute(context())
    arguments = {k: v for k, v in OLIVER.items() if k != "meeting_slug"}
    NeetoCalRescheduleBookingOperator(task_id="move", booking_sid=booking["sid"], **arguments).execute(context())
    assert not [r for r in sandbox.requests if r.method == "PATCH"]


class _Hook:
    base_url = "http://127.0.0.1:9"


def _finding(body: Any) -> str:
    checker = load_script().Checker(_Hook(), io.StringIO())
    checker.note_booking_shape("step", 200, body)
    return checker.findings[0]


@pytest.mark.parametrize("body", [{"message": "Booking has been successfully cancelled"}, {}])
def test_the_check_script_says_when_an_answer_holds_no_booking(body: dict[str, Any]) -> None:
    assert "no booking in the answer" in _finding(body)


def test_the_check_script_reads_wrapped_answers_as_the_client_does() -> None:
    body = {"booking": {"sid": "abc1234", "status": "confirmed"}, "message": "Booking created"}
    assert contract.booking_of("v2", body) == {"sid": "abc1234", "status": "confirmed"}
    assert "wrapped" in _finding(body)
    assert "bare" in _finding({"sid": "abc1234"})


DAY = dt.date(2030, 7, 15)


@pytest.mark.parametrize(
    "slots",
    [
        pytest.param(["09:00 AM", "09:30 AM"], id="list-shaped-day"),
        pytest.param(
            {"08:30 AM": {"available_spots": 0}, "09:00 AM": {"available_spots": 1}, "09:30 AM": {}},
            id="full-slot-left-out",
        ),
    ],
)
def test_the_check_script_reads_slots_as_the_provider_does(slots: Any) -> None:
    days = [{"date": DAY.isoformat(), "day": "Monday", "slots": slots}]
    provider = [
        (r["slot_date"], r["slot_start_time"])
        for r in slot_rows(days, meeting_slug="m", time_zone="UTC", start=DAY, end=DAY)
    ]
    assert provider == [("2030-07-15", "09:00 AM"), ("2030-07-15", "09:30 AM")]
    assert load_script().free_slots(days, DAY) == provider


@pytest.mark.parametrize("argument", ["", "   "])
def test_a_blank_api_version_argument_leaves_the_connection_s_version(
    monkeypatch: pytest.MonkeyPatch, argument: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json("http://127.0.0.1:9", api_version="v2"))
    assert NeetoCalHook(api_version=argument).api_version == "v2"


def test_an_upper_case_v1_root_in_base_url_becomes_the_v2_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEETOCAL_DEFAULT",
        neetocal_conn_json("acme", api_version="v2", base_url="http://127.0.0.1:9/API/External/V1"),
    )
    assert NeetoCalHook().base_url == "http://127.0.0.1:9/api/external/v2"


@pytest.mark.parametrize("sandbox", API_SETUPS[1:2], indirect=True)
def test_a_slots_shape_error_on_v2_names_the_path_sent(sandbox: NeetoCalSandbox) -> None:
    operator = NeetoCalFindSlotsOperator(
        task_id="slots", meeting_slug="quick-sync", date_from="2030-07-15", date_to="2030-07-15", time_zone="UTC"
    )
    operator.hook.meeting_sid("quick-sync")  # the sid first, so the fault below hits the slots request
    sandbox.inject(
        "raw", status=200, method="GET", body='{"slots": [{"date": "2030-07-15", "day": "Monday", "slots": 42}]}'
    )
    with pytest.raises(NeetoCalServerError) as raised:
        operator.execute(context())
    sent = sandbox.requests[-1].path
    assert sent.startswith("/meetings/")
    assert sent.endswith("/slots")
    assert raised.value.endpoint == sent
