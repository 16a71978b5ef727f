"""Triggers that watch NeetoCal bookings from the triggerer, holding no worker slot.

* :class:`NeetoCalBookingTrigger`: the deferred half of ``NeetoCalBookingSensor``. Polls one booking
  with ``GET /bookings/{sid}`` until :func:`~airflow_provider_neetocal.booking_wait.judge` says it is
  met or can never be, or the sensor's deadline passes; yields exactly one event.
* :class:`NeetoCalBookingEventTrigger`: for an ``AssetWatcher`` (Airflow 3.1+). Polls a workspace's
  upcoming bookings and yields one event per new, cancelled or rescheduled booking (see
  :mod:`airflow_provider_neetocal.booking_changes` for how, at what cost, and what a restart does).

Both only ever read (the async client refuses anything but ``GET``): a triggerer restart re-runs
them from their serialised arguments and they cannot create, cancel or move a booking. The HTTP
stack is imported when a trigger runs, never when this module is imported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import BaseEventTrigger, BaseTrigger, TriggerEvent
from airflow_provider_neetocal.booking_changes import BookingChangeTracker, checked_kinds
from airflow_provider_neetocal.booking_wait import (
    booking_summary,
    checked_wait,
    error_event,
    judge,
    server_now,
)
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    NeetoCalValidationError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient

#: Classpaths as Airflow stores them (``serialize()``).
BOOKING_TRIGGER = "airflow_provider_neetocal.triggers.booking.NeetoCalBookingTrigger"
BOOKING_EVENT_TRIGGER = "airflow_provider_neetocal.triggers.booking.NeetoCalBookingEventTrigger"


def _client(conn_id: str, api_version: str | None, deadline: float | None = None) -> NeetoCalAsyncClient:
    from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient

    return NeetoCalAsyncClient(conn_id, api_version=api_version, deadline=deadline)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_seconds(name: str, value: Any, *, positive: bool) -> float:
    """A finite number of seconds as ``float`` (so ``60`` and ``60.0`` serialise alike), else a problem.

    nan and inf pass ``< 0`` checks but make a poll loop spin (``asyncio.sleep(nan)`` returns at once)
    or never time out, so they are refused like a negative number.
    """
    if not _is_number(value) or value < 0 or (positive and value == 0):
        expected = "a finite number of seconds" + (" above 0" if positive else ", 0 or more")
        raise NeetoCalValidationError([FieldProblem(name, value, f"expected {expected}, e.g. 60.0")])
    return float(value)


def _checked_count(name: str, value: Any) -> int:
    """A whole number of 1 or more as ``int`` (``10.0`` becomes ``10``)."""
    if not _is_number(value) or value < 1 or value != int(value):
        raise NeetoCalValidationError([FieldProblem(name, value, "expected a whole number of 1 or more, e.g. 10")])
    return int(value)


def _checked_conn_id(value: Any) -> str:
    """A connection id as given; an empty or blank one is refused here, not by the triggerer later."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise NeetoCalValidationError(
            [
                FieldProblem(
                    "neetocal_conn_id",
                    value,
                    f"expected the id of a neetocal connection, without surrounding spaces, e.g. {DEFAULT_CONN_ID!r}",
                )
            ]
        )
    return value


def _checked_api_version(value: Any) -> Any:
    """``api_version`` as given, once the hook's own rule accepts it (``v1``, ``v2``; unset: the connection's)."""
    from airflow_provider_neetocal.api_contract import checked_api_version
    from airflow_provider_neetocal.exceptions import NeetoCalConfigError

    try:
        checked_api_version(value)
    except NeetoCalConfigError as refused:
        raise NeetoCalValidationError([FieldProblem("api_version", value, refused.problem)]) from None
    return value


def _checked_slug(value: Any) -> str | None:
    """``None`` (every meeting) or a meeting slug that cannot change the request path."""
    if value is None:
        return None
    from airflow_provider_neetocal.booking import checked_meeting_slug

    return checked_meeting_slug(value)


def _normalised_strings(values: Any) -> Any:
    """A list of strings sorted and de-duplicated, so the same choice always serialises (and hashes)
    the same; anything else unchanged, for the trigger's own check to refuse with its message."""
    if isinstance(values, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in values):
        return sorted(set(values))
    return values


class NeetoCalBookingTrigger(BaseTrigger):
    """Wait in the triggerer until a booking reaches a status or its start / end has passed.

    Yields one event: ``{"status": "success" | "ended" | "timeout" | "error", "booking_sid",
    "message", "booking"}`` (``booking``: the compact summary; for ``error`` an ``error`` object that
    :func:`~airflow_provider_neetocal.booking_wait.exception_from_event` turns back into the typed
    exception). 429, 5xx and network errors are retried with back-off by the client (its
    :class:`~airflow_provider_neetocal.retries.RetryPolicy`); what is left after that is an error event.

    :param booking_sid: the booking to watch.
    :param wait_for: ``"status"``, ``"start"`` or ``"end"``.
    :param target_statuses: for ``"status"``: the statuses that end the wait (``["confirmed"]`` when ``None``).
    :param neetocal_conn_id: the ``neetocal`` connection.
    :param api_version: ``"v1"`` / ``"v2"``; the connection's when ``None``.
    :param poll_interval: seconds between reads (a finite number, 0 or more).
    :param deadline: absolute end of the wait (POSIX seconds), so a triggerer restart keeps it; none when
        ``None``. No retry wait of the client reaches past it (a 429 storm ends in a ``timeout`` event).

    A non-finite or negative ``poll_interval`` or ``deadline`` is refused when the trigger is built
    (:class:`~airflow_provider_neetocal.exceptions.NeetoCalValidationError` naming the argument), as
    Airflow's ``DateTimeTrigger`` refuses a naive datetime: built in the worker by the sensor, it
    fails the task before anything is sent. Numbers are stored as ``float`` and ``target_statuses``
    sorted and de-duplicated, so the serialised arguments do not depend on how they were written.
    """

    def __init__(
        self,
        *,
        booking_sid: str,
        wait_for: str = "status",
        target_statuses: list[str] | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        api_version: str | None = None,
        poll_interval: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.booking_sid = booking_sid
        self.wait_for = wait_for
        self.target_statuses = _normalised_strings(target_statuses if target_statuses is not None else ["confirmed"])
        self.neetocal_conn_id = neetocal_conn_id
        self.api_version = api_version
        self.poll_interval = _checked_seconds("poll_interval", poll_interval, positive=False)
        self.deadline = None if deadline is None else _checked_seconds("deadline", deadline, positive=False)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Every constructor argument, so the triggerer can rebuild this trigger after a restart."""
        return (
            BOOKING_TRIGGER,
            {
                "booking_sid": self.booking_sid,
                "wait_for": self.wait_for,
                "target_statuses": self.target_statuses,
                "neetocal_conn_id": self.neetocal_conn_id,
                "api_version": self.api_version,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the wait is decided; yield one event, then return."""
        yield TriggerEvent(await self._decide())

    async def _decide(self) -> dict[str, Any]:
        from airflow_provider_neetocal.api_contract import get_booking

        sid = self.booking_sid
        try:
            spec = checked_wait(self.wait_for, self.target_statuses)
        except NeetoCalValidationError as error:
            return error_event(error, sid)
        client = _client(self.neetocal_conn_id, self.api_version, self.deadline)
        try:
            while True:
                try:
                    booking = await client.get_booking(sid)
                except NeetoCalRetryableError as error:
                    if not client.deadline_reached:
                        raise
                    return {
                        "status": "timeout",
                        "booking_sid": sid,
                        "message": f"timed out while NeetoCal did not answer: {error}",
                        "booking": None,
                    }
                local_now = dt.datetime.now(dt.timezone.utc)
                judgement = judge(booking, spec, server_now(client.last_server_date, local_now))
                summary = booking_summary(booking)
                base = {"booking_sid": sid, "message": judgement.message, "booking": summary}
                if judgement.verdict == "met":
                    return {"status": "success", **base}
                if judgement.verdict == "ended":
                    return {"status": "ended", **base}
                if judgement.verdict == "unknowable":
                    unknowable = NeetoCalServerError(
                        method="GET",
                        endpoint=get_booking((await client.settings()).api_version, sid).path,
                        status=None,
                        message=judgement.message,
                    )
                    return error_event(unknowable, sid)
                self.log.info("NeetoCal %s; next look in %.0f s", judgement.message, self.poll_interval)
                pause: float = self.poll_interval
                if self.deadline is not None:
                    left = self.deadline - time.time()
                    if left <= 0:
                        return {"status": "timeout", **base, "message": f"timed out: {judgement.message}"}
                    pause = min(pause, left)
                await asyncio.sleep(pause)
        except (NeetoCalApiError, NeetoCalValidationError) as error:
            return error_event(error, sid)
        finally:
            await client.aclose()


class NeetoCalBookingEventTrigger(BaseEventTrigger):
    """One event per new, cancelled or rescheduled booking of a workspace, for an ``AssetWatcher``.

    Event-driven scheduling needs Airflow 3.1+ (``AssetWatcher``); on Airflow 2.11 the class exists
    but cannot be watched. Each event's payload (the asset event's ``extra``) is
    ``{"change": "created" | "cancelled" | "rescheduled", "booking_sid", "booking": {...},
    "previous_starts_at"}``, never the API key.

    Polls ``GET /bookings?type=upcoming`` (plus one ``GET /bookings/{sid}`` per known booking that left
    that listing): the first poll after a (re)start is a baseline and emits nothing, so no change is
    emitted twice, and changes made while no triggerer ran are not emitted. 429 / 5xx / network
    errors left after the client's retries are logged and the next poll tries again; a 401/403 or
    a bad argument stops the trigger with its error.

    :param neetocal_conn_id: the ``neetocal`` connection.
    :param api_version: ``"v1"`` / ``"v2"``; the connection's when ``None``.
    :param changes: which changes to emit (``created``, ``cancelled``, ``rescheduled``; all when ``None``).
    :param meeting_slug: only bookings of this meeting.
    :param host_email: only bookings this team member hosts (a ``GET /bookings`` filter).
    :param poll_interval: seconds between polls (a finite number above 0).
    :param max_pages: pages of 100 upcoming bookings read per poll at most (cost bound; a workspace
        with more upcoming bookings is watched for its first ``max_pages * 100`` by start time).
    :param max_rechecks: single-booking reads per poll at most; the rest wait for the next poll.

    Arguments are checked when the trigger is built (in the DAG file, so a mistake is an import error
    naming the argument, as Airflow's ``DateTimeTrigger`` does: an empty ``neetocal_conn_id``, an
    ``api_version`` other than ``v1`` / ``v2``, a ``meeting_slug`` that is not a URL slug, a number
    out of range) and stored normalised: ``changes`` sorted and de-duplicated, ``poll_interval`` a
    ``float``, the counts ``int``. The ``AssetWatcher`` identifies a watcher by the hash of these
    arguments, so writing ``changes`` in another order or ``60`` for ``60.0`` keeps the running
    watcher (and its state) instead of replacing it.
    """

    def __init__(
        self,
        *,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        api_version: str | None = None,
        changes: list[str] | None = None,
        meeting_slug: str | None = None,
        host_email: str | None = None,
        poll_interval: float = 60.0,
        max_pages: int = 10,
        max_rechecks: int = 20,
    ) -> None:
        super().__init__()
        self.neetocal_conn_id = _checked_conn_id(neetocal_conn_id)
        self.api_version = _checked_api_version(api_version)
        self.changes = sorted(checked_kinds(changes)) if changes is not None else None
        self.meeting_slug = _checked_slug(meeting_slug)
        self.host_email = host_email
        self.poll_interval = _checked_seconds("poll_interval", poll_interval, positive=True)
        self.max_pages = _checked_count("max_pages", max_pages)
        self.max_rechecks = _checked_count("max_rechecks", max_rechecks)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Every constructor argument (the triggerer rebuilds the trigger from them)."""
        return (
            BOOKING_EVENT_TRIGGER,
            {
                "neetocal_conn_id": self.neetocal_conn_id,
                "api_version": self.api_version,
                "changes": self.changes,
                "meeting_slug": self.meeting_slug,
                "host_email": self.host_email,
                "poll_interval": self.poll_interval,
                "max_pages": self.max_pages,
                "max_rechecks": self.max_rechecks,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per change as soon as it is seen."""
        kinds = checked_kinds(self.changes)
        client = _client(self.neetocal_conn_id, self.api_version)
        try:
            meeting_id = await client.meeting_id(self.meeting_slug) if self.meeting_slug else None
            tracker = BookingChangeTracker(kinds=kinds, meeting_id=meeting_id)
            filters = {"type": "upcoming", "host_email": self.host_email}
            while True:
                try:
                    async for change_payload in self._poll(client, tracker, filters):
                        yield TriggerEvent(change_payload)
                except NeetoCalRetryableError as error:
                    self.log.warning("NeetoCal poll failed, trying again in %.0f s: %s", self.poll_interval, error)
                await asyncio.sleep(self.poll_interval)
        finally:
            await client.aclose()

    async def _poll(
        self, client: NeetoCalAsyncClient, tracker: BookingChangeTracker, filters: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """One poll: the listing, then the re-checks; each change is yielded as soon as it is recorded."""
        listing, complete = await client.list_bookings(filters, max_pages=self.max_pages)
        if not complete:
            self.log.warning(
                "More than %d upcoming NeetoCal bookings: watching the first %d by start time (raise max_pages)",
                self.max_pages * 100,
                self.max_pages * 100,
            )
        for change in tracker.observe_listing(listing, complete=complete):
            yield change.payload()
        for sid in tracker.next_rechecks(self.max_rechecks):
            booking = await client.find_booking(sid)
            neetocal_now = server_now(client.last_server_date, dt.datetime.now(dt.timezone.utc))
            for change in tracker.observe_recheck(sid, booking, now=neetocal_now):
                yield change.payload()


__all__ = ["NeetoCalBookingEventTrigger", "NeetoCalBookingTrigger"]
