"""Issue 20's bad inputs: each fails before any request, naming the field, the problem and the expected form.

HTTP is mocked at the ``requests`` layer (``requests_mock``, which refuses any request not registered),
so "nothing was sent" is ``m.request_history == []``. The same cases over real HTTP against the
sandbox are in ``tests/integration/test_bad_input_reaches_nothing.py``.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_neetocal.booking import build_booking_payload
from airflow_provider_neetocal.booking_wait import checked_wait, statuses_in_text
from airflow_provider_neetocal.exceptions import NeetoCalValidationError
from airflow_provider_neetocal.operators.read import NeetoCalFindSlotsOperator, NeetoCalListBookingsOperator
from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.compat import DAG

API = "https://acme.neetocal.com/api/external/v1"


@pytest.fixture
def acme(neetocal_conn) -> None:
    neetocal_conn("acme")


def refusal(run: Any) -> NeetoCalValidationError:
    with pytest.raises(NeetoCalValidationError) as caught:
        run()
    return caught.value


def executed_without_requests(operator: Any) -> NeetoCalValidationError:
    """Run ``operator`` with every request refused by the mock; return its validation error."""
    with rm.Mocker() as m:
        error = refusal(lambda: operator.execute({"ti": mock.MagicMock()}))
    assert m.request_history == []
    return error


# --- NeetoCalFindSlotsOperator -------------------------------------------------------------------


def find_slots(**overrides: Any) -> NeetoCalFindSlotsOperator:
    arguments = {
        "meeting_slug": "quick-sync",
        "date_from": "2030-01-08",
        "date_to": "2030-01-08",
        "time_zone": "UTC",
        **overrides,
    }
    return NeetoCalFindSlotsOperator(task_id="slots", **arguments)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "utc+5", "localtime", "None", "", 5])
def test_find_slots_refuses_an_unknown_time_zone_before_sending(acme, zone: Any) -> None:
    error = executed_without_requests(find_slots(time_zone=zone))

    assert error.fields == ["time_zone"]
    assert "expected an IANA time zone name such as 'Asia/Kolkata'" in str(error)


@pytest.mark.parametrize("slug", ["None", " None ", "", None, "a/b", "../admin", "quick sync", 7])
def test_find_slots_refuses_a_meeting_slug_that_is_empty_rendered_none_or_changes_the_path(acme, slug: Any) -> None:
    error = executed_without_requests(find_slots(meeting_slug=slug))

    assert error.fields == ["meeting_slug"]
    assert "meeting-with-oliver-smith" in str(error)  # the expected form, by example


def test_find_slots_says_a_rendered_none_slug_is_an_empty_upstream_value(acme) -> None:
    error = executed_without_requests(find_slots(meeting_slug="None"))

    assert "empty template or xcom_pull" in str(error)


@pytest.mark.parametrize("limit", [True, False, 0, -1, "3", 2.0])
def test_find_slots_refuses_a_limit_that_is_not_a_whole_number_of_at_least_one(acme, limit: Any) -> None:
    error = executed_without_requests(find_slots(limit=limit))

    assert error.fields == ["limit"]
    assert "expected a whole number of at least 1" in str(error)


def test_find_slots_names_every_bad_argument_at_once(acme) -> None:
    error = executed_without_requests(
        find_slots(meeting_slug="None", time_zone="Nowhere", date_to="2029-01-01", limit=True)
    )

    assert sorted(error.fields) == ["date_to", "limit", "meeting_slug", "time_zone"]


def slots_answer(day: str, times: list[str]) -> dict[str, Any]:
    return {"slots": [{"date": day, "slots": {t: {"available_spots": 1} for t in times}}]}


def test_find_slots_leaves_out_times_a_dst_fall_back_repeats_so_every_row_books(acme) -> None:
    """2030-11-03 in New York: 01:00-01:59 happens twice; a create refuses those as ambiguous."""
    day = "2030-11-03"
    times = ["12:30 AM", "01:00 AM", "01:30 AM", "02:00 AM", "09:00 AM"]
    operator = find_slots(date_from=day, date_to=day, time_zone="America/New_York")
    with rm.Mocker() as m:
        m.get(f"{API}/slots/quick-sync", json=slots_answer(day, times))
        rows = operator.execute({"ti": mock.MagicMock()})

    assert [row["slot_start_time"] for row in rows] == ["12:30 AM", "02:00 AM", "09:00 AM"]
    for row in rows:  # the create and bulk operators build their payloads with this
        build_booking_payload(**row, name="Ada", email="ada@example.com")


def test_find_slots_leaves_out_times_a_dst_spring_forward_skips(acme) -> None:
    day = "2030-03-10"
    operator = find_slots(date_from=day, date_to=day, time_zone="America/New_York")
    with rm.Mocker() as m:
        m.get(f"{API}/slots/quick-sync", json=slots_answer(day, ["01:30 AM", "02:30 AM", "03:00 AM"]))
        rows = operator.execute({"ti": mock.MagicMock()})

    assert [row["slot_start_time"] for row in rows] == ["01:30 AM", "03:00 AM"]


def test_find_slots_rows_carry_the_canonical_zone_name_the_create_sends(acme) -> None:
    operator = find_slots(time_zone=" utc ")
    with rm.Mocker() as m:
        m.get(f"{API}/slots/quick-sync", json=slots_answer("2030-01-08", ["09:00 AM"]))
        rows = operator.execute({"ti": mock.MagicMock()})

    assert rows == [
        {"meeting_slug": "quick-sync", "slot_date": "2030-01-08", "slot_start_time": "09:00 AM", "time_zone": "UTC"}
    ]
    assert "time_zone=UTC" in m.last_request.url


# --- NeetoCalListBookingsOperator ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["client_email", "host_email"])
@pytest.mark.parametrize("address", ["not-an-email", "eve@", "@example.com", 42])
def test_list_bookings_refuses_an_address_that_is_not_one_instead_of_listing_nothing(
    acme, field: str, address: Any
) -> None:
    error = executed_without_requests(NeetoCalListBookingsOperator(task_id="list", **{field: address}))

    assert error.fields == [field]
    assert "expected an email address like 'eve@example.com'" in str(error)


@pytest.mark.parametrize("most", ["10", 0, -5, True, 2.5, None])
def test_list_bookings_refuses_a_bad_xcom_bound_before_listing(acme, most: Any) -> None:
    error = executed_without_requests(NeetoCalListBookingsOperator(task_id="list", max_xcom_bookings=most))

    assert error.fields == ["max_xcom_bookings"]
    assert "expected a whole number of 1 or more (a number, not text), e.g. 1000" in str(error)


def test_list_bookings_names_every_bad_argument_at_once(acme) -> None:
    operator = NeetoCalListBookingsOperator(
        task_id="list", type="future", client_email="x", host_email="y@", max_xcom_bookings="10"
    )

    error = executed_without_requests(operator)

    assert error.fields == ["type", "client_email", "host_email", "max_xcom_bookings"]


def test_list_bookings_sends_a_valid_address_as_given(acme) -> None:
    operator = NeetoCalListBookingsOperator(task_id="list", client_email=" Eve@Example.com ", max_xcom_bookings=5)
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json={"bookings": [], "pagination": {"total_pages": 1, "page_number": 1}})
        assert operator.execute({"ti": mock.MagicMock()}) == []

    assert m.last_request.qs["client_email"] == ["eve@example.com"]  # requests_mock lower-cases the query


def test_the_hook_refuses_an_email_filter_that_is_not_an_address_before_sending(acme) -> None:
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    with rm.Mocker() as m:
        error = refusal(lambda: list(NeetoCalHook().list_bookings(client_email="not-an-email")))
    assert m.request_history == []
    assert error.fields == ["client_email"]


# --- NeetoCalBookingSensor -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("cancelled", {"cancelled"}),
        ("confirmed, cancelled", {"confirmed", "cancelled"}),
        ("confirmed,", {"confirmed"}),
        ("['confirmed', 'awaiting_approval']", {"confirmed", "awaiting_approval"}),
        ('["rejected"]', {"rejected"}),
        (["confirmed"], {"confirmed"}),
        (("cancelled",), {"cancelled"}),
    ],
)
def test_sensor_reads_a_string_of_statuses_as_statuses_not_characters(given: Any, expected: set[str]) -> None:
    sensor = NeetoCalBookingSensor(task_id="wait", booking_sid="abc1234", target_statuses=given)

    assert sensor._spec().target_statuses == frozenset(expected)


def test_sensor_reads_a_jinja_rendered_list_of_statuses() -> None:
    with DAG("statuses", schedule=None, start_date=pendulum.datetime(2030, 1, 1)):
        sensor = NeetoCalBookingSensor(task_id="wait", booking_sid="abc1234", target_statuses="{{ params.statuses }}")
    sensor.render_template_fields({"params": {"statuses": ["cancelled", "rejected"]}})

    assert sensor.target_statuses == "['cancelled', 'rejected']"
    assert sensor._spec().target_statuses == frozenset({"cancelled", "rejected"})


@pytest.mark.parametrize("given", ["None", "[1, 2]", "['confirmed'", "c,a,n"])
def test_sensor_refuses_a_string_that_names_no_status_naming_the_field(given: str) -> None:
    error = refusal(lambda: checked_wait("status", given))

    assert error.fields == ["target_statuses"]
    assert "expected some of awaiting_approval, cancelled, confirmed, rejected" in str(error)


def test_an_empty_status_string_is_no_status() -> None:
    assert statuses_in_text("  ") == []
    assert refusal(lambda: checked_wait("status", "")).fields == ["target_statuses"]


def test_a_refused_status_string_sends_nothing(acme) -> None:
    sensor = NeetoCalBookingSensor(task_id="wait", booking_sid="abc1234", target_statuses="cancelld")
    with rm.Mocker() as m:
        error = refusal(lambda: sensor.poke({"ti": mock.MagicMock()}))
    assert m.request_history == []
    assert "cancelld not a NeetoCal booking status" in str(error)


# --- NeetoCalBookingEventTrigger -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field", "expected"),
    [
        ({"api_version": "v9"}, "api_version", "expected one of v1, v2"),
        ({"api_version": 2}, "api_version", "expected one of v1, v2"),
        ({"meeting_slug": "a/b"}, "meeting_slug", "not a URL slug"),
        ({"meeting_slug": "None"}, "meeting_slug", "empty template or xcom_pull"),
        ({"meeting_slug": ""}, "meeting_slug", "required"),
        ({"neetocal_conn_id": ""}, "neetocal_conn_id", "expected the id of a neetocal connection"),
        ({"neetocal_conn_id": "  "}, "neetocal_conn_id", "expected the id of a neetocal connection"),
        ({"neetocal_conn_id": None}, "neetocal_conn_id", "expected the id of a neetocal connection"),
        ({"neetocal_conn_id": " neetocal_default"}, "neetocal_conn_id", "without surrounding spaces"),
    ],
)
def test_the_event_trigger_refuses_bad_arguments_when_built(arguments: dict[str, Any], field: str, expected: str):
    error = refusal(lambda: NeetoCalBookingEventTrigger(**arguments))

    assert error.fields == [field]
    assert expected in str(error)


@pytest.mark.parametrize(
    "arguments",
    [{}, {"api_version": "v2"}, {"api_version": "V1"}, {"api_version": None}, {"meeting_slug": "quick-sync"}],
)
def test_the_event_trigger_accepts_good_arguments_and_serialises_them_as_given(arguments: dict[str, Any]) -> None:
    _classpath, kwargs = NeetoCalBookingEventTrigger(**arguments).serialize()

    assert kwargs.items() >= arguments.items()


# --- from a hostile review of these changes: templated values, default_args, odd types -------------------


def test_find_slots_leaves_out_a_half_hour_dst_repeat_too(acme) -> None:
    """Lord Howe Island goes back 30 minutes: 01:30-01:59 happens twice on 2030-04-07."""
    day = "2030-04-07"
    operator = find_slots(date_from=day, date_to=day, time_zone="Australia/Lord_Howe")
    with rm.Mocker() as m:
        m.get(f"{API}/slots/quick-sync", json=slots_answer(day, ["01:00 AM", "01:30 AM", "01:45 AM", "02:00 AM"]))
        rows = operator.execute({"ti": mock.MagicMock()})

    assert [row["slot_start_time"] for row in rows] == ["01:00 AM", "02:00 AM"]


def test_find_slots_takes_a_pendulum_zone_and_a_slug_with_spaces_as_a_create_would(acme) -> None:
    operator = find_slots(meeting_slug=" quick-sync ", time_zone=pendulum.timezone("Europe/Paris"))
    with rm.Mocker() as m:
        m.get(f"{API}/slots/quick-sync", json=slots_answer("2030-01-08", ["09:00 AM"]))
        (row,) = operator.execute({"ti": mock.MagicMock()})

    assert row["meeting_slug"] == "quick-sync"
    assert row["time_zone"] == "Europe/Paris"
    build_booking_payload(**row, name="Ada", email="ada@example.com")


def test_find_slots_limit_and_rows_from_default_args_are_checked_too(acme) -> None:
    with DAG("slots_defaults", schedule=None, start_date=pendulum.datetime(2030, 1, 1), default_args={"limit": True}):
        operator = find_slots()

    assert executed_without_requests(operator).fields == ["limit"]


def test_find_slots_refuses_a_templated_slug_that_rendered_none(acme) -> None:
    with DAG("slots_templated", schedule=None, start_date=pendulum.datetime(2030, 1, 1)):
        operator = find_slots(meeting_slug="{{ ti.xcom_pull('pick') }}")

    class UpstreamPushedNothing:
        def xcom_pull(self, task_ids: str) -> None:
            return None

    operator.render_template_fields({"ti": UpstreamPushedNothing()})

    assert operator.meeting_slug == "None"
    assert executed_without_requests(operator).fields == ["meeting_slug"]


def test_sensor_statuses_from_default_args_as_a_string_are_statuses() -> None:
    with DAG(
        "sensor_defaults",
        schedule=None,
        start_date=pendulum.datetime(2030, 1, 1),
        default_args={"target_statuses": "cancelled, rejected"},
    ):
        sensor = NeetoCalBookingSensor(task_id="wait", booking_sid="abc1234")

    assert sensor._spec().target_statuses == frozenset({"cancelled", "rejected"})


@pytest.mark.parametrize("given", ["['cancelled', 'rejected']", "('cancelled',)", "{'cancelled'}"])
def test_sensor_reads_only_a_list_literal_not_any_python(given: str) -> None:
    """``ast.literal_eval`` of a bracketed string only; a tuple or set in text is refused by name."""
    if given.startswith("["):
        assert checked_wait("status", given).target_statuses == frozenset({"cancelled", "rejected"})
    else:
        assert refusal(lambda: checked_wait("status", given)).fields == ["target_statuses"]


def test_a_huge_bracketed_status_string_is_refused_not_evaluated_forever() -> None:
    given = "[" * 10_000 + "]" * 10_000

    assert refusal(lambda: checked_wait("status", given)).fields == ["target_statuses"]


def test_the_create_operator_still_refuses_a_bad_if_exists_when_built_even_from_default_args() -> None:
    from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

    with (
        pytest.raises(ValueError, match=r"if_exists='maybe': expected one of reuse, fail, create"),
        DAG(
            "if_exists_defaults",
            schedule=None,
            start_date=pendulum.datetime(2030, 1, 1),
            default_args={"if_exists": "maybe"},
        ),
    ):
        NeetoCalCreateBookingOperator(
            task_id="book", meeting_slug="m", name="n", attendee_email="e@example.com", time_zone="UTC"
        )
    with pytest.raises(ValueError, match="expected one of"):
        NeetoCalCreateBookingOperator(
            task_id="book", meeting_slug="m", name="n", attendee_email="e@example.com", time_zone="UTC", if_exists=[]
        )


def test_list_bookings_logs_which_filters_it_applied_so_a_rendered_none_is_visible(acme, log_output) -> None:
    """client_email="None" (an empty upstream XCom) means "not filtered", as for every optional argument."""
    operator = NeetoCalListBookingsOperator(task_id="list", client_email="None")
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json={"bookings": [], "pagination": {"total_pages": 1, "page_number": 1}})
        operator.execute({"ti": mock.MagicMock()})

    assert "client_email" not in m.last_request.qs
    assert "client_email=None, host_email=None; None: not filtered" in log_output()
