"""Fixtures for the sandbox's own tests: a frozen clock, a running sandbox and a small HTTP client.

Every test talks real HTTP to a sandbox on 127.0.0.1. Dates are relative to :data:`NOW` (a Monday),
never to today's date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests

from airflow_provider_neetocal.sandbox import NeetoCalSandbox

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Monday 2030-01-07, 02:00 UTC (07:30 in Asia/Kolkata).
NOW = pendulum.datetime(2030, 1, 7, 2, 0, tz="UTC")
API_KEY = "sandbox-test-key-0123456789abcdef"
TIMEOUT = 10


class Clock:
    """A settable clock to hand to the sandbox as ``now``."""

    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = pendulum.instance(moment)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment = self.moment + timedelta(**delta)


class Client:
    """``requests`` bound to a sandbox: the API prefix and the key are filled in."""

    def __init__(self, sandbox: NeetoCalSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = sandbox.api_key

    def request(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, self.sandbox.api_url + route, **kwargs)

    def get(self, route: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", route, **kwargs)

    def post(self, route: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", route, **kwargs)

    def patch(self, route: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", route, **kwargs)

    def book(self, **fields: Any) -> requests.Response:
        """POST /bookings with a valid Oliver Smith booking, overridden by ``fields`` (None removes one)."""
        return self.post("/bookings", json=booking_payload(**fields))

    def booked(self, **fields: Any) -> dict[str, Any]:
        response = self.book(**fields)
        assert response.status_code == 200, response.text
        return dict(response.json())


def booking_payload(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "meeting_slug": "meeting-with-oliver-smith",
        "name": "Eve Smith",
        "email": "eve@example.com",
        "slot_date": "2030-01-07",
        "slot_start_time": "01:30 PM",
        "time_zone": "Asia/Kolkata",
        "preferred_meeting_spot": "jitsi",
    }
    payload.update(fields)
    return {key: value for key, value in payload.items() if value is not None}


def quick_sync(slot_date: str = "2030-01-07", slot_start_time: str = "10:00 AM", **fields: Any) -> dict[str, Any]:
    """Fields of a quick-sync booking (15 minutes, UTC, open every hour of every day)."""
    return {
        "meeting_slug": "quick-sync",
        "slot_date": slot_date,
        "slot_start_time": slot_start_time,
        "time_zone": "UTC",
        **fields,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[NeetoCalSandbox]:
    with NeetoCalSandbox(api_key=API_KEY, now=clock) as running:
        yield running


@pytest.fixture
def client(sandbox: NeetoCalSandbox) -> Iterator[Client]:
    client = Client(sandbox)
    yield client
    client.session.close()
