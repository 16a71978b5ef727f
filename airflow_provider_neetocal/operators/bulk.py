"""The bulk path: many bookings from one task, several in flight over one HTTP session.

Every row is checked before any request. Then the rows go out ``max_concurrency`` at a time, from
worker threads sharing the hook's one ``requests.Session``:

* **Why threads and requests, not asyncio and httpx.** The work is a few hundred to a few thousand
  blocking round trips, each mostly waiting on the network; threads release the GIL while they
  wait, so 4 to 16 of them keep that many requests in flight. A ``requests.Session`` used this way
  is safe across threads: its headers, auth and adapters are set once before the first worker
  starts and never changed after, there are no cookies to share, and the connections live in
  urllib3's pool, which hands each connection to one thread at a time (its pool is sized to the
  concurrency, so none is thrown away). The hook stays the single code path for HTTP (retries,
  timeouts, size caps, key redaction, exactly-once), which an async client would have to copy.
* **Exactly-once holds per row, whatever the concurrency.** Rows of one attendee (email, ignoring
  case) run one after the other in one worker, fixed-slot rows first; different attendees run in
  parallel. Look-ups of one attendee therefore never race with that attendee's own POSTs, and what
  rows share (claimed bookings, reserved starts, the meeting cache) is locked in
  :class:`~airflow_provider_neetocal.exactly_once.ExactlyOnce`.
* **One pace for all workers**: a :class:`~airflow_provider_neetocal.pacing.Pacer` on the hook
  spaces requests to ``max_requests_per_second`` and, on a 429, holds every worker for the
  ``Retry-After``, not only the one that met it.
* **Few look-ups**: a first try lists the workspace's bookings once when that is cheaper than one
  listing per attendee (see :meth:`ExactlyOnce.list_before_sending`), so a fresh workspace costs
  about one request per booking.
* **Bounded memory**: only a compact outcome per row is kept (and returned) unless
  ``return_full_bookings=True``.

DAG files import this module on every parse, so, like :mod:`~airflow_provider_neetocal.operators.booking`,
it imports only what building the operator needs. The booking core, the exactly-once machinery, the
journal, the pacer and the exception types are imported by the functions that use them, when a task
runs; ``ROW_ERRORS`` stays importable from here (module ``__getattr__``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.operators.booking import IF_EXISTS_CHOICES, _refused_if_exists

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.exactly_once import IfExists
    from airflow_provider_neetocal.exceptions import FieldProblem

#: Keys a row may carry: the create operator's booking arguments.
ROW_FIELDS = (
    "meeting_slug",
    "name",
    "email",
    "attendee_email",
    "time_zone",
    "slot_start",
    "slot_date",
    "slot_start_time",
    "preferred_meeting_spot",
    "form_responses",
    "metadata",
    "override_availability",
    "host_email",
)
BOOKING_SIDS_XCOM_KEY = "booking_sids"
FAILURES_XCOM_KEY = "failures"
#: Rows in flight at once unless ``max_concurrency`` says otherwise: a small load on NeetoCal, and
#: at a 50 ms round trip about 80 bookings/s.
DEFAULT_MAX_CONCURRENCY = 4
#: Most rows in flight at once (threads and pooled connections are sized to it).
MAX_CONCURRENCY = 64
DEFAULT_PROGRESS_EVERY_ROWS = 100
DEFAULT_PROGRESS_EVERY_SECONDS = 30.0


def row_errors() -> tuple[type[Exception], ...]:
    """Errors that fail one row (reported with the others) rather than the whole task at once.

    A function, not a module constant, so that importing this module loads no exception types
    (``ROW_ERRORS`` still imports from here, built on first use).
    """
    from airflow_provider_neetocal.exceptions import (
        NeetoCalApiError,
        NeetoCalBookingClaimedError,
        NeetoCalBookingExistsError,
        NeetoCalBookingGoneError,
        NeetoCalBookingUnknownError,
        NeetoCalJournalUnreadableError,
    )

    return (
        NeetoCalApiError,
        NeetoCalBookingExistsError,
        NeetoCalBookingClaimedError,
        NeetoCalBookingUnknownError,
        NeetoCalBookingGoneError,
        NeetoCalJournalUnreadableError,
    )


def __getattr__(name: str) -> Any:
    """``ROW_ERRORS`` (see :func:`row_errors`), built on first use."""
    if name == "ROW_ERRORS":
        return row_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class NeetoCalCreateBookingsOperator(NeetoCalBaseOperator):
    """Create one NeetoCal booking per row, in one task, each exactly once, several at a time.

    The alternative to mapping :class:`NeetoCalCreateBookingOperator` over rows when there are
    many: one task instance and one keep-alive HTTP session instead of one of each per booking, and
    ``max_concurrency`` rows in flight. Every row is validated before the first request, so a bad
    row in a batch of 500 fails the task with the row number and field, having sent nothing. Rows
    are then created with the same exactly-once rules as the single-booking operator (look-up,
    recovery of lost answers); rows of one attendee run one after the other (fixed slots first),
    different attendees in parallel. A row NeetoCal refuses (e.g. a taken slot) does not stop the
    others. The task fails at the end if any row failed, and a retry adopts the rows already booked
    instead of booking them again. A progress line is logged every ``progress_every_rows`` rows or
    ``progress_every_seconds`` seconds, and a summary table at the end.

    Returns a list aligned with the rows, compact by default: per row
    ``{"row", "sid", "status", "starts_at", "error"}`` where ``status`` is ``"created"``,
    ``"recovered"`` (an earlier attempt made it; adopted, not created again) or ``"failed"`` (then
    ``error`` says why and ``sid`` is ``None``). With ``return_full_bookings=True``: the booking as
    NeetoCal answered, or ``None`` for a row that failed (hold 10,000 of those in memory and XCom
    only if you need them). Also pushes ``booking_sids`` (aligned the same way) and ``failures``
    (row, email, error, permanent).

    :param bookings: the rows: a list of mappings with the create operator's arguments
        (``name``, ``email``, ``slot_start`` or ``slot_date``/``slot_start_time``, ...; on API v2
        also ``override_availability`` and ``host_email``, refused for every row before any request
        on v1), an upstream ``XComArg``, or a JSON string of such a list.
    :param meeting_slug: default for rows without one.
    :param time_zone: default for rows without one.
    :param preferred_meeting_spot: default for rows without one.
    :param if_exists: as for :class:`NeetoCalCreateBookingOperator`.
    :param fail_on_error: fail the task when a row failed (default); otherwise only report it.
    :param max_concurrency: rows in flight at once (default 4; 1 books one row at a time; at most 64).
    :param max_requests_per_second: requests per second for the whole task, all workers together
        (look-ups included), from 0.01 (one every 100 s) up; ``None`` (default) for no client-side
        limit. A 429 pauses every worker
        for its ``Retry-After`` either way.
    :param return_full_bookings: return the full bookings instead of the compact outcome per row.
    :param progress_every_rows: log a progress line after this many rows ...
    :param progress_every_seconds: ... or after this many seconds, whichever comes first.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    template_fields: Sequence[str] = (
        "bookings",
        "meeting_slug",
        "time_zone",
        "preferred_meeting_spot",
        "neetocal_conn_id",
    )
    template_fields_renderers = {"bookings": "json"}
    ui_color = "#e4f1fe"

    def __init__(
        self,
        *,
        bookings: Any,
        meeting_slug: str | None = None,
        time_zone: str | None = None,
        preferred_meeting_spot: str | None = None,
        if_exists: IfExists = "reuse",
        fail_on_error: bool = True,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_requests_per_second: float | None = None,
        return_full_bookings: bool = False,
        progress_every_rows: int = DEFAULT_PROGRESS_EVERY_ROWS,
        progress_every_seconds: float = DEFAULT_PROGRESS_EVERY_SECONDS,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.if_exists = if_exists if if_exists in IF_EXISTS_CHOICES else _refused_if_exists(if_exists)
        self.bookings = bookings
        self.meeting_slug = meeting_slug
        self.time_zone = time_zone
        self.preferred_meeting_spot = preferred_meeting_spot
        self.fail_on_error = fail_on_error
        self.max_concurrency = checked_concurrency(max_concurrency)
        # The pacer's module loads only when a rate is given (the default None needs no check).
        self.max_requests_per_second = (
            None if max_requests_per_second is None else _checked_rate(max_requests_per_second)
        )
        self.return_full_bookings = return_full_bookings
        self.progress_every_rows = progress_every_rows
        self.progress_every_seconds = progress_every_seconds

    def build_payloads(self) -> list[dict[str, Any]]:
        """Validate every row (with the operator's defaults) and build its payload, or raise for all."""
        from airflow_provider_neetocal.booking import build_booking_payload, is_absent
        from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

        rows = _rows(self.bookings)
        defaults = {
            "meeting_slug": self.meeting_slug,
            "time_zone": self.time_zone,
            "preferred_meeting_spot": self.preferred_meeting_spot,
        }
        payloads: dict[int, dict[str, Any]] = {}
        problems: list[FieldProblem] = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                problems.append(FieldProblem(f"bookings[{index}]", row, "expected a mapping of booking arguments"))
                continue
            unknown = sorted(set(row) - set(ROW_FIELDS))
            if unknown:
                problems.append(
                    FieldProblem(
                        f"bookings[{index}]", unknown, f"unknown keys; expected some of {', '.join(ROW_FIELDS)}"
                    )
                )
                continue
            arguments = {k: v for k, v in defaults.items() if not is_absent(v)} | dict(row)
            if "attendee_email" in arguments:
                if "email" in arguments:
                    problems.append(
                        FieldProblem(f"bookings[{index}]", row, "both email and attendee_email: give the attendee once")
                    )
                    continue
                arguments["email"] = arguments.pop("attendee_email")
            arguments.setdefault("meeting_slug", None)
            arguments.setdefault("name", None)
            arguments.setdefault("email", None)
            arguments.setdefault("time_zone", None)
            try:
                payloads[index] = build_booking_payload(**arguments)
            except NeetoCalValidationError as invalid:
                problems.extend(
                    FieldProblem(f"bookings[{index}].{p.field}", p.value, p.problem) for p in invalid.problems
                )
        problems.extend(_repeated_requests(payloads))
        if problems:
            raise NeetoCalValidationError(problems)
        return list(payloads.values())

    def execute(self, context: Context) -> list[dict[str, Any] | None]:
        """Validate all rows, then create each exactly once; report and fail at the end if any failed."""
        from airflow_provider_neetocal.exactly_once import ExactlyOnce
        from airflow_provider_neetocal.exceptions import NeetoCalBulkClientError, NeetoCalBulkError
        from airflow_provider_neetocal.operators.booking import run_start_of
        from airflow_provider_neetocal.pacing import Pacer

        payloads = self.build_payloads()
        check_rows_for_version(self.hook.api_version, payloads)
        self.warn_if_retry_delay_is_short()
        hook = self.hook
        hook.pacer = pacer = Pacer(self.max_requests_per_second, sleep=hook._sleep)
        hook.pool_maxsize = max(hook.pool_maxsize, self.max_concurrency)
        once = ExactlyOnce(
            hook,
            if_exists=self.if_exists,
            retrying=context["ti"].try_number > 1,
            run_started=run_start_of(context),
            journal=self.journal(context),
            try_number=context["ti"].try_number,
        )
        for payload in payloads:
            once.reserve(payload)
        batch = _Batch(
            len(payloads),
            log=self.log.info,
            every_rows=self.progress_every_rows,
            every_seconds=self.progress_every_seconds,
            keep_full=self.return_full_bookings,
        )
        self._stop = threading.Event()
        if once.list_before_sending(payloads):
            self.log.info("Listed the workspace's bookings once for this batch's look-ups")

        errors = row_errors()

        def book_group(indexes: list[int]) -> None:
            for index in indexes:
                if self._stop.is_set():
                    return
                payload = payloads[index]
                try:
                    booking, created = once.obtain(payload)
                except errors as error:
                    self.log.warning("Row %d (%s) was not booked: %s", index, payload["email"], error)
                    batch.failed(index, payload["email"], error)
                else:
                    batch.booked(index, booking, created)

        groups = attendee_groups(payloads)
        if self.max_concurrency == 1 or len(groups) == 1:
            for group in groups:
                book_group(group)
        else:
            self._run_in_threads(book_group, groups)
        ti = context["ti"]
        ti.xcom_push(key=BOOKING_SIDS_XCOM_KEY, value=batch.sids)
        failures = batch.failures()
        ti.xcom_push(key=FAILURES_XCOM_KEY, value=failures)
        for line in batch.summary(requests=pacer.requests, pauses=pacer.pauses):
            self.log.info("%s", line)
        if failures and self.fail_on_error:
            if all(f["permanent"] for f in failures):
                raise NeetoCalBulkClientError(failures, total=len(payloads))
            raise NeetoCalBulkError(failures, total=len(payloads))
        return batch.full if batch.full is not None else batch.outcomes

    def _run_in_threads(self, book_group: Callable[[list[int]], None], groups: list[list[int]]) -> None:
        """Run the groups on ``max_concurrency`` threads; the first unexpected error stops the rest."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        self.hook.session  # noqa: B018 - built once here, before any worker could race to build it
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="neetocal-bulk") as pool:
            futures = [pool.submit(book_group, group) for group in groups]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                self._stop.set()
                for future in futures:
                    future.cancel()
                raise

    def on_kill(self) -> None:
        """Stop starting rows, then release pooled HTTP connections."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
        super().on_kill()


def check_rows_for_version(version: str, payloads: Sequence[Mapping[str, Any]]) -> None:
    """Refuse, for every row at once, the fields the connection's API version does not take (nothing sent)."""
    from airflow_provider_neetocal.api_contract import check_create_fields, checked_api_version
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    problems: list[FieldProblem] = []
    for index, payload in enumerate(payloads):
        try:
            check_create_fields(checked_api_version(version), payload)
        except NeetoCalValidationError as refused:
            problems.extend(FieldProblem(f"bookings[{index}].{p.field}", p.value, p.problem) for p in refused.problems)
    if problems:
        raise NeetoCalValidationError(problems)


def _checked_rate(value: Any) -> float | None:
    from airflow_provider_neetocal.pacing import checked_rate

    return checked_rate(value)


def checked_concurrency(value: Any) -> int:
    """``value`` if it is a whole number from 1 to :data:`MAX_CONCURRENCY`; a DAG-parse-time error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"max_concurrency={value!r}: expected a whole number from 1 to {MAX_CONCURRENCY}")
    return value


def attendee_groups(payloads: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Row indexes grouped by attendee (email, ignoring case), each group fixed-slot rows first.

    One group runs in one worker, row after row, so an attendee's look-ups never race with their own
    POSTs. Groups with a fixed-slot row come first, then by first row, so one worker books in the
    order a one-at-a-time run always did.
    """
    from airflow_provider_neetocal.exactly_once import slot_start_utc

    groups: dict[str, list[int]] = {}
    for index, payload in enumerate(payloads):
        groups.setdefault(str(payload["email"]).lower(), []).append(index)
    ordered = [sorted(rows, key=lambda i: slot_start_utc(payloads[i]) is None) for rows in groups.values()]
    return sorted(ordered, key=lambda rows: (slot_start_utc(payloads[rows[0]]) is None, min(rows)))


def failure_reason(error: BaseException) -> str:
    """A short name for why a row failed, for the summary table."""
    from airflow_provider_neetocal.exceptions import (
        NeetoCalApiError,
        NeetoCalBookingClaimedError,
        NeetoCalBookingExistsError,
        NeetoCalBookingGoneError,
        NeetoCalBookingUnknownError,
        NeetoCalJournalUnreadableError,
    )

    if isinstance(error, NeetoCalBookingExistsError):
        return "already booked (if_exists='fail')"
    if isinstance(error, NeetoCalBookingClaimedError):
        return "claimed by another task or row"
    if isinstance(error, NeetoCalBookingGoneError):
        return "made earlier, cancelled since (not re-booked)"
    if isinstance(error, NeetoCalJournalUnreadableError):
        return "journal entry unreadable (nothing sent)"
    if isinstance(error, NeetoCalBookingUnknownError):
        return "sent, outcome unknown (a retry looks it up)" if error.sent else "cannot tell if booked (nothing sent)"
    if isinstance(error, NeetoCalApiError):
        return f"HTTP {error.status}" if error.status else "network error"
    return type(error).__name__


class _Batch:
    """What the rows came to, kept compact, with the progress line and the summary table.

    Thread-safe: workers report rows as they finish.
    """

    def __init__(
        self,
        total: int,
        *,
        log: Callable[..., None],
        every_rows: int,
        every_seconds: float,
        keep_full: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.outcomes: list[dict[str, Any] | None] = [None] * total
        self.sids: list[str | None] = [None] * total
        self.full: list[dict[str, Any] | None] | None = [None] * total if keep_full else None
        self._failures: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._log = log
        self._every_rows = max(int(every_rows), 1)
        self._every_seconds = float(every_seconds)
        self._clock = clock
        self._started = self._last_logged = clock()
        self._done_at_last_log = 0
        self._lock = threading.Lock()

    def booked(self, index: int, booking: Mapping[str, Any], created: bool) -> None:
        status = "created" if created else "recovered"
        sid = booking.get("sid")
        self.sids[index] = sid if isinstance(sid, str) else None
        self.outcomes[index] = {
            "row": index,
            "sid": self.sids[index],
            "status": status,
            "starts_at": booking.get("starts_at"),
            "error": None,
        }
        if self.full is not None:
            self.full[index] = dict(booking)
        self._count(status)

    def failed(self, index: int, email: str, error: BaseException) -> None:
        # One line per row: the error's first line (what happened, what to do), its details in parentheses.
        first, _, details = str(error).partition("\n")
        text = f"{first} ({' '.join(details.split())})" if details.strip() else first
        self.outcomes[index] = {"row": index, "sid": None, "status": "failed", "starts_at": None, "error": text}
        from airflow_provider_neetocal._compat import AirflowFailException

        permanent = isinstance(error, AirflowFailException)
        with self._lock:
            self._failures.append({"row": index, "email": email, "error": text, "permanent": permanent})
        self._count(f"failed: {failure_reason(error)}")

    def failures(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._failures, key=lambda f: f["row"])

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1
            done = sum(self._counts.values())
            now = self._clock()
            due = done - self._done_at_last_log >= self._every_rows or now - self._last_logged >= self._every_seconds
            if not due or done == self.total:
                return
            self._done_at_last_log, self._last_logged = done, now
            line = self._progress_line(done, now)
        self._log("%s", line)

    def _progress_line(self, done: int, now: float) -> str:
        failed = sum(n for key, n in self._counts.items() if key.startswith("failed"))
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate else float("inf")
        return (
            f"NeetoCal bulk booking: {done}/{self.total} rows done ({done - failed} booked, {failed} failed), "
            f"{rate:.1f} rows/s, ETA {eta:.0f} s"
        )

    def summary(self, *, requests: int, pauses: int) -> list[str]:
        """The final table: rows per outcome (created, recovered, failed by reason) and the cost."""
        with self._lock:
            counts = dict(self._counts)
        elapsed = max(self._clock() - self._started, 1e-9)
        rows = [("created", counts.pop("created", 0)), ("recovered (not created again)", counts.pop("recovered", 0))]
        rows += sorted(counts.items())
        width = max(len(name) for name, _ in rows)
        lines = [
            f"NeetoCal bulk booking: {self.total} rows in {elapsed:.1f} s ({self.total / elapsed:.1f} rows/s), "
            f"{requests} requests ({requests / max(self.total, 1):.2f} per row), {pauses} pauses for 429",
            f"  {'outcome'.ljust(width)}  rows",
        ]
        lines += [f"  {name.ljust(width)}  {count:>4}" for name, count in rows]
        return lines


def _rows(value: Any) -> list[Any]:
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NeetoCalValidationError(
                [FieldProblem("bookings", value, "a string that is not JSON: expected a list of booking rows")]
            ) from None
    # Any sequence: an upstream task's XCom arrives lazily (LazyXComSequence), not as a list.
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Sequence):
        raise NeetoCalValidationError([FieldProblem("bookings", value, "expected a list of booking rows (mappings)")])
    return list(value)


def _repeated_requests(payloads: dict[int, dict[str, Any]]) -> list[FieldProblem]:
    """Rows asking for the same booking: one booking can answer only one row, so they are refused.

    Same meeting, attendee and start; or, without a slot, the same meeting and attendee (NeetoCal
    would pick a slot for each, and a retry could not tell which booking belongs to which row).
    """
    from airflow_provider_neetocal.exactly_once import slot_start_utc
    from airflow_provider_neetocal.exceptions import FieldProblem

    first_row: dict[tuple[str, str, str | None], int] = {}
    problems: list[FieldProblem] = []
    for index, payload in payloads.items():
        start = slot_start_utc(payload)
        key = (
            str(payload["meeting_slug"]).lower(),
            str(payload["email"]).lower(),
            start.isoformat() if start else None,
        )
        if key in first_row:
            problems.append(
                FieldProblem(
                    f"bookings[{index}]",
                    payload["email"],
                    f"asks for the same booking as bookings[{first_row[key]}] (same meeting, attendee and "
                    f"{'start' if start else 'no slot'}): remove the duplicate row, or give each its own slot",
                )
            )
        else:
            first_row[key] = index
    return problems
