"""The sandbox's fault switch: periodic faults and a queue of one-shot faults.

A client that talks to a SaaS API over the internet meets rate limits, failing gateways, slow answers
and connections that die after the server has already committed a write. The fault switch lets a test
(or a demo) produce each of those on purpose, deterministically, so the client's retry and
idempotency logic can be exercised against real HTTP.

This module only decides *what* should go wrong for a request; :mod:`.server` carries it out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

#: Faults answered before the request is handled: nothing is committed. (``delay`` and
#: ``repeat_page`` then handle the request; ``repeat_page`` only changes what a list GET reads.)
BEFORE_COMMIT_KINDS = (
    "rate_limit",
    "server_error",
    "html_error",
    "malformed_json",
    "drop",
    "delay",
    "oversized",
    "raw",
    "repeat_page",
)
#: Faults applied after the request was handled (and a booking possibly stored).
AFTER_COMMIT_KINDS = (
    "commit_then_drop",
    "commit_then_502",
    "commit_then_delay",
    "commit_then_trickle",
    "commit_then_empty",
    "commit_then_sidless",
    "commit_then_tls_garbage",
)
FAULT_KINDS = BEFORE_COMMIT_KINDS + AFTER_COMMIT_KINDS

DEFAULT_STATUS = {
    "rate_limit": 429,
    "server_error": 500,
    "html_error": 502,
    "commit_then_502": 502,
    "oversized": 200,
    "raw": 200,
    "commit_then_empty": 200,
    "commit_then_sidless": 200,
}
DEFAULT_DELAY_SECONDS = 1.0
DEFAULT_RETRY_AFTER = 1.0
#: Body size of an ``oversized`` answer when ``size`` is not given: 20 MiB.
DEFAULT_OVERSIZED_BYTES = 20 * 1024 * 1024


def _check_every(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise ValueError(f"{name} must be a non-negative number of seconds or None, got {value!r}")


@dataclass(frozen=True)
class Faults:
    """Periodic faults, the same knobs as the command-line flags.

    ``rate_limit_every`` and ``server_error_every`` count every authenticated API request (the first
    request after the faults were set is number 1). ``commit_then_drop_every`` and
    ``commit_then_502_every`` count only ``POST /bookings`` requests that got past the other faults.

    :param latency: seconds added before answering every API request.
    :param rate_limit_every: every Nth API request answers 429.
    :param retry_after: value of the 429 ``Retry-After`` header; ``None`` omits the header.
    :param server_error_every: every Nth API request answers ``server_error_status`` before doing anything.
    :param server_error_status: the status used by ``server_error_every`` (500-599).
    :param commit_then_drop_every: every Nth ``POST /bookings`` stores the booking, then closes the
        connection without answering.
    :param commit_then_502_every: every Nth ``POST /bookings`` stores the booking, then answers 502 with
        an HTML gateway page.
    """

    latency: float = 0.0
    rate_limit_every: int | None = None
    retry_after: float | None = DEFAULT_RETRY_AFTER
    server_error_every: int | None = None
    server_error_status: int = 500
    commit_then_drop_every: int | None = None
    commit_then_502_every: int | None = None

    def __post_init__(self) -> None:
        _check_seconds("latency", self.latency)
        _check_seconds("retry_after", self.retry_after)
        for name in (
            "rate_limit_every",
            "server_error_every",
            "commit_then_drop_every",
            "commit_then_502_every",
        ):
            _check_every(name, getattr(self, name))
        if not 500 <= self.server_error_status <= 599:
            raise ValueError(f"server_error_status must be a 5xx status, got {self.server_error_status!r}")


@dataclass
class Fault:
    """A one-shot fault waiting in the queue until ``times`` matching requests consumed it.

    :param kind: one of :data:`FAULT_KINDS`.
    :param times: how many matching requests it applies to.
    :param method: only requests with this HTTP method match (any when ``None``).
    :param path: only requests whose route (the path after ``/api/external/v1``) starts with this match.
    :param status: status code for ``rate_limit``, ``server_error``, ``html_error``, ``commit_then_502``,
        ``oversized``, ``raw``, ``commit_then_empty`` and ``commit_then_sidless``.
    :param seconds: how long ``delay`` and ``commit_then_delay`` sleep, and the pause between the bytes
        of a ``commit_then_trickle`` body.
    :param retry_after: ``Retry-After`` of a ``rate_limit`` answer; ``None`` omits the header.
    :param size: body size in bytes of an ``oversized`` answer (20 MiB when ``None``).
    :param body: the body a ``raw`` answer sends verbatim (empty when ``None``).
    """

    kind: str
    times: int = 1
    method: str | None = None
    path: str | None = None
    status: int | None = None
    seconds: float | None = None
    retry_after: float | None = DEFAULT_RETRY_AFTER
    size: int | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        _check_every("times", self.times)
        _check_seconds("seconds", self.seconds)
        _check_seconds("retry_after", self.retry_after)
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        _check_every("size", self.size)
        if self.body is not None and not isinstance(self.body, str):
            raise ValueError(f"body must be a string or None, got {type(self.body).__name__}")
        if self.method is not None:
            self.method = self.method.upper()
        if self.path is not None and not self.path.startswith("/"):
            self.path = "/" + self.path

    def matches(self, method: str, route: str) -> bool:
        """Whether a request with this method and route is subject to the fault."""
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or route.startswith(self.path)

    def action(self) -> FaultAction:
        """The concrete action one matching request gets."""
        seconds = DEFAULT_DELAY_SECONDS if self.seconds is None else float(self.seconds)
        return FaultAction(
            kind=self.kind,
            status=self.status if self.status is not None else DEFAULT_STATUS.get(self.kind),
            seconds=seconds,
            retry_after=self.retry_after,
            size=DEFAULT_OVERSIZED_BYTES if self.size is None else self.size,
            body=self.body or "",
        )


@dataclass(frozen=True)
class FaultAction:
    """What happens to one request: the fault kind and its parameters."""

    kind: str
    status: int | None = None
    seconds: float = 0.0
    retry_after: float | None = None
    size: int = DEFAULT_OVERSIZED_BYTES
    body: str = ""

    @property
    def before_commit(self) -> bool:
        return self.kind in BEFORE_COMMIT_KINDS


@dataclass(frozen=True)
class FaultPlan:
    """The faults for one request: extra latency, then at most one fault before or after the commit."""

    latency: float = 0.0
    before: FaultAction | None = None
    after: FaultAction | None = None

    @property
    def name(self) -> str | None:
        action = self.before or self.after
        return action.kind if action else None


@dataclass
class PageAction:
    """A change of the workspace made right after a listing page is answered (a walk racing a change).

    :param action: what to do (create, cancel or move a booking: any callable, e.g. one that calls the
        sandbox's own API).
    :param page: run after this page number of a matching listing was answered.
    :param path: only listings whose route starts with this (``/bookings``).
    :param times: how many matching pages trigger it.
    """

    action: Callable[[], Any]
    page: int = 1
    path: str = "/bookings"
    times: int = 1

    def matches(self, route: str, page: int) -> bool:
        return page == self.page and route.startswith(self.path)


@dataclass
class _Counters:
    api_requests: int = 0
    booking_posts: int = 0


class FaultSwitch:
    """Thread-safe holder of the periodic faults, their counters and the one-shot queue."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._faults = faults if faults is not None else Faults()
        self._queue: list[Fault] = []
        self._page_actions: list[PageAction] = []
        self._counters = _Counters()
        self._lock = threading.Lock()

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        """Replace the periodic faults; their counters start again from zero."""
        with self._lock:
            self._faults = faults if faults is not None else Faults()
            self._counters = _Counters()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def pending(self) -> list[Fault]:
        """Copies of the one-shot faults not yet consumed, in queue order."""
        with self._lock:
            return [replace(fault) for fault in self._queue]

    def after_page(self, action: PageAction) -> None:
        with self._lock:
            self._page_actions.append(action)

    def page_actions(self, route: str, page: int) -> list[Callable[[], Any]]:
        """The changes due after page ``page`` of a listing of ``route`` was answered, consumed."""
        due: list[Callable[[], Any]] = []
        with self._lock:
            for action in list(self._page_actions):
                if action.matches(route, page):
                    action.times -= 1
                    if action.times <= 0:
                        self._page_actions.remove(action)
                    due.append(action.action)
        return due

    def clear(self) -> None:
        """Remove every fault, periodic and one-shot."""
        with self._lock:
            self._faults = Faults()
            self._queue.clear()
            self._page_actions.clear()
            self._counters = _Counters()

    def plan(self, method: str, route: str) -> FaultPlan:
        """Decide the faults for an authenticated API request, consuming one-shot faults it matches."""
        with self._lock:
            faults = self._faults
            self._counters.api_requests += 1
            count = self._counters.api_requests
            latency = float(faults.latency)
            for index, fault in enumerate(self._queue):
                if fault.matches(method, route):
                    fault.times -= 1
                    if fault.times == 0:
                        del self._queue[index]
                    action = fault.action()
                    if action.before_commit:
                        return FaultPlan(latency=latency, before=action)
                    return FaultPlan(latency=latency, after=action)
            if faults.rate_limit_every and count % faults.rate_limit_every == 0:
                action = FaultAction("rate_limit", status=429, retry_after=faults.retry_after)
                return FaultPlan(latency=latency, before=action)
            if faults.server_error_every and count % faults.server_error_every == 0:
                action = FaultAction("server_error", status=faults.server_error_status)
                return FaultPlan(latency=latency, before=action)
            if method.upper() == "POST" and route.rstrip("/") == "/bookings":
                self._counters.booking_posts += 1
                posts = self._counters.booking_posts
                if faults.commit_then_drop_every and posts % faults.commit_then_drop_every == 0:
                    return FaultPlan(latency=latency, after=FaultAction("commit_then_drop"))
                if faults.commit_then_502_every and posts % faults.commit_then_502_every == 0:
                    return FaultPlan(latency=latency, after=FaultAction("commit_then_502", status=502))
            return FaultPlan(latency=latency)
