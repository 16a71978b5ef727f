"""API v2 of the sandbox (``/api/external/v2``): PATCH as the one update, slots by meeting sid, v2 filters,
201 on create, ``override_availability`` / ``host_email``, and single bookings bare or wrapped."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.sandbox.conftest import TIMEOUT, Client, quick_sync

pytestmark = pytest.mark.integration


class V2Client(Client):
    """The sandbox conftest's client, on ``/api/external/v2``."""

    def request(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, self.sandbox.api_v2_url + route, **kwargs)

    def booked(self, **fields: Any) -> dict[str, Any]:
        response = self.book(**fields)
        assert response.status_code == 201, response.text
        return bare(response.json())


def bare(body: dict[str, Any]) -> dict[str, Any]:
    return body["booking"] if set(body) == {"booking"} else body


@pytest.fixture
def v2(sandbox: NeetoCalSandbox) -> Any:
    client = V2Client(sandbox)
    yield client
    client.session.close()


def meeting_sid(sandbox: NeetoCalSandbox, slug: str) -> str:
    return next(m["sid"] for m in sandbox.meetings if m["slug"] == slug)


# ---- answers: 201, bare or wrapped ---------------------------------------------------------------


def test_create_answers_201_with_the_bare_booking_by_default(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    response = v2.book()

    assert response.status_code == 201
    assert response.json()["sid"] == sandbox.bookings[0]["sid"]
    assert sandbox.requests[-1].api_version == "v2"
    assert sandbox.requests[-1].path == "/bookings"


def test_wrapped_switch_wraps_create_get_and_update_answers(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.v2_booking_answers = "wrapped"

    created = v2.book()
    sid = created.json()["booking"]["sid"]
    fetched = v2.get(f"/bookings/{sid}")
    updated = v2.patch(f"/bookings/{sid}", json={"status": "cancelled"})

    assert set(created.json()) == {"booking"}
    assert set(fetched.json()) == {"booking"}
    assert fetched.json()["booking"]["form_responses_as_hash"] == {}
    assert updated.json()["booking"]["status"] == "cancelled"
    assert "booking" not in v2.get("/bookings").json()  # listings are never wrapped


def test_unknown_answer_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of bare, wrapped"):
        NeetoCalSandbox(v2_booking_answers="nested")


def test_v1_and_v2_see_the_same_bookings(client: Client, v2: V2Client) -> None:
    made_on_v1 = client.booked()

    assert bare(v2.get(f"/bookings/{made_on_v1['sid']}").json())["starts_at"] == made_on_v1["starts_at"]
    assert v2.book().status_code == 422  # the same slot, now taken, whichever version asks


# ---- PATCH: status changes and reschedules ----------------------------------------------------------


def test_v1_action_routes_do_not_exist_in_v2(v2: V2Client) -> None:
    sid = v2.booked()["sid"]

    assert v2.post(f"/bookings/{sid}/cancel").status_code == 404
    assert v2.post(f"/bookings/{sid}/reject").status_code == 404
    assert v2.get("/slots/quick-sync", params={"time_zone": "UTC", "year": 2030, "month": 1}).status_code == 404


def test_patch_status_cancelled_cancels_with_the_reason(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    sid = v2.booked()["sid"]

    answer = v2.patch(f"/bookings/{sid}", json={"status": "cancelled", "cancel_reason": "Double booked"})

    assert answer.status_code == 200
    assert bare(answer.json())["status"] == "cancelled"
    assert sandbox.booking(sid)["cancel_reason"] == "Double booked"  # type: ignore[index]
    again = v2.patch(f"/bookings/{sid}", json={"status": "cancelled"})
    assert again.status_code == 422
    assert "already cancelled" in again.json()["error"]


def test_patch_status_rejected_and_approved_follow_the_booking_status(v2: V2Client) -> None:
    sid = v2.booked()["sid"]

    assert v2.patch(f"/bookings/{sid}", json={"status": "approved"}).status_code == 422  # confirmed: nothing to approve
    rejected = v2.patch(f"/bookings/{sid}", json={"status": "rejected", "rejection_reason": "No room"})
    assert bare(rejected.json())["status"] == "rejected"
    assert bare(rejected.json())["cancel_reason"] == "No room"
    assert v2.patch(f"/bookings/{sid}", json={"status": "archived"}).status_code == 422


def test_reschedule_takes_only_the_fields_that_change(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    booking = v2.booked()

    moved = v2.patch(f"/bookings/{booking['sid']}", json={"slot_date": "2030-01-08", "slot_start_time": "03:00 PM"})

    assert moved.status_code == 200, moved.text
    after = bare(moved.json())
    assert after["starts_at"] == "2030-01-08T09:30:00.000Z"  # read in the booking's own zone, Asia/Kolkata
    assert (after["name"], after["email"], after["time_zone"]) == (booking["name"], booking["email"], "Asia/Kolkata")
    renamed = bare(v2.patch(f"/bookings/{booking['sid']}", json={"name": "Eve Jones"}).json())
    assert (renamed["name"], renamed["starts_at"]) == ("Eve Jones", after["starts_at"])


def test_reschedule_checks_the_new_slot_and_refuses_mixed_or_empty_updates(v2: V2Client) -> None:
    sid = v2.booked()["sid"]

    outside = v2.patch(f"/bookings/{sid}", json={"slot_date": "2030-01-08", "slot_start_time": "11:00 PM"})
    half = v2.patch(f"/bookings/{sid}", json={"slot_date": "2030-01-08"})
    mixed = v2.patch(f"/bookings/{sid}", json={"status": "cancelled", "slot_date": "2030-01-08"})
    empty = v2.patch(f"/bookings/{sid}", json={})

    assert "The selected slot is not available" in outside.json()["error"]
    assert "slot_start_time is required" in half.json()["error"]
    assert "status cannot change together with slot_date" in mixed.json()["error"]
    assert "nothing to update" in empty.json()["error"]
    assert {r.status_code for r in (outside, half, mixed, empty)} == {422}


# ---- create: override_availability and host_email ---------------------------------------------------


def test_override_availability_books_outside_the_working_hours(v2: V2Client) -> None:
    late = {"slot_start_time": "11:00 PM"}

    refused = v2.book(**late)
    overridden = v2.book(**late, override_availability=True)

    assert "The selected slot is not available" in refused.json()["error"]
    assert overridden.status_code == 201
    assert bare(overridden.json())["starts_at"] == "2030-01-07T17:30:00.000Z"
    assert "override_availability must be true or false" in v2.book(override_availability="yes").json()["error"]


def test_host_email_picks_the_host_of_a_multi_host_meeting(v2: V2Client) -> None:
    webinar = {"meeting_slug": "weekly-webinar", "time_zone": "Europe/London", "slot_start_time": "11:00 AM"}

    default = v2.booked(**webinar, preferred_meeting_spot="zoom")
    chosen = v2.booked(
        **webinar, preferred_meeting_spot="zoom", email="amy@example.com", host_email="amelia@example.com"
    )
    stranger = v2.book(**webinar, preferred_meeting_spot="zoom", email="x@example.com", host_email="who@example.com")

    assert default["host_email"] == "oliver@example.com"
    assert chosen["host_email"] == "amelia@example.com"
    assert "is not a host of this meeting" in stranger.json()["error"]


# ---- listing filters --------------------------------------------------------------------------------


def test_list_filters_by_meeting_sid_search_and_start_window_and_sorts(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    first = v2.booked(**quick_sync(slot_start_time="10:00 AM"), name="Ann Lee", email="ann@example.com")
    second = v2.booked(**quick_sync(slot_start_time="11:00 AM"), name="Bob Kay", email="bob@example.com")
    oliver = v2.booked()

    def sids(**params: Any) -> list[str]:
        response = v2.get("/bookings", params=params)
        assert response.status_code == 200, response.text
        return [b["sid"] for b in response.json()["bookings"]]

    assert sids(meeting_sid=meeting_sid(sandbox, "quick-sync")) == [first["sid"], second["sid"]]
    assert sids(search="bob") == [second["sid"]]
    assert oliver["starts_at"] == "2030-01-07T08:00:00.000Z"
    assert sids(starts_after="2030-01-07T09:00:00Z") == [first["sid"], second["sid"]]
    assert sids(starts_after="2030-01-07T10:30:00+00:00", starts_before="2030-01-07T23:00:00Z") == [second["sid"]]
    assert sids(starts_before="2030-01-07") == []
    assert sids(sorting_key="starts_at", sorting_order="desc") == [second["sid"], first["sid"], oliver["sid"]]
    for bad in ({"sorting_key": "name"}, {"sorting_order": "up"}, {"search": "ab"}, {"starts_after": "soon"}):
        assert v2.get("/bookings", params=bad).status_code == 422, bad
    assert v2.get("/bookings", params={"meeting_sid": "nosuch"}).status_code == 404


# ---- meetings and slots -----------------------------------------------------------------------------


def test_slots_are_served_by_meeting_sid(v2: V2Client, sandbox: NeetoCalSandbox) -> None:
    sid = meeting_sid(sandbox, "quick-sync")

    answer = v2.get(f"/meetings/{sid}/slots", params={"time_zone": "UTC", "year": 2030, "month": 1, "day": 8})

    assert answer.status_code == 200, answer.text
    (day,) = answer.json()["slots"]
    assert day["date"] == "2030-01-08"
    assert "10:00 AM" in day["slots"]
    assert (
        v2.get("/meetings/quick-sync/slots", params={"time_zone": "UTC", "year": 2030, "month": 1}).status_code == 404
    )


def test_a_meeting_is_wrapped_and_the_listing_is_v1s(v2: V2Client, client: Client, sandbox: NeetoCalSandbox) -> None:
    sid = meeting_sid(sandbox, "product-demo")

    assert v2.get(f"/meetings/{sid}").json() == {"meeting": client.get(f"/meetings/{sid}").json()}
    assert v2.get("/meetings").json() == client.get("/meetings").json()
