"""The sandbox's request journal: what clients sent and what they got, without the API key."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: Headers never kept in the journal (credentials).
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox saw it.

    :param method: HTTP method, upper case.
    :param path: the route after ``/api/external/v1`` or ``/v2`` (e.g. ``/bookings/abc1234/cancel``;
        :attr:`api_version` says which); for a request outside the API, its full path.
    :param query: query parameters (the last value of a repeated one).
    :param json: the parsed body (JSON, or a form-encoded body as a dict), or ``None`` when empty or unparsable.
    :param status: the status answered, or ``None`` when the connection was dropped without an answer.
    :param full_path: the request path without the query string.
    :param headers: the request headers minus credentials (``X-Api-Key`` is never kept).
    :param authenticated: whether a correct ``X-Api-Key`` was sent.
    :param fault: the fault kind applied to this request, if any.
    :param arrived: ``time.monotonic()`` when the request was read (before any latency or fault), so a
        test can count what a client sent per second.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int | None
    full_path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = False
    fault: str | None = None
    arrived: float = field(default=0.0, compare=False)

    @property
    def api_version(self) -> str | None:
        """``"v1"`` or ``"v2"`` for a request to ``/api/external/v1`` or ``/v2`` (read from :attr:`full_path`)."""
        for version in ("v1", "v2"):
            prefix = f"/api/external/{version}"
            if self.full_path == prefix or self.full_path.startswith(prefix + "/"):
                return version
        return None


class RequestJournal:
    """A thread-safe, append-only list of :class:`RecordedRequest`."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def public_headers(headers: Any) -> dict[str, str]:
    """Request headers without credentials."""
    return {name: value for name, value in headers.items() if name.lower() not in SECRET_HEADERS}
