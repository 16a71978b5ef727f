"""NeetoCal's external API v2 (``/api/external/v2``) over the same meetings and bookings as v1.

Written from NeetoCal's v2 reference and its CLI (see the sandbox README, "API v2"), independently of
the provider's client, so that it catches the client's mistakes. What differs from v1:

* ``POST /bookings`` answers **201**, takes ``override_availability`` (book outside the meeting's
  working hours and grid, and, as the pessimistic reading, into a taken slot) and ``host_email``
  (which host of a multi-host meeting takes it).
* ``PATCH /bookings/{sid}`` is the one update: a status change (``cancelled``, ``approved``,
  ``rejected``, with ``cancel_reason`` / ``rejection_reason``) or a reschedule carrying only the fields
  that change (``time_zone`` defaults to the booking's). There is no ``POST /bookings/{sid}/cancel``
  (or ``/reject``): those routes answer 404.
* ``GET /bookings`` adds ``meeting_sid``, ``search``, ``starts_after``, ``starts_before``,
  ``sorting_key`` and ``sorting_order``.
* Slots are ``GET /meetings/{meeting_sid}/slots`` (the sid, not the slug); ``GET /meetings/{sid}``
  answers ``{"meeting": {...}}`` as NeetoCal's CLI reads it.
* A single booking (create, get, update) is answered bare or wrapped as ``{"booking": {...}}``,
  switched by :attr:`SandboxAPIV2.booking_answers`: the v2 reference does not show which.

Requests run through :meth:`SandboxAPI.call` of the v1 API (one store lock, one error mapping), so
everything the sandbox does around a call applies to both versions alike.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Literal, get_args

import pendulum

from airflow_provider_neetocal.sandbox.api import (
    BOOKING_TYPES,
    ApiError,
    ApiResponse,
    Endpoint,
    SandboxAPI,
    _paginate,
    matches_listing_filters,
    resolve_route,
)
from airflow_provider_neetocal.sandbox.scheduling import (
    MEETING_SPOTS,
    Meeting,
    ValidationError,
    build_booking,
    first_free_slot,
    form_responses_mapping,
    format_utc,
    is_valid_email,
    metadata_mapping,
    optional_slot,
    parse_timestamp,
    preferred_spot,
    required_email,
    required_name,
    required_time_zone,
    reschedule_booking,
)
from airflow_provider_neetocal.sandbox.store import StoredBooking

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

API_V2_PREFIX = "/api/external/v2"
BookingAnswers = Literal["bare", "wrapped"]
#: How a single booking can be answered: as v1 does, or inside ``{"booking": {...}}``.
BOOKING_ANSWERS: tuple[str, ...] = get_args(BookingAnswers)
#: Statuses ``PATCH /bookings/{sid}`` sets, and the statuses each may start from.
STATUS_CHANGES: dict[str, tuple[str, ...]] = {
    "cancelled": ("confirmed", "awaiting_approval"),
    "approved": ("awaiting_approval",),
    "rejected": ("confirmed", "awaiting_approval"),
}
SORTING_KEYS = ("created_at", "starts_at")
SORTING_ORDERS = ("asc", "desc")
MIN_SEARCH_LENGTH = 3
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def checked_booking_answers(value: str) -> BookingAnswers:
    """``value`` if it names a way to answer a single booking (``bare`` / ``wrapped``); else ``ValueError``."""
    for answers in get_args(BookingAnswers):
        if value == answers:
            return answers
    raise ValueError(f"v2_booking_answers={value!r}: expected one of {', '.join(BOOKING_ANSWERS)}")


class SandboxAPIV2:
    """The v2 endpoints, sharing the v1 API's meetings, store and clock.

    :param v1: the sandbox's v1 API (its meetings, bookings, clock and call wrapper).
    :param booking_answers: ``"bare"`` or ``"wrapped"``: how single bookings are answered.
    """

    def __init__(self, v1: SandboxAPI, *, booking_answers: str = "bare") -> None:
        self.v1 = v1
        self.booking_answers: BookingAnswers = checked_booking_answers(booking_answers)
        sid = r"(?P<sid>[^/]+)"
        meeting_sid = r"(?P<meeting_sid>[^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., ApiResponse]]] = [
            ("POST", re.compile(r"/bookings/?"), "create_booking", self.create_booking),
            ("GET", re.compile(r"/bookings/?"), "list_bookings", self.list_bookings),
            ("GET", re.compile(rf"/bookings/{sid}/?"), "get_booking", self.get_booking),
            ("PATCH", re.compile(rf"/bookings/{sid}/?"), "update_booking", self.update_booking),
            ("GET", re.compile(r"/meetings/?"), "list_meetings", self.list_meetings),
            ("GET", re.compile(rf"/meetings/{meeting_sid}/?"), "get_meeting", self.get_meeting),
            ("GET", re.compile(rf"/meetings/{meeting_sid}/slots/?"), "list_slots", self.list_slots),
        ]

    # ---- plumbing -----------------------------------------------------------------------------

    def resolve(self, method: str, route: str) -> Endpoint | None:
        """The endpoint for a method and route (the path after ``/api/external/v2``), or ``None`` (404)."""
        return resolve_route(self._routes, method, route)

    def call(self, endpoint: Endpoint, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        """Run an endpoint as the v1 API runs its own (store lock, 422 / error mapping)."""
        return self.v1.call(endpoint, query, body)

    def _booking_answer(self, status: int, record: StoredBooking, *, with_hash: bool = False) -> ApiResponse:
        booking = self.v1.render(record, with_hash=with_hash)
        return ApiResponse(status, {"booking": booking} if self.booking_answers == "wrapped" else booking)

    def _meeting_by_sid(self, meeting_sid: str) -> Meeting:
        for meeting in self.v1.meetings:
            if meeting.sid == meeting_sid:
                return meeting
        raise ApiError(404, "Meeting not found")

    # ---- bookings -----------------------------------------------------------------------------

    def create_booking(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        slug = body.get("meeting_slug")
        if slug is None or slug == "":
            raise ValidationError("meeting_slug is required")
        meeting = self.v1.meeting_by_slug(slug) if isinstance(slug, str) else None
        if meeting is None:
            raise ValidationError(f"Meeting not found: no meeting with meeting_slug {slug!r}")
        name = required_name(body)
        email = required_email(body)
        time_zone = required_time_zone(body)
        start = optional_slot(body, time_zone, required=False)
        spot = preferred_spot(body, meeting)
        form_responses = form_responses_mapping(body)
        metadata = metadata_mapping(body)
        override = _override_availability(body)
        meeting = _with_host(meeting, body.get("host_email"))
        now = self.v1.now()
        occupancy = self.v1._occupancy()
        if start is None:
            start = first_free_slot(meeting, occupancy, now)
            if start is None:
                raise ValidationError(
                    "The selected slot is not available: the meeting has no free slot in the next year"
                )
        else:
            _check_slot(self.v1, meeting, start, override=override)
        booking = build_booking(
            meeting=meeting,
            sid=self.v1._unique_sid(),
            name=name,
            email=email,
            time_zone=time_zone,
            start=start,
            spot=spot,
            form_responses=form_responses,
            metadata=metadata,
            now=now,
        )
        record = self.v1.store.add(
            StoredBooking(booking=booking, meeting_slug=meeting.slug, form_responses_as_hash=form_responses)
        )
        return self._booking_answer(201, record)

    def list_bookings(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        kind = query.get("type") or None
        if kind is not None and kind not in BOOKING_TYPES:
            raise ValidationError(f"type is invalid: {kind!r}; expected one of {', '.join(BOOKING_TYPES)}")
        client_email = (query.get("client_email") or "").strip().lower()
        host_email = (query.get("host_email") or "").strip().lower()
        meeting_sid = (query.get("meeting_sid") or "").strip()
        meeting_slug = self._meeting_by_sid(meeting_sid).slug if meeting_sid else None
        search = (query.get("search") or "").strip().lower()
        if search and len(search) < MIN_SEARCH_LENGTH:
            raise ValidationError(f"search is invalid: give at least {MIN_SEARCH_LENGTH} characters")
        after = _query_instant(query, "starts_after")
        before = _query_instant(query, "starts_before")
        sorting_key = query.get("sorting_key") or "starts_at"
        if sorting_key not in SORTING_KEYS:
            raise ValidationError(f"sorting_key is invalid: {sorting_key!r}; expected one of {', '.join(SORTING_KEYS)}")
        sorting_order = query.get("sorting_order") or "asc"
        if sorting_order not in SORTING_ORDERS:
            raise ValidationError(
                f"sorting_order is invalid: {sorting_order!r}; expected one of {', '.join(SORTING_ORDERS)}"
            )
        now = self.v1.now()
        selected = []
        for record in self.v1.store.snapshot():
            booking = record.booking
            start = parse_timestamp(booking["starts_at"])
            if not matches_listing_filters(booking, start, now, kind, client_email, host_email):
                continue
            if meeting_slug is not None and record.meeting_slug != meeting_slug:
                continue
            if search and search not in f"{booking.get('name', '')} {booking.get('email', '')}".lower():
                continue
            if (after is not None and start < after) or (before is not None and start > before):
                continue
            order = parse_timestamp(booking[sorting_key])
            selected.append((order, record.seq, record))
        selected.sort(key=lambda item: (item[0], item[1]), reverse=sorting_order == "desc")
        page, pagination = _paginate([record for _, _, record in selected], query)
        return ApiResponse(200, {"bookings": [self.v1.render(record) for record in page], "pagination": pagination})

    def get_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        return self._booking_answer(200, self.v1._record(sid), with_hash=True)

    def update_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        """A status change, or a reschedule with only the fields that change; never both at once."""
        record = self.v1._record(sid)
        if body.get("status") is not None:
            slot_fields = sorted(name for name in ("slot_date", "slot_start_time") if body.get(name) is not None)
            if slot_fields:
                raise ValidationError(
                    f"status cannot change together with {', '.join(slot_fields)}: send a status change or new "
                    "slot details"
                )
            return self._change_status(record, body)
        return self._reschedule(record, body)

    def _change_status(self, record: StoredBooking, body: Mapping[str, Any]) -> ApiResponse:
        status = body.get("status")
        if status not in STATUS_CHANGES:
            raise ValidationError(f"status is invalid: {status!r}; expected one of {', '.join(STATUS_CHANGES)}")
        current = record.booking.get("status")
        if current not in STATUS_CHANGES[status]:
            raise ValidationError(f"Booking is already {current} and cannot be {status}")
        reason_field = {"cancelled": "cancel_reason", "rejected": "rejection_reason"}.get(status)
        reason = _text(body, reason_field) if reason_field else None
        now = format_utc(self.v1.now())
        new_status = "confirmed" if status == "approved" else status
        record.booking.update(status=new_status, updated_at=now)
        if reason_field:
            record.booking.update(cancel_reason=reason, cancelled_by="host")
        record.history.append({"event": status, "at": now, "reason": reason, "api": "v2"})
        self.v1.store.save(record)
        return self._booking_answer(200, record)

    def _reschedule(self, record: StoredBooking, body: Mapping[str, Any]) -> ApiResponse:
        booking = record.booking
        changes = sorted(name for name in _UPDATE_FIELDS if body.get(name) is not None)
        if not changes:
            raise ValidationError(
                f"nothing to update: send a status or some of {', '.join(sorted(_UPDATE_FIELDS - {'status'}))}"
            )
        status = booking.get("status")
        if status != "confirmed":
            raise ValidationError(f"A {status} booking cannot be rescheduled")
        name = required_name(body) if body.get("name") is not None else str(booking["name"])
        email = required_email(body) if body.get("email") is not None else str(booking["email"])
        time_zone = required_time_zone(body) if body.get("time_zone") is not None else str(booking["time_zone"])
        start = optional_slot(body, time_zone, required=False)
        spot = body.get("preferred_meeting_spot")
        if spot is not None and spot not in MEETING_SPOTS:
            raise ValidationError(
                f"preferred_meeting_spot is invalid: {spot!r}; expected one of {', '.join(MEETING_SPOTS)}"
            )
        override = _override_availability(body)
        reason = _text(body, "reschedule_reason")
        meeting = self.v1.meeting_by_slug(record.meeting_slug)
        if meeting is None:
            raise ApiError(404, "Meeting not found")
        now = self.v1.now()
        if start is not None:
            _check_slot(self.v1, meeting, start, override=override, ignore_sid=record.sid)
            record.history.append(
                {"event": "rescheduled", "at": format_utc(now), "from": booking["starts_at"], "reason": reason}
            )
        reschedule_booking(
            booking,
            meeting=meeting,
            name=name,
            email=email,
            time_zone=time_zone,
            start=start if start is not None else parse_timestamp(booking["starts_at"]),
            duration=meeting.duration,
            form_responses=None,  # not a v2 update field: ignored, as unknown fields are
            now=now,
        )
        if spot is not None:
            booking["preferred_meeting_spot"] = spot
        self.v1.store.save(record)
        return self._booking_answer(200, record)

    # ---- meetings and slots -------------------------------------------------------------------

    def list_meetings(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        return self.v1.list_meetings(query=query, body=body)

    def get_meeting(self, *, meeting_sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        meeting = self._meeting_by_sid(meeting_sid)
        if not meeting.listed:
            raise ApiError(404, "Meeting not found")
        return ApiResponse(200, {"meeting": meeting.to_api()})

    def list_slots(self, *, meeting_sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        meeting = self._meeting_by_sid(meeting_sid)
        return self.v1.list_slots(meeting_slug=meeting.slug, query=query, body=body)


#: Fields a v2 ``PATCH /bookings/{sid}`` reschedule may carry (besides ``status``).
_UPDATE_FIELDS = frozenset(
    {
        "status",
        "name",
        "email",
        "slot_date",
        "slot_start_time",
        "time_zone",
        "preferred_meeting_spot",
        "reschedule_reason",
        "meeting_outcome_id",
    }
)


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _override_availability(body: Mapping[str, Any]) -> bool:
    value = body.get("override_availability")
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(f"override_availability must be true or false, got {value!r}")
    return value


def _with_host(meeting: Meeting, host_email: Any) -> Meeting:
    """The meeting with the requested host first (the booking's host), or as configured when none is asked."""
    if host_email is None:
        return meeting
    if not is_valid_email(host_email):
        raise ValidationError(f"host_email is invalid: {host_email!r} is not an email address")
    chosen = [host for host in meeting.hosts if host.email.lower() == str(host_email).lower()]
    if not chosen:
        raise ValidationError(f"host_email is invalid: {host_email!r} is not a host of this meeting")
    others = tuple(host for host in meeting.hosts if host is not chosen[0])
    return dataclasses.replace(meeting, hosts=(chosen[0], *others))


def _check_slot(
    v1: SandboxAPI, meeting: Meeting, start: pendulum.DateTime, *, override: bool, ignore_sid: str | None = None
) -> None:
    """v1's slot rules; ``override_availability`` lifts all but "not in the past"."""
    from airflow_provider_neetocal.sandbox.scheduling import check_slot

    now = v1.now()
    if not override:
        check_slot(meeting, v1._occupancy(), start, now, ignore_sid=ignore_sid)
    elif start < now:
        raise ValidationError(
            f"The selected slot is not available: it is in the past ({format_utc(start)} is before {format_utc(now)})"
        )


def _query_instant(query: Mapping[str, str], name: str) -> pendulum.DateTime | None:
    """``starts_after`` / ``starts_before``: ISO 8601, or ``YYYY-MM-DD`` (midnight UTC); 422 otherwise."""
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    try:
        parsed = pendulum.parse(raw, tz="UTC", exact=True)
    except Exception:
        parsed = None
    if isinstance(parsed, pendulum.DateTime):
        return parsed.in_timezone("UTC")
    if isinstance(parsed, pendulum.Date) and _DATE_ONLY.fullmatch(raw):
        return pendulum.datetime(parsed.year, parsed.month, parsed.day, tz="UTC")
    raise ValidationError(f"{name} is invalid: {raw!r}; expected ISO 8601 or YYYY-MM-DD")
