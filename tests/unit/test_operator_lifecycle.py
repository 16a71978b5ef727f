"""Cancel and reschedule: a booking_sid that names no booking sends nothing and says which argument."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.exceptions import NeetoCalValidationError
from airflow_provider_neetocal.operators.lifecycle import (
    NeetoCalCancelBookingOperator,
    NeetoCalRescheduleBookingOperator,
)

API = "https://acme.neetocal.com/api/external/v1"
BOOKING: dict[str, Any] = {
    "sid": "8sqtzrs",
    "email": "eve@example.com",
    "status": "confirmed",
    "starts_at": "2030-07-15T08:00:00.000Z",
    "admin_booking_url": "https://acme.neetocal.com/admin/bookings/8sqtzrs",
}
RESCHEDULE_ARGS: dict[str, Any] = {
    "name": "Eve Smith",
    "attendee_email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-16",
    "slot_start_time": "01:30 PM",
}
#: What an unset sid looks like after rendering: an xcom_pull that found nothing renders as "None".
ABSENT_SIDS = [pytest.param(None, id="None"), pytest.param("None", id="'None'"), pytest.param("", id="empty")]


class RecordingTI:
    def __init__(self) -> None:
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def context(neetocal_conn) -> dict[str, Any]:
    neetocal_conn("acme")
    return {"ti": RecordingTI()}


@pytest.mark.parametrize("sid", ABSENT_SIDS)
def test_cancel_without_a_booking_sid_sends_nothing_and_names_booking_sid(context, sid):
    operator = NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=sid)
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        operator.execute(context)
    assert m.call_count == 0
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.fields == ["booking_sid"]
    assert "booking_sid" in str(raised.value)
    assert context["ti"].xcoms == {}


@pytest.mark.parametrize("sid", ABSENT_SIDS)
def test_reschedule_without_a_booking_sid_sends_nothing_and_names_booking_sid(context, sid):
    operator = NeetoCalRescheduleBookingOperator(task_id="move", booking_sid=sid, **RESCHEDULE_ARGS)
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        operator.execute(context)
    assert m.call_count == 0
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.fields == ["booking_sid"]
    assert "booking_sid" in str(raised.value)
    assert context["ti"].xcoms == {}


def test_cancel_with_a_rendered_sid_cancels_that_booking(context):
    cancelled = {**BOOKING, "status": "cancelled"}
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/8sqtzrs", [{"json": BOOKING}, {"json": cancelled}])
        m.post(f"{API}/bookings/8sqtzrs/cancel", json={"message": "Booking cancelled"})
        result = NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=" 8sqtzrs\n").execute(context)
    assert result == cancelled
    assert [f"{r.method} {r.path}" for r in m.request_history] == [
        "GET /api/external/v1/bookings/8sqtzrs",
        "POST /api/external/v1/bookings/8sqtzrs/cancel",
        "GET /api/external/v1/bookings/8sqtzrs",
    ]
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
