"""Clock control and status changes over time: what the sensor and trigger tests drive the sandbox with."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from tests.sandbox.conftest import NOW, Client, quick_sync

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox


def _sids(client: Client, kind: str) -> list[str]:
    return [b["sid"] for b in client.get("/bookings", params={"type": kind}).json()["bookings"]]


def test_advancing_the_clock_moves_a_booking_from_upcoming_to_past(sandbox: NeetoCalSandbox, client: Client) -> None:
    booking = client.booked(**quick_sync("2030-01-07", "10:00 AM"))
    assert _sids(client, "upcoming") == [booking["sid"]]
    assert sandbox.advance_clock(hours=9) == NOW + timedelta(hours=9)
    assert _sids(client, "upcoming") == []
    assert _sids(client, "past") == [booking["sid"]]


def test_the_clock_refuses_to_move_back(sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        sandbox.advance_clock(-1)


def test_set_clock_makes_slots_before_it_unavailable(sandbox: NeetoCalSandbox, client: Client) -> None:
    sandbox.set_clock(NOW + timedelta(days=1))
    answer = client.book(**quick_sync("2030-01-07", "10:00 AM"))
    assert answer.status_code == 422
    assert "in the past" in answer.json()["error"]


def test_a_status_set_at_once_shows_in_the_api(sandbox: NeetoCalSandbox, client: Client) -> None:
    booking = client.booked(**quick_sync())
    sandbox.set_status(booking["sid"], "cancelled", reason="attendee cannot make it")
    fetched = client.get(f"/bookings/{booking['sid']}").json()
    assert fetched["status"] == "cancelled"
    assert fetched["cancel_reason"] == "attendee cannot make it"
    assert _sids(client, "cancelled") == [booking["sid"]]


def test_a_scheduled_status_change_waits_for_the_clock(sandbox: NeetoCalSandbox, client: Client) -> None:
    booking = client.booked(**quick_sync())
    sandbox.set_status(booking["sid"], "rejected", at=NOW + timedelta(minutes=30))
    assert client.get(f"/bookings/{booking['sid']}").json()["status"] == "confirmed"
    sandbox.advance_clock(minutes=29)
    assert sandbox.booking(booking["sid"])["status"] == "confirmed"  # type: ignore[index]
    sandbox.advance_clock(minutes=1)
    assert client.get(f"/bookings/{booking['sid']}").json()["status"] == "rejected"


def test_set_status_refuses_unknown_statuses_and_bookings(sandbox: NeetoCalSandbox, client: Client) -> None:
    booking = client.booked(**quick_sync())
    with pytest.raises(ValueError, match="expected one of confirmed"):
        sandbox.set_status(booking["sid"], "done")
    with pytest.raises(KeyError, match="nope"):
        sandbox.set_status("nope", "cancelled")


def test_reset_forgets_scheduled_changes(sandbox: NeetoCalSandbox, client: Client) -> None:
    booking = client.booked(**quick_sync())
    sandbox.set_status(booking["sid"], "cancelled", at=NOW + timedelta(minutes=5))
    sandbox.reset()
    rebooked = client.booked(**quick_sync())
    sandbox.advance_clock(minutes=10)
    assert client.get(f"/bookings/{rebooked['sid']}").json()["status"] == "confirmed"


def test_the_date_header_follows_the_sandbox_clock(sandbox: NeetoCalSandbox, client: Client) -> None:
    assert client.get("/meetings").headers["Date"] == "Mon, 07 Jan 2030 02:00:00 GMT"
    sandbox.advance_clock(hours=1, seconds=5)
    assert client.get("/meetings").headers["Date"] == "Mon, 07 Jan 2030 03:00:05 GMT"
