"""NeetoCalHook at the ``requests`` layer: URLs, headers, pagination, retries, errors, secrecy."""

from __future__ import annotations

import pytest
import requests
import requests_mock as rm
from urllib3.exceptions import NewConnectionError

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.exceptions import (
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRateLimitError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.hooks.neetocal import DEFAULT_TIMEOUT, NeetoCalHook
from airflow_provider_neetocal.retries import RetryPolicy
from tests.conftest import TEST_API_KEY

API = "https://acme.neetocal.com/api/external/v1"
BOOKING = {"id": "7f3c", "sid": "8sqtzrs", "status": "confirmed", "admin_booking_url": "https://x/b/8sqtzrs"}


@pytest.fixture
def hook(neetocal_conn) -> NeetoCalHook:
    neetocal_conn("acme")
    made = NeetoCalHook(retry_policy=RetryPolicy(max_retries=2, max_rate_limit_waits=3, backoff=1.0, max_wait=30))
    made.waits = []  # type: ignore[attr-defined]
    made._sleep = made.waits.append  # type: ignore[attr-defined]
    return made


def _refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(type("MaxRetryError", (), {"reason": reason})())


# -- where requests go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("acme", {}, "https://acme.neetocal.com/api/external/v1"),
        ("acme.neetocal.com", {}, "https://acme.neetocal.com/api/external/v1"),
        ("http://127.0.0.1:8765", {}, "http://127.0.0.1:8765/api/external/v1"),
        ("https://proxy.example.com/neetocal", {}, "https://proxy.example.com/neetocal/api/external/v1"),
        ("acme", {"base_url": "http://localhost:9000"}, "http://localhost:9000/api/external/v1"),
    ],
)
def test_base_url_follows_the_connection(neetocal_conn, host, extra, expected):
    neetocal_conn(host, **extra)
    assert NeetoCalHook().base_url == expected


def test_uri_form_of_the_connection_is_understood(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", f"neetocal://:{TEST_API_KEY}@acme")
    hook = NeetoCalHook()
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", json=BOOKING)
        hook.get_booking("abc")
    assert m.last_request.headers["X-Api-Key"] == TEST_API_KEY


def test_loopback_address_with_port_in_uri_form_uses_plain_http(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", f"neetocal://:{TEST_API_KEY}@127.0.0.1:8765")
    assert NeetoCalHook().base_url == "http://127.0.0.1:8765/api/external/v1"


def test_plain_http_to_another_machine_is_refused_before_any_request(neetocal_conn):
    neetocal_conn("http://neetocal.example.com")
    with rm.Mocker() as m, pytest.raises(NeetoCalConfigError, match="clear text"):
        NeetoCalHook().create_booking({"meeting_slug": "x"})
    assert m.call_count == 0


def test_missing_api_key_is_a_config_error_naming_the_field(neetocal_conn):
    neetocal_conn("acme", password="")
    with pytest.raises(NeetoCalConfigError, match="API key") as caught:
        NeetoCalHook().get_booking("abc")
    assert isinstance(caught.value, AirflowFailException)


def test_session_sends_key_json_headers_and_user_agent(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", json=BOOKING)
        hook.create_booking({"meeting_slug": "demo"})
    headers = m.last_request.headers
    assert headers["X-Api-Key"] == TEST_API_KEY
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith(f"airflow-provider-neetocal/{__version__} ")
    assert m.last_request.json() == {"meeting_slug": "demo"}


def test_every_request_has_connect_and_read_timeouts(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", json=BOOKING)
        hook.get_booking("abc")
    assert m.last_request.timeout == DEFAULT_TIMEOUT


def test_timeout_comes_from_the_connection_extra_unless_given(neetocal_conn):
    neetocal_conn("acme", timeout="12")
    assert NeetoCalHook().timeout == (12.0, 12.0)
    assert NeetoCalHook(timeout=(3, 7)).timeout == (3.0, 7.0)


def test_invalid_timeout_extra_is_a_config_error(neetocal_conn):
    neetocal_conn("acme", timeout="soon")
    with pytest.raises(NeetoCalConfigError, match="timeout"):
        _ = NeetoCalHook().timeout


# -- endpoints ---------------------------------------------------------------------------------


def test_create_booking_returns_the_booking_as_neetocal_answered(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", json=BOOKING)
        assert hook.create_booking({"meeting_slug": "demo"}) == BOOKING


@pytest.mark.parametrize("sid", ["", "../meetings", "a/b", "a b", None, 12])
def test_identifiers_that_would_change_the_path_are_refused(hook, sid):
    with rm.Mocker() as m, pytest.raises(NeetoCalValidationError, match="booking_sid"):
        hook.get_booking(sid)
    assert m.call_count == 0


def test_list_bookings_walks_every_page_with_filters(hook):
    pages = {
        page: {
            "bookings": [{"sid": f"p{page}b{i}"} for i in range(2 if page < 3 else 1)],
            "pagination": {"total_records": 5, "total_pages": 3, "current_page_number": page, "page_size": 2},
        }
        for page in (1, 2, 3)
    }
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", [{"json": pages[1]}, {"json": pages[2]}, {"json": pages[3]}])
        sids = [b["sid"] for b in hook.list_bookings(client_email="eve@example.com", type="upcoming", page_size=2)]
    assert sids == ["p1b0", "p1b1", "p2b0", "p2b1", "p3b0"]
    queries = [r.qs for r in m.request_history]
    assert [q["page_number"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(q["client_email"] == ["eve@example.com"] and q["type"] == ["upcoming"] for q in queries)
    assert all("host_email" not in q for q in queries)


def test_list_bookings_stops_on_an_empty_page_even_if_pagination_lies(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json={"bookings": [], "pagination": {"total_pages": 99}})
        assert list(hook.list_bookings()) == []
    assert m.call_count == 1


def test_page_size_above_neetocal_maximum_is_refused(hook):
    with pytest.raises(NeetoCalValidationError, match="page_size"):
        list(hook.list_bookings(page_size=500))


def test_cancel_sends_reason_as_query_parameter(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings/abc/cancel", json={"message": "Booking cancelled"})
        assert hook.cancel_booking("abc", cancel_reason="Host ill") == {"message": "Booking cancelled"}
    assert m.last_request.qs == {"cancel_reason": ["host ill"]}


def test_reschedule_patches_the_booking(hook):
    with rm.Mocker() as m:
        m.patch(f"{API}/bookings/abc", json=BOOKING)
        hook.reschedule_booking("abc", {"slot_date": "2030-01-02"})
    assert m.last_request.method == "PATCH"
    assert m.last_request.json() == {"slot_date": "2030-01-02"}


def test_get_slots_passes_zone_and_month(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/slots/demo", json={"slots": [{"date": "2030-01-02", "day": 2, "slots": {}}]})
        assert hook.get_slots("demo", time_zone="UTC", year=2030, month=1)[0]["day"] == 2
    assert m.last_request.qs == {"time_zone": ["utc"], "year": ["2030"], "month": ["1"]}


# -- retries -----------------------------------------------------------------------------------


def test_429_is_retried_after_the_retry_after_seconds(hook):
    with rm.Mocker() as m:
        m.post(
            f"{API}/bookings",
            [
                {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"error": "Too many requests"}},
                {"json": BOOKING},
            ],
        )
        assert hook.create_booking({}) == BOOKING
    assert m.call_count == 2
    assert hook.waits == [7.0]


def test_429_without_retry_after_backs_off_exponentially(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", [{"status_code": 429}, {"status_code": 429}, {"json": BOOKING}])
        hook.get_booking("abc")
    assert hook.waits == [1.0, 2.0]


def test_retry_after_is_capped_by_max_wait(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", [{"status_code": 429, "headers": {"Retry-After": "3600"}}, {"json": BOOKING}])
        hook.get_booking("abc")
    assert hook.waits == [30.0]


def test_429_after_the_budget_is_a_retryable_task_error(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", status_code=429, headers={"Retry-After": "1"}, json={"error": "Slow down"})
        with pytest.raises(NeetoCalRateLimitError, match="Slow down") as caught:
            hook.create_booking({})
    assert m.call_count == 4  # first try + max_rate_limit_waits
    assert not isinstance(caught.value, AirflowFailException)
    assert caught.value.retry_after == 1.0


def test_rate_limit_waits_do_not_use_up_network_retries(hook):
    responses = [{"status_code": 429}] * 3 + [{"exc": _refused()}] * 2 + [{"json": BOOKING}]
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", responses)
        assert hook.create_booking({}) == BOOKING
    assert m.call_count == 6


def test_connection_refused_before_sending_is_retried_even_for_a_post(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [{"exc": _refused()}, {"json": BOOKING}])
        assert hook.create_booking({}) == BOOKING
    assert m.call_count == 2


def test_connection_refused_every_time_is_a_retryable_error(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", exc=_refused())
        with pytest.raises(NeetoCalConnectionError, match="could not connect"):
            hook.get_booking("abc")
    assert m.call_count == 3


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 500, "json": {"error": "Internal error"}},
        {"status_code": 502, "text": "<html><title>502 Bad Gateway</title></html>"},
        {"status_code": 504, "text": "upstream timed out"},
        {"exc": requests.exceptions.ReadTimeout("read timed out")},
        {"exc": requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected")},
        {"status_code": 200, "text": '{"sid": "8sq'},
    ],
    ids=["500", "502-html", "504", "read-timeout", "dropped", "truncated-json"],
)
def test_a_post_that_may_have_been_applied_is_never_resent(hook, failure):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [failure, {"json": BOOKING}])
        with pytest.raises(NeetoCalOutcomeUnknownError, match="may have applied the request") as caught:
            hook.create_booking({})
    assert m.call_count == 1
    assert isinstance(caught.value, NeetoCalRetryableError)
    assert not isinstance(caught.value, AirflowFailException)


def test_reads_are_retried_on_5xx_and_timeouts(hook):
    with rm.Mocker() as m:
        m.get(
            f"{API}/bookings/abc",
            [{"status_code": 503}, {"exc": requests.exceptions.ReadTimeout("slow")}, {"json": BOOKING}],
        )
        assert hook.get_booking("abc") == BOOKING
    assert hook.waits == [1.0, 2.0]


def test_reads_give_up_after_max_retries_with_a_server_error(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", status_code=500, json={"error": "boom"})
        with pytest.raises(
            NeetoCalServerError,
            match=r"^NeetoCal had a server error: boom — .*\nNeetoCal answered HTTP 500 to GET /bookings/abc$",
        ):
            hook.get_booking("abc")
    assert m.call_count == 3


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, NeetoCalClientError),
        (401, NeetoCalAuthError),
        (403, NeetoCalAuthError),
        (404, NeetoCalNotFoundError),
        (422, NeetoCalClientError),
    ],
)
def test_client_errors_fail_the_task_without_retrying(hook, status, error_type):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", status_code=status, json={"error": "NeetoCal says no"})
        with pytest.raises(
            error_type, match=rf"(: NeetoCal says no)? — .*\nNeetoCal answered HTTP {status} to POST /bookings"
        ) as caught:
            hook.create_booking({})
    assert m.call_count == 1
    assert isinstance(caught.value, AirflowFailException)
    assert caught.value.status == status
    assert "NeetoCal says no" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "Could not authenticate, invalid API Key"}, "Could not authenticate, invalid API Key"),
        ({"message": "The provided API key is invalid or expired"}, "The provided API key is invalid or expired"),
        ({"errors": ["Slot is not available", "Email is invalid"]}, "Slot is not available; Email is invalid"),
        ({"errors": {"email": ["is invalid"]}}, "email is invalid"),
        ({"notice": "Meeting is disabled"}, "Meeting is disabled"),
    ],
)
def test_error_message_quotes_neetocal_whatever_the_body_shape(hook, body, message):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", status_code=422, json=body)
        with pytest.raises(NeetoCalClientError) as caught:
            hook.create_booking({})
    first, details = str(caught.value).split("\n")
    advice = " — fix it and run again; retrying the same request cannot help"
    if len(f"NeetoCal refused the request: {message}{advice}") <= 120:  # quoted on the first line when it fits
        assert (first, details) == (
            f"NeetoCal refused the request: {message}{advice}",
            "NeetoCal answered HTTP 422 to POST /bookings",
        )
    else:
        assert (first, details) == (
            f"NeetoCal refused the request{advice}",
            f"NeetoCal answered HTTP 422 to POST /bookings: {message}",
        )


# -- the key stays secret ----------------------------------------------------------------------


def test_api_key_never_appears_in_logs_or_errors(hook, log_output):
    echoed = {"error": f"invalid key {TEST_API_KEY}"}
    messages = []
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [{"status_code": 429}, {"json": BOOKING}])
        m.get(f"{API}/bookings/abc", status_code=401, json=echoed)
        m.get(f"{API}/bookings/def", exc=requests.exceptions.ConnectionError(f"proxy said {TEST_API_KEY}"))
        hook.create_booking({})
        for sid in ("abc", "def"):
            with pytest.raises(NeetoCalApiError) as caught:
                hook.get_booking(sid)
            messages.append(str(caught.value))
    logs = log_output()
    assert "retrying in" in logs  # the capture sees the hook's own log lines
    for text in [*messages, logs]:
        assert TEST_API_KEY not in text
    assert "***" in messages[0]


# -- test_connection ---------------------------------------------------------------------------


def test_test_connection_reports_success_with_one_cheap_request(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json={"bookings": [], "pagination": {"total_pages": 0}})
        ok, message = hook.test_connection()
    assert ok is True
    assert "acme.neetocal.com" in message
    assert m.last_request.qs == {"page_size": ["1"], "page_number": ["1"]}


def test_test_connection_reports_a_wrong_key_without_raising(hook):
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", status_code=401, json={"error": "Could not authenticate, invalid API Key"})
        ok, message = hook.test_connection()
    assert ok is False
    assert "invalid API Key" in message
    assert TEST_API_KEY not in message


def test_test_connection_reports_a_bad_workspace_without_raising(neetocal_conn):
    neetocal_conn("not a workspace!")
    ok, message = NeetoCalHook().test_connection()
    assert ok is False
    assert "workspace subdomain" in message


@pytest.mark.parametrize("key", ["k", "k3y", "abcd", TEST_API_KEY])
def test_api_key_of_any_length_is_registered_with_the_secrets_masker(neetocal_conn, key):
    from airflow_provider_neetocal._compat import _secrets_masker

    neetocal_conn("acme", password=key)
    _ = NeetoCalHook().base_url
    assert key not in _secrets_masker().redact(f"the key is {key}!")
