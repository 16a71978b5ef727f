"""NeetoCalCreateBookingOperator books exactly once: look-ups before (re-)sending, adoption, if_exists.

requests-mock stands in for NeetoCal; the hook's ``_sleep`` is replaced by a recorder, so the
settle wait is observed instead of slept.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import requests
import requests_mock as rm

from airflow_provider_neetocal._compat import AirflowException, AirflowFailException
from airflow_provider_neetocal.exceptions import (
    NeetoCalBookingExistsError,
    NeetoCalClientError,
    NeetoCalOutcomeUnknownError,
)
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

API = "https://acme.neetocal.com/api/external/v1"
BOOKINGS = f"{API}/bookings"
MEETINGS = f"{API}/meetings"
SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "sid": "abc", "slug": SLUG, "name": "Meeting with Oliver Smith"}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")
#: Eve with Oliver, 2030-07-15 01:30 PM Asia/Kolkata (08:00 UTC), created during the DAG run.
BOOKING: dict[str, Any] = {
    "id": "0b9f7c1e-6c1d-4a8e-9d55-2f1f9a8e1b11",
    "sid": "8sqtzrs",
    "email": "eve@example.com",
    "name": "Eve Smith",
    "status": "confirmed",
    "meeting_id": "m-1",
    "meeting": {"name": "Meeting with Oliver Smith"},
    "starts_at": "2030-07-15T08:00:00.000Z",
    "created_at": "2030-07-01T12:00:05.000Z",
    "admin_booking_url": "https://acme.neetocal.com/admin/bookings/8sqtzrs",
}
BEFORE_THE_RUN = {**BOOKING, "sid": "old1234", "created_at": "2030-06-30T09:00:00.000Z"}
ARGS: dict[str, Any] = {
    "meeting_slug": SLUG,
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
SLOT_TAKEN = {"error": "The selected slot is not available: already booked"}
GATEWAY = {
    "status_code": 502,
    "text": "<html><title>502 Bad Gateway</title></html>",
    "headers": {"Content-Type": "text/html"},
}


class RecordingTI:
    """The slice of a task instance the operator touches: ``try_number`` and ``xcom_push``."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture(autouse=True)
def _connection(neetocal_conn) -> None:
    neetocal_conn("acme")


def context_for(try_number: int = 1, run_start: Any = RUN_START) -> dict[str, Any]:
    return {"ti": RecordingTI(try_number), "dag_run": SimpleNamespace(start_date=run_start)}


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_operator(sleeps: list[float], **overrides: Any) -> NeetoCalCreateBookingOperator:
    operator = NeetoCalCreateBookingOperator(task_id="book", **{**ARGS, **overrides})
    operator.hook._sleep = sleeps.append
    return operator


def listing(*bookings: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"bookings": list(bookings), "pagination": {"total_pages": 1}}}


def mock_meetings(m: rm.Mocker, *meetings: dict[str, Any]) -> None:
    found = list(meetings) if meetings else [MEETING]
    m.get(MEETINGS, json={"meetings": found, "pagination": {"total_pages": 1}})


def mock_listings(m: rm.Mocker, *answers: list[dict[str, Any]]) -> None:
    """Answer successive ``GET /bookings`` with these booking lists (the last one repeats)."""
    m.get(BOOKINGS, [listing(*bookings) for bookings in answers])


def calls(m: rm.Mocker, method: str, url: str = BOOKINGS) -> int:
    return sum(1 for r in m.request_history if r.method == method and r.url.split("?")[0] == url)


def methods(m: rm.Mocker) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/api/external/v1')}" for r in m.request_history]


# ---- if_exists="reuse" (the default) -----------------------------------------------------------


def test_reuse_is_the_default():
    assert NeetoCalCreateBookingOperator(task_id="t", **ARGS).if_exists == "reuse"


def test_reuse_adopts_an_existing_booking_without_posting(sleeps):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN])
        result = make_operator(sleeps).execute(context)
    assert result == BEFORE_THE_RUN
    assert calls(m, "POST") == 0
    assert methods(m) == ["GET /meetings", "GET /bookings"]
    assert m.request_history[-1].qs["client_email"] == ["eve@example.com"]


def test_reuse_pushes_the_same_xcoms_as_a_fresh_create(sleeps):
    fresh, adopted = context_for(), context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, json=BOOKING)
        created = make_operator(sleeps).execute(fresh)
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        recovered = make_operator(sleeps).execute(adopted)
        assert calls(m, "POST") == 0
    assert created == recovered == BOOKING
    assert (
        fresh["ti"].xcoms
        == adopted["ti"].xcoms
        == {
            "booking_sid": "8sqtzrs",
            "booking_url": BOOKING["admin_booking_url"],
        }
    )


def test_reuse_logs_that_the_booking_was_recovered_not_created(sleeps, log_output):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        make_operator(sleeps).execute(context_for())
    logs = log_output()
    assert "Recovered existing (not created again): NeetoCal booking 8sqtzrs" in logs
    assert "Created NeetoCal booking" not in logs


def test_reuse_ignores_a_cancelled_booking_and_creates_a_new_one(sleeps, log_output):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [{**BEFORE_THE_RUN, "status": "cancelled"}])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps).execute(context_for()) == BOOKING
    assert calls(m, "POST") == 1
    assert "Created NeetoCal booking 8sqtzrs" in log_output()


def test_reuse_posts_when_the_attendee_has_only_other_slots(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [{**BOOKING, "sid": "other11", "starts_at": "2030-07-15T08:30:00.000Z"}])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps).execute(context_for())["sid"] == "8sqtzrs"
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]


def test_reuse_of_a_slotless_payload_ignores_bookings_from_before_the_run(sleeps):
    slotless = {"slot_date": None, "slot_start_time": None}
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, **slotless).execute(context_for())["sid"] == "8sqtzrs"
        assert calls(m, "POST") == 1


def test_reuse_of_a_slotless_payload_adopts_a_booking_made_during_the_run(sleeps):
    slotless = {"slot_date": None, "slot_start_time": None}
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN, {**BOOKING, "starts_at": "2030-07-02T03:00:00.000Z"}])
        assert make_operator(sleeps, **slotless).execute(context_for())["sid"] == "8sqtzrs"
        assert calls(m, "POST") == 0


# ---- if_exists="create" ------------------------------------------------------------------------


def test_create_sends_no_lookup_on_the_first_try(sleeps):
    with rm.Mocker() as m:
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, if_exists="create").execute(context_for(1)) == BOOKING
    assert methods(m) == ["POST /bookings"]


def test_create_looks_up_on_an_airflow_retry_and_adopts(sleeps, log_output):
    context = context_for(2)
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        assert make_operator(sleeps, if_exists="create").execute(context) == BOOKING
    assert methods(m) == ["GET /meetings", "GET /bookings"]
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
    assert "Recovered existing (not created again)" in log_output()


def test_create_on_an_airflow_retry_posts_when_nothing_was_booked(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, if_exists="create").execute(context_for(3)) == BOOKING
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]


# ---- if_exists="fail" --------------------------------------------------------------------------


def test_fail_refuses_a_booking_made_before_the_dag_run_started(sleeps):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN])
        with pytest.raises(NeetoCalBookingExistsError) as raised:
            make_operator(sleeps, if_exists="fail").execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.booking == BEFORE_THE_RUN
    assert "old1234" in str(raised.value)
    assert "reuse" in str(raised.value)
    assert calls(m, "POST") == 0
    assert context["ti"].xcoms == {}


def test_fail_refuses_an_earlier_booking_on_a_retry_too(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN])
        with pytest.raises(NeetoCalBookingExistsError):
            make_operator(sleeps, if_exists="fail").execute(context_for(2))
        assert calls(m, "POST") == 0


def test_fail_on_a_first_try_refuses_even_a_booking_made_during_this_dag_run(sleeps):
    # On try 1 no earlier attempt of this task exists: the booking is someone else's (or a re-run's
    # moments ago, which the clock-skew allowance cannot tell apart).
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        with pytest.raises(NeetoCalBookingExistsError):
            make_operator(sleeps, if_exists="fail").execute(context_for(1))
        assert calls(m, "POST") == 0


def test_fail_on_a_retry_adopts_a_booking_made_during_this_dag_run(sleeps, log_output):
    context = context_for(2)
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        assert make_operator(sleeps, if_exists="fail").execute(context) == BOOKING
        assert calls(m, "POST") == 0
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
    assert "Recovered existing (not created again)" in log_output()


def test_fail_adopts_a_booking_made_at_the_very_instant_the_run_started(sleeps):
    at_start = {**BOOKING, "created_at": "2030-07-01T12:00:00.000Z"}
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [at_start])
        assert make_operator(sleeps, if_exists="fail").execute(context_for(2)) == at_start


def test_fail_creates_when_nothing_exists(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, if_exists="fail").execute(context_for()) == BOOKING
    assert calls(m, "POST") == 1


@pytest.mark.parametrize("value", ["REUSE", "skip", "", None, True])
def test_an_unknown_if_exists_is_refused_at_construction(value):
    with pytest.raises(ValueError, match="if_exists") as raised:
        NeetoCalCreateBookingOperator(task_id="t", if_exists=value, **ARGS)
    assert "reuse, fail, create" in str(raised.value)


# ---- unknown outcomes: look up before sending again --------------------------------------------


@pytest.mark.parametrize(
    "lost_answer",
    [
        pytest.param(GATEWAY, id="502-html"),
        pytest.param({"status_code": 500, "json": {"error": "Internal Server Error"}}, id="500"),
        pytest.param({"status_code": 504, "text": ""}, id="504-empty"),
        pytest.param({"exc": requests.exceptions.ReadTimeout("read timed out")}, id="read-timeout"),
        pytest.param({"exc": requests.exceptions.ConnectionError("Connection aborted")}, id="dropped"),
        pytest.param(
            {"status_code": 200, "text": '{"id": "0b9f', "headers": {"Content-Type": "application/json"}},
            id="truncated-json",
        ),
        pytest.param({"status_code": 200, "json": ["not", "an", "object"]}, id="non-object"),
    ],
)
def test_an_unknown_outcome_is_looked_up_and_adopted_with_one_post(sleeps, lost_answer, log_output):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [], [BOOKING])
        m.post(BOOKINGS, [lost_answer, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        result = make_operator(sleeps).execute(context)
    assert result == BOOKING
    assert calls(m, "POST") == 1
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings", "GET /bookings"]
    assert context["ti"].xcoms == {"booking_sid": "8sqtzrs", "booking_url": BOOKING["admin_booking_url"]}
    assert sleeps == []
    logs = log_output()
    assert "looking the booking up before sending anything again" in logs
    assert "Recovered existing (not created again): NeetoCal booking 8sqtzrs" in logs


def test_an_unknown_outcome_found_only_after_the_settle_wait_is_adopted(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [], [], [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        assert make_operator(sleeps).execute(context_for())["sid"] == "8sqtzrs"
    assert calls(m, "POST") == 1
    assert sleeps == [3.0]


def test_an_unknown_outcome_with_nothing_found_after_the_settle_wait_is_sent_again(sleeps, log_output):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [GATEWAY, {"json": BOOKING}])
        result = make_operator(sleeps).execute(context)
    assert result == BOOKING
    assert methods(m) == [
        "GET /meetings",
        "GET /bookings",  # if_exists="reuse", before the first POST
        "POST /bookings",  # 502: unknown outcome
        "GET /bookings",  # look-up
        "GET /bookings",  # again after the settle wait
        "POST /bookings",
    ]
    assert sleeps == [3.0]
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
    logs = log_output()
    assert "No booking was made by that attempt; sending it again" in logs
    assert "Created NeetoCal booking 8sqtzrs" in logs


def test_the_settle_wait_goes_through_the_hooks_sleep(sleeps):
    operator = make_operator(sleeps)
    assert operator.hook._sleep == sleeps.append
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [{"exc": requests.exceptions.ReadTimeout("read timed out")}, {"json": BOOKING}])
        operator.execute(context_for())
    assert sleeps == [3.0]


def test_unknown_outcomes_are_sent_at_most_three_times_then_the_task_fails_retryably(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, **GATEWAY)
        with pytest.raises(NeetoCalOutcomeUnknownError) as raised:
            make_operator(sleeps).execute(context_for())
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert calls(m, "POST") == 3
    assert sleeps == [3.0, 3.0, 3.0]


def test_an_unknown_outcome_then_slot_taken_is_looked_up_and_adopted(sleeps, log_output):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        # before the first POST, after the 502, after the settle wait, after the 422.
        mock_listings(m, [], [], [], [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"status_code": 422, "json": SLOT_TAKEN}])
        result = make_operator(sleeps).execute(context)
    assert result == BOOKING
    assert calls(m, "POST") == 2
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
    logs = log_output()
    assert "after an attempt with an unknown outcome; looking the booking up" in logs
    assert "Recovered existing (not created again)" in logs


def test_an_unknown_outcome_then_slot_taken_by_someone_else_fails_without_retries(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [GATEWAY, {"status_code": 422, "json": SLOT_TAKEN}])
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator(sleeps).execute(context_for())
    assert raised.value.status == 422
    assert isinstance(raised.value, AirflowFailException)
    assert "already booked" in str(raised.value)
    assert calls(m, "POST") == 2


def test_a_422_on_the_first_post_is_not_looked_up_again(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, status_code=422, json=SLOT_TAKEN)
        with pytest.raises(NeetoCalClientError):
            make_operator(sleeps).execute(context_for())
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]
    assert sleeps == []


def test_create_mode_also_looks_up_after_an_unknown_outcome(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        assert make_operator(sleeps, if_exists="create").execute(context_for())["sid"] == "8sqtzrs"
    assert methods(m) == ["POST /bookings", "GET /meetings", "GET /bookings"]


def test_a_refused_connection_is_retried_by_the_hook_without_a_lookup(sleeps):
    refused = requests.exceptions.ConnectTimeout("connect timed out")
    with rm.Mocker() as m:
        m.post(BOOKINGS, [{"exc": refused}, {"json": BOOKING}])
        assert make_operator(sleeps, if_exists="create").execute(context_for())["sid"] == "8sqtzrs"
    assert methods(m) == ["POST /bookings", "POST /bookings"]
    assert sleeps == [1.0]


def test_a_429_on_the_post_is_waited_out_and_is_not_an_unknown_outcome(sleeps):
    with rm.Mocker() as m:
        m.post(BOOKINGS, [{"status_code": 429, "headers": {"Retry-After": "2"}, "json": {}}, {"json": BOOKING}])
        assert make_operator(sleeps, if_exists="create").execute(context_for())["sid"] == "8sqtzrs"
    assert methods(m) == ["POST /bookings", "POST /bookings"]
    assert sleeps == [2.0]


def test_the_meeting_is_looked_up_once_per_task_however_many_lookups(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [GATEWAY, GATEWAY, {"json": BOOKING}])
        make_operator(sleeps).execute(context_for())
    assert calls(m, "GET", MEETINGS) == 1
    assert calls(m, "GET") == 1 + 2 * 2  # before the first POST, then twice per unknown outcome


# ---- where recovery cannot prove anything ------------------------------------------------------


def test_an_unknown_outcome_is_not_sent_again_when_the_meeting_cannot_be_identified(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, {**MEETING, "id": "m-9", "slug": "some-other-link"})
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        with pytest.raises(AirflowException):
            make_operator(sleeps).execute(context_for())
    assert calls(m, "POST") == 1


def test_a_slotless_retry_recognises_its_booking_despite_a_server_clock_a_second_behind(sleeps):
    slotless = {"slot_date": None, "slot_start_time": None}
    run_start = pendulum.datetime(2030, 7, 1, 12, 0, 0, 400000, tz="UTC")
    made_by_try_1 = {**BOOKING, "created_at": "2030-07-01T12:00:00Z"}  # whole seconds, as documented
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [made_by_try_1])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        result = make_operator(sleeps, **slotless).execute(context_for(2, run_start=run_start))
    assert calls(m, "POST") == 0
    assert result["sid"] == "8sqtzrs"
