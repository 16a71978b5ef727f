"""What a task remembers about its own writes across tries: the booking journal.

NeetoCal has no idempotency key, so after a lost answer only a look-up can tell whether a write
landed, and a look-up alone cannot tell *our* booking from one that looks the same (a sibling task's,
an earlier run's, a person's). What settles it is a record written before the write and kept across
tries: Airflow 3.3's task state store (AIP-103), one namespace per DAG run, task and map index, kept
across retries, worker crashes and clears. This module is that record's format (pure: no Airflow, no
HTTP) and a thin :class:`Journal` over any store with ``get`` / ``set``.

One entry per request, under a key derived from the request's identity (meeting, attendee, start),
so the bulk operator keeps one per row and a mapped instance one in its own namespace:

* ``state="sending"``, written **before** the request goes out, with the sids of the attendee's
  bookings listed just before (``before``) and NeetoCal's clock. A later try that finds it knows a
  write may have landed, and that none of ``before`` can be what it made.
* ``state="answered"``, written once NeetoCal answered (or a look-up found the booking), with the
  booking's ``sid``. A later try re-reads that booking instead of looking or sending.

No entry proves that this task never sent the request, because nothing is sent unless the
``sending`` entry was stored first (a store that fails stops the write). That proof is only as good
as the store's memory: Airflow's ``[state_store] clear_on_success`` deletes the entries when the task
succeeds, so with it on an empty journal proves nothing (see :attr:`Journal.proves_absence`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: The entry format this provider writes; an entry with another (or no) version is unreadable.
JOURNAL_FORMAT = 1
#: Prefix of every key this provider writes in a task's state store.
KEY_PREFIX = "neetocal"
#: The key saying from which try on this task instance journaled (see :meth:`Journal.begin`).
MARKER_KEY = f"{KEY_PREFIX}.journal"
#: What an entry can record about one request.
EntryState = Literal["sending", "answered"]
ENTRY_STATES: tuple[str, ...] = ("sending", "answered")
#: Operations that journal their writes.
Operation = Literal["create", "reschedule", "cancel"]
OPERATIONS: tuple[str, ...] = ("create", "reschedule", "cancel")


class StateStore(Protocol):
    """What the journal needs of Airflow's ``context["task_state_store"]`` (JSON values only)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: dt.timedelta | None = None) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One request's record.

    :param operation: ``create``, ``reschedule`` or ``cancel``.
    :param identity: the request's identity (see :func:`request_identity`), to tell a key's owner.
    :param state: ``sending`` (a write may have landed) or ``answered`` (``sid`` is the booking).
    :param before: sids of the attendee's bookings listed just before the write; ``None`` when that
        listing could not be made (then only creation times can tell a new booking apart).
    :param sid: the booking, once known.
    :param sent_at: when the write went out (this worker's clock, ISO 8601 UTC).
    :param neetocal_clock: NeetoCal's ``Date`` header of the last answer before the write, if any.
    :param try_number: the Airflow try that wrote the entry.
    :param sends: how many writes went out under this entry (all tries).
    :param returned_at: when the write's call came back without a usable answer (lost, refused): its
        flight is over, so a later try need not wait for it. ``None`` while it may still be in flight
        (the try died during the call).
    """

    operation: str
    identity: str
    state: str
    before: tuple[str, ...] | None = None
    sid: str | None = None
    sent_at: str | None = None
    neetocal_clock: str | None = None
    try_number: int | None = None
    sends: int = 0
    returned_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as the store keeps it: plain JSON, versioned."""
        return {
            "format": JOURNAL_FORMAT,
            "operation": self.operation,
            "identity": self.identity,
            "state": self.state,
            "before": sorted(self.before) if self.before is not None else None,
            "sid": self.sid,
            "sent_at": self.sent_at,
            "neetocal_clock": self.neetocal_clock,
            "try_number": self.try_number,
            "sends": self.sends,
            "returned_at": self.returned_at,
        }

    def answered(self, sid: str) -> Entry:
        """This entry once the booking is known."""
        return Entry(
            self.operation,
            self.identity,
            "answered",
            self.before,
            sid,
            self.sent_at,
            self.neetocal_clock,
            self.try_number,
            self.sends,
            self.returned_at,
        )

    def returned(self, now: dt.datetime) -> Entry:
        """This entry once its write's call came back without an answer (its flight is over)."""
        return dataclasses.replace(self, returned_at=now.astimezone(dt.timezone.utc).isoformat())


@dataclass(frozen=True)
class Unreadable:
    """A stored value this provider cannot read (another format, another key's owner, garbage)."""

    reason: str


def request_identity(operation: str, workspace: str, fields: Mapping[str, Any]) -> str:
    """A stable text naming one request: what must render the same on every try of a task.

    Only what identifies the booking goes in (for a create: meeting, attendee and start, compared
    the way NeetoCal compares them), not the whole body: a name spelled differently or metadata
    rendered from the clock on a retry is the same request, and must find the same entry.
    """
    canonical = {k: (v.lower() if isinstance(v, str) else v) for k, v in sorted(fields.items())}
    return json.dumps({"operation": operation, "workspace": workspace.lower().rstrip("/"), **canonical}, sort_keys=True)


def journal_key(operation: str, identity: str) -> str:
    """The store key of one request's entry: short (the store caps keys at 512 characters) and stable."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:40]
    return f"{KEY_PREFIX}.{operation}.{digest}"


def decode(value: Any, *, operation: str, identity: str) -> Entry | Unreadable | None:
    """The entry a store returned for a key: ``None`` when there is none, :class:`Unreadable` when it
    cannot be trusted (never guessed at: an entry read wrong could send a duplicate)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return Unreadable(f"the stored value is a {type(value).__name__}, not a journal entry")
    if value.get("format") != JOURNAL_FORMAT:
        return Unreadable(f"journal format {value.get('format')!r}; this provider reads format {JOURNAL_FORMAT}")
    if value.get("operation") != operation or value.get("identity") != identity:
        return Unreadable("the entry belongs to another request (its operation or identity differs)")
    state = value.get("state")
    if state not in ENTRY_STATES:
        return Unreadable(f"unknown entry state {state!r}")
    before = value.get("before")
    if before is not None and not (isinstance(before, list) and all(isinstance(s, str) for s in before)):
        return Unreadable("'before' is not a list of booking sids")
    sid = value.get("sid")
    if state == "answered" and not (isinstance(sid, str) and sid):
        return Unreadable("an answered entry without a booking sid")
    sends = value.get("sends", 0)
    try_number = value.get("try_number")
    texts = [value.get("sent_at"), value.get("neetocal_clock"), value.get("returned_at")]
    if (
        isinstance(sends, bool)
        or not isinstance(sends, int)
        or (try_number is not None and (isinstance(try_number, bool) or not isinstance(try_number, int)))
        or any(t is not None and not isinstance(t, str) for t in texts)
    ):
        return Unreadable("a field has the wrong type")
    return Entry(
        operation=operation,
        identity=identity,
        state=state,
        before=tuple(before) if before is not None else None,
        sid=sid if isinstance(sid, str) else None,
        sent_at=value.get("sent_at"),
        neetocal_clock=value.get("neetocal_clock"),
        try_number=try_number,
        sends=sends,
        returned_at=value.get("returned_at"),
    )


def sending(
    operation: str,
    identity: str,
    *,
    before: Iterable[str] | None,
    previous: Entry | None,
    now: dt.datetime,
    neetocal_clock: str | None,
    try_number: int,
) -> Entry:
    """The entry to store right before a write goes out (the count of writes carried over)."""
    return Entry(
        operation=operation,
        identity=identity,
        state="sending",
        before=tuple(sorted(set(before))) if before is not None else None,
        sid=None,
        sent_at=now.astimezone(dt.timezone.utc).isoformat(),
        neetocal_clock=neetocal_clock,
        try_number=try_number,
        sends=(previous.sends if previous is not None else 0) + 1,
    )


def in_flight_until(entry: Entry, *, request_deadline: float, settle: float) -> dt.datetime | None:
    """Until when the write an entry announced may still land (``None`` without a readable send time).

    A try that wrote ``sending`` and was then cut off during the call (a killed worker, a try that
    still runs) may still be waiting for NeetoCal: its write can land up to the request's deadline
    after it went out, plus the time NeetoCal takes to make a booking visible. A write whose call
    came back (``returned_at``) is no longer in flight: the try that sent it looked it up after.
    """
    if entry.returned_at is not None:
        return parse_utc(entry.returned_at)
    if entry.sent_at is None:
        return None
    sent = parse_utc(entry.sent_at)
    return sent + dt.timedelta(seconds=request_deadline + settle) if sent is not None else None


def landed_by(entry: Entry, *, request_deadline: float, margin: float = 2.0) -> dt.datetime | None:
    """By when, on NeetoCal's clock, the entry's send had made its booking if it made one (``None``: unknown).

    NeetoCal's clock just before the send (the ``Date`` of its last answer, whole seconds) plus the
    send's flight (until its call came back, at most the request's deadline) and ``margin`` for the
    ``Date`` header's lost fraction of a second. A booking NeetoCal processed later than that (after
    the client gave up) is then unknowable rather than adopted: no send, no adoption.
    """
    clock = http_date(entry.neetocal_clock)
    if clock is None:
        return None
    sent = parse_utc(entry.sent_at) if entry.sent_at else None
    returned = parse_utc(entry.returned_at) if entry.returned_at else None
    flight = request_deadline
    if sent is not None and returned is not None and returned >= sent:
        flight = min((returned - sent).total_seconds(), request_deadline)
    return clock + dt.timedelta(seconds=flight + margin)


def http_date(value: str | None) -> dt.datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime, or ``None``."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo is not None else None


def parse_utc(text: str) -> dt.datetime | None:
    """An ISO 8601 instant with an offset, or ``None``."""
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class JournalError(Exception):
    """The task state store failed: what it holds (or would hold) is unknown."""


class Journal:
    """A task's journal in a state store: entries read and written, every store failure typed.

    :param store: the task's state store (``context["task_state_store"]``).
    :param retention: kept with every entry (Airflow's ``NEVER_EXPIRE``: as long as the DAG run).
    :param proves_absence: whether a missing entry proves that this task never sent the request
        (``False`` when Airflow deletes entries on success: ``[state_store] clear_on_success``).
    """

    def __init__(self, store: StateStore, *, retention: dt.timedelta | None, proves_absence: bool) -> None:
        self.store = store
        self.retention = retention
        self.proves_absence = proves_absence
        # One store call at a time: the bulk operator journals from worker threads, and the in-process
        # supervisor of ``airflow dags test`` / ``dag.test()`` is not thread-safe (it removes the task's
        # comms channel while it handles a call, so a second thread's call fails with an ImportError).
        self._lock = threading.Lock()

    def begin(self, try_number: int) -> bool:
        """Claim the journal for this try; return whether every try of this task instance journaled.

        Only then does a missing entry prove that no try sent the request: a try run by a provider
        version without the journal (or on an Airflow without a task state store, upgraded while the
        run waited for its retry) sent without one, and Airflow's ``clear_on_success`` deletes the
        entries (this marker too) when the task succeeds. The marker keeps the first try that
        journaled and the latest try that started (see :meth:`superseded_by`).
        """
        try:
            with self._lock:
                value = self.store.get(MARKER_KEY)
                first = value.get("first_try") if isinstance(value, dict) else None
                if value is None:
                    first = try_number
                elif not (
                    isinstance(value, dict)
                    and value.get("format") == JOURNAL_FORMAT
                    and isinstance(first, int)
                    and not isinstance(first, bool)
                ):
                    first = max(try_number, 2)  # a marker this provider did not write proves nothing
                marker = {"format": JOURNAL_FORMAT, "first_try": first, "latest_try": try_number}
                self.store.set(MARKER_KEY, marker, retention=self.retention)
        except Exception as error:
            raise JournalError(f"reading or writing {MARKER_KEY!r} in the task state store failed: {error}") from error
        return first <= 1

    def superseded_by(self, try_number: int) -> int | None:
        """The newer try of this task instance that has started since, if any (checked before each send).

        A try that Airflow gave up on (its worker unreachable) may still run beside its successor. Each
        try claims the journal when it starts (:meth:`begin`) and, right after recording a send, checks
        that no newer try has claimed it: of two tries racing, one always sees the other (the newer one
        then finds the send's entry and waits for it), so the older stops instead of sending beside it.
        """
        try:
            with self._lock:
                value = self.store.get(MARKER_KEY)
        except Exception as error:
            raise JournalError(f"reading {MARKER_KEY!r} from the task state store failed: {error}") from error
        latest = value.get("latest_try") if isinstance(value, dict) else None
        if isinstance(latest, int) and not isinstance(latest, bool) and latest > try_number:
            return latest
        return None

    def read(self, operation: str, identity: str) -> Entry | Unreadable | None:
        """The request's entry; raises :class:`JournalError` when the store cannot be read."""
        key = journal_key(operation, identity)
        try:
            with self._lock:
                value = self.store.get(key)
        except Exception as error:
            raise JournalError(f"reading {key!r} from the task state store failed: {error}") from error
        return decode(value, operation=operation, identity=identity)

    def write(self, entry: Entry) -> None:
        """Store ``entry``; raises :class:`JournalError` when the store refuses it."""
        key = journal_key(entry.operation, entry.identity)
        try:
            with self._lock:
                self.store.set(key, entry.to_json(), retention=self.retention)
        except Exception as error:
            raise JournalError(f"writing {key!r} to the task state store failed: {error}") from error
