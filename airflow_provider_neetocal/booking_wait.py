"""Is the booking there yet? The sensor's decision, as a pure function of one booking and the time.

``NeetoCalBookingSensor`` (poke / reschedule) and ``NeetoCalBookingTrigger`` (deferred) both read a
booking with ``GET /bookings/{sid}`` and ask :func:`judge` what it means, so the two modes cannot
disagree. The verdict is one of

* ``met``: the booking reached a target status, or its start / end has passed;
* ``waiting``: not yet;
* ``ended``: cancelled or rejected while waiting for something else: it can never be met, so the task
  fails at once instead of waiting for its timeout;
* ``unknowable``: the answer lacks what the decision needs (no status, an unreadable time). Never
  read as "not yet" nor as "no": the task fails with a retryable error that quotes what came back.

The trigger's events travel through the metadata database as JSON; :func:`error_event` and
:func:`exception_from_event` turn a typed error into an event and back, so the deferred path raises
the same exception class (and so gets the same retry behaviour) as the synchronous one.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_neetocal import exceptions as errors
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

WaitFor = Literal["status", "start", "end"]
WAIT_FOR: tuple[WaitFor, ...] = ("status", "start", "end")
#: Statuses a booking never leaves: waiting for anything else past them is pointless.
ENDED_STATUSES = frozenset({"cancelled", "rejected"})
#: Booking statuses NeetoCal documents (v1 booking object); ``target_statuses`` must name some of them.
KNOWN_STATUSES = frozenset({"confirmed", "cancelled", "rejected", "awaiting_approval"})
#: Fields of a booking kept in events and XCom: enough to act on, small enough for the metadata DB.
SUMMARY_FIELDS = (
    "sid",
    "status",
    "name",
    "email",
    "host_email",
    "starts_at",
    "ends_at",
    "time_zone",
    "meeting_id",
    "cancel_reason",
    "created_at",
    "updated_at",
)

Verdict = Literal["met", "waiting", "ended", "unknowable"]


@dataclass(frozen=True)
class WaitSpec:
    """What a sensor waits for, checked: ``wait_for`` and, for ``"status"``, the target statuses."""

    wait_for: WaitFor
    target_statuses: frozenset[str]


@dataclass(frozen=True)
class Judgement:
    """:func:`judge`'s answer and a sentence a person can read in the task log."""

    verdict: Verdict
    message: str


def checked_wait(wait_for: Any, target_statuses: Any) -> WaitSpec:
    """Validate the sensor's arguments (rendered templates) before anything is sent.

    :raises NeetoCalValidationError: naming ``wait_for`` or ``target_statuses``.
    """
    problems: list[FieldProblem] = []
    if wait_for not in WAIT_FOR:
        problems.append(FieldProblem("wait_for", wait_for, f"expected one of {', '.join(map(repr, WAIT_FOR))}"))
    if isinstance(target_statuses, str):
        target_statuses = statuses_in_text(target_statuses)
    statuses: frozenset[str] = frozenset()
    if not isinstance(target_statuses, Iterable) or not all(isinstance(s, str) for s in target_statuses):
        problems.append(
            FieldProblem("target_statuses", target_statuses, "expected a list of statuses, e.g. ['confirmed']")
        )
    else:
        statuses = frozenset(s.strip().lower() for s in target_statuses)
        unknown = sorted(statuses - KNOWN_STATUSES)
        if unknown:
            problems.append(
                FieldProblem(
                    "target_statuses",
                    sorted(target_statuses),
                    f"{', '.join(unknown)} not a NeetoCal booking status: expected some of "
                    f"{', '.join(sorted(KNOWN_STATUSES))}",
                )
            )
        elif wait_for == "status" and not statuses:
            problems.append(FieldProblem("target_statuses", [], "wait_for='status' needs at least one status"))
    if problems:
        raise NeetoCalValidationError(problems)
    return WaitSpec(wait_for=wait_for, target_statuses=statuses)


def statuses_in_text(text: str) -> list[str]:
    """The statuses a string names: ``"cancelled"``, ``"confirmed, cancelled"``, or a rendered list.

    ``target_statuses`` is templated, and Jinja renders a list (``"{{ params.statuses }}"``) to its
    Python text, ``"['confirmed', 'cancelled']"``; a plain string must not be read character by character.
    Anything in brackets that is not a list literal of strings is returned whole, for
    :func:`checked_wait` to refuse by name.
    """
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        import ast

        try:
            parsed = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return [text]
        return parsed if isinstance(parsed, list) and all(isinstance(s, str) for s in parsed) else [text]
    return [part.strip() for part in stripped.split(",") if part.strip()]  # "confirmed," is one status


def judge(booking: Mapping[str, Any], spec: WaitSpec, now: dt.datetime) -> Judgement:
    """Whether ``booking`` (a ``GET /bookings/{sid}`` answer) meets ``spec`` at ``now`` (aware)."""
    sid = booking.get("sid", "?")
    status = booking.get("status")
    if not isinstance(status, str) or not status:
        return Judgement("unknowable", f"booking {sid} has no readable status in NeetoCal's answer: {status!r}")
    status = status.lower()
    if spec.wait_for == "status":
        if status in spec.target_statuses:
            return Judgement("met", f"booking {sid} is {status}")
        if status in ENDED_STATUSES:
            return Judgement(
                "ended",
                f"booking {sid} is {status} and will never be {' or '.join(sorted(spec.target_statuses))}",
            )
        return Judgement("waiting", f"booking {sid} is {status}, waiting for {', '.join(sorted(spec.target_statuses))}")
    if status in ENDED_STATUSES:
        reason = booking.get("cancel_reason")
        because = f" ({reason})" if reason else ""
        return Judgement("ended", f"booking {sid} was {status}{because}: its {spec.wait_for} will never come")
    field = "starts_at" if spec.wait_for == "start" else "ends_at"
    moment = parse_instant(booking.get(field))
    if moment is None:
        return Judgement(
            "unknowable", f"booking {sid} has no readable {field} in NeetoCal's answer: {booking.get(field)!r}"
        )
    if now >= moment:
        return Judgement("met", f"booking {sid} {'started' if field == 'starts_at' else 'ended'} at {booking[field]}")
    return Judgement("waiting", f"booking {sid} {'starts' if field == 'starts_at' else 'ends'} at {booking[field]}")


def parse_instant(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp with an offset (``2030-01-07T10:00:00.000Z``) as an aware datetime, else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def server_now(date_header: str | None, fallback: dt.datetime) -> dt.datetime:
    """NeetoCal's time from an answer's ``Date`` header, else ``fallback`` (this machine's clock).

    Booking times are NeetoCal's, so they are compared with NeetoCal's clock: a worker whose clock
    runs ahead would otherwise follow up on a meeting that has not ended.
    """
    if date_header:
        try:
            moment = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError):
            return fallback
        if moment.tzinfo is not None:
            return moment
    return fallback


def booking_summary(booking: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of :data:`SUMMARY_FIELDS` that ``booking`` has, for events and XCom."""
    return {name: booking[name] for name in SUMMARY_FIELDS if name in booking}


# -- typed errors through trigger events -----------------------------------------------------------

#: Exception classes an event may name; anything else comes back as a retryable server error.
_EVENT_ERRORS: dict[str, type[errors.NeetoCalApiError]] = {
    cls.__name__: cls
    for cls in (
        errors.NeetoCalApiError,
        errors.NeetoCalClientError,
        errors.NeetoCalAuthError,
        errors.NeetoCalNotFoundError,
        errors.NeetoCalRetryableError,
        errors.NeetoCalRateLimitError,
        errors.NeetoCalServerError,
        errors.NeetoCalPaginationError,
    )
}


def error_event(error: BaseException, booking_sid: str | None = None) -> dict[str, Any]:
    """An ``{"status": "error", ...}`` event payload for ``error`` (JSON only, never the key: messages
    come from the clients, which redact it)."""
    payload: dict[str, Any] = {"status": "error", "booking_sid": booking_sid, "message": str(error)}
    if isinstance(error, errors.NeetoCalConnectionError):
        payload["error"] = {"class": "NeetoCalConnectionError", "request_sent": error.request_sent}
    elif isinstance(error, errors.NeetoCalApiError):
        payload["error"] = {"class": type(error).__name__}
    elif isinstance(error, NeetoCalValidationError):
        payload["error"] = {
            "class": "NeetoCalValidationError",
            "problems": [[p.field, repr(p.value), p.problem] for p in error.problems],
        }
    else:
        payload["error"] = {"class": type(error).__name__}
    if isinstance(error, errors.NeetoCalApiError):
        payload["error"].update(
            method=error.method, endpoint=error.endpoint, http_status=error.status, api_message=error.api_message
        )
    return payload


def exception_from_event(event: Mapping[str, Any]) -> Exception:
    """The exception an ``{"status": "error"}`` event stands for: the class the sync path would raise."""
    raw = event.get("error")
    detail: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    name = detail.get("class")
    message = str(event.get("message") or "no details given")
    if name == "NeetoCalValidationError":
        problems = [FieldProblem(str(f), v, str(p)) for f, v, p in detail.get("problems") or []]
        return NeetoCalValidationError(problems or [FieldProblem("?", None, message)])
    method = str(detail.get("method") or "GET")
    endpoint = str(detail.get("endpoint") or "?")
    http_status = detail.get("http_status")
    status = http_status if isinstance(http_status, int) else None
    api_message = str(detail.get("api_message") or message)
    if name == "NeetoCalConnectionError":
        return errors.NeetoCalConnectionError(
            request_sent=bool(detail.get("request_sent", True)),
            method=method,
            endpoint=endpoint,
            status=status,
            message=api_message,
        )
    cls = _EVENT_ERRORS.get(str(name))
    if cls is not None:
        return cls(method=method, endpoint=endpoint, status=status, message=api_message)
    return errors.NeetoCalServerError(
        method=method, endpoint=endpoint, status=status, message=f"{name or 'error'} in the trigger: {message}"
    )


__all__ = [
    "ENDED_STATUSES",
    "KNOWN_STATUSES",
    "WAIT_FOR",
    "Judgement",
    "WaitFor",
    "WaitSpec",
    "booking_summary",
    "checked_wait",
    "error_event",
    "exception_from_event",
    "judge",
    "parse_instant",
    "server_now",
    "statuses_in_text",
]
