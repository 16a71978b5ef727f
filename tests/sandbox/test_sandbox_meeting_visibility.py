"""Unlisted meetings (``"listed": false``) and case-insensitive meeting slugs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from airflow_provider_neetocal.sandbox.scheduling import ConfigError, Meeting
from tests.sandbox.conftest import NOW, Client, Clock

if TYPE_CHECKING:
    from collections.abc import Iterator

HOST = [{"name": "Host", "email": "host@example.com"}]
HOURS = {"monday": [["09:00", "17:00"]]}
MEETINGS: list[dict[str, Any]] = [
    {"slug": "public-call", "hosts": HOST, "working_hours": HOURS},
    {"slug": "secret-call", "sid": "hidden1", "hosts": HOST, "working_hours": HOURS, "listed": False},
]


@pytest.fixture
def hidden() -> Iterator[tuple[NeetoCalSandbox, Client]]:
    with NeetoCalSandbox(meetings=MEETINGS, now=Clock(NOW)) as sandbox:
        client = Client(sandbox)
        yield sandbox, client
        client.session.close()


def _booking(slug: str, start: str = "10:00 AM") -> dict[str, Any]:
    return {
        "meeting_slug": slug,
        "slot_date": "2030-01-07",
        "slot_start_time": start,
        "time_zone": "UTC",
        "name": "A",
        "email": "a@example.com",
    }


def test_unlisted_meeting_is_left_out_of_get_meetings(hidden: tuple[NeetoCalSandbox, Client]) -> None:
    sandbox, client = hidden
    body = client.get("/meetings").json()
    assert [m["slug"] for m in body["meetings"]] == ["public-call"]
    assert body["pagination"]["total_records"] == 1
    assert [m["slug"] for m in sandbox.meetings] == ["public-call"]


def test_unlisted_meeting_is_404_by_sid(hidden: tuple[NeetoCalSandbox, Client]) -> None:
    _, client = hidden
    response = client.get("/meetings/hidden1")
    assert response.status_code == 404
    assert response.json() == {"error": "Meeting not found"}


def test_unlisted_meeting_is_bookable_and_listed_in_bookings(hidden: tuple[NeetoCalSandbox, Client]) -> None:
    sandbox, client = hidden
    created = client.post("/bookings", json=_booking("secret-call"))
    assert created.status_code == 200, created.text
    sid = created.json()["sid"]
    listed = client.get("/bookings").json()["bookings"]
    assert [b["sid"] for b in listed] == [sid]
    assert [b["sid"] for b in sandbox.bookings] == [sid]
    assert client.get(f"/bookings/{sid}").status_code == 200


def test_unlisted_meeting_has_slots(hidden: tuple[NeetoCalSandbox, Client]) -> None:
    _, client = hidden
    response = client.get("/slots/secret-call", params={"time_zone": "UTC", "year": 2030, "month": 1, "day": 7})
    assert response.status_code == 200
    assert "10:00 AM" in response.json()["slots"][0]["slots"]


def test_listed_defaults_to_true_and_must_be_a_boolean() -> None:
    config = {"slug": "x", "hosts": HOST, "working_hours": HOURS}
    assert Meeting.from_config(config).listed is True
    assert Meeting.from_config({**config, "listed": False}).listed is False
    with pytest.raises(ConfigError, match="listed must be true or false"):
        Meeting.from_config({**config, "listed": "no"})


def test_booking_slug_resolves_case_insensitively(client: Client, sandbox: NeetoCalSandbox) -> None:
    created = client.book(meeting_slug="Meeting-With-OLIVER-Smith")
    assert created.status_code == 200, created.text
    assert sandbox.requests[-1].status == 200
    assert "meeting-with-oliver-smith" in [m["slug"] for m in client.get("/meetings").json()["meetings"]]


def test_slots_slug_resolves_case_insensitively(client: Client) -> None:
    params = {"time_zone": "UTC", "year": 2030, "month": 1, "day": 7}
    upper = client.get("/slots/QUICK-Sync", params=params)
    assert upper.status_code == 200
    assert upper.json() == client.get("/slots/quick-sync", params=params).json()
