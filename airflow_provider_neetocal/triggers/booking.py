"""Triggers that watch NeetoCal bookings from the triggerer, holding no worker slot.

* :class:`NeetoCalBookingTrigger`: the deferred half of ``NeetoCalBookingSensor``. Polls one booking
  with ``GET /bookings/{sid}`` until :func:`~airflow_provider_neetocal.booking_wait.judge` says it is
  met or can never be, or the sensor's deadline passes; yields exactly one event.
* :class:`NeetoCalBookingEventTrigger`: for an ``AssetWatcher`` (Airflow 3.1+). Polls a workspace's
  upcoming bookings and yields one event per poll carrying every new, cancelled or rescheduled booking
  it found; on Airflow 3.3+ it keeps its memory in the asset state store across restarts (see
  :mod:`airflow_provider_neetocal.booking_changes` for how, at what cost, and what a restart does).

Both only ever read (the async client refuses anything but ``GET``): a triggerer restart re-runs
them from their serialised arguments and they cannot create, cancel or move a booking. The HTTP
stack is imported when a trigger runs, never when this module is imported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import (
    BaseEventTrigger,
    BaseTrigger,
    TriggerEvent,
    cancelled_by_user_action,
    watcher_state_store,
)
from airflow_provider_neetocal.booking_changes import (
    CHANGE_KINDS,
    GONE_AFTER,
    RETIRED_MEMORY,
    SINCE_MARGIN,
    BookingChangeTracker,
    WatcherMemory,
    checked_kinds,
    memory_value,
    restore_memory,
)
from airflow_provider_neetocal.booking_wait import (
    booking_summary,
    checked_wait,
    error_event,
    judge,
    parse_instant,
    server_now,
)
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalConfigError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    NeetoCalValidationError,
)
from airflow_provider_neetocal.listing import MAX_WALKS, Walk, proven

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Hashable, Iterable

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


def _checked_host_email(value: Any) -> str | None:
    """``None`` (every host) or what can be an email address, as given; refused here, not in the triggerer.

    The list operator's rule (:func:`~airflow_provider_neetocal.booking.checked_email`) needs the email
    validator, which would load on every DAG parse; this keeps its cheap, syntactic part: one ``@``
    with something on both sides, a dot in the domain, no spaces (surrounding ones aside, which the
    list operator strips too). Whatever this refuses, that rule refuses (a unit test pins it).
    """
    if value is None:
        return None
    address = value.strip() if isinstance(value, str) else ""
    local, at, domain = address.partition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or "@" in domain
        or any(c.isspace() or not c.isprintable() for c in address)
    ):
        what = f"got {type(value).__name__}, " if not isinstance(value, str) else ""
        raise NeetoCalValidationError(
            [
                FieldProblem(
                    "host_email",
                    value,
                    f"{what}expected the email address of a team member who hosts, like 'host@example.com', "
                    "or None for every host",
                )
            ]
        )
    return value


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
        logged = ""
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
                if judgement.message != logged:  # not every poll: a triggerer holds a thousand of these
                    self.log.info("NeetoCal %s; looking again every %.0f s", judgement.message, self.poll_interval)
                    logged = judgement.message
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
    """Events of new, cancelled or rescheduled bookings of a workspace, for an ``AssetWatcher``.

    Event-driven scheduling needs Airflow 3.1+ (``AssetWatcher``); on Airflow 2.11 the class exists
    but cannot be watched. **One event per poll that found changes**, carrying all of them: its
    payload (the asset event's ``extra["payload"]``) is ``{"changes": [...], "more": bool}``, each
    change ``{"change": "created" | "cancelled" | "rescheduled", "change_id", "booking_sid",
    "booking": {...}, "previous_starts_at"}``, never the API key. One event per poll, not one per
    change: Airflow 3.3.2 merges asset events that arrive together into one DAG run and can drop the
    last of them (apache/airflow#56050, #54659), while events a poll interval apart each reach a run.
    ``more`` is true when ``max_changes_per_event`` held changes back for the next poll.

    Polls ``GET /bookings?type=upcoming`` (plus one ``GET /bookings/{sid}`` per known booking that left
    that listing; see :mod:`airflow_provider_neetocal.booking_changes` for how and at what cost).

    **Memory (Airflow 3.3+).** What the trigger knows (known bookings, pending re-checks, the changes
    emitted but not yet confirmed, and when that was current) is kept in the watched asset's state
    store under :meth:`memory_key` and saved after every successful poll that changed it (an unchanged
    memory every 10 minutes, to keep its time current). A restarted, re-created or
    re-enabled watcher reads it back and goes on where it stopped: its first poll is compared with
    that memory, so changes made while it was down or paused are emitted then, at most
    ``max_changes_per_event`` per event (the rest on the following polls), and nothing recorded
    before is emitted as new again. Memory older than ``max_catch_up_age`` (a DAG paused for a month)
    is not caught up from: the watcher starts with a fresh baseline and says so in its log. Memory it
    cannot read (another provider version's format, another watch, garbage) is never half-read: a
    warning, then a fresh baseline. On Airflow 2.11 to 3.2 (no store) the first poll of each
    trigger's life is a baseline, as before: changes made while no triggerer ran are not emitted.

    **At least once across a triggerer crash.** The memory is saved *before* the event is yielded,
    with the event's changes in its outbox, and the outbox is emptied one poll interval after
    the yield (by then the triggerer has handed the event to Airflow's database), or when the watcher
    is stopped cleanly after the triggerer took the event (a DAG paused; a triggerer shut down more
    than :attr:`HANDOVER` seconds after it): that empty outbox is saved as it stops. A triggerer that
    dies in between (or shuts down within :attr:`HANDOVER` seconds of the event, before it may have sent
    it on) is restarted with the outbox and emits those changes again with the next event: a change
    can reach two DAG runs then (same ``change_id``), never none.

    **Errors.** 429, 5xx and network errors are first retried by the client; whatever is left, and
    any other answer to the listing (a 403 or 404 among good answers, say), is retried inside the
    trigger after a pause that doubles from ``poll_interval`` up to 15 minutes, keeping everything it
    knows: an unknown answer is never read as "nothing changed" nor as a reason to start over. Only
    a **401** (the key refused) confirmed by a second one after that pause (one may be spurious), and
    a connection that cannot be used, stop the polling: one error in
    the log, then the trigger waits without calling NeetoCal and re-reads the connection every
    ``poll_interval``, resuming by itself when its key or URL changes (an argument NeetoCal's paths
    refuse, such as a ``meeting_slug`` with a ``/``, also stops it with one error, until the DAG
    changes the watcher). It never returns or raises for
    these: Airflow restarts a watcher trigger that ends about a second later, which would make a
    refused key a restart loop.

    **One poll per workspace (Airflow 3.3+).** Watchers reading the same listing share one poll loop
    in the triggerer (:meth:`shared_stream_key`); on older Airflow each trigger polls alone.

    :param neetocal_conn_id: the ``neetocal`` connection.
    :param api_version: ``"v1"`` / ``"v2"``; the connection's when ``None``.
    :param changes: which changes to emit (``created``, ``cancelled``, ``rescheduled``; all when ``None``).
    :param meeting_slug: only bookings of this meeting.
    :param host_email: only bookings this team member hosts (a ``GET /bookings`` filter).
    :param poll_interval: seconds between polls (a finite number above 0).
    :param max_pages: pages of 100 upcoming bookings read per poll at most (cost bound; a workspace
        with more upcoming bookings is watched for its first ``max_pages * 100`` by start time, and on
        API v2 for new bookings too, read newest first until a known one).
    :param max_rechecks: single-booking reads per poll at most; the rest wait for the next poll.
    :param max_changes_per_event: changes one event carries at most; the others stay unrecorded and
        are found again by the next poll (while the booking is still upcoming).
    :param max_catch_up_age: seconds; saved memory older than this is not caught up from (a fresh
        baseline instead). ``None``: catch up however old it is. Default: 7 days.

    Arguments are checked when the trigger is built (in the DAG file, so a mistake is an import error
    naming the argument, as Airflow's ``DateTimeTrigger`` does: an empty ``neetocal_conn_id``, an
    ``api_version`` other than ``v1`` / ``v2``, a ``meeting_slug`` that is not a URL slug, a number
    out of range) and stored normalised: ``changes`` sorted and de-duplicated, ``poll_interval`` a
    ``float``, the counts ``int``. The ``AssetWatcher`` identifies a watcher by the hash of these
    arguments, so writing ``changes`` in another order or ``60`` for ``60.0`` keeps the running
    watcher (and its state) instead of replacing it.
    """

    #: Longest pause between two tries after a failed poll (seconds).
    MAX_ERROR_PAUSE = 900.0
    #: How often an unchanged memory is saved again (seconds), to keep its time current.
    WATERMARK_REFRESH = 600.0
    #: 401 answers in a row (a pause between them) before the watcher parks: one may be spurious.
    REFUSALS_TO_PARK = 2
    #: On v2, beyond a cut listing, new bookings are read newest first for up to this many times
    #: ``max_pages`` pages (a burst of new bookings larger than the listing's cap is read whole, up to
    #: that bound), until a page reaches a known one (see :meth:`_newest`).
    NEWEST_PAGES_FACTOR = 10
    #: Pages of bookings that already started read at a baseline (see :meth:`_baseline`).
    STARTED_PAGES = 5

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
        max_changes_per_event: int = 100,
        max_catch_up_age: float | None = 7 * 86400.0,
    ) -> None:
        super().__init__()
        self.neetocal_conn_id = _checked_conn_id(neetocal_conn_id)
        self.api_version = _checked_api_version(api_version)
        kinds = checked_kinds(changes)
        # Every kind written out is the default: one watch, one serialised form, one memory.
        self.changes = None if kinds == frozenset(CHANGE_KINDS) else sorted(kinds)
        self.meeting_slug = _checked_slug(meeting_slug)
        self.host_email = _checked_host_email(host_email)
        self.poll_interval = _checked_seconds("poll_interval", poll_interval, positive=True)
        self.max_pages = _checked_count("max_pages", max_pages)
        self.max_rechecks = _checked_count("max_rechecks", max_rechecks)
        self.max_changes_per_event = _checked_count("max_changes_per_event", max_changes_per_event)
        self.max_catch_up_age = (
            None if max_catch_up_age is None else _checked_seconds("max_catch_up_age", max_catch_up_age, positive=True)
        )

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
                "max_changes_per_event": self.max_changes_per_event,
                "max_catch_up_age": self.max_catch_up_age,
            },
        )

    def watch_fingerprint(self) -> str:
        """What this trigger watches, as a short stable name: the arguments that decide which changes
        it emits (not the tuning ones, so changing ``poll_interval`` keeps the memory)."""
        watched = {
            "neetocal_conn_id": self.neetocal_conn_id,
            "api_version": self.api_version,
            "changes": self.changes,
            "meeting_slug": self.meeting_slug,
            "host_email": self.host_email,
        }
        return hashlib.sha256(json.dumps(watched, sort_keys=True).encode()).hexdigest()[:16]

    def memory_key(self) -> str:
        """The asset state store key of this watcher's memory: one per watch, so two watchers of one
        asset (say one for ``created``, one for ``cancelled``) keep separate memories."""
        return f"neetocal_booking_watch_{self.watch_fingerprint()}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per poll that found changes (see the class docstring)."""
        kinds = checked_kinds(self.changes)
        store = watcher_state_store(self)
        client = _client(self.neetocal_conn_id, self.api_version)
        memory: WatcherMemory | None = None
        meeting_id: str | None = None
        saved: dict[str, Any] | None = None
        failures = 0
        refusals = 0
        handed: float | None = None  # when the triggerer took the last event (it resumed this generator)
        try:
            while True:
                try:
                    if self.meeting_slug and meeting_id is None:
                        meeting_id = await client.meeting_id(self.meeting_slug)
                    if memory is None:
                        memory, saved, store = await self._recall(store, kinds, meeting_id)
                    await self._poll(client, memory)
                except NeetoCalAuthError as error:
                    refusals = refusals + 1 if error.status == 401 else 0
                    if refusals < self.REFUSALS_TO_PARK:
                        failures = await self._pause_after_error(error, failures + 1)
                        continue
                    refusals = 0
                    client = await self._park(client, error)
                    continue
                except (NeetoCalConfigError, NeetoCalValidationError) as error:
                    client = await self._park(client, error)
                    continue
                except (NeetoCalApiError, _StoreUnreadableError) as error:
                    failures = await self._pause_after_error(error, failures + 1)
                    continue
                except Exception as error:  # e.g. the connection is gone: Airflow would restart run() in a loop
                    failures = await self._pause_after_error(error, failures + 1)
                    continue
                failures = refusals = 0
                saved = await self._remember(store, memory, saved)
                if memory.outbox:
                    yield TriggerEvent({"changes": list(memory.outbox), "more": memory.tracker.held_back > 0})
                    handed = time.monotonic()
                await asyncio.sleep(self.poll_interval)
                # A poll interval after the yield, the triggerer has handed the event to Airflow.
                memory.outbox = []
                handed = None
        except BaseException as stop:
            if memory is not None and handed is not None and self._handed_over(stop, handed):
                memory.outbox = []
                await self._confirm_on_stop(store, memory, saved)
            raise
        finally:
            await client.aclose()

    #: Seconds after the triggerer took an event by which it has sent it on (its loop syncs every second).
    HANDOVER = 5.0

    def _handed_over(self, stop: BaseException, handed: float) -> bool:
        """Whether an event the triggerer took at ``handed`` (monotonic) has surely reached Airflow when
        the watcher stops with ``stop``: the triggerer queues an event before it resumes the trigger,
        and sends its queue every second while it runs. So yes for a cancellation by user action (a DAG
        paused: the triggerer goes on) or anything but a cancellation, and for a shutdown's cancellation
        once :attr:`HANDOVER` seconds passed; no for a shutdown right after the event (its queue may
        not have been sent: the event goes out again, at least once)."""
        if not isinstance(stop, asyncio.CancelledError) or cancelled_by_user_action(stop):
            return not isinstance(stop, GeneratorExit)
        return time.monotonic() - handed >= self.HANDOVER

    async def _confirm_on_stop(self, store: Any, memory: WatcherMemory, saved: dict[str, Any] | None) -> None:
        """Save the memory with its outbox emptied as the watcher stops (a clean stop after an event
        does not emit it again); bounded, and a failure only means the event may go out again."""
        try:
            await asyncio.wait_for(self._remember(store, memory, saved), timeout=self.HANDOVER)
        except BaseException as error:  # cancelled again, timed out: at least once still holds
            self.log.warning(
                "NeetoCal watcher memory not confirmed on stop (its last event may go out again): %r", error
            )

    # -- one poll per workspace (Airflow 3.3+: shared streams) ----------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers that read the same listing share one poll loop in a triggerer (Airflow 3.3+).

        The listing depends on the connection, ``api_version``, ``host_email``, ``poll_interval`` and
        ``max_pages``; ``changes`` and ``meeting_slug`` are applied by each watcher to the shared
        listing, so watchers differing only in those share it. Each keeps its own memory and reads
        its own re-checks (``GET /bookings/{sid}``, only for known bookings missing from the listing).
        Airflow before 3.3 never calls this: each trigger then polls alone (:meth:`run`).

        The key names the connection, not its key or URL (reading them here would block the
        triggerer's loop): after a key rotation the shared poll resumes with the new key (see
        :meth:`open_shared_stream`) and each watcher re-reads the connection for its own reads.
        """
        return (
            BOOKING_EVENT_TRIGGER,
            self.neetocal_conn_id,
            self.api_version,
            self.host_email,
            self.poll_interval,
            self.max_pages,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The shared poll of one key: ``{"kind": "listing", "bookings", "complete", "date", "started"}``
        per poll (``date``: the ``Date`` header of its first page; ``proven``: whether it agrees with the
        stream's walk before it (:func:`~airflow_provider_neetocal.listing.proven`; the stream's first
        listing is walked until two walks agree), else a watcher's baseline walks by itself;
        ``started``: bookings that had started, read once per stream, plus those that left the stream's
        listing since (see :func:`_left_listing`), ``None`` until that read succeeds; both for a watcher's baseline).

        Airflow fails every subscriber when this raises or returns, and a failed watcher trigger is
        re-created a second later; so NeetoCal's errors are items of the stream (``{"kind": "failed"}``,
        then a doubling pause; ``{"kind": "refused"}`` for a confirmed 401, then the park of
        :meth:`run`, then ``{"kind": "resumed"}`` once the connection changed: each watcher then re-reads
        the connection for its own reads), and the loop only ends when Airflow cancels it. The
        bookings stay in the triggerer's memory.
        """
        watcher = cls(**kwargs)
        client = _client(watcher.neetocal_conn_id, watcher.api_version)
        failures = 0
        refusals = 0
        started: list[dict[str, Any]] | None = None
        listed_before: dict[str, dict[str, Any]] = {}
        previous: Walk | None = None
        first = True
        left: OrderedDict[str, dict[str, Any]] = OrderedDict()
        try:
            while True:
                try:
                    filters = await watcher._listing_filters(client)
                    walk, complete, date = await watcher._walk(client, filters, max_pages=watcher.max_pages)
                    first_walk = walk
                    walks = 1
                    while first and complete and not proven(previous, walk) and walks < MAX_WALKS:
                        previous, walks = walk, walks + 1  # the stream's first listing: until two walks agree
                        walk, complete, _date = await watcher._walk(client, filters, max_pages=watcher.max_pages)
                    is_proven = not complete or proven(previous, walk)
                    previous, first = walk, False
                    if started is None:  # once per stream, for the baselines of its watchers
                        started = await watcher._started_bookings(client)
                    listed_before = _left_listing(listed_before, walk.bookings.values(), left)
                except (NeetoCalAuthError, NeetoCalConfigError, NeetoCalValidationError) as error:
                    refusals = refusals + 1 if isinstance(error, NeetoCalAuthError) and error.status == 401 else 0
                    if isinstance(error, NeetoCalAuthError) and refusals < watcher.REFUSALS_TO_PARK:
                        failures += 1
                        yield {"kind": "failed", "message": str(error)}
                        await watcher._pause_after_error(error, failures)
                        continue
                    refusals = 0
                    yield {"kind": "refused", "message": str(error)}
                    client = await watcher._park(client, error)
                    yield {"kind": "resumed"}  # a changed connection: each watcher re-reads it too
                    continue
                except Exception as error:  # NeetoCal's errors, or a connection that is gone: never end the stream
                    failures += 1
                    yield {"kind": "failed", "message": str(error)}
                    await watcher._pause_after_error(error, failures)
                    continue
                failures = refusals = 0
                yield {
                    "kind": "listing",
                    "bookings": list(walk.bookings.values()),
                    "complete": complete,
                    "date": date,
                    "proven": is_proven,
                    "first_page": first_walk.first_page,
                    "grown": first_walk.made_since_first_page(len(walk.bookings)) if complete and is_proven else 0,
                    "started": None if started is None else [*started, *left.values()],
                }
                await asyncio.sleep(watcher.poll_interval)
        finally:
            await client.aclose()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared listings: what :meth:`run` does after its listing.

        The shared poll logs failures and a refused key once for all its watchers; a watcher skips
        those items and keeps its memory. The outbox is emptied when the next listing arrives, a poll
        interval after the event (as in :meth:`run`).
        """
        kinds = checked_kinds(self.changes)
        store = watcher_state_store(self)
        client = _client(self.neetocal_conn_id, self.api_version)
        memory: WatcherMemory | None = None
        meeting_id: str | None = None
        saved: dict[str, Any] | None = None
        emitted = False
        self.log.info("NeetoCal watcher %s reads the shared poll of its workspace", self.memory_key())
        refused = False
        stale = False
        handed: float | None = None
        try:
            async for raw in shared_stream:
                if isinstance(raw, dict) and raw.get("kind") in ("refused", "resumed"):
                    stale = True  # the connection may have changed (a new key): re-read it
                if refused or not isinstance(raw, dict) or raw.get("kind") != "listing":
                    continue
                if emitted and memory is not None:
                    memory.outbox = []
                    emitted, handed = False, None
                if stale:
                    await client.aclose()
                    client = _client(self.neetocal_conn_id, self.api_version)
                    stale = False
                try:
                    if self.meeting_slug and meeting_id is None:
                        meeting_id = await client.meeting_id(self.meeting_slug)
                    if memory is None:
                        memory, saved, store = await self._recall(store, kinds, meeting_id)
                    if memory.tracker.baselined:
                        await self._observe(client, memory, raw["bookings"], bool(raw["complete"]))
                    else:
                        # An unproven shared listing (it changed since the previous one, which a page
                        # shift may hide): the watcher's baseline walks by itself until two walks agree.
                        listed = (
                            raw["bookings"],
                            bool(raw["complete"]),
                            raw.get("date"),
                            raw.get("first_page"),
                            raw.get("grown", 0),
                        )
                        usable = listed if raw.get("proven", True) else None
                        await self._baseline(client, memory, listed=usable, started=raw.get("started"))
                except NeetoCalValidationError as error:
                    if not refused:
                        self.log.error("NeetoCal watcher cannot watch (it ignores the listings from now on): %s", error)
                    refused = True
                    continue
                except NeetoCalAuthError as error:
                    if error.status == 401:
                        stale = True  # the shared poll was answered, its own client was not: an old key?
                    self.log.warning("NeetoCal watcher skips this listing (the next one tries again): %s", error)
                    continue
                except Exception as error:  # NeetoCal's errors, the store, a connection that is gone
                    self.log.warning("NeetoCal watcher skips this listing (the next one tries again): %s", error)
                    continue
                saved = await self._remember(store, memory, saved)
                if memory.outbox:
                    yield TriggerEvent({"changes": list(memory.outbox), "more": memory.tracker.held_back > 0})
                    emitted, handed = True, time.monotonic()
        except BaseException as stop:
            if memory is not None and emitted and handed is not None and self._handed_over(stop, handed):
                memory.outbox = []
                await self._confirm_on_stop(store, memory, saved)
            raise
        finally:
            await client.aclose()

    async def _poll(self, client: NeetoCalAsyncClient, memory: WatcherMemory) -> None:
        """One poll: the listing, then the re-checks; every change goes into ``memory.outbox``.

        Raises only when the listing cannot be read (nothing recorded then). A re-check that fails is
        put back in the queue, so one unreadable booking neither stops the poll nor is forgotten.
        """
        if not memory.tracker.baselined:
            await self._baseline(client, memory)
            return
        listing, complete = await client.list_bookings(await self._listing_filters(client), max_pages=self.max_pages)
        await self._observe(client, memory, listing, complete)

    async def _listing_filters(self, client: NeetoCalAsyncClient, **extra: Any) -> dict[str, Any]:
        """The upcoming listing's query: by start time (v2 says so; v1 has no sort parameter)."""
        filters: dict[str, Any] = {"type": "upcoming", "host_email": self.host_email}
        if (await client.settings()).api_version == "v2":
            filters.update(sorting_key="starts_at", sorting_order="asc")
        filters.update(extra)
        return filters

    async def _page(
        self, client: NeetoCalAsyncClient, filters: dict[str, Any], page: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of ``GET /bookings`` with ``filters``: its bookings and its ``pagination``."""
        from airflow_provider_neetocal import api_contract as contract
        from airflow_provider_neetocal.hooks.neetocal import MAX_PAGE_SIZE, _page_items

        version = (await client.settings()).api_version
        call = contract.list_bookings(version, page_number=page, page_size=MAX_PAGE_SIZE, filters=filters)
        data = await client.request(call)
        if not isinstance(data, dict):
            raise NeetoCalServerError(
                method="GET", endpoint=call.path, status=None, message="expected a JSON object in the answer"
            )
        found = _page_items(data, "bookings", call.path)
        raw = data.get("pagination")
        return found, (raw if isinstance(raw, dict) else {})

    async def _walk(
        self,
        client: NeetoCalAsyncClient,
        filters: dict[str, Any],
        *,
        max_pages: int,
        enough: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> tuple[Walk, bool, str | None]:
        """Pages of ``GET /bookings`` with ``filters``: the walk, whether it was complete (not cut by
        ``max_pages``; ``enough`` may end it early, complete for its purpose), and the first answer's
        ``Date`` (NeetoCal's time when the walk began)."""
        from airflow_provider_neetocal.hooks.neetocal import MAX_PAGE_SIZE

        walk = Walk()
        first_date: str | None = None
        for page in range(1, max_pages + 1):
            found, pagination = await self._page(client, filters, page)
            if first_date is None:
                first_date = client.last_server_date
            walk.add_page(found, pagination)
            total = pagination.get("total_pages")
            if not found or (isinstance(total, int) and page >= total) or len(found) < MAX_PAGE_SIZE:
                return walk, True, first_date
            if enough is not None and enough(found):
                return walk, True, first_date
        return walk, False, first_date

    async def _baseline(
        self,
        client: NeetoCalAsyncClient,
        memory: WatcherMemory,
        *,
        listed: tuple[list[dict[str, Any]], bool, str | None, list[str] | None, int] | None = None,
        started: list[dict[str, Any]] | None = None,
    ) -> None:
        """The first poll of a watcher without memory: what is known from now on, nothing emitted.

        * The upcoming listing is walked until two walks in a row agree
          (:func:`~airflow_provider_neetocal.listing.proven`, at most ``MAX_WALKS``): a booking
          skipped by a page shift during one walk would otherwise be unknown until it is listed
          again. A watcher of a shared poll (``listed``: the shared listing, its completeness and
          ``Date``; ``started``: the shared poll's read of started bookings) takes those instead.
        * NeetoCal's time when the walk began (``Date`` of its first answer, less a
          second; compared with a margin of :data:`~airflow_provider_neetocal.booking_changes.SINCE_MARGIN`) is the
          tracker's ``since``: a booking listed later that was made before it is not ``created``
          (awaiting approval or started then, beyond the page cap, skipped by a page shift).
        * Up to :attr:`STARTED_PAGES` pages of ``type=past`` (on v2 the latest start first; v1 has no
          sort parameter nor date filter, so its first page and its last ones: the latest starts are at
          one end whichever way NeetoCal orders them): remembered as retired, so one of them
          moved to a later slot is ``rescheduled``. Read after the baseline is taken; when that read
          fails, the baseline stands and the read is tried again before each poll until it succeeds.
        """
        if listed is not None:
            bookings, complete, first_date, present, grown = listed
        else:
            bookings, complete, first_date, present, grown = await self._proven_listing(client)
        since = _date_header_time(first_date)
        memory.tracker.observe_listing(
            bookings,
            complete=complete,
            since=since - dt.timedelta(seconds=1) if since else None,
            present=present,
            grown=grown,
        )
        if started is not None:
            memory.tracker.remember_started(started)
        else:
            memory.tracker.started_owed = True
            await self._read_started(client, memory.tracker)
        if not complete:
            self.log.warning(
                "More than %d upcoming NeetoCal bookings: watching the first %d by start time (raise max_pages)",
                self.max_pages * 100,
                self.max_pages * 100,
            )

    async def _read_started(self, client: NeetoCalAsyncClient, tracker: BookingChangeTracker) -> None:
        """The baseline's look at bookings that had already started (see :meth:`_baseline`), until it
        succeeds once: a failed read is logged and tried again before the next poll's comparison (the
        baseline itself stands; the tracker's ``started_owed``, saved in the memory, so a restart too).
        A 401 is raised, as for any read."""
        if not tracker.started_owed:
            return
        started = await self._started_bookings(client)
        if started is not None:
            tracker.remember_started(started)
            tracker.started_owed = False

    async def _started_bookings(self, client: NeetoCalAsyncClient) -> list[dict[str, Any]] | None:
        """Up to :attr:`STARTED_PAGES` pages of bookings that already started (``None``, logged, when
        they could not be read; a 401 is raised)."""
        filters: dict[str, Any] = {"type": "past", "host_email": self.host_email}
        v2 = (await client.settings()).api_version == "v2"
        if v2:
            filters.update(sorting_key="starts_at", sorting_order="desc")
        pages = min(self.STARTED_PAGES, self.max_pages)
        try:
            started, complete, _date = await self._walk(client, filters, max_pages=1 if not v2 else pages)
            if not v2 and not complete and pages > 1:
                # v1 has no sort parameter: read the first page and the last ones, so whichever end
                # NeetoCal lists the latest starts at (the last, by start ascending, as the sandbox does),
                # they are read.
                total = max((t for _r, t in started.announced if isinstance(t, int)), default=1)
                for page in range(max(2, total - pages + 2), total + 1):
                    found, pagination = await self._page(client, filters, page)
                    started.add_page(found, pagination)
        except NeetoCalAuthError as error:
            if error.status == 401:
                raise
            self.log.warning("NeetoCal's started bookings could not be read, trying again next poll: %s", error)
            return None
        except NeetoCalApiError as error:
            self.log.warning("NeetoCal's started bookings could not be read, trying again next poll: %s", error)
            return None
        return list(started.bookings.values())

    async def _proven_listing(
        self, client: NeetoCalAsyncClient
    ) -> tuple[list[dict[str, Any]], bool, str | None, list[str], int]:
        """The upcoming listing walked until two walks agree (see :meth:`_baseline`), whether the page
        cap cut it, the ``Date`` of its first answer, the sids that answer listed and how many bookings
        the listing gained since it (net)."""
        filters = await self._listing_filters(client)
        previous: Walk | None = None
        walk, complete, first_date = await self._walk(client, filters, max_pages=self.max_pages)
        first = walk
        seen = dict(walk.bookings)
        tries = 1
        while complete and not proven(previous, walk) and tries < MAX_WALKS:
            previous = walk
            walk, complete, _date = await self._walk(client, filters, max_pages=self.max_pages)
            seen.update(walk.bookings)
            tries += 1
        if complete and not proven(previous, walk):
            self.log.warning(
                "NeetoCal's upcoming listing changed during each of %d walks (%s): the baseline knows every "
                "booking any walk read",
                tries,
                walk.why_raced(),
            )
            return list(seen.values()), complete, first_date, first.first_page, 0
        final = list(walk.bookings.values())
        return final, complete, first_date, first.first_page, first.made_since_first_page(len(final)) if complete else 0

    async def _newest(self, client: NeetoCalAsyncClient, tracker: BookingChangeTracker) -> list[dict[str, Any]]:
        """On v2, beyond a cut listing: upcoming bookings newest first, until a page reaches one that is
        known or was made before the baseline (so it costs the pages of new bookings, usually one), at
        most ``NEWEST_PAGES_FACTOR * max_pages`` pages."""
        if (await client.settings()).api_version != "v2":
            return []

        def reached_known(page: list[dict[str, Any]]) -> bool:
            for booking in page:
                sid = booking.get("sid")
                created = parse_instant(booking.get("created_at"))
                if sid in tracker.known or sid in tracker.retired:
                    return True
                if created is not None and tracker.since is not None and created < tracker.since - SINCE_MARGIN:
                    return True
            return False

        filters = await self._listing_filters(client, sorting_key="created_at", sorting_order="desc")
        pages = self.NEWEST_PAGES_FACTOR * self.max_pages
        walk, reached, _date = await self._walk(client, filters, max_pages=pages, enough=reached_known)
        if not reached:
            self.log.warning(
                "More than %d NeetoCal bookings made since the last poll: the oldest of them are seen once they "
                "come into view by start time",
                pages * 100,
            )
        return list(walk.bookings.values())

    async def _observe(
        self, client: NeetoCalAsyncClient, memory: WatcherMemory, listing: list[dict[str, Any]], complete: bool
    ) -> None:
        """Compare one listing with the memory, then re-check the known bookings missing from it."""
        tracker = memory.tracker
        await self._read_started(client, tracker)
        newest: list[dict[str, Any]] = []
        if not complete:
            newest = await self._newest(client, tracker)
            self.log.warning(
                "More than %d upcoming NeetoCal bookings: watching the first %d by start time%s (raise max_pages)",
                self.max_pages * 100,
                self.max_pages * 100,
                ", and new ones (read newest first)" if newest else "",
            )
        room = max(self.max_changes_per_event - len(memory.outbox), 0)
        changes = tracker.observe_listing(listing, complete=complete, limit=room, newest=newest)
        memory.add(changes)
        room -= len(changes)
        if tracker.held_back:
            self.log.info("%d more NeetoCal changes go out with the next poll", tracker.held_back)
        for sid in tracker.next_rechecks(min(self.max_rechecks, room)):
            try:
                booking = await client.find_booking(sid)
            except NeetoCalAuthError as error:
                if error.status == 401:
                    raise
                tracker.defer_recheck(sid)
                self.log.warning("NeetoCal booking %s could not be re-read, trying again next poll: %s", sid, error)
                continue
            except NeetoCalApiError as error:
                tracker.defer_recheck(sid)
                self.log.warning("NeetoCal booking %s could not be re-read, trying again next poll: %s", sid, error)
                continue
            if booking is None:
                self.log.warning(
                    "NeetoCal answered 404 for known booking %s: kept until %d polls in a row say so", sid, GONE_AFTER
                )
            neetocal_now = server_now(client.last_server_date, dt.datetime.now(dt.timezone.utc))
            memory.add(tracker.observe_recheck(sid, booking, now=neetocal_now))

    async def _recall(
        self, store: Any, kinds: frozenset[str], meeting_id: str | None
    ) -> tuple[WatcherMemory, dict[str, Any] | None, Any]:
        """The memory to start from: the saved one if usable, else a fresh baseline (and why).

        A store that cannot be read is retried (``_StoreUnreadableError``: an unknown is not "nothing
        saved"); a store that serves several assets (one trigger watching two assets) cannot be
        addressed by key alone, so the trigger runs without memory then, and says so.
        """
        fresh = WatcherMemory(BookingChangeTracker(kinds=kinds, meeting_id=meeting_id))
        if store is None:
            return fresh, None, None
        try:
            value = await store.aget(self.memory_key())
        except ValueError as error:
            self.log.warning("No memory across restarts for this NeetoCal watcher: %s", error)
            return fresh, None, None
        except Exception as error:
            raise _StoreUnreadableError(f"the asset state store could not be read: {error}") from error
        try:
            memory, why = restore_memory(
                value,
                watch=self.watch_fingerprint(),
                kinds=kinds,
                meeting_id=meeting_id,
                now=dt.datetime.now(dt.timezone.utc),
                max_age=self.max_catch_up_age,
            )
        except Exception as error:  # a value of the right format but corrupt inside: a baseline, not a crash
            memory, why = None, f"the saved memory cannot be read ({type(error).__name__}: {error}); starting afresh"
        if memory is None:
            if why:
                self.log.warning("NeetoCal watcher %s: %s", self.memory_key(), why)
            return fresh, None, store
        self.log.info(
            "NeetoCal watcher %s goes on from its memory of %s (%d known bookings, %d changes to deliver again)",
            self.memory_key(),
            memory.saved_at.isoformat() if memory.saved_at else "?",
            len(memory.tracker.known),
            len(memory.outbox),
        )
        return memory, value if isinstance(value, dict) else None, store

    async def _remember(self, store: Any, memory: WatcherMemory, saved: dict[str, Any] | None) -> dict[str, Any] | None:
        """Save ``memory`` (before any event is yielded). A failed save is logged, not raised: the
        older memory then makes a restarted trigger emit those changes again (at least once).

        A memory equal to the one saved last is written again only after :attr:`WATERMARK_REFRESH`
        seconds (to keep its time current for ``max_catch_up_age``), not once per poll: a quiet
        workspace costs a database write every 10 minutes, not every minute.
        """
        now = dt.datetime.now(dt.timezone.utc)
        value = memory_value(memory, watch=self.watch_fingerprint(), now=now)
        if store is None:
            return value
        if saved is not None and _without_time(saved) == _without_time(value):
            last = parse_instant(saved.get("saved_at"))
            if last is not None and (now - last).total_seconds() < self.WATERMARK_REFRESH:
                return saved
        try:
            await store.aset(self.memory_key(), value)
        except Exception as error:
            self.log.warning("NeetoCal watcher memory not saved (a restart may emit changes again): %s", error)
            return saved
        return value

    async def _pause_after_error(self, error: Exception, failures: int) -> int:
        """Wait after a failed poll: ``poll_interval`` doubled per failure in a row, at most
        :attr:`MAX_ERROR_PAUSE` (a hand-written doubling: the poll loop itself is the retry loop,
        and what it keeps between tries is its memory, which a tenacity wrapper would not hold)."""
        pause = min(self.poll_interval * 2 ** min(failures - 1, 20), max(self.MAX_ERROR_PAUSE, self.poll_interval))
        self.log.warning(
            "NeetoCal poll failed (%d in a row), keeping what the watcher knows; next try in %.0f s: %s",
            failures,
            pause,
            error,
        )
        await asyncio.sleep(pause)
        return failures

    async def _park(self, client: NeetoCalAsyncClient, error: Exception) -> NeetoCalAsyncClient:
        """Stop calling NeetoCal after a refused key or an unusable connection; return a client for the
        changed connection once its key or URL differ (checked every ``poll_interval``, no request)."""
        refused = await _settings_identity(client)
        await client.aclose()
        self.log.error(
            "NeetoCal watcher stopped polling: %s. Fix the connection %r; the watcher resumes by itself "
            "(it re-reads the connection every %.0f s) and keeps what it knew.",
            error,
            self.neetocal_conn_id,
            self.poll_interval,
        )
        while True:
            await asyncio.sleep(self.poll_interval)
            candidate = _client(self.neetocal_conn_id, self.api_version)
            identity = await _settings_identity(candidate)
            if identity is not None and identity != refused:
                self.log.info("NeetoCal connection %r changed: the watcher polls again", self.neetocal_conn_id)
                return candidate
            await candidate.aclose()


def _date_header_time(date_header: str | None) -> dt.datetime | None:
    """NeetoCal's time from an answer's ``Date`` header; ``None`` when there is none to read."""
    if not date_header:
        return None
    moment = server_now(date_header, dt.datetime.min)
    return None if moment == dt.datetime.min else moment


def _left_listing(
    before: dict[str, dict[str, Any]], listing: Iterable[Any], left: OrderedDict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The shared poll's memory of bookings that left its upcoming listing (started, mostly): ``left``
    gains those listed ``before`` and not now (the newest last, at most :data:`RETIRED_MEMORY`) and loses
    those listed again; returns the listing by sid, the ``before`` of the next poll.

    A watcher that joins the poll later takes them with the stream's look at started bookings (read
    once, when the stream began): a booking that started since was listed as upcoming by an earlier
    poll, so it is in ``left``, and moved to a later slot it is ``rescheduled`` for that watcher too.
    """
    now = {str(b["sid"]): b for b in listing if isinstance(b, dict) and isinstance(b.get("sid"), str)}
    for sid, booking in before.items():
        if sid not in now:
            left.pop(sid, None)
            left[sid] = booking
    for sid in now:
        left.pop(sid, None)
    while len(left) > RETIRED_MEMORY:
        left.popitem(last=False)
    return now


def _without_time(value: dict[str, Any]) -> dict[str, Any]:
    return {key: item for key, item in value.items() if key != "saved_at"}


class _StoreUnreadableError(Exception):
    """The asset state store did not answer: the trigger retries rather than start from nothing."""


async def _settings_identity(client: NeetoCalAsyncClient) -> tuple[str, str, str] | None:
    """Key, base URL and API version of the client's connection (compared in memory, never logged);
    ``None`` when the connection cannot be used."""
    try:
        settings = await client.settings()
    except Exception:  # unusable or missing connection
        return None
    return settings.api_key, settings.base_url, str(settings.api_version)


__all__ = ["NeetoCalBookingEventTrigger", "NeetoCalBookingTrigger"]
