"""The read operators against the sandbox over real HTTP, in one DAG run through Airflow, and their refusals."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from unittest import mock

import pendulum
import pytest

from airflow_provider_neetocal import exceptions as errors
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.read import (
    NeetoCalFindSlotsOperator,
    NeetoCalGetBookingOperator,
    NeetoCalListBookingsOperator,
)
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY
from tests.integration.runs import run_in_airflow

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def tomorrow(sandbox: NeetoCalSandbox) -> str:
    return pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=1).to_date_string()


def test_find_slots_then_book_the_first_then_get_and_list_it(sandbox: NeetoCalSandbox, tmp_path: Path) -> None:
    day = tomorrow(sandbox)
    with DAG(
        dag_id="neetocal_read_operators",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        tags=["neetocal", "test"],
    ) as dag:
        slots = NeetoCalFindSlotsOperator(
            task_id="slots", meeting_slug="quick-sync", date_from=day, date_to=day, time_zone="Asia/Kolkata", limit=3
        )
        book = NeetoCalCreateBookingOperator(
            task_id="book",
            meeting_slug="quick-sync",
            name="Ada",
            attendee_email="ada@example.com",
            time_zone="Asia/Kolkata",
            slot_date="{{ ti.xcom_pull('slots')[0]['slot_date'] }}",
            slot_start_time="{{ ti.xcom_pull('slots')[0]['slot_start_time'] }}",
        )
        get = NeetoCalGetBookingOperator(task_id="get", booking_sid="{{ ti.xcom_pull('book', key='booking_sid') }}")
        listed = NeetoCalListBookingsOperator(task_id="list", type="upcoming", client_email="ada@example.com")
        written = NeetoCalListBookingsOperator(task_id="write", output_path=f"file://{tmp_path}/bookings.jsonl")
        slots >> book >> get >> [listed, written]
    run = run_in_airflow(dag)
    xcoms = xcoms_of(run.dag_id, run.run_id)
    rows = xcoms[("slots", -1, "return_value")]
    assert len(rows) == 3
    assert set(rows[0]) == {"meeting_slug", "slot_date", "slot_start_time", "time_zone"}
    (booking,) = sandbox.bookings
    assert pendulum.parse(booking["starts_at_for_client"]).format("hh:mm A") == rows[0]["slot_start_time"]
    assert xcoms[("get", -1, "return_value")]["sid"] == booking["sid"]
    assert [b["sid"] for b in xcoms[("list", -1, "return_value")]] == [booking["sid"]]
    assert "form_responses" not in xcoms[("list", -1, "return_value")][0]
    assert xcoms[("write", -1, "return_value")] == {"path": f"file://{tmp_path}/bookings.jsonl", "count": 1}
    lines = (tmp_path / "bookings.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["sid"] == booking["sid"]
    assert TEST_API_KEY not in repr(xcoms)
    assert TEST_API_KEY not in (tmp_path / "bookings.jsonl").read_text()


def context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def test_a_slots_answer_of_unknown_shape_fails_quoting_it(sandbox: NeetoCalSandbox) -> None:
    sandbox.inject(
        "raw", method="GET", path="/slots/", body=json.dumps({"slots": [{"date": "2030-01-08", "slots": 7}]})
    )
    operator = NeetoCalFindSlotsOperator(
        task_id="slots", meeting_slug="quick-sync", date_from="2030-01-08", date_to="2030-01-08", time_zone="UTC"
    )
    with pytest.raises(errors.NeetoCalServerError, match=r"unknown shape of the slots answer.*are 7, expected"):
        operator.execute(context())


def test_a_listing_too_large_for_xcom_names_output_path(sandbox: NeetoCalSandbox) -> None:
    hook = NeetoCalHook()
    for at in ("09:00 AM", "10:00 AM"):
        hook.create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": "A",
                "email": "a@example.com",
                "slot_date": tomorrow(sandbox),
                "slot_start_time": at,
                "time_zone": "UTC",
            }
        )
    operator = NeetoCalListBookingsOperator(task_id="list", max_xcom_bookings=1)
    with pytest.raises(errors.NeetoCalValidationError, match="set output_path"):
        operator.execute(context())


@pytest.mark.parametrize(
    ("operator", "field"),
    [
        (NeetoCalListBookingsOperator(task_id="l", type="future"), "type"),
        (NeetoCalGetBookingOperator(task_id="g", booking_sid="None"), "booking_sid"),
        (
            NeetoCalFindSlotsOperator(
                task_id="s", meeting_slug="quick-sync", date_from="2030-01-08", date_to="2030-01-01", time_zone="UTC"
            ),
            "date_to",
        ),
    ],
)
def test_bad_arguments_fail_naming_the_field_with_nothing_sent(
    sandbox: NeetoCalSandbox, operator: Any, field: str
) -> None:
    with pytest.raises(errors.NeetoCalValidationError) as caught:
        operator.execute(context())
    assert caught.value.fields == [field]
    assert sandbox.requests == []
