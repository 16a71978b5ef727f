"""NeetoCal's API as data: per version, what each operation sends and how its answer is read.

NeetoCal serves two external APIs side by side: v1 (``/api/external/v1``, deprecated but what every
workspace has today) and v2 (``/api/external/v2``). They share the key, the header and the create
body; they differ in paths (slots by meeting *sid* in v2, by slug in v1), in how a booking is
cancelled (v1 ``POST /bookings/{sid}/cancel``, v2 ``PATCH /bookings/{sid}`` with a status), in
filters, and maybe in whether a single booking comes bare or wrapped as ``{"booking": {...}}`` (the v2
reference does not show it: both are accepted). The sources of each fact are in ``docs/neetocal-api.md``.

This module is the only place that knows a path, a method or an answer's shape. It does no I/O:
the sync hook (``requests``) and the async client of the triggers (``httpx``) both ask it for a
:class:`Call` and both hand it what came back, so the two can never disagree on the contract, and
the status → exception rules (:func:`error_for_answer`) are written once.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Call:
    """One request as the API expects it: sent as is by either client.

    :param method: upper-case HTTP method.
    :param path: below the API root, starting with ``/`` (ids already checked: no ``/``, ``..``).
    :param params: query string; ``None`` values are left out by :attr:`query`.
    :param json: the JSON body, or ``None`` for none.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None

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
    """``value`` as one path segment; refused when it would change the path (``/``, ``..``, spaces, empty)."""
    if isinstance(value, str) and value and all(ch.isalnum() or ch in "-_" for ch in value):
        return value
    raise NeetoCalValidationError(
        [FieldProblem(field, value, "expected an identifier of letters, digits, '-' and '_'")]
    )


# -- requests ------------------------------------------------------------------------------------


def create_booking(version: ApiVersion, payload: Mapping[str, Any]) -> Call:
    """``POST /bookings`` (both versions); v2-only fields are refused on v1."""
    if version == "v1":
        _refuse_v2_only({name: payload[name] for name in V2_ONLY_CREATE_FIELDS if payload.get(name) is not None})
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
    return Call("GET", "/bookings", params={**given, "page_number": page_number, "page_size": page_size})


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


def reschedule_booking(version: ApiVersion, booking_sid: Any, payload: Mapping[str, Any]) -> Call:
    """``PATCH /bookings/{sid}`` with the new slot (both versions; v2 takes only the fields that change)."""
    return Call("PATCH", f"/bookings/{path_id(booking_sid, 'booking_sid')}", json=dict(payload))


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
        "GET", "/meetings", params={"host_email": host_email, "page_number": page_number, "page_size": page_size}
    )


#: The key holding a listing's items, per listing path.
LIST_KEYS = {"/bookings": "bookings", "/meetings": "meetings"}


# -- answers -------------------------------------------------------------------------------------


def booking_of(version: ApiVersion, data: Mapping[str, Any]) -> dict[str, Any]:
    """The booking in a create / get / update answer: bare (v1, and v2 as far as documented) or,
    on v2, wrapped as ``{"booking": {...}}`` (NeetoCal's v2 meeting answers are wrapped so)."""
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
    "LIST_KEYS",
    "MAX_PAGE_SIZE",
    "ApiVersion",
    "Call",
    "api_path",
    "booking_of",
    "cancel_booking",
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
