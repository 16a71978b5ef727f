"""Recognising a booking that already exists: the pure half of exactly-once creation.

NeetoCal has no idempotency key, so "did my earlier attempt create this booking?" can only be
answered by looking: ``GET /bookings?client_email=…`` and matching what a create would have made.
A booking matches a payload when it is for the same attendee, the same meeting and the same start,
and it is still live (not cancelled or rejected). For a payload without a slot (NeetoCal picks the
first free one), the start is unknown in advance, so a live booking of the same attendee and meeting
created since ``created_since`` (the DAG run's start) counts instead.

No HTTP here: the hook fetches, these functions decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pendulum

#: How far NeetoCal's ``created_at`` may precede this machine's clock and still count as "since":
#: the two clocks are not the same, and NeetoCal reports whole seconds.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=5)

#: Booking statuses that no longer hold the slot: such a booking is not "the one we made".
DEAD_STATUSES = frozenset({"cancelled", "canceled", "rejected"})


def slot_start_utc(payload: Mapping[str, Any]) -> pendulum.DateTime | None:
    """The UTC instant a validated payload asks for, or ``None`` when NeetoCal picks the slot."""
    if "slot_date" not in payload or "slot_start_time" not in payload:
        return None
    local = pendulum.from_format(
        f"{payload['slot_date']} {payload['slot_start_time']}", "YYYY-MM-DD hh:mm A", tz=payload["time_zone"]
    )
    return local.in_timezone("UTC")


def meeting_matches(booking: Mapping[str, Any], meeting: Mapping[str, Any] | None, slug: str) -> bool:
    """Whether ``booking`` belongs to the meeting with ``slug``.

    Bookings carry no slug, only ``meeting_id`` and ``meeting.name``; ``meeting`` is the meeting
    record found by slug (``GET /meetings``). Without it, nothing can be proven: no match.
    """
    if not meeting:
        return False
    if booking.get("meeting_id") and meeting.get("id"):
        return str(booking["meeting_id"]) == str(meeting["id"])
    booking_meeting = booking.get("meeting")
    name = booking_meeting.get("name") if isinstance(booking_meeting, Mapping) else None
    return bool(name) and name == meeting.get("name") and meeting.get("slug") == slug


def find_matching_booking(
    bookings: Iterable[Mapping[str, Any]],
    payload: Mapping[str, Any],
    meeting: Mapping[str, Any] | None,
    *,
    created_since: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The live booking that a create with ``payload`` made (or would duplicate), if any.

    When several match (only possible for slot-less payloads), the most recently created wins.
    """
    start = slot_start_utc(payload)
    email = str(payload["email"]).lower()
    found: list[dict[str, Any]] = []
    for booking in bookings:
        if not isinstance(booking, Mapping):
            continue
        if str(booking.get("status", "")).lower() in DEAD_STATUSES:
            continue
        if str(booking.get("email", "")).lower() != email:
            continue
        if not meeting_matches(booking, meeting, str(payload["meeting_slug"])):
            continue
        if start is not None:
            if parse_instant(booking.get("starts_at")) != start:
                continue
        elif created_since is not None and not created_after(booking, created_since):
            continue
        found.append(dict(booking))
    if not found:
        return None
    return max(found, key=lambda b: parse_instant(b.get("created_at")) or pendulum.datetime(1970, 1, 1))


def created_after(booking: Mapping[str, Any], moment: dt.datetime) -> bool:
    """Whether NeetoCal created ``booking`` at or after ``moment``, give or take :data:`CLOCK_SKEW_ALLOWANCE`."""
    created = parse_instant(booking.get("created_at"))
    return created is not None and created >= pendulum.instance(moment) - CLOCK_SKEW_ALLOWANCE


def parse_instant(value: Any) -> pendulum.DateTime | None:
    """A timestamp from a booking (``starts_at``, ``created_at``) in UTC, or ``None`` if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = pendulum.parse(value)
    except Exception:
        return None
    return parsed.in_timezone("UTC") if isinstance(parsed, pendulum.DateTime) else None
