"""What can go wrong when talking to NeetoCal, as types a DAG author can catch.

The hierarchy encodes one decision that matters to Airflow: **is retrying the task worth it?**

* :class:`NeetoCalValidationError`, :class:`NeetoCalConfigError` and :class:`NeetoCalClientError`
  (a 4xx other than 408/429) derive from ``AirflowFailException``: the same input will fail the
  same way, so the task fails at once without burning its Airflow retries.
* :class:`NeetoCalRetryableError` and its subclasses (network errors, 5xx, 429 after the hook's
  own retries, an unknown outcome) derive from plain ``AirflowException``, so Airflow's task
  retries apply.

Every message names what was attempted (method and path, never the API key), the HTTP status and
NeetoCal's own words, because "400 Bad Request" alone sends people to read code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Callable

#: Longest excerpt of a response body quoted in an error message.
MAX_BODY_EXCERPT = 300


@dataclass(frozen=True)
class FieldProblem:
    """One invalid argument: which field, the value given and the form that was expected."""

    field: str
    value: Any
    problem: str

    def __str__(self) -> str:
        return f"{self.field}={_short_repr(self.value)}: {self.problem}"


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class NeetoCalValidationError(AirflowFailException, ValueError):
    """The booking arguments break NeetoCal's documented contract; nothing was sent.

    Carries every problem found (``problems``), not just the first, so one failed run is enough
    to fix a DAG.
    """

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"Invalid NeetoCal booking argument {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{len(self.problems)} invalid NeetoCal booking arguments:\n{lines}"
        super().__init__(message)

    @property
    def fields(self) -> list[str]:
        """The names of the offending fields, in the order they were checked."""
        return [p.field for p in self.problems]


class NeetoCalConfigError(AirflowFailException, ValueError):
    """The ``neetocal`` Airflow connection is unusable (bad workspace, URL or missing key)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"Invalid NeetoCal connection {field}: {problem}")


class NeetoCalBookingExistsError(AirflowFailException):
    """``if_exists="fail"``: NeetoCal already holds this attendee's booking for that meeting and start."""

    def __init__(self, booking: dict[str, Any]) -> None:
        self.booking = booking
        super().__init__(
            f"NeetoCal already has booking {booking.get('sid')} for {booking.get('email')} starting "
            f"{booking.get('starts_at')} (created {booking.get('created_at')}); not booking again because "
            "if_exists='fail' (use 'reuse' to adopt it)"
        )


class NeetoCalBookingClaimedError(AirflowFailException):
    """On a first try, NeetoCal already holds a booking for this request that was made during this DAG run.

    Nothing of this task can exist before its first try, so another task or row of this run made it
    (two identical rows, two mapped instances for one attendee and slot). Adopting it would hand one
    booking to two requests, and booking again would duplicate it: the task fails instead.
    """

    def __init__(self, booking: dict[str, Any]) -> None:
        self.booking = booking
        super().__init__(
            f"NeetoCal booking {booking.get('sid')} for {booking.get('email')} starting {booking.get('starts_at')} "
            f"was created during this DAG run (at {booking.get('created_at')}; or at most 5 minutes before it "
            "started, the allowance for clock skew between Airflow and NeetoCal) by another task or row; this "
            "task's first try cannot have made it, so it is neither adopted nor booked again: remove the duplicate "
            "request or give each request its own slot; if it is a booking an earlier run made minutes ago, "
            "run again after those 5 minutes to reuse it"
        )


class NeetoCalBookingUnknownError(AirflowException):
    """Whether NeetoCal holds the booking cannot be told, so nothing (more) was sent. Retryable.

    :param reason: why the look-up could not prove the booking absent, or what it found.
    :param sent: whether this try sent a POST whose outcome is unknown.
    :param cause: the lost answer's error, when there was one.
    """

    def __init__(self, *, reason: str, sent: bool, cause: str | None = None) -> None:
        self.reason = reason
        self.sent = sent
        if sent:
            head = (
                f"The booking request was sent but its outcome is unknown ({cause or 'no answer'}); looking it up: "
                f"{reason}. Not sent again by this try, to avoid a duplicate: an Airflow retry (after retry_delay) "
                "looks it up again and adopts it, or books it once if it is proven absent"
            )
        else:
            head = (
                f"Cannot prove that NeetoCal does not already hold this booking: {reason}. Nothing was sent, to "
                "avoid a duplicate: fix what blocks the look-up (e.g. an API key that cannot list GET /meetings or "
                "GET /bookings, a meeting hidden from GET /meetings) or, accepting the risk of a duplicate, set "
                "if_exists='create'"
            )
        super().__init__(head)


class NeetoCalBookingEndedError(AirflowFailException):
    """A watched booking was cancelled or rejected, so what the sensor waits for can never come.

    Retrying cannot help: the task fails at once (or is skipped with ``soft_fail=True``).
    """


class NeetoCalBulkError(AirflowException):
    """Some rows of a bulk booking were not booked; the others were.

    Retryable: a retry adopts the rows already booked (never books them twice) and tries the rest.
    ``failures`` lists ``{"row", "email", "error", "permanent"}`` per failed row.
    """

    def __init__(self, failures: list[dict[str, Any]], *, total: int) -> None:
        self.failures = failures
        lines = "\n".join(f"  - row {f['row']} ({f['email']}): {f['error']}" for f in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(f"{len(failures)} of {total} NeetoCal bookings failed:\n{lines}{more}")


class NeetoCalBulkClientError(NeetoCalBulkError, AirflowFailException):
    """Every failed row was refused for good (4xx, already booked): retrying the task cannot help."""


class NeetoCalApiError(AirflowException):
    """NeetoCal answered with an error status (or did not answer usefully).

    :param method: HTTP method of the request.
    :param endpoint: path of the request below the API root, e.g. ``/bookings``.
    :param status: HTTP status, or ``None`` when no response was received.
    :param message: NeetoCal's own message (from ``error``, ``errors``, ``message`` or ``notice``),
        or a description of the network failure.
    """

    def __init__(
        self,
        *,
        method: str,
        endpoint: str,
        status: int | None,
        message: str,
        errors: list[str] | None = None,
    ) -> None:
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.api_message = message
        self.errors = errors or ([message] if message else [])
        where = f"{method} {endpoint}"
        prefix = f"NeetoCal answered HTTP {status} to {where}" if status else f"{where} failed"
        super().__init__(f"{prefix}: {message}" if message else prefix)


class NeetoCalClientError(NeetoCalApiError, AirflowFailException):
    """A 4xx answer other than 408/429: the request itself is wrong; retrying cannot help."""


class NeetoCalAuthError(NeetoCalClientError):
    """401/403: the API key is missing, wrong, expired or lacks access to this workspace."""


class NeetoCalNotFoundError(NeetoCalClientError):
    """404: the booking, meeting or route does not exist in this workspace."""


class NeetoCalRetryableError(NeetoCalApiError):
    """A failure that may pass on its own: Airflow's task retries apply."""


class NeetoCalRateLimitError(NeetoCalRetryableError):
    """429 still answered after the hook's own bounded waits.

    :param retry_after: seconds NeetoCal asked to wait (``Retry-After``), when it said so.
    """

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class NeetoCalServerError(NeetoCalRetryableError):
    """5xx or 408 from NeetoCal (or a proxy in front of it), or an answer the hook cannot use
    (larger than the size cap, not the documented shape)."""


class NeetoCalPaginationError(NeetoCalServerError):
    """A listing's pages do not add up: a page repeats the previous one, comes back with another
    page number, or more pages are announced than the hook walks (``MAX_PAGES``). Retryable."""


class NeetoCalConnectionError(NeetoCalRetryableError):
    """No HTTP answer at all: DNS, refused connection, TLS, timeout or a dropped connection.

    :param request_sent: ``False`` when the failure happened before the request left this machine
        (refused, DNS, connect timeout): repeating it is safe even for a write.
    """

    def __init__(self, *, request_sent: bool, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(**kwargs)


class NeetoCalOutcomeUnknownError(NeetoCalRetryableError):
    """A write may or may not have been applied (read timeout, dropped connection or 5xx after sending).

    The hook never re-sends such a write blindly: for a booking that could create a duplicate.
    ``cause`` is the underlying error.
    """

    def __init__(self, *, cause: NeetoCalApiError) -> None:
        self.cause = cause
        super().__init__(
            method=cause.method,
            endpoint=cause.endpoint,
            status=cause.status,
            message=(
                f"{cause.api_message}. The request was sent, so NeetoCal may have applied it: "
                "not re-sent automatically to avoid a duplicate"
            ),
            errors=cause.errors,
        )


def error_messages_from_body(
    body: str, content_type: str = "", *, redact: Callable[[str], str] | None = None
) -> list[str]:
    """Extract NeetoCal's human-readable messages from an error response body.

    NeetoCal's pages disagree on the shape, so every documented one is accepted:
    ``{"error": "..."}``, ``{"errors": ["..."]}``, ``{"errors": {"field": ["..."]}}``,
    ``{"message": "..."}`` and ``{"notice": "..."}``. A body that is not JSON (an HTML page from a
    gateway, plain text) yields its title or leading text, truncated.

    :param redact: applied to every decoded string before anything is cut to length, so a secret
        the server echoed in an escaped form (``\u0074``, ``\\/``) cannot survive half-cut.
    """
    text = body.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return [_excerpt_of_non_json(redact(text) if redact else text, content_type)]
    if redact is not None:
        data = map_strings(data, redact)
        text = json.dumps(data, ensure_ascii=False)
    messages: list[str] = []
    if isinstance(data, dict):
        for key in ("error", "errors", "message", "notice"):
            if key in data:
                messages.extend(_flatten_messages(data[key]))
    elif data is not None:
        messages.extend(_flatten_messages(data))
    return [m for m in messages if m] or [_truncate(text)]


def map_strings(value: Any, function: Callable[[str], str]) -> Any:
    """``value`` (decoded JSON) with ``function`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, list):
        return [map_strings(item, function) for item in value]
    if isinstance(value, dict):
        return {map_strings(k, function): map_strings(v, function) for k, v in value.items()}
    return value


def _flatten_messages(value: Any, field: str | None = None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = f"{field} {value}" if field and not value.lower().startswith(field.lower()) else value
        return [_truncate(text)] if text.strip() else []
    if isinstance(value, list):
        return [m for item in value for m in _flatten_messages(item, field)]
    if isinstance(value, dict):
        return [m for key, item in value.items() for m in _flatten_messages(item, str(key))]
    return [_truncate(str(value))]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title: list[str] = []
        self.text: list[str] = []
        self._in_title = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.text.append(data)


def _excerpt_of_non_json(text: str, content_type: str) -> str:
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        parser = _TextExtractor()
        parser.feed(text)
        title = " ".join("".join(parser.title).split())
        if title:
            return f"non-JSON response: {_truncate(title)}"
        text = " ".join("".join(parser.text).split())
    return f"non-JSON response: {_truncate(text)}"


def _truncate(text: str, limit: int = MAX_BODY_EXCERPT) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
