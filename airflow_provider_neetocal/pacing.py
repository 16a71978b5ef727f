"""One request pace for many threads: a client-side rate limit and a pause the whole batch obeys.

The bulk operator sends from several worker threads over one HTTP session. Two things must hold
for all of them together, not per thread:

* at most ``max_requests_per_second`` requests start per second (NeetoCal's limits are per key,
  not per thread), spaced evenly rather than in bursts;
* after a 429, nobody sends until its ``Retry-After`` has passed: one worker waiting while the
  others carry on would only collect more 429s.

:class:`Pacer` does both with one lock and a clock; the hook calls :meth:`Pacer.wait` before every
request it sends and :meth:`Pacer.pause` when NeetoCal answers 429. It imports nothing but the
standard library (DAG files import the operator module that builds it).
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Pacer:
    """A shared gate before each request: an even rate and a pause all waiting threads obey.

    :param max_requests_per_second: requests started per second by all threads together;
        ``None`` for no limit (the pause still applies).
    :param clock: monotonic seconds (tests pass a fake one).
    :param sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        max_requests_per_second: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_requests_per_second = checked_rate(max_requests_per_second)
        self._interval = 1.0 / self.max_requests_per_second if self.max_requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = -math.inf  # the earliest moment the next request may start
        self._paused_until = -math.inf
        self.requests = 0  # how many requests were let through
        self.pauses = 0  # how many 429s paused the batch
        self.paused_seconds = 0.0  # total pause time asked for (overlapping pauses count once)

    def reserve(self) -> float:
        """Take the next start for the calling thread; return how long it must wait first (0: go now).

        The start is the later of now, the end of a pause and one interval after the previous start.
        Taking it moves the next one an interval further, so waiting threads leave in turn.
        """
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until, self._next_start)
            if self._interval:
                self._next_start = start + self._interval
            return start - now

    def wait(self) -> None:
        """Block until the calling thread may send one request."""
        while True:
            delay = self.reserve()
            if delay > 0:
                self._sleep(delay)
                if self.paused():
                    continue  # a 429 paused the batch while this thread slept: its start is void, queue again
            with self._lock:
                self.requests += 1
            return

    def pause(self, seconds: float) -> None:
        """Hold every request (of every thread) for ``seconds`` from now; a longer pause wins."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            until = now + seconds
            if until > self._paused_until:
                self.paused_seconds += until - max(now, self._paused_until)
                self._paused_until = until
            self.pauses += 1

    def paused(self) -> bool:
        """Whether a pause is in force now."""
        with self._lock:
            return self._clock() < self._paused_until


#: Slowest client-side rate accepted: one request every 100 s. Anything slower is a typo (a task
#: would sleep for hours between requests), and a subnormal rate would make the interval infinite.
MIN_REQUESTS_PER_SECOND = 0.01


def checked_rate(value: float | None) -> float | None:
    """``value`` if it is ``None`` or a finite number of requests per second of at least 0.01."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < MIN_REQUESTS_PER_SECOND
    ):
        raise ValueError(
            f"max_requests_per_second={value!r}: expected a number of requests per second from "
            f"{MIN_REQUESTS_PER_SECOND} (one every 100 s) up, or None for no limit"
        )
    return float(value)
