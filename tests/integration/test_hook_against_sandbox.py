"""NeetoCalHook against the local NeetoCal sandbox: real HTTP on 127.0.0.1, no mocks.

Every test builds its own sandbox with a frozen clock (Monday 2030-01-07 02:00 UTC) so slot dates
are deterministic, points ``neetocal_default`` at it and drives the hook as a DAG would. The hook's
``_sleep`` is replaced by a recorder: retries are observed through the waits they asked for and the
requests the sandbox journalled, never through wall time.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests

from airflow_provider_neetocal._compat import AirflowException, AirflowFailException
from airflow_provider_neetocal.exceptions import (
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRateLimitError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.conftest import TEST_API_KEY, neetocal_conn_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration

#: Monday 2030-01-07, 02:00 UTC (07:30 in Asia/Kolkata): every slot below is in the future.
NOW = pendulum.datetime(2030, 1, 7, 2, 0, tz="UTC")
TOMORROW = "2030-01-08"
WRONG_KEY = "wrong-key-9876543210-do-not-leak"

#: Every field of the booking object in the "Make a booking" response (docs/neetocal-api.md).
DOCUMENTED_BOOKING_FIELDS = frozenset(
    {
        "id",
        "sid",
        "parent_booking_id",
        "email",
        "name",
        "host_name",
        "host_email",
        "is_multihost",
        "multihosts",
        "starts_at",
        "ends_at",
        "time_zone",
        "starts_at_for_client",
        "ends_at_for_client",
        "status",
        "cancel_reason",
        "cancelled_by",
        "reschedule_requested",
        "preferred_meeting_spot",
        "room_type",
        "room_url",
        "room_id",
        "spot_details",
        "created_at",
        "updated_at",
        "meeting_id",
        "meeting",
        "no_show",
        "meeting_outcome",
        "notes_url",
        "internal_notes",
        "metadata",
        "admin_booking_url",
        "client_booking_url",
        "form_responses",
    }
)


def oliver_payload(**fields: Any) -> dict[str, Any]:
    """A valid booking with Oliver Smith tomorrow at 01:30 PM Kolkata, overridden by ``fields``."""
    payload: dict[str, Any] = {
        "meeting_slug": "meeting-with-oliver-smith",
        "name": "Eve Smith",
        "email": "eve@example.com",
        "slot_date": TOMORROW,
        "slot_start_time": "01:30 PM",
        "time_zone": "Asia/Kolkata",
        "preferred_meeting_spot": "jitsi",
        "form_responses": {"guest_email_s": ["sam@example.com", "charlie@example.com"], "language": "English"},
    }
    payload.update(fields)
    return payload


def quick_sync_payload(slot_start_time: str = "10:00 AM", **fields: Any) -> dict[str, Any]:
    """A valid quick-sync booking (15 min, UTC, open all day) tomorrow at ``slot_start_time``."""
    payload: dict[str, Any] = {
        "meeting_slug": "quick-sync",
        "name": "Sam Client",
        "email": "client@example.com",
        "slot_date": TOMORROW,
        "slot_start_time": slot_start_time,
        "time_zone": "UTC",
    }
    payload.update(fields)
    return payload


def free_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def requests_to(sandbox: NeetoCalSandbox, method: str, path: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == method and r.path == path]


def eventually(probe: Callable[[], list[Any]], attempts: int = 100) -> list[Any]:
    """``probe()`` once it returns something non-empty (polled for up to ~5 s), else its last answer."""
    found = probe()
    for _ in range(attempts):
        if found:
            break
        time.sleep(0.05)
        found = probe()
    return found


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _api_key_never_logged(log_output: Callable[[], str]) -> Iterator[None]:
    """Whatever a test does, the API key (right or wrong) never reaches the logs."""
    yield
    logged = log_output()
    assert TEST_API_KEY not in logged
    assert WRONG_KEY not in logged


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[NeetoCalSandbox]:
    """A sandbox with a frozen clock, ``neetocal_default`` pointing at it."""
    with NeetoCalSandbox(api_key=TEST_API_KEY, now=lambda: NOW) as running:
        monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url))
        yield running


@pytest.fixture
def waits() -> list[float]:
    return []


def make_hook(waits: list[float], conn_id: str = "neetocal_default", **kwargs: Any) -> NeetoCalHook:
    hook = NeetoCalHook(conn_id, **kwargs)
    hook._sleep = waits.append
    return hook


@pytest.fixture
def hook(sandbox: NeetoCalSandbox, waits: list[float]) -> Iterator[NeetoCalHook]:
    """A hook on the sandbox whose retry waits are recorded instead of slept."""
    made = make_hook(waits)
    yield made
    made.close()


@pytest.fixture
def wrong_key_hook(sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch, waits: list[float]):
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_WRONG", neetocal_conn_json(sandbox.url, password=WRONG_KEY))
    made = make_hook(waits, "neetocal_wrong")
    yield made
    made.close()


@pytest.fixture
def unreachable_hook(monkeypatch: pytest.MonkeyPatch, waits: list[float]):
    """A hook pointed at a loopback port nothing listens on: every connection is refused."""
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DOWN", neetocal_conn_json(f"http://127.0.0.1:{free_port()}"))
    made = make_hook(waits, "neetocal_down")
    yield made
    made.close()


@pytest.fixture
def short_timeout_hook(sandbox: NeetoCalSandbox, waits: list[float]) -> Iterator[NeetoCalHook]:
    """A hook that gives up waiting for an answer after half a second."""
    made = make_hook(waits, timeout=(2, 0.5))
    yield made
    made.close()


@pytest.fixture
def booking(hook: NeetoCalHook) -> dict[str, Any]:
    """A confirmed booking with Oliver Smith, created through the hook."""
    return hook.create_booking(oliver_payload())


# ---- create / get / list -----------------------------------------------------------------------


def test_create_booking_returns_every_documented_field(hook: NeetoCalHook) -> None:
    created = hook.create_booking(oliver_payload())

    assert set(created) >= DOCUMENTED_BOOKING_FIELDS
    assert created["status"] == "confirmed"
    assert created["name"] == "Eve Smith"
    assert created["email"] == "eve@example.com"
    assert created["host_email"] == "oliver@example.com"
    assert created["preferred_meeting_spot"] == "jitsi"
    assert created["starts_at"] == "2030-01-08T08:00:00.000Z"
    assert created["starts_at_for_client"] == "2030-01-08T13:30:00.000+05:30"
    assert created["meeting"] == {"name": "Meeting with Oliver Smith"}
    assert {r["field_code"]: r["value"] for r in created["form_responses"]} == {
        "guest_email_s": ["sam@example.com", "charlie@example.com"],
        "language": "English",
    }


def test_create_booking_stores_exactly_one_booking_with_one_post(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    created = hook.create_booking(oliver_payload())

    assert [b["sid"] for b in sandbox.bookings] == [created["sid"]]
    posts = requests_to(sandbox, "POST", "/bookings")
    assert len(posts) == 1
    assert posts[0].json == oliver_payload()


def test_requests_carry_the_key_json_headers_and_provider_user_agent(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    list(hook.list_meetings())

    (recorded,) = sandbox.requests
    assert recorded.authenticated
    assert recorded.headers["Accept"] == "application/json"
    assert recorded.headers["User-Agent"].startswith("airflow-provider-neetocal/")


def test_get_booking_returns_the_created_booking_plus_form_responses_as_hash(
    hook: NeetoCalHook, booking: dict[str, Any]
) -> None:
    fetched = hook.get_booking(booking["sid"])

    assert fetched.pop("form_responses_as_hash") == {
        "guest_email_s": ["sam@example.com", "charlie@example.com"],
        "language": "English",
    }
    assert fetched == booking


def test_list_bookings_filters_by_client_email(hook: NeetoCalHook, booking: dict[str, Any]) -> None:
    hook.create_booking(quick_sync_payload(email="someone-else@example.com"))

    found = list(hook.list_bookings(client_email="eve@example.com"))

    assert [b["sid"] for b in found] == [booking["sid"]]
    assert found[0]["id"] == booking["id"]


def test_list_bookings_filters_by_type(hook: NeetoCalHook, booking: dict[str, Any]) -> None:
    other = hook.create_booking(quick_sync_payload())
    hook.cancel_booking(other["sid"])

    upcoming = [b["sid"] for b in hook.list_bookings(type="upcoming")]
    cancelled = [b["sid"] for b in hook.list_bookings(type="cancelled")]
    past = [b["sid"] for b in hook.list_bookings(type="past")]

    assert upcoming == [booking["sid"]]
    assert cancelled == [other["sid"]]
    assert past == []


def test_list_bookings_filters_by_host_email(hook: NeetoCalHook, booking: dict[str, Any]) -> None:
    with_sam = hook.create_booking(quick_sync_payload())

    hosted_by_sam = [b["sid"] for b in hook.list_bookings(host_email="sam@example.com")]
    hosted_by_oliver = [b["sid"] for b in hook.list_bookings(host_email="oliver@example.com")]

    assert hosted_by_sam == [with_sam["sid"]]
    assert hosted_by_oliver == [booking["sid"]]


def test_list_bookings_walks_every_page(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    created = [hook.create_booking(quick_sync_payload(f"{hour:02d}:00 AM")) for hour in range(1, 8)]

    listed = list(hook.list_bookings(page_size=3))

    assert sorted(b["sid"] for b in listed) == sorted(b["sid"] for b in created)
    assert len(listed) == 7
    pages = requests_to(sandbox, "GET", "/bookings")
    assert [(r.query["page_number"], r.query["page_size"]) for r in pages] == [("1", "3"), ("2", "3"), ("3", "3")]


def test_list_bookings_survives_a_rate_limit_in_the_middle_of_the_walk(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    created = [hook.create_booking(quick_sync_payload(f"{hour:02d}:00 AM")) for hour in range(1, 8)]
    listed = hook.list_bookings(page_size=3)
    first_page = [next(listed) for _ in range(3)]
    sandbox.inject("rate_limit", times=1, method="GET", path="/bookings", retry_after=2)

    rest = list(listed)

    assert sorted(b["sid"] for b in first_page + rest) == sorted(b["sid"] for b in created)
    assert waits == [2.0]
    pages = requests_to(sandbox, "GET", "/bookings")
    assert [(r.query["page_number"], r.status) for r in pages] == [("1", 200), ("2", 429), ("2", 200), ("3", 200)]


def test_list_bookings_fetches_pages_lazily(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    for hour in range(1, 5):
        hook.create_booking(quick_sync_payload(f"{hour:02d}:00 AM"))

    first = next(hook.list_bookings(page_size=2))

    assert first["starts_at"] == "2030-01-08T01:00:00.000Z"
    assert len(requests_to(sandbox, "GET", "/bookings")) == 1


def test_list_bookings_of_an_empty_workspace_is_empty_after_one_request(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    assert list(hook.list_bookings()) == []
    assert len(requests_to(sandbox, "GET", "/bookings")) == 1


def test_page_size_out_of_range_is_refused_before_any_request(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(NeetoCalValidationError, match="page_size"):
        list(hook.list_bookings(page_size=101))
    assert sandbox.requests == []


def test_identifier_that_would_change_the_path_is_refused_before_any_request(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    with pytest.raises(NeetoCalValidationError, match="booking_sid"):
        hook.get_booking("../meetings")
    assert sandbox.requests == []


# ---- cancel / reschedule -----------------------------------------------------------------------


def test_cancel_booking_with_reason_marks_it_cancelled(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any]
) -> None:
    answer = hook.cancel_booking(booking["sid"], cancel_reason="Client asked to cancel")

    assert answer == {"message": "Booking has been successfully cancelled"}
    cancelled = hook.get_booking(booking["sid"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "Client asked to cancel"
    assert sandbox.booking(booking["sid"])["status"] == "cancelled"  # type: ignore[index]


def test_cancel_reason_travels_in_the_query_string(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any]
) -> None:
    hook.cancel_booking(booking["sid"], cancel_reason="Double booked")

    (cancel,) = requests_to(sandbox, "POST", f"/bookings/{booking['sid']}/cancel")
    assert cancel.query == {"cancel_reason": "Double booked"}


def test_cancel_reason_with_non_ascii_and_reserved_characters_arrives_intact(
    hook: NeetoCalHook, booking: dict[str, Any]
) -> None:
    reason = "Réunion annulée & reportée? 100% sûr #1"

    hook.cancel_booking(booking["sid"], cancel_reason=reason)

    assert hook.get_booking(booking["sid"])["cancel_reason"] == reason


def test_cancelling_twice_is_a_client_error_quoting_the_sandbox(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any]
) -> None:
    hook.cancel_booking(booking["sid"])

    with pytest.raises(NeetoCalClientError) as raised:
        hook.cancel_booking(booking["sid"])

    assert raised.value.status == 422
    assert "Booking is already cancelled and cannot be cancelled" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert len(requests_to(sandbox, "POST", f"/bookings/{booking['sid']}/cancel")) == 2


def test_reschedule_moves_the_booking(hook: NeetoCalHook, booking: dict[str, Any]) -> None:
    moved = hook.reschedule_booking(
        booking["sid"],
        {
            "name": "Eve Smith",
            "email": "eve@example.com",
            "slot_date": "2030-01-09",
            "slot_start_time": "03:00 PM",
            "time_zone": "Asia/Kolkata",
            "reschedule_reason": "Conflict",
        },
    )

    assert moved["sid"] == booking["sid"]
    assert moved["id"] == booking["id"]
    assert moved["starts_at"] == "2030-01-09T09:30:00.000Z"
    assert moved["ends_at"] == "2030-01-09T10:00:00.000Z"
    assert moved["status"] == "confirmed"
    assert hook.get_booking(booking["sid"])["starts_at"] == "2030-01-09T09:30:00.000Z"


def test_reschedule_into_a_taken_slot_is_a_client_error(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any]
) -> None:
    other = hook.create_booking(oliver_payload(slot_start_time="04:00 PM", email="frank@example.com"))

    with pytest.raises(NeetoCalClientError) as raised:
        hook.reschedule_booking(
            other["sid"],
            {
                "name": "Frank",
                "email": "frank@example.com",
                "slot_date": TOMORROW,
                "slot_start_time": "01:30 PM",
                "time_zone": "Asia/Kolkata",
            },
        )

    assert raised.value.status == 422
    assert "The selected slot is not available" in str(raised.value)
    assert len(requests_to(sandbox, "PATCH", f"/bookings/{other['sid']}")) == 1
    assert hook.get_booking(other["sid"])["starts_at"] == other["starts_at"]


# ---- slots and meetings ------------------------------------------------------------------------


def test_get_slots_lists_free_slots_of_the_day_in_the_requested_zone(hook: NeetoCalHook) -> None:
    days = hook.get_slots("meeting-with-oliver-smith", time_zone="Asia/Kolkata", year=2030, month=1, day=8)

    (day,) = days
    assert day["date"] == TOMORROW
    assert "01:30 PM" in day["slots"]
    assert day["slots"]["09:00 AM"]["starts_at"] == "2030-01-08T03:30:00.000Z"
    assert "08:30 AM" not in day["slots"]


def test_get_slots_leaves_out_a_booked_slot(hook: NeetoCalHook, booking: dict[str, Any]) -> None:
    (day,) = hook.get_slots("meeting-with-oliver-smith", time_zone="Asia/Kolkata", year=2030, month=1, day=8)

    assert "01:30 PM" not in day["slots"]
    assert "02:00 PM" in day["slots"]


def test_get_slots_without_day_lists_the_whole_month(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    days = hook.get_slots("quick-sync", time_zone="UTC", year=2030, month=1)

    assert len(days) == 31
    assert "day" not in sandbox.requests[-1].query


def test_get_slots_of_an_unknown_meeting_is_not_found(hook: NeetoCalHook) -> None:
    with pytest.raises(NeetoCalNotFoundError, match="Meeting not found"):
        hook.get_slots("no-such-meeting", time_zone="UTC", year=2030, month=1)


def test_list_meetings_yields_every_seeded_meeting(hook: NeetoCalHook) -> None:
    meetings = {m["slug"]: m for m in hook.list_meetings()}

    assert set(meetings) == {"meeting-with-oliver-smith", "product-demo", "quick-sync", "weekly-webinar"}
    assert meetings["quick-sync"]["duration"] == 15
    assert meetings["weekly-webinar"]["kind"] == "group"


def test_list_meetings_filters_by_host_email(hook: NeetoCalHook) -> None:
    slugs = {m["slug"] for m in hook.list_meetings(host_email="amelia@example.com")}

    assert "product-demo" in slugs
    assert "quick-sync" not in slugs
    assert "meeting-with-oliver-smith" not in slugs


def test_list_meetings_walks_every_page(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    slugs = [m["slug"] for m in hook.list_meetings(page_size=3)]

    assert len(slugs) == 4
    assert len(set(slugs)) == 4
    assert len(requests_to(sandbox, "GET", "/meetings")) == 2


# ---- errors that must fail the task at once ----------------------------------------------------


def test_wrong_api_key_is_an_auth_error_that_never_quotes_the_key(
    wrong_key_hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    with pytest.raises(NeetoCalAuthError) as raised:
        list(wrong_key_hook.list_bookings())

    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.status == 401
    assert "Could not authenticate" in str(raised.value)
    assert WRONG_KEY not in str(raised.value)
    assert WRONG_KEY not in repr(raised.value)
    assert len(sandbox.requests) == 1


def test_unknown_booking_sid_is_not_found(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(NeetoCalNotFoundError) as raised:
        hook.get_booking("zzzzzzz")

    assert raised.value.status == 404
    assert "Booking not found" in str(raised.value)
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize(
    ("payload", "sandbox_words"),
    [
        pytest.param(
            oliver_payload(meeting_slug="no-such-meeting"),
            "meeting_slug",
            id="unknown-meeting",
        ),
        pytest.param(
            oliver_payload(slot_start_time="01:30 PM"),
            "The selected slot is not available",
            id="taken-slot",
        ),
        pytest.param(
            oliver_payload(slot_start_time="02:00 PM", preferred_meeting_spot="teams"),
            "preferred_meeting_spot",
            id="spot-not-offered",
        ),
    ],
)
def test_validation_error_is_a_client_error_in_the_sandbox_words_and_not_retried(
    hook: NeetoCalHook,
    sandbox: NeetoCalSandbox,
    booking: dict[str, Any],
    waits: list[float],
    payload: dict[str, Any],
    sandbox_words: str,
) -> None:
    with pytest.raises(NeetoCalClientError) as raised:
        hook.create_booking(payload)

    posts = requests_to(sandbox, "POST", "/bookings")
    assert [r.status for r in posts] == [200, 422]  # the fixture's booking, then this one: no retry
    assert waits == []
    assert len(sandbox.bookings) == 1
    sandbox_message = sandbox_error_message(sandbox, payload)
    assert sandbox_words in sandbox_message
    assert raised.value.status == 422
    assert raised.value.api_message == sandbox_message
    assert sandbox_message in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)


def sandbox_error_message(sandbox: NeetoCalSandbox, payload: dict[str, Any]) -> str:
    """What the sandbox itself answers to ``payload``, asked directly (not through the hook)."""
    answer = requests.post(
        sandbox.api_url + "/bookings", json=payload, headers={"X-Api-Key": sandbox.api_key}, timeout=5
    )
    assert answer.status_code == 422
    return str(answer.json()["error"])


# ---- test_connection ---------------------------------------------------------------------------


def test_test_connection_succeeds_with_the_right_key(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    ok, message = hook.test_connection()

    assert ok is True
    assert sandbox.url in message
    assert len(sandbox.requests) == 1


def test_test_connection_reports_a_wrong_key_without_raising(wrong_key_hook: NeetoCalHook) -> None:
    ok, message = wrong_key_hook.test_connection()

    assert ok is False
    assert "Could not authenticate" in message
    assert WRONG_KEY not in message


def test_test_connection_reports_nothing_listening_without_raising(
    unreachable_hook: NeetoCalHook, waits: list[float]
) -> None:
    ok, message = unreachable_hook.test_connection()

    assert ok is False
    assert "could not connect" in message
    assert TEST_API_KEY not in message
    assert waits == []  # the Test button answers at once, without back-offs


def test_test_connection_reports_a_url_that_is_not_a_neetocal_api(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch, waits: list[float]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_ELSEWHERE", neetocal_conn_json(sandbox.url + "/not-the-api"))
    hook = make_hook(waits, "neetocal_elsewhere")

    ok, message = hook.test_connection()
    hook.close()

    assert ok is False
    assert "HTTP 404" in message
    assert waits == []


# ---- rate limits -------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_the_read_succeeds(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("rate_limit", times=2, method="GET", path="/meetings", retry_after=7)

    meetings = list(hook.list_meetings())

    assert len(meetings) == 4
    assert waits == [7.0, 7.0]
    assert [r.status for r in requests_to(sandbox, "GET", "/meetings")] == [429, 429, 200]


def test_429_with_fractional_retry_after_is_honoured(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("rate_limit", times=1, method="GET", retry_after=0.5)

    list(hook.list_meetings())

    assert waits == [0.5]


def test_retry_after_longer_than_max_wait_is_capped(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("rate_limit", times=1, method="GET", retry_after=3600)

    list(hook.list_meetings())

    assert waits == [hook.retry_policy.max_wait]


def test_429_without_retry_after_backs_off_exponentially(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("rate_limit", times=3, method="GET", retry_after=None)

    list(hook.list_meetings())

    assert waits == [1.0, 2.0, 4.0]
    assert len(requests_to(sandbox, "GET", "/meetings")) == 4


def test_429_on_a_booking_post_is_retried_because_nothing_was_booked(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("rate_limit", times=1, method="POST", path="/bookings", retry_after=3)

    created = hook.create_booking(quick_sync_payload())

    assert waits == [3.0]
    assert [r.status for r in requests_to(sandbox, "POST", "/bookings")] == [429, 200]
    assert [b["sid"] for b in sandbox.bookings] == [created["sid"]]


def test_429_beyond_the_rate_limit_budget_is_a_retryable_rate_limit_error(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    budget = hook.retry_policy.max_rate_limit_waits
    sandbox.inject("rate_limit", times=budget + 1, method="GET", retry_after=2)

    with pytest.raises(NeetoCalRateLimitError) as raised:
        list(hook.list_meetings())

    assert raised.value.retry_after == 2.0
    assert "Too many requests" in str(raised.value)
    assert not isinstance(raised.value, AirflowFailException)
    assert waits == [2.0] * budget
    assert len(requests_to(sandbox, "GET", "/meetings")) == budget + 1


# ---- transient failures on reads ---------------------------------------------------------------


def test_rate_limit_waits_do_not_use_up_the_retries_meant_for_failures(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    policy = hook.retry_policy
    sandbox.inject("rate_limit", times=policy.max_rate_limit_waits, method="GET", retry_after=1)
    sandbox.inject("server_error", times=policy.max_retries, method="GET")

    meetings = list(hook.list_meetings())

    assert len(meetings) == 4
    assert len(waits) == policy.max_rate_limit_waits + policy.max_retries
    assert len(requests_to(sandbox, "GET", "/meetings")) == policy.max_rate_limit_waits + policy.max_retries + 1


@pytest.mark.parametrize("kind", ["server_error", "html_error", "drop", "malformed_json"])
def test_read_is_retried_after_a_transient_failure(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float], booking: dict[str, Any], kind: str
) -> None:
    sandbox.inject(kind, times=1, method="GET", path="/bookings")

    fetched = hook.get_booking(booking["sid"])

    assert fetched["sid"] == booking["sid"]
    assert waits == [1.0]
    gets = requests_to(sandbox, "GET", f"/bookings/{booking['sid']}")
    assert [r.fault for r in gets] == [kind, None]


def test_read_that_times_out_is_retried(
    short_timeout_hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("delay", times=1, method="GET", path="/meetings", seconds=1.5)

    meetings = list(short_timeout_hook.list_meetings())

    assert len(meetings) == 4
    assert waits == [1.0]


def test_read_gives_up_after_max_retries_with_a_retryable_server_error(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    retries = hook.retry_policy.max_retries
    sandbox.inject("server_error", times=retries + 1, method="GET", status=503)

    with pytest.raises(NeetoCalServerError) as raised:
        list(hook.list_meetings())

    assert raised.value.status == 503
    assert "Service Unavailable" in str(raised.value)
    assert not isinstance(raised.value, AirflowFailException)
    assert waits == [1.0, 2.0, 4.0][:retries]
    assert len(requests_to(sandbox, "GET", "/meetings")) == retries + 1


def test_html_gateway_page_is_quoted_by_its_title(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("html_error", times=hook.retry_policy.max_retries + 1, method="GET")

    with pytest.raises(NeetoCalServerError) as raised:
        list(hook.list_meetings())

    assert raised.value.status == 502
    assert "non-JSON response" in str(raised.value)
    assert "502 Bad Gateway" in str(raised.value)
    assert "<" not in str(raised.value)


# ---- writes that may have been applied: never re-sent -----------------------------------------


@pytest.mark.parametrize(
    ("kind", "committed"),
    [
        ("commit_then_drop", True),
        ("commit_then_502", True),
        ("server_error", False),
        ("malformed_json", False),
        ("drop", False),
        ("html_error", False),
    ],
)
def test_booking_post_whose_answer_is_lost_is_outcome_unknown_and_sent_once(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float], kind: str, committed: bool
) -> None:
    sandbox.inject(kind, times=1, method="POST", path="/bookings")

    with pytest.raises(NeetoCalOutcomeUnknownError) as raised:
        hook.create_booking(quick_sync_payload())

    assert isinstance(raised.value, NeetoCalRetryableError)
    assert not isinstance(raised.value, AirflowFailException)
    assert "not re-sent; a retry checks NeetoCal first" in str(raised.value)
    assert isinstance(raised.value.cause, NeetoCalServerError | NeetoCalConnectionError)
    assert len(requests_to(sandbox, "POST", "/bookings")) == 1
    assert waits == []
    assert len(sandbox.bookings) == (1 if committed else 0)


def test_booking_post_committed_then_lost_leaves_the_booking_to_be_found(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    sandbox.inject("commit_then_drop", times=1, method="POST", path="/bookings")

    with pytest.raises(NeetoCalOutcomeUnknownError):
        hook.create_booking(quick_sync_payload(email="dup-risk@example.com"))

    (stored,) = sandbox.bookings
    found = list(hook.list_bookings(client_email="dup-risk@example.com"))
    assert [b["sid"] for b in found] == [stored["sid"]]
    assert found[0]["status"] == "confirmed"


def test_booking_post_answered_after_the_read_timeout_is_outcome_unknown_and_stored(
    short_timeout_hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("commit_then_delay", times=1, method="POST", path="/bookings", seconds=1.5)

    with pytest.raises(NeetoCalOutcomeUnknownError) as raised:
        short_timeout_hook.create_booking(quick_sync_payload())

    assert "timed out" in str(raised.value)
    assert isinstance(raised.value.cause, NeetoCalConnectionError)
    assert raised.value.cause.request_sent is True
    assert len(sandbox.bookings) == 1  # committed before the sandbox started to stall
    # The sandbox journals a request once it has answered it, i.e. after its delay.
    posts = eventually(lambda: requests_to(sandbox, "POST", "/bookings"))
    assert len(posts) == 1
    assert posts[0].fault == "commit_then_delay"
    assert waits == []


def test_booking_post_stalled_before_commit_past_the_read_timeout_is_outcome_unknown_and_lands_later(
    short_timeout_hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    sandbox.inject("delay", times=1, method="POST", path="/bookings", seconds=1)

    with pytest.raises(NeetoCalOutcomeUnknownError):
        short_timeout_hook.create_booking(quick_sync_payload())

    assert waits == []
    # The server still handles the request after the client gave up: the booking appears later.
    assert len(eventually(lambda: sandbox.bookings)) == 1
    assert len(eventually(lambda: requests_to(sandbox, "POST", "/bookings"))) == 1


def test_cancel_whose_answer_is_lost_is_outcome_unknown_and_sent_once(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any], waits: list[float]
) -> None:
    sandbox.inject("commit_then_drop", times=1, method="POST", path="/bookings/")

    with pytest.raises(NeetoCalOutcomeUnknownError):
        hook.cancel_booking(booking["sid"], cancel_reason="Sick")

    assert len(requests_to(sandbox, "POST", f"/bookings/{booking['sid']}/cancel")) == 1
    assert sandbox.booking(booking["sid"])["status"] == "cancelled"  # type: ignore[index]
    assert waits == []


def test_reschedule_answered_with_a_5xx_is_outcome_unknown_and_sent_once(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, booking: dict[str, Any], waits: list[float]
) -> None:
    sandbox.inject("commit_then_502", times=1, method="PATCH")

    with pytest.raises(NeetoCalOutcomeUnknownError) as raised:
        hook.reschedule_booking(
            booking["sid"],
            {
                "name": "Eve Smith",
                "email": "eve@example.com",
                "slot_date": "2030-01-09",
                "slot_start_time": "03:00 PM",
                "time_zone": "Asia/Kolkata",
            },
        )

    assert raised.value.status == 502
    assert len(requests_to(sandbox, "PATCH", f"/bookings/{booking['sid']}")) == 1
    assert sandbox.booking(booking["sid"])["starts_at"] == "2030-01-09T09:30:00.000Z"  # type: ignore[index]
    assert waits == []


# ---- connection refused: nothing was sent, so even a write is retried ---------------------------


def test_read_is_retried_when_the_connection_is_refused(unreachable_hook: NeetoCalHook, waits: list[float]) -> None:
    with pytest.raises(NeetoCalConnectionError) as raised:
        list(unreachable_hook.list_meetings())

    assert raised.value.request_sent is False
    assert waits == [1.0, 2.0, 4.0]


def test_booking_post_is_retried_when_the_connection_is_refused(
    unreachable_hook: NeetoCalHook, waits: list[float]
) -> None:
    with pytest.raises(NeetoCalConnectionError) as raised:
        unreachable_hook.create_booking(quick_sync_payload())

    assert not isinstance(raised.value, NeetoCalOutcomeUnknownError)
    assert raised.value.request_sent is False
    assert "could not connect" in str(raised.value)
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert waits == [1.0, 2.0, 4.0]


def test_booking_post_after_the_server_went_away_is_retried_not_outcome_unknown(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    hook.create_booking(quick_sync_payload("01:00 AM"))  # leaves a keep-alive connection in the pool
    sandbox.stop()

    with pytest.raises(NeetoCalConnectionError) as raised:
        hook.create_booking(quick_sync_payload("02:00 AM"))

    assert not isinstance(raised.value, NeetoCalOutcomeUnknownError)
    assert raised.value.request_sent is False
    assert waits == [1.0, 2.0, 4.0]


def test_booking_post_succeeds_once_the_server_comes_up_between_retries(
    monkeypatch: pytest.MonkeyPatch, waits: list[float]
) -> None:
    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_LATE", neetocal_conn_json(f"http://127.0.0.1:{port}"))
    late = NeetoCalSandbox(api_key=TEST_API_KEY, port=port, now=lambda: NOW)

    def start_server_instead_of_sleeping(seconds: float) -> None:
        waits.append(seconds)
        if not late.running:
            late.start()

    hook = NeetoCalHook("neetocal_late")
    hook._sleep = start_server_instead_of_sleeping
    try:
        created = hook.create_booking(quick_sync_payload())
        assert waits == [1.0]
        assert [b["sid"] for b in late.bookings] == [created["sid"]]
        assert len(requests_to(late, "POST", "/bookings")) == 1
    finally:
        hook.close()
        late.stop()


# ---- redirects -----------------------------------------------------------------------------------


@pytest.fixture
def redirecting_hook(sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch, waits: list[float]):
    """A hook whose connection points at a real HTTP server that redirects every request elsewhere.

    It stands for a misconfigured proxy or a moved workspace: every request is answered with the
    status in ``redirecting_hook.status`` and ``Location`` = the same path on the sandbox, but under
    the name ``localhost`` (another host than the ``127.0.0.1`` the connection names).
    """
    target = f"http://localhost:{sandbox.port}"

    class Redirect(BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(made.status)  # type: ignore[attr-defined]
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._redirect()

        def do_POST(self) -> None:
            self._redirect()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEETOCAL_REDIRECTED", neetocal_conn_json(f"http://127.0.0.1:{server.server_address[1]}")
    )
    made = make_hook(waits, "neetocal_redirected")
    made.status = 307  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        made.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_api_key_is_not_sent_to_another_host_on_a_redirect(
    redirecting_hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    with pytest.raises(NeetoCalApiError):
        list(redirecting_hook.list_meetings())

    assert not [r for r in sandbox.requests if r.authenticated]


def test_create_booking_redirected_with_302_is_not_reported_as_a_success(
    redirecting_hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    redirecting_hook.status = 302  # type: ignore[attr-defined]

    with pytest.raises(NeetoCalApiError):
        redirecting_hook.create_booking(quick_sync_payload())

    assert requests_to(sandbox, "GET", "/bookings") == []


# ---- secrecy -----------------------------------------------------------------------------------


def test_key_echoed_back_by_the_server_is_redacted_from_the_error(hook: NeetoCalHook) -> None:
    with pytest.raises(NeetoCalClientError) as raised:
        hook.create_booking(oliver_payload(meeting_slug=TEST_API_KEY))

    assert TEST_API_KEY not in str(raised.value)
    assert TEST_API_KEY not in " ".join(raised.value.errors)
    assert "no meeting with meeting_slug '***'" in str(raised.value)


def test_closed_hook_reopens_its_session_when_used_again(hook: NeetoCalHook) -> None:
    assert len(list(hook.list_meetings())) == 4
    hook.close()

    assert len(list(hook.list_meetings())) == 4


def test_api_key_appears_in_no_error_message_or_log_line(
    hook: NeetoCalHook,
    wrong_key_hook: NeetoCalHook,
    unreachable_hook: NeetoCalHook,
    sandbox: NeetoCalSandbox,
    log_output: Callable[[], str],
) -> None:
    def failing(kind: str, method: str, path: str, call: Callable[[], object], times: int = 1) -> Callable[[], object]:
        def run() -> object:
            sandbox.inject(kind, times=times, method=method, path=path, retry_after=1)
            return call()

        return run

    calls: list[Callable[[], object]] = [
        lambda: list(wrong_key_hook.list_bookings()),
        lambda: hook.get_booking("zzzzzzz"),
        lambda: hook.create_booking(oliver_payload(meeting_slug="no-such-meeting")),
        failing("rate_limit", "GET", "/meetings", lambda: list(hook.list_meetings()), times=6),
        failing(
            "server_error",
            "GET",
            "/slots",
            lambda: hook.get_slots("quick-sync", time_zone="UTC", year=2030, month=1),
            times=4,
        ),
        failing("commit_then_drop", "POST", "/bookings", lambda: hook.create_booking(quick_sync_payload("01:00 AM"))),
        failing("commit_then_502", "POST", "/bookings", lambda: hook.create_booking(quick_sync_payload("02:00 AM"))),
        lambda: unreachable_hook.create_booking(quick_sync_payload()),
    ]
    texts: list[str] = [wrong_key_hook.test_connection()[1], unreachable_hook.test_connection()[1]]
    for call in calls:
        with pytest.raises(AirflowException) as raised:
            call()
        texts += [str(raised.value), repr(raised.value), *getattr(raised.value, "errors", [])]

    for text in [*texts, log_output()]:
        assert TEST_API_KEY not in text
        assert WRONG_KEY not in text
