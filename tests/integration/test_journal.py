"""Exactly-once across retries, clears and a workspace that changes under a listing (issue 18).

Over real HTTP to the sandbox and through Airflow (``dag.test()``, and Airflow's own clear of a
finished run, see :func:`~tests.integration.runs.rerun_after_clear`). Duplicates are counted in a
**group** meeting ("weekly-webinar", 50 seats a slot), where the sandbox accepts a second booking of
one attendee and slot as NeetoCal would: what keeps it out is the provider, not the sandbox. Every
booking the sandbox holds is counted (any attendee, status, meeting and slot), not only the
expected ones. The hook's waits are recorded, never slept.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.operators.read import NeetoCalListBookingsOperator
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.integration.conftest import API_SETUPS, api_setup_of, connection_extra
from tests.integration.runs import (
    described,
    posts,
    record_hook_waits,
    rerun_after_clear,
    run_in_airflow,
    task_instances,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

needs_journal = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="the journal lives in Airflow 3.3's task state store (absent before 3.3)"
)
WEBINAR = {"meeting_slug": "weekly-webinar", "time_zone": "Europe/London"}
EVE = "eve@example.com"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_hook_waits(monkeypatch)


@pytest.fixture(params=API_SETUPS)
def sandbox(
    request: pytest.FixtureRequest, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> Iterator[NeetoCalSandbox]:
    version, answers = api_setup_of(request)
    with NeetoCalSandbox(api_key=TEST_API_KEY, v2_booking_answers=answers) as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url, **connection_extra(version))
        )
        yield running


def api(sandbox: NeetoCalSandbox) -> requests.Session:
    """A client of the sandbox's v1 API, outside Airflow (what a person or another system does)."""
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Api-Key"] = TEST_API_KEY
    return session


def book_directly(sandbox: NeetoCalSandbox, **body: Any) -> dict[str, Any]:
    with api(sandbox) as session:
        answer = session.post(f"{sandbox.api_url}/bookings", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()


def move_directly(sandbox: NeetoCalSandbox, booking: dict[str, Any], slot_date: str, slot_start_time: str) -> None:
    body = {
        "name": booking["name"],
        "email": booking["email"],
        "time_zone": "UTC",
        "slot_date": slot_date,
        "slot_start_time": slot_start_time,
    }
    with api(sandbox) as session:
        session.patch(f"{sandbox.api_url}/bookings/{booking['sid']}", json=body, timeout=10).raise_for_status()


def seats_of(sandbox: NeetoCalSandbox, email: str) -> int:
    """Live bookings of one attendee in the group meeting: more than one is a second seat."""
    return sum(
        1
        for b in sandbox.bookings
        if b["email"].lower() == email
        and b["status"] not in ("cancelled", "rejected")
        and b["meeting"]["name"] == "Weekly webinar"
    )


def dag_with(dag_id: str, build: Callable[[], Any], **default_args: Any) -> Any:
    with DAG(
        dag_id=f"neetocal_journal_{dag_id}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 0, "retry_delay": 0, **default_args},
    ) as dag:
        build()
    return dag


def xcom(run: Any, task_id: str = "book", key: str = "booking_sid") -> Any:
    return xcoms_of(run.dag_id, run.run_id).get((task_id, -1, key))


def fill_workspace(sandbox: NeetoCalSandbox, before: int, after: int) -> list[dict[str, Any]]:
    """``before`` quick-sync bookings starting before 2030-07-15 and ``after`` starting after it."""
    made = []
    first = pendulum.datetime(2030, 7, 1, tz="UTC")
    for index in range(before):
        start = first.add(minutes=15 * index)
        made.append(
            book_directly(
                sandbox,
                meeting_slug="quick-sync",
                name=f"Filler {index}",
                email=f"filler{index}@example.com",
                time_zone="UTC",
                slot_date=start.to_date_string(),
                slot_start_time=start.format("hh:mm A"),
            )
        )
    later = pendulum.datetime(2030, 7, 20, tz="UTC")
    for index in range(after):
        start = later.add(minutes=15 * index)
        made.append(
            book_directly(
                sandbox,
                meeting_slug="quick-sync",
                name=f"Later {index}",
                email=f"later{index}@example.com",
                time_zone="UTC",
                slot_date=start.to_date_string(),
                slot_start_time=start.format("hh:mm A"),
            )
        )
    return made


# ---- 1. a listing that shifts under the walk -----------------------------------------------------


def test_a_bulk_rerun_whose_listing_shifts_under_it_books_no_second_seat(sandbox: NeetoCalSandbox) -> None:
    # The review's case: 100 bookings start before Eve's webinar seat, 50 after, so hers is the first
    # of page 2 (in start order, v1's). While page 2 is read, a page-1 booking moves past hers: a
    # single walk would skip Eve's seat, prove it absent and book a second one.
    sandbox.set_clock(pendulum.now("UTC").subtract(days=2))  # made two days ago, by an earlier run
    fillers = fill_workspace(sandbox, before=100, after=50)
    eve = book_directly(sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM")
    sandbox.set_clock(pendulum.now("UTC"))
    sandbox.after_page(lambda: move_directly(sandbox, fillers[0], "2030-07-25", "09:00 AM"), page=1)
    rows = [{"name": "Eve", "email": EVE, "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"}]
    rows += [
        {"name": n, "email": f"{n}@example.com", "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"}
        for n in ("ann", "bob", "cid")
    ]

    run = run_in_airflow(
        dag_with("shifted_listing", lambda: NeetoCalCreateBookingsOperator(task_id="book", bookings=rows, **WEBINAR))
    )

    assert run.state == "success"
    assert seats_of(sandbox, EVE) == 1, described(sandbox)
    outcomes = xcoms_of(run.dag_id, run.run_id)[("book", -1, "return_value")]
    assert outcomes[0]["sid"] == eve["sid"]
    assert outcomes[0]["status"] == "recovered"
    assert len(sandbox.bookings) == 150 + 1 + 3  # fillers, Eve's seat, three new seats: nothing else
    assert len(posts(sandbox)) == 150 + 1 + 3


def test_the_list_operator_returns_each_booking_once_and_none_missing_when_the_workspace_changes_mid_walk(
    sandbox: NeetoCalSandbox,
) -> None:
    fillers = fill_workspace(sandbox, before=100, after=50)
    # After page 1: one booking is made that lands on page 1 (read twice by a single walk), and one
    # of page 1 is moved past page 2's start (a single walk then misses the first of page 2).
    sandbox.after_page(
        lambda: (
            book_directly(
                sandbox,
                meeting_slug="quick-sync",
                name="Early",
                email="early@example.com",
                time_zone="UTC",
                slot_date="2030-06-01",
                slot_start_time="09:00 AM",
            ),
            move_directly(sandbox, fillers[1], "2030-07-25", "09:00 AM"),
        ),
        page=1,
    )

    run = run_in_airflow(dag_with("list_mid_walk", lambda: NeetoCalListBookingsOperator(task_id="list")))

    listed = xcoms_of(run.dag_id, run.run_id)[("list", -1, "return_value")]
    sids = [b["sid"] for b in listed]
    assert len(sids) == len(set(sids)), "a booking listed twice"
    assert set(sids) == {b["sid"] for b in sandbox.bookings}, "a booking that existed throughout is missing"


def test_a_listing_that_never_settles_is_an_error_not_a_short_answer(sandbox: NeetoCalSandbox) -> None:
    fill_workspace(sandbox, before=120, after=0)
    counter = iter(range(1000))

    def another_booking() -> None:
        n = next(counter)
        book_directly(
            sandbox,
            meeting_slug="quick-sync",
            name=f"Busy {n}",
            email=f"busy{n}@example.com",
            time_zone="UTC",
            slot_date="2030-06-01",
            slot_start_time=pendulum.datetime(2030, 6, 1, tz="UTC").add(minutes=15 * n).format("hh:mm A"),
        )

    sandbox.after_page(another_booking, page=1, times=10)
    hook = NeetoCalHook()
    with pytest.raises(Exception, match="kept changing while it was read"):
        hook.list_bookings_complete()


# ---- 2. the journal: lost answers resolved across a clear, long after --------------------------------


def lose_the_answer_and_the_look_up(sandbox: NeetoCalSandbox) -> Callable[[Any], None]:
    """Try 1's POST commits but its answer is lost, and no look-up after it can run (GET /bookings fails)."""

    def pre_execute(context: Any) -> None:
        if context["ti"].try_number == 1:
            sandbox.inject("commit_then_drop", method="POST", path="/bookings")
            # A slot-less request lists the attendee's bookings once before its POST, a fixed-slot one
            # looks the booking up: both read page 1 first; every listing after that fails.
            sandbox.after_page(lambda: sandbox.inject("server_error", times=100, method="GET", path="/bookings"))

    return pre_execute


@needs_journal
@pytest.mark.parametrize(
    "slot", [{}, {"slot_date": "2030-07-15", "slot_start_time": "10:00 AM"}], ids=["slotless", "slot"]
)
def test_a_lost_answer_cleared_20_minutes_later_is_adopted_not_booked_again(
    sandbox: NeetoCalSandbox, slot: dict[str, str]
) -> None:
    dag = dag_with(
        f"cleared_later_{'slot' if slot else 'slotless'}",
        lambda: NeetoCalCreateBookingOperator(
            task_id="book",
            name="Eve",
            attendee_email=EVE,
            pre_execute=lose_the_answer_and_the_look_up(sandbox),
            **WEBINAR,
            **slot,
        ),
    )
    first = run_in_airflow(dag)
    assert task_instances(first, "book") == {-1: ("failed", 1)}
    (made,) = sandbox.bookings
    sandbox.clear_faults()

    sandbox.advance_clock(minutes=20)
    again = rerun_after_clear(dag, first, task_ids=["book"], later=dt.timedelta(minutes=20))

    assert again.state == "success", described(sandbox)
    assert [b["sid"] for b in sandbox.bookings] == [made["sid"]], described(sandbox)
    assert xcom(again) == made["sid"]
    assert len(posts(sandbox)) == 1


@needs_journal
def test_a_finished_bulk_cleared_and_rerun_sends_nothing(sandbox: NeetoCalSandbox) -> None:
    rows = [{"name": n, "email": f"{n}@example.com"} for n in ("ann", "bob", "cid")]
    rows.append({"name": "Eve", "email": EVE, "slot_date": "2030-07-15", "slot_start_time": "10:00 AM"})
    dag = dag_with("bulk_rerun", lambda: NeetoCalCreateBookingsOperator(task_id="book", bookings=rows, **WEBINAR))
    first = run_in_airflow(dag)
    assert first.state == "success"
    before = [b["sid"] for b in sandbox.bookings]

    again = rerun_after_clear(dag, first, task_ids=["book"], later=dt.timedelta(hours=3))

    assert again.state == "success"
    assert [b["sid"] for b in sandbox.bookings] == before
    assert len(posts(sandbox)) == 4
    outcomes = xcoms_of(again.dag_id, again.run_id)[("book", -1, "return_value")]
    assert sorted(o["sid"] for o in outcomes) == sorted(before)  # rows run in parallel: any creation order
    assert {o["status"] for o in outcomes} == {"recovered"}


@needs_journal
def test_a_booking_cancelled_since_is_reported_not_booked_again(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    dag = dag_with(
        "cancelled_since",
        lambda: NeetoCalCreateBookingOperator(task_id="book", name="Eve", attendee_email=EVE, **WEBINAR),
    )
    first = run_in_airflow(dag)
    (made,) = sandbox.bookings
    sandbox.set_status(made["sid"], "cancelled")

    again = rerun_after_clear(dag, first, task_ids=["book"])

    assert task_instances(again, "book")[-1][0] == "failed"
    assert len(sandbox.bookings) == 1
    assert len(posts(sandbox)) == 1
    assert "NeetoCalBookingGoneError" in log_output()


@needs_journal
def test_a_cleared_reschedule_never_moves_back_a_booking_someone_moved_since(sandbox: NeetoCalSandbox) -> None:
    from airflow_provider_neetocal.operators.lifecycle import NeetoCalRescheduleBookingOperator

    made = book_directly(sandbox, **WEBINAR, name="Eve", email=EVE, slot_date="2030-07-15", slot_start_time="10:00 AM")
    dag = dag_with(
        "reschedule_cleared",
        lambda: NeetoCalRescheduleBookingOperator(
            task_id="move",
            booking_sid=made["sid"],
            name="Eve",
            attendee_email=EVE,
            time_zone="Europe/London",
            slot_date="2030-07-16",
            slot_start_time="11:00 AM",
        ),
    )
    first = run_in_airflow(dag)
    assert first.state == "success"
    with api(sandbox) as session:  # a person moves it elsewhere afterwards
        body = {
            "name": "Eve",
            "email": EVE,
            "time_zone": "Europe/London",
            "slot_date": "2030-07-17",
            "slot_start_time": "02:00 PM",
        }
        session.patch(f"{sandbox.api_url}/bookings/{made['sid']}", json=body, timeout=10).raise_for_status()
    patches = len([r for r in sandbox.requests if r.method == "PATCH"])

    again = rerun_after_clear(dag, first, task_ids=["move"])

    assert again.state == "success"
    assert len([r for r in sandbox.requests if r.method == "PATCH"]) == patches
    assert sandbox.booking(made["sid"])["starts_at"] == "2030-07-17T13:00:00.000Z"


def test_the_list_operator_keeps_an_upcoming_booking_when_another_is_cancelled_mid_walk(
    sandbox: NeetoCalSandbox,
) -> None:
    # Under type=upcoming a cancellation on page 1 takes that booking out of the listing: every later
    # booking moves up one place, and a single walk never reads the one that was first on page 2.
    fillers = fill_workspace(sandbox, before=100, after=50)
    sandbox.after_page(lambda: sandbox.set_status(fillers[3]["sid"], "cancelled"), page=1)

    run = run_in_airflow(
        dag_with("list_cancel_mid_walk", lambda: NeetoCalListBookingsOperator(task_id="list", type="upcoming"))
    )

    listed = xcoms_of(run.dag_id, run.run_id)[("list", -1, "return_value")]
    sids = {b["sid"] for b in listed}
    assert len(sids) == len(listed)
    upcoming_throughout = {b["sid"] for b in fillers} - {fillers[3]["sid"]}
    assert upcoming_throughout <= sids, f"missing: {upcoming_throughout - sids}"
