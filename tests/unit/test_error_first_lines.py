"""The first line of every common failure fits the task log viewer and says what happened and what to do.

Airflow's log viewer does not wrap lines: what is past ~120 characters needs a sideways scroll. So each
error the hook raises for the usual failures (401, 403, 404, 409, 422, 429, 5xx, a timeout, a refused
connection) reads ``<what happened> — <what to do>`` within ``FIRST_LINE_WIDTH`` characters, whatever
NeetoCal's own words are; the next line carries the HTTP status, the request and NeetoCal's words whole.
Driven through the hook over ``requests``, with NeetoCal's words long enough not to fit the first line.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import requests_mock as rm
from urllib3.exceptions import NewConnectionError

from airflow_provider_neetocal.exceptions import (
    FIRST_LINE_WIDTH,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
)
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import FIRST_LINE_WIDTH as OPERATOR_FIRST_LINE_WIDTH
from airflow_provider_neetocal.retries import RetryPolicy
from tests.conftest import TEST_API_KEY

API = "https://acme.neetocal.com/api/external/v1"
#: NeetoCal's words, long enough that they can never share the first line with the advice.
LONG = (
    "The request could not be completed because the workspace settings, the meeting's availability rules and "
    "the attendee's existing bookings do not allow it at this time"
)
#: What the advice of each kind starts with: the "what to do" half of the first line.
ADVICE = {
    NeetoCalAuthError: "check the connection's API key",
    NeetoCalNotFoundError: "check the meeting slug or booking sid",
    NeetoCalClientError: "fix it and run again",
    NeetoCalRateLimitError: "send fewer requests per second",
    NeetoCalServerError: "probably temporary: Airflow retries",
    NeetoCalConnectionError: "check Workspace / base URL, proxy and network",
    NeetoCalOutcomeUnknownError: "not re-sent; a retry checks NeetoCal first",
}


def _refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(type("MaxRetryError", (), {"reason": reason})())


@pytest.fixture
def hook(neetocal_conn) -> NeetoCalHook:
    neetocal_conn("acme")
    made = NeetoCalHook(retry_policy=RetryPolicy(max_retries=1, max_rate_limit_waits=1, backoff=1.0, max_wait=30))
    made._sleep = lambda seconds: None  # type: ignore[method-assign]
    return made


CASES: list[tuple[str, str, dict[str, Any], type[NeetoCalApiError], str]] = [
    ("401", "GET", {"status_code": 401, "json": {"error": LONG}}, NeetoCalAuthError, "HTTP 401 to GET /bookings/abc"),
    ("403", "GET", {"status_code": 403, "json": {"message": LONG}}, NeetoCalAuthError, "HTTP 403 to GET /bookings/abc"),
    (
        "404",
        "GET",
        {"status_code": 404, "json": {"error": LONG}},
        NeetoCalNotFoundError,
        "HTTP 404 to GET /bookings/abc",
    ),
    ("409", "POST", {"status_code": 409, "json": {"error": LONG}}, NeetoCalClientError, "HTTP 409 to POST /bookings"),
    (
        "422",
        "POST",
        {"status_code": 422, "json": {"errors": [LONG]}},
        NeetoCalClientError,
        "HTTP 422 to POST /bookings",
    ),
    (
        "429",
        "GET",
        {"status_code": 429, "json": {"error": LONG}, "headers": {"Retry-After": "7"}},
        NeetoCalRateLimitError,
        "HTTP 429 to GET /bookings/abc, asking to wait 7 s",
    ),
    ("500", "GET", {"status_code": 500, "json": {"error": LONG}}, NeetoCalServerError, "HTTP 500 to GET /bookings/abc"),
    (
        "502-html",
        "GET",
        {"status_code": 502, "text": f"<html><title>{LONG}</title></html>", "headers": {"Content-Type": "text/html"}},
        NeetoCalServerError,
        "HTTP 502 to GET /bookings/abc",
    ),
    (
        "read-timeout",
        "GET",
        {"exc": requests.exceptions.ReadTimeout("HTTPSConnectionPool: Read timed out. (read timeout=30)")},
        NeetoCalConnectionError,
        "GET /bookings/abc: no HTTP answer",
    ),
    (
        "write-timeout",
        "POST",
        {"exc": requests.exceptions.ReadTimeout("HTTPSConnectionPool: Read timed out. (read timeout=30)")},
        NeetoCalOutcomeUnknownError,
        "POST /bookings: no HTTP answer",
    ),
    ("refused", "GET", {"exc": _refused()}, NeetoCalConnectionError, "GET /bookings/abc: no HTTP answer"),
]


def _raised(hook: NeetoCalHook, method: str, answer: dict[str, Any]) -> NeetoCalApiError:
    with rm.Mocker() as m:
        if method == "GET":
            m.get(f"{API}/bookings/abc", **answer)
            call = lambda: hook.get_booking("abc")  # noqa: E731
        else:
            m.post(f"{API}/bookings", **answer)
            call = lambda: hook.create_booking({"meeting_slug": "demo"})  # noqa: E731
        with pytest.raises(NeetoCalApiError) as caught:
            call()
    return caught.value


@pytest.mark.parametrize(("case", "method", "answer", "error_type", "details"), CASES, ids=[c[0] for c in CASES])
def test_the_first_line_says_what_happened_and_what_to_do_within_the_log_viewers_width(
    hook: NeetoCalHook, case: str, method: str, answer: dict[str, Any], error_type: type, details: str
) -> None:
    error = _raised(hook, method, answer)
    first, second = str(error).split("\n")

    assert type(error) is error_type
    assert len(first) <= FIRST_LINE_WIDTH, first
    what, advice = first.split(" — ")
    assert what
    assert advice.startswith(ADVICE[error_type])
    assert "HTTP" not in first
    assert details in second
    assert TEST_API_KEY not in str(error)


@pytest.mark.parametrize(
    ("case", "method", "answer", "error_type", "details"), CASES[:8], ids=[c[0] for c in CASES[:8]]
)
def test_neetocals_words_too_long_for_the_first_line_are_quoted_whole_on_the_second(
    hook: NeetoCalHook, case: str, method: str, answer: dict[str, Any], error_type: type, details: str
) -> None:
    first, second = str(_raised(hook, method, answer)).split("\n")

    assert LONG not in first
    assert details in second
    assert second.endswith(LONG)


def test_short_words_from_neetocal_are_quoted_on_the_first_line_too(hook: NeetoCalHook) -> None:
    error = _raised(hook, "POST", {"status_code": 409, "json": {"error": "Booking already exists"}})

    assert str(error).split("\n")[0] == (
        "NeetoCal refused the request: Booking already exists — fix it and run again; retrying the same request "
        "cannot help"
    )


def test_the_operators_first_line_width_is_the_errors() -> None:
    assert OPERATOR_FIRST_LINE_WIDTH == FIRST_LINE_WIDTH
