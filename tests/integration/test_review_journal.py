"""Hostile review of issue 18 (the journal, proven listings, the whole-response deadline): repros.

Every test here reproduces a finding over real HTTP to the sandbox, through Airflow where Airflow
matters (``dag.test()`` and Airflow's own clear, see :mod:`tests.integration.runs`). Each is
``xfail(strict=True)``: it fails today and turns red the day the finding is fixed (then drop the mark).
Duplicates are counted in the group meeting ``weekly-webinar`` (50 seats a slot), where the sandbox
accepts a second seat as NeetoCal does; every booking the sandbox holds is counted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.integration.runs import described, record_hook_waits, rerun_after_clear, run_in_airflow, task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="reviews the journal (Airflow 3.3's task state store)"),
]

WEBINAR = {"meeting_slug": "weekly-webinar", "time_zone": "Europe/London"}
EVE = "eve@example.com"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_hook_waits(monkeypatch)


@pytest.fixture
def sandbox(waits: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[NeetoCalSandbox]:
    with NeetoCalSandbox(api_key=TEST_API_KEY) as running:
        monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url))
        yield running


def dag_with(dag_id: str, build: Callable[[], Any], **default_args: Any) -> Any:
    with DAG(
        dag_id=f"neetocal_review18_{dag_id}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 0, "retry_delay": 0, **default_args},
    ) as dag:
        build()
    return dag


def xcom(run: Any, task_id: str = "book", key: str = "booking_sid", map_index: int = -1) -> Any:
    return xcoms_of(run.dag_id, run.run_id).get((task_id, map_index, key))


def states(run: Any, task_id: str) -> dict[int, tuple[str, int]]:
    from tests.integration.runs import task_instances

    return task_instances(run, task_id)


def seats(sandbox: NeetoCalSandbox, email: str = EVE) -> list[dict[str, Any]]:
    """Live webinar seats of one attendee (any spelling of the address)."""
    return [
        b
        for b in sandbox.bookings
        if b["email"].lower() == email
        and b["status"] not in ("cancelled", "rejected")
        and b["meeting"]["name"] == "Weekly webinar"
    ]


def book_directly(sandbox: NeetoCalSandbox, **body: Any) -> dict[str, Any]:
    with requests.Session() as session:
        session.trust_env = False
        session.headers["X-Api-Key"] = TEST_API_KEY
        answer = session.post(f"{sandbox.api_url}/bookings", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()


# ---- R1: a "sending" entry adopts any new booking of the attendee, even when its POST never landed --


def test_r1_mapped_instance_whose_post_never_landed_does_not_adopt_its_siblings_booking(
    sandbox: NeetoCalSandbox,
) -> None:
    first_tries: list[int] = []

    def drop_first(context: Any) -> None:
        ti = context["ti"]
        if ti.try_number == 1:
            first_tries.append(ti.map_index)
            if len(first_tries) == 1:  # whichever instance runs first loses its POST before the commit
                sandbox.inject("drop", method="POST", path="/bookings")
            else:  # the sibling books a minute later (NeetoCal's clock), as tries apart by a retry_delay do
                sandbox.advance_clock(60)

    rows = [
        {"attendee_email": EVE, "slot_date": "2030-07-15", "slot_start_time": "11:00 AM"},
        {"attendee_email": "Eve@Example.com", "slot_start": "2030-07-15T10:00:00+00:00"},
    ]

    def build() -> None:
        NeetoCalCreateBookingOperator.partial(
            task_id="book", name="Eve Smith", pre_execute=drop_first, retries=1, **WEBINAR
        ).expand_kwargs(rows)

    run = run_in_airflow(dag_with("r1_mapped", build))

    ti_states = states(run, "book")
    sids = [xcom(run, map_index=index) for index in (0, 1)]
    both = ti_states[0][0] == ti_states[1][0] == "success"
    assert not (both and sids[0] == sids[1]), f"one booking for two instances: {ti_states} {sids} {described(sandbox)}"


def test_r1b_slotless_retry_never_adopts_a_booking_made_by_someone_else_after_its_lost_post(
    sandbox: NeetoCalSandbox,
) -> None:
    made: list[dict[str, Any]] = []

    def drop_then_sibling(context: Any) -> None:
        if context["ti"].try_number == 1:
            sandbox.inject("drop", method="POST", path="/bookings")
        else:  # between the tries (a minute later), a sibling task (or Eve herself) booked a fixed seat
            sandbox.advance_clock(60)
            made.append(
                book_directly(
                    sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM"
                )
            )

    dag = dag_with(
        "r1b_sibling",
        lambda: NeetoCalCreateBookingOperator(
            task_id="book", name="Eve", attendee_email=EVE, pre_execute=drop_then_sibling, retries=1, **WEBINAR
        ),
    )
    run = run_in_airflow(dag)

    (sibling,) = made
    assert xcom(run) != sibling["sid"], f"the slot-less task adopted someone else's booking: {described(sandbox)}"


# ---- R2: the journal is per map index, the request is not -----------------------------------------

ATTENDEES: list[str] = []


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known limit, docs/reliability.md 'Limits that remain' (R2, high, duplicate): the journal lives in the map "
        "index's namespace, and a missing entry is "
        "taken as proof that the request was never sent; when a cleared run's upstream list changes "
        "(a row added in front), every attendee moves to another map index, finds no entry there, is "
        "treated as a first try and (slot-less) booked a second time"
    ),
)
def test_r2_a_cleared_mapped_run_whose_upstream_list_shifted_books_no_second_seat(sandbox: NeetoCalSandbox) -> None:
    ATTENDEES[:] = ["ann@example.com", "bob@example.com"]

    def build() -> None:
        @task(task_id="rows")
        def rows() -> list[dict[str, str]]:
            return [{"name": e.split("@")[0].title(), "attendee_email": e} for e in ATTENDEES]

        NeetoCalCreateBookingOperator.partial(task_id="book", **WEBINAR).expand_kwargs(rows())

    dag = dag_with("r2_shifted", build)
    first = run_in_airflow(dag)
    assert first.state == "success"
    assert len(sandbox.bookings) == 2

    ATTENDEES.insert(0, "cid@example.com")  # one more registration since: the list is re-read on the clear
    again = rerun_after_clear(dag, first, task_ids=["rows", "book"], later=dt.timedelta(hours=1))

    assert again.state == "success", described(sandbox)
    assert [len(seats(sandbox, e)) for e in ATTENDEES] == [1, 1, 1], described(sandbox)


# ---- R3: a try that ran without a journal (an older provider, Airflow before 3.3) -------------------


def test_r3_a_retry_after_an_upgrade_does_not_take_the_empty_journal_as_proof(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_neetocal import _compat

    original = _compat.task_state_store_of

    def store_from_try_2(context: Any) -> Any:
        # Try 1 runs the provider as it was before the journal (or Airflow before 3.3): no store.
        return None if context["ti"].try_number == 1 else original(context)

    monkeypatch.setattr(_compat, "task_state_store_of", store_from_try_2)

    def lose_answer_and_look_up(context: Any) -> None:
        if context["ti"].try_number == 1:
            sandbox.inject("commit_then_drop", method="POST", path="/bookings")
            sandbox.inject("server_error", times=100, method="GET", path="/meetings")

    def back_up(context: Any) -> None:
        if context["ti"].try_number > 1:
            sandbox.clear_faults()

    def pre(context: Any) -> None:
        lose_answer_and_look_up(context)
        back_up(context)

    dag = dag_with(
        "r3_upgrade",
        lambda: NeetoCalCreateBookingOperator(
            task_id="book", name="Eve", attendee_email=EVE, pre_execute=pre, retries=1, **WEBINAR
        ),
    )
    run = run_in_airflow(dag)

    assert states(run, "book")[-1][1] == 2, "try 1 failed, try 2 ran"
    assert len(seats(sandbox)) <= 1, f"booked twice: {described(sandbox)}"
    assert len(sandbox.bookings) <= 1, described(sandbox)


# ---- R4: the in-flight window starts at the journal write, not when the POST leaves -----------------


class DictStore:
    """A task state store shared by two tries (what Airflow's store is across tries), JSON values only."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.lock = __import__("threading").Lock()

    def get(self, key: str, default: Any = None) -> Any:
        import json

        with self.lock:
            return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        with self.lock:
            self.values[key] = value


def test_r4_a_successor_beside_a_first_try_held_by_429_waits_books_no_second_seat(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from airflow_provider_neetocal.booking import build_booking_payload
    from airflow_provider_neetocal.exactly_once import ExactlyOnce
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
    from airflow_provider_neetocal.journal import Journal

    monkeypatch.setenv(
        "AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, timeout=[0.5, 0.5])
    )  # deadline 1 s
    store = DictStore()
    payload = build_booking_payload(
        name="Eve", email=EVE, **WEBINAR, slot_date="2030-07-15", slot_start_time="10:00 AM"
    )

    def attempt(try_number: int, results: list[Any]) -> None:
        hook = NeetoCalHook()
        hook._sleep = time.sleep  # type: ignore[method-assign]
        once = ExactlyOnce(
            hook,
            retrying=try_number > 1,
            journal=Journal(store, retention=None, proves_absence=True),
            try_number=try_number,
            settle_seconds=0.5,
            sleep=time.sleep,
        )
        try:
            results.append(once.obtain(dict(payload)))
        except Exception as error:
            results.append(error)

    # Try 1's POST meets a 429 asking it to come back in 3 s: the hook waits, then sends it.
    sandbox.inject("rate_limit", method="POST", path="/bookings", retry_after=3)
    first: list[Any] = []
    worker = threading.Thread(target=attempt, args=(1, first))
    worker.start()
    deadline = time.monotonic() + 10
    while not store.values and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.values, "try 1 journaled its send"
    # Airflow has given up on try 1 (its worker is unreachable) and starts try 2; try 1 still runs.
    second: list[Any] = []
    attempt(2, second)
    worker.join(20)

    outcome = [r[0]["sid"] if isinstance(r, tuple) else repr(r) for r in first + second]
    assert len(seats(sandbox)) == 1, f"two seats: {described(sandbox)}; tries 1 and 2 ended with {outcome}"


# ---- R6: the reschedule journal ---------------------------------------------------------------------


class FakeTI:
    def __init__(self, try_number: int) -> None:
        self.try_number = try_number

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def reschedule_task() -> Any:
    from airflow_provider_neetocal.operators.lifecycle import NeetoCalRescheduleBookingOperator

    return NeetoCalRescheduleBookingOperator


def move_as_a_person(sandbox: NeetoCalSandbox, sid: str, slot_date: str, slot_start_time: str) -> None:
    body = {
        "name": "Eve",
        "email": EVE,
        "time_zone": "Europe/London",
        "slot_date": slot_date,
        "slot_start_time": slot_start_time,
    }
    with requests.Session() as session:
        session.trust_env = False
        session.headers["X-Api-Key"] = TEST_API_KEY
        session.patch(f"{sandbox.api_url}/bookings/{sid}", json=body, timeout=10).raise_for_status()


def run_reschedule(sid: str, store: Any, try_number: int) -> Any:
    operator = reschedule_task()(
        task_id="move",
        booking_sid=sid,
        name="Eve",
        attendee_email=EVE,
        time_zone="Europe/London",
        slot_date="2030-07-16",
        slot_start_time="11:00 AM",
    )
    operator.hook._sleep = lambda seconds: None
    return operator.execute({"ti": FakeTI(try_number), "task_state_store": store})


def test_r6a_a_cleared_reschedule_with_an_unreadable_entry_does_not_move_the_booking_back(
    sandbox: NeetoCalSandbox,
) -> None:
    made = book_directly(sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM")
    store = DictStore()
    run_reschedule(made["sid"], store, try_number=1)
    move_as_a_person(sandbox, made["sid"], "2030-07-17", "02:00 PM")
    ((key, entry),) = store.values.items()
    store.values[key] = {**entry, "format": 2}  # what a later provider version would write

    with contextlib.suppress(Exception):  # refusing is a fix too
        run_reschedule(made["sid"], store, try_number=2)

    assert sandbox.booking(made["sid"])["starts_at"] == "2030-07-17T13:00:00.000Z", "moved back"


def test_r6b_a_retried_reschedule_whose_move_landed_does_not_move_back_a_booking_moved_since(
    sandbox: NeetoCalSandbox,
) -> None:
    made = book_directly(sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM")
    store = DictStore()
    sandbox.inject("commit_then_drop", method="PATCH", path="/bookings")
    from airflow_provider_neetocal.exceptions import NeetoCalApiError

    operator = reschedule_task()(
        task_id="move",
        booking_sid=made["sid"],
        name="Eve",
        attendee_email=EVE,
        time_zone="Europe/London",
        slot_date="2030-07-16",
        slot_start_time="11:00 AM",
    )
    operator.hook._sleep = lambda seconds: None
    real_get = operator.hook.get_booking
    calls = {"n": 0}

    def get_booking(sid: str) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:  # the read-back after the lost PATCH answer fails too (the hook repeats reads)
            sandbox.inject("server_error", times=50, method="GET", path="/bookings")
        return real_get(sid)

    operator.hook.get_booking = get_booking  # type: ignore[method-assign]
    with pytest.raises(NeetoCalApiError):
        operator.execute({"ti": FakeTI(1), "task_state_store": store})
    sandbox.clear_faults()
    assert sandbox.booking(made["sid"])["starts_at"] == "2030-07-16T10:00:00.000Z", "try 1's move landed"
    assert [v["state"] for v in store.values.values()] == ["sending"]
    move_as_a_person(sandbox, made["sid"], "2030-07-17", "02:00 PM")

    run_reschedule(made["sid"], store, try_number=2)

    assert sandbox.booking(made["sid"])["starts_at"] == "2030-07-17T13:00:00.000Z", "moved back"


def test_r6c_a_failing_store_fails_a_reschedule_with_a_neetocal_error(sandbox: NeetoCalSandbox) -> None:
    from airflow_provider_neetocal.exceptions import NeetoCalBookingUnknownError

    made = book_directly(sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM")

    class Broken(DictStore):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("the API server answered 500")

    # A NeetoCal error, retryable, saying nothing was sent (the create path's type for the same failure).
    with pytest.raises(NeetoCalBookingUnknownError, match="journal could not be read"):
        run_reschedule(made["sid"], Broken(), try_number=1)


# ---- R7: the journal key follows the connection's API version -----------------------------------


def test_r7_a_retry_after_the_connection_moved_to_api_v2_books_no_second_seat(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pre(context: Any) -> None:
        if context["ti"].try_number == 1:
            sandbox.inject("commit_then_drop", method="POST", path="/bookings")
            sandbox.inject("server_error", times=100, method="GET", path="/meetings")
        else:  # the admin switched the connection to API v2 before the retry (and NeetoCal is back)
            sandbox.clear_faults()
            monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(sandbox.url, api_version="v2"))

    dag = dag_with(
        "r7_api_version",
        lambda: NeetoCalCreateBookingOperator(
            task_id="book", name="Eve", attendee_email=EVE, pre_execute=pre, retries=1, **WEBINAR
        ),
    )
    run = run_in_airflow(dag)

    assert states(run, "book")[-1][1] == 2, "try 1 failed, try 2 ran"
    assert len(sandbox.bookings) <= 1, f"booked twice: {described(sandbox)}"


# ---- R8: the bulk operator and the journal's new per-row errors -----------------------------------


def test_r8_a_bulk_retry_with_one_cancelled_row_still_books_the_others(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
    from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator

    tries: list[int] = []
    real_create = NeetoCalHook.create_booking

    def create_booking(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["email"] == "bob@example.com" and tries[-1] == 1:
            sandbox.inject("rate_limit", times=20, method="POST", path="/bookings")  # Bob's POST is refused: 429s
        return real_create(self, payload)

    monkeypatch.setattr(NeetoCalHook, "create_booking", create_booking)

    def pre(context: Any) -> None:
        tries.append(context["ti"].try_number)
        if context["ti"].try_number > 1:
            sandbox.clear_faults()
            (ann,) = seats(sandbox, "ann@example.com")
            sandbox.set_status(ann["sid"], "cancelled")  # Ann cancelled her seat in the meantime

    rows = [
        {"name": "Ann", "email": "ann@example.com", "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"},
        {"name": "Bob", "email": "bob@example.com"},
    ]
    dag = dag_with(
        "r8_bulk_gone",
        lambda: NeetoCalCreateBookingsOperator(
            task_id="book", bookings=rows, max_concurrency=1, pre_execute=pre, retries=2, **WEBINAR
        ),
    )
    run_in_airflow(dag)

    assert tries[:2] == [1, 2]
    assert len(seats(sandbox, "bob@example.com")) == 1, f"Bob was never booked: {described(sandbox)}"


# ---- R9: clear_on_success ---------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known limit, docs/reliability.md 'Limits that remain' (R9, medium, duplicate): with "
        "[state_store] clear_on_success = True "
        "Airflow deletes the journal when the task succeeds; a slot-less task cleared more than 5 minutes "
        "later falls back to the creation-time window against the run's new start and books a second seat. "
        "docs/reliability.md's version table promises 'a finished task cleared and re-run: re-reads its booking, sends "
        "nothing' on 3.3+ and 'Limits that remain' does not list this"
    ),
)
def test_r9_clear_on_success_a_slotless_task_cleared_later_books_no_second_seat(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    dag = dag_with(
        "r9_clear_on_success",
        lambda: NeetoCalCreateBookingOperator(task_id="book", name="Eve", attendee_email=EVE, **WEBINAR),
    )
    first = run_in_airflow(dag)
    assert first.state == "success"
    assert len(seats(sandbox)) == 1

    sandbox.advance_clock(minutes=20)
    again = rerun_after_clear(dag, first, task_ids=["book"], later=dt.timedelta(minutes=20))

    assert again.state == "success", described(sandbox)
    assert len(sandbox.bookings) == 1, f"booked twice: {described(sandbox)}"
