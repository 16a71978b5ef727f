"""Issue 20 over real HTTP: a refused create reads the same whatever the server's words, and a refused key
ends the conversation. Against the sandbox on 127.0.0.1, which records every request it receives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_neetocal.exceptions import NeetoCalAuthError, NeetoCalClientError
from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH, NeetoCalCreateBookingOperator
from tests.conftest import neetocal_conn_json

pytestmark = pytest.mark.integration


class RecordingTI:
    def __init__(self) -> None:
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def book(**overrides: Any) -> NeetoCalCreateBookingOperator:
    arguments = {
        "meeting_slug": "quick-sync",
        "name": "Ada",
        "attendee_email": "ada@example.com",
        "time_zone": "Asia/Kolkata",
        "slot_date": "2030-07-15",
        "slot_start_time": "10:00 AM",
        **overrides,
    }
    return NeetoCalCreateBookingOperator(task_id="book", **arguments)


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        ({"error": "The slot is no longer available."}, "The slot is no longer available."),
        ({"errors": {"slot_start_time": ["is outside the host's hours"]}}, "is outside the host's hours"),
        ({"message": "Ce créneau est pris"}, "Ce créneau est pris"),
    ],
    ids=["other-wording", "field-errors", "other-language"],
)
def test_a_422_in_any_words_names_the_slot_zone_and_meeting_first(sandbox, body: dict[str, Any], quoted: str) -> None:
    sandbox.inject("raw", method="POST", path="/bookings", status=422, body=json.dumps(body))

    with pytest.raises(NeetoCalClientError) as refused:
        book().execute({"ti": RecordingTI(), "dag_run": None})

    first, details = str(refused.value).split("\n")
    assert first.startswith("Slot 2030-07-15 10:00 (Asia/Kolkata) of ")
    assert " refused" in first
    assert len(first) <= FIRST_LINE_WIDTH
    assert details.startswith("NeetoCal answered HTTP 422 to POST /bookings: ")
    assert quoted in details


def test_a_taken_slot_in_the_sandboxs_own_words_reads_the_same_way(sandbox) -> None:
    book().execute({"ti": RecordingTI(), "dag_run": None})

    with pytest.raises(NeetoCalClientError) as refused:
        book(attendee_email="bob@example.com", name="Bob").execute({"ti": RecordingTI(), "dag_run": None})

    first = str(refused.value).splitlines()[0]
    assert first.startswith("Slot 2030-07-15 10:00 (Asia/Kolkata) of ")
    assert first.endswith("refused — pick another or fix what NeetoCal names")


def test_after_a_401_nothing_more_is_sent(sandbox, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, "not-the-sandbox-key-0000"))

    with pytest.raises(NeetoCalAuthError):
        book().execute({"ti": RecordingTI(), "dag_run": None})

    assert [(r.method, r.status) for r in sandbox.requests] == [("GET", 401)]
