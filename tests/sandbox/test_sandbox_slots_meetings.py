"""GET /slots/{meeting_slug} and GET /meetings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal.sandbox import NeetoCalSandbox

if TYPE_CHECKING:
    from tests.sandbox.conftest import Client

SLOT_KEY = re.compile(r"(0[1-9]|1[0-2]):[0-5][0-9] (AM|PM)")


def _slots(client: Client, slug: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/slots/{slug}", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["slots"])


def test_one_day_of_quick_sync_slots(client: Client) -> None:
    (day,) = _slots(client, "quick-sync", time_zone="UTC", year=2030, month=1, day=7)
    assert (day["date"], day["day"]) == ("2030-01-07", 7)
    keys = list(day["slots"])
    # now is 02:00 UTC: 02:00 AM .. 11:45 PM, every 15 minutes
    assert keys[0] == "02:00 AM"
    assert keys[-1] == "11:45 PM"
    assert len(keys) == 22 * 4
    assert day["slots"]["02:00 AM"] == {
        "starts_at": "2030-01-07T02:00:00.000Z",
        "ends_at": "2030-01-07T02:15:00.000Z",
        "available_spots": 1,
    }


def test_booked_slots_disappear(client: Client) -> None:
    client.booked(meeting_slug="quick-sync", time_zone="UTC", slot_start_time="10:00 AM")
    (day,) = _slots(client, "quick-sync", time_zone="UTC", year=2030, month=1, day=7)
    assert "10:00 AM" not in day["slots"]
    assert "10:15 AM" in day["slots"]


def test_a_month_of_slots_in_the_meetings_zone(client: Client) -> None:
    days = _slots(client, "meeting-with-oliver-smith", time_zone="Asia/Kolkata", year=2030, month=1)
    assert [d["day"] for d in days] == list(range(1, 32))
    by_date = {d["date"]: d["slots"] for d in days}
    assert by_date["2030-01-06"] == {}  # Sunday (and in the past)
    assert by_date["2030-01-12"] == {}  # Saturday
    tuesday = list(by_date["2030-01-08"])
    assert tuesday[0] == "09:00 AM"
    assert tuesday[-1] == "05:30 PM"
    assert len(tuesday) == 18


def test_slots_are_shown_in_the_requested_zone(client: Client) -> None:
    (day,) = _slots(client, "meeting-with-oliver-smith", time_zone="UTC", year=2030, month=1, day=8)
    assert next(iter(day["slots"])) == "03:30 AM"
    assert all(SLOT_KEY.fullmatch(key) for key in day["slots"])


def test_group_slots_count_remaining_places(client: Client) -> None:
    client.booked(
        meeting_slug="weekly-webinar",
        time_zone="Europe/London",
        slot_start_time="10:00 AM",
        preferred_meeting_spot="zoom",
    )
    (day,) = _slots(client, "weekly-webinar", time_zone="Europe/London", year=2030, month=1, day=7)
    assert day["slots"]["10:00 AM"]["available_spots"] == 49
    assert day["slots"]["11:00 AM"]["available_spots"] == 50


def test_unknown_meeting_slots_is_404(client: Client) -> None:
    response = client.get("/slots/nope", params={"time_zone": "UTC", "year": 2030, "month": 1})
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"year": 2030, "month": 1}, "time_zone"),
        ({"time_zone": "Nowhere/City", "year": 2030, "month": 1}, "time_zone"),
        ({"time_zone": "UTC", "month": 1}, "year"),
        ({"time_zone": "UTC", "year": 2030}, "month"),
        ({"time_zone": "UTC", "year": 2030, "month": 13}, "month"),
        ({"time_zone": "UTC", "year": 2030, "month": 2, "day": 30}, "day"),
        ({"time_zone": "UTC", "year": "twenty", "month": 2}, "year"),
    ],
)
def test_invalid_slot_parameters_are_422(client: Client, params: dict[str, Any], field: str) -> None:
    response = client.get("/slots/quick-sync", params=params)
    assert response.status_code == 422
    assert field in response.json()["error"]


def test_list_meetings(client: Client, sandbox: NeetoCalSandbox) -> None:
    body = client.get("/meetings").json()
    slugs = [m["slug"] for m in body["meetings"]]
    assert slugs == ["meeting-with-oliver-smith", "product-demo", "quick-sync", "weekly-webinar"]
    assert body["pagination"] == {"total_records": 4, "total_pages": 1, "current_page_number": 1, "page_size": 30}
    assert body["meetings"] == sandbox.meetings
    oliver = body["meetings"][0]
    assert {"id", "sid", "name", "slug", "kind", "duration", "spots", "hosts"} <= set(oliver)
    assert (oliver["kind"], oliver["duration"], oliver["time_zone"]) == ("one_on_one", 30, "Asia/Kolkata")
    assert oliver["hosts"] == [{"name": "Oliver Smith", "email": "oliver@example.com"}]
    assert oliver["spots"] == ["jitsi", "zoom", "google_meet", "in_person"]
    webinar = body["meetings"][3]
    assert (webinar["kind"], webinar["capacity"]) == ("group", 50)


def test_filter_meetings_by_host(client: Client) -> None:
    body = client.get("/meetings", params={"host_email": "Oliver@Example.com"}).json()
    assert [m["slug"] for m in body["meetings"]] == ["meeting-with-oliver-smith", "weekly-webinar"]


def test_meetings_are_paginated(client: Client) -> None:
    body = client.get("/meetings", params={"page_size": 3, "page_number": 2}).json()
    assert [m["slug"] for m in body["meetings"]] == ["weekly-webinar"]
    assert body["pagination"]["total_pages"] == 2


def test_get_meeting_by_sid(client: Client, sandbox: NeetoCalSandbox) -> None:
    meeting = sandbox.meetings[1]
    assert client.get(f"/meetings/{meeting['sid']}").json() == meeting


def test_get_meeting_by_slug_is_404(client: Client) -> None:
    response = client.get("/meetings/product-demo")
    assert response.status_code == 404
    assert response.json() == {"error": "Meeting not found"}


def test_meeting_ids_are_stable_across_instances() -> None:
    assert NeetoCalSandbox().meetings == NeetoCalSandbox().meetings
