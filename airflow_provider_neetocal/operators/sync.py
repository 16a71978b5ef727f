"""Keep NeetoCal in step with a table: plan, then apply, touching only the bookings the sync owns.

The plan is pure (:mod:`airflow_provider_neetocal.sync`); this module is its Airflow shell: it loads
the rows, reads the sync's ownership from the asset state store, reads NeetoCal's state of the owned
bookings, logs the plan, and in ``mode="apply"`` carries the writes out in batches:

1. the batch's writes are recorded as *pending* in the store (before any goes out);
2. the writes go out ``max_concurrency`` at a time over the hook's one session (the bulk operator's
   threads and :class:`~airflow_provider_neetocal.pacing.Pacer`), creates through
   :class:`~airflow_provider_neetocal.exactly_once.ExactlyOnce` with the task's journal;
3. the batch's ownership is saved, then the pending record removed.

A crash anywhere leaves a pending record the next run (a retry, a clear or tomorrow's run) folds in:
a create it cannot see the answer of is looked up (adopted only if made since it was sent, never a
booking another key owns), a move or cancel that landed is recognised as the sync's own.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import sync_asset
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.pacing import checked_rate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.sync import Desired, Owned, OwnershipStore, Plan, Step

PLAN_XCOM_KEY = "plan"
#: As for the bulk operator (kept here so that a DAG file importing this module does not load the bulk one).
DEFAULT_MAX_CONCURRENCY = 4
MAX_CONCURRENCY = 64
ON_REMOVED_CHOICES = ("cancel", "keep")
ON_DRIFT_CHOICES = ("respect", "enforce")
MODE_CHOICES = ("plan", "apply")
#: Writes recorded as one pending batch (one store write before, a few after).
DEFAULT_BATCH_SIZE = 100
#: Default guard: an apply may cancel at most half of the bookings the sync owns.
DEFAULT_MAX_CANCELLATIONS = 0.5
_SYNC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def sync_asset_uri(neetocal_conn_id: str, sync_id: str) -> str:
    """The URI of a sync's asset: ``neetocal://<conn_id>/sync/<sync_id>``."""
    return f"neetocal://{neetocal_conn_id}/sync/{sync_id}"


class NeetoCalSyncBookingsOperator(NeetoCalBaseOperator):
    """Make NeetoCal's bookings match a table: book new rows, move changed ones, cancel removed ones.

    Each row carries a stable key (the ``key_field`` column) and the bulk operator's booking fields
    (with a fixed slot). The sync remembers, per key, the booking it created (or adopted) in Airflow
    3.3's **asset state store** of its outlet asset ``neetocal://<conn_id>/sync/<sync_id>``, and only
    ever reschedules or cancels those bookings: a host's own bookings, and every booking of another
    sync, are never touched. A row whose start changed is rescheduled (the same booking). A booking
    whose meeting has started (NeetoCal's clock) is never cancelled or moved. One task applies a
    sync (the store names it; see ``take_over_from``); the operator cannot be mapped.

    ``mode="plan"`` reads and logs the plan (create / reschedule / cancel / unchanged / drifted per
    key) and sends no write; ``mode="apply"`` carries it out, each write exactly once, and refuses
    (nothing sent) when it would cancel more than ``max_cancellations``. Re-running a finished apply
    sends nothing. Returns the compact plan (also pushed as the ``plan`` XCom) with ``applied``.
    Needs Airflow 3.3 or later (the ownership lives in the asset state store); see docs/sync.md.

    :param rows: a list of mappings, an upstream ``XComArg``, a JSON string of such a list (or the
        Python repr a templated ``{{ ti.xcom_pull(...) }}`` renders to), or a
        file: an ``ObjectStoragePath`` or a URL string (``file://``, ``s3://conn@bucket/key``) of a
        ``.csv`` (header row) or ``.json`` file.
    :param sync_id: names the sync (letters, digits, ``_.-``); one ownership per sync id and connection.
    :param key_field: the column holding each row's stable key (unique across rows).
    :param mode: ``"plan"`` (no write) or ``"apply"``.
    :param meeting_slug: default for rows without one.
    :param time_zone: default for rows without one.
    :param preferred_meeting_spot: default for rows without one.
    :param on_removed: ``"cancel"`` (default) a key's booking when its row is gone, or ``"keep"`` it.
    :param on_drift: a booking someone else moved or cancelled: ``"respect"`` (default) leaves it,
        ``"enforce"`` moves it back (or books the row again).
    :param max_cancellations: most cancellations an apply may make: a whole number, a fraction of the
        owned bookings (default 0.5), or ``None`` for no limit. An empty table cancels everything.
    :param adopt_existing: a row whose booking (same meeting, attendee and start) already exists but
        was not made by this sync: adopt it (``True``) or report the row as failed (default).
    :param cancel_reason: shown to attendees whose booking the sync cancels.
    :param take_over_from: ``"<dag_id>/<task_id>"`` of the task that ran this ``sync_id`` until now:
        hands its ownership to this task. Without it, a second task on the same ``sync_id`` is refused
        (nothing sent): two tasks on one sync would cancel each other's bookings.
    :param max_concurrency: writes in flight at once (as for the bulk operator).
    :param max_requests_per_second: client-side pace for all requests of the task (``None``: none).
    :param batch_size: writes recorded as one pending batch in the store.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    template_fields: Sequence[str] = (
        "rows",
        "key_field",
        "mode",
        "meeting_slug",
        "time_zone",
        "preferred_meeting_spot",
        "cancel_reason",
    )
    template_fields_renderers = {"rows": "json"}
    ui_color = "#e8f4e4"

    def __init__(
        self,
        *,
        rows: Any,
        sync_id: str,
        key_field: str = "key",
        mode: str = "plan",
        meeting_slug: str | None = None,
        time_zone: str | None = None,
        preferred_meeting_spot: str | None = None,
        on_removed: str = "cancel",
        on_drift: str = "respect",
        max_cancellations: int | float | None = DEFAULT_MAX_CANCELLATIONS,
        adopt_existing: bool = False,
        cancel_reason: str | None = None,
        take_over_from: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_requests_per_second: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        if not isinstance(sync_id, str) or not _SYNC_ID.fullmatch(sync_id):
            raise ValueError(
                f"sync_id={sync_id!r}: expected 1-100 letters, digits, '_', '.' or '-' starting with a letter or digit "
                "(it names the sync's asset, so it cannot be templated)"
            )
        self.asset = sync_asset(sync_asset_uri(neetocal_conn_id, sync_id))
        if self.asset is not None:
            # Always an outlet (``mode`` may be templated, so plan or apply is only known in execute):
            # a plan drops it from the outlets before it returns, so only an apply emits an asset event.
            assets = list(kwargs.pop("outlets", None) or [])
            kwargs["outlets"] = [*assets, self.asset] if self.asset not in assets else assets
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.rows = rows
        self.sync_id = sync_id
        self.key_field = key_field
        self.mode = mode
        self.meeting_slug = meeting_slug
        self.time_zone = time_zone
        self.preferred_meeting_spot = preferred_meeting_spot
        self.on_removed = checked_choice("on_removed", on_removed, ON_REMOVED_CHOICES)
        self.on_drift = checked_choice("on_drift", on_drift, ON_DRIFT_CHOICES)
        self.max_cancellations = checked_max_cancellations(max_cancellations)
        self.adopt_existing = bool(adopt_existing)
        self.cancel_reason = cancel_reason
        if take_over_from is not None and (not isinstance(take_over_from, str) or take_over_from.count("/") != 1):
            raise ValueError(
                f"take_over_from={take_over_from!r}: expected '<dag_id>/<task_id>' of the task that ran this sync "
                "until now (the refusal names it)"
            )
        self.take_over_from = take_over_from
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 64:
            raise ValueError(
                f"max_concurrency={max_concurrency!r}: expected a whole number from 1 to {MAX_CONCURRENCY}"
            )
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = checked_rate(max_requests_per_second)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: expected a whole number >= 1")
        self.batch_size = batch_size

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Refused: a sync cannot be mapped (``.partial().expand()``), whatever its arguments.

        Each sync keeps its ownership in the state store of its own asset, and Airflow only gives a task
        the store of an asset it knew when it parsed the DAG; a mapped task's sync_id (so its asset) is
        only known when it runs, and map indexes sharing one sync_id would cancel each other's rows.
        """
        raise TypeError(
            f"{cls.__name__} cannot be mapped (.partial().expand()): each sync keeps the bookings it owns in "
            "its own asset, which Airflow must know when it parses the DAG, and a mapped task's sync_id is only "
            "known when it runs. Create one operator per sync instead, e.g. a for loop over the regions in the "
            "DAG file, each with its own task_id and sync_id (see docs/sync.md)"
        )

    # -- the task ------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate the rows, read ownership and NeetoCal, log the plan; in apply mode, carry it out."""
        from airflow_provider_neetocal._compat import AIRFLOW_VERSION, asset_state_store_of
        from airflow_provider_neetocal.booking_wait import server_now
        from airflow_provider_neetocal.exactly_once import workspace_of
        from airflow_provider_neetocal.exceptions import NeetoCalSyncError, NeetoCalSyncRefusedError
        from airflow_provider_neetocal.operators.bulk import check_rows_for_version
        from airflow_provider_neetocal.pacing import Pacer
        from airflow_provider_neetocal.sync import (
            OwnershipStore,
            SyncStoreError,
            cancellation_limit,
            desired_from_rows,
            fold_pending,
            plan_sync,
        )

        mode = checked_choice("mode", self.mode, MODE_CHOICES)
        store = asset_state_store_of(context, self.asset)
        if mode == "plan":
            # A plan changes nothing: no asset event (the task's outlets are read when it succeeds).
            self.outlets = [asset for asset in self.outlets if asset != self.asset]
        if store is None:
            raise NeetoCalSyncRefusedError(
                f"NeetoCalSyncBookingsOperator needs Airflow 3.3 or later (running {AIRFLOW_VERSION}): the bookings a "
                "sync owns are kept in the asset state store, and without it the sync could not tell its own bookings "
                "from anyone else's. Nothing was sent."
            )
        clock = [time.perf_counter()]
        rows = load_rows(self.rows)
        defaults = {
            "meeting_slug": self.meeting_slug,
            "time_zone": self.time_zone,
            "preferred_meeting_spot": self.preferred_meeting_spot,
        }
        desired = desired_from_rows(rows, key_field=self.key_field, defaults=defaults)
        hook = self.hook
        # Fields the connection's API version does not take (v2's host_email on v1...): refused for every row now.
        check_rows_for_version(hook.api_version, [d.payload for d in desired.values()])
        hook.pacer = pacer = Pacer(self.max_requests_per_second, sleep=hook._sleep)
        hook.pool_maxsize = max(hook.pool_maxsize, self.max_concurrency)
        ownership = OwnershipStore(
            store,
            sync_id=self.sync_id,
            workspace=workspace_of(hook.base_url).lower(),
            # Only the applying task owns the sync (a plan task beside it only reads).
            owner=f"{self.dag_id}/{self.task_id}" if mode == "apply" else None,
            take_over_from=self.take_over_from,
        )
        try:
            stored, pending = ownership.load()
            owned, pending_creates = fold_pending(stored, pending)
        except SyncStoreError as error:
            raise NeetoCalSyncRefusedError(f"NeetoCal sync {self.sync_id!r}: {error}. Nothing was sent.") from None
        self.log.info(
            "NeetoCal sync %r (%s): %d rows, %d bookings owned, %d interrupted creates to look up",
            self.sync_id,
            mode,
            len(desired),
            len(owned),
            len(pending_creates),
        )
        unresolved: set[str] = set()
        self._carry: list[dict[str, Any]] = []
        if pending_creates:
            owned, unresolved = self._resolve_pending_creates(owned, pending_creates)
            # Creates whose landing is still unknown stay pending in every later record, with their send time.
            self._carry = [create.to_op() for create in pending_creates if create.key in unresolved]
        clock.append(time.perf_counter())  # rows read and checked, ownership loaded
        current = self._read_owned(owned)
        clock.append(time.perf_counter())  # NeetoCal read
        plan = plan_sync(
            desired,
            owned,
            current,
            on_removed=self.on_removed,
            on_drift=self.on_drift,
            unresolved=unresolved,
            now=server_now(hook.last_server_date, dt.datetime.now(dt.timezone.utc)),
        )
        # A pending move or cancel whose key could not be read this run stays pending: its outcome is still unknown.
        unknown_keys = {s.key for s in plan.steps if s.action == "unknown"}
        self._carry += carried_ops(pending, unknown_keys, kinds=("cancel", "reschedule"))
        limit = cancellation_limit(self.max_cancellations, len(owned))
        refusal = None
        if limit is not None and plan.cancellations > limit:
            refusal = (
                f"the plan cancels {plan.cancellations} of {len(owned)} owned bookings, more than max_cancellations="
                f"{self.max_cancellations!r} allows ({limit}); an empty or truncated table is the usual cause. "
                "Check the rows, or raise max_cancellations for this run"
            )
        clock.append(time.perf_counter())  # planned
        summary = plan.compact(mode=mode, sync_id=self.sync_id)
        summary["refused"] = refusal
        self.log.info("NeetoCal sync %r plan (%s, %d requests so far):", self.sync_id, mode, pacer.requests)
        for line in plan.table():
            self.log.info("%s", line)
        if refusal:
            self.log.warning("NeetoCal sync %r: %s", self.sync_id, refusal)
        failures: list[dict[str, Any]] = []
        if mode == "apply":
            if refusal:
                context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=summary)
                raise NeetoCalSyncRefusedError(
                    f"NeetoCal sync {self.sync_id!r} refused to apply: {refusal}. Nothing was sent."
                )
            failures = self._apply(context, plan, desired, owned, current, ownership, pending is not None)
            summary["applied"] = {"writes": len(plan.writes) - len(failures), "failed": len(failures)}
            self.log.info(
                "NeetoCal sync %r applied: %d writes made, %d failed, %d requests in all, %d store writes",
                self.sync_id,
                len(plan.writes) - len(failures),
                len(failures),
                pacer.requests,
                ownership.writes,
            )
        clock.append(time.perf_counter())
        summary["requests"] = pacer.requests
        summary["seconds"] = {
            name: round(clock[i + 1] - clock[i], 3) for i, name in enumerate(("rows", "reads", "plan", "apply"))
        }
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=summary)
        unknown = [
            {"key": s.key, "action": "unknown", "sid": s.sid, "error": s.note}
            for s in plan.steps
            if s.action == "unknown"
        ]
        if failures or unknown:
            raise NeetoCalSyncError(failures + unknown, sync_id=self.sync_id)
        return summary

    # -- reads ---------------------------------------------------------------------------------

    def _resolve_pending_creates(
        self, owned: dict[str, Owned], pending: list[Any]
    ) -> tuple[dict[str, Owned], set[str]]:
        """Look up each create an earlier run sent without recording its answer; adopt what it made.

        A booking is adopted only if it matches the create (meeting, attendee, start), is live, was
        made since the create was sent (give or take clock skew) and is not owned by another key.
        """
        from airflow_provider_neetocal.exactly_once import ExactlyOnce, Found, Unknowable, parse_instant
        from airflow_provider_neetocal.exceptions import NeetoCalApiError, NeetoCalAuthError
        from airflow_provider_neetocal.sync import Owned, start_text

        owned = dict(owned)
        unresolved: set[str] = set()
        claimed = {record.sid for record in owned.values()}
        for create in pending:
            start = parse_instant(create.start)
            payload = {
                "meeting_slug": create.meeting,
                "email": create.email,
                "time_zone": "UTC",
                "slot_date": start.format("YYYY-MM-DD") if start else "",
                "slot_start_time": start.format("hh:mm A") if start else "",
            }
            once = ExactlyOnce(self.hook, retrying=True, run_started=parse_instant(create.sent_at), if_exists="reuse")
            once.claimed = claimed
            try:
                lookup = once.look_up(payload)
            except NeetoCalAuthError:
                raise
            except NeetoCalApiError as error:
                lookup = Unknowable(error.brief())
            if isinstance(lookup, Found) and lookup.made_in_this_run and isinstance(lookup.booking.get("sid"), str):
                sid = lookup.booking["sid"]
                claimed.add(sid)
                owned[create.key] = Owned(
                    create.key, sid, create.meeting, create.email, start_text(lookup.booking) or create.start
                )
                self.log.info("Key %r: an interrupted create had made booking %s; adopted", create.key, sid)
            elif isinstance(lookup, Unknowable):
                unresolved.add(create.key)
                self.log.warning(
                    "Key %r: cannot tell whether an interrupted create landed (%s)", create.key, lookup.reason
                )
            else:
                self.log.info("Key %r: an interrupted create made no booking; it is planned afresh", create.key)
        return owned, unresolved

    def _read_owned(self, owned: Mapping[str, Owned]) -> dict[str, dict[str, Any] | None]:
        """NeetoCal's state of every owned booking: one complete listing when that is cheaper, else one
        GET per booking. A sid that could not be read is left out (its key is then ``unknown``)."""
        from airflow_provider_neetocal.exceptions import NeetoCalApiError, NeetoCalAuthError, NeetoCalNotFoundError

        sids = sorted({record.sid for record in owned.values()})
        current: dict[str, dict[str, Any] | None] = {}
        if not sids:
            return current
        if len(sids) >= 2:
            try:
                listed = self.hook.list_bookings_complete(max_pages=max(len(sids) // 2, 1))
            except NeetoCalAuthError as error:
                if error.status == 401:
                    raise
                listed = None
            except NeetoCalApiError as error:
                self.log.warning("Could not list the workspace's bookings (%s); reading each owned one", error.brief())
                listed = None
            if listed is not None:
                wanted = set(sids)
                for booking in listed:
                    sid = booking.get("sid") if isinstance(booking, dict) else None
                    if sid in wanted:
                        current[sid] = booking
        missing = [sid for sid in sids if sid not in current]

        def read(sid: str) -> None:
            try:
                current[sid] = self.hook.get_booking(sid)
            except NeetoCalNotFoundError:
                current[sid] = None
            except NeetoCalAuthError as error:
                if error.status == 401:
                    raise
                self.log.warning("Could not read owned booking %s: %s", sid, error.brief())
            except NeetoCalApiError as error:
                self.log.warning("Could not read owned booking %s: %s", sid, error.brief())

        self._in_threads(read, missing)
        return current

    # -- writes --------------------------------------------------------------------------------

    def _apply(
        self,
        context: Context,
        plan: Plan,
        desired: Mapping[str, Desired],
        owned: dict[str, Owned],
        current: Mapping[str, dict[str, Any] | None],
        ownership: OwnershipStore,
        had_pending: bool,
    ) -> list[dict[str, Any]]:
        """Carry the plan out: cancels, then moves, then creates, each batch pending → written → owned."""
        from airflow_provider_neetocal.exactly_once import ExactlyOnce
        from airflow_provider_neetocal.operators.booking import run_start_of
        from airflow_provider_neetocal.sync import apply_outcome

        self.warn_if_retry_delay_is_short()
        state = {"owned": dict(owned)}
        lock = threading.Lock()
        failures: list[dict[str, Any]] = []
        # Outcomes that need no write (unchanged with a refreshed start, forget) are saved up front.
        for step in plan.steps:
            if step.action in ("unchanged", "forget"):
                state["owned"] = apply_outcome(state["owned"], step, desired.get(step.key), current.get(step.sid or ""))
            elif step.action == "create" and step.key in owned and owned[step.key].cancelling:
                # This sync's own cancel landed: the key owns nothing now, whether or not the new booking
                # is made (else a failed create would leave a cancelled booking that reads as drift).
                state["owned"].pop(step.key, None)
        self._save(ownership, state["owned"])
        if had_pending:
            ownership.set_pending(self._pending_or_none([]))
        writes = plan.writes
        cancels = [s for s in writes if s.action == "cancel" or (s.action == "create" and s.replace)]
        moves = [s for s in writes if s.action == "reschedule"]
        creates = [s for s in writes if s.action == "create"]
        cancelled_for_replace: set[str] = set()
        self._unconfirmed: set[str] = set()

        def record(
            step: Step, booking: dict[str, Any] | None, error: Exception | None, as_cancel: bool = False
        ) -> None:
            with lock:
                if error is not None:
                    action = "cancel" if as_cancel else step.action
                    failures.append({"key": step.key, "action": action, "sid": step.sid, "error": str(error)})
                    if is_unconfirmed(error, action):
                        # It may have landed: its pending entry stays for the next run to resolve.
                        self._unconfirmed.add(step.key)
                    return
                if as_cancel and step.replace:
                    cancelled_for_replace.add(step.key)
                    state["owned"].pop(step.key, None)
                    return
                state["owned"] = apply_outcome(state["owned"], step, desired.get(step.key), booking)

        def cancel(step: Step) -> None:
            try:
                self._check_owned(owned, step)
                record(step, self._cancel(step), None, as_cancel=True)
            except Exception as error:
                if not _row_error(error):
                    raise
                record(step, None, error, as_cancel=True)

        def move(step: Step) -> None:
            try:
                self._check_owned(owned, step)
                record(step, self._reschedule(step, desired[step.key], current.get(step.sid or "")), None)
            except Exception as error:
                if not _row_error(error):
                    raise
                record(step, None, error)

        self._run_batches(ownership, state, cancels, cancel, lambda s: {"key": s.key, "op": "cancel", "sid": s.sid})
        self._run_batches(
            ownership, state, moves, move, lambda s: {"key": s.key, "op": "reschedule", "sid": s.sid, "to": s.target}
        )
        creates = [s for s in creates if not s.replace or s.key in cancelled_for_replace]
        if not creates:
            return failures
        ti = context["ti"]
        once = ExactlyOnce(
            self.hook,
            if_exists="reuse" if self.adopt_existing else "fail",
            retrying=ti.try_number > 1,
            run_started=run_start_of(context),
            journal=self.journal(context),
            try_number=ti.try_number,
        )
        # Never adopt a booking another key owns (or owned when this run started).
        once.claimed = {record.sid for record in owned.values()} | {r.sid for r in state["owned"].values()}
        payloads = {s.key: desired[s.key].payload for s in creates}
        for payload in payloads.values():
            once.reserve(payload)
        if once.list_before_sending(list(payloads.values())):
            self.log.info("Listed the workspace's bookings once for the creates' look-ups")

        def create(step: Step) -> None:
            try:
                booking, made = once.obtain(dict(payloads[step.key]))
            except Exception as error:
                if not _row_error(error):
                    raise
                record(step, None, error)
                return
            if not made:
                self.log.info("Key %r: booking %s already existed for this row; adopted", step.key, booking.get("sid"))
            record(step, booking, None)

        self._run_batches(
            ownership,
            state,
            creates,
            create,
            lambda s: {
                "key": s.key,
                "op": "create",
                "meeting": desired[s.key].meeting,
                "email": desired[s.key].email,
                "start": s.target,
            },
            group_by_attendee={s.key: desired[s.key].email for s in creates},
        )
        return failures

    def _run_batches(
        self,
        ownership: OwnershipStore,
        state: dict[str, Any],
        steps: list[Step],
        work: Callable[[Step], None],
        pending_op: Callable[[Step], dict[str, Any]],
        group_by_attendee: Mapping[str, str] | None = None,
    ) -> None:
        for batch in self._batches(steps, pending_op):
            ops = [pending_op(s) for s in batch]
            record = self._pending_or_none(ops)
            ownership.set_pending(record)
            self._unconfirmed = set()
            if group_by_attendee is None:
                self._in_threads(work, batch)
            else:
                groups: dict[str, list[Step]] = {}
                for step in batch:
                    groups.setdefault(group_by_attendee[step.key], []).append(step)

                def run_group(group: list[Step]) -> None:
                    for step in group:
                        work(step)

                self._in_threads(run_group, list(groups.values()))
            self._save(ownership, state["owned"])
            # Writes whose outcome is not confirmed stay pending (an unknown is not a failure).
            sent_at = record["sent_at"] if record else None
            self._carry += [{**op, "sent_at": sent_at} for op in ops if op["key"] in self._unconfirmed]
            ownership.set_pending(self._pending_or_none([]))

    def _batches(self, steps: list[Step], pending_op: Callable[[Step], dict[str, Any]]) -> Iterator[list[Step]]:
        """``steps`` in batches of at most ``batch_size`` whose pending record (with the operations carried
        from earlier batches and runs) stays under the store's value limit, as each ownership chunk does."""
        from airflow_provider_neetocal.sync import MAX_CHUNK_BYTES

        batch: list[Step] = []
        budget = size = 0
        for step in steps:
            if not batch:
                carried = self._pending_or_none([])
                budget = MAX_CHUNK_BYTES - (len(json.dumps(carried)) if carried else 100)
            op_bytes = len(json.dumps(pending_op(step))) + 2
            if batch and (len(batch) >= self.batch_size or size + op_bytes > budget):
                yield batch
                batch, size = [], 0
                carried = self._pending_or_none([])
                budget = MAX_CHUNK_BYTES - (len(json.dumps(carried)) if carried else 100)
            batch.append(step)
            size += op_bytes
        if batch:
            yield batch

    def _pending_or_none(self, ops: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The pending record for ``ops`` plus the creates still unresolved from earlier runs."""
        from airflow_provider_neetocal.sync import pending_record

        carry = getattr(self, "_carry", [])
        if not ops and not carry:
            return None
        return pending_record([*carry, *ops], now=dt.datetime.now(dt.timezone.utc))

    def _save(self, ownership: OwnershipStore, owned: Mapping[str, Owned]) -> None:
        from airflow_provider_neetocal.exceptions import NeetoCalSyncRefusedError
        from airflow_provider_neetocal.sync import SyncStoreError

        try:
            ownership.save(owned)
        except SyncStoreError as error:
            # The pending record (if any) stays: the next run looks its writes up.
            raise NeetoCalSyncRefusedError(f"NeetoCal sync {self.sync_id!r}: {error}") from None

    def _check_owned(self, owned: Mapping[str, Owned], step: Step) -> None:
        """The one rule no plan can break: a booking is moved or cancelled only under the key that owns it."""
        record = owned.get(step.key)
        if record is None or record.sid != step.sid:
            raise AssertionError(f"refusing to touch booking {step.sid!r}: key {step.key!r} does not own it")

    def _cancel(self, step: Step) -> dict[str, Any]:
        from airflow_provider_neetocal.exactly_once import is_live
        from airflow_provider_neetocal.exceptions import NeetoCalClientError, NeetoCalOutcomeUnknownError

        assert step.sid is not None
        reason = self.cancel_reason or None
        try:
            self.hook.cancel_booking(step.sid, cancel_reason=reason)
        except (NeetoCalOutcomeUnknownError, NeetoCalClientError):
            booking = self.hook.get_booking(step.sid)
            if is_live(booking):
                raise
            return booking
        return {"sid": step.sid, "status": "cancelled"}

    def _reschedule(self, step: Step, row: Desired, booking: dict[str, Any] | None) -> dict[str, Any]:
        from airflow_provider_neetocal.api_contract import check_reschedule_fields
        from airflow_provider_neetocal.booking import build_reschedule_payload
        from airflow_provider_neetocal.exactly_once import parse_instant
        from airflow_provider_neetocal.exceptions import NeetoCalOutcomeUnknownError

        assert step.sid is not None
        version = self.hook.api_version
        payload = build_reschedule_payload(
            name=row.payload["name"],
            email=row.payload["email"],
            time_zone=row.payload["time_zone"],
            slot_date=row.payload["slot_date"],
            slot_start_time=row.payload["slot_start_time"],
            attendee_required=version == "v1",
        )
        check_reschedule_fields(version, payload)
        try:
            return self.hook.reschedule_booking(step.sid, payload, current=booking)
        except NeetoCalOutcomeUnknownError:
            after = self.hook.get_booking(step.sid)
            if parse_instant(after.get("starts_at")) != row.start:
                raise
            return after

    def _in_threads(self, work: Callable[[Any], None], items: list[Any]) -> None:
        """Run ``work`` over ``items``, ``max_concurrency`` at a time; the first unexpected error stops the rest."""
        if not items:
            return
        if self.max_concurrency == 1 or len(items) == 1:
            for item in items:
                work(item)
            return
        from concurrent.futures import ThreadPoolExecutor

        self.hook.session  # noqa: B018 - built once here, before any worker could race to build it
        stop = threading.Event()

        def guarded(item: Any) -> None:
            if not stop.is_set():
                work(item)

        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="neetocal-sync") as pool:
            futures = [pool.submit(guarded, item) for item in items]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise


def is_unconfirmed(error: Exception, action: str) -> bool:
    """Whether a failed write may have landed after all (its answer lost and no read settled it).

    A 4xx refusal, or a create that was never sent, is a failure; anything else is an unknown, whose
    pending entry must outlive the run.
    """
    from airflow_provider_neetocal.exceptions import (
        NeetoCalBookingUnknownError,
        NeetoCalClientError,
        NeetoCalOutcomeUnknownError,
        NeetoCalRetryableError,
    )

    if isinstance(error, NeetoCalBookingUnknownError):
        return error.sent or action != "create"
    if action == "create":
        return isinstance(error, NeetoCalOutcomeUnknownError)
    return isinstance(error, NeetoCalRetryableError) and not isinstance(error, NeetoCalClientError)


def carried_ops(pending: Any, keys: set[str], *, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The operations of a (validated) pending record for ``keys`` and ``kinds``, each with its send time."""
    if not isinstance(pending, dict) or not keys:
        return []
    return [
        {**op, "sent_at": op.get("sent_at", pending.get("sent_at"))}
        for op in pending.get("ops", [])
        if isinstance(op, dict) and op.get("key") in keys and op.get("op") in kinds
    ]


def checked_max_cancellations(value: Any) -> int | float | None:
    """``None``, a whole number >= 0, or a fraction from 0 to 1; a DAG-parse-time error otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"max_cancellations={value!r}: expected a whole number (at most that many cancellations), a fraction "
            "from 0.0 to 1.0 of the owned bookings, or None for no limit"
        )
    if isinstance(value, int) and value < 0:
        raise ValueError(f"max_cancellations={value!r}: expected a whole number >= 0")
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ValueError(f"max_cancellations={value!r}: a fraction must be from 0.0 to 1.0 (use an int for a count)")
    return value


def checked_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; an error naming the argument and the choices otherwise."""
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(repr(c) for c in choices)}")
    return str(value)


def _row_error(error: Exception) -> bool:
    """Errors that fail one key (reported with the others) rather than the whole task at once."""
    from airflow_provider_neetocal.exceptions import NeetoCalAuthError
    from airflow_provider_neetocal.operators.bulk import row_errors

    if isinstance(error, NeetoCalAuthError) and error.status == 401:
        return False
    return isinstance(error, row_errors())


def load_rows(value: Any) -> list[Any]:
    """The rows from a list, an XCom sequence, a JSON string, or a CSV/JSON file (ObjectStoragePath or URL)."""
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                # A templated XCom (``{{ ti.xcom_pull(...) }}``) renders to Python's repr of the list, not JSON:
                # read as a literal (never evaluated as code).
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    raise NeetoCalValidationError(
                        [
                            FieldProblem(
                                "rows",
                                value,
                                "a string that is neither JSON nor a Python literal list: expected a list of rows "
                                "(JSON, or a templated XCom) or a file URL",
                            )
                        ]
                    ) from None
        elif "://" in text:
            from airflow_provider_neetocal._compat import object_storage_path

            return _read_file(object_storage_path(text))
        else:
            raise NeetoCalValidationError(
                [
                    FieldProblem(
                        "rows", value, "expected a list of rows, a JSON list, or a file URL like file:///data/rows.csv"
                    )
                ]
            )
    elif hasattr(value, "read_text") and hasattr(value, "suffix"):
        return _read_file(value)
    if isinstance(value, Mapping | bytes) or not isinstance(value, Sequence):
        raise NeetoCalValidationError([FieldProblem("rows", value, "expected a list of rows (mappings)")])
    return list(value)


def _read_file(path: Any) -> list[Any]:
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    suffix = str(path.suffix).lower()
    # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, which is not part of the first header.
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        rows = [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(io.StringIO(text))]
        # A line of empty cells (a spreadsheet's trailing rows) carries no data: skipped like a blank line.
        return [row for row in rows if any(str(v).strip() for v in row.values())]
    if suffix == ".json":
        return load_rows(text if text.strip().startswith("[") else "not json")
    raise NeetoCalValidationError(
        [FieldProblem("rows", str(path), "expected a .csv (with a header row) or .json file")]
    )
