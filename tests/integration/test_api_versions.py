"""The hook and operators on each API version against the sandbox over real HTTP: what travels where, and
what is refused (before any request) on the version that does not take it.

Set-ups: v1, v2 answering single bookings bare, v2 answering them wrapped (``{"booking": {...}}``);
only the connection's ``api_version`` extra and the sandbox's answer shape differ between them.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_neetocal.exceptions import NeetoCalConfigError, NeetoCalValidationError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.operators.lifecycle import NeetoCalRescheduleBookingOperator
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.conftest import neetocal_conn_json
from tests.integration.conftest import API_SETUPS

pytestmark = pytest.mark.integration
on_every_api = pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
on_v1 = pytest.mark.parametrize("sandbox", [API_SETUPS[0]], indirect=True)
on_v2 = pytest.mark.parametrize("sandbox", API_SETUPS[1:], indirect=True)

ATTENDEE = {"name": "Eve Smith", "attendee_email": "eve@example.com", "time_zone": "Asia/Kolkata"}
OLIVER = {"meeting_slug": "meeting-with-oliver-smith", "slot_start": "2030-07-15T11:00:00+05:30", **ATTENDEE}
QUICK_SYNC = {"meeting_slug": "quick-sync", "name": "Sam", "email": "sam.client@example.com", "time_zone": "UTC"}


class RecordingTI:
    def __init__(self) -> None:
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context() -> dict[str, Any]:
    return {"ti": RecordingTI(), "dag_run": None}


@pytest.fixture
def hook(sandbox: NeetoCalSandbox) -> Any:
    made = NeetoCalHook()
    yield made
    made.close()


def version_of(sandbox: NeetoCalSandbox) -> str:
    """The API the sandbox was last spoken to in (each test speaks only one)."""
    versions = {r.api_version for r in sandbox.requests}
    assert len(versions) == 1, versions
    return versions.pop()  # type: ignore[return-value]


# ---- the same operations on every version -----------------------------------------------------------


@on_every_api
def test_create_and_get_return_the_bare_booking(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    created = hook.create_booking({**QUICK_SYNC, "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"})
    fetched = hook.get_booking(created["sid"])

    assert created["starts_at"] == "2030-07-15T10:00:00.000Z"
    assert fetched["sid"] == created["sid"]
    assert fetched["form_responses_as_hash"] == {}
    assert version_of(sandbox) == hook.api_version
    assert [r.status for r in sandbox.requests] == [201 if hook.api_version == "v2" else 200, 200]


@on_every_api
def test_listing_by_attendee_walks_the_pages(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    made = [
        hook.create_booking({**QUICK_SYNC, "slot_date": "2030-07-15", "slot_start_time": f"{hour:02d}:00 AM"})
        for hour in range(8, 11)
    ]

    listed = list(hook.list_bookings(client_email=QUICK_SYNC["email"], page_size=2))

    assert [b["sid"] for b in listed] == [b["sid"] for b in made]
    assert [r.query["page_number"] for r in sandbox.requests if r.method == "GET"] == ["1", "2"]


@on_every_api
def test_cancel_goes_to_each_versions_route_and_the_booking_ends_cancelled(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    sid = hook.create_booking({**QUICK_SYNC, "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"})["sid"]

    answer = hook.cancel_booking(sid, cancel_reason="Host is ill")

    cancel = sandbox.requests[-1]
    if hook.api_version == "v1":
        assert (cancel.method, cancel.path, cancel.query) == (
            "POST",
            f"/bookings/{sid}/cancel",
            {"cancel_reason": "Host is ill"},
        )
        assert answer == {"message": "Booking has been successfully cancelled"}
    else:
        assert (cancel.method, cancel.path, cancel.json) == (
            "PATCH",
            f"/bookings/{sid}",
            {"status": "cancelled", "cancel_reason": "Host is ill"},
        )
        assert answer["status"] == "cancelled"  # the booking, unwrapped
    assert hook.get_booking(sid)["cancel_reason"] == "Host is ill"


@on_every_api
def test_reschedule_sends_everything_on_v1_and_only_what_changes_on_v2(sandbox: NeetoCalSandbox) -> None:
    booking = NeetoCalCreateBookingOperator(task_id="book", **OLIVER).execute(context())

    moved = NeetoCalRescheduleBookingOperator(
        task_id="move", booking_sid=booking["sid"], slot_start="2030-07-16T15:00:00+05:30", **ATTENDEE
    ).execute(context())

    (patch,) = [r for r in sandbox.requests if r.method == "PATCH"]
    slot = {"slot_date": "2030-07-16", "slot_start_time": "03:00 PM", "time_zone": "Asia/Kolkata"}
    expected = slot if version_of(sandbox) == "v2" else {**slot, "name": "Eve Smith", "email": "eve@example.com"}
    assert patch.json == expected
    assert moved["starts_at"] == "2030-07-16T09:30:00.000Z"


@on_every_api
def test_slots_are_read_by_slug_on_v1_and_by_the_sid_looked_up_once_on_v2(
    hook: NeetoCalHook, sandbox: NeetoCalSandbox
) -> None:
    first = hook.get_slots("quick-sync", time_zone="UTC", year=2030, month=7, day=15)
    again = hook.get_slots("Quick-Sync", time_zone="UTC", year=2030, month=7, day=16)

    assert [day["date"] for day in first + again] == ["2030-07-15", "2030-07-16"]
    assert "10:00 AM" in first[0]["slots"]
    routes = [r.path for r in sandbox.requests]
    if hook.api_version == "v1":
        assert routes == ["/slots/quick-sync", "/slots/Quick-Sync"]
    else:
        sid = next(m["sid"] for m in sandbox.meetings if m["slug"] == "quick-sync")
        assert routes == ["/meetings", f"/meetings/{sid}/slots", f"/meetings/{sid}/slots"]


@on_every_api
def test_the_test_button_names_the_version_it_reached(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    ok, message = hook.test_connection()

    assert ok
    assert f"(NeetoCal API {hook.api_version})" in message
    assert f"/api/external/{hook.api_version}" in message
    assert version_of(sandbox) == hook.api_version


# ---- v2 only: what v2 adds -----------------------------------------------------------------------


@on_v2
def test_v2_listing_filters_by_meeting_window_and_sorts(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    early, late = (
        hook.create_booking({**QUICK_SYNC, "slot_date": "2030-07-15", "slot_start_time": time})
        for time in ("09:00 AM", "11:00 AM")
    )
    NeetoCalCreateBookingOperator(task_id="book", **OLIVER).execute(context())

    listed = hook.list_bookings(
        meeting_sid=hook.meeting_sid("quick-sync"), starts_after="2030-07-15", sorting_order="desc"
    )

    assert [b["sid"] for b in listed] == [late["sid"], early["sid"]]
    assert sandbox.requests[-1].query["sorting_order"] == "desc"


@on_v2
def test_v2_books_outside_availability_with_a_chosen_host(sandbox: NeetoCalSandbox) -> None:
    booking = NeetoCalCreateBookingOperator(
        task_id="book",
        meeting_slug="weekly-webinar",
        name="Amy",
        attendee_email="amy@example.com",
        time_zone="Europe/London",
        slot_start="2030-07-15T20:00:00+01:00",  # after the webinar's 10:00-16:00
        preferred_meeting_spot="zoom",
        override_availability="True",  # what a templated value renders to
        host_email="amelia@example.com",
    ).execute(context())

    assert (booking["host_email"], booking["starts_at"]) == ("amelia@example.com", "2030-07-15T19:00:00.000Z")
    (post,) = [r for r in sandbox.requests if r.method == "POST"]
    assert (post.json["override_availability"], post.json["host_email"]) == (True, "amelia@example.com")


# ---- refused on the other version, before any request --------------------------------------------


@on_v1
@pytest.mark.parametrize(("argument", "value"), [("override_availability", True), ("host_email", "amelia@example.com")])
def test_v2_only_create_arguments_fail_on_v1_before_any_request(
    sandbox: NeetoCalSandbox, argument: str, value: Any
) -> None:
    with pytest.raises(NeetoCalValidationError, match="only NeetoCal API v2 accepts it") as single:
        NeetoCalCreateBookingOperator(task_id="book", **OLIVER, **{argument: value}).execute(context())
    rows = [{"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com", argument: value}]
    with pytest.raises(NeetoCalValidationError) as bulk:
        NeetoCalCreateBookingsOperator(
            task_id="bulk", bookings=rows, meeting_slug="quick-sync", time_zone="UTC"
        ).execute(context())

    assert single.value.fields == [argument]
    assert bulk.value.fields == [f"bookings[1].{argument}"]
    assert sandbox.requests == []


@on_v1
def test_v2_only_filters_fail_on_v1_before_any_request(hook: NeetoCalHook, sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(NeetoCalValidationError, match="sorting_order"):
        list(hook.list_bookings(client_email="eve@example.com", sorting_order="desc"))
    assert sandbox.requests == []


@on_v1
def test_v1_needs_the_attendee_on_a_reschedule_and_sends_nothing_without_it(sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(NeetoCalValidationError) as raised:
        NeetoCalRescheduleBookingOperator(
            task_id="move", booking_sid="abc1234", time_zone="UTC", slot_start="2030-07-16T10:00:00Z"
        ).execute(context())
    assert raised.value.fields == ["name", "attendee_email"]
    assert sandbox.requests == []


@on_v2
def test_v1_only_reschedule_answers_fail_on_v2_before_any_request(sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(NeetoCalValidationError, match="api_version extra to 'v1'") as raised:
        NeetoCalRescheduleBookingOperator(
            task_id="move",
            booking_sid="abc1234",
            time_zone="UTC",
            slot_start="2030-07-16T10:00:00Z",
            form_responses={"language": "English"},
        ).execute(context())
    assert raised.value.fields == ["form_responses"]
    assert sandbox.requests == []


def test_an_unknown_api_version_is_a_config_error_and_nothing_is_sent(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, api_version="v3"))

    with pytest.raises(NeetoCalConfigError, match="'v3' is not an API version NeetoCal serves"):
        NeetoCalCreateBookingOperator(task_id="book", **OLIVER).execute(context())
    ok, message = NeetoCalHook().test_connection()

    assert not ok
    assert "expected one of v1, v2" in message
    assert sandbox.requests == []
