"""Every example DAG parses cleanly and runs through Airflow (``dag.test()``) against the sandbox."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any
from unittest import mock

import pendulum
import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.links import NeetoCalBookingLink
from tests.compat import ParamValidationError, dag_test, extra_link_url, requires_airflow, xcoms_of
from tests.conftest import TEST_API_KEY
from tests.integration.conftest import EXAMPLE_DAGS

pytestmark = pytest.mark.integration

DAG_IDS = {"neetocal_manual_booking", "neetocal_scheduled_followup", "neetocal_pipeline", "neetocal_daily_sync"}


def run_dag(dagbag: Any, dag_id: str, **kwargs: Any) -> Any:
    """``dag.test()`` on a freshly parsed DAG: a run's conf would otherwise leak into the next run's params."""
    from airflow_provider_neetocal._compat import dagbag_class

    dag = dagbag_class()(dag_folder=str(EXAMPLE_DAGS)).get_dag(dag_id)
    assert dag is not None, dagbag.import_errors
    return dag_test(dag, **kwargs)


def test_example_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_example_dags_explain_themselves_in_the_ui(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert len(dag.doc_md or "") > 200
    assert "neetocal" in dag.tags


@pytest.mark.parametrize("dag_id", sorted({*DAG_IDS, "neetocal_meeting_followup"}))
def test_every_form_field_of_the_example_dags_has_a_title_and_a_description(dagbag, dag_id):
    """The trigger form shows each Param's title and description; without them it shows the raw key alone."""
    params = dagbag.get_dag(dag_id).params
    untitled = [key for key in params if not params.get_param(key).schema.get("title")]
    undescribed = [key for key in params if not (params.get_param(key).description or "").strip()]

    assert params, f"{dag_id} declares no Param"
    assert (untitled, undescribed) == ([], [])


def test_parsing_the_example_dags_reads_no_connection(airflow_db):
    from airflow_provider_neetocal._compat import BaseHook, dagbag_class

    with mock.patch.object(BaseHook, "get_connection", side_effect=AssertionError("connection read at parse")):
        bag = dagbag_class()(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}


def test_manual_booking_dag_books_from_the_form_values(dagbag, sandbox):
    # The form's date and start time are wall-clock values in the attendee's zone: 14:30 in Tokyo.
    conf = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "time_zone": "Asia/Tokyo",
        "slot_date": "2030-07-15",
        "slot_start_time": "14:30",
        "preferred_meeting_spot": "zoom",
        "guests": ["charles@example.com"],
        "language": "English",
    }
    run = run_dag(dagbag, "neetocal_manual_booking", run_conf=conf)
    assert run.state == "success"
    dag = dagbag.get_dag("neetocal_manual_booking")
    (booking,) = sandbox.bookings
    assert (booking["name"], booking["email"], booking["starts_at"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "2030-07-15T05:30:00.000Z",
    )
    assert booking["starts_at_for_client"].startswith("2030-07-15T14:30:00")
    assert booking["preferred_meeting_spot"] == "zoom"
    answers = {answer["field_code"]: answer["value"] for answer in booking["form_responses"]}
    assert answers["language"] == "English"
    assert "charles@example.com" in str(answers["guest_email_s"])
    xcoms = xcoms_of("neetocal_manual_booking", run.run_id)
    assert xcoms[("create_booking", -1, "return_value")]["sid"] == booking["sid"]
    assert xcoms[("create_booking", -1, "booking_sid")] == booking["sid"]
    assert xcoms[("create_booking", -1, "booking_url")] == booking["admin_booking_url"]
    assert extra_link_url(dag, run, "create_booking", NeetoCalBookingLink()) == booking["admin_booking_url"]
    assert booking["sid"] in xcoms[("announce", -1, "return_value")]


def test_manual_booking_dag_takes_one_instant_from_the_command_line_instead(dagbag, sandbox):
    conf = {"email": "cli@example.com", "slot_start": "2030-07-15T11:00:00+05:30"}
    run = run_dag(dagbag, "neetocal_manual_booking", run_conf=conf)
    assert run.state == "success"
    (booking,) = sandbox.bookings
    assert booking["starts_at"] == "2030-07-15T05:30:00.000Z"
    assert "language" not in {answer["field_code"] for answer in booking.get("form_responses") or []}


def test_manual_booking_dag_without_a_start_books_the_first_free_slot(dagbag, sandbox):
    run = run_dag(dagbag, "neetocal_manual_booking", run_conf={"email": "first@example.com"})
    assert run.state == "success"
    (booking,) = sandbox.bookings
    assert pendulum.parse(booking["starts_at"]) > pendulum.now("UTC")
    (create,) = [r for r in sandbox.requests if r.method == "POST"]
    assert "slot_date" not in create.json
    assert "slot_start_time" not in create.json


def test_manual_booking_form_refuses_values_its_params_forbid(dagbag, sandbox):
    with pytest.raises(ParamValidationError, match="meeting_slug"):
        run_dag(dagbag, "neetocal_manual_booking", run_conf={"meeting_slug": "has spaces"})
    assert sandbox.requests == []


def test_manual_booking_dag_fails_on_a_value_the_operator_rejects_and_sends_nothing(dagbag, sandbox):
    # The form accepts any date-time; NeetoCal slots start on a whole minute.
    run = run_dag(dagbag, "neetocal_manual_booking", run_conf={"slot_start": "2030-07-15T11:00:30+05:30"})
    assert run.state == "failed"
    assert sandbox.requests == []


def test_scheduled_dag_books_the_next_business_day_after_its_interval(dagbag, sandbox):
    # Friday 2030-07-12 06:00 UTC: the interval ends then, so the follow-up is Monday 11:30 IST.
    run = run_dag(dagbag, "neetocal_scheduled_followup", logical_date=pendulum.datetime(2030, 7, 12, 6, tz="UTC"))
    assert run.state == "success"
    (booking,) = sandbox.bookings
    assert booking["starts_at_for_client"].startswith("2030-07-15T11:30:00")
    assert booking["email"] == "data-quality@example.com"
    assert xcoms_of("neetocal_scheduled_followup", run.run_id)[("book_follow_up", -1, "return_value")] == booking


def test_scheduled_dag_macro_skips_weekends():
    from example_dags.neetocal_scheduled_followup import next_business_day_at

    friday = pendulum.datetime(2030, 7, 12, 20, tz="UTC")  # already Saturday in Asia/Kolkata? no: 01:30 Sat
    assert next_business_day_at(friday, "Asia/Kolkata", 11, 30) == "2030-07-15T11:30:00+05:30"
    assert next_business_day_at(pendulum.datetime(2030, 7, 10, 6, tz="UTC"), "UTC", 9) == "2030-07-11T09:00:00+00:00"


def test_pipeline_dag_books_one_meeting_per_row_and_summarises(dagbag, sandbox):
    run = run_dag(dagbag, "neetocal_pipeline")
    assert run.state == "success"
    with (EXAMPLE_DAGS / "data" / "attendees.csv").open(encoding="utf-8") as handle:
        emails = [row["email"] for row in csv.DictReader(handle)]
    assert sorted(b["email"] for b in sandbox.bookings) == sorted(emails)
    xcoms = xcoms_of("neetocal_pipeline", run.run_id)
    summary = xcoms[("summarise", -1, "return_value")]
    assert summary["failed"] == []
    assert {line["sid"] for line in summary["booked"]} == {b["sid"] for b in sandbox.bookings}
    mapped = {key[1] for key in xcoms if key[0] == "create_booking" and key[2] == "return_value"}
    assert mapped == set(range(len(emails)))


def test_pipeline_dag_reports_a_bad_row_as_failed_and_sends_nothing_for_it(dagbag, sandbox, tmp_path: Path):
    rows = tmp_path / "attendees.csv"
    rows.write_text(
        "name,email,slot_date,slot_start_time,time_zone,language\n"
        "Good Row,good@example.com,2030-07-15,10:00 AM,Asia/Kolkata,English\n"
        "Bad Row,bad@example.com,2030-02-30,10:00 AM,Asia/Kolkata,English\n",
        encoding="utf-8",
    )
    run = run_dag(dagbag, "neetocal_pipeline", run_conf={"attendees_csv": str(rows)})
    summary = xcoms_of("neetocal_pipeline", run.run_id)[("summarise", -1, "return_value")]
    assert [line["email"] for line in summary["booked"]] == ["good@example.com"]
    assert summary["failed"] == [{"email": "bad@example.com"}]
    posts = [r for r in sandbox.requests if r.method == "POST"]
    assert [p.json["email"] for p in posts] == ["good@example.com"]


def forget_sync(uri: str) -> None:
    """Delete a sync's ownership from the asset state store: each test's sandbox is a new workspace."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        ids = [a.id for a in session.query(AssetModel).filter(AssetModel.uri == uri).all()]
        if ids:
            session.query(AssetStateStoreModel).filter(AssetStateStoreModel.asset_id.in_(ids)).delete()


@requires_airflow("3.3.0", "the sync keeps its ownership in the asset state store")
def test_daily_sync_dag_plans_checks_and_applies_then_a_second_day_sends_nothing(dagbag, sandbox):
    forget_sync("neetocal://neetocal_default/sync/onboarding-calls")
    run = run_dag(dagbag, "neetocal_daily_sync")
    assert run.state == "success"
    with (EXAMPLE_DAGS / "data" / "onboarding_calls.csv").open(encoding="utf-8") as handle:
        emails = sorted(row["email"] for row in csv.DictReader(handle))
    assert sorted(b["email"] for b in sandbox.bookings) == emails
    xcoms = xcoms_of("neetocal_daily_sync", run.run_id)
    assert xcoms[("plan", -1, "return_value")]["counts"]["create"] == len(emails)
    assert xcoms[("apply", -1, "return_value")]["applied"] == {"writes": len(emails), "failed": 0}
    writes = [r for r in sandbox.requests if r.method != "GET"]

    run = run_dag(dagbag, "neetocal_daily_sync")

    assert run.state == "success"
    assert [r for r in sandbox.requests if r.method != "GET"] == writes
    assert xcoms_of("neetocal_daily_sync", run.run_id)[("plan", -1, "return_value")]["counts"]["unchanged"] == len(
        emails
    )


@pytest.mark.skipif(AIRFLOW_V_3_3_PLUS, reason="before Airflow 3.3 only")
def test_daily_sync_dag_fails_before_airflow_3_3_having_sent_nothing(dagbag, sandbox):
    run = run_dag(dagbag, "neetocal_daily_sync")
    assert run.state == "failed"
    assert sandbox.requests == []


def test_running_the_dags_leaks_no_api_key_into_xcom(dagbag, sandbox):
    run = run_dag(dagbag, "neetocal_manual_booking", run_conf={"slot_start": "2030-07-16T11:00:00+05:30"})
    assert run.state == "success"
    assert TEST_API_KEY not in repr(xcoms_of("neetocal_manual_booking", run.run_id))


@pytest.mark.parametrize(
    ("typed", "accepted"),
    [
        ("11:00", True),
        ("11:00 pm", True),
        ("23:59", True),
        ("", True),
        ("24:00", False),
        ("7:5", False),
        ("noon", False),
    ],
)
def test_the_manual_form_checks_the_start_time_when_the_run_is_triggered(dagbag, typed: str, accepted: bool) -> None:
    """As the Date field is (format=date): a time the task would refuse never becomes a run."""
    import copy

    params = copy.deepcopy(dagbag.get_dag("neetocal_manual_booking").params)
    if accepted:
        params["slot_start_time"] = typed
        assert params.validate()["slot_start_time"] == typed
    else:
        with pytest.raises(Exception, match="slot_start_time"):  # ParamValidationError, whose home differs per version
            params["slot_start_time"] = typed  # ParamsDict checks a value as it is set
