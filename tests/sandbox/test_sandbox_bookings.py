"""POST/GET/PATCH bookings, cancel and reject: the contract of create-booking.md and the v1 notes."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.sandbox.conftest import NOW, Client, Clock, booking_payload, quick_sync

DOCUMENTED_FIELDS = [
    "id",
    "sid",
    "parent_booking_id",
    "email",
    "name",
    "host_name",
    "host_email",
    "is_multihost",
    "multihosts",
    "starts_at",
    "ends_at",
    "time_zone",
    "starts_at_for_client",
    "ends_at_for_client",
    "status",
    "cancel_reason",
    "cancelled_by",
    "reschedule_requested",
    "preferred_meeting_spot",
    "room_type",
    "room_url",
    "room_id",
    "spot_details",
    "created_at",
    "updated_at",
    "meeting_id",
    "meeting",
    "no_show",
    "meeting_outcome",
    "notes_url",
    "internal_notes",
    "metadata",
    "admin_booking_url",
    "client_booking_url",
    "form_responses",
]
UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
FORM_RESPONSES = {"guest_email_s": ["sam@example.com", "charlie@example.com"], "language": "English"}


def _messages(response: Any) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error"}
    return str(body["error"])


# ---- creating ------------------------------------------------------------------------------------


def test_create_returns_every_documented_field_in_order(client: Client, sandbox: NeetoCalSandbox) -> None:
    response = client.book(form_responses=FORM_RESPONSES)
    assert response.status_code == 200
    booking = response.json()
    assert list(booking) == DOCUMENTED_FIELDS


def test_create_booking_values(client: Client, sandbox: NeetoCalSandbox) -> None:
    booking = client.booked(form_responses=FORM_RESPONSES, metadata={"source": "airflow"})
    assert uuid.UUID(booking["id"]).version == 4
    assert re.fullmatch(r"[a-z0-9]{7}", booking["sid"])
    assert booking["parent_booking_id"] is None
    assert (booking["name"], booking["email"]) == ("Eve Smith", "eve@example.com")
    assert (booking["host_name"], booking["host_email"]) == ("Oliver Smith", "oliver@example.com")
    assert (booking["is_multihost"], booking["multihosts"]) == (False, [])
    assert booking["starts_at"] == "2030-01-07T08:00:00.000Z"
    assert booking["ends_at"] == "2030-01-07T08:30:00.000Z"
    assert booking["time_zone"] == "Asia/Kolkata"
    assert booking["starts_at_for_client"] == "2030-01-07T13:30:00.000+05:30"
    assert booking["ends_at_for_client"] == "2030-01-07T14:00:00.000+05:30"
    assert booking["status"] == "confirmed"
    assert (booking["cancel_reason"], booking["cancelled_by"], booking["reschedule_requested"]) == (None, None, False)
    assert booking["preferred_meeting_spot"] == "jitsi"
    assert booking["room_type"] == "jitsi"
    assert booking["room_url"].startswith("https://meet.jit.si/")
    assert booking["created_at"] == booking["updated_at"] == "2030-01-07T02:00:00.000Z"
    meeting = next(m for m in sandbox.meetings if m["slug"] == "meeting-with-oliver-smith")
    assert booking["meeting_id"] == meeting["id"]
    assert booking["meeting"] == {"name": "Meeting with Oliver Smith"}
    assert (booking["no_show"], booking["meeting_outcome"]) == (False, None)
    assert booking["metadata"] == {"source": "airflow"}
    assert booking["admin_booking_url"] == f"{sandbox.url}/admin/bookings/{booking['sid']}"
    assert booking["client_booking_url"] == f"{sandbox.url}/bookings/{booking['sid']}"
    assert booking["form_responses"] == [
        {
            "field": "Guest emails",
            "value": ["sam@example.com", "charlie@example.com"],
            "type": "guest_emails",
            "field_code": "guest_email_s",
        },
        {"field": "Language", "value": "English", "type": "dropdown", "field_code": "language"},
    ]


def test_get_returns_the_booking_plus_form_responses_as_hash(client: Client) -> None:
    created = client.booked(form_responses=FORM_RESPONSES)
    fetched = client.get(f"/bookings/{created['sid']}").json()
    assert fetched.pop("form_responses_as_hash") == FORM_RESPONSES
    assert fetched == created


def test_list_shows_the_same_booking(client: Client, sandbox: NeetoCalSandbox) -> None:
    created = client.booked()
    listing = client.get("/bookings").json()
    assert listing["bookings"] == [created]
    assert listing["pagination"] == {"total_records": 1, "total_pages": 1, "current_page_number": 1, "page_size": 30}
    assert sandbox.bookings == [created]


def test_sandbox_bookings_are_copies(client: Client, sandbox: NeetoCalSandbox) -> None:
    client.book()
    sandbox.bookings[0]["status"] = "tampered"
    assert sandbox.bookings[0]["status"] == "confirmed"


def test_utc_client_time_zone_uses_z(client: Client) -> None:
    booking = client.booked(**quick_sync(name="Eve", email="eve@example.com"))
    assert booking["starts_at"] == "2030-01-07T10:00:00.000Z"
    assert booking["starts_at_for_client"] == "2030-01-07T10:00:00.000Z"
    assert UTC_STAMP.fullmatch(booking["created_at"])


def test_client_zone_may_differ_from_the_meeting_zone(client: Client) -> None:
    booking = client.booked(time_zone="America/New_York", slot_date="2030-01-07", slot_start_time="03:00 AM")
    assert booking["starts_at"] == "2030-01-07T08:00:00.000Z"
    assert booking["starts_at_for_client"] == "2030-01-07T03:00:00.000-05:00"


def test_spot_defaults_to_jitsi(client: Client) -> None:
    assert client.booked(preferred_meeting_spot=None)["preferred_meeting_spot"] == "jitsi"


@pytest.mark.parametrize("spot", ["custom", "in_person", "daily", "zoom", "whereby", "google_meet", "teams"])
def test_every_spot_gives_room_details(client: Client, spot: str) -> None:
    booking = client.booked(**quick_sync(preferred_meeting_spot=spot))
    assert booking["preferred_meeting_spot"] == spot
    assert booking["room_url"] or booking["spot_details"]


def test_multi_select_and_text_answers(client: Client) -> None:
    booking = client.booked(form_responses={"topics": ["a", "b"], "notes": "hi"})
    assert [(r["field_code"], r["type"], r["value"]) for r in booking["form_responses"]] == [
        ("topics", "multi_select", ["a", "b"]),
        ("notes", "text", "hi"),
    ]


def test_sids_are_unique(client: Client) -> None:
    sids = {client.booked(**quick_sync(slot_start_time=f"{hour:02d}:00 PM"))["sid"] for hour in range(1, 12)}
    assert len(sids) == 11


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"meeting_slug": "no-such-meeting"}, "Meeting not found"),
        ({"meeting_slug": None}, "meeting_slug is required"),
        ({"name": None}, "name is required"),
        ({"name": "   "}, "name is required"),
        ({"email": None}, "email is required"),
        ({"email": "not-an-email"}, "email is invalid"),
        ({"email": "eve@example"}, "email is invalid"),
        ({"time_zone": None}, "time_zone is required"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone is invalid"),
        ({"time_zone": "+05:30"}, "time_zone is invalid"),
        ({"slot_date": "2030-02-30"}, "slot_date is invalid"),
        ({"slot_date": "2030-1-8"}, "slot_date is invalid"),
        ({"slot_date": "08/01/2030"}, "slot_date is invalid"),
        ({"slot_start_time": "13:30 PM"}, "slot_start_time is invalid"),
        ({"slot_start_time": "1:30 PM"}, "slot_start_time is invalid"),
        ({"slot_start_time": "01:30 pm"}, "slot_start_time is invalid"),
        ({"slot_start_time": "13:30"}, "slot_start_time is invalid"),
        ({"slot_start_time": "01:30PM"}, "slot_start_time is invalid"),
        ({"slot_start_time": "00:30 AM"}, "slot_start_time is invalid"),
        ({"slot_date": None}, "slot_date is required"),
        ({"slot_start_time": None}, "slot_start_time is required"),
        ({"preferred_meeting_spot": "teams"}, "not offered by this meeting"),
        ({"preferred_meeting_spot": "skype"}, "preferred_meeting_spot is invalid"),
        ({"form_responses": ["a"]}, "form_responses must be an object"),
        ({"form_responses": {"guest_email_s": ["bad"]}}, "form_responses.guest_email_s is invalid"),
        ({"form_responses": {"guest_email_s": "sam@example.com"}}, "form_responses.guest_email_s must be a list"),
        ({"form_responses": {"age": 3}}, "form_responses.age must be a string"),
        ({"metadata": "x"}, "metadata must be an object"),
        ({"slot_date": "2030-01-06"}, "in the past"),
        ({"slot_date": "2030-01-07", "slot_start_time": "07:00 AM"}, "in the past"),
        ({"slot_start_time": "07:00 PM"}, "outside the meeting's working hours"),
        ({"slot_start_time": "08:30 AM"}, "outside the meeting's working hours"),
        ({"slot_date": "2030-01-12"}, "outside the meeting's working hours"),
        ({"slot_start_time": "01:45 PM"}, "slot grid"),
        ({"slot_start_time": "01:31 PM"}, "slot grid"),
    ],
)
def test_create_validation_errors(
    client: Client, sandbox: NeetoCalSandbox, fields: dict[str, Any], message: str
) -> None:
    assert message in _messages(client.book(**fields))
    assert sandbox.bookings == []


def test_slot_errors_start_with_the_documented_sentence(client: Client) -> None:
    assert _messages(client.book(slot_start_time="07:00 PM")).startswith("The selected slot is not available")


def test_slot_that_does_not_exist_in_the_clients_zone(client: Client) -> None:
    message = _messages(
        client.book(**quick_sync(slot_date="2030-03-10", slot_start_time="02:30 AM", time_zone="America/New_York"))
    )
    assert "slot_start_time is invalid" in message


def test_taken_slot_is_422(client: Client) -> None:
    client.booked()
    assert "already booked" in _messages(client.book(email="someone@example.com"))


def test_same_slot_seen_from_another_zone_is_taken(client: Client) -> None:
    client.booked()
    taken = client.book(time_zone="UTC", slot_date="2030-01-07", slot_start_time="08:00 AM")
    assert "already booked" in _messages(taken)


def test_group_meeting_takes_up_to_its_capacity() -> None:
    meetings = [
        {
            "slug": "small-group",
            "kind": "group",
            "capacity": 2,
            "duration": 60,
            "hosts": [{"name": "Host", "email": "host@example.com"}],
            "working_hours": {"monday": [["09:00", "17:00"]]},
        }
    ]
    with NeetoCalSandbox(meetings=meetings, now=Clock(NOW)) as sandbox:
        client = Client(sandbox)
        payload = {"meeting_slug": "small-group", "slot_date": "2030-01-07", "slot_start_time": "10:00 AM"}
        payload |= {"time_zone": "UTC", "name": "A", "email": "a@example.com"}
        assert client.post("/bookings", json=payload).status_code == 200
        assert client.post("/bookings", json=payload).status_code == 200
        assert "already booked" in _messages(client.post("/bookings", json=payload))


def test_host_cannot_have_overlapping_one_on_one_bookings_across_meetings() -> None:
    host = [{"name": "Host", "email": "host@example.com"}]
    hours = {"monday": [["09:00", "17:00"]]}
    meetings = [
        {"slug": "long", "duration": 60, "hosts": host, "working_hours": hours},
        {"slug": "short", "duration": 15, "hosts": host, "working_hours": hours},
        {
            "slug": "other-host",
            "duration": 15,
            "hosts": [{"name": "X", "email": "x@example.com"}],
            "working_hours": hours,
        },
    ]
    with NeetoCalSandbox(meetings=meetings, now=Clock(NOW)) as sandbox:
        client = Client(sandbox)
        base = {"slot_date": "2030-01-07", "time_zone": "UTC", "name": "A", "email": "a@example.com"}
        assert client.post("/bookings", json={**base, "meeting_slug": "long", "slot_start_time": "10:00 AM"}).ok
        overlapping = client.post("/bookings", json={**base, "meeting_slug": "short", "slot_start_time": "10:30 AM"})
        assert "already booked" in _messages(overlapping)
        assert client.post("/bookings", json={**base, "meeting_slug": "short", "slot_start_time": "11:00 AM"}).ok
        assert client.post("/bookings", json={**base, "meeting_slug": "other-host", "slot_start_time": "10:30 AM"}).ok


def test_slot_ending_after_working_hours() -> None:
    meetings = [
        {
            "slug": "odd",
            "duration": 45,
            "slot_interval": 30,
            "hosts": [{"name": "Host", "email": "host@example.com"}],
            "working_hours": {"monday": [["09:00", "10:00"]]},
        }
    ]
    with NeetoCalSandbox(meetings=meetings, now=Clock(NOW)) as sandbox:
        client = Client(sandbox)
        payload = {"meeting_slug": "odd", "slot_date": "2030-01-07", "slot_start_time": "09:30 AM"}
        payload |= {"time_zone": "UTC", "name": "A", "email": "a@example.com"}
        assert "would end after the working hours" in _messages(client.post("/bookings", json=payload))


# ---- first free slot -----------------------------------------------------------------------------


def test_omitting_date_and_time_books_the_first_free_slot(client: Client) -> None:
    first = client.booked(slot_date=None, slot_start_time=None)
    # 02:00 UTC is 07:30 in Kolkata; Oliver starts at 09:00 (03:30 UTC).
    assert first["starts_at"] == "2030-01-07T03:30:00.000Z"
    second = client.booked(slot_date=None, slot_start_time=None)
    assert second["starts_at"] == "2030-01-07T04:00:00.000Z"


def test_first_free_slot_skips_the_weekend(client: Client, clock: Clock) -> None:
    clock.advance(days=4, hours=14)  # Friday 16:00 UTC, after Oliver's hours
    booking = client.booked(slot_date=None, slot_start_time=None)
    assert booking["starts_at_for_client"] == "2030-01-14T09:00:00.000+05:30"


# ---- listing -------------------------------------------------------------------------------------


def _quick(client: Client, time: str, email: str = "eve@example.com", day: str = "2030-01-07") -> dict[str, Any]:
    return client.booked(**quick_sync(slot_date=day, slot_start_time=time, email=email))


def test_pagination_over_several_pages_ordered_by_start(client: Client) -> None:
    sids = [_quick(client, f"{hour:02d}:00 PM")["sid"] for hour in (5, 4, 3, 2, 1)]
    expected = list(reversed(sids))
    seen = []
    for page_number in (1, 2, 3):
        body = client.get("/bookings", params={"page_size": 2, "page_number": page_number}).json()
        assert body["pagination"] == {
            "total_records": 5,
            "total_pages": 3,
            "current_page_number": page_number,
            "page_size": 2,
        }
        seen += [booking["sid"] for booking in body["bookings"]]
    assert seen == expected
    beyond = client.get("/bookings", params={"page_size": 2, "page_number": 4}).json()
    assert beyond["bookings"] == []


def test_empty_listing_has_zero_pages(client: Client) -> None:
    assert client.get("/bookings").json()["pagination"]["total_pages"] == 0


@pytest.mark.parametrize(
    "params",
    [{"page_size": 101}, {"page_size": 0}, {"page_number": 0}, {"page_number": "x"}, {"type": "future"}],
)
def test_invalid_listing_parameters_are_422(client: Client, params: dict[str, Any]) -> None:
    message = _messages(client.get("/bookings", params=params))
    assert next(iter(params)) in message


def test_page_size_100_is_allowed(client: Client) -> None:
    assert client.get("/bookings", params={"page_size": 100}).status_code == 200


def test_filter_by_client_email_case_insensitively(client: Client) -> None:
    _quick(client, "01:00 PM", email="eve@example.com")
    _quick(client, "02:00 PM", email="bob@example.com")
    body = client.get("/bookings", params={"client_email": "EVE@example.com"}).json()
    assert [b["email"] for b in body["bookings"]] == ["eve@example.com"]


def test_filter_by_host_email(client: Client) -> None:
    client.booked()
    _quick(client, "01:00 PM")
    body = client.get("/bookings", params={"host_email": "oliver@example.com"}).json()
    assert [b["host_email"] for b in body["bookings"]] == ["oliver@example.com"]


def test_filter_by_type(client: Client, clock: Clock) -> None:
    past = _quick(client, "03:00 AM")
    cancelled = _quick(client, "04:00 AM")
    upcoming = _quick(client, "05:00 PM")
    client.post(f"/bookings/{cancelled['sid']}/cancel")
    clock.advance(hours=6)  # now 08:00 UTC

    def sids(kind: str | None) -> list[str]:
        params = {"type": kind} if kind else {}
        return [b["sid"] for b in client.get("/bookings", params=params).json()["bookings"]]

    assert sids("upcoming") == [upcoming["sid"]]
    assert sids("past") == [past["sid"]]
    assert sids("cancelled") == [cancelled["sid"]]
    assert sids("incomplete") == []
    assert sids(None) == [past["sid"], cancelled["sid"], upcoming["sid"]]


# ---- get, cancel, reject -------------------------------------------------------------------------


def test_unknown_sid_is_404(client: Client) -> None:
    for response in (
        client.get("/bookings/zzzzzzz"),
        client.post("/bookings/zzzzzzz/cancel"),
        client.patch("/bookings/zzzzzzz", json={}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "Booking not found"}


@pytest.mark.parametrize("how", ["query", "json", "form"])
def test_cancel_with_a_reason(client: Client, clock: Clock, how: str) -> None:
    sid = client.booked()["sid"]
    clock.advance(minutes=5)
    route = f"/bookings/{sid}/cancel"
    if how == "query":
        response = client.post(route, params={"cancel_reason": "Out sick"})
    elif how == "json":
        response = client.post(route, json={"cancel_reason": "Out sick"})
    else:
        response = client.post(route, data={"cancel_reason": "Out sick"})
    assert response.status_code == 200
    assert response.json() == {"message": "Booking has been successfully cancelled"}
    booking = client.get(f"/bookings/{sid}").json()
    assert (booking["status"], booking["cancel_reason"], booking["cancelled_by"]) == ("cancelled", "Out sick", "host")
    assert booking["updated_at"] == "2030-01-07T02:05:00.000Z"


def test_cancel_without_a_reason(client: Client) -> None:
    sid = client.booked()["sid"]
    assert client.post(f"/bookings/{sid}/cancel").status_code == 200
    assert client.get(f"/bookings/{sid}").json()["cancel_reason"] is None


def test_cancelling_twice_is_422(client: Client) -> None:
    sid = client.booked()["sid"]
    client.post(f"/bookings/{sid}/cancel")
    assert "already cancelled" in _messages(client.post(f"/bookings/{sid}/cancel"))


def test_cancelled_slot_can_be_booked_again(client: Client) -> None:
    sid = client.booked()["sid"]
    client.post(f"/bookings/{sid}/cancel")
    assert client.book().status_code == 200


def test_reject(client: Client) -> None:
    sid = client.booked()["sid"]
    response = client.post(f"/bookings/{sid}/reject", json={"rejection_reason": "No"})
    assert response.status_code == 200
    assert "message" in response.json()
    booking = client.get(f"/bookings/{sid}").json()
    assert booking["status"] == "rejected"
    assert "already rejected" in _messages(client.post(f"/bookings/{sid}/cancel"))


def test_associated_bookings_is_empty(client: Client) -> None:
    sid = client.booked()["sid"]
    assert client.get(f"/bookings/{sid}/associated_bookings").json() == {"associated_bookings": []}


# ---- reschedule ----------------------------------------------------------------------------------


def _reschedule(**fields: Any) -> dict[str, Any]:
    payload = booking_payload(**fields)
    payload.pop("meeting_slug")
    payload.pop("preferred_meeting_spot")
    return payload


def test_reschedule_moves_the_booking(client: Client, clock: Clock) -> None:
    created = client.booked(form_responses={"language": "English"})
    clock.advance(minutes=10)
    response = client.patch(
        f"/bookings/{created['sid']}",
        json=_reschedule(slot_date="2030-01-08", slot_start_time="10:00 AM", reschedule_reason="Clash"),
    )
    assert response.status_code == 200
    moved = response.json()
    assert moved["sid"] == created["sid"]
    assert moved["id"] == created["id"]
    assert moved["starts_at"] == "2030-01-08T04:30:00.000Z"
    assert moved["starts_at_for_client"] == "2030-01-08T10:00:00.000+05:30"
    assert moved["updated_at"] == "2030-01-07T02:10:00.000Z"
    assert moved["created_at"] == created["created_at"]
    assert client.get(f"/bookings/{created['sid']}").json()["form_responses_as_hash"] == {"language": "English"}
    assert client.book().status_code == 200  # the old slot is free again


def test_reschedule_updates_client_details_and_answers(client: Client) -> None:
    created = client.booked()
    moved = client.patch(
        f"/bookings/{created['sid']}",
        json=_reschedule(name="Eve Jones", time_zone="UTC", slot_start_time="08:30 AM", form_responses={"a": "b"}),
    ).json()
    assert (moved["name"], moved["time_zone"]) == ("Eve Jones", "UTC")
    assert moved["starts_at"] == "2030-01-07T08:30:00.000Z"
    assert client.get(f"/bookings/{created['sid']}").json()["form_responses_as_hash"] == {"a": "b"}


def test_reschedule_to_its_own_slot_is_allowed(client: Client) -> None:
    created = client.booked()
    assert client.patch(f"/bookings/{created['sid']}", json=_reschedule()).status_code == 200


def test_reschedule_onto_a_taken_slot_is_422(client: Client) -> None:
    client.booked()
    other = client.booked(slot_start_time="02:00 PM")
    assert "already booked" in _messages(client.patch(f"/bookings/{other['sid']}", json=_reschedule()))


@pytest.mark.parametrize("missing", ["name", "email", "slot_date", "slot_start_time", "time_zone"])
def test_reschedule_requires_every_field(client: Client, missing: str) -> None:
    created = client.booked()
    assert f"{missing} is required" in _messages(
        client.patch(f"/bookings/{created['sid']}", json=_reschedule(**{missing: None}))
    )


def test_reschedule_a_cancelled_booking_is_422(client: Client) -> None:
    sid = client.booked()["sid"]
    client.post(f"/bookings/{sid}/cancel")
    assert "cancelled" in _messages(client.patch(f"/bookings/{sid}", json=_reschedule(slot_start_time="03:00 PM")))


def test_reschedule_into_the_past_is_422(client: Client) -> None:
    sid = client.booked()["sid"]
    assert "in the past" in _messages(client.patch(f"/bookings/{sid}", json=_reschedule(slot_date="2030-01-01")))


def test_concurrent_requests_for_one_slot_book_it_once(client: Client, sandbox: NeetoCalSandbox) -> None:
    def attempt(index: int) -> int:
        payload = booking_payload(email=f"guest{index}@example.com")
        response = requests.post(
            sandbox.api_url + "/bookings", json=payload, headers={"X-Api-Key": sandbox.api_key}, timeout=10
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [422] * 7
    assert len(sandbox.bookings) == 1
