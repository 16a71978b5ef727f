"""What changed in a workspace's bookings between two polls: the event trigger's state, pure.

NeetoCal v1 has no webhooks in its external API, and ``GET /bookings`` has no sort order or "changed
since" filter. So ``NeetoCalBookingEventTrigger`` polls, and this module turns polls into changes:

1. Each poll lists ``GET /bookings?type=upcoming`` (every page up to a cap). The first poll of a
   trigger's life is the **baseline**: what it lists is known, nothing is emitted.
2. A listed booking not known before is ``created``; a known one whose ``starts_at`` moved is
   ``rescheduled``.
3. A known booking missing from a listing is re-read with ``GET /bookings/{sid}`` (at most
   ``max_rechecks`` per poll, the rest next poll). Cancelled or rejected is a ``cancelled`` change;
   a moved start is ``rescheduled``; gone (404) is forgotten silently. Otherwise the booking is the
   same as before, and whether it may be forgotten depends on **NeetoCal's clock** (the answer's
   ``Date`` header, :func:`~airflow_provider_neetocal.booking_wait.server_now`):

   * ``starts_at`` at or before NeetoCal's now: it has started and left the upcoming listing for
     good; it is forgotten silently (and remembered as *retired*, see 4).
   * otherwise (still upcoming, or its start is unreadable): it is **kept** and re-read again while it
     stays missing. It was missing for a reason that passes: the listing's pages shifted during the
     walk (a booking cancelled or created on an earlier page moves the others by one across a page
     boundary, so one booking can be skipped or listed twice), or it is awaiting approval (not
     ``confirmed``, so not "upcoming"). When it is listed again it is not new: no event.

4. A listed booking the tracker *retired* (forgotten as started; the last ``RETIRED_MEMORY`` of
   them) is known again, not ``created``: NeetoCal's "upcoming" may still list a booking at its
   start instant, and a started booking can be moved to a later slot (``rescheduled`` then).
   So a ``created`` event is only ever emitted for a booking this tracker never knew.

Exactly once: a change is emitted in the same step that records it in :attr:`BookingChangeTracker.known`,
so one tracker never emits a change twice. Across a triggerer restart the tracker starts again with a
baseline: nothing seen before is emitted again, and changes made while no triggerer ran are **not**
emitted (at most once; see the README for why and what to do about it).

Cost per poll, for N upcoming bookings (after filters) and R known bookings missing from the listing
(including those still awaiting approval, re-read each poll until they are listed again or end):
``max(1, ceil(N / 100))`` listing requests (capped at ``max_pages``) plus
``min(R, max_rechecks)`` single-booking reads. ``benchmarks/bench_event_trigger_poll.py`` measures it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_neetocal.booking_wait import ENDED_STATUSES, booking_summary, parse_instant
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

if TYPE_CHECKING:
    import datetime as dt

ChangeKind = Literal["created", "cancelled", "rescheduled"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("created", "cancelled", "rescheduled")
#: How many bookings forgotten as started the tracker still recognises if they are listed again.
RETIRED_MEMORY = 10_000


@dataclass(frozen=True)
class Change:
    """One change of one booking, as the event trigger emits it."""

    kind: ChangeKind
    booking: Mapping[str, Any]
    previous_starts_at: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON payload of the trigger event (and of the asset event's ``extra``)."""
        return {
            "change": self.kind,
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
    #: it were never watched, so one that comes into view (an earlier one was cancelled) is not new.
    horizon: dt.datetime | None = None
    #: Bookings forgotten because they started (oldest first, at most :data:`RETIRED_MEMORY`).
    retired: OrderedDict[str, _Known] = field(default_factory=OrderedDict)

    def observe_listing(self, upcoming: Iterable[Mapping[str, Any]], *, complete: bool = True) -> list[Change]:
        """Read one poll's upcoming listing; returns the changes it shows.

        :param complete: ``False`` when the page cap cut the listing: a known booking missing from it
            is re-checked only if it starts no later than the last one listed (the listing is
            ordered by start), since the others may simply be on a page not read.
        """
        listed: dict[str, Mapping[str, Any]] = {}
        for booking in upcoming:
            sid = booking.get("sid")
            if isinstance(sid, str) and sid and self._wanted(booking):
                listed[sid] = booking
        starts = [start for start in (parse_instant(b.get("starts_at")) for b in listed.values()) if start]
        last_start = max(starts, default=None)
        previous_horizon, self.horizon = self.horizon, (None if complete else last_start)
        if not self.baselined:
            self.known = {sid: _state(b) for sid, b in listed.items()}
            self.baselined = True
            return []
        changes: list[Change] = []
        for sid, booking in listed.items():
            before = self.known.get(sid)
            if before is None:
                before = self.retired.pop(sid, None)
            now = _state(booking)
            self.known[sid] = now
            if before is None:
                start = parse_instant(booking.get("starts_at"))
                if previous_horizon is not None and (start is None or start > previous_horizon):
                    continue  # came into view from beyond the last cut listing: not known to be new
                changes.append(Change("created", booking))
            elif before.starts_at != now.starts_at:
                changes.append(Change("rescheduled", booking, previous_starts_at=before.starts_at))
        for sid, state in self.known.items():
            if sid in listed or sid in self.pending_rechecks:
                continue
            if not complete:
                start = parse_instant(state.starts_at)
                if last_start is None or start is None or start > last_start:
                    continue
            self.pending_rechecks.append(sid)
        return [change for change in changes if change.kind in self.kinds]

    def next_rechecks(self, limit: int) -> list[str]:
        """Up to ``limit`` sids to read with ``GET /bookings/{sid}`` this poll, oldest first."""
        return self.pending_rechecks[:limit]

    def observe_recheck(self, sid: str, booking: Mapping[str, Any] | None, *, now: dt.datetime) -> list[Change]:
        """Read the answer for a re-checked sid (``None`` for 404); returns its change, if any.

        :param now: NeetoCal's time (aware) when it answered: a booking that starts later is still
            upcoming, so it is kept (see the module docstring, rule 3).
        """
        if sid in self.pending_rechecks:
            self.pending_rechecks.remove(sid)
        before = self.known.get(sid)
        if before is None:
            return []
        if booking is None:
            del self.known[sid]
            return []
        state = _state(booking)
        if state.status in ENDED_STATUSES:
            del self.known[sid]
            return [Change("cancelled", booking)] if "cancelled" in self.kinds else []
        self.known[sid] = state
        if state.starts_at != before.starts_at:
            return [Change("rescheduled", booking, before.starts_at)] if "rescheduled" in self.kinds else []
        start = parse_instant(state.starts_at)
        if start is not None and start <= now:
            # Started: it left the upcoming listing for good. Anything else is kept (rule 3).
            del self.known[sid]
            self.retired[sid] = state
            while len(self.retired) > RETIRED_MEMORY:
                self.retired.popitem(last=False)
        return []

    def _wanted(self, booking: Mapping[str, Any]) -> bool:
        return self.meeting_id is None or str(booking.get("meeting_id")) == self.meeting_id


def _state(booking: Mapping[str, Any]) -> _Known:
    starts_at = booking.get("starts_at")
    return _Known(
        status=str(booking.get("status") or "").lower(), starts_at=starts_at if isinstance(starts_at, str) else None
    )


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


__all__ = ["CHANGE_KINDS", "RETIRED_MEMORY", "BookingChangeTracker", "Change", "ChangeKind", "checked_kinds"]
