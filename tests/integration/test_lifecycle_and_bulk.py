"""Cancel, reschedule and the bulk path against the sandbox over real HTTP, and through Airflow.

Every test runs on each API set-up (v1, v2 answering bare, v2 answering wrapped): only the
connection's ``api_version`` extra differs, as it would for a DAG switching versions."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.exceptions import (
    NeetoCalBulkClientError,
    NeetoCalBulkError,
    NeetoCalClientError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.operators.lifecycle import (
    NeetoCalCancelBookingOperator,
    NeetoCalRescheduleBookingOperator,
)
from tests.compat import dag_test, xcoms_of
from tests.integration.conftest import API_SETUPS

pytestmark = pytest.mark.integration
on_every_api = pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)

ATTENDEE = {"name": "Eve Smith", "attendee_email": "eve@example.com", "time_zone": "Asia/Kolkata"}


class RecordingTI:
    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(try_number: int = 1) -> dict[str, Any]:
    return {"ti": RecordingTI(try_number), "dag_run": None}


def create(sandbox: Any, **overrides: Any) -> dict[str, Any]:
    arguments = {"meeting_slug": "meeting-with-oliver-smith", "slot_start": "2030-07-15T11:00:00+05:30", **ATTENDEE}
    return NeetoCalCreateBookingOperator(task_id="create", **{**arguments, **overrides}).execute(context())


def posts(sandbox: Any, path_suffix: str = "") -> list[Any]:
    return [r for r in sandbox.requests if r.method in ("POST", "PATCH") and r.path.endswith(path_suffix)]


def cancels(sandbox: Any) -> list[Any]:
    """The cancel requests the sandbox got: v1 ``POST …/cancel``, v2 ``PATCH`` with ``status: cancelled``."""
    return [
        r
        for r in sandbox.requests
        if (r.method == "POST" and r.path.endswith("/cancel"))
        or (r.method == "PATCH" and isinstance(r.json, dict) and r.json.get("status") == "cancelled")
    ]


def lose_the_cancel_answer(sandbox: Any, sid: str) -> None:
    """The next cancel of ``sid`` is applied, then its connection dropped (on whichever route the version uses)."""
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    if NeetoCalHook().api_version == "v1":
        sandbox.inject("commit_then_drop", times=1, method="POST", path=f"/bookings/{sid}/cancel")
    else:
        sandbox.inject("commit_then_drop", times=1, method="PATCH", path=f"/bookings/{sid}")


# -- cancel ------------------------------------------------------------------------------------


@on_every_api
def test_cancel_cancels_and_returns_the_booking_read_back(sandbox):
    booking = create(sandbox)
    ctx = context()
    result = NeetoCalCancelBookingOperator(
        task_id="cancel", booking_sid=booking["sid"], cancel_reason="Host is ill"
    ).execute(ctx)
    assert result["status"] == "cancelled"
    assert result["cancel_reason"] == "Host is ill"
    assert sandbox.booking(booking["sid"])["status"] == "cancelled"
    assert ctx["ti"].xcoms["booking_sid"] == booking["sid"]


@on_every_api
def test_cancelling_an_already_cancelled_booking_is_done_without_a_request(sandbox):
    booking = create(sandbox)
    NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=booking["sid"]).execute(context())
    before = len(cancels(sandbox))
    result = NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=booking["sid"]).execute(context(2))
    assert result["status"] == "cancelled"
    assert len(cancels(sandbox)) == before == 1


@on_every_api
def test_cancel_whose_answer_is_lost_is_confirmed_by_reading_back(sandbox):
    booking = create(sandbox)
    lose_the_cancel_answer(sandbox, booking["sid"])
    result = NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=booking["sid"]).execute(context())
    assert result["status"] == "cancelled"
    assert [r.status for r in cancels(sandbox)] == [None]


@on_every_api
def test_cancel_of_an_unknown_booking_fails_without_retries(sandbox):
    with pytest.raises(NeetoCalClientError, match="Booking not found") as caught:
        NeetoCalCancelBookingOperator(task_id="cancel", booking_sid="nosuch1").execute(context())
    assert isinstance(caught.value, AirflowFailException)


# -- reschedule --------------------------------------------------------------------------------


@on_every_api
def test_reschedule_moves_the_booking(sandbox):
    booking = create(sandbox)
    result = NeetoCalRescheduleBookingOperator(
        task_id="move", booking_sid=booking["sid"], slot_date="2030-07-16", slot_start_time="3:00 pm", **ATTENDEE
    ).execute(context())
    assert result["starts_at"] == "2030-07-16T09:30:00.000Z"
    assert sandbox.booking(booking["sid"])["starts_at"] == "2030-07-16T09:30:00.000Z"


@on_every_api
def test_reschedule_to_where_the_booking_already_is_sends_nothing(sandbox):
    booking = create(sandbox)
    result = NeetoCalRescheduleBookingOperator(
        task_id="move", booking_sid=booking["sid"], slot_start="2030-07-15T05:30:00Z", **ATTENDEE
    ).execute(context())
    assert result["sid"] == booking["sid"]
    assert [r for r in sandbox.requests if r.method == "PATCH"] == []


@on_every_api
def test_reschedule_whose_answer_is_lost_is_confirmed_by_reading_back(sandbox):
    booking = create(sandbox)
    sandbox.inject("commit_then_502", times=1, method="PATCH", path="/bookings")
    result = NeetoCalRescheduleBookingOperator(
        task_id="move", booking_sid=booking["sid"], slot_start="2030-07-16T15:00:00+05:30", **ATTENDEE
    ).execute(context())
    assert result["starts_at"] == "2030-07-16T09:30:00.000Z"
    assert len([r for r in sandbox.requests if r.method == "PATCH"]) == 1


@on_every_api
def test_reschedule_needs_a_slot_and_sends_nothing_without_one(sandbox):
    with pytest.raises(NeetoCalValidationError, match="slot_start"):
        NeetoCalRescheduleBookingOperator(task_id="move", booking_sid="abc1234", **ATTENDEE).execute(context())
    assert sandbox.requests == []


# -- bulk ----------------------------------------------------------------------------------------


def rows(*starts: str) -> list[dict[str, Any]]:
    return [
        {"name": f"Guest {i}", "email": f"guest{i}@example.com", "slot_start": start} for i, start in enumerate(starts)
    ]


def bulk(**overrides: Any) -> NeetoCalCreateBookingsOperator:
    return NeetoCalCreateBookingsOperator(
        task_id="bulk", **{"meeting_slug": "quick-sync", "time_zone": "UTC", **overrides}
    )


@on_every_api
def test_bulk_creates_one_booking_per_row_in_order(sandbox):
    starts = [f"2030-07-15T{hour:02d}:00:00Z" for hour in range(8, 13)]
    ctx = context()
    results = bulk(bookings=rows(*starts)).execute(ctx)
    assert [b["starts_at"] for b in results] == [s.replace(":00Z", ":00.000Z") for s in starts]
    assert len(sandbox.bookings) == 5
    assert ctx["ti"].xcoms["booking_sids"] == [b["sid"] for b in results]
    assert ctx["ti"].xcoms["failures"] == []


@on_every_api
def test_bulk_validates_every_row_before_sending_anything(sandbox):
    bad = [*rows("2030-07-15T08:00:00Z"), {"name": "", "email": "nope", "slot_start": "2030-02-30T08:00:00Z"}]
    with pytest.raises(NeetoCalValidationError) as caught:
        bulk(bookings=bad).execute(context())
    assert {"bookings[1].name", "bookings[1].email", "bookings[1].slot_start"} <= set(caught.value.fields)
    assert sandbox.requests == []


@on_every_api
def test_bulk_reports_a_refused_row_and_books_the_others(sandbox):
    same_slot = rows("2030-07-15T08:00:00Z", "2030-07-15T08:00:00Z", "2030-07-15T09:00:00Z")
    ctx = context()
    with pytest.raises(NeetoCalBulkClientError, match="1 of 3 NeetoCal bookings failed") as caught:
        # One row at a time, so the first of the two rows asking for one slot gets it.
        bulk(bookings=same_slot, max_concurrency=1).execute(ctx)
    assert isinstance(caught.value, AirflowFailException)
    assert len(sandbox.bookings) == 2
    (failure,) = ctx["ti"].xcoms["failures"]
    assert (failure["row"], failure["email"], failure["permanent"]) == (1, "guest1@example.com", True)
    assert "not available" in failure["error"]


@on_every_api
def test_bulk_retry_adopts_booked_rows_instead_of_booking_them_twice(sandbox):
    starts = [f"2030-07-15T{hour:02d}:00:00Z" for hour in range(8, 12)]
    # The first row's POST fails every time the hook tries it in try 1 (3 attempts, outcome unknown).
    sandbox.inject("server_error", times=3, method="POST", path="/bookings", status=503)
    operator = bulk(bookings=rows(*starts), if_exists="create", max_concurrency=1)  # all three on row 0
    operator.hook._sleep = lambda seconds: None
    with pytest.raises(NeetoCalBulkError) as first:
        operator.execute(context(1))
    assert not isinstance(first.value, AirflowFailException)
    assert len(sandbox.bookings) == 3
    retry = bulk(bookings=rows(*starts), if_exists="create")
    retry.hook._sleep = lambda seconds: None
    results = retry.execute(context(2))
    assert all(results)
    assert len([r for r in sandbox.requests if r.method == "POST" and r.status in (200, 201)]) == 4
    assert sorted(b["email"] for b in sandbox.bookings) == sorted(f"guest{i}@example.com" for i in range(4))


@pytest.mark.parametrize("sandbox", [API_SETUPS[2]], indirect=True)  # one DAG run: v2, the less obvious set-up
def test_bulk_operator_runs_in_a_dag_from_an_upstream_xcom(sandbox, airflow_db):
    from airflow_provider_neetocal._compat import dagbag_class
    from tests.conftest import TEST_DAGS

    run = dag_test(dagbag_class()(dag_folder=str(TEST_DAGS)).get_dag("neetocal_test_bulk"))
    assert run.state == "success"
    assert len(sandbox.bookings) == 3
    sids = xcoms_of("neetocal_test_bulk", run.run_id)[("bulk", -1, "booking_sids")]
    assert sorted(sids) == sorted(b["sid"] for b in sandbox.bookings)
