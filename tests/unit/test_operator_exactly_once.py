"""NeetoCalCreateBookingOperator books exactly once: look-ups before (re-)sending, adoption, if_exists.

requests-mock stands in for NeetoCal; the hook's ``_sleep`` is replaced by a recorder, so the
settle wait is observed instead of slept. The decision itself is
:mod:`airflow_provider_neetocal.exactly_once`; these tests specify what a DAG author sees.
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
    NeetoCalBookingClaimedError,
    NeetoCalBookingExistsError,
    NeetoCalBookingUnknownError,
    NeetoCalClientError,
)
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

API = "https://acme.neetocal.com/api/external/v1"
BOOKINGS = f"{API}/bookings"
MEETINGS = f"{API}/meetings"
SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "sid": "abc", "slug": SLUG, "name": "Meeting with Oliver Smith"}
#: The same meeting as a one-on-one: NeetoCal refuses a second booking of a taken slot, so a lost
#: answer with nothing found may be sent again within the try.
ONE_ON_ONE = {**MEETING, "kind": "one_on_one"}
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
    "attendee_email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
SLOTLESS = {"slot_date": None, "slot_start_time": None}
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


def test_a_retry_adopting_the_booking_pushes_the_same_xcoms_as_a_fresh_create(sleeps):
    fresh, adopted = context_for(), context_for(2)
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
        mock_listings(m, [BEFORE_THE_RUN])
        make_operator(sleeps).execute(context_for())
    logs = log_output()
    assert "Recovered existing (not created again): NeetoCal booking old1234" in logs
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


def test_reuse_on_a_first_try_refuses_a_booking_made_during_this_run_as_claimed(sleeps):
    # Nothing of this task exists before its first try: a booking for the same attendee, meeting
    # and start made during this run is another task's (or row's). Neither adopted nor duplicated.
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        with pytest.raises(NeetoCalBookingClaimedError) as raised:
            make_operator(sleeps).execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.booking == BOOKING
    assert "8sqtzrs" in str(raised.value)
    assert "another task or row" in str(raised.value)
    assert calls(m, "POST") == 0
    assert context["ti"].xcoms == {}


def test_a_slotless_first_try_lists_the_attendees_bookings_then_posts_without_adopting_any(sleeps):
    # NeetoCal picks the slot, so there is nothing to compare with, and nothing of this try can
    # exist: the listing only records what existed before the POST.
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN, BOOKING])
        m.post(BOOKINGS, json={**BOOKING, "sid": "new1234"})
        assert make_operator(sleeps, **SLOTLESS).execute(context_for())["sid"] == "new1234"
    assert methods(m) == ["GET /bookings", "POST /bookings"]


def test_a_slotless_lost_answer_never_adopts_a_booking_listed_before_the_post(sleeps):
    # The attendee already holds a booking of this meeting made minutes ago (another task, an
    # earlier run): when the answer is lost, that one is not taken for ours, whatever the clocks say.
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, exc=requests.exceptions.ReadTimeout("read timed out"))
        with pytest.raises(NeetoCalBookingUnknownError):
            make_operator(sleeps, **SLOTLESS).execute(context_for())
    assert calls(m, "POST") == 1


def test_a_slotless_lost_answer_adopts_the_one_booking_that_was_not_there_before(sleeps):
    made_by_the_post = {**BOOKING, "sid": "new1234", "created_at": "2029-01-01T00:00:00.000Z"}
    with rm.Mocker() as m:
        mock_meetings(m)
        # before the POST; after it (NeetoCal's clock far behind: creation times cannot tell).
        mock_listings(m, [BOOKING], [BOOKING, made_by_the_post])
        m.post(BOOKINGS, exc=requests.exceptions.ReadTimeout("read timed out"))
        assert make_operator(sleeps, **SLOTLESS).execute(context_for())["sid"] == "new1234"
    assert calls(m, "POST") == 1


def test_a_slotless_retry_ignores_bookings_from_before_the_run(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, **SLOTLESS).execute(context_for(2))["sid"] == "8sqtzrs"
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]


def test_a_slotless_retry_adopts_a_booking_made_during_the_run(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BEFORE_THE_RUN, {**BOOKING, "starts_at": "2030-07-02T03:00:00.000Z"}])
        assert make_operator(sleeps, **SLOTLESS).execute(context_for(2))["sid"] == "8sqtzrs"
        assert calls(m, "POST") == 0


def test_a_slotless_retry_with_two_bookings_made_during_the_run_sends_nothing(sleeps):
    # Which of the two did this task make? Cannot tell: nothing is adopted and nothing sent.
    twin = {**BOOKING, "sid": "twin222", "starts_at": "2030-07-16T08:00:00.000Z"}
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [BOOKING, twin])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps, **SLOTLESS).execute(context_for(2))
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is False
    assert "2 live bookings" in str(raised.value)
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
        pytest.param({"status_code": 201, "json": {}}, id="sidless-2xx"),
        pytest.param({"status_code": 201, "json": {**BOOKING, "sid": None}}, id="null-sid-2xx"),
        pytest.param({"status_code": 200, "text": ""}, id="empty-2xx"),
        pytest.param({"status_code": 204}, id="204-no-content"),
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
    assert "looking the booking up before anything else" in logs
    assert "Recovered existing (not created again): NeetoCal booking 8sqtzrs" in logs


def test_an_unknown_outcome_found_only_after_the_settle_wait_is_adopted(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [], [], [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        assert make_operator(sleeps).execute(context_for())["sid"] == "8sqtzrs"
    assert calls(m, "POST") == 1
    assert sleeps == [3.0]


def test_an_unknown_outcome_with_nothing_found_is_sent_again_on_a_one_on_one_slot(sleeps, log_output):
    # A one-on-one meeting refuses a second booking of a taken slot: re-sending cannot duplicate.
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
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
    assert "Nothing found yet; looking again in 3 s" in logs
    assert "Created NeetoCal booking 8sqtzrs" in logs


@pytest.mark.parametrize(
    "meeting",
    [
        pytest.param(MEETING, id="kind-missing"),
        pytest.param({**MEETING, "kind": "group"}, id="group"),
        pytest.param({**MEETING, "kind": "round_robin"}, id="round-robin"),
        pytest.param({**MEETING, "kind": "One-on-One"}, id="other-spelling"),
    ],
)
def test_an_unknown_outcome_with_nothing_found_is_not_sent_again_unless_one_on_one(sleeps, meeting):
    # Where NeetoCal would accept a second booking, a re-send could duplicate one that is merely not
    # listed yet: the try fails retryably and the Airflow retry looks again before sending.
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m, meeting)
        mock_listings(m, [])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context)
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is True
    assert "502 Bad Gateway" in str(raised.value)
    assert "Not sent again by this try" in str(raised.value)
    # Two lines: what happened and what to do, then the lost answer (one line) and the look-up.
    first, details = str(raised.value).split("\n")
    assert len(first) <= 120
    assert details.startswith("The answer: NeetoCal had a server error: non-JSON response: 502 Bad Gateway")
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings", "GET /bookings", "GET /bookings"]
    assert sleeps == [3.0]
    assert context["ti"].xcoms == {}


def test_the_settle_wait_goes_through_the_hooks_sleep(sleeps):
    operator = make_operator(sleeps)
    assert operator.hook._sleep == sleeps.append
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [{"exc": requests.exceptions.ReadTimeout("read timed out")}, {"json": BOOKING}])
        with pytest.raises(NeetoCalBookingUnknownError):
            operator.execute(context_for())
    assert sleeps == [3.0]


def test_unknown_outcomes_are_sent_at_most_three_times_then_the_task_fails_retryably(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
        mock_listings(m, [])
        m.post(BOOKINGS, **GATEWAY)
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context_for())
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is True
    assert calls(m, "POST") == 3  # the first and MAX_GUARDED_RESENDS (2) re-sends
    assert sleeps == [3.0, 3.0, 3.0]


def test_an_unknown_outcome_then_slot_taken_is_looked_up_and_adopted(sleeps, log_output):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
        # before the first POST, after the 502, after the settle wait, after the 422.
        mock_listings(m, [], [], [], [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"status_code": 422, "json": SLOT_TAKEN}])
        result = make_operator(sleeps).execute(context)
    assert result == BOOKING
    assert calls(m, "POST") == 2
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"
    logs = log_output()
    assert "Looked the booking up: found booking 8sqtzrs" in logs
    assert "Recovered existing (not created again)" in logs


def test_an_unknown_outcome_then_slot_taken_by_someone_else_fails_without_retries(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
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
        mock_meetings(m, ONE_ON_ONE)
        mock_listings(m, [])
        m.post(BOOKINGS, [GATEWAY, GATEWAY, {"json": BOOKING}])
        make_operator(sleeps).execute(context_for())
    assert calls(m, "GET", MEETINGS) == 1
    assert calls(m, "GET") == 1 + 2 * 2  # before the first POST, then twice per unknown outcome


# ---- where recovery cannot prove anything ------------------------------------------------------


def test_an_unknown_outcome_is_not_sent_again_when_the_meeting_cannot_be_identified(sleeps):
    # if_exists="create" sends without a look-up on the first try; after the lost answer, a booking
    # at that start that cannot be attributed to the (unlisted) meeting proves nothing either way.
    with rm.Mocker() as m:
        mock_meetings(m, {**MEETING, "id": "m-9", "slug": "some-other-link"})
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps, if_exists="create").execute(context_for())
    assert raised.value.sent is True
    assert "not listed by GET /meetings" in str(raised.value)
    assert calls(m, "POST") == 1


def test_nothing_is_sent_when_the_meeting_cannot_be_identified_and_a_candidate_exists(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, {**MEETING, "id": "m-9", "slug": "some-other-link"})
        mock_listings(m, [BEFORE_THE_RUN])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context_for())
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is False
    assert "Nothing was sent" in str(raised.value)
    assert calls(m, "POST") == 0


def test_a_slotless_retry_recognises_its_booking_despite_a_server_clock_a_second_behind(sleeps):
    slotless = SLOTLESS
    run_start = pendulum.datetime(2030, 7, 1, 12, 0, 0, 400000, tz="UTC")
    made_by_try_1 = {**BOOKING, "created_at": "2030-07-01T12:00:00Z"}  # whole seconds, as documented
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [made_by_try_1])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        result = make_operator(sleeps, **slotless).execute(context_for(2, run_start=run_start))
    assert calls(m, "POST") == 0
    assert result["sid"] == "8sqtzrs"


# ---- regressions: a look-up that cannot decide, retries, answers without a booking --------------

HIDDEN = {**MEETING, "id": "m-9", "slug": "some-other-link", "name": "Some other link"}


def test_a_retry_whose_meeting_is_not_listed_sends_nothing_when_the_attendee_has_a_booking_at_that_start(sleeps):
    # GET /meetings does not list the meeting (hidden, or not visible to this key): the attendee's
    # booking at that start may be the one try 1 made. Not adopted, and not duplicated.
    context = context_for(2)
    with rm.Mocker() as m:
        mock_meetings(m, HIDDEN)
        mock_listings(m, [BOOKING])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context)
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is False
    assert f"meeting {SLUG!r} is not listed by GET /meetings" in str(raised.value)
    assert "'8sqtzrs'" in str(raised.value)
    assert methods(m) == ["GET /meetings", "GET /bookings"]
    assert context["ti"].xcoms == {}


@pytest.mark.parametrize(
    "bookings",
    [
        pytest.param([], id="no-bookings"),
        pytest.param([{**BOOKING, "sid": "other11", "starts_at": "2030-07-15T08:30:00.000Z"}], id="another-start"),
        pytest.param([{**BOOKING, "status": "cancelled"}], id="cancelled"),
        pytest.param([{**BOOKING, "email": "mallory@example.com"}], id="another-attendee"),
    ],
)
def test_a_retry_whose_meeting_is_not_listed_books_once_when_the_attendee_has_no_candidate(sleeps, bookings):
    # No candidate at all proves absence, whether or not the meeting can be identified.
    with rm.Mocker() as m:
        mock_meetings(m, HIDDEN)
        mock_listings(m, bookings)
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps).execute(context_for(2)) == BOOKING
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]


def test_a_meeting_listed_under_another_case_of_its_slug_is_recognised(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, {**MEETING, "slug": SLUG.upper()})
        mock_listings(m, [BOOKING])
        assert make_operator(sleeps).execute(context_for(2)) == BOOKING
    assert calls(m, "POST") == 0


def test_a_slotless_create_with_a_lost_answer_is_not_sent_again_and_the_retry_adopts_it(sleeps):
    # Try 1: the answer is lost and NeetoCal does not list the booking yet. Without a slot, nothing
    # stops NeetoCal from booking another one, so the try never re-sends, not even on a one-on-one.
    first = context_for(1)
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
        mock_listings(m, [])
        m.post(BOOKINGS, [{"exc": requests.exceptions.ReadTimeout("read timed out")}, {"json": BOOKING}])
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps, **SLOTLESS).execute(first)
    assert not isinstance(raised.value, AirflowFailException)
    assert raised.value.sent is True
    assert methods(m) == ["GET /bookings", "POST /bookings", "GET /meetings", "GET /bookings", "GET /bookings"]
    assert sleeps == [3.0]
    assert first["ti"].xcoms == {}
    # Try 2 (Airflow's retry): the booking try 1 made is listed now, and adopted.
    second = context_for(2)
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
        mock_listings(m, [BEFORE_THE_RUN, {**BOOKING, "starts_at": "2030-07-02T03:00:00.000Z"}])
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        result = make_operator(sleeps, **SLOTLESS).execute(second)
    assert result["sid"] == "8sqtzrs"
    assert methods(m) == ["GET /meetings", "GET /bookings"]
    assert second["ti"].xcoms["booking_sid"] == "8sqtzrs"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"status_code": 201, "json": {}}, id="empty-object"),
        pytest.param({"status_code": 200, "json": {"message": "Booking created"}}, id="message-only"),
        pytest.param({"status_code": 201, "json": {**BOOKING, "sid": ""}}, id="empty-sid"),
        pytest.param({"status_code": 200, "text": ""}, id="empty-body"),
    ],
)
def test_a_2xx_answer_without_a_booking_sid_is_an_unknown_outcome(sleeps, answer):
    # Nothing proves the booking was made, nor that it was not: looked up, never taken as a success.
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, [answer, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context_for())
    assert raised.value.sent is True
    assert not isinstance(raised.value, AirflowFailException)
    assert calls(m, "POST") == 1
    assert calls(m, "GET") == 3  # before the POST, after it, after the settle wait


def test_a_sidless_2xx_answer_then_the_booking_listed_is_adopted(sleeps):
    context = context_for()
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [], [BOOKING])
        m.post(BOOKINGS, [{"status_code": 201, "json": {}}, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        assert make_operator(sleeps).execute(context) == BOOKING
    assert calls(m, "POST") == 1
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"


def test_a_retry_whose_bookings_listing_fails_sends_nothing(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        m.get(BOOKINGS, status_code=403, json={"error": "Not allowed to list bookings"})
        m.post(BOOKINGS, json={**BOOKING, "sid": "DUPLICATE"})
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context_for(2))
    assert raised.value.sent is False
    assert "listing the attendee's bookings failed" in str(raised.value)
    assert "Not allowed to list bookings" in str(raised.value)
    assert calls(m, "POST") == 0


def test_a_lost_answer_whose_lookup_then_fails_is_not_sent_again(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m, ONE_ON_ONE)
        m.get(BOOKINGS, [listing(), {"status_code": 403, "json": {"error": "Forbidden"}}])
        m.post(BOOKINGS, [GATEWAY, {"json": {**BOOKING, "sid": "DUPLICATE"}}])
        with pytest.raises(NeetoCalBookingUnknownError) as raised:
            make_operator(sleeps).execute(context_for())
    assert raised.value.sent is True
    assert "listing the attendee's bookings failed" in str(raised.value)
    assert calls(m, "POST") == 1


def test_create_on_a_retry_sends_anyway_when_the_lookup_cannot_decide(sleeps, log_output):
    with rm.Mocker() as m:
        mock_meetings(m, HIDDEN)
        mock_listings(m, [BEFORE_THE_RUN])
        m.post(BOOKINGS, json=BOOKING)
        assert make_operator(sleeps, if_exists="create").execute(context_for(2)) == BOOKING
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings"]
    assert "sending anyway because if_exists='create'" in log_output()


def test_a_4xx_on_a_retry_is_looked_up_and_the_booking_adopted(sleeps):
    # Try 1's booking was not listed yet when try 2 looked; NeetoCal then refuses the slot as taken.
    context = context_for(2)
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [], [BOOKING])
        m.post(BOOKINGS, status_code=422, json=SLOT_TAKEN)
        assert make_operator(sleeps).execute(context) == BOOKING
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings", "GET /bookings"]
    assert context["ti"].xcoms["booking_sid"] == "8sqtzrs"


def test_a_4xx_on_a_retry_with_nothing_found_is_raised(sleeps):
    with rm.Mocker() as m:
        mock_meetings(m)
        mock_listings(m, [])
        m.post(BOOKINGS, status_code=422, json=SLOT_TAKEN)
        with pytest.raises(NeetoCalClientError) as raised:
            make_operator(sleeps).execute(context_for(2))
    assert raised.value.status == 422
    assert isinstance(raised.value, AirflowFailException)
    assert methods(m) == ["GET /meetings", "GET /bookings", "POST /bookings", "GET /bookings"]
    assert sleeps == []
