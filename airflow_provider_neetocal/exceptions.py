"""What can go wrong when talking to NeetoCal, as types a DAG author can catch.

The hierarchy encodes one decision that matters to Airflow: **is retrying the task worth it?**

* :class:`NeetoCalValidationError`, :class:`NeetoCalConfigError` and :class:`NeetoCalClientError`
  (a 4xx other than 408/429) derive from ``AirflowFailException``: the same input will fail the
  same way, so the task fails at once without burning its Airflow retries.
* :class:`NeetoCalRetryableError` and its subclasses (network errors, 5xx, 429 after the hook's
  own retries, an unknown outcome) derive from plain ``AirflowException``, so Airflow's task
  retries apply.

Every message leads with what happened and what to do, in a first line of at most
:data:`FIRST_LINE_WIDTH` characters, because the Airflow log viewer does not wrap lines and a reason
past its right edge is a reason nobody reads; a slot is named in the attendee's zone. The details
follow on the next line: the HTTP status, what was attempted (method and path, never the API key)
and NeetoCal's own words (quoted on the first line too when they fit), because "400 Bad Request"
alone sends people to read code.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_neetocal._compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Callable

#: Longest excerpt of a response body quoted in an error message.
MAX_BODY_EXCERPT = 300
#: Longest first line of an error message: what the task log shows, unwrapped, after the exception's name.
FIRST_LINE_WIDTH = 120


@dataclass(frozen=True)
class FieldProblem:
    """One invalid argument: which field, the value given and the form that was expected."""

    field: str
    value: Any
    problem: str

    def __str__(self) -> str:
        return f"{self.field}={_short_repr(self.value)}: {self.problem}"


def _fitted(message: str, *, short: str, advice: str, details: str) -> str:
    """``message`` as it is when it fits :data:`FIRST_LINE_WIDTH`; else a first line that does, then ``details``.

    The first line keeps as many of the message's leading clauses (split at ``": "``: the field and
    its value, then what is wrong with it) as fit beside ``advice``, or ``short`` (the field alone)
    when not even the value does; ``details`` (the whole problem, with the expected form) follows.
    """
    if len(message) <= FIRST_LINE_WIDTH:
        return message
    room = FIRST_LINE_WIDTH - len(f" — {advice}")
    clauses = message.split(": ")
    if len(clauses[0]) > room:
        return f"{short} — {advice}\n{details}"
    lead = clauses[0]
    for clause in clauses[1:]:
        if len(f"{lead}: {clause}") > room:
            break
        lead = f"{lead}: {clause}"
    return f"{lead} — {advice}\n{details}"


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
            problem = self.problems[0]
            message = _fitted(
                f"Invalid NeetoCal booking argument {problem}",
                short=f"Invalid NeetoCal booking argument {problem.field}",
                advice="fix it; nothing was sent",
                details=str(problem),
            )
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

    def __init__(self, field: str, problem: str, *, lead: str | None = None) -> None:
        """:param lead: a first line saying what is wrong in the form's own terms and what to do (used when
        it fits :data:`FIRST_LINE_WIDTH`); ``field: problem`` follows it."""
        self.field = field
        self.problem = problem
        if lead and "\n" not in lead and len(lead) <= FIRST_LINE_WIDTH:
            super().__init__(f"{lead}\n{field}: {problem}")
            return
        super().__init__(
            _fitted(
                f"Invalid NeetoCal connection {field}: {problem}",
                short=f"Invalid NeetoCal connection {field}",
                advice="fix the connection; nothing was sent",
                details=f"{field}: {problem}",
            )
        )


class NeetoCalBookingExistsError(AirflowFailException):
    """``if_exists="fail"``: NeetoCal already holds this attendee's booking for that meeting and start."""

    def __init__(self, booking: dict[str, Any]) -> None:
        self.booking = booking
        super().__init__(
            f"{booking.get('email')} already booked at {start_in_attendee_zone(booking)} — "
            "if_exists='fail' stops here; 'reuse' would adopt it\n"
            f"NeetoCal booking {booking.get('sid')}, created {booking.get('created_at')}"
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
            f"Duplicate request in this DAG run: {booking.get('email')} at {start_in_attendee_zone(booking)} — "
            "drop it or give it its own slot\n"
            f"NeetoCal booking {booking.get('sid')} was created during this DAG run "
            f"(at {booking.get('created_at')}; or at most 5 minutes before it "
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
    :param lead: when nothing was sent, a first line naming what blocked the look-up and what to do
        (an unknown meeting, NeetoCal's temporary failure); ``None`` for the generic one.
    :param advice: when nothing was sent, what to do, after ``reason``; ``None`` for the generic advice.
    """

    def __init__(
        self,
        *,
        reason: str,
        sent: bool,
        cause: str | None = None,
        lead: str | None = None,
        advice: str | None = None,
    ) -> None:
        self.reason = reason
        self.sent = sent
        if sent:
            head = (
                "The booking was sent but its outcome is unknown. Not sent again by this try — a retry looks it up\n"
                f"The answer: {cause or 'no answer'}; looking it up: {reason}. An Airflow retry (after retry_delay) "
                "looks it up again and adopts it, or books it once if it is proven absent"
            )
        elif lead:
            head = (
                f"{lead}\nCannot prove NeetoCal does not already hold this booking: {reason}. Nothing was sent, "
                f"to avoid a duplicate: {advice or 'fix what blocks the look-up'}"
            )
        else:
            head = (
                "Cannot prove NeetoCal does not already hold this booking; nothing sent — fix the look-up (below)\n"
                f"{reason}. Nothing was sent, to avoid a duplicate: fix what blocks the look-up (e.g. an API key "
                "that cannot list GET /meetings or GET /bookings, a meeting hidden from GET /meetings) or, "
                "accepting the risk of a duplicate, set if_exists='create'"
            )
        super().__init__(head)


class NeetoCalBookingGoneError(AirflowFailException):
    """The booking an earlier try of this task made (or adopted) for this request was cancelled since.

    The task's journal (Airflow 3.3's task state store) names the booking, so the request is done:
    booking again would undo a person's cancellation. Retrying cannot change that.
    """

    def __init__(self, booking: dict[str, Any]) -> None:
        self.booking = booking
        super().__init__(
            f"NeetoCal booking {booking.get('sid')} from an earlier try is {booking.get('status')} now — "
            "not booked again; to book anew, trigger a new DAG run\n"
            "An earlier try of this task made (or adopted) it for this request; booking again would undo the "
            "cancellation (this run's task state store remembers the booking)"
        )


class NeetoCalJournalUnreadableError(AirflowFailException):
    """The task's journal holds an entry for this request that this provider cannot read.

    Guessing what it says could send a duplicate, so nothing is sent; retrying cannot change it.
    """

    def __init__(self, *, key: str, reason: str) -> None:
        self.key = key
        super().__init__(
            "This booking's task state store entry cannot be read; nothing sent — check NeetoCal, delete the entry\n"
            f"Entry {key!r}: {reason}. Check NeetoCal for the booking, then delete that key (Task Instance → Task "
            "State Store, or the REST API) and clear the task"
        )


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


class NeetoCalSyncError(AirflowException):
    """Some writes of a sync were not made, or some keys could not be read; the rest were applied.

    Retryable: the sync's ownership records what was done, so a retry (or the next run) plans only what
    is still to do. ``failures`` lists ``{"key", "action", "sid", "error"}``.
    """

    def __init__(self, failures: list[dict[str, Any]], *, sync_id: str) -> None:
        self.failures = failures
        lines = "\n".join(f"  - {f['key']} ({f['action']} {f.get('sid') or ''}): {f['error']}" for f in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(f"NeetoCal sync {sync_id!r}: {len(failures)} key(s) not in step:\n{lines}{more}")


class NeetoCalSyncRefusedError(AirflowFailException):
    """The sync refused to apply (nothing was sent): its guard tripped, or its ownership is unreadable.

    Retrying cannot change it: raise ``max_cancellations``, fix the rows, or repair the store.
    """


#: A single final period (not an ellipsis) of a sentence a dash is about to follow.
_SENTENCE_END = re.compile(r"(?<!\.)\.\s*\Z")


def without_final_period(text: str) -> str:
    """``text`` without one final period, so that a dash or a colon can follow it; an ellipsis stays."""
    return _SENTENCE_END.sub("", text)


def _restore_error(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """Rebuild an error from its class, ``args`` and attributes without calling its constructor."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class NeetoCalApiError(AirflowException):
    """NeetoCal answered with an error status (or did not answer usefully).

    ``str(error)`` is two lines: ``<what happened> — <what to do>``, within :data:`FIRST_LINE_WIDTH`
    characters (with NeetoCal's own words after what happened when they fit), then the HTTP status,
    the request and NeetoCal's words whole. An operator that knows more (the slot, the meeting) puts
    it first with :meth:`lead_with`.

    :param method: HTTP method of the request.
    :param endpoint: path of the request below the API root, e.g. ``/bookings``.
    :param status: HTTP status, or ``None`` when no response was received.
    :param message: NeetoCal's own message (from ``error``, ``errors``, ``message`` or ``notice``),
        or a description of the network failure.
    """

    #: What happened, before NeetoCal's words; per type.
    what: ClassVar[str] = "NeetoCal could not complete the request"
    #: What to do about it; per type.
    advice: ClassVar[str] = ""

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
        self.lead: str | None = None
        super().__init__(self.compose())

    @property
    def http_details(self) -> str:
        """The status, the request and (unless the reason already quotes them) NeetoCal's words."""
        answered = self.answered()
        if self.lead and self.api_message:
            return f"{answered}: {self.api_message}"
        return answered

    def answered(self) -> str:
        """The status and the request, e.g. ``NeetoCal answered HTTP 422 to POST /bookings``."""
        where = f"{self.method} {self.endpoint}"
        return f"NeetoCal answered HTTP {self.status} to {where}" if self.status else where

    def what_happened(self) -> str:
        """What happened, without NeetoCal's words: the start of the first line."""
        return self.what

    def reason(self) -> str:
        """What happened, in one clause: :meth:`what_happened` and NeetoCal's words."""
        return f"{self.what_happened()}: {self.api_message}" if self.api_message else self.what_happened()

    def compose(self) -> str:
        """The message: what happened and what to do on the first line, the HTTP details on the next.

        NeetoCal's words join the first line only when the line still fits :data:`FIRST_LINE_WIDTH`;
        otherwise they lead the second, whole, instead of pushing the advice past the viewer's edge.
        An operator's lead replaces the first line.
        """
        if self.lead:
            return f"{self.lead}\n{self.http_details}"
        # NeetoCal's sentence ends with a period the dash would follow ("Invalid API key. — check");
        # an ellipsis from a cut message stays.
        quoted = self._with_advice(without_final_period(self.reason()))
        if "\n" not in quoted and len(quoted) <= FIRST_LINE_WIDTH:
            return f"{quoted}\n{self.details()}"
        return f"{self._with_advice(self.what_happened())}\n{self.details()}: {self.api_message}"

    def details(self) -> str:
        """The second line's start: the status and the request (NeetoCal's words follow when not quoted)."""
        return self.answered()

    def _with_advice(self, head: str) -> str:
        return f"{head} — {self.advice}" if self.advice else head

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuilt from its state, not from ``args``: the constructor takes keywords, so the default
        ``cls(*args)`` fails, and a copy (``pickle``, ``copy.deepcopy``) must keep ``lead`` and ``status``."""
        return (_restore_error, (type(self), self.args, self.__dict__.copy()))

    def brief(self) -> str:
        """The reason and the HTTP details without the advice: for a log line about a retry in progress."""
        return f"{self.lead or self.reason()} ({self.http_details})"

    def lead_with(self, lead: str) -> None:
        """Put ``lead`` (what happened and what to do, in the caller's terms) first; NeetoCal's words follow.

        ``lead`` is the message's first line (keep it within ~120 characters); the HTTP details, with
        NeetoCal's words whole, are the second.

        Changes this error in place, so a bare ``raise`` keeps its type and traceback.
        """
        self.lead = lead
        self.args = (self.compose(),)


class NeetoCalClientError(NeetoCalApiError, AirflowFailException):
    """A 4xx answer other than 408/429: the request itself is wrong; retrying cannot help."""

    what = "NeetoCal refused the request"

    def what_happened(self) -> str:
        if self.status is not None and 300 <= self.status < 400:
            return "NeetoCal answered with a redirect, not followed"
        return super().what_happened()

    @property
    def advice(self) -> str:  # type: ignore[override]
        if self.status is not None and 300 <= self.status < 400:
            return "set the connection's Workspace / base URL to the server NeetoCal redirects to"
        return "fix it and run again; retrying the same request cannot help"


class NeetoCalAuthError(NeetoCalClientError):
    """401/403: the API key is missing, wrong, expired or lacks access to this workspace."""

    what = "NeetoCal refused the API key"
    advice = "check the connection's API key (NeetoCal → Admin panel → API Keys) and Workspace"


class NeetoCalNotFoundError(NeetoCalClientError):
    """404: the booking, meeting or route does not exist in this workspace."""

    what = "Not found in this NeetoCal workspace"
    advice = "check the meeting slug or booking sid and the connection's Workspace"


class NeetoCalRetryableError(NeetoCalApiError):
    """A failure that may pass on its own: Airflow's task retries apply."""

    what = "NeetoCal could not complete the request"
    advice = "probably temporary: Airflow retries the task if it has retries left"


class NeetoCalRateLimitError(NeetoCalRetryableError):
    """429 still answered after the hook's own bounded waits.

    :param retry_after: seconds NeetoCal asked to wait (``Retry-After``), when it said so.
    """

    what = "NeetoCal is rate-limiting this API key"

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)

    advice = "send fewer requests per second; Airflow retries if the task has retries left"

    def details(self) -> str:
        wait = f", asking to wait {self.retry_after:g} s" if self.retry_after is not None else ""
        return f"{self.answered()}{wait}"


class NeetoCalServerError(NeetoCalRetryableError):
    """5xx or 408 from NeetoCal (or a proxy in front of it), or an answer the hook cannot use
    (larger than the size cap, not the documented shape)."""

    def what_happened(self) -> str:
        if self.status == 408:
            return "NeetoCal timed out on the request"
        if self.status is not None and self.status >= 500:
            return "NeetoCal had a server error"
        return "NeetoCal's answer could not be used"


class NeetoCalPaginationError(NeetoCalServerError):
    """A listing's pages do not add up: a page repeats the previous one, comes back with another
    page number, or more pages are announced than the hook walks (``MAX_PAGES``). Retryable."""

    what = "NeetoCal's listing pages do not add up"

    def what_happened(self) -> str:
        return self.what


class NeetoCalConnectionError(NeetoCalRetryableError):
    """No HTTP answer at all: DNS, refused connection, TLS, timeout or a dropped connection.

    :param request_sent: ``False`` when the failure happened before the request left this machine
        (refused, DNS, connect timeout): repeating it is safe even for a write.
    """

    what = "Could not reach NeetoCal"
    advice = "check Workspace / base URL, proxy and network; Airflow retries if the task has retries left"

    def __init__(self, *, request_sent: bool, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(**kwargs)

    def answered(self) -> str:
        return f"{self.method} {self.endpoint}: no HTTP answer"


class NeetoCalOutcomeUnknownError(NeetoCalRetryableError):
    """A write may or may not have been applied (read timeout, dropped connection or 5xx after sending).

    The hook never re-sends such a write blindly: for a booking that could create a duplicate.
    ``cause`` is the underlying error.
    """

    what = "The answer was lost after sending: NeetoCal may have applied the request"
    advice = "not re-sent; a retry checks NeetoCal first"

    def __init__(self, *, cause: NeetoCalApiError) -> None:
        self.cause = cause
        super().__init__(
            method=cause.method,
            endpoint=cause.endpoint,
            status=cause.status,
            message=cause.api_message,
            errors=cause.errors,
        )

    def reason(self) -> str:
        return f"{self.what} ({self.cause.reason()})"

    def compose(self) -> str:
        if self.lead:
            return super().compose()
        return f"{self.what} — {self.advice}\n{self.cause.reason()} ({self.cause.answered()})"


def start_in_attendee_zone(booking: dict[str, Any]) -> str:
    """A booking's start as ``2031-07-15 11:00 (Asia/Kolkata)``: the wall-clock time its attendee sees.

    Falls back to NeetoCal's ``starts_at`` as given when the booking has no readable start or zone.
    """
    starts_at, zone = booking.get("starts_at"), booking.get("time_zone")
    try:
        import pendulum

        start = pendulum.parse(str(starts_at))
        if isinstance(zone, str) and zone and isinstance(start, pendulum.DateTime):
            return f"{start.in_timezone(zone).format('YYYY-MM-DD HH:mm')} ({zone})"
    except Exception:  # any unreadable start or zone: show what NeetoCal sent
        pass
    return str(starts_at)


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


@functools.cache
def _text_extractor_class() -> type:
    """An ``HTMLParser`` keeping a page's title and visible text; built on first use.

    ``html.parser`` is imported only when an error body turns out to be HTML: every operator module
    imports this one, and DAG files import operator modules on each parse.
    """
    from html.parser import HTMLParser

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

    return _TextExtractor


def _excerpt_of_non_json(text: str, content_type: str) -> str:
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        parser = _text_extractor_class()()
        parser.feed(text)
        title = " ".join("".join(parser.title).split())
        if title:
            return f"non-JSON response: {_truncate(title)}"
        text = " ".join("".join(parser.text).split())
    return f"non-JSON response: {_truncate(text)}"


def _truncate(text: str, limit: int = MAX_BODY_EXCERPT) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
