"""Pure scheduling logic of the sandbox: meetings, slot grids, request validation, booking objects.

Nothing here speaks HTTP or touches storage, so every rule can be read (and tested) on its own.
Times are :mod:`pendulum` datetimes; working hours are wall-clock times in the meeting's own zone.

The sandbox deliberately shares no code with the provider's client: the checks below are written
from the API documentation, independently, so that they catch the client's mistakes.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import string
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import pendulum

MEETING_SPOTS = ("custom", "jitsi", "in_person", "daily", "zoom", "whereby", "google_meet", "teams")
DEFAULT_SPOT = "jitsi"
MEETING_KINDS = ("one_on_one", "group")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_GROUP_CAPACITY = 50
FIRST_FREE_SLOT_HORIZON_DAYS = 366
GUEST_EMAILS_FIELD = "guest_email_s"

SLOT_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
SLOT_TIME_PATTERN = re.compile(r"(0[1-9]|1[0-2]):([0-5][0-9]) (AM|PM)")
CLOCK_PATTERN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
# A deliberately simple address check (the sandbox may use nothing but the standard library and
# pendulum): one "@", no spaces, and a dotted domain of letters, digits and hyphens.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
SID_ALPHABET = string.ascii_lowercase + string.digits
SID_LENGTH = 7
UTC_ZONE = timezone.utc
UTC_ZONE_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})


class ConfigError(ValueError):
    """The meetings configuration is not usable."""


class ValidationError(ValueError):
    """A request the real service would refuse with 422; the message names the field at fault."""


# --------------------------------------------------------------------------------------------------
# Small parsing and formatting helpers
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _known_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_known_time_zone(name: object) -> bool:
    """Whether ``name`` is an IANA zone name (exact spelling) that pendulum can load."""
    if not isinstance(name, str) or name not in _known_zone_names():
        return False
    try:
        pendulum.timezone(name)
    except Exception:
        return False
    return True


def is_valid_email(value: object) -> bool:
    return isinstance(value, str) and EMAIL_PATTERN.fullmatch(value) is not None


def parse_slot_date(value: object, field_name: str = "slot_date") -> date:
    """Parse ``YYYY-MM-DD`` strictly: the form and a real calendar date."""
    if not isinstance(value, str) or not SLOT_DATE_PATTERN.fullmatch(value):
        raise ValidationError(f"{field_name} is invalid: expected YYYY-MM-DD, e.g. '2025-07-15', got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field_name} is invalid: {value!r} is not a real date") from None


def parse_slot_time(value: object, field_name: str = "slot_start_time") -> tuple[int, int]:
    """Parse ``hh:mm AM/PM`` strictly (zero-padded hour 01-12, upper-case meridiem) into (hour, minute)."""
    match = SLOT_TIME_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(f"{field_name} is invalid: expected 'hh:mm AM/PM', e.g. '01:30 PM', got {value!r}")
    hour = int(match.group(1)) % 12 + (12 if match.group(3) == "PM" else 0)
    return hour, int(match.group(2))


def format_slot_time(moment: datetime) -> str:
    """The ``hh:mm AM/PM`` form of a wall-clock time."""
    meridiem = "PM" if moment.hour >= 12 else "AM"
    return f"{(moment.hour % 12) or 12:02d}:{moment.minute:02d} {meridiem}"


def _milliseconds(moment: datetime) -> str:
    return f"{moment.microsecond // 1000:03d}"


def format_utc(moment: datetime) -> str:
    """``2025-07-23T05:00:00.000Z``: how the service writes ``starts_at``, ``created_at`` and friends."""
    utc = pendulum.instance(moment).in_timezone("UTC")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + _milliseconds(utc) + "Z"


def format_for_client(moment: datetime, time_zone: str) -> str:
    """``2025-07-23T10:30:00.000+05:30``: a time in the client's zone, with its offset."""
    local = pendulum.instance(moment).in_timezone(time_zone)
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S.") + _milliseconds(local)
    if time_zone in UTC_ZONE_NAMES:
        return stamp + "Z"
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{stamp}{sign}{hours:02d}:{minutes:02d}"


@lru_cache(maxsize=65536)
def parse_timestamp(value: str) -> pendulum.DateTime:
    # Cached: availability checks read every booking's start and end on each POST (DateTimes are immutable).
    parsed = pendulum.parse(value)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"Not a timestamp: {value!r}")
    return parsed


def _parse_clock(value: object, where: str) -> int:
    if not isinstance(value, str) or not CLOCK_PATTERN.fullmatch(value):
        raise ConfigError(f"{where}: expected a 24-hour 'HH:MM' time (up to '24:00'), got {value!r}")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def new_sid() -> str:
    return "".join(secrets.choice(SID_ALPHABET) for _ in range(SID_LENGTH))


# --------------------------------------------------------------------------------------------------
# Meetings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    name: str
    email: str


@dataclass(frozen=True)
class Question:
    """A booking-form question; ``form_responses`` keys are field codes."""

    field_code: str
    label: str
    type: str


@dataclass
class Meeting:
    """A scheduling link (NeetoCal calls it a meeting) and its availability."""

    id: str
    sid: str
    slug: str
    name: str
    kind: str
    duration: int
    time_zone: str
    hosts: tuple[Host, ...]
    spots: tuple[str, ...]
    working_hours: dict[str, tuple[tuple[int, int], ...]]
    slot_interval: int
    capacity: int
    questions: dict[str, Question] = field(default_factory=dict)
    location: str | None = None
    description: str | None = None
    #: ``False`` hides the meeting from ``GET /meetings`` and ``GET /meetings/{sid}``; it stays bookable.
    listed: bool = True

    @property
    def host(self) -> Host:
        return self.hosts[0]

    @property
    def is_one_on_one(self) -> bool:
        return self.kind == "one_on_one"

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Meeting:
        """Build a meeting from one entry of the ``meetings`` configuration, checking every field."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"Each meeting must be an object, got {data!r}")
        slug = data.get("slug")
        if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug):
            raise ConfigError(f"Meeting slug must be lower-case letters, digits and hyphens, got {slug!r}")
        where = f"Meeting {slug!r}"
        name = data.get("name", slug.replace("-", " ").title())
        kind = data.get("kind", "one_on_one")
        if kind not in MEETING_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(MEETING_KINDS)}, got {kind!r}")
        duration = data.get("duration", 30)
        if not isinstance(duration, int) or isinstance(duration, bool) or not 1 <= duration <= 1440:
            raise ConfigError(f"{where}: duration must be a whole number of minutes, got {duration!r}")
        slot_interval = data.get("slot_interval", duration)
        if not isinstance(slot_interval, int) or isinstance(slot_interval, bool) or slot_interval < 1:
            raise ConfigError(f"{where}: slot_interval must be a positive number of minutes")
        time_zone = data.get("time_zone", "UTC")
        if not is_known_time_zone(time_zone):
            raise ConfigError(f"{where}: unknown time_zone {time_zone!r}")
        hosts = tuple(_host_from_config(item, where) for item in data.get("hosts") or ())
        if not hosts:
            raise ConfigError(f"{where}: at least one host ({{name, email}}) is required")
        spots = tuple(data.get("spots") or (DEFAULT_SPOT,))
        unknown = [spot for spot in spots if spot not in MEETING_SPOTS]
        if unknown:
            raise ConfigError(f"{where}: unknown spots {unknown}; expected some of {', '.join(MEETING_SPOTS)}")
        default_capacity = 1 if kind == "one_on_one" else DEFAULT_GROUP_CAPACITY
        capacity = data.get("capacity", default_capacity)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ConfigError(f"{where}: capacity must be a positive integer")
        if kind == "one_on_one" and capacity != 1:
            raise ConfigError(f"{where}: a one_on_one meeting has capacity 1")
        listed = data.get("listed", True)
        if not isinstance(listed, bool):
            raise ConfigError(f"{where}: listed must be true or false, got {listed!r}")
        return cls(
            id=str(data.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, f"neetocal-sandbox:meeting:{slug}")),
            sid=str(data.get("sid") or hashlib.sha1(slug.encode()).hexdigest()[:SID_LENGTH]),
            slug=slug,
            name=str(name),
            kind=kind,
            duration=duration,
            time_zone=time_zone,
            hosts=hosts,
            spots=spots,
            working_hours=_working_hours_from_config(data.get("working_hours"), where),
            slot_interval=slot_interval,
            capacity=capacity,
            questions=_questions_from_config(data.get("questions") or (), where),
            location=data.get("location"),
            description=data.get("description"),
            listed=listed,
        )

    def to_api(self) -> dict[str, Any]:
        """The meeting as ``GET /meetings`` shows it."""
        return {
            "id": self.id,
            "sid": self.sid,
            "name": self.name,
            "slug": self.slug,
            "kind": self.kind,
            "duration": self.duration,
            "description": self.description,
            "spots": list(self.spots),
            "hosts": [{"name": host.name, "email": host.email} for host in self.hosts],
            "time_zone": self.time_zone,
            "working_hours": {
                day: [[_format_clock(start), _format_clock(end)] for start, end in intervals]
                for day, intervals in self.working_hours.items()
            },
            "slot_interval": self.slot_interval,
            "capacity": self.capacity,
            "questions": [
                {"field_code": q.field_code, "label": q.label, "type": q.type} for q in self.questions.values()
            ],
        }

    def slot_starts_on(self, local_day: date) -> list[pendulum.DateTime]:
        """Every slot start of the grid on one day of the meeting's own calendar, in order."""
        starts: dict[pendulum.DateTime, None] = {}
        for start, end in self.working_hours.get(WEEKDAYS[local_day.weekday()], ()):
            minute = start
            while minute + self.duration <= end:
                moment = pendulum.datetime(
                    local_day.year,
                    local_day.month,
                    local_day.day,
                    minute // 60,
                    minute % 60,
                    tz=self.time_zone,
                )
                starts[moment] = None
                minute += self.slot_interval
        return sorted(starts)

    def slot_problem(self, start: pendulum.DateTime) -> str | None:
        """Why ``start`` is not a slot of the grid (outside hours or off-grid), or ``None`` if it is one."""
        local = start.in_timezone(self.time_zone)
        if start in self.slot_starts_on(local.date()):
            return None
        minute = local.hour * 60 + local.minute
        described = f"{format_slot_time(local)} {self.time_zone} on {local.format('dddd')}"
        for begin, end in self.working_hours.get(WEEKDAYS[local.weekday()], ()):
            if begin <= minute < end:
                if minute + self.duration > end:
                    return f"a {self.duration}-minute meeting at {described} would end after the working hours"
                return f"{described} is not on the meeting's {self.slot_interval}-minute slot grid"
        return f"{described} is outside the meeting's working hours"


def _host_from_config(item: Any, where: str) -> Host:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not is_valid_email(item.get("email")):
        raise ConfigError(f"{where}: each host needs a name and a valid email, got {item!r}")
    return Host(name=item["name"], email=item["email"])


def _working_hours_from_config(value: Any, where: str) -> dict[str, tuple[tuple[int, int], ...]]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: working_hours must map weekdays to lists of ['HH:MM', 'HH:MM'] intervals")
    hours: dict[str, tuple[tuple[int, int], ...]] = {}
    for day, intervals in value.items():
        if day not in WEEKDAYS:
            raise ConfigError(f"{where}: unknown weekday {day!r} in working_hours; expected {', '.join(WEEKDAYS)}")
        parsed = []
        for interval in intervals or ():
            if not isinstance(interval, (list, tuple)) or len(interval) != 2:
                raise ConfigError(f"{where}: working hours interval must be ['HH:MM', 'HH:MM'], got {interval!r}")
            start = _parse_clock(interval[0], where)
            end = _parse_clock(interval[1], where)
            if start >= end:
                raise ConfigError(f"{where}: working hours interval {interval!r} ends before it starts")
            parsed.append((start, end))
        hours[day] = tuple(sorted(parsed))
    return {day: hours[day] for day in WEEKDAYS if day in hours}


def _questions_from_config(items: Iterable[Any], where: str) -> dict[str, Question]:
    questions = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("field_code"), str):
            raise ConfigError(f"{where}: each question needs a field_code, got {item!r}")
        code = item["field_code"]
        questions[code] = Question(code, str(item.get("label") or _label_for(code)), str(item.get("type") or "text"))
    return questions


def _label_for(field_code: str) -> str:
    if field_code == GUEST_EMAILS_FIELD:
        return "Guest emails"
    return field_code.replace("_", " ").strip().capitalize() or field_code


# --------------------------------------------------------------------------------------------------
# Occupancy: what is already booked
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookedSlot:
    """A confirmed booking, as far as availability is concerned."""

    sid: str
    meeting_slug: str
    host_email: str
    one_on_one: bool
    start: datetime
    end: datetime


class Occupancy:
    """Answers "how many places are left in this slot?" over a snapshot of confirmed bookings.

    Indexed by (meeting, start) and by (host, UTC day), so a check costs the same with ten bookings or
    ten thousand (a bulk client books thousands against one sandbox).
    """

    def __init__(self, booked: Iterable[BookedSlot]) -> None:
        self._by_start: dict[tuple[str, datetime], list[BookedSlot]] = {}
        self._by_host_day: dict[tuple[str, date], list[BookedSlot]] = {}
        for slot in booked:
            self.add(slot)

    def add(self, slot: BookedSlot) -> None:
        """Count one more confirmed booking."""
        self._by_start.setdefault((slot.meeting_slug, slot.start), []).append(slot)
        if slot.one_on_one:
            for day in _utc_days(slot.start, slot.end):
                self._by_host_day.setdefault((slot.host_email.lower(), day), []).append(slot)

    def remaining(self, meeting: Meeting, start: datetime, *, ignore_sid: str | None = None) -> int:
        """Places left for ``meeting`` at ``start``; the booking ``ignore_sid`` (being rescheduled) is free."""
        end = start + timedelta(minutes=meeting.duration)
        taken = sum(1 for slot in self._by_start.get((meeting.slug, start), ()) if slot.sid != ignore_sid)
        if meeting.is_one_on_one:
            for email in {host.email.lower() for host in meeting.hosts}:
                for day in _utc_days(start, end):
                    for slot in self._by_host_day.get((email, day), ()):
                        if slot.sid == ignore_sid or (slot.meeting_slug == meeting.slug and slot.start == start):
                            continue
                        if slot.start < end and start < slot.end:
                            return 0
        return max(meeting.capacity - taken, 0)


def _utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC calendar days ``[start, end]`` touches."""
    first = start.astimezone(UTC_ZONE).date()
    last = max(end.astimezone(UTC_ZONE).date(), first)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def free_slots(
    meeting: Meeting,
    occupancy: Occupancy,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[tuple[pendulum.DateTime, int]]:
    """Free slots starting in ``[start, end)`` and not before ``now``, with the places left in each."""
    first_day = pendulum.instance(start).in_timezone(meeting.time_zone).date()
    last_day = pendulum.instance(end).in_timezone(meeting.time_zone).date()
    found = []
    day = first_day
    while day <= last_day:
        for slot in meeting.slot_starts_on(day):
            if start <= slot < end and slot >= now:
                places = occupancy.remaining(meeting, slot)
                if places > 0:
                    found.append((slot, places))
        day += timedelta(days=1)
    return found


def first_free_slot(meeting: Meeting, occupancy: Occupancy, now: datetime) -> pendulum.DateTime | None:
    """The earliest free slot from ``now`` on, looking a year ahead."""
    day = pendulum.instance(now).in_timezone(meeting.time_zone).date()
    for _ in range(FIRST_FREE_SLOT_HORIZON_DAYS):
        for slot in meeting.slot_starts_on(day):
            if slot >= now and occupancy.remaining(meeting, slot) > 0:
                return slot
        day += timedelta(days=1)
    return None


def check_slot(
    meeting: Meeting,
    occupancy: Occupancy,
    start: pendulum.DateTime,
    now: datetime,
    *,
    ignore_sid: str | None = None,
) -> None:
    """Raise :class:`ValidationError` unless ``start`` is a free, future slot of the meeting."""
    prefix = "The selected slot is not available"
    if start < now:
        raise ValidationError(f"{prefix}: it is in the past ({format_utc(start)} is before {format_utc(now)})")
    problem = meeting.slot_problem(start)
    if problem:
        raise ValidationError(f"{prefix}: {problem}")
    if occupancy.remaining(meeting, start, ignore_sid=ignore_sid) <= 0:
        raise ValidationError(f"{prefix}: it is already booked")


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def _required_string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(f"{name} is required")
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
    return value.strip()


def required_email(body: Mapping[str, Any], name: str = "email") -> str:
    value = _required_string(body, name)
    if not is_valid_email(value):
        raise ValidationError(f"{name} is invalid: {value!r} is not an email address")
    return value


def required_time_zone(body: Mapping[str, Any], name: str = "time_zone") -> str:
    value = _required_string(body, name)
    if not is_known_time_zone(value):
        raise ValidationError(f"{name} is invalid: {value!r} is not a known IANA time zone, e.g. 'Asia/Kolkata'")
    return value


def required_name(body: Mapping[str, Any]) -> str:
    return _required_string(body, "name")


def slot_start_from(slot_date: object, slot_start_time: object, time_zone: str) -> pendulum.DateTime:
    """The aware start of ``slot_date`` + ``slot_start_time`` read as wall-clock time in ``time_zone``."""
    day = parse_slot_date(slot_date)
    hour, minute = parse_slot_time(slot_start_time)
    start = pendulum.datetime(day.year, day.month, day.day, hour, minute, tz=time_zone)
    if (start.hour, start.minute) != (hour, minute):
        raise ValidationError(
            f"slot_start_time is invalid: {slot_start_time} does not exist on {slot_date} in {time_zone}"
            " (daylight-saving gap)"
        )
    return start


def optional_slot(body: Mapping[str, Any], time_zone: str, *, required: bool) -> pendulum.DateTime | None:
    """The requested slot start, or ``None`` when both fields are omitted and that is allowed."""
    slot_date = body.get("slot_date")
    slot_start_time = body.get("slot_start_time")
    if slot_date is None and slot_start_time is None:
        if required:
            raise ValidationError("slot_date is required")
        return None
    if slot_date is None or slot_start_time is None:
        missing = "slot_date" if slot_date is None else "slot_start_time"
        raise ValidationError(
            f"{missing} is required when {'slot_start_time' if missing == 'slot_date' else 'slot_date'} is given"
            " (omit both to book the first available slot)"
        )
    return slot_start_from(slot_date, slot_start_time, time_zone)


def preferred_spot(body: Mapping[str, Any], meeting: Meeting) -> str:
    value = body.get("preferred_meeting_spot")
    if value is None:
        return DEFAULT_SPOT if DEFAULT_SPOT in meeting.spots else meeting.spots[0]
    if value not in MEETING_SPOTS:
        raise ValidationError(
            f"preferred_meeting_spot is invalid: {value!r}; expected one of {', '.join(MEETING_SPOTS)}"
        )
    if value not in meeting.spots:
        raise ValidationError(
            f"preferred_meeting_spot {value!r} is not offered by this meeting (offered: {', '.join(meeting.spots)})"
        )
    return str(value)


def form_responses_mapping(body: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``form_responses``: an object of field code to a string or a list of strings."""
    value = body.get("form_responses")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"form_responses must be an object of field code to answer, got {type(value).__name__}")
    for code, answer in value.items():
        where = f"form_responses.{code}"
        if code == GUEST_EMAILS_FIELD:
            if not isinstance(answer, list):
                raise ValidationError(f"{where} must be a list of email addresses")
            bad = [email for email in answer if not is_valid_email(email)]
            if bad:
                raise ValidationError(f"{where} is invalid: {bad!r} are not email addresses")
        elif isinstance(answer, list):
            if not all(isinstance(item, str) for item in answer):
                raise ValidationError(f"{where} must be a string or a list of strings")
        elif not isinstance(answer, str):
            raise ValidationError(f"{where} must be a string or a list of strings, got {type(answer).__name__}")
    return dict(value)


def metadata_mapping(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"metadata must be an object, got {type(value).__name__}")
    return dict(value)


# --------------------------------------------------------------------------------------------------
# Booking objects
# --------------------------------------------------------------------------------------------------


def form_responses_list(meeting: Meeting, responses: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``form_responses`` list of a booking object, built from the request's mapping."""
    items = []
    for code, value in responses.items():
        question = meeting.questions.get(code)
        if question is not None:
            label, kind = question.label, question.type
        elif code == GUEST_EMAILS_FIELD:
            label, kind = _label_for(code), "guest_emails"
        else:
            label, kind = _label_for(code), "multi_select" if isinstance(value, list) else "text"
        items.append({"field": label, "value": value, "type": kind, "field_code": code})
    return items


def room_details(meeting: Meeting, spot: str, sid: str, booking_id: str) -> dict[str, Any]:
    """Fake but plausible ``room_*`` and ``spot_details`` values for the chosen spot."""
    digits = str(uuid.UUID(booking_id).int)[:11]
    if spot == "jitsi":
        room = f"neetocal-sandbox-{sid}"
        return {
            "room_type": "jitsi",
            "room_url": f"https://meet.jit.si/{room}",
            "room_id": room,
            "spot_details": None,
        }
    if spot == "zoom":
        url = f"https://zoom.example.invalid/j/{digits}"
        return {"room_type": "zoom", "room_url": url, "room_id": digits, "spot_details": None}
    if spot == "in_person":
        place = meeting.location or "NeetoCal sandbox office, 1 Example Street"
        return {"room_type": None, "room_url": None, "room_id": None, "spot_details": place}
    if spot == "custom":
        details = meeting.location or "The host will share the details"
        return {"room_type": None, "room_url": None, "room_id": None, "spot_details": details}
    return {
        "room_type": spot,
        "room_url": f"https://{spot.replace('_', '-')}.example.invalid/{sid}",
        "room_id": sid,
        "spot_details": None,
    }


def build_booking(
    *,
    meeting: Meeting,
    sid: str,
    name: str,
    email: str,
    time_zone: str,
    start: datetime,
    spot: str,
    form_responses: Mapping[str, Any],
    metadata: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A confirmed booking object, in the order of the documented response.

    ``admin_booking_url`` and ``client_booking_url`` hold paths here; :func:`render_booking` turns them
    into URLs on the running sandbox (whose port may change between runs).
    """
    booking_id = str(uuid.uuid4())
    end = start + timedelta(minutes=meeting.duration)
    stamp = format_utc(now)
    return {
        "id": booking_id,
        "sid": sid,
        "parent_booking_id": None,
        "email": email,
        "name": name,
        "host_name": meeting.host.name,
        "host_email": meeting.host.email,
        "is_multihost": len(meeting.hosts) > 1,
        "multihosts": (
            [{"name": host.name, "email": host.email} for host in meeting.hosts] if len(meeting.hosts) > 1 else []
        ),
        "starts_at": format_utc(start),
        "ends_at": format_utc(end),
        "time_zone": time_zone,
        "starts_at_for_client": format_for_client(start, time_zone),
        "ends_at_for_client": format_for_client(end, time_zone),
        "status": "confirmed",
        "cancel_reason": None,
        "cancelled_by": None,
        "reschedule_requested": False,
        "preferred_meeting_spot": spot,
        **room_details(meeting, spot, sid, booking_id),
        "created_at": stamp,
        "updated_at": stamp,
        "meeting_id": meeting.id,
        "meeting": {"name": meeting.name},
        "no_show": False,
        "meeting_outcome": None,
        "notes_url": None,
        "internal_notes": None,
        "metadata": dict(metadata),
        "admin_booking_url": f"/admin/bookings/{sid}",
        "client_booking_url": f"/bookings/{sid}",
        "form_responses": form_responses_list(meeting, form_responses),
    }


def reschedule_booking(
    booking: dict[str, Any],
    *,
    meeting: Meeting | None,
    name: str,
    email: str,
    time_zone: str,
    start: datetime,
    duration: int,
    form_responses: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Move ``booking`` (in place) to a new slot, updating the client details it was sent with."""
    end = start + timedelta(minutes=duration)
    booking.update(
        name=name,
        email=email,
        time_zone=time_zone,
        starts_at=format_utc(start),
        ends_at=format_utc(end),
        starts_at_for_client=format_for_client(start, time_zone),
        ends_at_for_client=format_for_client(end, time_zone),
        updated_at=format_utc(now),
    )
    if form_responses is not None and meeting is not None:
        booking["form_responses"] = form_responses_list(meeting, form_responses)


def render_booking(booking: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A copy of a stored booking with its admin and client URLs pointing at the running sandbox."""
    rendered = copy.deepcopy(dict(booking))
    for key in ("admin_booking_url", "client_booking_url"):
        value = rendered.get(key)
        if isinstance(value, str) and value.startswith("/"):
            rendered[key] = base_url + value
    return rendered
