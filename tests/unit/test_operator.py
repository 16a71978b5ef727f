"""NeetoCalCreateBookingOperator without a metadata DB: payload, XComs, validation, templating, link."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.exceptions import NeetoCalValidationError
from airflow_provider_neetocal.links import NeetoCalBookingLink
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.lifecycle import NeetoCalRescheduleBookingOperator
from tests.compat import DAG
from tests.conftest import TEST_API_KEY

API = "https://acme.neetocal.com/api/external/v1"
BOOKING = {
    "id": "0b9f7c1e-6c1d-4a8e-9d55-2f1f9a8e1b11",
    "sid": "8sqtzrs",
    "status": "confirmed",
    "starts_at": "2030-07-15T08:00:00.000Z",
    "admin_booking_url": "https://acme.neetocal.com/admin/bookings/8sqtzrs",
}
ARGS: dict[str, Any] = {
    "meeting_slug": "meeting-with-oliver-smith",
    "name": "Eve Smith",
    "attendee_email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
}


class RecordingTI:
    """The slice of a task instance the operator touches: ``try_number`` and ``xcom_push``."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def context(neetocal_conn) -> dict[str, Any]:
    neetocal_conn("acme")
    return {"ti": RecordingTI()}


def make_operator(**overrides: Any) -> NeetoCalCreateBookingOperator:
    return NeetoCalCreateBookingOperator(task_id="book", **{**ARGS, **overrides})


MEETING = {"id": "m-1", "sid": "abc", "slug": "meeting-with-oliver-smith", "name": "Meeting with Oliver Smith"}


def mock_lookup(m: rm.Mocker, *bookings: dict[str, Any]) -> None:
    """Answer the look-up that precedes a create: the meeting by slug, the attendee's bookings."""
    m.get(f"{API}/meetings", json={"meetings": [MEETING], "pagination": {"total_pages": 1}})
    m.get(f"{API}/bookings", json={"bookings": list(bookings), "pagination": {"total_pages": 1}})


def test_execute_posts_the_built_payload_and_returns_the_booking(context):
    operator = make_operator(
        slot_start="2030-07-15T08:00:00+00:00",
        preferred_meeting_spot="zoom",
        form_responses={"guest_email_s": ["sam@example.com"], "language": "English"},
    )
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        result = operator.execute(context)
    assert result == BOOKING
    assert m.last_request.json() == {
        "meeting_slug": "meeting-with-oliver-smith",
        "name": "Eve Smith",
        "email": "eve@example.com",
        "time_zone": "Asia/Kolkata",
        "slot_date": "2030-07-15",
        "slot_start_time": "01:30 PM",
        "preferred_meeting_spot": "zoom",
        "form_responses": {"guest_email_s": ["sam@example.com"], "language": "English"},
    }


def test_execute_pushes_booking_sid_and_url(context):
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        make_operator().execute(context)
    assert context["ti"].xcoms == {"booking_sid": "8sqtzrs", "booking_url": BOOKING["admin_booking_url"]}


def test_absent_slot_lets_neetocal_pick_the_first_free_slot(context):
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        make_operator(slot_start="None", preferred_meeting_spot="").execute(context)
    assert set(m.last_request.json()) == {"meeting_slug", "name", "email", "time_zone"}
    # A first try of a slot-less request only lists the attendee's bookings (so that a lost answer
    # can be told from them later), then books.
    assert [r.method for r in m.request_history] == ["GET", "POST"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"attendee_email": "not-an-email"}, "attendee_email"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"slot_date": "2030-02-30", "slot_start_time": "10:00 AM"}, "slot_date"),
        ({"slot_date": "2030-02-03"}, "slot_start_time"),
        ({"slot_start": "2030-07-15T08:00:00Z", "slot_date": "2030-07-15"}, "slot_start"),
        ({"preferred_meeting_spot": "skype"}, "preferred_meeting_spot"),
        ({"form_responses": "{not json"}, "form_responses"),
    ],
)
def test_invalid_arguments_fail_without_retries_and_send_nothing(context, overrides, field):
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as caught:
        make_operator(**overrides).execute(context)
    assert m.call_count == 0
    assert isinstance(caught.value, AirflowFailException)
    assert field in caught.value.fields
    assert field in str(caught.value)
    assert context["ti"].xcoms == {}


def test_attendee_email_never_becomes_the_failure_alert_address():
    operator = make_operator()
    assert operator.attendee_email == "eve@example.com"
    assert not operator.email


def test_every_payload_argument_is_templated():
    payload_args = {
        "meeting_slug",
        "attendee_name",
        "attendee_email",
        "time_zone",
        "slot_start",
        "slot_date",
        "slot_start_time",
        "preferred_meeting_spot",
        "form_responses",
        "metadata",
    }
    assert payload_args <= set(NeetoCalCreateBookingOperator.template_fields)
    assert NeetoCalCreateBookingOperator.template_fields_renderers["form_responses"] == "json"


def test_templates_render_from_params_ds_and_upstream_values(context):
    with DAG("templating", schedule=None, start_date=pendulum.datetime(2030, 1, 1)):
        operator = make_operator(
            name="{{ params.name }}",
            attendee_email="{{ params.email }}",
            slot_date="{{ ds }}",
            slot_start_time="{{ params.time }}",
            form_responses='{"language": "{{ params.language }}"}',
        )
    render_context = {
        **context,
        "params": {"name": "Ada", "email": "ada@example.com", "time": "13:30", "language": "Tamil"},
        "ds": "2030-07-15",
    }
    operator.render_template_fields(render_context)
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        operator.execute(render_context)
    assert m.last_request.json() | {} == {
        **m.last_request.json(),
        "name": "Ada",
        "email": "ada@example.com",
        "slot_date": "2030-07-15",
        "slot_start_time": "01:30 PM",
        "form_responses": {"language": "Tamil"},
    }


def test_one_log_line_per_booking_and_no_key_anywhere(context, log_output):
    operator = make_operator(slot_date="2030-07-15", slot_start_time="01:30 PM")
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        result = operator.execute(context)
    logs = log_output()
    created = [line for line in logs.splitlines() if "Created NeetoCal booking" in line]
    assert len(created) == 1
    assert "8sqtzrs for meeting meeting-with-oliver-smith starting 2030-07-15T08:00:00.000Z" in created[0]
    assert TEST_API_KEY not in logs
    assert TEST_API_KEY not in json.dumps([result, context["ti"].xcoms])


def test_on_kill_closes_the_session(context):
    operator = make_operator()
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        operator.execute(context)
    with mock.patch.object(operator.hook.session, "close") as close:
        operator.on_kill()
    close.assert_called_once()


def test_booking_link_reads_the_url_xcom():
    link = NeetoCalBookingLink()
    ti_key = mock.Mock(dag_id="d", task_id="book", run_id="r", map_index=-1)
    with mock.patch("airflow_provider_neetocal.links.XCom.get_value", return_value="https://x/admin/bookings/1") as get:
        assert link.get_link(make_operator(), ti_key=ti_key) == "https://x/admin/bookings/1"
    get.assert_called_once_with(ti_key=ti_key, key="booking_url")
    assert link.name == "NeetoCal booking"


def test_booking_link_is_empty_before_a_booking_exists():
    with mock.patch("airflow_provider_neetocal.links.XCom.get_value", return_value=None):
        assert NeetoCalBookingLink().get_link(make_operator(), ti_key=mock.Mock()) == ""


def test_operator_carries_the_booking_link():
    assert any(isinstance(link, NeetoCalBookingLink) for link in NeetoCalCreateBookingOperator.operator_extra_links)


def test_attendee_email_alias_leaves_email_to_airflow_alerts():
    operator = make_operator(email="oncall@example.com", attendee_email="eve@example.com")
    assert operator.attendee_email == "eve@example.com"
    assert operator.email == "oncall@example.com"


# ---- attendee_email, not Airflow's email -------------------------------------------------------


def test_default_args_email_stays_the_alert_address_and_attendee_email_is_booked(context):
    with DAG(
        "alerts",
        schedule=None,
        start_date=pendulum.datetime(2030, 1, 1),
        default_args={"email": "oncall@example.com"},
    ):
        operator = make_operator(slot_date="2030-07-15", slot_start_time="01:30 PM")
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(f"{API}/bookings", json=BOOKING)
        operator.execute(context)
    (post,) = [r for r in m.request_history if r.method == "POST"]
    assert post.json()["email"] == "eve@example.com"
    assert "oncall@example.com" not in json.dumps([r.qs for r in m.request_history])
    assert operator.email == "oncall@example.com"
    assert operator.attendee_email == "eve@example.com"


def test_only_email_given_is_refused_naming_attendee_email_and_sends_nothing(context):
    arguments = {k: v for k, v in ARGS.items() if k != "attendee_email"}
    operator = NeetoCalCreateBookingOperator(task_id="book", email="eve@example.com", **arguments)
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as caught:
        operator.execute(context)
    assert m.call_count == 0
    assert caught.value.fields == ["attendee_email"]
    assert str(caught.value).startswith("Invalid NeetoCal booking argument attendee_email=None: required")
    assert "email='eve@example.com' is Airflow's failure-alert address" in str(caught.value)
    assert context["ti"].xcoms == {}


def test_default_args_email_alone_never_becomes_the_attendee(context):
    arguments = {k: v for k, v in ARGS.items() if k != "attendee_email"}
    with DAG(
        "alerts_only",
        schedule=None,
        start_date=pendulum.datetime(2030, 1, 1),
        default_args={"email": "oncall@example.com"},
    ):
        operator = NeetoCalCreateBookingOperator(task_id="book", **arguments)
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as caught:
        operator.execute(context)
    assert m.call_count == 0
    assert caught.value.fields == ["attendee_email"]
    assert "'oncall@example.com' is Airflow's failure-alert address" in str(caught.value)


RESCHEDULE_ARGS: dict[str, Any] = {
    "booking_sid": "8sqtzrs",
    "name": "Eve Smith",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-16",
    "slot_start_time": "01:30 PM",
}


def test_reschedule_only_email_given_is_refused_naming_attendee_email_and_sends_nothing(context):
    operator = NeetoCalRescheduleBookingOperator(task_id="move", email="eve@example.com", **RESCHEDULE_ARGS)
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as caught:
        operator.execute(context)
    assert m.call_count == 0
    assert caught.value.fields == ["attendee_email"]
    assert "failure-alert address" in str(caught.value)


def test_reschedule_sends_attendee_email_and_keeps_default_args_email_for_alerts(context):
    with DAG(
        "alerts_reschedule",
        schedule=None,
        start_date=pendulum.datetime(2030, 1, 1),
        default_args={"email": "oncall@example.com"},
    ):
        operator = NeetoCalRescheduleBookingOperator(
            task_id="move", attendee_email="eve@example.com", **RESCHEDULE_ARGS
        )
    moved = {**BOOKING, "starts_at": "2030-07-16T08:00:00.000Z"}
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/8sqtzrs", json=BOOKING)
        m.patch(f"{API}/bookings/8sqtzrs", json=moved)
        assert operator.execute(context) == moved
    assert m.last_request.method == "PATCH"
    assert m.last_request.json()["email"] == "eve@example.com"
    assert operator.email == "oncall@example.com"
