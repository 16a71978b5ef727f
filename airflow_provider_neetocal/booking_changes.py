"""What changed in a workspace's bookings between two polls: the event trigger's state, pure.

NeetoCal v1 has no webhooks in its external API, and ``GET /bookings`` has no sort order or "changed
since" filter. So ``NeetoCalBookingEventTrigger`` polls, and this module turns polls into changes:

1. Each poll lists ``GET /bookings?type=upcoming`` (every page up to a cap). The first poll of a
   trigger's life is the **baseline**: what it lists is known, nothing is emitted.
2. A listed booking not known before is ``created``; a known one whose ``starts_at`` moved is
   ``rescheduled``.
3. A known booking that left the upcoming listing was cancelled, rejected, or has started: each is
   re-read once with ``GET /bookings/{sid}`` (at most ``max_rechecks`` per poll, the rest next poll).
   Cancelled or rejected is a ``cancelled`` change; started, or gone (404), is forgotten silently.

Exactly once: a change is emitted in the same step that records it in :attr:`BookingChangeTracker.known`,
so one tracker never emits a change twice. Across a triggerer restart the tracker starts again with a
baseline: nothing seen before is emitted again, and changes made while no triggerer ran are **not**
emitted (at most once; see the README for why and what to do about it).

Cost per poll, for N upcoming bookings (after filters) and R known bookings that left the listing
since the last poll: ``max(1, ceil(N / 100))`` listing requests (capped at ``max_pages``) plus
``min(R, max_rechecks)`` single-booking reads. ``benchmarks/bench_event_trigger_poll.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_neetocal.booking_wait import ENDED_STATUSES, booking_summary, parse_instant
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

if TYPE_CHECKING:
    import datetime as dt

ChangeKind = Literal["created", "cancelled", "rescheduled"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("created", "cancelled", "rescheduled")


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

    def observe_recheck(self, sid: str, booking: Mapping[str, Any] | None) -> list[Change]:
        """Read the answer for a re-checked sid (``None`` for 404); returns its change, if any."""
        if sid in self.pending_rechecks:
            self.pending_rechecks.remove(sid)
        before = self.known.get(sid)
        if before is None:
            return []
        if booking is None:
            del self.known[sid]
            return []
        now = _state(booking)
        if now.status in ENDED_STATUSES:
            del self.known[sid]
            return [Change("cancelled", booking)] if "cancelled" in self.kinds else []
        if now.starts_at != before.starts_at:
            self.known[sid] = now
            return [Change("rescheduled", booking, before.starts_at)] if "rescheduled" in self.kinds else []
        # Still the same booking: it left the upcoming listing because it started (or awaits approval).
        del self.known[sid]
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


__all__ = ["CHANGE_KINDS", "BookingChangeTracker", "Change", "ChangeKind", "checked_kinds"]
