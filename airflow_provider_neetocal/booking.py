"""The pure core: turn operator arguments into a NeetoCal ``POST /bookings`` payload, or refuse.

No Airflow task context and no HTTP here, only plain values in and a plain ``dict`` out, so every
rule of the contract in ``docs/neetocal-api.md`` can be tested without a server and, more
importantly, every violation is caught *before* a request could create half a booking.

Arguments arrive as templates render them: usually strings (``"{{ params.slot_start }}"``), a
JSON string where a mapping was templated, and Jinja's ``"None"`` where an optional Param was left
empty. The builder accepts those forms on purpose; everything it sends is normalised to the one
form NeetoCal documents.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import json
import math
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from typing import Any

import pendulum

from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

#: Meeting spots NeetoCal accepts for ``preferred_meeting_spot`` (the meeting must also offer it).
MEETING_SPOTS: tuple[str, ...] = (
    "custom",
    "jitsi",
    "in_person",
    "daily",
    "zoom",
    "whereby",
    "google_meet",
    "teams",
)

#: Longest free-text value accepted (name, slug). NeetoCal's limit is undocumented; this bound only
#: keeps absurd values (a whole file rendered into a template) from reaching the API.
MAX_TEXT_LENGTH = 255
#: Longest reschedule/cancel reason accepted; as above, a sanity bound rather than NeetoCal's.
MAX_REASON_LENGTH = 1000

SLOT_DATE_FORMAT = "YYYY-MM-DD, e.g. '2025-07-15'"
SLOT_TIME_FORMAT = "'hh:mm AM/PM' (e.g. '01:30 PM'), 'h:mm am/pm' or 24-hour 'HH:MM' (e.g. '13:30')"
SLOT_START_FORMAT = (
    "an ISO-8601 date-time such as '2025-07-15T13:30:00+05:30' (a time without an offset is read in "
    "time_zone), a datetime or a pendulum DateTime, on a whole minute"
)

_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SID_RE = re.compile(r"[A-Za-z0-9_-]+")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?$")
_GUESTS_FIELD = "guest_email_s"
#: What Jinja renders for ``None``: an optional Param left empty arrives as this string.
_RENDERED_NONE = "None"
#: Unicode categories refused in free text: controls, lone surrogates, line and paragraph separators.
#: (``str.isprintable`` would also refuse no-break spaces and the zero-width joiners some scripts need.)
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def is_absent(value: Any) -> bool:
    """Whether an optional argument counts as not given.

    ``None``, an empty or blank string and the string ``"None"`` all do: the last is what
    ``"{{ params.x }}"`` renders to when the Param ``x`` defaults to ``None``, and sending the
    literal text "None" to NeetoCal is never what the DAG author meant.
    """
    if value is None:
        return True
    return isinstance(value, str) and value.strip() in ("", _RENDERED_NONE)


def build_booking_payload(
    *,
    meeting_slug: Any,
    name: Any,
    email: Any,
    time_zone: Any,
    slot_date: Any = None,
    slot_start_time: Any = None,
    slot_start: Any = None,
    preferred_meeting_spot: Any = None,
    form_responses: Any = None,
    metadata: Any = None,
    override_availability: Any = None,
    host_email: Any = None,
) -> dict[str, Any]:
    """Validate booking arguments and build the JSON body of ``POST /bookings``.

    The slot can be given as ``slot_start`` (one instant, converted into ``time_zone``) or as
    ``slot_date`` + ``slot_start_time`` (wall-clock values in ``time_zone``); giving neither books
    the meeting's first available slot, as the API allows. Optional arguments that are absent are
    left out of the payload, never sent as ``null``.

    ``override_availability`` (book outside the meeting's availability) and ``host_email`` (which
    host of a multi-host meeting takes it) exist on NeetoCal API v2 only; they are checked here and
    sent only when set (``override_availability`` only when true), and
    :func:`airflow_provider_neetocal.api_contract.check_create_fields` refuses them for v1.

    :raises NeetoCalValidationError: listing every invalid argument; nothing should be sent then.
    """
    checks = _Checks()
    payload: dict[str, Any] = {"meeting_slug": checks.check("meeting_slug", meeting_slug, _meeting_slug)}
    checks.attendee(payload, name, email, time_zone)
    checks.slot(payload, slot_start, slot_date, slot_start_time, required=False)
    if not is_absent(preferred_meeting_spot):
        payload["preferred_meeting_spot"] = checks.check(
            "preferred_meeting_spot", preferred_meeting_spot, _meeting_spot
        )
    checks.optional(payload, "form_responses", form_responses, _form_responses)
    checks.optional(payload, "metadata", metadata, _metadata)
    if not is_absent(override_availability) and checks.check("override_availability", override_availability, _flag):
        payload["override_availability"] = True
    if not is_absent(host_email):
        payload["host_email"] = checks.check(
            "host_email", host_email, lambda v: _email(v, "the email address of one of the meeting's hosts")
        )
    checks.raise_if_any()
    return payload


def build_reschedule_payload(
    *,
    name: Any,
    email: Any,
    time_zone: Any,
    slot_date: Any = None,
    slot_start_time: Any = None,
    slot_start: Any = None,
    form_responses: Any = None,
    reschedule_reason: Any = None,
    attendee_required: bool = True,
) -> dict[str, Any]:
    """Validate and build the JSON body of ``PATCH /bookings/{sid}`` (a reschedule).

    NeetoCal's v1 help center lists name, email, slot_date, slot_start_time and time_zone as
    required, so unlike a create the slot cannot be left to NeetoCal. API v2 takes only what
    changes: with ``attendee_required=False`` a name or email left out is not sent (the booking
    keeps its own), and one given is still checked.

    :raises NeetoCalValidationError: listing every invalid argument; nothing should be sent then.
    """
    checks = _Checks()
    payload: dict[str, Any] = {}
    checks.attendee(payload, name, email, time_zone)
    if not attendee_required:
        for field, value in (("name", name), ("email", email)):
            if is_absent(value):
                payload.pop(field)
                checks.problems = [p for p in checks.problems if p.field != field]
    checks.slot(payload, slot_start, slot_date, slot_start_time, required=True)
    checks.optional(payload, "form_responses", form_responses, _form_responses)
    if not is_absent(reschedule_reason):
        payload["reschedule_reason"] = checks.check(
            "reschedule_reason", reschedule_reason, lambda v: _text(v, "a short reason", limit=MAX_REASON_LENGTH)
        )
    checks.raise_if_any()
    return payload


def checked_booking_sid(value: Any, field: str = "booking_sid") -> str:
    """Validate a booking's short id (``sid``) before any request uses it; return it stripped.

    The sid usually comes from an upstream task through a template,
    ``"{{ ti.xcom_pull(task_ids='book', key='booking_sid') }}"``, and a pull that found nothing
    renders as the text ``"None"``: that is refused as empty rather than sent as a sid. Anything
    but letters, digits, ``-`` and ``_`` is refused too, since it would change the request path.

    :param value: the sid as given to the operator (after template rendering).
    :param field: the argument name to report in the error.
    :raises NeetoCalValidationError: naming ``field``; nothing should be sent then.
    """
    form = "letters, digits, '-' and '_', e.g. '8sqtzrs'"
    if is_absent(value):
        problem = (
            f"the booking sid is empty: expected the booking's sid ({form}). An xcom_pull that found nothing "
            "renders as 'None': check that the upstream task pushed its booking_sid XCom and that the task_ids "
            "and key you pull match"
        )
    elif not isinstance(value, str):
        problem = f"got {type(value).__name__}: expected the booking's sid as a string of {form}"
    elif not _SID_RE.fullmatch(value.strip()):
        problem = f"not a booking sid: expected {form}"
    else:
        return value.strip()
    raise NeetoCalValidationError([FieldProblem(field, value, problem)])


def checked_email(value: Any, field: str, what: str = "an email address like 'eve@example.com'") -> str:
    """Refuse anything that is not an email address before it is sent as ``field``; return it stripped.

    A listing filtered by ``client_email="not-an-email"`` answers ``[]``, which reads as "no bookings"
    rather than as a mistake: the address is checked (syntax only, no DNS) before it can be sent.

    :raises NeetoCalValidationError: naming ``field``; nothing should be sent then.
    """
    try:
        _email(value, what)
    except _FieldError as invalid:
        raise NeetoCalValidationError([FieldProblem(field, value, str(invalid))]) from None
    return str(value).strip()


def checked_time_zone(value: Any, field: str = "time_zone") -> str:
    """The IANA zone name ``value`` names, by the rule a booking's ``time_zone`` is checked with.

    For the read operators, which would otherwise send an unknown zone to NeetoCal.

    :raises NeetoCalValidationError: naming ``field``; nothing should be sent then.
    """
    try:
        return _time_zone(value).name
    except _FieldError as invalid:
        raise NeetoCalValidationError([FieldProblem(field, value, str(invalid))]) from None


def wall_clock_refusal(slot_date: str, slot_start_time: str, time_zone: str) -> str | None:
    """Why a create would refuse this wall-clock slot (a DST gap or a repeated hour), or ``None``.

    ``NeetoCalFindSlotsOperator`` leaves such slots out, so every row it returns is one the create
    and bulk operators accept as it is.
    """
    try:
        wall = dt.datetime.combine(dt.date.fromisoformat(slot_date), _wall_clock_time(slot_start_time))
        _check_wall_clock(wall, time_zone, subject=f"{slot_start_time} on {slot_date}")
    except _FieldError as refused:
        return str(refused)
    return None


def checked_meeting_slug(value: Any, field: str = "meeting_slug") -> str:
    """Validate a meeting slug before any request puts it in a path; return it stripped.

    Like a sid, a slug often arrives through a template, and an ``xcom_pull`` that found nothing
    renders as the text ``"None"``: refused as empty instead of asking NeetoCal for ``/slots/None``.
    A ``/``, space or other character outside a URL slug would change the request path, so it is
    refused too.

    :raises NeetoCalValidationError: naming ``field``; nothing should be sent then.
    """
    if isinstance(value, str) and value.strip() == _RENDERED_NONE:
        problem = (
            "'None' is what an empty template or xcom_pull renders to: expected the meeting's URL slug, "
            "e.g. 'meeting-with-oliver-smith'; check the upstream task and the value you pull"
        )
        raise NeetoCalValidationError([FieldProblem(field, value, problem)])
    try:
        return _meeting_slug(value)
    except _FieldError as invalid:
        raise NeetoCalValidationError([FieldProblem(field, value, str(invalid))]) from None


class _Checks:
    """Collects every field problem of one payload, so a single failed run reports them all."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []
        self.zone: pendulum.Timezone | None = None

    def check(self, field: str, value: Any, parse: Any) -> Any:
        try:
            return parse(value)
        except _FieldError as invalid:
            self.problems.append(FieldProblem(field, value, str(invalid)))
            return None

    def attendee(self, payload: dict[str, Any], name: Any, email: Any, time_zone: Any) -> None:
        payload["name"] = self.check("name", name, _attendee_name)
        payload["email"] = self.check("email", email, lambda v: _email(v, "an email address like 'eve@example.com'"))
        self.zone = self.check("time_zone", time_zone, _time_zone)
        payload["time_zone"] = self.zone.name if self.zone is not None else None

    def slot(
        self, payload: dict[str, Any], slot_start: Any, slot_date: Any, slot_start_time: Any, *, required: bool
    ) -> None:
        """Fill ``slot_date`` and ``slot_start_time`` from either form of the slot."""
        has_start = not is_absent(slot_start)
        has_date, has_time = not is_absent(slot_date), not is_absent(slot_start_time)
        if has_start and (has_date or has_time):
            self.problems.append(
                FieldProblem(
                    "slot_start", slot_start, "give either slot_start or slot_date + slot_start_time, not both"
                )
            )
        elif has_start:
            # Checked even when time_zone is invalid (in UTC then) so that every problem is reported at once.
            split = self.check("slot_start", slot_start, lambda v: _split_slot_start(v, self.zone or pendulum.UTC))
            if split is not None and self.zone is not None:
                payload["slot_date"], payload["slot_start_time"] = split
        elif has_date or has_time:
            date = self.check("slot_date", slot_date, _slot_date) if has_date else None
            time = self.check("slot_start_time", slot_start_time, _wall_clock_time) if has_time else None
            if has_date != has_time:
                missing = "slot_start_time" if has_date else "slot_date"
                given = "slot_date" if has_date else "slot_start_time"
                self.problems.append(
                    FieldProblem(
                        missing,
                        None,
                        f"required together with {given}; give both, or neither to book the first free slot",
                    )
                )
            elif date is not None and time is not None:
                payload["slot_date"], payload["slot_start_time"] = date, format_slot_time(time.hour, time.minute)
                if self.zone is not None:  # the same refusal of skipped and repeated times as for slot_start
                    wall, zone_name = dt.datetime.combine(dt.date.fromisoformat(date), time), self.zone.name
                    subject = f"{payload['slot_start_time']} on {date}"
                    self.check(
                        "slot_start_time",
                        slot_start_time,
                        lambda _: _check_wall_clock(wall, zone_name, subject=subject),
                    )
        elif required:
            self.problems.append(
                FieldProblem("slot_start", None, "required: give slot_start, or slot_date + slot_start_time")
            )

    def optional(self, payload: dict[str, Any], field: str, value: Any, parse: Any) -> None:
        """Add an optional mapping unless it is absent or empty (never sent as ``{}``)."""
        if is_absent(value):
            return
        parsed = self.check(field, value, parse)
        if parsed != {}:
            payload[field] = parsed

    def raise_if_any(self) -> None:
        if self.problems:
            raise NeetoCalValidationError(self.problems)


def format_slot_time(hour: int, minute: int) -> str:
    """Render a 24-hour wall-clock time the way NeetoCal documents it: zero-padded ``hh:mm AM/PM``."""
    return dt.time(hour, minute).strftime("%I:%M %p")


class _FieldError(ValueError):
    """Internal signal from a field parser; becomes one :class:`FieldProblem`."""


def _text(value: Any, what: str, limit: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"expected {what} as a string, got {type(value).__name__}")
    text = value.strip()
    if not text or text == _RENDERED_NONE:
        raise _FieldError(f"required: expected {what}")
    if len(text) > limit:
        raise _FieldError(f"too long ({len(text)} characters): expected {what} of at most {limit}")
    if any(unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in text):
        raise _FieldError(f"contains control characters: expected {what}")
    return text


def _flag(value: Any) -> bool:
    """A yes/no argument: a bool, or the text a template renders one to (``True``, ``false``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _FieldError(f"got {value!r}: expected true or false")


def _meeting_slug(value: Any) -> str:
    what = "the meeting's URL slug, e.g. 'meeting-with-oliver-smith'"
    slug = _text(value, what)
    if not _SLUG_RE.match(slug):
        raise _FieldError(f"not a URL slug: expected {what} (letters, digits, '-' and '_')")
    return slug


def _attendee_name(value: Any) -> str:
    return _text(value, "the attendee's name, e.g. 'Eve Smith'")


def _email(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"expected {what} as a string, got {type(value).__name__}")
    # Imported here, not at module level: DAG files import the operators on every parse, and only a
    # running task validates addresses.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise _FieldError(f"{str(error).rstrip('.')}: expected {what}") from None


def _time_zone(value: Any) -> pendulum.Timezone:
    what = "an IANA time zone name such as 'Asia/Kolkata' or 'UTC'"
    if isinstance(value, pendulum.Timezone):
        value = value.name  # checked like a name: pendulum.timezone("localtime") is no IANA zone
    name = _text(value, what)
    if name.upper() == "UTC":
        name = "UTC"
    if name not in _iana_zone_names():
        raise _FieldError(f"unknown time zone: expected {what}")
    try:
        zone = pendulum.timezone(name)
    except Exception:
        raise _FieldError(f"unknown time zone: expected {what}") from None
    if not isinstance(zone, pendulum.Timezone):
        raise _FieldError(f"a fixed offset is not a time zone: expected {what}")
    return zone


@functools.cache
def _iana_zone_names() -> frozenset[str]:
    """The IANA zone names of the ``tzdata`` package (a pendulum dependency).

    Not ``zoneinfo.available_timezones()``: that also lists whatever files the machine has under
    its zoneinfo directory (``localtime``, ``posix/...``, ``right/...``), which NeetoCal does not know.
    """
    return frozenset(importlib.resources.files("tzdata").joinpath("zones").read_text().split())


def _slot_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        raise _FieldError(f"got a datetime: expected a date {SLOT_DATE_FORMAT} (or use slot_start)")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise _FieldError(f"expected a date {SLOT_DATE_FORMAT}")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError as error:
        raise _FieldError(f"not a real date ({error}): expected {SLOT_DATE_FORMAT}") from None


def _wall_clock_time(value: Any) -> dt.time:
    """Parse ``slot_start_time`` (any accepted form) into a naive time on a whole minute."""
    if isinstance(value, dt.time):
        if value.second or value.microsecond:
            raise _FieldError(f"not on a whole minute: expected {SLOT_TIME_FORMAT}")
        return dt.time(value.hour, value.minute)
    if not isinstance(value, str):
        raise _FieldError(f"expected {SLOT_TIME_FORMAT}, got {type(value).__name__}")
    match = _TIME_RE.match(value.strip())
    if not match:
        raise _FieldError(f"expected {SLOT_TIME_FORMAT}")
    hour, minute = int(match["hour"]), int(match["minute"])
    if minute > 59 or (match["second"] is not None and match["second"] != "00"):
        raise _FieldError(f"no such time on a whole minute: expected {SLOT_TIME_FORMAT}")
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise _FieldError(f"hour {hour} does not exist on a 12-hour clock: expected {SLOT_TIME_FORMAT}")
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    elif hour > 23:
        raise _FieldError(f"hour {hour} does not exist on a 24-hour clock: expected {SLOT_TIME_FORMAT}")
    return dt.time(hour, minute)


def _split_slot_start(value: Any, zone: pendulum.Timezone) -> tuple[str, str]:
    """Convert one instant into ``time_zone`` and split it into NeetoCal's date and time fields."""
    if isinstance(value, dt.datetime):
        given = value
    elif isinstance(value, str) and value.strip()[:1].isdigit():
        try:
            parsed = pendulum.parse(value.strip(), tz=None, exact=True)
        except Exception:
            raise _FieldError(f"not a date-time: expected {SLOT_START_FORMAT}") from None
        if isinstance(parsed, pendulum.Date) and not isinstance(parsed, pendulum.DateTime):
            raise _FieldError(f"a date without a time: expected {SLOT_START_FORMAT}")
        if not isinstance(parsed, pendulum.DateTime):
            raise _FieldError(f"not a single date-time: expected {SLOT_START_FORMAT}")
        given = parsed
    else:
        raise _FieldError(f"expected {SLOT_START_FORMAT}")
    try:
        local = pendulum.instance(given, tz=zone).in_timezone(zone)
    except (OverflowError, ValueError):
        raise _FieldError(f"out of the calendar's range in {zone.name}: expected {SLOT_START_FORMAT}") from None
    if local.second or local.microsecond:
        raise _FieldError(f"not on a whole minute: expected {SLOT_START_FORMAT}")
    # A naive value is a wall-clock time as given (pendulum moved it forward if it falls in a gap); an
    # aware one is a real instant, so only its wall-clock time in time_zone can be ambiguous.
    wall = given.replace(tzinfo=None) if given.tzinfo is None else local.naive()
    _check_wall_clock(wall, zone.name, subject=wall.isoformat(timespec="minutes"))
    return local.date().isoformat(), format_slot_time(local.hour, local.minute)


def _check_wall_clock(wall: dt.datetime, zone_name: str, *, subject: str) -> None:
    """Refuse a wall-clock time that names no instant (a DST gap) or two (a repeated hour) in a zone.

    NeetoCal takes a slot as ``slot_date`` + ``slot_start_time`` in the attendee's zone, so such a time
    cannot be booked unambiguously, whichever form the DAG gave it in. ``subject`` says which time it
    was in the message.
    """
    change = _clock_change_around(wall, zoneinfo.ZoneInfo(zone_name))
    if change is None:
        return
    before, after = change
    if after > before:
        raise _FieldError(
            f"{subject} does not exist in {zone_name}: clocks jump {_span(before, after)}; "
            f"choose a time outside that gap, e.g. {_clock(_whole_minute_from(after), wall.date())}"
        )
    raise _FieldError(
        f"{subject} happens twice in {zone_name}: ambiguous, clocks go back {_span(before, after)} "
        f"and NeetoCal's slot_date + slot_start_time cannot say which is meant; choose a time outside "
        f"that repeated span, e.g. {_clock(_whole_minute_from(before), wall.date())}"
    )


def _clock_change_around(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime] | None:
    """The wall-clock readings just before and just after the clock change that skips or repeats ``wall``.

    ``None`` when ``wall`` names exactly one instant. Otherwise its two readings (PEP 495's ``fold``)
    are two instants on either side of the change, which is found by bisection to the second: the
    standard library offers no public list of a zone's transitions.
    """
    wall = dt.datetime(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)
    readings = [wall.replace(tzinfo=zone, fold=fold) for fold in (0, 1)]
    if readings[0].utcoffset() == readings[1].utcoffset():
        return None
    low, high = sorted(reading.astimezone(dt.timezone.utc) for reading in readings)
    new_offset = high.astimezone(zone).utcoffset()
    while (seconds := int((high - low).total_seconds())) > 1:
        middle = low + dt.timedelta(seconds=seconds // 2)
        if middle.astimezone(zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    second = dt.timedelta(seconds=1)
    before = (high - second).astimezone(zone).replace(tzinfo=None) + second
    return before, high.astimezone(zone).replace(tzinfo=None)


def _clock(moment: dt.datetime, day: dt.date | None = None) -> str:
    """``HH:MM`` (with seconds if any, as in old local-mean-time changes), and the date unless it is ``day``."""
    clock = moment.strftime("%H:%M:%S" if moment.second else "%H:%M")
    return clock if moment.date() == day else f"{clock} on {moment.date().isoformat()}"


def _whole_minute_from(moment: dt.datetime) -> dt.datetime:
    """The first whole minute at or after ``moment`` (a slot starts on one)."""
    return moment + dt.timedelta(seconds=-moment.second % 60)


def _span(before: dt.datetime, after: dt.datetime) -> str:
    if before.date() == after.date():
        return f"from {_clock(before, before.date())} to {_clock(after, after.date())} on {before.date().isoformat()}"
    return f"from {_clock(before)} to {_clock(after)}"


def _meeting_spot(value: Any) -> str:
    what = "one of " + ", ".join(MEETING_SPOTS)
    spot = _text(value, what)
    if spot not in MEETING_SPOTS:
        raise _FieldError(f"unknown meeting spot: expected {what}")
    return spot


def _mapping(value: Any, what: str) -> dict[str, Any]:
    """Accept a mapping, or a JSON object in a string (what a template renders a dict to)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _FieldError(f"a string that is not JSON: expected {what}") from None
    if not isinstance(value, Mapping):
        raise _FieldError(f"expected {what}, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise _FieldError(f"key {key!r} is not a non-empty string: expected {what}")
    return dict(value)


def _form_responses(value: Any) -> dict[str, Any]:
    """Form answers keyed by field code: text → string, multi-select → list, guests → list of emails."""
    what = "a mapping of question field codes to answers (string, number, boolean or list of strings)"
    responses = _mapping(value, what)
    for key, answer in responses.items():
        if key == _GUESTS_FIELD:
            if not isinstance(answer, list):
                raise _FieldError(f"{key!r} must be a list of guest email addresses")
            guests = []
            for guest in answer:
                try:
                    guests.append(_email(guest, f"{key!r} to hold guest email addresses"))
                except _FieldError as error:
                    raise _FieldError(f"guest {guest!r:.80}: {error}") from None
            responses[key] = guests
        elif isinstance(answer, list):
            if not all(isinstance(item, str) for item in answer):
                raise _FieldError(f"answer to {key!r} is a list with non-string items: expected {what}")
        elif isinstance(answer, float):
            if not math.isfinite(answer):
                raise _FieldError(f"answer to {key!r} is not a finite number: expected {what}")
        elif not isinstance(answer, str | int | bool):
            raise _FieldError(f"answer to {key!r} is a {type(answer).__name__}: expected {what}")
    return responses


def _metadata(value: Any) -> dict[str, Any]:
    what = "a JSON object (mapping), e.g. {'pre_bookings': [...]}"
    data = _mapping(value, what)
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise _FieldError(f"not JSON-serialisable ({error}): expected {what}") from None
    return data
