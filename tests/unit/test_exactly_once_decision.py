"""The exactly-once decision: the pure state machine, explored exhaustively, and the driver under random faults.

Two levels:

* :func:`decide` is walked through every reachable path (every request shape, every event a try can
  meet, every look-up result), and each step is checked against the rules it exists for: a POST only
  when absence is proven, nothing of ours can exist yet, or NeetoCal refuses duplicates; an adoption
  only of what a look-up found; every path ends.
* :class:`ExactlyOnce` is driven by ``hypothesis.stateful`` against a model of NeetoCal that loses
  answers, commits late, refuses taken slots and fails look-ups at random, over several Airflow
  tries and several requests of one batch. Properties: never two live bookings for one request,
  never one booking handed to two requests, and a try that succeeds returns a booking that exists.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import pendulum
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from airflow_provider_neetocal.exactly_once import (
    MAX_GUARDED_RESENDS,
    Absent,
    Adopt,
    Event,
    ExactlyOnce,
    Fail,
    Found,
    LookUp,
    Request,
    Send,
    State,
    Unknowable,
    Verdict,
    decide,
)
from airflow_provider_neetocal.exceptions import (
    NeetoCalBookingClaimedError,
    NeetoCalBookingExistsError,
    NeetoCalBookingUnknownError,
    NeetoCalClientError,
    NeetoCalOutcomeUnknownError,
    NeetoCalServerError,
)

REQUESTS = [
    Request(slotted=slotted, if_exists=if_exists, retrying=retrying)  # type: ignore[arg-type]
    for slotted, if_exists, retrying in itertools.product([True, False], ["reuse", "fail", "create"], [False, True])
]
LOOKUPS = [
    Found({"sid": "ours"}, made_in_this_run=True),
    Found({"sid": "old"}, made_in_this_run=False),
    Absent(duplicate_refused=False),
    Absent(duplicate_refused=True),
    Unknowable("a listing failed"),
]
#: What a POST can end in, as the decision sees it.
POST_EVENTS = [Event.CREATED, Event.OUTCOME_UNKNOWN, Event.REFUSED]


@dataclass
class Walk:
    """One path through the machine: its steps, for the assertion messages."""

    request: Request
    steps: list[str] = field(default_factory=list)
    sends: int = 0
    looked: Any = None


def walks(request: Request, max_steps: int = 14):
    """Every action on every path from STARTED, feeding each possible answer to each action."""
    state, action = decide(request, State(), Event.STARTED)
    stack = [(Walk(request, ["STARTED"]), state, action)]
    while stack:
        walk, state, action = stack.pop()
        yield walk, state, action
        if isinstance(action, Adopt | Fail):
            continue
        assert len(walk.steps) < max_steps, f"no end after {walk.steps}"
        if isinstance(action, LookUp):
            for lookup in LOOKUPS:
                step = Walk(request, [*walk.steps, f"LOOKED {lookup}"], walk.sends, lookup)
                stack.append((step, *decide(request, state, Event.LOOKED, lookup)))
        else:
            for event in POST_EVENTS:
                step = Walk(request, [*walk.steps, f"SENT -> {event.name}"], walk.sends + 1, walk.looked)
                stack.append((step, *decide(request, state, event)))


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_every_path_ends_within_a_bounded_number_of_posts(request_):
    ends = [walk for walk, _, action in walks(request_) if isinstance(action, Adopt | Fail)]
    assert ends
    assert max(walk.sends for walk in ends) <= 1 + MAX_GUARDED_RESENDS


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_a_post_is_sent_only_when_nothing_of_ours_can_exist_or_absence_is_proven(request_):
    for walk, state, action in walks(request_):
        if not isinstance(action, Send):
            continue
        last = walk.steps[-1]
        if last == "STARTED":
            # First try, and either no slot to compare with or if_exists="create": nothing of ours exists.
            assert not request_.retrying, walk.steps
            assert not request_.slotted or request_.if_exists == "create", walk.steps
        elif isinstance(walk.looked, Absent):
            # Absence proven; after an unknown outcome only where NeetoCal refuses duplicates.
            assert not state.sent or walk.looked.duplicate_refused, walk.steps
        else:
            assert isinstance(walk.looked, Unknowable), walk.steps
            assert request_.if_exists == "create", walk.steps
            assert not state.sent, walk.steps
            assert action.risk_accepted, walk.steps


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_only_a_booking_a_look_up_found_is_adopted_and_a_created_one_only_after_created(request_):
    for walk, _, action in walks(request_):
        if isinstance(action, Adopt):
            if action.created:
                assert walk.steps[-1] == "SENT -> CREATED", walk.steps
            else:
                assert isinstance(walk.looked, Found), walk.steps


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_an_unknown_look_up_never_ends_in_a_verdict_of_absence(request_):
    for walk, _state, action in walks(request_):
        if isinstance(walk.looked, Unknowable) and walk.steps[-1].startswith("LOOKED"):
            assert isinstance(action, Fail | Send), walk.steps
            if isinstance(action, Fail):
                assert action.verdict in (Verdict.UNKNOWABLE, Verdict.STILL_UNKNOWN), walk.steps


def test_a_first_try_never_adopts_a_booking_made_during_this_run():
    request = Request(slotted=True, if_exists="reuse", retrying=False)
    state, action = decide(request, State(), Event.STARTED)
    assert action == LookUp()
    found = Found({"sid": "sibling"}, made_in_this_run=True)
    assert decide(request, state, Event.LOOKED, found)[1] == Fail(Verdict.CLAIMED)


def test_a_slotless_first_try_sends_without_looking():
    assert decide(Request(slotted=False), State(), Event.STARTED)[1] == Send()


def test_after_a_lost_answer_a_slotless_request_is_never_sent_again_in_the_try():
    request = Request(slotted=False)
    state, _ = decide(request, State(), Event.STARTED)
    state, action = decide(request, state, Event.OUTCOME_UNKNOWN)
    assert action == LookUp()
    state, action = decide(request, state, Event.LOOKED, Absent())
    assert action == LookUp(settle_first=True)
    assert decide(request, state, Event.LOOKED, Absent())[1] == Fail(Verdict.STILL_UNKNOWN)


def test_after_a_lost_answer_a_fixed_slot_on_a_one_on_one_meeting_is_sent_again_after_settling():
    request = Request(slotted=True)
    state, _ = decide(request, State(), Event.STARTED)
    state, _ = decide(request, state, Event.LOOKED, Absent(duplicate_refused=True))
    state, action = decide(request, state, Event.OUTCOME_UNKNOWN)
    state, action = decide(request, state, Event.LOOKED, Absent(duplicate_refused=True))
    assert action == LookUp(settle_first=True)
    assert decide(request, state, Event.LOOKED, Absent(duplicate_refused=True))[1] == Send()


def test_a_refusal_after_a_lost_answer_is_looked_up_and_what_is_found_adopted():
    request = Request(slotted=True)
    state = State(sent=True, settled=True, resends=1)
    state, action = decide(request, state, Event.REFUSED)
    assert action == LookUp()
    assert decide(request, state, Event.LOOKED, Found({"sid": "x"}, made_in_this_run=True))[1] == Adopt(created=False)
    assert decide(request, state, Event.LOOKED, Absent())[1] == Fail(Verdict.REFUSED)


def test_a_looked_event_without_a_result_is_a_programming_error():
    with pytest.raises(ValueError, match="needs a look-up result"):
        decide(Request(slotted=True), State(), Event.LOOKED, None)


# -- the driver against a model of NeetoCal, under random faults ------------------------------------

MEETINGS = {
    "one": {"id": "m1", "slug": "one", "name": "One on one", "kind": "one_on_one"},
    "group": {"id": "m2", "slug": "group", "name": "Group", "kind": "group"},
}
#: What one POST meets: answered; committed but the answer lost; lost before commit; committed late.
POST_FAULTS = ["ok", "commit_lost", "lost", "late_commit", "server_down"]


class ModelNeetoCal:
    """Bookings, a clock, and POSTs still in flight (they land at the next wait or the next try)."""

    def __init__(self) -> None:
        self.now = pendulum.datetime(2030, 7, 1, 12, tz="UTC")
        self.bookings: list[dict[str, Any]] = []
        self.in_flight: list[dict[str, Any]] = []
        self.sids = itertools.count()

    def tick(self, seconds: float = 1.0) -> None:
        self.now = self.now.add(seconds=seconds)

    def land(self) -> None:
        for payload in self.in_flight:
            self.commit(payload)
        self.in_flight.clear()

    def taken(self, meeting: str, start: str) -> bool:
        return any(
            b["meeting_id"] == MEETINGS[meeting]["id"] and b["starts_at"] == start and b["status"] == "confirmed"
            for b in self.bookings
        )

    def commit(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        meeting = payload["meeting_slug"]
        if "slot_date" in payload:
            start = _utc(payload)
            if MEETINGS[meeting]["kind"] == "one_on_one" and self.taken(meeting, start):
                return None
        else:
            start = next(
                s
                for s in (f"2030-08-{day:02d}T10:00:00Z" for day in range(1, 29))
                if not (MEETINGS[meeting]["kind"] == "one_on_one" and self.taken(meeting, s))
            )
        self.tick()
        booking = {
            "sid": f"b{next(self.sids)}",
            "email": payload["email"],
            "meeting_id": MEETINGS[meeting]["id"],
            "meeting": {"name": MEETINGS[meeting]["name"]},
            "starts_at": start,
            "created_at": self.now.to_iso8601_string(),
            "status": "confirmed",
        }
        self.bookings.append(booking)
        return booking


def _utc(payload: dict[str, Any]) -> str:
    local = pendulum.from_format(f"{payload['slot_date']} {payload['slot_start_time']}", "YYYY-MM-DD hh:mm A", tz="UTC")
    return local.format("YYYY-MM-DDTHH:mm:ss[Z]")


class ModelHook:
    """The slice of NeetoCalHook that ExactlyOnce uses, failing as the fault scripts say."""

    log = logging.getLogger("tests.model_hook")

    def __init__(self, world: ModelNeetoCal, post_faults: list[str], lookup_failures: list[bool]) -> None:
        self.world = world
        self.post_faults = post_faults
        self.lookup_failures = lookup_failures
        self.posts = 0

    def _sleep(self, seconds: float) -> None:
        self.world.tick(seconds)
        self.world.land()

    def _listing_fails(self) -> bool:
        return self.lookup_failures.pop(0) if self.lookup_failures else False

    def list_meetings(self):
        if self._listing_fails():
            raise NeetoCalServerError(method="GET", endpoint="/meetings", status=503, message="down")
        return iter(MEETINGS.values())

    def list_bookings_complete(self, *, client_email: str):
        if self._listing_fails():
            raise NeetoCalServerError(method="GET", endpoint="/bookings", status=503, message="down")
        return iter([dict(b) for b in self.world.bookings if b["email"] == client_email])

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.posts += 1
        fault = self.post_faults.pop(0) if self.post_faults else "ok"
        lost = NeetoCalOutcomeUnknownError(
            cause=NeetoCalServerError(method="POST", endpoint="/bookings", status=None, message="answer lost")
        )
        if fault == "server_down":
            raise NeetoCalServerError(method="POST", endpoint="/bookings", status=None, message="refused")
        if fault == "late_commit":
            self.world.in_flight.append(payload)
            raise lost
        if fault == "lost":
            raise lost
        booking = self.world.commit(payload)
        if booking is None:
            raise NeetoCalClientError(method="POST", endpoint="/bookings", status=422, message="slot not available")
        if fault == "commit_lost":
            raise lost
        return booking


def payload_for(email: str, meeting: str, slotted: bool, hour: int = 10) -> dict[str, Any]:
    payload = {"meeting_slug": meeting, "name": "Eve", "email": email, "time_zone": "UTC"}
    if slotted:
        payload |= {"slot_date": "2030-07-15", "slot_start_time": f"{hour:02d}:00 AM"}
    return payload


def request_key(payload: dict[str, Any]) -> tuple[Any, ...]:
    return (payload["email"], payload["meeting_slug"], payload.get("slot_start_time"))


def test_a_retry_never_hands_a_fixed_slot_rows_booking_to_a_slotless_row_of_the_same_attendee():
    world = ModelNeetoCal()
    run_started = world.now
    fixed, slotless = payload_for("eve@example.com", "group", True), payload_for("eve@example.com", "group", False)
    first = ExactlyOnce(ModelHook(world, ["ok", "lost"], []), run_started=run_started)  # type: ignore[arg-type]
    booking, _ = first.obtain(fixed)
    with pytest.raises(NeetoCalBookingUnknownError):
        first.obtain(slotless)  # lost before commit: not re-sent within the try
    world.tick(300)
    retry = ExactlyOnce(ModelHook(world, [], []), retrying=True, run_started=run_started)  # type: ignore[arg-type]
    assert retry.obtain(fixed) == (booking, False)
    other, created = retry.obtain(slotless)
    assert created
    assert other["sid"] != booking["sid"]
    assert len(world.bookings) == 2


def test_a_slotless_retry_that_finds_two_candidates_cannot_tell_and_sends_nothing():
    world = ModelNeetoCal()
    run_started = world.now
    world.commit(payload_for("eve@example.com", "group", False))
    world.commit(payload_for("eve@example.com", "group", False))
    hook = ModelHook(world, [], [])
    with pytest.raises(NeetoCalBookingUnknownError, match="cannot tell which one"):
        ExactlyOnce(hook, retrying=True, run_started=run_started).obtain(  # type: ignore[arg-type]
            payload_for("eve@example.com", "group", False)
        )
    assert hook.posts == 0


class ExactlyOnceUnderFaults(RuleBasedStateMachine):
    """A batch of requests run as one task with Airflow retries against a model NeetoCal that misbehaves.

    Every try handles every request again, as the bulk operator does, with a fresh driver.
    """

    def __init__(self) -> None:
        super().__init__()
        self.world = ModelNeetoCal()
        self.run_started = self.world.now
        self.tries = 0
        self.requests: list[dict[str, Any]] = []

    @rule(
        meeting=st.sampled_from(["one", "group"]),
        slotted=st.booleans(),
        attendee=st.sampled_from(["eve@example.com", "bob@example.com"]),
        hour=st.sampled_from([9, 10]),
    )
    def add_request(self, meeting: str, slotted: bool, attendee: str, hour: int) -> None:
        if self.tries == 0:
            payload = payload_for(attendee, meeting, slotted, hour)
            # The bulk operator refuses repeated rows before any request; the model does the same.
            if all(request_key(p) != request_key(payload) for p in self.requests):
                self.requests.append(payload)

    @rule(
        post_faults=st.lists(st.sampled_from(POST_FAULTS), max_size=6),
        lookup_failures=st.lists(st.booleans(), max_size=6),
        if_exists=st.sampled_from(["reuse", "fail"]),
    )
    def run_a_try(self, post_faults: list[str], lookup_failures: list[bool], if_exists: str) -> None:
        # Airflow's retry_delay: whatever was still in flight has landed before the next try.
        self.world.land()
        self.world.tick(300)
        once = ExactlyOnce(
            ModelHook(self.world, post_faults, lookup_failures),  # type: ignore[arg-type]
            if_exists=if_exists,  # type: ignore[arg-type]
            retrying=self.tries > 0,
            run_started=self.run_started,
        )
        self.tries += 1
        handed_out: dict[str, tuple[Any, ...]] = {}
        for payload in sorted(self.requests, key=lambda p: "slot_date" not in p):
            try:
                booking, _ = once.obtain(payload)
            except (NeetoCalBookingUnknownError, NeetoCalServerError, NeetoCalOutcomeUnknownError):
                continue  # retryable: the next try goes on
            except (NeetoCalClientError, NeetoCalBookingExistsError, NeetoCalBookingClaimedError):
                continue  # refused for good (e.g. a slot another request took)
            assert booking["sid"] in {b["sid"] for b in self.world.bookings}, "returned a booking NeetoCal lacks"
            assert booking["email"] == payload["email"], "adopted another attendee's booking"
            assert booking["meeting_id"] == MEETINGS[payload["meeting_slug"]]["id"], "adopted another meeting's"
            if "slot_date" in payload:
                assert booking["starts_at"] == _utc(payload), "adopted a booking at another start"
            assert booking["sid"] not in handed_out, f"{booking['sid']} handed to two requests"
            handed_out[booking["sid"]] = request_key(payload)

    @invariant()
    def no_request_holds_two_live_bookings(self) -> None:
        landed_or_landing = self.world.bookings + [
            {"email": p["email"], "meeting_id": MEETINGS[p["meeting_slug"]]["id"], "starts_at": _utc(p)}
            if "slot_date" in p
            else {"email": p["email"], "meeting_id": MEETINGS[p["meeting_slug"]]["id"], "starts_at": "first free"}
            for p in self.world.in_flight
        ]
        for payload in self.requests:
            meeting_id = MEETINGS[payload["meeting_slug"]]["id"]
            fixed = {_utc(p) for p in self.requests if "slot_date" in p and p["email"] == payload["email"]}
            mine = [
                b
                for b in landed_or_landing
                if b["email"] == payload["email"]
                and b["meeting_id"] == meeting_id
                and ((b["starts_at"] == _utc(payload)) if "slot_date" in payload else b["starts_at"] not in fixed)
            ]
            assert len(mine) <= 1, f"duplicate bookings for {request_key(payload)}: {mine}"


ExactlyOnceUnderFaults.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_exactly_once_under_random_faults = ExactlyOnceUnderFaults.TestCase
