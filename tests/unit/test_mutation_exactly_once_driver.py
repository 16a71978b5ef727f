"""What :class:`ExactlyOnce` tells the operator and the log, through a hook that only answers as told.

Written for the survivors of mutation testing (``make mutation``): the reasons a look-up gives, the
key a fixed-slot row reserves, the 401 that must not be retried, the settle wait's bounds and the
one-line descriptions in the task log.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
import pytest

from airflow_provider_neetocal.exactly_once import Absent, ExactlyOnce, Found, Unknowable, describe
from airflow_provider_neetocal.exceptions import (
    NeetoCalAuthError,
    NeetoCalBookingUnknownError,
    NeetoCalOutcomeUnknownError,
    NeetoCalServerError,
)

SLUG = "meeting-with-oliver-smith"
MEETING = {"id": "m-1", "slug": SLUG, "name": "Meeting with Oliver Smith", "kind": "group"}
#: 01:30 PM in Asia/Kolkata on 2030-07-15 is 08:00 UTC.
SLOTTED: dict[str, Any] = {
    "meeting_slug": SLUG,
    "name": "Eve Smith",
    "email": "eve@example.com",
    "time_zone": "Asia/Kolkata",
    "slot_date": "2030-07-15",
    "slot_start_time": "01:30 PM",
}
SLOTLESS: dict[str, Any] = {k: v for k, v in SLOTTED.items() if not k.startswith("slot_")}
RUN_START = pendulum.datetime(2030, 7, 1, 12, 0, tz="UTC")


def booking(**fields: Any) -> dict[str, Any]:
    return {
        "sid": "8sqtzrs",
        "email": "eve@example.com",
        "status": "confirmed",
        "meeting_id": "m-1",
        "starts_at": "2030-07-15T08:00:00Z",
        "created_at": "2030-07-01T12:00:05Z",
        **fields,
    }


def api_error(kind: type, status: int, endpoint: str) -> Exception:
    return kind(method="GET", endpoint=endpoint, status=status, message="nope")


class Hook:
    """Answers each call from a script; records what was asked and how long it was told to sleep."""

    def __init__(self, bookings: Any = (), meetings: Any = (MEETING,), posts: Any = ()) -> None:
        self.bookings, self.meetings, self.posts = bookings, meetings, list(posts)
        self.asked_for: list[str] = []
        self.slept: list[float] = []
        self.log = logging.getLogger("test.exactly_once")

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def list_meetings(self) -> Any:
        if isinstance(self.meetings, Exception):
            raise self.meetings
        return list(self.meetings)

    def list_bookings_complete(self, *, client_email: str) -> Any:
        self.asked_for.append(client_email)
        if isinstance(self.bookings, Exception):
            raise self.bookings
        return list(self.bookings)

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.posts.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def driver(hook: Hook, **kwargs: Any) -> ExactlyOnce:
    kwargs.setdefault("run_started", RUN_START)
    return ExactlyOnce(hook, **kwargs)  # type: ignore[arg-type]


# ---- the look-up's reasons --------------------------------------------------------------------


def test_a_failed_meeting_listing_makes_a_candidate_unknowable_saying_get_meetings_failed() -> None:
    hook = Hook(bookings=[booking()], meetings=api_error(NeetoCalServerError, 503, "/meetings"))

    result = driver(hook).look_up(SLOTTED)

    assert result == Unknowable(
        "booking '8sqtzrs' of this attendee cannot be attributed to a meeting: "
        "GET /meetings failed: NeetoCal had a server error: nope (NeetoCal answered HTTP 503 to GET /meetings)"
    )


def test_a_failed_booking_listing_is_unknowable_saying_what_failed() -> None:
    hook = Hook(bookings=api_error(NeetoCalServerError, 503, "/bookings"))

    assert driver(hook).look_up(SLOTTED) == Unknowable(
        "listing the attendee's bookings failed: NeetoCal had a server error: nope "
        "(NeetoCal answered HTTP 503 to GET /bookings)"
    )


def test_a_server_error_during_the_look_up_fails_saying_temporary_and_that_a_retry_looks_again() -> None:
    for hook in (
        Hook(bookings=api_error(NeetoCalServerError, 502, "/bookings")),
        Hook(bookings=[booking()], meetings=api_error(NeetoCalServerError, 502, "/meetings")),
    ):
        with pytest.raises(NeetoCalBookingUnknownError) as failed:
            driver(hook).obtain(dict(SLOTTED))

        first, details = str(failed.value).split("\n", 1)
        assert first == (
            "NeetoCal had a server error (HTTP 502) while checking for an earlier booking; nothing sent — "
            "a retry looks again"
        )
        assert "HTTP 502" in details  # no POST: the hook has none scripted, and one would raise IndexError


def test_a_refused_look_up_keeps_the_generic_first_line() -> None:
    hook = Hook(bookings=api_error(NeetoCalAuthError, 403, "/bookings"))

    with pytest.raises(NeetoCalBookingUnknownError) as failed:
        driver(hook).obtain(dict(SLOTTED))

    assert str(failed.value).startswith("Cannot prove NeetoCal does not already hold this booking; nothing sent")


def test_a_403_on_the_booking_listing_is_unknowable_naming_the_permission_needed() -> None:
    hook = Hook(bookings=api_error(NeetoCalAuthError, 403, "/bookings"))

    assert driver(hook).look_up(SLOTTED) == Unknowable(
        "listing the attendee's bookings failed (NeetoCal refused the API key: nope "
        "(NeetoCal answered HTTP 403 to GET /bookings)): the key needs GET /bookings"
    )


def test_a_401_on_the_booking_listing_fails_as_the_auth_error_it_is() -> None:
    hook = Hook(bookings=api_error(NeetoCalAuthError, 401, "/bookings"))

    with pytest.raises(NeetoCalAuthError) as raised:
        driver(hook).look_up(SLOTTED)

    assert raised.value.status == 401


def test_the_look_up_asks_for_the_attendee_of_the_payload() -> None:
    hook = Hook()

    driver(hook).look_up(SLOTTED)

    assert hook.asked_for == ["eve@example.com"]


# ---- a fixed-slot row reserves its start from slot-less rows ------------------------------------


def test_a_reserved_start_is_never_taken_by_a_slotless_request_of_the_same_attendee_and_meeting() -> None:
    once = driver(Hook(bookings=[booking()]))

    once.reserve({**SLOTTED, "email": "Eve@Example.com", "meeting_slug": SLUG.upper()})

    assert once.look_up(SLOTLESS) == Absent()


def test_without_a_reservation_the_slotless_request_finds_that_booking() -> None:
    assert isinstance(driver(Hook(bookings=[booking()])).look_up(SLOTLESS), Found)


def test_a_slotless_payload_reserves_nothing() -> None:
    once = driver(Hook())

    once.reserve(SLOTLESS)

    assert once.reserved == set()


# ---- a first try by default; the settle wait ---------------------------------------------------


def test_by_default_a_slotless_request_is_a_first_try_and_sends_without_looking_up_first() -> None:
    created = booking(sid="new")
    hook = Hook(posts=[created])

    assert ExactlyOnce(hook).obtain(SLOTLESS) == (created, True)  # type: ignore[arg-type]
    assert hook.asked_for == ["eve@example.com"]  # only the listing of what existed before sending


@pytest.mark.parametrize(("settle_seconds", "slept"), [(0, []), (1, [1]), (0.5, [0.5])])
def test_after_a_lost_answer_the_second_look_up_waits_settle_seconds_unless_zero(
    settle_seconds: float, slept: list[float]
) -> None:
    lost = NeetoCalOutcomeUnknownError(
        cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=502, message="bad gateway")
    )
    hook = Hook(posts=[lost])

    with pytest.raises(NeetoCalBookingUnknownError) as raised:
        driver(hook, settle_seconds=settle_seconds).obtain(SLOTLESS)

    assert hook.slept == slept
    assert "no booking found (yet)" in str(raised.value)


# ---- what the task log says --------------------------------------------------------------------


def test_describe_a_found_booking_names_its_sid_and_start() -> None:
    found = Found({"sid": "8sqtzrs", "starts_at": "2030-07-15T08:00:00Z"}, made_in_this_run=False)

    assert describe(found) == "found booking 8sqtzrs starting 2030-07-15T08:00:00Z"


def test_describe_absent_unknowable_and_nothing() -> None:
    assert describe(Absent()) == "no such booking"
    assert describe(Unknowable("GET /meetings failed")) == "cannot tell: GET /meetings failed"
    assert describe(None) == "not looked up"


@pytest.mark.parametrize(
    ("listed", "name"),
    [
        ({"name": "Meeting with Oliver Smith"}, "Meeting with Oliver Smith"),
        ({"name": "   "}, None),
        ({"name": None}, None),
        (None, None),
    ],
)
def test_listed_meeting_name_is_a_readable_name_a_look_up_already_listed(listed: Any, name: str | None) -> None:
    exactly_once = driver(Hook(bookings=[]))
    if listed is not None:
        exactly_once._meetings["demo"] = listed
    assert exactly_once.listed_meeting_name("demo") == name


def test_a_slotless_request_whose_pre_send_listing_gets_a_401_sends_nothing_and_warns_nothing(caplog) -> None:
    """The key is refused: the POST would be too, so the auth error is raised, not an exactly-once warning."""
    hook = Hook(bookings=api_error(NeetoCalAuthError, 401, "/bookings"))

    with caplog.at_level(logging.WARNING), pytest.raises(NeetoCalAuthError):
        driver(hook).obtain(dict(SLOTLESS))

    assert "before sending" not in caplog.text
