"""Keep NeetoCal in step with a table: the pure core of the sync operator (no Airflow, no HTTP).

A sync compares three things and names, per row key, what to do:

* **the rows** (:class:`Desired`): what the table wants, each under a stable key;
* **the owned bookings** (:class:`Owned`): what this sync created (or adopted) for a key, and the
  start it last set, remembered in Airflow's asset state store (:class:`OwnershipStore`);
* **NeetoCal's current state of those bookings** (``sid -> booking``, ``None`` for a 404, a missing
  sid for "could not read").

:func:`plan_sync` turns them into a :class:`Plan` of :class:`Step` s: ``create``, ``reschedule``,
``cancel``, ``unchanged``, ``drifted`` (changed in NeetoCal by someone else, left alone),
``keep`` (row gone, ``on_removed="keep"``; or a changed row whose meeting has started), ``forget``
(row gone and the booking already cancelled, or its meeting started: history is never cancelled)
and ``unknown`` (what NeetoCal holds could not be read: no write for that key).

**Ownership is the safety property.** A step that writes to an existing booking (reschedule,
cancel) only ever names a sid from the owned records; nothing in the plan is derived from NeetoCal's
other bookings. A create is the only write that touches a new booking.

**Crash safety.** The operator writes a :data:`pending <PENDING_KEY>` record (the batch of writes
about to go out) to the store before each batch and removes it after the batch's ownership is saved.
A run that finds it folds it in (:func:`fold_pending`): a move that landed is recognised as ours
(``moving_to``), a cancel as ours (``cancelling``), and a create whose answer was never recorded is
looked up (the operator's job) before anything is planned for that key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import pendulum

from airflow_provider_neetocal.booking import build_booking_payload, is_absent
from airflow_provider_neetocal.exactly_once import is_live, parse_instant, slot_start_utc
from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

if TYPE_CHECKING:
    import datetime as dt

#: What a row may carry besides its key: the bulk operator's row fields.
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
OnRemoved = Literal["cancel", "keep"]
OnDrift = Literal["respect", "enforce"]
Mode = Literal["plan", "apply"]
ON_REMOVED_CHOICES: tuple[str, ...] = get_args(OnRemoved)
ON_DRIFT_CHOICES: tuple[str, ...] = get_args(OnDrift)
MODE_CHOICES: tuple[str, ...] = get_args(Mode)
ACTIONS = ("create", "reschedule", "cancel", "unchanged", "drifted", "keep", "forget", "unknown")
WRITES = frozenset({"create", "reschedule", "cancel"})
#: Longest row key (the store keeps keys inside JSON chunks; a key is an id, not a document).
MAX_KEY_LENGTH = 200

#: The store format this provider writes; anything else is refused, never guessed at.
STORE_FORMAT = 1
META_KEY = "neetocal.sync.meta"
PENDING_KEY = "neetocal.sync.pending"
#: Largest JSON text of one ownership chunk: under Airflow's default ``[state_store]
#: max_value_storage_bytes`` (65,535) with room to spare, so no write is warned about or refused.
MAX_CHUNK_BYTES = 48_000


class SyncStoreError(Exception):
    """The sync's ownership cannot be read or written as stored: nothing may be planned from it."""


# -- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Desired:
    """One row as the sync wants it in NeetoCal: its validated create payload and start."""

    key: str
    payload: dict[str, Any]
    start: pendulum.DateTime

    @property
    def meeting(self) -> str:
        return str(self.payload["meeting_slug"]).lower()

    @property
    def email(self) -> str:
        return str(self.payload["email"]).lower()


def desired_from_rows(
    rows: Sequence[Any], *, key_field: str, defaults: Mapping[str, Any] | None = None
) -> dict[str, Desired]:
    """Validate every row and key them; raise for all problems at once (nothing is sent then).

    Each row needs ``key_field`` (a non-empty text or a whole number, unique across rows), a meeting,
    an attendee and a fixed slot (a sync compares starts, so NeetoCal cannot pick the slot).
    """
    defaults = {k: v for k, v in (defaults or {}).items() if not is_absent(v)}
    problems: list[FieldProblem] = []
    desired: dict[str, Desired] = {}
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, Mapping):
            problems.append(FieldProblem(where, row, "expected a mapping of booking fields with a key"))
            continue
        key, problem = _row_key(row.get(key_field))
        if problem:
            problems.append(FieldProblem(f"{where}.{key_field}", row.get(key_field), problem))
            continue
        if key in first_row:
            problems.append(
                FieldProblem(
                    f"{where}.{key_field}",
                    key,
                    f"the same key as rows[{first_row[key]}]: each key names one booking; remove or merge the "
                    "duplicate rows",
                )
            )
            continue
        first_row[key] = index
        fields = {k: v for k, v in row.items() if k != key_field}
        unknown = sorted(set(fields) - set(ROW_FIELDS))
        if unknown:
            problems.append(
                FieldProblem(
                    where, unknown, f"unknown columns; expected {key_field} and some of {', '.join(ROW_FIELDS)}"
                )
            )
            continue
        arguments = defaults | {k: v for k, v in fields.items() if not is_absent(v)}
        if "attendee_email" in arguments:
            if "email" in arguments:
                problems.append(FieldProblem(where, row, "both email and attendee_email: give the attendee once"))
                continue
            arguments["email"] = arguments.pop("attendee_email")
        for required in ("meeting_slug", "name", "email", "time_zone"):
            arguments.setdefault(required, None)
        try:
            payload = build_booking_payload(**arguments)
        except NeetoCalValidationError as invalid:
            problems.extend(FieldProblem(f"{where}.{p.field}", p.value, p.problem) for p in invalid.problems)
            continue
        start = slot_start_utc(payload)
        if start is None:
            problems.append(
                FieldProblem(
                    f"{where}.slot_start",
                    None,
                    "a synced row needs a fixed slot (slot_start, or slot_date with slot_start_time): the sync "
                    "compares starts",
                )
            )
            continue
        desired[key] = Desired(key, payload, start)
    if problems:
        raise NeetoCalValidationError(problems)
    return desired


def _row_key(value: Any) -> tuple[str, str | None]:
    if isinstance(value, bool) or value is None:
        return "", "missing or not a key: expected a non-empty text or a whole number naming the row"
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, str) and value.strip() and len(value) <= MAX_KEY_LENGTH:
        return value.strip(), None
    return "", f"expected a non-empty text of at most {MAX_KEY_LENGTH} characters or a whole number naming the row"


# -- ownership ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owned:
    """A booking this sync created or adopted for a key, and what it last set.

    :param start: the start (UTC, ISO 8601) this sync last gave the booking.
    :param moving_to: a move to this start was sent and its outcome not recorded (from the pending record).
    :param cancelling: a cancel was sent and its outcome not recorded (from the pending record).
    """

    key: str
    sid: str
    meeting: str
    email: str
    start: str
    moving_to: str | None = None
    cancelling: bool = False

    def to_json(self) -> list[str]:
        return [self.sid, self.meeting, self.email, self.start]

    @classmethod
    def from_json(cls, key: str, value: Any) -> Owned:
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) and v for v in value)):
            raise SyncStoreError(f"the ownership record of key {key!r} is not [sid, meeting, email, start]: {value!r}")
        return cls(key, *value)


@dataclass(frozen=True)
class PendingCreate:
    """A create sent (or about to be) whose booking was never recorded: to be looked up, never re-sent blindly."""

    key: str
    meeting: str
    email: str
    start: str
    sent_at: str

    def to_op(self) -> dict[str, Any]:
        """The pending operation carried into the next pending record (with its own send time)."""
        return {
            "key": self.key,
            "op": "create",
            "meeting": self.meeting,
            "email": self.email,
            "start": self.start,
            "sent_at": self.sent_at,
        }


def utc_text(moment: dt.datetime) -> str:
    """The one text form of an instant the store and the plan use."""
    return pendulum.instance(moment).in_timezone("UTC").isoformat()


def start_text(booking: Mapping[str, Any]) -> str | None:
    start = parse_instant(booking.get("starts_at"))
    return utc_text(start) if start is not None else None


def pending_record(ops: Sequence[Mapping[str, Any]], *, now: dt.datetime) -> dict[str, Any]:
    """The pending record stored before a batch of writes goes out."""
    return {"format": STORE_FORMAT, "sent_at": utc_text(now), "ops": [dict(op) for op in ops]}


def fold_pending(owned: Mapping[str, Owned], pending: Any) -> tuple[dict[str, Owned], list[PendingCreate]]:
    """Owned records with the pending batch folded in, and the creates that must be looked up.

    A pending move or cancel only marks an owned record (same key *and* sid): it never makes a
    booking owned. A pending create for a key that is already owned is done (its answer was saved).
    """
    folded = dict(owned)
    creates: list[PendingCreate] = []
    if pending is None:
        return folded, creates
    if (
        not isinstance(pending, dict)
        or pending.get("format") != STORE_FORMAT
        or not isinstance(pending.get("ops"), list)
    ):
        raise SyncStoreError(f"the pending record is not one this provider wrote (format {STORE_FORMAT}): {pending!r}")
    sent_at = pending.get("sent_at")
    if not isinstance(sent_at, str) or parse_instant(sent_at) is None:
        raise SyncStoreError(f"the pending record has no readable sent_at: {sent_at!r}")
    for op in pending["ops"]:
        if not isinstance(op, dict) or not isinstance(op.get("key"), str):
            raise SyncStoreError(f"a pending operation is not readable: {op!r}")
        key, kind = op["key"], op.get("op")
        record = folded.get(key)
        if kind == "create":
            fields = [op.get("meeting"), op.get("email"), op.get("start")]
            if not all(isinstance(f, str) and f for f in fields):
                raise SyncStoreError(f"a pending create is not readable: {op!r}")
            op_sent = op.get("sent_at", sent_at)
            if not isinstance(op_sent, str) or parse_instant(op_sent) is None:
                raise SyncStoreError(f"a pending create has no readable sent_at: {op!r}")
            if record is None:
                creates.append(PendingCreate(key, str(fields[0]), str(fields[1]), str(fields[2]), op_sent))
        elif kind == "reschedule":
            if record is not None and record.sid == op.get("sid") and isinstance(op.get("to"), str):
                folded[key] = dataclasses.replace(record, moving_to=op["to"])
        elif kind == "cancel":
            if record is not None and record.sid == op.get("sid"):
                folded[key] = dataclasses.replace(record, cancelling=True)
        else:
            raise SyncStoreError(f"a pending operation of unknown kind {kind!r}")
    return folded, creates


class KeyValueStore(Protocol):
    """What the sync needs of Airflow's asset state store accessor (JSON values)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


def chunk_key(generation: int, index: int) -> str:
    return f"neetocal.sync.owned.{generation}.{index}"


def bucket_of(key: str, buckets: int) -> int:
    """The chunk a key lives in: stable, so one changed key rewrites one chunk."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % buckets


def encode_chunks(owned: Mapping[str, Owned], buckets: int) -> list[str]:
    """Each chunk's JSON text (keys sorted, so an unchanged chunk encodes the same)."""
    chunks: list[dict[str, Any]] = [{} for _ in range(buckets)]
    for key in sorted(owned):
        chunks[bucket_of(key, buckets)][key] = owned[key].to_json()
    return [json.dumps(chunk, separators=(",", ":"), sort_keys=True) for chunk in chunks]


def buckets_for(owned: Mapping[str, Owned], *, at_least: int = 1, max_bytes: int = MAX_CHUNK_BYTES) -> int:
    """The fewest chunks (a power of two, from ``at_least``) whose every JSON text fits ``max_bytes``."""
    buckets = max(at_least, 1)
    while max((len(text) for text in encode_chunks(owned, buckets)), default=0) > max_bytes:
        buckets *= 2
    return buckets


class OwnershipStore:
    """The sync's memory in one asset's state store: a meta record, chunks of owned keys, a pending batch.

    * ``neetocal.sync.meta``: format, the sync id, workspace and task (``<dag_id>/<task_id>``) it belongs
      to (another task is refused unless it names the owner in ``take_over_from``), the chunk generation
      and count. It is written after the chunks: a new generation's chunks are only read once the meta
      names them (so a reader never sees half a generation), and within a generation the chunks are the
      truth (a count left stale by a save cut short is corrected by the next save, never refused).
    * ``neetocal.sync.owned.<generation>.<i>``: ``{key: [sid, meeting, email, start]}``, each under
      :data:`MAX_CHUNK_BYTES`; keys are spread by hash, so a changed key rewrites one chunk.
    * ``neetocal.sync.pending``: the batch of writes in flight (see :func:`fold_pending`).

    Anything unreadable raises :class:`SyncStoreError`: an ownership read wrong could create twice
    or touch a booking that is not the sync's.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        sync_id: str,
        workspace: str,
        owner: str | None = None,
        take_over_from: str | None = None,
        max_bytes: int = MAX_CHUNK_BYTES,
    ):
        self.store = store
        self.sync_id = sync_id
        self.workspace = workspace
        #: ``<dag_id>/<task_id>`` of the task running the sync: the only one that may write this store.
        self.owner = owner
        self.take_over_from = take_over_from
        self._meta_owner: Any = None
        self.max_bytes = max_bytes
        self.generation = 0
        self.buckets = 1
        self._written: list[str] = []
        self._meta_count: Any = None
        self.writes = 0

    def load(self) -> tuple[dict[str, Owned], Any]:
        """The owned records and the raw pending record (``None`` when none)."""
        meta = self._get(META_KEY)
        pending = self._get(PENDING_KEY)
        if meta is None:
            if pending is not None:
                raise SyncStoreError("a pending record without ownership meta: the store was changed by hand")
            self._written = []
            return {}, None
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise SyncStoreError(
                f"the ownership meta is not one this provider writes (format {STORE_FORMAT}): {meta!r}"
            )
        if meta.get("sync_id") != self.sync_id or meta.get("workspace") != self.workspace:
            raise SyncStoreError(
                f"this asset holds the ownership of sync {meta.get('sync_id')!r} in workspace "
                f"{meta.get('workspace')!r}, not of sync {self.sync_id!r} in {self.workspace!r}: give each sync "
                "its own sync_id (and asset), and keep one workspace per sync"
            )
        stored_owner = meta.get("owner")
        if self.owner is not None and stored_owner not in (None, self.owner, self.take_over_from):
            raise SyncStoreError(
                f"sync {self.sync_id!r} belongs to the task {stored_owner!r}, not to {self.owner!r}: two tasks "
                "on one sync_id would cancel each other's bookings. Give this task its own sync_id, or hand "
                f"the sync over with take_over_from={stored_owner!r} (and stop the old task)"
            )
        generation, buckets = meta.get("generation"), meta.get("chunks")
        if not (isinstance(generation, int) and isinstance(buckets, int) and buckets >= 1):
            raise SyncStoreError(f"the ownership meta names no readable chunks: {meta!r}")
        owned: dict[str, Owned] = {}
        sids: set[str] = set()
        written: list[str] = []
        for index in range(buckets):
            chunk = self._get(chunk_key(generation, index))
            if not isinstance(chunk, dict):
                raise SyncStoreError(f"ownership chunk {chunk_key(generation, index)!r} is missing or not a mapping")
            for key, value in chunk.items():
                owned[key] = Owned.from_json(key, value)
                if owned[key].sid in sids:
                    raise SyncStoreError(f"booking {owned[key].sid!r} is owned by two keys ({key!r} and another)")
                sids.add(owned[key].sid)
            written.append(json.dumps(chunk, separators=(",", ":"), sort_keys=True))
        # The chunks are the truth: a save writes its chunks before the meta, so a save cut short between the
        # two leaves a stale count (rewritten by the next save), never a lost key.
        self.generation, self.buckets, self._written = generation, buckets, written
        self._meta_count = meta.get("count")
        self._meta_owner = stored_owner
        return owned, pending

    def save(self, owned: Mapping[str, Owned]) -> int:
        """Write what changed; return how many store writes it took."""
        before = self.writes
        buckets = buckets_for(owned, at_least=self.buckets if self._written else 1, max_bytes=self.max_bytes)
        texts = encode_chunks(owned, buckets)
        if buckets != self.buckets or not self._written:
            old = (self.generation, self.buckets) if self._written else None
            generation = self.generation + 1 if self._written else self.generation
            for index, text in enumerate(texts):
                self._set(chunk_key(generation, index), json.loads(text))
            self.generation, self.buckets, self._written = generation, buckets, texts
            self._set_meta(len(owned))
            if old is not None:
                for index in range(old[1]):
                    self._delete(chunk_key(old[0], index))
            return self.writes - before
        changed = False
        for index, text in enumerate(texts):
            if text != self._written[index]:
                self._set(chunk_key(self.generation, index), json.loads(text))
                self._written[index] = text
                changed = True
        if changed or self._meta_count != len(owned) or self._meta_owner != self.owner:
            self._set_meta(len(owned))
        return self.writes - before

    def set_pending(self, record: Mapping[str, Any] | None) -> None:
        if record is None:
            self._delete(PENDING_KEY)
        else:
            self._set(PENDING_KEY, dict(record))

    def _set_meta(self, count: int) -> None:
        meta = {
            "format": STORE_FORMAT,
            "sync_id": self.sync_id,
            "workspace": self.workspace,
            "generation": self.generation,
            "chunks": self.buckets,
            "count": count,
        }
        if self.owner is not None:
            meta["owner"] = self.owner
        self._set(META_KEY, meta)
        self._meta_count = count
        self._meta_owner = meta.get("owner")

    def _get(self, key: str) -> Any:
        try:
            return self.store.get(key, None)
        except Exception as error:
            raise SyncStoreError(f"reading {key!r} from the asset state store failed: {error}") from error

    def _set(self, key: str, value: Any) -> None:
        try:
            self.store.set(key, value)
        except Exception as error:
            raise SyncStoreError(f"writing {key!r} to the asset state store failed: {error}") from error
        self.writes += 1

    def _delete(self, key: str) -> None:
        try:
            self.store.delete(key)
        except Exception as error:
            raise SyncStoreError(f"deleting {key!r} from the asset state store failed: {error}") from error
        self.writes += 1


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the sync does (or leaves) for one key.

    :param current: the booking's start in NeetoCal now (UTC ISO), when it has one.
    :param target: the row's start (UTC ISO), when the key has a row.
    :param replace: a ``create`` that first cancels the key's owned booking (its meeting or attendee changed).
    """

    key: str
    action: str
    sid: str | None = None
    current: str | None = None
    target: str | None = None
    note: str = ""
    replace: bool = False

    def compact(self) -> dict[str, Any]:
        out = {"key": self.key, "action": self.action, "sid": self.sid, "from": self.current, "to": self.target}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    owned: int

    def counts(self) -> dict[str, int]:
        counted = Counter(step.action for step in self.steps)
        return {action: counted.get(action, 0) for action in ACTIONS}

    @property
    def cancellations(self) -> int:
        """Owned bookings the apply would cancel (a replace cancels one too)."""
        return sum(1 for s in self.steps if s.action == "cancel" or (s.action == "create" and s.replace))

    @property
    def writes(self) -> list[Step]:
        return [s for s in self.steps if s.action in WRITES]

    def compact(self, *, mode: str, sync_id: str) -> dict[str, Any]:
        """The XCom: counts, and every step but the unchanged ones."""
        return {
            "sync_id": sync_id,
            "mode": mode,
            "owned": self.owned,
            "counts": self.counts(),
            "cancellations": self.cancellations,
            "changes": [s.compact() for s in self.steps if s.action != "unchanged"],
        }

    def table(self, *, limit: int = 50) -> list[str]:
        """The plan as text lines for the task log: counts, then each step that is not unchanged."""
        counts = self.counts()
        lines = ["  " + "  ".join(f"{action} {counts[action]}" for action in ACTIONS if counts[action])]
        shown = [s for s in self.steps if s.action != "unchanged"]
        if not shown:
            return [*lines, "  (nothing to change)"]
        rows = [("key", "action", "booking", "from", "to", "note")]
        for step in shown[:limit]:
            action = "replace" if step.replace else step.action
            rows.append((step.key, action, step.sid or "-", step.current or "-", step.target or "-", step.note))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + f"  {row[5]}" for row in rows
        ]
        if len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more (the XCom lists them all)")
        return [line.rstrip() for line in lines]


def plan_sync(
    desired: Mapping[str, Desired],
    owned: Mapping[str, Owned],
    current: Mapping[str, Mapping[str, Any] | None],
    *,
    on_removed: str = "cancel",
    on_drift: str = "respect",
    unresolved: Collection[str] = (),
    now: dt.datetime | None = None,
) -> Plan:
    """The plan (pure). ``current`` maps each owned sid read to its booking, ``None`` for a 404; an
    owned sid missing from it could not be read (``unknown``: nothing is written for that key).
    ``unresolved`` are keys whose interrupted create could not be looked up (``unknown`` too).
    ``now`` (NeetoCal's clock when known): a live booking that started by then is history, never
    cancelled or moved: its removed row is ``forget`` (no longer tracked), a changed row ``keep``.
    """
    steps: list[Step] = []
    for key in sorted(set(desired) | set(owned) | set(unresolved)):
        row = desired.get(key)
        record = owned.get(key)
        target = utc_text(row.start) if row is not None else None
        if key in unresolved and record is None:
            steps.append(Step(key, "unknown", target=target, note="an interrupted create could not be looked up"))
            continue
        if record is None:
            assert row is not None
            steps.append(Step(key, "create", target=target))
            continue
        if record.sid not in current:
            steps.append(Step(key, "unknown", record.sid, target=target, note="the booking could not be read"))
            continue
        steps.append(_owned_step(key, row, record, current[record.sid], target, on_removed, on_drift, now))
    return Plan(tuple(steps), owned=len(owned))


def _owned_step(
    key: str,
    row: Desired | None,
    record: Owned,
    booking: Mapping[str, Any] | None,
    target: str | None,
    on_removed: str,
    on_drift: str,
    clock: dt.datetime | None = None,
) -> Step:
    sid = record.sid
    live = booking is not None and is_live(booking)
    now = start_text(booking) if booking is not None else None
    ours = {record.start} | ({record.moving_to} if record.moving_to else set())
    if not live:
        gone = "deleted" if booking is None else f"{booking.get('status')}"
        if row is None or record.cancelling:
            if row is None:
                return Step(key, "forget", sid, now, None, note=f"row removed; booking already {gone}")
            return Step(key, "create", sid, now, target, note=f"this sync cancelled it ({gone}); booking again")
        if on_drift == "enforce":
            return Step(key, "create", sid, now, target, note=f"{gone} by someone else; booking again (enforce)")
        return Step(key, "drifted", sid, now, target, note=f"{gone} by someone else; left alone (respect)")
    if now is None:
        return Step(key, "unknown", sid, None, target, note="the booking has no readable starts_at")
    attendee = booking.get("email") if booking is not None else None
    if isinstance(attendee, str) and attendee.lower() != record.email:
        # Not the attendee this sync booked (changed by hand, or a record that names the wrong booking):
        # whatever on_drift says, a booking for someone else is never moved or cancelled.
        return Step(
            key, "drifted", sid, now, target, note="its attendee is not the one this sync booked; never touched"
        )
    moved_by_hand = now not in ours
    begins = parse_instant(now)
    started = clock is not None and begins is not None and begins <= clock
    if row is None:
        if on_removed == "keep":
            return Step(key, "keep", sid, now, None, note="row removed; on_removed='keep'")
        if started:
            return Step(key, "forget", sid, now, None, note="row removed; the meeting has started: never cancelled")
        if moved_by_hand and on_drift == "respect":
            return Step(key, "drifted", sid, now, None, note="row removed, but moved by someone else; left alone")
        return Step(key, "cancel", sid, now, None, note="row removed")
    if started and (now != target or row.meeting != record.meeting or row.email != record.email):
        return Step(key, "keep", sid, now, target, note="the meeting has started: never moved or cancelled")
    if row.meeting != record.meeting or row.email != record.email:
        if moved_by_hand and on_drift == "respect":
            return Step(key, "drifted", sid, now, target, note="moved by someone else; meeting/attendee change left")
        return Step(key, "create", sid, now, target, note="meeting or attendee changed: cancel and book", replace=True)
    if now == target:
        return Step(key, "unchanged", sid, now, target)
    if moved_by_hand:
        if on_drift == "respect":
            return Step(key, "drifted", sid, now, target, note="moved by someone else; left alone (respect)")
        return Step(key, "reschedule", sid, now, target, note="moved by someone else; moved back (enforce)")
    return Step(key, "reschedule", sid, now, target)


def cancellation_limit(max_cancellations: int | float | None, owned: int) -> int | None:
    """The most cancellations an apply may make: absolute (a whole number) or a fraction of owned."""
    if max_cancellations is None:
        return None
    if isinstance(max_cancellations, int):
        return max_cancellations
    return int(max_cancellations * owned)


def apply_outcome(
    owned: Mapping[str, Owned], step: Step, row: Desired | None, booking: Mapping[str, Any] | None
) -> dict[str, Owned]:
    """The owned records after ``step`` was carried out (``booking`` as NeetoCal answered, if any)."""
    result = dict(owned)
    if step.action in ("cancel", "forget"):
        result.pop(step.key, None)
    elif step.action in ("create", "reschedule", "unchanged") and row is not None:
        sid = (booking or {}).get("sid") if step.action == "create" else step.sid
        if isinstance(sid, str) and sid:
            start = (start_text(booking) if booking else None) or utc_text(row.start)
            result[step.key] = Owned(step.key, sid, row.meeting, row.email, start)
    return result
