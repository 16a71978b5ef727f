"""The NeetoCal v1 endpoints as plain functions of (route, query, body): no sockets, no headers.

:class:`SandboxAPI` resolves a method and a route (the path after ``/api/external/v1``) to an
:class:`Endpoint`, then turns a call into an :class:`ApiResponse`. The HTTP layer (:mod:`.server`)
handles authentication, faults and the wire format around it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_neetocal.sandbox.scheduling import (
    BookedSlot,
    Meeting,
    Occupancy,
    ValidationError,
    build_booking,
    check_slot,
    first_free_slot,
    form_responses_mapping,
    format_slot_time,
    format_utc,
    free_slots,
    is_known_time_zone,
    metadata_mapping,
    new_sid,
    optional_slot,
    parse_timestamp,
    preferred_spot,
    render_booking,
    required_email,
    required_name,
    required_time_zone,
    reschedule_booking,
)
from airflow_provider_neetocal.sandbox.store import BookingStore, StoredBooking

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

API_PREFIX = "/api/external/v1"
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
BOOKING_TYPES = ("upcoming", "past", "cancelled", "incomplete")
#: Statuses :meth:`SandboxAPI.schedule_status` can set (what NeetoCal's UI and attendees do, not the API).
SETTABLE_STATUSES = ("confirmed", "cancelled", "rejected", "awaiting_approval")


class ApiError(Exception):
    """An error answer: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A resolved route: the handler and the values captured from the path."""

    name: str
    handler: Callable[..., ApiResponse]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def creates_booking(self) -> bool:
        return self.name == "create_booking"


def _page_params(query: Mapping[str, str]) -> tuple[int, int]:
    def number(name: str, default: int, upper: int | None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1 or (upper is not None and int(raw) > upper):
            limit = f" between 1 and {upper}" if upper else " of at least 1"
            raise ValidationError(f"{name} is invalid: expected an integer{limit}, got {raw!r}")
        return int(raw)

    return number("page_number", 1, None), number("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _paginate(items: Sequence[Any], query: Mapping[str, str]) -> tuple[list[Any], dict[str, int]]:
    page_number, page_size = _page_params(query)
    start = (page_number - 1) * page_size
    pagination = {
        "total_records": len(items),
        "total_pages": math.ceil(len(items) / page_size),
        "current_page_number": page_number,
        "page_size": page_size,
    }
    return list(items[start : start + page_size]), pagination


def _body_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
    return value


class SandboxAPI:
    """The v1 endpoints over a set of meetings and a booking store.

    :param meetings: the workspace's meetings.
    :param store: where bookings live.
    :param now: returns the current aware time (tests freeze it).
    :param base_url: returns the sandbox origin, used in booking URLs.
    """

    def __init__(
        self,
        meetings: Sequence[Meeting],
        store: BookingStore,
        *,
        now: Callable[[], datetime],
        base_url: Callable[[], str],
    ) -> None:
        self.meetings = list(meetings)
        self.store = store
        self._now = now
        self._base_url = base_url
        self._by_slug = {meeting.slug: meeting for meeting in self.meetings}
        self._by_sid = {meeting.sid: meeting for meeting in self.meetings}
        self._occupancy_cache: tuple[int, Occupancy] | None = None
        #: ``(at, sid, status, reason)`` changes waiting for the clock (see :meth:`schedule_status`).
        self._scheduled: list[tuple[datetime, str, str, str | None]] = []
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., ApiResponse]]] = [
            ("POST", re.compile(r"/bookings/?"), "create_booking", self.create_booking),
            ("GET", re.compile(r"/bookings/?"), "list_bookings", self.list_bookings),
            ("GET", re.compile(r"/bookings/(?P<sid>[^/]+)/?"), "get_booking", self.get_booking),
            ("PATCH", re.compile(r"/bookings/(?P<sid>[^/]+)/?"), "reschedule_booking", self.reschedule_booking),
            ("POST", re.compile(r"/bookings/(?P<sid>[^/]+)/cancel/?"), "cancel_booking", self.cancel_booking),
            ("POST", re.compile(r"/bookings/(?P<sid>[^/]+)/reject/?"), "reject_booking", self.reject_booking),
            (
                "GET",
                re.compile(r"/bookings/(?P<sid>[^/]+)/associated_bookings/?"),
                "associated_bookings",
                self.associated_bookings,
            ),
            ("GET", re.compile(r"/slots/(?P<meeting_slug>[^/]+)/?"), "list_slots", self.list_slots),
            ("GET", re.compile(r"/meetings/?"), "list_meetings", self.list_meetings),
            ("GET", re.compile(r"/meetings/(?P<meeting_sid>[^/]+)/?"), "get_meeting", self.get_meeting),
        ]

    # ---- plumbing -----------------------------------------------------------------------------

    def now(self) -> pendulum.DateTime:
        return pendulum.instance(self._now()).in_timezone("UTC")

    def resolve(self, method: str, route: str) -> Endpoint | None:
        """The endpoint for a method and route, or ``None`` (answered 404)."""
        return resolve_route(self._routes, method, route)

    def call(self, endpoint: Endpoint, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        """Run an endpoint, turning validation problems into 422 and other API errors into their status."""
        try:
            with self.store.lock:
                self.apply_due_changes()
                return endpoint.handler(query=query, body=body, **endpoint.params)
        except ValidationError as exc:
            return ApiResponse(422, {"error": str(exc)})
        except ApiError as exc:
            return ApiResponse(exc.status, {"error": exc.message})

    def schedule_status(self, sid: str, status: str, *, at: datetime | None, reason: str | None) -> None:
        """Set a booking's status now (``at=None``) or once the clock reaches ``at`` (see ``set_status``)."""
        if status not in SETTABLE_STATUSES:
            raise ValueError(f"status {status!r}: expected one of {', '.join(SETTABLE_STATUSES)}")
        with self.store.lock:
            if not self.store.has_sid(sid):
                raise KeyError(f"no booking with sid {sid!r}")
            self._scheduled.append((at or self.now(), sid, status, reason))
            self.apply_due_changes()

    def clear_scheduled(self) -> None:
        """Forget every status change still waiting for the clock."""
        self._scheduled = []

    def apply_due_changes(self) -> None:
        """Apply the scheduled status changes whose time has come, oldest first."""
        if not self._scheduled:
            return
        now = self.now()
        due = sorted((item for item in self._scheduled if item[0] <= now), key=lambda item: item[0])
        self._scheduled = [item for item in self._scheduled if item[0] > now]
        for at, sid, status, reason in due:
            record = self.store.get(sid)
            if record is None:
                continue
            stamp = format_utc(pendulum.instance(at).in_timezone("UTC"))
            record.booking["status"] = status
            record.booking["updated_at"] = stamp
            if status in ("cancelled", "rejected"):
                record.booking.update(cancel_reason=reason, cancelled_by="attendee")
            record.history.append({"event": status, "at": stamp, "reason": reason, "by": "sandbox.set_status"})
            self.store.save(record)

    def render(self, record: StoredBooking, *, with_hash: bool = False) -> dict[str, Any]:
        booking = render_booking(record.booking, self._base_url())
        if with_hash:
            booking["form_responses_as_hash"] = dict(record.form_responses_as_hash)
        return booking

    def meeting_by_slug(self, slug: str) -> Meeting | None:
        """The meeting with this slug, compared case-insensitively (configured slugs are lower case)."""
        return self._by_slug.get(slug.lower())

    @property
    def listed_meetings(self) -> list[Meeting]:
        """The meetings ``GET /meetings`` shows: every one not configured with ``"listed": false``."""
        return [meeting for meeting in self.meetings if meeting.listed]

    def _occupancy(self) -> Occupancy:
        """What is booked, rebuilt only when the store changed other than by :meth:`create_booking`."""
        records = self.store.snapshot()
        cached = self._occupancy_cache
        if cached is not None and cached[0] == self.store.generation:
            return cached[1]
        occupancy = Occupancy(slot for slot in map(self._booked_slot, records) if slot is not None)
        self._occupancy_cache = (self.store.generation, occupancy)
        return occupancy

    def _booked_slot(self, record: StoredBooking) -> BookedSlot | None:
        booking = record.booking
        if booking.get("status") != "confirmed":
            return None
        meeting = self._by_slug.get(record.meeting_slug)
        return BookedSlot(
            sid=record.sid,
            meeting_slug=record.meeting_slug,
            host_email=str(booking.get("host_email") or ""),
            one_on_one=meeting.is_one_on_one if meeting else True,
            start=parse_timestamp(booking["starts_at"]),
            end=parse_timestamp(booking["ends_at"]),
        )

    def _record(self, sid: str) -> StoredBooking:
        record = self.store.get(sid)
        if record is None:
            raise ApiError(404, "Booking not found")
        return record

    def _unique_sid(self) -> str:
        while True:
            sid = new_sid()
            if not self.store.has_sid(sid):
                return sid

    # ---- bookings -----------------------------------------------------------------------------

    def create_booking(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        slug = body.get("meeting_slug")
        if slug is None or slug == "":
            raise ValidationError("meeting_slug is required")
        meeting = self.meeting_by_slug(slug) if isinstance(slug, str) else None
        if meeting is None:
            raise ValidationError(f"Meeting not found: no meeting with meeting_slug {slug!r}")
        name = required_name(body)
        email = required_email(body)
        time_zone = required_time_zone(body)
        start = optional_slot(body, time_zone, required=False)
        spot = preferred_spot(body, meeting)
        form_responses = form_responses_mapping(body)
        metadata = metadata_mapping(body)
        now = self.now()
        occupancy = self._occupancy()
        if start is None:
            start = first_free_slot(meeting, occupancy, now)
            if start is None:
                raise ValidationError(
                    "The selected slot is not available: the meeting has no free slot in the next year"
                )
        else:
            check_slot(meeting, occupancy, start, now)
        sid = self._unique_sid()
        booking = build_booking(
            meeting=meeting,
            sid=sid,
            name=name,
            email=email,
            time_zone=time_zone,
            start=start,
            spot=spot,
            form_responses=form_responses,
            metadata=metadata,
            now=now,
        )
        generation = self.store.generation
        record = self.store.add(
            StoredBooking(booking=booking, meeting_slug=meeting.slug, form_responses_as_hash=form_responses)
        )
        cached = self._occupancy_cache
        slot = self._booked_slot(record)
        if cached is not None and cached[0] == generation and slot is not None:
            cached[1].add(slot)
            self._occupancy_cache = (self.store.generation, cached[1])
        return ApiResponse(200, self.render(record))

    def list_bookings(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        kind = query.get("type") or None
        if kind is not None and kind not in BOOKING_TYPES:
            raise ValidationError(f"type is invalid: {kind!r}; expected one of {', '.join(BOOKING_TYPES)}")
        client_email = (query.get("client_email") or "").strip().lower()
        host_email = (query.get("host_email") or "").strip().lower()
        _page_params(query)
        now = self.now()
        selected = []
        for record in self.store.snapshot():
            start = parse_timestamp(record.booking["starts_at"])
            if matches_listing_filters(record.booking, start, now, kind, client_email, host_email):
                selected.append((start, record.seq, record))
        selected.sort(key=lambda item: (item[0], item[1]))
        page, pagination = _paginate([record for _, _, record in selected], query)
        return ApiResponse(200, {"bookings": [self.render(record) for record in page], "pagination": pagination})

    def get_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        return ApiResponse(200, self.render(self._record(sid), with_hash=True))

    def reschedule_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        record = self._record(sid)
        status = record.booking.get("status")
        if status != "confirmed":
            raise ValidationError(f"A {status} booking cannot be rescheduled")
        name = required_name(body)
        email = required_email(body)
        time_zone = required_time_zone(body)
        start = optional_slot(body, time_zone, required=True)
        assert start is not None
        form_responses = form_responses_mapping(body) if body.get("form_responses") is not None else None
        reason = _body_text(body, "reschedule_reason")
        meeting = self._by_slug.get(record.meeting_slug)
        if meeting is None:
            raise ApiError(404, "Meeting not found")
        now = self.now()
        check_slot(meeting, self._occupancy(), start, now, ignore_sid=sid)
        record.history.append(
            {"event": "rescheduled", "at": format_utc(now), "from": record.booking["starts_at"], "reason": reason}
        )
        reschedule_booking(
            record.booking,
            meeting=meeting,
            name=name,
            email=email,
            time_zone=time_zone,
            start=start,
            duration=meeting.duration,
            form_responses=form_responses,
            now=now,
        )
        if form_responses is not None:
            record.form_responses_as_hash = form_responses
        self.store.save(record)
        return ApiResponse(200, self.render(record))

    def _end_booking(self, sid: str, action: str) -> StoredBooking:
        record = self._record(sid)
        status = record.booking.get("status")
        if status != "confirmed":
            raise ValidationError(f"Booking is already {status} and cannot be {action}")
        return record

    def cancel_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        return self._finish_booking(sid, "cancelled", "cancel_reason", query, body)

    def reject_booking(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        return self._finish_booking(sid, "rejected", "rejection_reason", query, body)

    def _finish_booking(
        self, sid: str, status: str, reason_field: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> ApiResponse:
        """Cancel or reject: the reason from the body (which wins) or the query string."""
        record = self._end_booking(sid, status)
        reason = _body_text(body, reason_field)
        if reason is None:
            reason = query.get(reason_field)
        now = format_utc(self.now())
        record.booking.update(status=status, cancel_reason=reason, cancelled_by="host", updated_at=now)
        record.history.append({"event": status, "at": now, "reason": reason})
        self.store.save(record)
        return ApiResponse(200, {"message": f"Booking has been successfully {status}"})

    def associated_bookings(self, *, sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        self._record(sid)
        return ApiResponse(200, {"associated_bookings": []})

    # ---- slots and meetings -------------------------------------------------------------------

    def list_slots(self, *, meeting_slug: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        meeting = self.meeting_by_slug(meeting_slug)
        if meeting is None:
            raise ApiError(404, "Meeting not found")
        time_zone = query.get("time_zone")
        if not time_zone:
            raise ValidationError("time_zone is required")
        if not is_known_time_zone(time_zone):
            raise ValidationError(f"time_zone is invalid: {time_zone!r} is not a known IANA time zone")
        year = _query_int(query, "year", 1, 9999, required=True)
        month = _query_int(query, "month", 1, 12, required=True)
        assert year is not None
        assert month is not None
        first = date(year, month, 1)
        days_in_month = (date(year + month // 12, month % 12 + 1, 1) - first).days
        day = _query_int(query, "day", 1, days_in_month, required=False)
        days = [date(year, month, day)] if day else [first + timedelta(days=n) for n in range(days_in_month)]
        start = pendulum.datetime(days[0].year, days[0].month, days[0].day, tz=time_zone)
        after = days[-1] + timedelta(days=1)
        end = pendulum.datetime(after.year, after.month, after.day, tz=time_zone)
        by_day: dict[date, dict[str, Any]] = {d: {} for d in days}
        for slot, places in free_slots(meeting, self._occupancy(), start=start, end=end, now=self.now()):
            local = slot.in_timezone(time_zone)
            by_day.setdefault(local.date(), {})[format_slot_time(local)] = {
                "starts_at": format_utc(slot),
                "ends_at": format_utc(slot + timedelta(minutes=meeting.duration)),
                "available_spots": places,
            }
        slots = [{"date": d.isoformat(), "day": d.day, "slots": by_day.get(d, {})} for d in days]
        return ApiResponse(200, {"slots": slots})

    def list_meetings(self, *, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        host_email = (query.get("host_email") or "").strip().lower()
        meetings = [
            meeting
            for meeting in self.listed_meetings
            if not host_email or any(host.email.lower() == host_email for host in meeting.hosts)
        ]
        page, pagination = _paginate(meetings, query)
        return ApiResponse(200, {"meetings": [meeting.to_api() for meeting in page], "pagination": pagination})

    def get_meeting(self, *, meeting_sid: str, query: Mapping[str, str], body: Mapping[str, Any]) -> ApiResponse:
        meeting = self._by_sid.get(meeting_sid)
        if meeting is None or not meeting.listed:
            raise ApiError(404, "Meeting not found")
        return ApiResponse(200, meeting.to_api())


def _query_int(query: Mapping[str, str], name: str, low: int, high: int, *, required: bool) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        if required:
            raise ValidationError(f"{name} is required")
        return None
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not low <= int(raw) <= high:
        raise ValidationError(f"{name} is invalid: expected an integer between {low} and {high}, got {raw!r}")
    return int(raw)


def matches_listing_filters(
    booking: dict[str, Any],
    start: Any,
    now: Any,
    kind: str | None,
    client_email: str | None,
    host_email: str | None,
) -> bool:
    """Whether ``GET /bookings`` with ``type`` / ``client_email`` / ``host_email`` lists ``booking`` (v1 and v2)."""
    status = booking.get("status")
    if kind == "upcoming" and not (status == "confirmed" and start >= now):
        return False
    if kind == "past" and not (status == "confirmed" and start < now):
        return False
    if kind == "cancelled" and status != "cancelled":
        return False
    if kind == "incomplete":  # bookings awaiting a form the attendee never finished: the sandbox has none
        return False
    if client_email and str(booking.get("email", "")).lower() != client_email:
        return False
    return not (host_email and str(booking.get("host_email", "")).lower() != host_email)


def resolve_route(routes: Iterable[tuple[str, re.Pattern[str], str, Any]], method: str, route: str) -> Endpoint | None:
    """The first of ``routes`` (method, path pattern, name, handler) matching the request; v1 and v2 share it."""
    for route_method, pattern, name, handler in routes:
        match = pattern.fullmatch(route)
        if match and route_method == method.upper():
            return Endpoint(name=name, handler=handler, params=match.groupdict())
    return None
