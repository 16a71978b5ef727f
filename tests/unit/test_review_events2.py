"""Second hostile review of the event trigger (branch events2), pure repros.

Each test states what should hold; each fails on the reviewed code (strict xfail, so the suite stays
green until it is fixed).
All now pass as plain tests (their strict xfail markers were removed with the fixes).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow_provider_neetocal.booking_changes import (
    BookingChangeTracker,
    Change,
    WatcherMemory,
    memory_value,
    restore_memory,
)
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

UTC = dt.timezone.utc
#: Airflow 3.3's default ``[state_store] max_value_storage_bytes``.
MAX_VALUE_STORAGE_BYTES = 65535


def _at(day: int, hour: int = 10) -> str:
    return dt.datetime(2030, 1, day, hour, tzinfo=UTC).isoformat().replace("+00:00", ".000Z")


def _booking(sid: str, starts_at: str, created_at: str | None = None) -> dict[str, Any]:
    out = {"sid": sid, "status": "confirmed", "starts_at": starts_at}
    if created_at is not None:
        out["created_at"] = created_at
    return out


def test_a_started_booking_moved_back_to_an_earlier_slot_gets_a_change_id_not_used_before() -> None:
    """Change ids must be unique per change (README: a DAG keys on ``change_id`` to drop re-deliveries).

    A booking moved A -> B (``@B#1``) -> C (``@C#2``) starts at C; the tracker retires it and forgets
    its move count. Moved later again to B, it is ``rescheduled`` (rule 4) with ``@B#1`` again: a DAG
    that keys on the id takes the real move for a re-delivery of the first one and drops it.
    """
    sid = "abc1234"
    tracker = BookingChangeTracker()
    tracker.observe_listing([_booking(sid, _at(7))], since=dt.datetime(2030, 1, 1, tzinfo=UTC))
    ids: list[str] = []
    for start in (_at(8), _at(9)):
        ids += [c.payload()["change_id"] for c in tracker.observe_listing([_booking(sid, start)])]
    # It starts at C (day 9): missing from the upcoming listing, re-read, started -> retired.
    tracker.observe_listing([])
    tracker.observe_recheck(sid, _booking(sid, _at(9)), now=dt.datetime(2030, 1, 9, 10, 5, tzinfo=UTC))
    assert sid not in tracker.known
    assert sid in tracker.retired
    ids += [c.payload()["change_id"] for c in tracker.observe_listing([_booking(sid, _at(8))])]
    assert len(ids) == 3
    assert len(set(ids)) == 3, ids


def test_a_booking_made_after_the_baseline_is_created_when_the_date_header_runs_two_seconds_ahead() -> None:
    """Every booking made after the baseline must reach a ``created`` event.

    ``since`` is the first answer's ``Date`` minus 1 s; ``created_at`` is written by NeetoCal's
    application/database clock. If the clock that stamps ``Date`` (a proxy, a CDN, another host) runs
    2 s ahead, a booking made 0.5 s after the baseline has ``created_at < since`` and is taken for one
    that existed before: it becomes known silently and is never emitted (a lost booking, not a
    duplicate). Nothing bounds the skew in the code or the README.
    """
    real_now = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    date_header_time = real_now + dt.timedelta(seconds=2)  # the Date clock is 2 s ahead
    tracker = BookingChangeTracker()
    tracker.observe_listing([], since=date_header_time - dt.timedelta(seconds=1))  # as _baseline does
    made = (real_now + dt.timedelta(milliseconds=500)).isoformat()
    changes = tracker.observe_listing([_booking("new0001", _at(7), created_at=made)])
    assert [c.kind for c in changes] == ["created"]


def _payload(i: int) -> dict[str, Any]:
    booking = {
        "sid": f"n{i:06d}",
        "status": "confirmed",
        "name": "Maria Fernanda de Souza Albuquerque",
        "email": f"maria.fernanda.souza.albuquerque{i}@example-company.com.br",
        "host_email": "scheduling-team-lead@example-company.com.br",
        "starts_at": _at(7),
        "ends_at": _at(7, 11),
        "time_zone": "America/Sao_Paulo",
        "meeting_slug": "product-demo-for-enterprise-customers",
        "created_at": _at(1),
    }
    return Change("created", booking).payload()


def test_a_default_watcher_catching_up_keeps_its_memory_within_the_store_limit() -> None:
    """The saved memory must stay within ~60 KB (the change's claim; Airflow warns above 64 KB).

    ``memory_value`` trims only retired bookings; the outbox (up to ``max_changes_per_event`` = 100
    full change payloads during a catch-up) is saved whole. 500 known bookings (half of what
    ``max_pages=10`` watches) and one full catch-up
    event with ordinary names and e-mails already exceed Airflow's default limit, so every save of a
    catch-up logs Airflow's oversize warning (and with a custom store backend may be refused).
    """
    trigger = NeetoCalBookingEventTrigger()
    tracker = BookingChangeTracker()
    tracker.observe_listing(
        [_booking(f"k{i:06d}", _at(2 + i % 20)) for i in range(500)], since=dt.datetime(2030, 1, 1, tzinfo=UTC)
    )
    memory = WatcherMemory(tracker, outbox=[_payload(i) for i in range(trigger.max_changes_per_event)])
    value = memory_value(memory, watch=trigger.watch_fingerprint(), now=dt.datetime(2030, 1, 1, tzinfo=UTC))
    assert len(json.dumps(value)) <= MAX_VALUE_STORAGE_BYTES


def test_a_memory_saved_by_the_previous_provider_version_is_caught_up_from_not_discarded() -> None:
    """Upgrading the provider must not lose the changes made while the triggerer was down for it.

    Format /2 only added ``since``, ``not_found`` and ``moves`` to /1 (all of which have a safe
    default: unknown, none, none). Yet a /1 memory is refused as "another format": the upgraded
    watcher starts from a fresh baseline, and a booking cancelled (or moved) during the upgrade's
    downtime is never emitted. The CHANGELOG says "starts once from a fresh baseline" but not that
    the changes of the downtime are lost.
    """
    trigger = NeetoCalBookingEventTrigger()
    now = dt.datetime(2030, 1, 1, tzinfo=UTC)
    tracker = BookingChangeTracker()
    tracker.observe_listing([_booking("k000001", _at(7))], since=now)
    value = memory_value(WatcherMemory(tracker), watch=trigger.watch_fingerprint(), now=now)
    old = {k: v for k, v in value.items() if k not in ("since", "not_found", "moves")}
    old["format"] = "neetocal-booking-changes/1"  # as main wrote it: [status, starts_at] per booking
    old["known"] = {sid: ["confirmed", start] for sid, start in value["known"].items()}
    old["retired"] = [[sid, "confirmed", start] for sid, start in value["retired"]]
    memory, why = restore_memory(old, watch=trigger.watch_fingerprint(), now=now, max_age=None)
    assert memory is not None, why
