"""Specification of the hook's own retries: which failures are repeated, how often, and how long it waits.

Every test passes a fake ``sleep`` that records the waits, so nothing actually sleeps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_neetocal.exceptions import (
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
)
from airflow_provider_neetocal.retries import RATE_LIMIT, TRANSIENT, RetryPolicy, parse_retry_after

REQUEST = {"method": "GET", "endpoint": "/bookings", "message": "failed"}


def rate_limited(retry_after: float | None = None) -> NeetoCalRateLimitError:
    return NeetoCalRateLimitError(retry_after=retry_after, status=429, **REQUEST)


def server_error(status: int = 503) -> NeetoCalServerError:
    return NeetoCalServerError(status=status, **REQUEST)


def connection_error(*, request_sent: bool) -> NeetoCalConnectionError:
    return NeetoCalConnectionError(request_sent=request_sent, status=None, **REQUEST)


def client_error(status: int = 422) -> NeetoCalClientError:
    return NeetoCalClientError(status=status, **REQUEST)


def outcome_unknown() -> NeetoCalOutcomeUnknownError:
    return NeetoCalOutcomeUnknownError(cause=connection_error(request_sent=True))


class Script:
    """A request that fails with the given errors, in order, then answers ``"answer"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


class Recorder:
    """Stands in for ``time.sleep`` and for a logger."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.warnings: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)


def run(policy: RetryPolicy, script: Script, *, idempotent: bool, recorder: Recorder | None = None) -> Any:
    recorder = recorder or Recorder()
    return policy.retrying(idempotent=idempotent, sleep=recorder.sleep, logger=recorder)(script)


# --- kind_of: which budget a failure draws on ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "idempotent", "kind"),
    [
        (rate_limited(), True, RATE_LIMIT),
        (rate_limited(), False, RATE_LIMIT),
        (connection_error(request_sent=False), True, TRANSIENT),
        (connection_error(request_sent=False), False, TRANSIENT),
        (connection_error(request_sent=True), True, TRANSIENT),
        (connection_error(request_sent=True), False, None),
        (server_error(500), True, TRANSIENT),
        (server_error(502), False, None),
        (server_error(408), True, TRANSIENT),
        (outcome_unknown(), False, None),
        (client_error(400), True, None),
        (client_error(422), False, None),
        (NeetoCalAuthError(status=401, **REQUEST), True, None),
        (NeetoCalNotFoundError(status=404, **REQUEST), True, None),
        (NeetoCalApiError(status=418, **REQUEST), True, None),
        (ValueError("bug"), True, None),
        (KeyboardInterrupt(), True, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else repr(v),
)
def test_kind_of_failure(error: BaseException, idempotent: bool, kind: str | None) -> None:
    assert RetryPolicy().kind_of(error, idempotent=idempotent) == kind


def test_default_budgets() -> None:
    assert RetryPolicy() == RetryPolicy(max_retries=3, max_rate_limit_waits=5, backoff=1.0, max_wait=60.0)


# --- what is repeated ------------------------------------------------------------------------------------------


def test_success_at_first_attempt_does_not_wait() -> None:
    recorder, script = Recorder(), Script()

    assert run(RetryPolicy(), script, idempotent=False, recorder=recorder) == "answer"
    assert script.attempts == 1
    assert recorder.waits == []


def test_get_is_retried_on_5xx_until_it_succeeds() -> None:
    recorder, script = Recorder(), Script(server_error(502), server_error(503))

    assert run(RetryPolicy(), script, idempotent=True, recorder=recorder) == "answer"
    assert script.attempts == 3
    assert recorder.waits == [1.0, 2.0]


def test_get_gives_up_after_max_retries_and_raises_the_last_error() -> None:
    last = server_error(504)
    script = Script(server_error(500), server_error(502), server_error(503), last)

    with pytest.raises(NeetoCalServerError) as caught:
        run(RetryPolicy(max_retries=3), script, idempotent=True)

    assert caught.value is last
    assert script.attempts == 4


def test_post_is_not_retried_on_5xx_after_the_request_was_sent() -> None:
    recorder, script = Recorder(), Script(server_error(500))

    with pytest.raises(NeetoCalServerError):
        run(RetryPolicy(), script, idempotent=False, recorder=recorder)

    assert script.attempts == 1
    assert recorder.waits == []


@pytest.mark.parametrize("error", [connection_error(request_sent=True), outcome_unknown()], ids=type)
def test_post_whose_outcome_is_unknown_is_not_resent(error: BaseException) -> None:
    script = Script(error)

    with pytest.raises(type(error)):
        run(RetryPolicy(), script, idempotent=False)

    assert script.attempts == 1


def test_post_is_retried_when_the_connection_failed_before_sending() -> None:
    recorder, script = Recorder(), Script(connection_error(request_sent=False))

    assert run(RetryPolicy(), script, idempotent=False, recorder=recorder) == "answer"
    assert script.attempts == 2
    assert recorder.waits == [1.0]


def test_get_is_retried_after_a_dropped_connection() -> None:
    script = Script(connection_error(request_sent=True))

    assert run(RetryPolicy(), script, idempotent=True) == "answer"
    assert script.attempts == 2


@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize(
    "error",
    [client_error(422), NeetoCalAuthError(status=401, **REQUEST), NeetoCalNotFoundError(status=404, **REQUEST)],
    ids=type,
)
def test_client_errors_are_never_retried(error: BaseException, idempotent: bool) -> None:
    script = Script(error)

    with pytest.raises(type(error)):
        run(RetryPolicy(), script, idempotent=idempotent)

    assert script.attempts == 1


def test_unexpected_exception_propagates_at_once() -> None:
    script = Script(ValueError("bug in the hook"))

    with pytest.raises(ValueError, match="bug in the hook"):
        run(RetryPolicy(), script, idempotent=True)

    assert script.attempts == 1


def test_max_retries_zero_disables_transient_retries() -> None:
    script = Script(server_error())

    with pytest.raises(NeetoCalServerError):
        run(RetryPolicy(max_retries=0), script, idempotent=True)

    assert script.attempts == 1


# --- 429: a budget of its own ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("idempotent", [True, False], ids=["GET", "POST"])
def test_429_is_retried_for_reads_and_writes(idempotent: bool) -> None:
    script = Script(rate_limited())

    assert run(RetryPolicy(), script, idempotent=idempotent) == "answer"
    assert script.attempts == 2


def test_429_retries_honouring_retry_after() -> None:
    recorder = Recorder()

    run(RetryPolicy(), Script(rate_limited(7), rate_limited(0.5)), idempotent=False, recorder=recorder)

    assert recorder.waits == [7.0, 0.5]


def test_retry_after_is_capped_at_max_wait() -> None:
    recorder = Recorder()

    run(RetryPolicy(max_wait=30), Script(rate_limited(3600)), idempotent=True, recorder=recorder)

    assert recorder.waits == [30.0]


def test_negative_retry_after_waits_zero() -> None:
    recorder = Recorder()

    run(RetryPolicy(), Script(rate_limited(-5)), idempotent=True, recorder=recorder)

    assert recorder.waits == [0.0]


def test_429_without_retry_after_backs_off_exponentially_up_to_max_wait() -> None:
    recorder = Recorder()
    policy = RetryPolicy(max_rate_limit_waits=6, backoff=2, max_wait=20)

    run(policy, Script(*(rate_limited() for _ in range(6))), idempotent=True, recorder=recorder)

    assert recorder.waits == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_transient_backoff_is_exponential_and_capped() -> None:
    recorder = Recorder()
    policy = RetryPolicy(max_retries=5, backoff=0.5, max_wait=3)

    run(policy, Script(*(server_error() for _ in range(5))), idempotent=True, recorder=recorder)

    assert recorder.waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_429_gives_up_after_max_rate_limit_waits_and_raises_the_rate_limit_error() -> None:
    script = Script(*(rate_limited() for _ in range(3)))

    with pytest.raises(NeetoCalRateLimitError):
        run(RetryPolicy(max_rate_limit_waits=2), script, idempotent=True)

    assert script.attempts == 3


def test_429s_do_not_use_up_the_transient_budget() -> None:
    script = Script(rate_limited(), rate_limited(), rate_limited(), server_error())

    assert run(RetryPolicy(max_retries=1, max_rate_limit_waits=3), script, idempotent=True) == "answer"
    assert script.attempts == 5


def test_transient_failures_do_not_use_up_the_rate_limit_budget() -> None:
    script = Script(server_error(), server_error(), rate_limited())

    assert run(RetryPolicy(max_retries=2, max_rate_limit_waits=1), script, idempotent=True) == "answer"
    assert script.attempts == 4


def test_each_kind_backs_off_on_its_own_count() -> None:
    recorder = Recorder()
    script = Script(server_error(), rate_limited(), server_error(), rate_limited(), rate_limited(10))

    run(RetryPolicy(), script, idempotent=True, recorder=recorder)

    assert recorder.waits == [1.0, 1.0, 2.0, 2.0, 10.0]


def test_each_request_gets_fresh_budgets() -> None:
    policy = RetryPolicy(max_retries=1)
    recorder = Recorder()
    retrying = policy.retrying(idempotent=True, sleep=recorder.sleep)

    assert retrying(Script(server_error())) == "answer"
    second = policy.retrying(idempotent=True, sleep=recorder.sleep)
    assert second(Script(server_error())) == "answer"
    assert recorder.waits == [1.0, 1.0]


def test_retrying_also_works_as_an_attempt_loop() -> None:
    recorder, script = Recorder(), Script(rate_limited(2))
    answer = None

    for attempt in RetryPolicy().retrying(idempotent=False, sleep=recorder.sleep):
        with attempt:
            answer = script()

    assert answer == "answer"
    assert recorder.waits == [2.0]


def test_each_wait_is_logged_with_the_error_and_the_delay() -> None:
    recorder = Recorder()

    run(RetryPolicy(), Script(rate_limited(3)), idempotent=True, recorder=recorder)

    assert recorder.warnings == [
        "NeetoCal is rate-limiting this API key: failed (NeetoCal answered HTTP 429 to GET /bookings); "
        "retrying in 3.0 s"
    ]


def test_no_logger_is_fine() -> None:
    recorder = Recorder()

    assert RetryPolicy().retrying(idempotent=True, sleep=recorder.sleep)(Script(server_error())) == "answer"


# --- parse_retry_after -----------------------------------------------------------------------------------------------

NOW = dt.datetime(2025, 7, 15, 8, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5), ("-5", 0.0), ("-0.1", 0.0)],
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        "Tue, 15 Jul 2025 08:00:30 GMT",
        "Tuesday, 15-Jul-25 08:00:30 GMT",
        "Tue Jul 15 08:00:30 2025",
        "Tue, 15 Jul 2025 08:00:30 -0000",
        "Tue, 15 Jul 2025 10:00:30 +0200",
    ],
)
def test_retry_after_as_http_date_is_the_time_until_then(header: str) -> None:
    assert parse_retry_after(header, now=NOW) == 30.0


def test_retry_after_date_in_the_past_waits_zero() -> None:
    assert parse_retry_after("Mon, 14 Jul 2025 08:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize(
    "header", [None, "", "   ", "soon", "12abc", "Mon, 32 Jul 2025 08:00:00 GMT", "in 5 minutes"], ids=repr
)
def test_missing_or_junk_retry_after_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize("header", ["nan", "NaN", "inf", "-inf"])
def test_non_numeric_float_spellings_are_junk(header: str) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_nan_retry_after_never_reaches_sleep() -> None:
    recorder = Recorder()

    run(RetryPolicy(), Script(rate_limited(float("nan"))), idempotent=True, recorder=recorder)

    assert all(0.0 <= wait <= 60.0 for wait in recorder.waits)


def test_retry_after_as_http_date_without_now_counts_from_the_current_utc_time() -> None:
    """The hook calls it without ``now``: the default must be an aware UTC time, or every date would crash."""
    in_an_hour = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    header = in_an_hour.strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert 3590.0 <= parse_retry_after(header) <= 3600.0


def test_retry_after_as_past_http_date_without_now_waits_zero() -> None:
    assert parse_retry_after("Mon, 14 Jul 2025 08:00:00 GMT") == 0.0
