"""Persistence with ``state=`` and meetings configuration."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from airflow_provider_neetocal.sandbox.scheduling import ConfigError
from tests.sandbox.conftest import API_KEY, NOW, Client, Clock

if TYPE_CHECKING:
    from pathlib import Path

CUSTOM_MEETING = {
    "slug": "office-hours",
    "name": "Office hours",
    "duration": 20,
    "time_zone": "Europe/Paris",
    "hosts": [{"name": "Camille", "email": "camille@example.com"}],
    "spots": ["in_person"],
    "working_hours": {"monday": [["14:00", "16:00"]]},
}


def test_bookings_survive_a_restart_with_state(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.sqlite3"
    with NeetoCalSandbox(api_key=API_KEY, state=state, now=Clock(NOW)) as first:
        created = Client(first).booked()
    with NeetoCalSandbox(api_key=API_KEY, state=state, now=Clock(NOW)) as second:
        client = Client(second)
        fetched = client.get(f"/bookings/{created['sid']}").json()
        assert fetched["id"] == created["id"]
        assert fetched["client_booking_url"] == f"{second.url}/bookings/{created['sid']}"
        assert [b["sid"] for b in second.bookings] == [created["sid"]]
        assert "already booked" in client.book().json()["error"]
        assert client.post(f"/bookings/{created['sid']}/cancel").status_code == 200
    with NeetoCalSandbox(api_key=API_KEY, state=state, now=Clock(NOW)) as third:
        assert third.bookings[0]["status"] == "cancelled"


def test_reset_empties_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.sqlite3"
    with NeetoCalSandbox(api_key=API_KEY, state=state, now=Clock(NOW)) as first:
        Client(first).booked()
        first.reset()
    with NeetoCalSandbox(state=state) as second:
        assert second.bookings == []


def test_without_state_bookings_are_forgotten() -> None:
    with NeetoCalSandbox(api_key=API_KEY, now=Clock(NOW)) as first:
        Client(first).booked()
    with NeetoCalSandbox() as second:
        assert second.bookings == []


def test_meetings_from_a_list_of_dicts() -> None:
    sandbox = NeetoCalSandbox(meetings=[CUSTOM_MEETING])
    (meeting,) = sandbox.meetings
    assert (meeting["slug"], meeting["kind"], meeting["capacity"]) == ("office-hours", "one_on_one", 1)
    assert meeting["working_hours"] == {"monday": [["14:00", "16:00"]]}


def test_meetings_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "meetings.json"
    path.write_text(json.dumps({"meetings": [CUSTOM_MEETING]}))
    with NeetoCalSandbox(meetings=path, now=Clock(NOW)) as sandbox:
        booking = Client(sandbox).booked(
            meeting_slug="office-hours",
            time_zone="Europe/Paris",
            slot_start_time="02:20 PM",
            preferred_meeting_spot=None,
        )
        assert booking["preferred_meeting_spot"] == "in_person"
        assert booking["spot_details"]
        assert booking["room_url"] is None


def test_meetings_from_a_yaml_file(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "meetings.yaml"
    path.write_text(yaml.safe_dump({"meetings": [CUSTOM_MEETING]}))
    assert [m["slug"] for m in NeetoCalSandbox(meetings=str(path)).meetings] == ["office-hours"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"kind": "webinar"}, "kind"),
        ({"time_zone": "Nowhere/City"}, "time_zone"),
        ({"spots": ["skype"]}, "spots"),
        ({"hosts": []}, "host"),
        ({"working_hours": {"funday": [["09:00", "10:00"]]}}, "weekday"),
        ({"working_hours": {"monday": [["10:00", "09:00"]]}}, "ends before"),
        ({"working_hours": {"monday": [["9am", "10:00"]]}}, "HH:MM"),
        ({"capacity": 3}, "capacity"),
    ],
)
def test_invalid_meeting_configuration_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NeetoCalSandbox(meetings=[{**CUSTOM_MEETING, **change}])


def test_duplicate_slugs_are_refused() -> None:
    with pytest.raises(ConfigError, match="unique"):
        NeetoCalSandbox(meetings=[CUSTOM_MEETING, CUSTOM_MEETING])
