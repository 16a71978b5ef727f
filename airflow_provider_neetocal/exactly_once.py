"""Exactly-once booking creation: the one place that decides whether to look up, adopt or send.

NeetoCal has no idempotency key, so "did an earlier attempt already make this booking?" can only be
answered by looking (``GET /bookings?client_email=…``) and recognising what a create would have
made. Everything that can go wrong in that sentence is handled here, and only here:

* **The look-up is three-valued** (:class:`Found` / :class:`Absent` / :class:`Unknowable`). A look-up
  that could not look (a failed request, a meeting ``GET /meetings`` does not list, a booking
  without a readable start or meeting) is :class:`Unknowable`, never "absent".
* **The decision is a small pure state machine** (:func:`decide`): given what happened so far in
  this try (started, looked up, sent with an unknown outcome, refused), it names the next action.
  A POST is sent only when absence is proven or nothing of ours can exist yet (a first try), or
  when NeetoCal itself would refuse a duplicate (a fixed slot on a one-on-one meeting). An attempt
  whose outcome is unknown is never re-sent otherwise: the try fails with a retryable error, and
  the Airflow retry (after ``retry_delay``) looks again before sending anything.
* **A booking is adopted once**: :class:`ExactlyOnce` remembers the bookings it handed out, so two
  rows of one batch can never both claim one booking; on a first try, a booking made during this
  DAG run cannot be ours (another task or row made it) and is refused rather than shared.
* **Safe from several threads**: the bulk operator calls :meth:`ExactlyOnce.obtain` from worker
  threads, never two rows of one attendee at once. What rows share (claimed sids, reserved starts,
  the meeting cache) is read and changed under a lock, and a booking is claimed at most once even if
  two look-ups raced to it.
* **One listing for a whole first try** (:meth:`ExactlyOnce.list_before_sending`): before any POST
  of a first try, the workspace's bookings may be listed once instead of once per attendee; that
  listing then answers the look-ups made before each row's POST (and is the slot-less rows'
  "listed before sending" snapshot). A look-up after a POST, or after a refusal, always asks
  NeetoCal afresh.

:class:`ExactlyOnce` is the thin driver: it carries out the actions with the hook (the only I/O)
and turns the machine's verdicts into typed exceptions. Operators call :meth:`ExactlyOnce.obtain`
and nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import pendulum

from airflow_provider_neetocal.exceptions import (
    FIRST_LINE_WIDTH,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalBookingClaimedError,
    NeetoCalBookingExistsError,
    NeetoCalBookingGoneError,
    NeetoCalBookingUnknownError,
    NeetoCalClientError,
    NeetoCalJournalUnreadableError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalRetryableError,
)
from airflow_provider_neetocal.journal import (
    Entry,
    Journal,
    JournalError,
    Unreadable,
    http_date,
    in_flight_until,
    journal_key,
    landed_by,
    request_identity,
    sending,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

#: What to do when the booking already exists before the first attempt (see the create operator).
IfExists = Literal["reuse", "fail", "create"]
IF_EXISTS_CHOICES: tuple[str, ...] = get_args(IfExists)

#: How far NeetoCal's ``created_at`` may precede this machine's clock and still count as "since":
#: the two clocks are not the same, and NeetoCal reports whole seconds.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=5)
#: Booking statuses that no longer hold the slot: such a booking is not "the one we made".
DEAD_STATUSES = frozenset({"cancelled", "canceled", "rejected"})
#: Meeting kinds on which NeetoCal refuses a second booking of a taken slot. Only this value (the
#: one the API reference shows) turns re-sending on; any other or missing kind keeps it off.
ONE_ON_ONE_KINDS = frozenset({"one_on_one"})
#: Seconds between the look-up right after a lost answer and the second one (a request NeetoCal
#: was still processing may land meanwhile).
DEFAULT_SETTLE_SECONDS = 3.0
#: Re-sends within one try, only where NeetoCal refuses duplicates (see :class:`Absent`).
MAX_GUARDED_RESENDS = 2


# -- look-up results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """NeetoCal holds a live booking this request made (or would duplicate).

    :param booking: the booking as NeetoCal lists it.
    :param made_in_this_run: created since the DAG run started (give or take clock skew).
    """

    booking: dict[str, Any]
    made_in_this_run: bool


@dataclass(frozen=True)
class Absent:
    """Proven: no live booking of this attendee can be the one this request made.

    :param duplicate_refused: NeetoCal would itself refuse a second booking for this request (a
        fixed slot on a one-on-one meeting, without API v2's ``override_availability``), so
        re-sending after a lost answer cannot duplicate.
    """

    duplicate_refused: bool = False


@dataclass(frozen=True)
class Unknowable:
    """The look-up could not decide; ``reason`` says why, for a person to act on.

    :param lead: the first line of the error when this is why nothing was sent (what happened and what
        to do, e.g. an unknown meeting or NeetoCal's temporary failure); ``None`` for the generic one.
    :param advice: what to do, after ``reason`` in the error's details; ``None`` for the generic advice.

    Two are equal when their reasons are: ``lead`` and ``advice`` only present the same finding.
    """

    reason: str
    lead: str | None = dataclasses.field(default=None, compare=False)
    advice: str | None = dataclasses.field(default=None, compare=False)


def unknown_meeting(slug: str) -> Unknowable:
    """Why nothing was sent when the request's meeting is not listed but the attendee has a candidate booking."""
    return Unknowable(
        f"meeting {slug!r} is not listed by GET /meetings (a mistyped slug, a hidden meeting, or one this "
        "API key cannot see), and this attendee has a booking that may be this request's",
        lead=_fitted_lead(
            f"Meeting {slug!r} not found in this NeetoCal workspace; nothing sent — check meeting_slug",
            "Meeting not found in this NeetoCal workspace; nothing sent — check meeting_slug (below)",
        ),
        advice="fix meeting_slug (the last part of the meeting's booking URL) or the connection's Workspace; "
        "for a meeting hidden from GET /meetings, accepting the risk of a duplicate, set if_exists='create'",
    )


def temporary_failure(error: NeetoCalApiError, reason: str) -> Unknowable:
    """Why nothing was sent when NeetoCal failed a look-up request in a way that may pass (5xx, 429, network)."""
    status = f" (HTTP {error.status})" if error.status is not None and error.status >= 400 else ""
    rest = f"{status} while checking for an earlier booking; nothing sent — a retry looks again"
    return Unknowable(
        reason,
        lead=_fitted_lead(f"{error.what_happened()}{rest}", f"NeetoCal failed{rest}"),
        advice="probably temporary: Airflow retries the task (after retry_delay) if it has retries left, and the "
        "retry looks for the booking again before sending; with no retries left, clear the task",
    )


def _fitted_lead(lead: str, shorter: str) -> str:
    return lead if len(lead) <= FIRST_LINE_WIDTH else shorter


Lookup = Found | Absent | Unknowable


# -- the pure look-up ---------------------------------------------------------------------------


def slot_start_utc(payload: Mapping[str, Any]) -> pendulum.DateTime | None:
    """The UTC instant a validated payload asks for, or ``None`` when NeetoCal picks the slot."""
    if "slot_date" not in payload or "slot_start_time" not in payload:
        return None
    local = pendulum.from_format(
        f"{payload['slot_date']} {payload['slot_start_time']}", "YYYY-MM-DD hh:mm A", tz=payload["time_zone"]
    )
    return local.in_timezone("UTC")


def parse_instant(value: Any) -> pendulum.DateTime | None:
    """A timestamp from a booking (``starts_at``, ``created_at``) in UTC, or ``None`` if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # exact, no default zone: a date alone, a time of day or a wall-clock time without an offset
        # is not an instant (plain parse would fill in the rest, and call it UTC).
        parsed = pendulum.parse(value, exact=True, tz=None)
    except Exception:
        return None
    if not isinstance(parsed, pendulum.DateTime) or parsed.tzinfo is None:
        return None
    return parsed.in_timezone("UTC")


def is_live(booking: Mapping[str, Any]) -> bool:
    """Whether the booking still holds its slot (not cancelled or rejected)."""
    return str(booking.get("status", "")).lower() not in DEAD_STATUSES


def created_after(booking: Mapping[str, Any], moment: dt.datetime) -> bool:
    """Whether NeetoCal created ``booking`` at or after ``moment``, give or take :data:`CLOCK_SKEW_ALLOWANCE`."""
    created = parse_instant(booking.get("created_at"))
    return created is not None and created >= pendulum.instance(moment) - CLOCK_SKEW_ALLOWANCE


def resolve_meeting(meetings: Iterable[Any], slug: str) -> dict[str, Any] | None:
    """The meeting with ``slug`` among listed meetings: exact, else the only one equal ignoring case."""
    listed = [m for m in meetings if isinstance(m, Mapping)]
    exact = [m for m in listed if m.get("slug") == slug]
    if exact:
        return dict(exact[0])
    folded = [m for m in listed if isinstance(m.get("slug"), str) and m["slug"].lower() == slug.lower()]
    return dict(folded[0]) if len(folded) == 1 else None


def belongs_to_meeting(booking: Mapping[str, Any], meeting: Mapping[str, Any]) -> bool | None:
    """Whether ``booking`` is for ``meeting``; ``None`` when the booking does not say.

    Bookings carry no slug, only ``meeting_id`` and ``meeting.name``.
    """
    if booking.get("meeting_id") and meeting.get("id"):
        return str(booking["meeting_id"]) == str(meeting["id"])
    booking_meeting = booking.get("meeting")
    name = booking_meeting.get("name") if isinstance(booking_meeting, Mapping) else None
    if name and meeting.get("name"):
        return bool(name == meeting["name"])
    return None


def judge_lookup(
    bookings: Iterable[Any],
    payload: Mapping[str, Any],
    meeting: Mapping[str, Any] | Unknowable | None,
    *,
    run_started: dt.datetime | None,
    claimed: frozenset[str] | set[str] = frozenset(),
    known_before: frozenset[str] | set[str] | None = None,
    reserved: frozenset[tuple[str, str, str]] | set[tuple[str, str, str]] = frozenset(),
    sent_until: dt.datetime | None = None,
) -> Lookup:
    """Decide from the attendee's bookings whether the request's booking exists.

    :param bookings: ``GET /bookings?client_email=…`` for the payload's attendee.
    :param meeting: the meeting record (``GET /meetings``), ``None`` when it is not listed, or why
        it could not be fetched. Without it, a candidate booking cannot be attributed, but a
        listing with no candidate at all still proves absence.
    :param run_started: the DAG run's start. A slot-less request (NeetoCal picks the slot) can only
        have made a booking created since then; when unknown, any creation time counts.
    :param claimed: sids already adopted by other requests of this task, never adopted twice.
    :param known_before: for a slot-less request, the sids of the attendee's bookings listed just
        before this try sent its POST: none of them can be what the POST made, whatever the clocks
        say. ``None`` when there was no such listing (a retry): creation times decide then.
    :param sent_until: by when an earlier try's send (from the journal) had made its booking, if at
        all, on NeetoCal's clock. A candidate not listed before that send but created after this cannot
        be told from another task's booking (or NeetoCal's late processing of the send): unknowable,
        neither adopted nor taken as absence.
    :param reserved: ``(email, meeting slug, UTC start)`` of the fixed-slot requests of this task
        (all lower-case, ISO start): a booking there belongs to that request even before it is
        claimed, so a slot-less request never takes it.

    A fixed-slot request matches a live booking of the same attendee, meeting and start; a slot-less
    one, the only live booking of the attendee and meeting created since the run started.
    """
    start = slot_start_utc(payload)
    email = str(payload["email"]).lower()
    matches: list[dict[str, Any]] = []
    doubts: list[str] = []
    # The meeting's own problem (not listed, or GET /meetings failed), when a candidate booking met it.
    blocker: Unknowable | None = None
    for booking in bookings:
        if not isinstance(booking, Mapping):
            doubts.append(f"an entry of the listing is not a booking object ({type(booking).__name__})")
            continue
        sid = booking.get("sid")
        if (isinstance(sid, str) and (sid in claimed or (known_before is not None and sid in known_before))) or (
            not is_live(booking)
        ):
            continue
        booking_email = booking.get("email")
        if isinstance(booking_email, str) and booking_email.lower() != email:
            continue
        doubt = "" if isinstance(booking_email, str) else "has no attendee email"
        if start is not None:
            starts_at = parse_instant(booking.get("starts_at"))
            if starts_at is not None and starts_at != start:
                continue
            doubt = doubt or ("" if starts_at is not None else "has no readable starts_at")
        else:
            starts_at = parse_instant(booking.get("starts_at"))
            key = (email, str(payload["meeting_slug"]).lower(), starts_at.isoformat() if starts_at else "")
            if key in reserved:
                continue
            created = parse_instant(booking.get("created_at"))
            if known_before is None:
                if created is not None and run_started is not None and not created_after(booking, run_started):
                    continue
                doubt = doubt or ("" if created is not None else "has no readable created_at")
        if sent_until is not None:
            created = parse_instant(booking.get("created_at"))
            if created is None:
                doubt = doubt or "has no readable created_at to tell it from another task's booking"
            elif created > sent_until:
                doubt = doubt or (
                    f"was created at {booking.get('created_at')}, after this task's earlier request had come "
                    f"back (by {sent_until.isoformat()} on NeetoCal's clock): cannot tell whether it is that "
                    "request's (processed late) or another task's"
                )
        if isinstance(meeting, Unknowable):
            doubt = doubt or f"cannot be attributed to a meeting: {meeting.reason}"
            blocker = blocker or meeting
        elif meeting is None:
            doubt = doubt or (
                f"cannot be attributed: meeting {payload['meeting_slug']!r} is not listed by GET /meetings "
                "(hidden, not visible to this API key, or another slug)"
            )
            # Whatever else is doubtful about it, no booking can be matched to a meeting NeetoCal does not list.
            blocker = blocker or unknown_meeting(str(payload["meeting_slug"]))
        else:
            same = belongs_to_meeting(booking, meeting)
            if same is False:
                continue
            doubt = doubt or ("" if same else "names no meeting (no meeting_id or meeting.name)")
        if doubt:
            doubts.append(f"booking {sid!r} of this attendee {doubt}")
        else:
            matches.append(dict(booking))
    if start is not None and matches:
        return _found(matches, run_started)
    if start is None and len(matches) > 1:
        sids = ", ".join(repr(m.get("sid")) for m in matches)
        return Unknowable(
            f"{len(matches)} live bookings of this attendee for meeting {payload['meeting_slug']!r} were created "
            f"during this DAG run ({sids}) and the request names no slot: cannot tell which one it made"
        )
    if doubts:
        if blocker is not None:
            return Unknowable("; ".join(doubts), lead=blocker.lead, advice=blocker.advice)
        return Unknowable("; ".join(doubts))
    if matches:
        return _found(matches, run_started)
    one_on_one = isinstance(meeting, Mapping) and meeting.get("kind") in ONE_ON_ONE_KINDS
    # override_availability (API v2) books past the meeting's rules: nothing says a taken slot is still refused.
    overriding = bool(payload.get("override_availability"))
    return Absent(duplicate_refused=start is not None and one_on_one and not overriding)


def _found(matches: list[dict[str, Any]], run_started: dt.datetime | None) -> Found:
    newest = max(matches, key=lambda b: parse_instant(b.get("created_at")) or pendulum.datetime(1970, 1, 1))
    return Found(newest, made_in_this_run=run_started is not None and created_after(newest, run_started))


# -- the pure decision --------------------------------------------------------------------------


class Event(enum.Enum):
    """What just happened in this try."""

    STARTED = "started"
    LOOKED = "looked up"
    CREATED = "created"  # NeetoCal answered with the new booking
    OUTCOME_UNKNOWN = "outcome unknown"  # sent; the answer was lost, garbled, 5xx or sid-less
    REFUSED = "refused"  # a 4xx answer to the POST (e.g. 422 "slot not available")


class Verdict(enum.Enum):
    """Why the decision ends without a booking."""

    EXISTS = "exists"  # if_exists="fail" and a booking from before this try exists
    CLAIMED = "claimed"  # a first try found a booking another task or row made during this run
    UNKNOWABLE = "unknowable"  # nothing sent: absence could not be proven
    STILL_UNKNOWN = "still unknown"  # sent with an unknown outcome; not found (yet), not re-sent
    REFUSED = "refused"  # NeetoCal's refusal stands: nothing of ours exists


@dataclass(frozen=True)
class Request:
    """What is fixed for one decision: the request's shape and the task's situation."""

    slotted: bool
    if_exists: IfExists = "reuse"
    retrying: bool = False
    #: The journal holds an earlier try's send with no recorded answer: a booking found (not among
    #: those listed before that send) is what it made.
    resuming_send: bool = False


@dataclass(frozen=True)
class State:
    """What this try has done so far."""

    sent: bool = False  # a POST that may have been applied went out
    settled: bool = False  # the look-up after the settle wait was done
    refused: bool = False  # a POST was refused (4xx) after something of ours may exist
    resends: int = 0


@dataclass(frozen=True)
class LookUp:
    settle_first: bool = False


@dataclass(frozen=True)
class Send:
    risk_accepted: bool = False


@dataclass(frozen=True)
class Adopt:
    created: bool


@dataclass(frozen=True)
class Fail:
    verdict: Verdict


Action = LookUp | Send | Adopt | Fail


def decide(request: Request, state: State, event: Event, lookup: Lookup | None = None) -> tuple[State, Action]:
    """The next action after ``event`` (``lookup`` is the result of a :data:`Event.LOOKED`)."""
    if event is Event.STARTED:
        if request.retrying or (request.slotted and request.if_exists != "create"):
            return state, LookUp()
        # A first try: nothing of ours can exist. Without a slot there is nothing to compare with.
        return state, Send()
    if event is Event.CREATED:
        return state, Adopt(created=True)
    if event is Event.OUTCOME_UNKNOWN:
        return dataclasses.replace(state, sent=True, settled=False), LookUp()
    if event is Event.REFUSED:
        if state.sent or request.retrying:
            # Taken by our own earlier attempt? Only a look-up tells.
            return dataclasses.replace(state, refused=True), LookUp()
        return state, Fail(Verdict.REFUSED)
    if isinstance(lookup, Found):
        if state.sent or state.refused or request.resuming_send:
            return state, Adopt(created=False)
        if request.if_exists == "fail" and not (request.retrying and lookup.made_in_this_run):
            return state, Fail(Verdict.EXISTS)
        if not request.retrying and lookup.made_in_this_run:
            return state, Fail(Verdict.CLAIMED)
        return state, Adopt(created=False)
    if isinstance(lookup, Absent):
        if state.refused:
            return state, Fail(Verdict.REFUSED)
        if not state.sent:
            return state, Send()
        if not state.settled:
            return dataclasses.replace(state, settled=True), LookUp(settle_first=True)
        if lookup.duplicate_refused and state.resends < MAX_GUARDED_RESENDS:
            return dataclasses.replace(state, resends=state.resends + 1), Send()
        return state, Fail(Verdict.STILL_UNKNOWN)
    if isinstance(lookup, Unknowable):
        if state.sent or state.refused:
            # Something went out: say so, with what NeetoCal answered, rather than "nothing was sent".
            return state, Fail(Verdict.STILL_UNKNOWN)
        if request.if_exists == "create":
            return state, Send(risk_accepted=True)
        return state, Fail(Verdict.UNKNOWABLE)
    raise ValueError(f"{event} needs a look-up result, got {lookup!r}")


# -- the journal as one more input ---------------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    """How a try starts, given what the journal says about this task's earlier tries.

    :param retrying: something of this task's may exist in NeetoCal (look before sending).
    :param known_before: sids none of which this task can have made (listed before its send).
    :param sent_since: when the journal's send went out (NeetoCal's clock if it was recorded), for a
        send whose "before" listing could not be made: only bookings created since can be its own.
    :param reread_sid: an earlier try knew this request's booking: re-read it, never send.
    :param unreadable: why the journal's entry cannot be trusted (nothing is sent then).
    :param in_flight: the journal holds a send whose answer was never recorded.
    """

    retrying: bool
    known_before: frozenset[str] | None = None
    sent_since: dt.datetime | None = None
    reread_sid: str | None = None
    unreadable: str | None = None
    in_flight: bool = False


def resume(entry: Entry | Unreadable | None, *, journaled: bool, proves_absence: bool, retrying: bool) -> Resume:
    """The start of a try from the request's journal entry (pure).

    Without a journal (Airflow before 3.3) a retry is a retry: look before sending, judge creation
    times against the run's start. With one, the entry decides: none (and a store that keeps entries
    after success) proves nothing was ever sent, so the try is a first try; a ``sending`` entry is
    resolved against its "before" list, not a time window; an ``answered`` one is re-read.
    """
    if not journaled:
        return Resume(retrying=retrying)
    if entry is None:
        return Resume(retrying=retrying and not proves_absence)
    if isinstance(entry, Unreadable):
        return Resume(retrying=True, unreadable=entry.reason)
    if entry.state == "answered":
        return Resume(retrying=True, reread_sid=entry.sid)
    if entry.before is not None:
        return Resume(retrying=True, known_before=frozenset(entry.before), in_flight=True)
    since = http_date(entry.neetocal_clock) or parse_instant(entry.sent_at)
    return Resume(retrying=True, sent_since=since, in_flight=True)


def workspace_of(base_url: str) -> str:
    """The workspace a base URL names, without the API version root: v1 and v2 are one workspace, so
    a connection switched between versions across tries still finds its journal."""
    return re.sub(r"/api/external/v\d+/*$", "", base_url.rstrip("/"), flags=re.IGNORECASE)


def create_identity(workspace: str, payload: Mapping[str, Any]) -> str:
    """What names a create request in the journal: meeting, attendee and start (see ``request_identity``)."""
    start = slot_start_utc(payload)
    return request_identity(
        "create",
        workspace_of(workspace),
        {"meeting": payload["meeting_slug"], "email": payload["email"], "start": start.isoformat() if start else None},
    )


# -- the driver: the hook is its only I/O -------------------------------------------------------


class ExactlyOnce:
    """Create bookings for one task try, each at most once, each booking handed out once.

    :param hook: the hook to talk through.
    :param if_exists: ``"reuse"``, ``"fail"`` or ``"create"`` (see the create operator).
    :param retrying: whether this is an Airflow retry (``try_number > 1``): something of ours may exist.
    :param run_started: the DAG run's start (``None`` when unknown: look-ups then count bookings of
        any creation time, so they prove less but never wrongly).
    :param settle_seconds: wait between the two look-ups after a lost answer.
    :param journal: the task's journal (Airflow 3.3's task state store), ``None`` where there is none:
        every send is recorded there first, and a retry resumes from it (see :func:`resume`).
    :param try_number: this try's number, recorded with each journal entry.
    """

    def __init__(
        self,
        hook: NeetoCalHook,
        *,
        if_exists: IfExists = "reuse",
        retrying: bool = False,
        run_started: dt.datetime | None = None,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        sleep: Callable[[float], None] | None = None,
        journal: Journal | None = None,
        try_number: int = 1,
    ) -> None:
        self.hook = hook
        self.if_exists = checked_if_exists(if_exists)
        self.retrying = retrying
        self.journal = journal
        self.try_number = try_number
        self._complete: bool | None = None
        self.run_started = run_started
        self.settle_seconds = settle_seconds
        self._sleep = sleep or hook._sleep
        self._meetings: dict[str, dict[str, Any] | Unknowable | None] = {}
        self.claimed: set[str] = set()
        self.reserved: set[tuple[str, str, str]] = set()
        # Guards claimed, reserved and every judgement that reads them; the meeting cache has its own
        # lock, held while GET /meetings runs so that concurrent first rows fetch it once.
        self._lock = threading.RLock()
        self._meetings_lock = threading.Lock()
        # Attendee (lower case) -> their bookings, from one workspace listing before any POST of this try.
        self._listing: dict[str, list[dict[str, Any]]] | None = None

    def obtain(self, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Find this request's booking or create it once; return ``(booking, created)``.

        :raises NeetoCalBookingExistsError: ``if_exists="fail"`` and the booking already existed.
        :raises NeetoCalBookingClaimedError: another task or row made this booking during this run.
        :raises NeetoCalBookingUnknownError: whether the booking exists cannot be told (retryable).
        :raises NeetoCalApiError: NeetoCal refused the request, or it provably never arrived.
        """
        identity = create_identity(self.hook.base_url, payload) if self.journal is not None else ""
        entry = self._read_entry(identity) if self.journal is not None and self.retrying else None
        start = resume(
            entry,
            journaled=self.journal is not None,
            proves_absence=self.journal is not None and self._journal_complete(),
            retrying=self.retrying,
        )
        if start.unreadable is not None:
            raise NeetoCalJournalUnreadableError(key=journal_key("create", identity), reason=start.unreadable)
        if start.reread_sid is not None:
            return self._reread(start.reread_sid)
        if isinstance(entry, Entry) and start.in_flight:
            self._wait_for_in_flight(entry)
        request = Request(
            slotted=slot_start_utc(payload) is not None,
            if_exists=self.if_exists,
            retrying=start.retrying,
            resuming_send=start.in_flight,
        )
        run_started = start.sent_since or self.run_started
        sent_until = (
            landed_by(entry, request_deadline=self.hook.deadline_seconds)
            if isinstance(entry, Entry) and start.known_before is not None
            else None
        )
        state, action = decide(request, State(), Event.STARTED)
        lookup: Lookup | None = None
        last_error: NeetoCalApiError | None = None
        created: dict[str, Any] = {}
        # The attendee's bookings listed before this request was first sent, none of which it can have made:
        # from the journal (an earlier try's send) or listed by this try before its own.
        journal_before = start.known_before
        known_before: frozenset[str] | None = None
        pending = entry if isinstance(entry, Entry) else None
        while True:
            if isinstance(action, Adopt):
                booking = created if action.created else lookup.booking if isinstance(lookup, Found) else {}
                if not self._claim(booking):
                    raise NeetoCalBookingClaimedError(booking)
                self._record_answer(pending, identity, booking)
                return booking, action.created
            if isinstance(action, Fail):
                raise self._failure(action.verdict, lookup, last_error)
            if isinstance(action, LookUp):
                if action.settle_first and self.settle_seconds > 0:
                    self.hook.log.info("Nothing found yet; looking again in %.0f s", self.settle_seconds)
                    self._sleep(self.settle_seconds)
                lookup, listed = self._look_up(
                    payload,
                    known_before if state.sent else journal_before,
                    fresh=state.sent or state.refused,
                    run_started=run_started,
                    sent_until=None if state.sent else sent_until,
                )
                if not state.sent:
                    known_before = listed
                level = logging.DEBUG if isinstance(lookup, Absent) else logging.INFO
                self.hook.log.log(level, "Looked the booking up: %s", describe(lookup))
                state, action = decide(request, state, Event.LOOKED, lookup)
                continue
            if action.risk_accepted:
                self.hook.log.warning(
                    "Cannot prove the booking absent (%s); sending anyway because if_exists='create'", describe(lookup)
                )
            if not request.slotted and not state.sent and known_before is None:
                known_before = self._listed_sids(payload)

            def record_attempt(before: frozenset[str] | None = known_before, resend: bool = state.sent) -> None:
                # Right before each attempt leaves (after the hook's own pacing and 429 waits), so the
                # entry's send time and NeetoCal clock are those of the request that may land.
                nonlocal pending
                pending = self._record_send(pending, identity, before, resend)

            try:
                if self.journal is None:
                    created = self.hook.create_booking(payload)
                else:
                    with self.hook.before_each_attempt(record_attempt):
                        created = self.hook.create_booking(payload)
                event = Event.CREATED
            except NeetoCalOutcomeUnknownError as error:
                self.hook.log.warning("%s; looking the booking up before anything else", error)
                last_error, event = error, Event.OUTCOME_UNKNOWN
                pending = self._record_return(pending)
            except NeetoCalClientError as error:
                last_error, event = error, Event.REFUSED
                pending = self._record_return(pending)
            except Exception:
                self._record_return(pending)  # e.g. 429s past the hook's budget: the call came back
                raise
            state, action = decide(request, state, event)

    # -- the journal ------------------------------------------------------------------------

    def _journal_complete(self) -> bool:
        """Whether every try of this task instance journaled its sends (read once per try)."""
        assert self.journal is not None
        with self._lock:
            if self._complete is None:
                try:
                    self._complete = self.journal.proves_absence and self.journal.begin(self.try_number)
                except JournalError as error:
                    raise NeetoCalBookingUnknownError(
                        reason=f"the task's journal could not be read, so what an earlier try sent is unknown: {error}",
                        sent=False,
                    ) from None
            return self._complete

    def _read_entry(self, identity: str) -> Entry | Unreadable | None:
        """The request's journal entry; a store that cannot be read sends nothing (retryable)."""
        assert self.journal is not None
        try:
            return self.journal.read("create", identity)
        except JournalError as error:
            raise NeetoCalBookingUnknownError(
                reason=f"the task's journal could not be read, so what an earlier try sent is unknown: {error}",
                sent=False,
            ) from None

    def _wait_for_in_flight(self, entry: Entry) -> None:
        """Let a send an earlier try journaled land (or die) before looking for it.

        The earlier try may be a worker that was cut off during the call but still runs: its request
        lands at the latest by the request's deadline after it went out, plus the settle time NeetoCal
        takes to list a new booking. A call that came back (the entry says when) is not waited for:
        the try that made it looked for the booking after, as a retry does.
        """
        longest = self.hook.deadline_seconds + self.settle_seconds
        until = in_flight_until(entry, request_deadline=self.hook.deadline_seconds, settle=self.settle_seconds)
        left = longest if until is None else (until - dt.datetime.now(dt.timezone.utc)).total_seconds()
        if left > 0:
            wait = min(left, longest)
            self.hook.log.info(
                "An earlier try (try %s) sent this booking at %s and its answer was never recorded: waiting %.0f s "
                "for that request to land before looking it up",
                entry.try_number,
                entry.sent_at,
                wait,
            )
            self._sleep(wait)

    def _record_send(self, previous: Entry | None, identity: str, before: frozenset[str] | None, resend: bool) -> Entry:
        """Journal the send about to go out, then make sure no newer try has started beside this one.

        A store that refuses the entry, or a newer try of this task that has claimed the journal, stops
        the send (nothing goes out).
        """
        assert self.journal is not None
        entry = sending(
            "create",
            identity,
            before=before,
            previous=previous,
            now=dt.datetime.now(dt.timezone.utc),
            neetocal_clock=self.hook.last_server_date,
            try_number=self.try_number,
        )
        try:
            # Write, then read the claim: of two tries racing, one always sees the other (see superseded_by).
            self.journal.write(entry)
            newer = self.journal.superseded_by(self.try_number)
        except JournalError as error:
            raise NeetoCalBookingUnknownError(
                reason=f"the task's journal could not record the request before sending, so it was not sent: {error}",
                sent=resend,
            ) from None
        if newer is not None:
            raise NeetoCalBookingUnknownError(
                reason=f"try {newer} of this task has started since, so this try (try {self.try_number}) stops "
                "rather than send beside it",
                sent=resend,
            )
        return entry

    def _record_return(self, pending: Entry | None) -> Entry | None:
        """Journal that the send's call came back without an answer: a later try need not wait for it."""
        if self.journal is None or pending is None:
            return pending
        returned = pending.returned(dt.datetime.now(dt.timezone.utc))
        try:
            self.journal.write(returned)
        except JournalError as error:
            self.hook.log.warning("The journal could not record that the send came back (%s)", error)
            return pending
        return returned

    def _record_answer(self, pending: Entry | None, identity: str, booking: Mapping[str, Any]) -> None:
        """Journal the booking this request came to; a store that fails is logged (a retry finds it anyway)."""
        sid = booking.get("sid")
        if self.journal is None or not isinstance(sid, str) or not sid:
            return
        if pending is not None and pending.state == "answered" and pending.sid == sid:
            return
        entry = pending.answered(sid) if pending is not None else Entry("create", identity, "answered", sid=sid)
        try:
            self.journal.write(entry)
        except JournalError as error:
            self.hook.log.warning(
                "Booking %s is made, but the journal could not record it (%s): a retry finds it by its look-up",
                sid,
                error,
            )

    def _reread(self, sid: str) -> tuple[dict[str, Any], bool]:
        """The booking an earlier try of this task made (or adopted) for this request: re-read, never re-sent."""
        try:
            booking = self.hook.get_booking(sid)
        except NeetoCalNotFoundError:
            raise NeetoCalBookingGoneError({"sid": sid, "status": "not found (HTTP 404)"}) from None
        except NeetoCalAuthError as error:
            if error.status == 401:
                raise
            reason = f"an earlier try made booking {sid}, and reading it back failed ({error.brief()})"
            raise NeetoCalBookingUnknownError(reason=reason, sent=False) from None
        except NeetoCalApiError as error:
            reason = f"an earlier try made booking {sid}, and reading it back failed ({error.brief()})"
            raise NeetoCalBookingUnknownError(reason=reason, sent=False) from None
        if not is_live(booking):
            raise NeetoCalBookingGoneError(booking)
        if not self._claim(booking):
            raise NeetoCalBookingClaimedError(booking)
        self.hook.log.info(
            "An earlier try of this task made NeetoCal booking %s for this request (the journal says so): "
            "read back, not sent again",
            sid,
        )
        return booking, False

    def reserve(self, payload: Mapping[str, Any]) -> None:
        """Set a fixed-slot request's start aside for it, before any request of the batch is handled.

        A booking there is that request's, even while its own look-up cannot confirm it, so a
        slot-less request of the same attendee and meeting never takes it.
        """
        start = slot_start_utc(payload)
        if start is not None:
            with self._lock:
                self.reserved.add(
                    (str(payload["email"]).lower(), str(payload["meeting_slug"]).lower(), start.isoformat())
                )

    def look_up(self, payload: Mapping[str, Any]) -> Lookup:
        """Found / absent / unknowable for ``payload``, from ``GET /meetings`` and ``GET /bookings``."""
        return self._look_up(payload, None, fresh=True)[0]

    def list_before_sending(self, payloads: Sequence[Mapping[str, Any]]) -> bool:
        """On a first try, list the workspace's bookings once when that costs fewer requests than one
        listing per attendee; return whether this try's pre-send look-ups will use it.

        Only the rows that look NeetoCal up before their POST count (fixed-slot rows unless
        ``if_exists="create"``, and every slot-less row). The first page of ``GET /bookings`` (100 a
        page, no filter) says how many pages the workspace has; when that is no more than the number of
        those rows' attendees, every page is walked and the bookings of the batch's attendees are kept.
        Otherwise (or when the listing fails, or a booking names no attendee) each row lists its own
        attendee, as without this call. A retry never uses it: its look-ups must be as fresh as possible.
        """
        if self.retrying:
            return False
        emails = {str(p["email"]).lower() for p in payloads if slot_start_utc(p) is None or self.if_exists != "create"}
        if not emails:
            return False
        grouped: dict[str, list[dict[str, Any]]] = {email: [] for email in emails}
        try:
            # Two walks prove a listing of several pages (see listing.py): worth it while that costs no
            # more than one request per attendee.
            listed = self.hook.list_bookings_complete(max_pages=max(len(emails) // 2, 1))
            if listed is None:
                return False
            for booking in listed:
                email = booking.get("email")
                if not isinstance(email, str):
                    self.hook.log.info("A listed booking names no attendee; looking each attendee up instead")
                    return False
                if email.lower() in grouped:
                    grouped[email.lower()].append(booking)
        except NeetoCalAuthError as error:
            if error.status == 401:
                raise
            self.hook.log.warning(
                "Could not list the workspace's bookings (%s); looking each attendee up", error.brief()
            )
            return False
        except NeetoCalApiError as error:
            self.hook.log.warning(
                "Could not list the workspace's bookings (%s); looking each attendee up", error.brief()
            )
            return False
        with self._lock:
            self._listing = grouped
        return True

    def _listed(self, payload: Mapping[str, Any], *, fresh: bool) -> list[Any]:
        """The attendee's bookings: from the listing taken before this try's first POST unless ``fresh``."""
        listing = None if fresh else self._listing
        if listing is not None:
            return list(listing.get(str(payload["email"]).lower(), ()))
        listed = self.hook.list_bookings_complete(client_email=str(payload["email"]))
        return listed if listed is not None else []

    def _look_up(
        self,
        payload: Mapping[str, Any],
        known_before: frozenset[str] | None,
        *,
        fresh: bool,
        run_started: dt.datetime | None = None,
        sent_until: dt.datetime | None = None,
    ) -> tuple[Lookup, frozenset[str] | None]:
        """The look-up, and the sids it listed (``None`` when the listing failed)."""
        meeting = self._meeting(str(payload["meeting_slug"]))
        try:
            bookings = self._listed(payload, fresh=fresh)
        except NeetoCalAuthError as error:
            if error.status == 401:
                raise  # a key NeetoCal does not know: no retry can help, and no POST would pass either
            reason = f"listing the attendee's bookings failed ({error.brief()}): the key needs GET /bookings"
            return Unknowable(reason), None
        except NeetoCalApiError as error:
            reason = f"listing the attendee's bookings failed: {error.brief()}"
            if isinstance(error, NeetoCalRetryableError):
                return temporary_failure(error, reason), None
            return Unknowable(reason), None
        with self._lock:
            lookup = judge_lookup(
                bookings,
                payload,
                meeting,
                run_started=run_started or self.run_started,
                claimed=self.claimed,
                known_before=known_before,
                reserved=self.reserved,
                sent_until=sent_until,
            )
        return lookup, _sids(bookings)

    def _listed_sids(self, payload: Mapping[str, Any]) -> frozenset[str] | None:
        """The sids of the attendee's bookings before this try's POST (``None`` if they cannot be listed)."""
        try:
            return _sids(self._listed(payload, fresh=False))
        except NeetoCalAuthError as error:
            if error.status == 401:
                raise  # a key NeetoCal does not know: the POST would be refused too, so nothing is sent
            self.hook.log.warning(
                "Could not list the attendee's bookings before sending (%s): if the answer is lost, only "
                "creation times can tell this booking from earlier ones",
                error.brief(),
            )
            return None
        except NeetoCalApiError as error:
            self.hook.log.warning(
                "Could not list the attendee's bookings before sending (%s): if the answer is lost, only "
                "creation times can tell this booking from earlier ones",
                error.brief(),
            )
            return None

    def _meeting(self, slug: str) -> dict[str, Any] | Unknowable | None:
        with self._meetings_lock:
            if slug not in self._meetings:
                try:
                    self._meetings[slug] = resolve_meeting(self.hook.list_meetings(), slug)
                except NeetoCalApiError as error:
                    # Not cached: the next look-up may get through.
                    reason = f"GET /meetings failed: {error.brief()}"
                    if isinstance(error, NeetoCalRetryableError):
                        return temporary_failure(error, reason)
                    return Unknowable(reason)
            return self._meetings[slug]

    def listed_meeting_name(self, slug: str) -> str | None:
        """The meeting's name if a look-up already listed it; never sends a request (for error messages)."""
        with self._meetings_lock:
            meeting = self._meetings.get(slug)
        name = meeting.get("name") if isinstance(meeting, dict) else None
        return name if isinstance(name, str) and name.strip() else None

    def _claim(self, booking: dict[str, Any]) -> bool:
        """Hand ``booking`` out; ``False`` if another row already holds it (two look-ups raced to it)."""
        sid = booking.get("sid")
        if not isinstance(sid, str):
            return True
        with self._lock:
            if sid in self.claimed:
                return False
            self.claimed.add(sid)
            return True

    def _failure(self, verdict: Verdict, lookup: Lookup | None, last_error: NeetoCalApiError | None) -> Exception:
        """The exception a verdict stands for, with what the look-up and NeetoCal said."""
        if verdict is Verdict.EXISTS and isinstance(lookup, Found):
            return NeetoCalBookingExistsError(lookup.booking)
        if verdict is Verdict.CLAIMED and isinstance(lookup, Found):
            return NeetoCalBookingClaimedError(lookup.booking)
        if verdict is Verdict.REFUSED and last_error is not None:
            return last_error
        reason = lookup.reason if isinstance(lookup, Unknowable) else "no booking found (yet)"
        # What NeetoCal (or the network) answered, in one line: it goes inside this message.
        answer = last_error.cause if isinstance(last_error, NeetoCalOutcomeUnknownError) else last_error
        blocker = lookup if isinstance(lookup, Unknowable) else None
        return NeetoCalBookingUnknownError(
            reason=reason,
            sent=verdict is Verdict.STILL_UNKNOWN,
            cause=answer.brief() if answer else None,
            lead=blocker.lead if blocker else None,
            advice=blocker.advice if blocker else None,
        )


def _sids(bookings: Iterable[Any]) -> frozenset[str]:
    return frozenset(b["sid"] for b in bookings if isinstance(b, Mapping) and isinstance(b.get("sid"), str))


def describe(lookup: Lookup | None) -> str:
    """One line for logs: what the look-up found."""
    if isinstance(lookup, Found):
        booking = lookup.booking
        return f"found booking {booking.get('sid')} starting {booking.get('starts_at')}"
    if isinstance(lookup, Absent):
        return "no such booking"
    if isinstance(lookup, Unknowable):
        return f"cannot tell: {lookup.reason}"
    return "not looked up"


def checked_if_exists(value: Any) -> IfExists:
    """``value`` if it is an ``if_exists`` choice; a DAG-parse-time error otherwise."""
    if value not in IF_EXISTS_CHOICES:
        raise ValueError(f"if_exists={value!r}: expected one of {', '.join(IF_EXISTS_CHOICES)}")
    return value
