"""NeetoCalCreateBookingsOperator: every row checked first, repeated rows refused, each booking adopted once.

requests-mock stands in for NeetoCal; the hook's ``_sleep`` is replaced by a recorder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.exceptions import (
    NeetoCalBulkClientError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator

API = "https://acme.neetocal.com/api/external/v1"
BOOKINGS = f"{API}/bookings"
MEETINGS = f"{API}/meetings"
SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "sid": "abc", "slug": SLUG, "name": "Meeting with Oliver Smith"}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")
#: Eve's row with a slot: 2030-07-15 01:30 PM Asia/Kolkata, i.e. 08:00 UTC.
SLOTTED_ROW: dict[str, Any] = {
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
#: Eve's row without a slot: NeetoCal picks it.
SLOTLESS_ROW: dict[str, Any] = {"name": "Eve Smith", "email": "eve@example.com", "time_zone": "Asia/Kolkata"}
#: What the slotted row made during this run.
AT_THE_SLOT: dict[str, Any] = {
    "sid": "slot111",
    "email": "eve@example.com",
    "status": "confirmed",
    "meeting_id": "m-1",
    "starts_at": "2030-07-15T08:00:00.000Z",
    "created_at": "2030-07-01T12:00:05.000Z",
}
#: What the slot-less row made during this run (NeetoCal picked another slot).
PICKED: dict[str, Any] = {**AT_THE_SLOT, "sid": "pick222", "starts_at": "2030-07-02T03:00:00.000Z"}


class RecordingTI:
    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class Rows(Sequence):
    """A read-only sequence that is not a list, as Airflow's LazyXComSequence is."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)


@pytest.fixture(autouse=True)
def _connection(neetocal_conn) -> None:
    neetocal_conn("acme")


@pytest.fixture
def sleeps() -> list[float]:
    return []


def context_for(try_number: int = 1) -> dict[str, Any]:
    return {"ti": RecordingTI(try_number), "dag_run": SimpleNamespace(start_date=RUN_START)}


def make_operator(sleeps: list[float], bookings: Any, **kwargs: Any) -> NeetoCalCreateBookingsOperator:
    operator = NeetoCalCreateBookingsOperator(task_id="book_all", bookings=bookings, meeting_slug=SLUG, **kwargs)
    operator.hook._sleep = sleeps.append
    return operator


def mock_lookup(m: rm.Mocker, *bookings: dict[str, Any]) -> None:
    m.get(MEETINGS, json={"meetings": [MEETING], "pagination": {"total_pages": 1}})
    m.get(BOOKINGS, json={"bookings": list(bookings), "pagination": {"total_pages": 1}})


def posts(m: rm.Mocker) -> list[dict[str, Any]]:
    return [r.json() for r in m.request_history if r.method == "POST"]


# ---- every row checked before any request ------------------------------------------------------


@pytest.mark.parametrize(
    "twin",
    [
        pytest.param(SLOTTED_ROW, id="identical"),
        pytest.param({**SLOTTED_ROW, "email": "Eve@Example.COM"}, id="email-case"),
        pytest.param(
            {k: v for k, v in SLOTTED_ROW.items() if not k.startswith("slot_")} | {"slot_start": "2030-07-15T08:00Z"},
            id="same-instant-as-slot_start",
        ),
        pytest.param(
            {**SLOTTED_ROW, "time_zone": "America/New_York", "slot_start_time": "04:00 AM"},
            id="same-instant-other-zone",
        ),
        pytest.param({**SLOTTED_ROW, "email": None, "attendee_email": "eve@example.com"}, id="attendee_email-key"),
    ],
)
def test_rows_asking_for_the_same_booking_are_refused_before_any_request(sleeps, twin):
    twin = {k: v for k, v in twin.items() if v is not None}
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        make_operator(sleeps, [SLOTTED_ROW, twin]).execute(context_for())
    assert m.call_count == 0
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.fields == ["bookings[1]"]
    assert "asks for the same booking as bookings[0]" in str(raised.value)


def test_two_slotless_rows_of_one_attendee_and_meeting_are_refused(sleeps):
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        make_operator(sleeps, [SLOTLESS_ROW, {**SLOTLESS_ROW, "name": "Eve S."}]).execute(context_for())
    assert m.call_count == 0
    assert raised.value.fields == ["bookings[1]"]
    assert "no slot" in str(raised.value)


def test_a_repeated_row_is_reported_with_the_other_invalid_rows(sleeps):
    rows = [SLOTTED_ROW, {**SLOTTED_ROW, "time_zone": "Mars/Olympus"}, SLOTTED_ROW]
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        make_operator(sleeps, rows).execute(context_for())
    assert m.call_count == 0
    assert raised.value.fields == ["bookings[1].time_zone", "bookings[2]"]


def test_rows_of_one_attendee_at_different_starts_or_meetings_are_not_repeats(sleeps):
    rows = [
        SLOTTED_ROW,
        {**SLOTTED_ROW, "slot_start_time": "02:00 PM"},
        {**SLOTTED_ROW, "meeting_slug": "product-demo"},
        SLOTLESS_ROW,
    ]
    assert len(make_operator(sleeps, rows).build_payloads()) == 4


def test_a_row_may_name_the_attendee_as_attendee_email(sleeps):
    row = {k: v for k, v in SLOTTED_ROW.items() if k != "email"} | {"attendee_email": "eve@example.com"}
    (payload,) = make_operator(sleeps, [row]).build_payloads()
    assert payload["email"] == "eve@example.com"


def test_a_row_with_both_email_and_attendee_email_is_refused(sleeps):
    row = {**SLOTTED_ROW, "attendee_email": "eve@example.com"}
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        make_operator(sleeps, [row]).execute(context_for())
    assert m.call_count == 0
    assert raised.value.fields == ["bookings[0]"]
    assert "both email and attendee_email" in str(raised.value)


def test_the_operators_alert_email_never_fills_a_rows_attendee(sleeps):
    row = {k: v for k, v in SLOTTED_ROW.items() if k != "email"}
    operator = make_operator(sleeps, [row], email="oncall@example.com")
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        operator.execute(context_for())
    assert m.call_count == 0
    assert raised.value.fields == ["bookings[0].email"]
    assert operator.email == "oncall@example.com"


# ---- what `bookings` may be --------------------------------------------------------------------


def test_any_sequence_of_rows_is_accepted_not_only_a_list(sleeps):
    rows = Rows([SLOTLESS_ROW, {**SLOTLESS_ROW, "email": "sam@example.com", "name": "Sam"}])
    assert not isinstance(rows, list)
    context = context_for()
    with rm.Mocker() as m:
        m.get(BOOKINGS, json={"bookings": [], "pagination": {"total_pages": 1}})
        m.post(BOOKINGS, [{"json": {**PICKED, "sid": "eve1111"}}, {"json": {**PICKED, "sid": "sam2222"}}])
        result = make_operator(sleeps, rows).execute(context)
    assert [b["sid"] for b in result] == ["eve1111", "sam2222"]
    assert [p["email"] for p in posts(m)] == ["eve@example.com", "sam@example.com"]
    assert context["ti"].xcoms["booking_sids"] == ["eve1111", "sam2222"]


def test_a_tuple_and_a_json_string_of_rows_are_accepted(sleeps):
    assert len(make_operator(sleeps, (SLOTTED_ROW,)).build_payloads()) == 1
    assert len(make_operator(sleeps, json.dumps([SLOTTED_ROW])).build_payloads()) == 1


@pytest.mark.parametrize(
    "bookings",
    [
        pytest.param(SLOTTED_ROW, id="one-mapping"),
        pytest.param("not json", id="not-json"),
        pytest.param(json.dumps(SLOTTED_ROW), id="json-object"),
        pytest.param(b"[]", id="bytes"),
        pytest.param({1, 2}, id="set"),
        pytest.param(None, id="none"),
    ],
)
def test_a_value_that_is_not_a_sequence_of_rows_is_refused(sleeps, bookings):
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError) as raised:
        make_operator(sleeps, bookings).execute(context_for())
    assert m.call_count == 0
    assert raised.value.fields == ["bookings"]


# ---- order and adoption -------------------------------------------------------------------------


def test_an_attendees_fixed_slot_rows_are_booked_before_their_slotless_ones(sleeps):
    # Rows of one attendee run in one worker, fixed slots first (their look-ups are exact).
    rows = [SLOTLESS_ROW, SLOTTED_ROW]
    with rm.Mocker() as m:
        mock_lookup(m)
        m.post(BOOKINGS, [{"json": AT_THE_SLOT}, {"json": PICKED}])
        result = make_operator(sleeps, rows).execute(context_for())
    assert ["slot_date" in p for p in posts(m)] == [True, False]
    assert [b["sid"] for b in result] == ["pick222", "slot111"]  # aligned with the rows, not the order sent


def test_a_retry_with_a_slotted_and_a_slotless_row_of_one_attendee_adopts_two_different_bookings(sleeps):
    # The slotted row is looked up first and claims its booking; the slot-less row then sees only the
    # other booking made during this run. Never both rows on one booking, never a new POST.
    context = context_for(2)
    with rm.Mocker() as m:
        mock_lookup(m, AT_THE_SLOT, PICKED)
        m.post(BOOKINGS, json={**AT_THE_SLOT, "sid": "DUPLICATE"})
        result = make_operator(sleeps, [SLOTLESS_ROW, SLOTTED_ROW]).execute(context)
    assert [b["sid"] for b in result] == ["pick222", "slot111"]
    assert posts(m) == []
    assert context["ti"].xcoms["booking_sids"] == ["pick222", "slot111"]
    assert context["ti"].xcoms["failures"] == []


def test_a_retry_never_hands_the_slotted_rows_booking_to_the_slotless_row(sleeps):
    # Only the slotted row's booking exists: the slot-less row did not book in the earlier try.
    with rm.Mocker() as m:
        mock_lookup(m, AT_THE_SLOT)
        m.post(BOOKINGS, json=PICKED)
        result = make_operator(sleeps, [SLOTLESS_ROW, SLOTTED_ROW]).execute(context_for(2))
    assert [b["sid"] for b in result] == ["pick222", "slot111"]
    assert len(posts(m)) == 1
    assert "slot_date" not in posts(m)[0]


def test_a_first_try_row_finding_a_booking_made_during_this_run_fails_as_claimed(sleeps):
    # Another task of this run booked Eve at that slot: the row is neither adopted nor duplicated.
    context = context_for(1)
    sam = {**SLOTTED_ROW, "email": "sam@example.com", "name": "Sam"}
    with rm.Mocker() as m:
        m.get(MEETINGS, json={"meetings": [MEETING], "pagination": {"total_pages": 1}})
        # The workspace listing before any POST (the rows' own look-ups are registered after it, so they win).
        m.get(BOOKINGS, json={"bookings": [AT_THE_SLOT], "pagination": {"total_pages": 1}})
        m.get(
            f"{BOOKINGS}?client_email=eve%40example.com",
            json={"bookings": [AT_THE_SLOT], "pagination": {"total_pages": 1}},
        )
        m.get(
            f"{BOOKINGS}?client_email=sam%40example.com",
            json={"bookings": [], "pagination": {"total_pages": 1}},
        )
        m.post(BOOKINGS, json={**AT_THE_SLOT, "sid": "sam3333", "email": "sam@example.com"})
        with pytest.raises(NeetoCalBulkClientError) as raised:
            make_operator(sleeps, [SLOTTED_ROW, sam]).execute(context)
    assert [p["email"] for p in posts(m)] == ["sam@example.com"]
    (failure,) = raised.value.failures
    assert failure["row"] == 0
    assert failure["permanent"] is True
    assert "created during this DAG run" in failure["error"]
    # One line per row in the bulk error: the reason first, the details after it in parentheses.
    assert failure["error"].startswith("Duplicate request in this DAG run: eve@example.com at ")
    assert "\n" not in failure["error"]
    assert "\n" not in str(raised.value).split("\n", 1)[1].replace("\n  - ", "")
    assert context["ti"].xcoms["booking_sids"] == [None, "sam3333"]
