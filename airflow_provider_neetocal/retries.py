"""When the hook may repeat an HTTP request by itself, and how long it waits first.

The rule that matters: a request is repeated only when repeating it cannot create a second
booking. That holds for

* a 429 (NeetoCal refused the request; waits as ``Retry-After`` says when present),
* a connection that failed before the request was sent (refused, DNS, connect timeout),
* and, for reads (``GET``), also read timeouts, dropped connections and 5xx/408 answers.

A write that was sent and then lost its answer is **not** repeated here: the caller gets
:class:`~airflow_provider_neetocal.exceptions.NeetoCalOutcomeUnknownError` and decides (the
operator looks the booking up before trying again). Rate-limit waits have their own budget so a
busy API does not use up the attempts meant for real failures.

Built on tenacity (already installed by Airflow) for the loop, waits and logging hooks; only the
classification and the two budgets are ours.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity

from airflow_provider_neetocal.exceptions import (
    NeetoCalApiError,
    NeetoCalConnectionError,
    NeetoCalRateLimitError,
    NeetoCalRetryableError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: ``Retry-After`` as delta-seconds: RFC 9110 says digits; a sign or decimals are tolerated.
_DELTA_SECONDS_RE = re.compile(r"^-?\d+(?:\.\d+)?$")

RATE_LIMIT = "rate limit"
TRANSIENT = "transient failure"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the hook's own retries for one request.

    :param max_retries: repeats after network errors or (for reads) 5xx answers.
    :param max_rate_limit_waits: repeats after 429 answers, counted apart from ``max_retries``.
    :param backoff: first wait in seconds; doubles on each repeat of the same kind.
    :param max_wait: longest single wait in seconds, also the cap on ``Retry-After``.
    """

    max_retries: int = 3
    max_rate_limit_waits: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0

    def kind_of(self, error: BaseException, *, idempotent: bool) -> str | None:
        """Which budget a failure draws on, or ``None`` when it must not be retried."""
        if isinstance(error, NeetoCalRateLimitError):
            return RATE_LIMIT
        if isinstance(error, NeetoCalConnectionError) and not error.request_sent:
            return TRANSIENT
        if idempotent and isinstance(error, NeetoCalRetryableError):
            return TRANSIENT
        return None

    def retrying(
        self,
        *,
        idempotent: bool,
        sleep: Callable[[float], None],
        logger: Any = None,
        on_rate_limit: Callable[[float], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity controller for one request, with fresh counters.

        :param on_rate_limit: told the wait after each 429 that will be retried, before it is slept
            (the bulk operator pauses every worker with it, not only the one that met the 429).
        """
        counts = {RATE_LIMIT: 0, TRANSIENT: 0}
        budgets = {RATE_LIMIT: self.max_rate_limit_waits, TRANSIENT: self.max_retries}

        def should_retry(error: BaseException) -> bool:
            kind = self.kind_of(error, idempotent=idempotent)
            if kind is None:
                return False
            counts[kind] += 1
            return counts[kind] <= budgets[kind]

        def stop(state: tenacity.RetryCallState) -> bool:
            # should_retry already refused when a budget ran out; nothing else stops the loop.
            return False

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            seconds = wait_for(error)
            if on_rate_limit is not None and isinstance(error, NeetoCalRateLimitError):
                on_rate_limit(seconds)
            return seconds

        def wait_for(error: BaseException | None) -> float:
            retry_after = error.retry_after if isinstance(error, NeetoCalRateLimitError) else None
            if retry_after is not None and math.isfinite(retry_after):
                return min(max(retry_after, 0.0), self.max_wait)
            kind = RATE_LIMIT if isinstance(error, NeetoCalRateLimitError) else TRANSIENT
            return float(min(self.backoff * 2 ** max(counts[kind] - 1, 0), self.max_wait))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if logger is None or state.outcome is None or state.next_action is None:
                return
            error = state.outcome.exception()
            brief = error.brief() if isinstance(error, NeetoCalApiError) else error
            logger.warning("%s; retrying in %.1f s", brief, state.next_action.sleep)

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=stop,
            wait=wait,
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _DELTA_SECONDS_RE.match(text):
        return max(float(text), 0.0)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    current = now or dt.datetime.now(dt.timezone.utc)
    return max((when - current).total_seconds(), 0.0)
