"""NeetoCal's API as data: per version, what each operation sends and how its answer is read.

NeetoCal serves two external APIs side by side: v1 (``/api/external/v1``, deprecated but what every
workspace has today) and v2 (``/api/external/v2``). They share the key, the header and the create
body; they differ in paths (slots by meeting *sid* in v2, by slug in v1), in how a booking is
cancelled (v1 ``POST /bookings/{sid}/cancel``, v2 ``PATCH /bookings/{sid}`` with a status), in
filters, in what a reschedule must carry (v1: the attendee and the slot every time; v2: only what
changes), and maybe in whether a single booking comes bare or wrapped as ``{"booking": {...}}`` (the v2
reference does not show it: both are accepted). What differs and what is unverified against the live
service is listed in docs/api-versions.md.

This module is the only place that knows a path, a method or an answer's shape. It does no I/O:
the sync hook (``requests``) and the async client of the triggers (``httpx``) both ask it for a
:class:`Call` and both hand it what came back, so the two can never disagree on the contract, and
the status → exception rules (:func:`error_for_answer`) are written once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalNotFoundError,
    NeetoCalRateLimitError,
    NeetoCalServerError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.retries import parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ApiVersion = Literal["v1", "v2"]
#: Every version the provider speaks, oldest first.
API_VERSIONS: tuple[ApiVersion, ...] = get_args(ApiVersion)
#: What a connection without an ``api_version`` extra uses: every workspace has v1 today.
DEFAULT_API_VERSION: ApiVersion = "v1"
#: Largest page NeetoCal serves (v1 and v2).
MAX_PAGE_SIZE = 100

#: ``GET /bookings`` filters each version understands. v1 ignores unknown parameters silently, so a
#: v2-only filter sent to v1 would widen the listing instead of failing: it is refused before sending.
BOOKING_FILTERS: dict[ApiVersion, frozenset[str]] = {
    "v1": frozenset({"type", "client_email", "host_email"}),
    "v2": frozenset(
        {
            "type",
            "client_email",
            "host_email",
            "meeting_sid",
            "search",
            "starts_after",
            "starts_before",
            "sorting_key",
            "sorting_order",
        }
    ),
}
#: Create-body fields only v2 documents (``host_email``: NeetoCal's CLI only). v1 would ignore them
#: and book without the override or host the DAG asked for.
V2_ONLY_CREATE_FIELDS = frozenset({"override_availability", "host_email"})
#: Statuses a v2 ``PATCH /bookings/{sid}`` can set.
V2_STATUS_CHANGES = frozenset({"cancelled", "approved", "rejected"})
#: Reschedule-body fields only v1 documents: v2's ``PATCH /bookings/{sid}`` lists none of them, so v2
#: might drop them silently (the reschedule would "succeed" without the new answers).
V1_ONLY_RESCHEDULE_FIELDS = frozenset({"form_responses"})
#: The fields naming a new slot; they travel together (``slot_date`` + ``slot_start_time`` mean a
#: moment only in ``time_zone``), so a v2 reschedule never sends one without the others.
SLOT_FIELDS = ("slot_date", "slot_start_time", "time_zone")
#: Fixed-vocabulary values of the ``GET /bookings`` filters (v1 and v2 share ``type``).
FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "type": ("upcoming", "past", "cancelled", "incomplete"),
    "sorting_key": ("created_at", "starts_at"),
    "sorting_order": ("asc", "desc"),
}
#: Shortest ``search`` v2 accepts (NeetoCal's CLI: at least 3 characters).
MIN_SEARCH_LENGTH = 3
_DATE_FILTER_RE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


@dataclass(frozen=True)
class Call:
    """One request as the API expects it: sent as is by either client.

    :param method: upper-case HTTP method.
    :param path: below the API root, starting with ``/`` (ids already checked: no ``/``, ``..``).
    :param params: query string; ``None`` values are left out by :attr:`query`.
    :param json: the JSON body, or ``None`` for none.
    :param items_key: for a listing, the key of the answer holding the page's items.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    items_key: str | None = None

    @property
    def query(self) -> dict[str, Any]:
        """The query string without its unset (``None``) parameters."""
        return {key: value for key, value in self.params.items() if value is not None}

    @property
    def idempotent(self) -> bool:
        """Whether sending it twice has the effect of sending it once (a read)."""
        return self.method in ("GET", "HEAD", "OPTIONS")


def checked_api_version(value: Any, field: str = "api_version") -> ApiVersion:
    """The API version a connection extra or argument names (``"v1"`` when unset).

    :raises NeetoCalConfigError: naming ``field`` for anything but ``v1`` / ``v2`` (case and
        surrounding spaces aside); nothing is sent then.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_API_VERSION
    if isinstance(value, str):
        normalised = value.strip().lower()
        for version in API_VERSIONS:
            if normalised == version:
                return version
    raise NeetoCalConfigError(
        field, f"{value!r} is not an API version NeetoCal serves: expected one of {', '.join(API_VERSIONS)}"
    )


def api_path(version: ApiVersion) -> str:
    """The path of a version's API root below the workspace origin, e.g. ``/api/external/v1``."""
    return f"/api/external/{version}"


def path_id(value: Any, field: str) -> str:
    """``value`` as one path segment; refused when it would change the path (``/``, ``..``, spaces, empty).

    ASCII letters and digits only: ``str.isalnum`` alone would let ``é`` or Arabic-Indic digits through,
    which a server's router may normalise into another id.
    """
    if isinstance(value, str) and value and all((ch.isascii() and ch.isalnum()) or ch in "-_" for ch in value):
        return value
    raise NeetoCalValidationError(
        [FieldProblem(field, value, "expected an identifier of letters, digits, '-' and '_'")]
    )


# -- requests ------------------------------------------------------------------------------------


def check_create_fields(version: ApiVersion, payload: Mapping[str, Any]) -> None:
    """Refuse create-body fields ``version`` does not take (v2-only fields on v1), before anything is sent.

    Operators call it right after validating their arguments, so a DAG learns of it before any
    look-up request; :func:`create_booking` calls it again.
    """
    if version == "v1":
        _refuse_v2_only({name: payload[name] for name in V2_ONLY_CREATE_FIELDS if payload.get(name) is not None})


def check_reschedule_fields(version: ApiVersion, payload: Mapping[str, Any]) -> None:
    """Refuse reschedule-body fields ``version`` does not take (v1-only fields on v2), before anything is sent."""
    if version == "v2":
        _refuse_v1_only({name: payload[name] for name in V1_ONLY_RESCHEDULE_FIELDS if payload.get(name) is not None})


def create_booking(version: ApiVersion, payload: Mapping[str, Any]) -> Call:
    """``POST /bookings`` (both versions); v2-only fields are refused on v1."""
    check_create_fields(version, payload)
    return Call("POST", "/bookings", json=dict(payload))


def get_booking(version: ApiVersion, booking_sid: Any) -> Call:
    """``GET /bookings/{sid}`` (both versions)."""
    return Call("GET", f"/bookings/{path_id(booking_sid, 'booking_sid')}")


def list_bookings(
    version: ApiVersion, *, page_number: int, page_size: int, filters: Mapping[str, Any] | None = None
) -> Call:
    """One page of ``GET /bookings``; a filter the version does not know is refused, not dropped."""
    given = {name: value for name, value in (filters or {}).items() if value is not None}
    unknown = sorted(set(given) - BOOKING_FILTERS[version])
    if unknown:
        if version == "v1" and not set(unknown) - BOOKING_FILTERS["v2"]:
            _refuse_v2_only({name: given[name] for name in unknown})
        raise NeetoCalValidationError(
            [
                FieldProblem(
                    name,
                    given[name],
                    f"not a filter of API {version}: expected one of {', '.join(sorted(BOOKING_FILTERS[version]))}",
                )
                for name in unknown
            ]
        )
    checked = {name: _filter_value(name, value) for name, value in given.items()}
    return Call(
        "GET",
        "/bookings",
        params={**checked, "page_number": page_number, "page_size": page_size},
        items_key="bookings",
    )


def cancel_booking(version: ApiVersion, booking_sid: Any, cancel_reason: str | None = None) -> Call:
    """Cancel a booking: v1 ``POST /bookings/{sid}/cancel`` (reason in the query string, where v1's
    reference puts it); v2 ``PATCH /bookings/{sid}`` with ``{"status": "cancelled"}`` (v2 has no
    ``/cancel`` route)."""
    sid = path_id(booking_sid, "booking_sid")
    if version == "v1":
        return Call("POST", f"/bookings/{sid}/cancel", params={"cancel_reason": cancel_reason or None})
    body: dict[str, Any] = {"status": "cancelled"}
    if cancel_reason:
        body["cancel_reason"] = cancel_reason
    return Call("PATCH", f"/bookings/{sid}", json=body)


def reschedule_booking(
    version: ApiVersion,
    booking_sid: Any,
    payload: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
) -> Call:
    """``PATCH /bookings/{sid}`` with the new slot.

    v1 takes the payload as given (its help center requires name, email, slot and zone every time).
    v2 takes only what changes: ``name`` / ``email`` are left out when absent or equal to the
    ``current`` booking's (email ignoring case), the slot always travels with its ``time_zone``, and
    ``form_responses`` (v1's reference only) is refused rather than sent to be dropped silently.

    :param current: the booking as NeetoCal last showed it (bare), to leave out unchanged fields.
    """
    sid = path_id(booking_sid, "booking_sid")
    if version == "v1":
        return Call("PATCH", f"/bookings/{sid}", json=dict(payload))
    check_reschedule_fields(version, payload)
    body = {name: value for name, value in payload.items() if value is not None}
    if current is not None:
        for name in ("name", "email"):
            if name in body and name not in changed_attendee_fields(body, current):
                del body[name]
    return Call("PATCH", f"/bookings/{sid}", json=body)


def changed_attendee_fields(payload: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Which of the attendee's ``name`` / ``email`` in a reschedule ``payload`` differ from the ``current``
    booking (email ignoring case); a field the payload leaves out is not a change.

    A reschedule to the slot a booking already has is still a change when these differ: skipping it
    would drop the new name or address silently.
    """
    return [
        name
        for name in ("name", "email")
        if payload.get(name) is not None
        and not _same_text(payload[name], current.get(name), ignore_case=name == "email")
    ]


def get_slots(
    version: ApiVersion,
    *,
    time_zone: str,
    year: int,
    month: int,
    day: int | None = None,
    meeting_slug: str | None = None,
    meeting_sid: str | None = None,
) -> Call:
    """A meeting's free slots: v1 ``GET /slots/{meeting_slug}``, v2 ``GET /meetings/{meeting_sid}/slots``.

    v2 names the meeting by its sid, which a caller holding a slug finds with :func:`list_meetings`.
    """
    params = {"time_zone": time_zone, "year": year, "month": month, "day": day}
    if version == "v1":
        return Call("GET", f"/slots/{path_id(meeting_slug, 'meeting_slug')}", params=params)
    return Call("GET", f"/meetings/{path_id(meeting_sid, 'meeting_sid')}/slots", params=params)


def list_meetings(version: ApiVersion, *, page_number: int, page_size: int, host_email: str | None = None) -> Call:
    """One page of ``GET /meetings`` (both versions)."""
    return Call(
        "GET",
        "/meetings",
        params={"host_email": host_email, "page_number": page_number, "page_size": page_size},
        items_key="meetings",
    )


# -- answers -------------------------------------------------------------------------------------


def booking_of(version: ApiVersion, data: Mapping[str, Any]) -> dict[str, Any]:
    """The booking in a create / get / update (or v2 cancel) answer: bare (v1, and v2 as far as
    documented) or, on v2, wrapped as ``{"booking": {...}}`` (NeetoCal's v2 meeting answers are
    wrapped so). Anything else is returned as it came (v1's cancel answers ``{"message": ...}``)."""
    inner = data.get("booking")
    if version == "v2" and isinstance(inner, dict) and "sid" not in data:
        return inner
    return dict(data)


def slot_days_of(data: Mapping[str, Any]) -> list[Any]:
    """The days of a slots answer (``{"slots": [{"date", "day", "slots"}, ...]}``); ``[]`` when absent."""
    days = data.get("slots")
    return days if isinstance(days, list) else []


def error_for_answer(
    *,
    method: str,
    endpoint: str,
    status: int,
    messages: list[str],
    reason: str = "",
    retry_after: str | None = None,
    location: str | None = None,
    redact: Callable[[str], str] = str,
) -> NeetoCalApiError:
    """The typed error for an answer with status >= 300: the one rule both clients apply.

    4xx (but 408/429) are the caller's mistake and fail the task (:class:`NeetoCalClientError`,
    :class:`NeetoCalAuthError` for 401/403, :class:`NeetoCalNotFoundError` for 404); 408 and 5xx may
    pass (:class:`NeetoCalServerError`), 429 carries the ``Retry-After`` wait; a redirect is never
    followed (the key would travel to the new host) and says so.

    :param messages: NeetoCal's own messages from the body, already redacted.
    :param reason: the HTTP reason phrase, used when the body says nothing.
    :param redact: removes the API key from text the server sent (the ``Location`` header, the reason).
    """
    fields: dict[str, Any] = {
        "method": method,
        "endpoint": endpoint,
        "status": status,
        "message": "; ".join(messages) or redact(reason or "") or "no details given",
        "errors": messages,
    }
    if status == 429:
        return NeetoCalRateLimitError(retry_after=parse_retry_after(retry_after), **fields)
    if 300 <= status < 400:
        fields["message"] = (
            f"redirect to {redact(location or '?')!r} not followed, so the API key stays with the configured "
            "server: check the connection's Workspace / base URL"
        )
        return NeetoCalClientError(**fields)
    if status in (401, 403):
        return NeetoCalAuthError(**fields)
    if status == 404:
        return NeetoCalNotFoundError(**fields)
    if status == 408 or status >= 500:
        return NeetoCalServerError(**fields)
    return NeetoCalClientError(**fields)


def _filter_value(name: str, value: Any) -> Any:
    """A listing filter's value as the query string carries it; a value the API cannot take is refused."""
    choices = FILTER_CHOICES.get(name)
    if choices is not None:
        if value not in choices:
            raise NeetoCalValidationError([FieldProblem(name, value, f"expected one of {', '.join(choices)}")])
        return value
    if name in ("starts_after", "starts_before"):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise NeetoCalValidationError(
                    [FieldProblem(name, value, "a datetime without a time zone: expected an aware datetime")]
                )
            return value.isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str) and _DATE_FILTER_RE.fullmatch(value.strip()):
            return value.strip()
        raise NeetoCalValidationError(
            [FieldProblem(name, value, "expected an ISO-8601 date-time or a date YYYY-MM-DD, e.g. '2030-01-08'")]
        )
    if name == "search" and (not isinstance(value, str) or len(value.strip()) < MIN_SEARCH_LENGTH):
        raise NeetoCalValidationError(
            [FieldProblem(name, value, f"expected text of at least {MIN_SEARCH_LENGTH} characters")]
        )
    if not isinstance(value, str) or not value.strip():
        raise NeetoCalValidationError([FieldProblem(name, value, "expected non-empty text")])
    if name in ("client_email", "host_email"):  # else a typo lists nothing, which reads as "no bookings"
        from airflow_provider_neetocal.booking import checked_email

        return checked_email(value, name)
    return value.strip()


def _same_text(wanted: Any, current: Any, *, ignore_case: bool) -> bool:
    if not isinstance(wanted, str) or not isinstance(current, str):
        return False
    if ignore_case:
        return wanted.strip().lower() == current.strip().lower()
    return wanted.strip() == current.strip()


def _refuse_v1_only(given: Mapping[str, Any]) -> None:
    if given:
        raise NeetoCalValidationError(
            [
                FieldProblem(
                    name,
                    given[name],
                    "NeetoCal API v2 does not document it for this call (v2 might drop it silently): leave it "
                    "out, or set the connection's api_version extra to 'v1'",
                )
                for name in sorted(given)
            ]
        )


def _refuse_v2_only(given: Mapping[str, Any]) -> None:
    if given:
        raise NeetoCalValidationError(
            [
                FieldProblem(
                    name,
                    given[name],
                    "only NeetoCal API v2 accepts it (v1 would ignore it): set the connection's api_version "
                    "extra to 'v2', or leave it out",
                )
                for name in sorted(given)
            ]
        )


__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "MAX_PAGE_SIZE",
    "V1_ONLY_RESCHEDULE_FIELDS",
    "V2_ONLY_CREATE_FIELDS",
    "ApiVersion",
    "Call",
    "api_path",
    "booking_of",
    "cancel_booking",
    "check_create_fields",
    "check_reschedule_fields",
    "checked_api_version",
    "create_booking",
    "error_for_answer",
    "get_booking",
    "get_slots",
    "list_bookings",
    "list_meetings",
    "path_id",
    "reschedule_booking",
    "slot_days_of",
]
