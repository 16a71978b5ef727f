"""Hostile newcomer review of issue 20 over real HTTP to the sandbox: first lines of common failures.

Each test states what should hold and fails on the code it was written against (``xfail(strict=True)``).
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.exceptions import AirflowException

from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH, NeetoCalCreateBookingOperator

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


def test_unknown_meeting_for_a_returning_attendee_is_named_in_the_first_line(sandbox) -> None:
    """The commonest newcomer mistake, a wrong meeting slug, says so in the first line (naming the slug)
    whether or not the attendee already holds a booking at that start on another meeting."""
    book().execute({"ti": RecordingTI(), "dag_run": None})

    with pytest.raises(AirflowException) as failed:
        book(meeting_slug="no-such-meeting").execute({"ti": RecordingTI(), "dag_run": None})

    first = str(failed.value).splitlines()[0]
    assert len(first) <= FIRST_LINE_WIDTH
    assert "no-such-meeting" in first, first


def test_a_gateway_error_during_the_lookup_says_temporary_in_the_first_line(sandbox) -> None:
    """A 5xx while checking for an earlier booking is NeetoCal's (temporary) failure: the first line says
    NeetoCal had a server error (or the status) and that a retry will do, not 'fix'."""
    sandbox.inject("html_error", times=20, method="GET", path="/bookings", status=502)

    with pytest.raises(AirflowException) as failed:
        book().execute({"ti": RecordingTI(), "dag_run": None})

    first = str(failed.value).splitlines()[0]
    assert len(first) <= FIRST_LINE_WIDTH
    assert "502" in first or "server error" in first.lower(), first
    assert "fix" not in first.lower(), first


def test_a_refused_key_logs_no_exactly_once_warning_before_the_error(sandbox, monkeypatch, log_output) -> None:
    """After a 401 nothing more is sent (issue 20, point 7), so nothing is logged as if it would be: the
    newcomer's log holds the auth error, not a warning about telling this booking from earlier ones."""
    from airflow_provider_neetocal.exceptions import NeetoCalAuthError
    from tests.conftest import neetocal_conn_json

    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, password="wrong-key-123"))

    with pytest.raises(NeetoCalAuthError):  # the form left empty: the meeting's first free slot
        book(slot_date=None, slot_start_time=None).execute({"ti": RecordingTI(), "dag_run": None})

    assert "before sending" not in log_output()
