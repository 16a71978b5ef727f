"""What changed in a workspace's bookings between two polls: the event trigger's state, pure.

NeetoCal v1 has no webhooks in its external API, and ``GET /bookings`` has no sort order or "changed
since" filter. So ``NeetoCalBookingEventTrigger`` polls, and this module turns polls into changes:

1. Each poll lists ``GET /bookings?type=upcoming`` (every page up to a cap). The first poll of a
   trigger's life is the **baseline**: what it lists is known, nothing is emitted. It also notes
   NeetoCal's time then (:attr:`BookingChangeTracker.since`) and remembers the bookings that had
   already started (as far as they were read) as *retired* (see 4). Bookings made during its walks
   (the listing's count grew after its first answer) are known but *fresh*: ``created`` by the next
   listing (:attr:`BookingChangeTracker.fresh`).
2. A listed booking not known before is ``created`` if NeetoCal made it at or after the baseline
   (its ``created_at`` against ``since``; when either cannot be read, unless it came into view from
   beyond a cut listing). One made before was outside the baseline's listing (awaiting approval,
   started, beyond the page cap, skipped by a page shift): it becomes known, no event. A known one
   whose ``starts_at`` moved is ``rescheduled``.
3. A known booking missing from a listing is re-read with ``GET /bookings/{sid}`` (at most
   ``max_rechecks`` per poll, the rest next poll). Cancelled or rejected is a ``cancelled`` change;
   a moved start is ``rescheduled``. A 404 is believed only when :data:`GONE_AFTER` polls in a row
   answer it (one 404 may be transient; until then the booking stays known and is re-read); then it
   is forgotten silently. Otherwise the booking is the
   same as before, and whether it may be forgotten depends on **NeetoCal's clock** (the answer's
   ``Date`` header, :func:`~airflow_provider_neetocal.booking_wait.server_now`):

   * ``starts_at`` at or before NeetoCal's now: it has started and left the upcoming listing for
     good; it is forgotten silently (and remembered as *retired*, see 4).
   * otherwise (still upcoming, or its start is unreadable): it is **kept** and re-read again while it
     stays missing. It was missing for a reason that passes: the listing's pages shifted during the
     walk (a booking cancelled or created on an earlier page moves the others by one across a page
     boundary, so one booking can be skipped or listed twice), or it is awaiting approval (not
     ``confirmed``, so not "upcoming"). When it is listed again it is not new: no event.

4. A listed booking the tracker *retired* (forgotten as started, or already started at the
   baseline; the last ``RETIRED_MEMORY`` of them) is known again, not ``created``: NeetoCal's
   "upcoming" may still list a booking at its start instant, and a started booking can be moved to a
   later slot (``rescheduled`` then). So a ``created`` event is only ever emitted for a booking this
   tracker never knew, made after its baseline.

Exactly once within one tracker: a change is recorded in :attr:`BookingChangeTracker.known` in the
same step that returns it, so one tracker never returns a change twice.

Across restarts (Airflow 3.3+), the trigger keeps this tracker's memory in the asset state store:
:func:`memory_value` turns a :class:`WatcherMemory` (the tracker plus the *outbox*, the changes
recorded but not yet known to be delivered) into a JSON value, and :func:`restore_memory` reads one
back, checking every part of it: a value from another format, another watch, or garbage gives
``None`` and the reason, so the trigger starts from a fresh baseline and says why. A tracker
restored from memory is not a baseline: its first listing is compared with what it knew, so changes
made while no trigger ran are returned then (see docs/events.md for the bounds). Without a store
(Airflow 2.11 to 3.2) every trigger starts with a baseline, as before.

``limit`` (``observe_listing``) bounds the changes one poll records: a change beyond it is not
recorded, so the next poll finds it again (a catch-up of thousands of changes goes out in slices
instead of one huge event), as long as the booking is still upcoming then.

Cost per poll, for N upcoming bookings (after filters) and R known bookings missing from the listing
(including those still awaiting approval, re-read each poll until they are listed again or end):
``max(1, ceil(N / 100))`` listing requests (capped at ``max_pages``) plus
``min(R, max_rechecks)`` single-booking reads. ``benchmarks/bench_event_trigger_poll.py`` measures it.
The baseline (once per watcher's life on Airflow 3.3+) costs a second walk when the listing has
several pages (two walks that agree prove it), and up to 5 pages of ``type=past``. On API v2, when
the cap cuts the listing, new bookings are also read newest first (``sorting_key=created_at``) until
a page reaches a known booking: one more page per poll, usually.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_neetocal.booking_wait import ENDED_STATUSES, booking_summary, parse_instant
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

ChangeKind = Literal["created", "cancelled", "rescheduled"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("created", "cancelled", "rescheduled")
#: How many bookings forgotten as started the tracker still recognises if they are listed again.
RETIRED_MEMORY = 10_000
#: How many of those the saved memory keeps (the newest): the asset state store is meant for small
#: values (Airflow warns above ``[state_store] max_value_storage_bytes``, 64 KB by default).
SAVED_RETIRED = 500
#: The format tag of the memory :func:`memory_value` writes; a value with another tag is not read.
MEMORY_FORMAT = "neetocal-booking-changes/2"
#: The format provider versions before 2 wrote: read too, with safe defaults for what it lacks (no
#: baseline time, no 404s counted, no moves counted), so an upgrade catches up instead of starting over.
PREVIOUS_MEMORY_FORMAT = "neetocal-booking-changes/1"
#: How many polls in a row the re-check of a known booking must answer 404 before it is forgotten as
#: gone: one 404 may be transient (a proxy, a replica behind), and forgetting on it loses the
#: booking's cancellation and makes it ``created`` when it is listed again.
GONE_AFTER = 3
#: How far before the baseline time (:attr:`BookingChangeTracker.since`, from the first answer's
#: ``Date``) a booking's ``created_at`` may be and the booking still count as made after it:
#: ``created_at`` is written by NeetoCal's application clock, ``Date`` by whatever answers (a proxy,
#: a CDN), and the two may disagree by a few seconds. A booking made after the baseline is
#: ``created`` while that skew stays under this margin. The cost: a booking made within it *before*
#: the baseline and missing from the baseline's listing (awaiting approval, beyond the page cap) is
#: ``created`` when it is listed later (an event rather than a loss).
SINCE_MARGIN = dt.timedelta(seconds=30)
#: The most bytes :func:`memory_value` aims for: Airflow's ``[state_store] max_value_storage_bytes``
#: is 64 KB by default. Above it, retired bookings are dropped, oldest first (see :func:`memory_value`).
MEMORY_BUDGET = 60_000


def change_id(kind: str, booking: Mapping[str, Any], move: int = 0) -> str:
    """A stable name for one change of one booking, the same however often it is emitted.

    ``created:<sid>``, ``cancelled:<sid>``, ``rescheduled:<sid>@<new start>#<move>``: a DAG that must
    not act twice on a change re-delivered after a triggerer crash (see docs/events.md) keys on it.
    ``move`` numbers the moves of one booking the watcher has seen (1, 2, ...; kept in its memory), so
    a booking moved A to B, back to A and to B again has three ids, not two (``#<move>`` is left out
    when 0, the form of provider versions before it).
    """
    sid = booking.get("sid")
    if kind == "rescheduled":
        return f"rescheduled:{sid}@{booking.get('starts_at')}" + (f"#{move}" if move else "")
    return f"{kind}:{sid}"


@dataclass(frozen=True)
class Change:
    """One change of one booking, as the event trigger emits it."""

    kind: ChangeKind
    booking: Mapping[str, Any]
    previous_starts_at: str | None = None
    #: For ``rescheduled``: which move of this booking the tracker saw (1, 2, ...), see :func:`change_id`.
    move: int = 0

    def payload(self) -> dict[str, Any]:
        """The JSON payload of the trigger event (and of the asset event's ``extra``)."""
        return {
            "change": self.kind,
            "change_id": change_id(self.kind, self.booking, self.move),
            "booking_sid": self.booking.get("sid"),
            "booking": booking_summary(self.booking),
            "previous_starts_at": self.previous_starts_at,
        }


@dataclass
class _Known:
    status: str
    starts_at: str | None


@dataclass
class BookingChangeTracker:
    """Known bookings and the changes between polls (see the module docstring).

    :param kinds: which changes to report (all by default); the others still update the state.
    :param meeting_id: only bookings of this meeting (``meeting_id`` of the booking object), when set.
    """

    kinds: frozenset[str] = frozenset(CHANGE_KINDS)
    meeting_id: str | None = None
    known: dict[str, _Known] = field(default_factory=dict)
    baselined: bool = False
    pending_rechecks: list[str] = field(default_factory=list)
    #: Start of the last booking a cut listing showed (``None`` after a complete one): bookings beyond
    #: it were never watched, so one that comes into view (an earlier one was cancelled) is not new
    #: (the rule for a booking whose ``created_at`` cannot be read; see :attr:`since`).
    horizon: dt.datetime | None = None
    #: Bookings forgotten because they started (oldest first, at most :data:`RETIRED_MEMORY`).
    retired: OrderedDict[str, _Known] = field(default_factory=OrderedDict)
    #: Changes the last :meth:`observe_listing` left unrecorded because of its ``limit``.
    held_back: int = 0
    #: NeetoCal's time when the baseline was read (``None``: unknown). A listed booking this tracker
    #: never knew is ``created`` only if its ``created_at`` is at or after it: one made before was
    #: simply not in the baseline's listing (awaiting approval, started, beyond the page cap, skipped
    #: by a page shift) and is not new.
    since: dt.datetime | None = None
    #: Known bookings whose re-check answered 404, and in how many polls in a row (see :data:`GONE_AFTER`).
    not_found: dict[str, int] = field(default_factory=dict)
    #: How many moves of each known booking this tracker saw (for :func:`change_id`); absent: none.
    moves: dict[str, int] = field(default_factory=dict)
    #: Whether the baseline's look at bookings that had started is still to be done (it failed; the
    #: trigger tries it again before each poll, and the memory keeps this across a restart).
    started_owed: bool = False
    #: Bookings the baseline listed that NeetoCal made at or after :attr:`since` (during its walks,
    #: or within the second before): known (so a cancellation is seen), and ``created`` by the next
    #: listing that shows them.
    fresh: list[str] = field(default_factory=list)

    def observe_listing(
        self,
        upcoming: Iterable[Mapping[str, Any]],
        *,
        complete: bool = True,
        limit: int | None = None,
        since: dt.datetime | None = None,
        started: Iterable[Mapping[str, Any]] = (),
        newest: Iterable[Mapping[str, Any]] = (),
        present: Iterable[str] | None = None,
        grown: int = 0,
    ) -> list[Change]:
        """Read one poll's upcoming listing; returns the changes it shows.

        :param complete: ``False`` when the page cap cut the listing: a known booking missing from it
            is re-checked only if it starts no later than the last one listed (the listing is
            ordered by start), since the others may simply be on a page not read.
        :param limit: the most changes (of the wanted kinds) to record and return; the others are left
            unrecorded (counted in :attr:`held_back`), so the next listing shows them again.
        :param since: for the baseline: NeetoCal's time when its listing began (see :attr:`since`).
        :param started: for the baseline: bookings that had already started (recently, as far as
            they were read); remembered as retired, so one moved to a later slot is ``rescheduled``.
        :param newest: bookings read newest first beyond a cut listing (API v2): compared like listed
            ones, but they do not move the cut (a known booking missing from them is not re-checked).
        :param present: for the baseline: the sids its first answer listed (they existed then).
        :param grown: for the baseline: how many bookings its listing gained (net) after its first
            answer, so at least that many were made during its walks. That many of the listed
            bookings beyond ``present`` made at or after ``since``, the latest made first, are
            :attr:`fresh`: ``created`` by the next listing (``created_at`` alone cannot tell one made
            during the walk from one made in the same second before it: ``Date`` counts seconds).
        """
        self.held_back = 0
        listed: dict[str, Mapping[str, Any]] = {}
        for booking in upcoming:
            sid = booking.get("sid")
            if isinstance(sid, str) and sid and self._wanted(booking):
                listed[sid] = booking
        starts = [start for start in (parse_instant(b.get("starts_at")) for b in listed.values()) if start]
        last_start = max(starts, default=None)
        previous_horizon, self.horizon = self.horizon, (None if complete else last_start)
        extra: dict[str, Mapping[str, Any]] = {}
        for booking in newest:
            sid = booking.get("sid")
            if isinstance(sid, str) and sid and sid not in listed and self._wanted(booking):
                extra[sid] = booking
        if not self.baselined:
            taken = {**extra, **listed}
            self.known = {sid: _state(b) for sid, b in taken.items()}
            existed = set(present or ())
            candidates = [(str(b.get("created_at")), sid) for sid, b in taken.items() if sid not in existed]
            candidates = [(made, sid) for made, sid in candidates if _made_since(taken[sid], since)]
            self.fresh = [sid for _made, sid in sorted(candidates, reverse=True)[: max(grown, 0)]]
            self.since = since
            self.remember_started(started)
            self.baselined = True
            return []
        changes: list[Change] = []
        # ``newest`` comes newest first; compared oldest first, so the ones a ``limit`` holds back are
        # the newest: the next poll's newest-first read reaches them before any booking it knows.
        for sid, booking in [*listed.items(), *reversed(extra.items())]:
            before = self.known.get(sid)
            if before is None:
                before = self.retired.get(sid)
            now = _state(booking)
            change: Change | None = None
            if before is None or sid in self.fresh:
                if before is not None or self._new(booking, previous_horizon):
                    change = Change("created", booking)
                # else: it existed before the baseline, outside what was listed then: not new
            elif before.starts_at != now.starts_at:
                change = Change(
                    "rescheduled", booking, previous_starts_at=before.starts_at, move=self.moves.get(sid, 0) + 1
                )
            if change is not None and change.kind in self.kinds:
                if limit is not None and len(changes) >= limit:
                    self.held_back += 1
                    continue  # not recorded: the next listing shows it again
                changes.append(change)
            if change is not None and change.kind == "rescheduled":
                self.moves[sid] = change.move
            if sid in self.fresh:
                self.fresh.remove(sid)
            self.retired.pop(sid, None)
            self.not_found.pop(sid, None)
            self.known[sid] = now
        for sid, state in self.known.items():
            if sid in listed or sid in extra or sid in self.pending_rechecks:
                continue
            if not complete:
                start = parse_instant(state.starts_at)
                if last_start is None or start is None or start > last_start:
                    continue
            self.pending_rechecks.append(sid)
        return changes

    def remember_started(self, started: Iterable[Mapping[str, Any]]) -> None:
        """Remember bookings that had started when the watcher began (as retired, rule 4), so one
        moved to a later slot is ``rescheduled``. A booking known already is left as it is."""
        for booking in sorted(started, key=lambda b: str(b.get("starts_at") or "")):
            sid = booking.get("sid")
            fresh = isinstance(sid, str) and sid and sid not in self.known and sid not in self.retired
            if fresh and self._wanted(booking):
                self._retire(str(sid), _state(booking))

    def _new(self, booking: Mapping[str, Any], previous_horizon: dt.datetime | None) -> bool:
        """Whether a listed booking this tracker never knew is new (see :attr:`since`).

        Its ``created_at`` decides when it and :attr:`since` can be read: made at or after the
        baseline is new, before is not. When either cannot be read, the older rule: new unless it came
        into view from beyond the last cut listing (an unknown is emitted rather than lost).
        """
        created = parse_instant(booking.get("created_at"))
        if created is not None and self.since is not None:
            return created >= self.since - SINCE_MARGIN  # a Date clock ahead of created_at's: still new
        start = parse_instant(booking.get("starts_at"))
        return previous_horizon is None or (start is not None and start <= previous_horizon)

    def next_rechecks(self, limit: int) -> list[str]:
        """Up to ``limit`` sids to read with ``GET /bookings/{sid}`` this poll, oldest first."""
        return self.pending_rechecks[:limit]

    def observe_recheck(self, sid: str, booking: Mapping[str, Any] | None, *, now: dt.datetime) -> list[Change]:
        """Read the answer for a re-checked sid (``None`` for 404); returns its change, if any.

        A 404 is not taken as "gone" at once: the booking stays known (re-checked the next poll
        while it stays missing) until :data:`GONE_AFTER` polls in a row answered 404 for it.

        :param now: NeetoCal's time (aware) when it answered: a booking that starts later is still
            upcoming, so it is kept (see the module docstring, rule 3).
        """
        if sid in self.pending_rechecks:
            self.pending_rechecks.remove(sid)
        before = self.known.get(sid)
        if before is None:
            return []
        if booking is None:
            misses = self.not_found.get(sid, 0) + 1
            if misses >= GONE_AFTER:
                self._forget(sid)
            else:
                self.not_found[sid] = misses
            return []
        self.not_found.pop(sid, None)
        state = _state(booking)
        if state.status in ENDED_STATUSES:
            self._forget(sid)
            return [Change("cancelled", booking)] if "cancelled" in self.kinds else []
        self.known[sid] = state
        if state.starts_at != before.starts_at:
            move = self.moves.get(sid, 0) + 1
            self.moves[sid] = move
            if "rescheduled" in self.kinds:
                return [Change("rescheduled", booking, before.starts_at, move=move)]
            return []
        start = parse_instant(state.starts_at)
        if start is not None and start <= now:
            # Started: it left the upcoming listing for good. Anything else is kept (rule 3). Its move
            # count stays (a later move of it, rule 4, gets the next number: change ids never repeat).
            self.known.pop(sid, None)
            self.not_found.pop(sid, None)
            if sid in self.fresh:
                self.fresh.remove(sid)
            self._retire(sid, state)
        return []

    def defer_recheck(self, sid: str) -> None:
        """A re-check that could not be read this poll goes to the back of the queue (not forgotten)."""
        if sid in self.pending_rechecks:
            self.pending_rechecks.remove(sid)
            self.pending_rechecks.append(sid)

    def _forget(self, sid: str) -> None:
        if sid in self.fresh:
            self.fresh.remove(sid)
        self.known.pop(sid, None)
        self.not_found.pop(sid, None)
        self.moves.pop(sid, None)

    def _retire(self, sid: str, state: _Known) -> None:
        self.retired.pop(sid, None)
        self.retired[sid] = state
        while len(self.retired) > RETIRED_MEMORY:
            gone = self.retired.popitem(last=False)[0]
            if gone not in self.known:
                self.moves.pop(gone, None)

    def _wanted(self, booking: Mapping[str, Any]) -> bool:
        return self.meeting_id is None or str(booking.get("meeting_id")) == self.meeting_id


def _made_since(booking: Mapping[str, Any], since: dt.datetime | None) -> bool:
    created = parse_instant(booking.get("created_at"))
    return since is not None and created is not None and created >= since


def _state(booking: Mapping[str, Any]) -> _Known:
    starts_at = booking.get("starts_at")
    readable = isinstance(starts_at, str) and parse_instant(starts_at) is not None
    return _Known(status=str(booking.get("status") or "").lower(), starts_at=starts_at if readable else None)


@dataclass
class WatcherMemory:
    """What a watching trigger knows, as it is saved between polls and restarts.

    :param tracker: the known bookings, the pending re-checks, the horizon and the retired bookings.
    :param outbox: payloads of changes recorded but not yet known to have reached Airflow: they go
        out (again) with the next event, until a poll interval has passed after the event that
        carried them (see ``NeetoCalBookingEventTrigger``: at least once across a triggerer crash).
    :param saved_at: when this memory was last current (aware UTC), ``None`` before the first save.
    """

    tracker: BookingChangeTracker
    outbox: list[dict[str, Any]] = field(default_factory=list)
    saved_at: dt.datetime | None = None

    def add(self, changes: Iterable[Change]) -> None:
        """Put recorded changes in the outbox (a change already there is not added twice)."""
        present = {item.get("change_id") for item in self.outbox}
        for change in changes:
            payload = change.payload()
            if payload["change_id"] not in present:
                present.add(payload["change_id"])
                self.outbox.append(payload)


def memory_value(memory: WatcherMemory, *, watch: str, now: dt.datetime) -> dict[str, Any]:
    """``memory`` as the JSON value the asset state store keeps (also ``memory.saved_at = now``).

    Bounded to about :data:`MEMORY_BUDGET` bytes: what must be kept (known bookings, pending
    re-checks, the outbox) always is, the outbox's bookings cut to sid, status, start and end when
    the whole would not fit; retired bookings (those that started, at most
    :data:`SAVED_RETIRED`) fill the room left, newest first, and the oldest are dropped. A dropped one
    that is listed again is not ``created`` (it was made before the baseline) but a move of it to a
    later slot then reaches no ``rescheduled`` event. A known part above the budget on its own (more
    than about 1,300 known bookings) is saved whole, and Airflow warns.

    :param watch: what the trigger watches (its fingerprint), checked when the value is read back.
    :param now: aware time of the poll this memory is current to.
    """
    memory.saved_at = now
    tracker = memory.tracker
    value: dict[str, Any] = {
        "format": MEMORY_FORMAT,
        "watch": watch,
        "saved_at": now.astimezone(dt.timezone.utc).isoformat(),
        "baselined": tracker.baselined,
        "since": tracker.since.astimezone(dt.timezone.utc).isoformat() if tracker.since else None,
        "known": {sid: state.starts_at for sid, state in tracker.known.items()},
        "pending_rechecks": list(tracker.pending_rechecks),
        "not_found": {sid: n for sid, n in tracker.not_found.items() if sid in tracker.known},
        "moves": {sid: n for sid, n in tracker.moves.items() if sid in tracker.known},  # + kept retired, below
        "horizon": tracker.horizon.astimezone(dt.timezone.utc).isoformat() if tracker.horizon else None,
        "started_owed": tracker.started_owed,
        "fresh": [sid for sid in tracker.fresh if sid in tracker.known],
        "retired": [],
        "outbox": [dict(item) for item in memory.outbox],
    }
    room = MEMORY_BUDGET - len(json.dumps(value))
    if room < 0 and memory.outbox:
        # The outbox alone may be 100 full bookings: saved with each booking cut to what names the
        # change (sid, status, starts_at, ends_at), so a change re-emitted after a crash still goes
        # out (its DAG can read the rest with the booking's sid); the events from RAM are whole.
        value["outbox"] = [
            {**item, "booking": {k: v for k, v in item["booking"].items() if k in _OUTBOX_FIELDS}}
            for item in memory.outbox
        ]
        room = MEMORY_BUDGET - len(json.dumps(value))
    kept: list[list[Any]] = []
    for sid, state in reversed(list(tracker.retired.items())[-SAVED_RETIRED:]):
        entry = [sid, state.starts_at]
        room -= len(json.dumps(entry)) + 2
        if room < 0:
            break
        kept.append(entry)
    value["retired"] = kept[::-1]
    for sid, _start in kept:  # the move counts of the retired bookings kept (a few bytes each)
        if sid in tracker.moves:
            value["moves"][sid] = tracker.moves[sid]
    return value


#: The booking fields an outbox entry keeps when the memory is over :data:`MEMORY_BUDGET`.
_OUTBOX_FIELDS = frozenset({"sid", "status", "starts_at", "ends_at"})


class _UnreadableMemoryError(ValueError):
    """A saved memory that cannot be trusted; its message says which part, never the value."""


def restore_memory(
    value: Any,
    *,
    watch: str,
    kinds: frozenset[str] = frozenset(CHANGE_KINDS),
    meeting_id: str | None = None,
    now: dt.datetime,
    max_age: float | None,
) -> tuple[WatcherMemory | None, str]:
    """Read back a value :func:`memory_value` wrote; ``(None, why)`` when it cannot be used.

    ``None`` means: start from a fresh baseline (changes made while no trigger ran are not emitted),
    and ``why`` says why, for a warning (``""`` when nothing was saved yet). Everything is checked:
    the format tag, the watch, each known booking, the outbox; a value written by an older provider
    (another tag), by another watch or garbage is never half-read, so it can neither crash the trigger
    nor make it emit the whole workspace as new.

    :param max_age: seconds after which saved memory is too old to catch up from (``None``: no limit).
        A watcher paused for longer starts over with a baseline rather than emitting a backlog.
    """
    if value is None:
        return None, ""
    try:
        memory, saved_at = _read_memory(value, watch=watch, kinds=kinds, meeting_id=meeting_id)
    except _UnreadableMemoryError as problem:
        return None, f"saved memory not usable ({problem}): starting from a fresh baseline"
    age = (now - saved_at).total_seconds()
    if max_age is not None and age > max_age:
        return None, (
            f"saved memory is {age / 86400:.1f} days old, more than max_catch_up_age "
            f"({max_age / 86400:.1f} days): starting from a fresh baseline; changes made meanwhile are not emitted"
        )
    return memory, ""


def _read_memory(
    value: Any, *, watch: str, kinds: frozenset[str], meeting_id: str | None
) -> tuple[WatcherMemory, dt.datetime]:
    if not isinstance(value, dict):
        raise _UnreadableMemoryError(f"expected a JSON object, got {type(value).__name__}")
    if value.get("format") == PREVIOUS_MEMORY_FORMAT:
        value = _upgraded(value)
    if value.get("format") != MEMORY_FORMAT:
        raise _UnreadableMemoryError(f"format is not {MEMORY_FORMAT!r}")
    if value.get("watch") != watch:
        raise _UnreadableMemoryError("written for another watch")
    saved_at = _instant(value.get("saved_at"), "saved_at")
    if saved_at is None:
        raise _UnreadableMemoryError("saved_at missing")
    if value.get("baselined") is not True:
        raise _UnreadableMemoryError("baselined is not true")
    known_raw = value.get("known")
    if not isinstance(known_raw, dict):
        raise _UnreadableMemoryError("known is not an object")
    known = {sid: _known_state(sid, item, "known") for sid, item in known_raw.items()}
    not_found = _counts(value.get("not_found"), "not_found", known)
    pending = value.get("pending_rechecks")
    if not isinstance(pending, list) or not all(isinstance(sid, str) for sid in pending):
        raise _UnreadableMemoryError("pending_rechecks is not a list of sids")
    retired: OrderedDict[str, _Known] = OrderedDict()
    retired_raw = value.get("retired")
    if not isinstance(retired_raw, list):
        raise _UnreadableMemoryError("retired is not a list")
    for item in retired_raw:
        if not isinstance(item, list) or len(item) != 2:
            raise _UnreadableMemoryError("a retired entry is not [sid, starts_at]")
        retired[_sid(item[0], "retired")] = _known_state(item[0], item[1], "retired")
    fresh = value.get("fresh", [])  # absent: a memory saved before it was kept
    if not isinstance(fresh, list) or not all(isinstance(sid, str) for sid in fresh):
        raise _UnreadableMemoryError("fresh is not a list of sids")
    started_owed = value.get("started_owed", False)  # absent: a memory saved before it was kept
    if not isinstance(started_owed, bool):
        raise _UnreadableMemoryError("started_owed is not true or false")
    moves = _counts(value.get("moves"), "moves", {**known, **retired})
    outbox = value.get("outbox")
    if not isinstance(outbox, list) or not all(_outbox_item(item, kinds) for item in outbox):
        raise _UnreadableMemoryError("outbox is not a list of change payloads")
    tracker = BookingChangeTracker(
        kinds=kinds,
        meeting_id=meeting_id,
        known=known,
        baselined=True,
        pending_rechecks=[sid for sid in dict.fromkeys(pending) if sid in known],
        horizon=_instant(value.get("horizon"), "horizon"),
        retired=retired,
        since=_instant(value.get("since"), "since"),
        not_found=not_found,
        moves=moves,
        started_owed=started_owed,
        fresh=[sid for sid in dict.fromkeys(fresh) if sid in known],
    )
    return WatcherMemory(tracker=tracker, outbox=[dict(item) for item in outbox], saved_at=saved_at), saved_at


def _upgraded(value: dict[str, Any]) -> dict[str, Any]:
    """A :data:`PREVIOUS_MEMORY_FORMAT` value in the current form: ``[status, starts_at]`` per known
    booking and ``[sid, status, starts_at]`` per retired one become starts only (the status was never
    used once read back); ``since`` unknown (the older rule for new bookings), no 404s and no moves
    counted (the next move of a booking is ``#1`` again: a DAG that keys on ``change_id`` sees the id
    of a move it may have seen under the older provider, which wrote no ``#`` at all)."""
    known = value.get("known")
    retired = value.get("retired")
    if not isinstance(known, dict) or not all(isinstance(item, list) and len(item) == 2 for item in known.values()):
        raise _UnreadableMemoryError("known (format 1) is not an object of [status, starts_at]")
    if not isinstance(retired, list) or not all(isinstance(item, list) and len(item) == 3 for item in retired):
        raise _UnreadableMemoryError("retired (format 1) is not a list of [sid, status, starts_at]")
    return {
        **value,
        "format": MEMORY_FORMAT,
        "known": {sid: item[1] for sid, item in known.items()},
        "retired": [[item[0], item[2]] for item in retired],
        "since": None,
        "not_found": {},
        "moves": {},
    }


def _sid(sid: Any, where: str) -> str:
    if not isinstance(sid, str) or not sid:
        raise _UnreadableMemoryError(f"a sid in {where} is not a non-empty string")
    return sid


def _known_state(sid: Any, item: Any, where: str) -> _Known:
    """A saved start (``None`` or a time with a zone, as NeetoCal wrote it); the status is not saved."""
    _sid(sid, where)
    if not (item is None or (isinstance(item, str) and parse_instant(item) is not None)):
        raise _UnreadableMemoryError(f"a start in {where} is not null or an ISO 8601 time with a zone")
    return _Known(status="", starts_at=item)


def _counts(raw: Any, where: str, known: Mapping[str, _Known]) -> dict[str, int]:
    if not isinstance(raw, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in raw.values()
    ):
        raise _UnreadableMemoryError(f"{where} is not an object of counts")
    return {sid: n for sid, n in raw.items() if sid in known}


def _instant(value: Any, name: str) -> dt.datetime | None:
    if value is None:
        return None
    instant = parse_instant(value) if isinstance(value, str) else None
    if instant is None:
        raise _UnreadableMemoryError(f"{name} is not an ISO 8601 time with a zone")
    return instant


def _outbox_item(item: Any, kinds: frozenset[str]) -> bool:
    return (
        isinstance(item, dict)
        and item.get("change") in kinds
        and isinstance(item.get("change_id"), str)
        and isinstance(item.get("booking_sid"), str)
        and isinstance(item.get("booking"), dict)
    )


def changes_of(triggering_asset_events: Any) -> list[dict[str, Any]]:
    """Every booking change the triggering asset events of a DAG run carry, each once, in order.

    For a task of an asset-scheduled DAG: pass it ``triggering_asset_events``. Each event of
    ``NeetoCalBookingEventTrigger`` carries a list (``payload["changes"]``); a run may have several
    events (Airflow merges events that arrive together), and a change re-delivered after a triggerer
    crash comes with the same ``change_id``, so duplicates are dropped here. A payload of one change
    (provider versions before the list) is read too; events of other sources are skipped.
    """
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    groups = triggering_asset_events.values() if isinstance(triggering_asset_events, Mapping) else []
    for events in groups:
        for event in events or []:
            extra = getattr(event, "extra", None)
            if extra is None and isinstance(event, Mapping):
                extra = event.get("extra")
            payload = extra.get("payload") if isinstance(extra, Mapping) else None
            if not isinstance(payload, Mapping):
                continue
            items = payload.get("changes") if "changes" in payload else [payload]
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, Mapping) or item.get("change") not in CHANGE_KINDS:
                    continue
                booking = item.get("booking") if isinstance(item.get("booking"), Mapping) else {}
                key = item.get("change_id") or change_id(
                    str(item["change"]), booking or {"sid": item.get("booking_sid")}
                )
                if key in seen:
                    continue
                seen.add(key)
                found.append(dict(item))
    return found


def checked_kinds(value: Any) -> frozenset[str]:
    """``changes`` argument: a subset of :data:`CHANGE_KINDS` (all when ``None``)."""
    if value is None:
        return frozenset(CHANGE_KINDS)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or not items or not all(isinstance(v, str) and v in CHANGE_KINDS for v in items):
        raise NeetoCalValidationError(
            [FieldProblem("changes", value, f"expected a non-empty list of {', '.join(CHANGE_KINDS)}")]
        )
    return frozenset(items)


__all__ = [
    "CHANGE_KINDS",
    "MEMORY_FORMAT",
    "PREVIOUS_MEMORY_FORMAT",
    "RETIRED_MEMORY",
    "SAVED_RETIRED",
    "SINCE_MARGIN",
    "BookingChangeTracker",
    "Change",
    "ChangeKind",
    "WatcherMemory",
    "change_id",
    "changes_of",
    "checked_kinds",
    "memory_value",
    "restore_memory",
]
