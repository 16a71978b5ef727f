"""Regressions of the exactly-once issue, over real HTTP and through Airflow (``dag.test()``).

Each test names the defect it pins down. Tasks run with ``retries=2`` and ``retry_delay=0``; the
hook's waits (settle wait, back-offs) are recorded instead of slept unless a test says otherwise.
What is asserted is what a user would check afterwards: how many bookings NeetoCal holds, how many
POSTs it received, whether the task succeeded or failed (and whether it could be retried), and
what the failure said. Never wall time.
"""

from __future__ import annotations

import collections
import json
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS, AirflowException
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.operators.lifecycle import (
    NeetoCalCancelBookingOperator,
    NeetoCalRescheduleBookingOperator,
)
from airflow_provider_neetocal.sandbox import NeetoCalSandbox, make_self_signed_cert
from airflow_provider_neetocal.sandbox.config import default_meetings_config
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY, neetocal_conn_json
from tests.integration.runs import (
    answered_posts,
    closed_port,
    described,
    live_bookings,
    live_per_attendee,
    posts,
    record_hook_waits,
    run_in_airflow,
    task,
    task_instances,
    try_number_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.deep, pytest.mark.usefixtures("airflow_db")]

EVE = "eve@example.com"
ONCALL = "oncall@example.com"
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")} | {
    "saturday": [["00:00", "24:00"]],
    "sunday": [["00:00", "24:00"]],
}
#: A one-on-one scheduling link kept off ``GET /meetings`` (bookable all the same).
UNLISTED = {
    "slug": "private-sync",
    "name": "Private sync",
    "kind": "one_on_one",
    "duration": 15,
    "time_zone": "UTC",
    "hosts": [{"name": "Pat Lee", "email": "pat@example.com"}],
    "spots": ["zoom", "jitsi"],
    "working_hours": ALL_DAY,
    "listed": False,
}
SLOTTED = {"slot_date": "2030-07-15", "slot_start_time": "10:00 AM"}
SLOTLESS: dict[str, Any] = {}
#: (connect, read) seconds: short, so a stalled answer times out quickly.
SHORT_TIMEOUT = [1.0, 0.3]
RETRIES = 2


# ---- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_hook_waits(monkeypatch)


@pytest.fixture
def sandbox(waits: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[NeetoCalSandbox]:
    """The shipped meetings plus an unlisted one-on-one meeting; ``neetocal_default`` points here."""
    meetings = [*default_meetings_config()["meetings"], UNLISTED]
    with NeetoCalSandbox(api_key=TEST_API_KEY, meetings=meetings) as running:
        monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url))
        yield running


def use_connection(monkeypatch: pytest.MonkeyPatch, url: str, password: str = TEST_API_KEY, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(url, password, **extra))


def booking_arguments(meeting_slug: str = "quick-sync", slot: dict[str, Any] = SLOTTED, **overrides: Any) -> dict:
    return {
        "meeting_slug": meeting_slug,
        "name": "Eve Smith",
        "attendee_email": EVE,
        "time_zone": "UTC",
        **slot,
        **overrides,
    }


def dag_with(dag_id: str, build: Callable[[], Any], default_args: dict[str, Any] | None = None) -> Any:
    """A DAG whose tasks ``build()`` creates; tasks retry twice, at once, unless ``default_args`` says otherwise."""
    with DAG(
        dag_id=f"neetocal_regression_{dag_id}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": RETRIES, "retry_delay": 0, **(default_args or {})},
        tags=["neetocal", "test"],
    ) as dag:
        build()
    return dag


def booking_dag(dag_id: str, operator: type = NeetoCalCreateBookingOperator, **arguments: Any) -> Any:
    return dag_with(dag_id, lambda: operator(task_id="book", **arguments))


def returned(run: Any, task_id: str = "book") -> Any:
    return xcoms_of(run.dag_id, run.run_id).get((task_id, -1, "return_value"))


def assert_one_live_booking_of(sandbox: NeetoCalSandbox, email: str = EVE) -> dict[str, Any]:
    """Exactly one live booking of ``email`` and no other booking at all; returns it."""
    (booking,) = live_bookings(sandbox) or [None]
    assert booking is not None, described(sandbox)
    assert booking["email"].lower() == email.lower(), described(sandbox)
    assert len(sandbox.bookings) == 1, described(sandbox)
    return booking


def assert_failed_retryably(run: Any, task_id: str = "book") -> None:
    """The run failed after every Airflow retry was used: each failure was a retryable one."""
    assert run.state == "failed"
    assert task_instances(run, task_id) == {-1: ("failed", RETRIES + 1)}


def assert_failed_for_good_at_once(run: Any, task_id: str = "book") -> None:
    """The run failed on the first try: the error was not retryable (``AirflowFailException``)."""
    assert run.state == "failed"
    assert task_instances(run, task_id) == {-1: ("failed", 1)}


class DiesAfterBookingOnTry1(NeetoCalCreateBookingOperator):
    """Books, then fails on the first try only: the worker lost its result after the POST."""

    def execute(self, context: Any) -> dict[str, Any]:
        booking = super().execute(context)
        if context["ti"].try_number == 1:
            raise AirflowException(f"worker lost after booking {booking['sid']}")
        return booking


class BulkDiesAfterBookingOnTry1(NeetoCalCreateBookingsOperator):
    """Books every row, then fails on the first try only."""

    def execute(self, context: Any) -> list[dict[str, Any] | None]:
        results = super().execute(context)
        if context["ti"].try_number == 1:
            raise AirflowException("worker lost after booking the rows")
        return results


# ---- (1) a meeting GET /meetings does not list -----------------------------------------------


@pytest.mark.parametrize("slot", [pytest.param(SLOTTED, id="slotted"), pytest.param(SLOTLESS, id="slotless")])
def test_a_retry_never_books_again_when_the_meeting_is_not_listed(
    sandbox: NeetoCalSandbox, slot: dict[str, Any], log_output: Callable[[], str]
) -> None:
    # Try 1's answer is lost after the commit. The look-up then finds a booking of this attendee at
    # the start but cannot attribute it to the meeting (GET /meetings does not list it): that is not
    # "absent", so neither this try nor a retry may send again.
    sandbox.inject("commit_then_drop", method="POST", path="/bookings")
    shape = "slotted" if slot else "slotless"

    run = run_in_airflow(booking_dag(f"unlisted_lost_{shape}", **booking_arguments("private-sync", slot)))

    booking = assert_one_live_booking_of(sandbox)
    assert len(posts(sandbox)) == 1
    if run.state == "success":  # proven to be ours: adopted
        assert returned(run)["sid"] == booking["sid"]
    else:
        assert_failed_retryably(run)
        logs = log_output()
        assert "NeetoCalBookingUnknownError" in logs
        assert "'private-sync' is not listed by GET /meetings" in logs


def test_a_retry_on_an_unlisted_meeting_with_if_exists_create_is_not_failed_for_good_by_the_422(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    # Try 1 books, then the worker dies. Try 2 cannot attribute the booking it finds (unlisted
    # meeting) and, as if_exists="create" allows, sends anyway: NeetoCal refuses the taken slot
    # (422). That refusal is looked up before it is raised, so it does not fail the task for good.
    run = run_in_airflow(
        booking_dag(
            "unlisted_create_422", DiesAfterBookingOnTry1, if_exists="create", **booking_arguments("private-sync")
        )
    )

    assert_one_live_booking_of(sandbox)
    if AIRFLOW_V_3_3_PLUS:  # the journal names the booking try 1 made: read back, nothing risked
        assert [p.status for p in posts(sandbox)] == [200]
        assert run.state == "success"
        return
    assert [p.status for p in posts(sandbox)] == [200, 422, 422]  # tries 2 and 3 each risked one, refused
    assert_failed_retryably(run)
    assert "'private-sync' is not listed by GET /meetings" in log_output()


def test_the_failure_after_a_refused_risky_send_says_what_was_sent_and_refused(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    run = run_in_airflow(
        booking_dag(
            "unlisted_create_422_message",
            DiesAfterBookingOnTry1,
            if_exists="create",
            **booking_arguments("private-sync"),
        )
    )

    if AIRFLOW_V_3_3_PLUS:  # the journal names the booking try 1 made: nothing is risked, nothing fails
        assert run.state == "success"
        assert [p.status for p in posts(sandbox)] == [200]
        return
    assert run.state == "failed"
    lines = log_output().splitlines()
    at = next(i for i, line in enumerate(lines) if "NeetoCalBookingUnknownError:" in line)
    failure = "\n".join(lines[at : at + 2])  # the first line, then the details
    assert "Nothing was sent" not in failure
    assert "set if_exists='create'" not in failure
    assert "The selected slot is not available" in failure


def test_a_slotted_one_on_one_retry_whose_booking_exists_adopts_it_after_neetocals_422(
    sandbox: NeetoCalSandbox, waits: list[float], log_output: Callable[[], str]
) -> None:
    # Try 1 books (if_exists="create": no look-up first), then the worker dies. Try 2's look-up
    # fails (GET /bookings 500 through all of the hook's repeats), so it sends: the slot is taken by
    # its own booking, 422. Looked up again, the booking is found and adopted: the task succeeds.
    sandbox.inject("server_error", times=4, method="GET", path="/bookings")

    run = run_in_airflow(
        booking_dag("listed_create_422", DiesAfterBookingOnTry1, if_exists="create", **booking_arguments())
    )

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    # With the journal, try 2's read-back of the booking meets the GET failures too (retryable, nothing
    # sent) and try 3 reads it.
    assert try_number_of(run) == (3 if AIRFLOW_V_3_3_PLUS else 2)
    # With the journal (Airflow 3.3+) try 2 reads back the booking try 1 recorded: no risky send.
    assert [p.status for p in posts(sandbox)] == ([200] if AIRFLOW_V_3_3_PLUS else [200, 422])
    assert returned(run)["sid"] == booking["sid"]
    assert f"Recovered existing (not created again): NeetoCal booking {booking['sid']}" in log_output()


# ---- (2) a slot-less booking that commits after the read timeout --------------------------------


def test_a_slotless_post_slower_than_the_read_timeout_is_not_resent_and_the_retry_adopts_it(
    sandbox: NeetoCalSandbox, waits: list[float], monkeypatch: pytest.MonkeyPatch, log_output: Callable[[], str]
) -> None:
    # The POST stalls before NeetoCal commits it, longer than the read timeout: try 1 times out,
    # looks up twice (nothing yet: not committed) and, with no slot NeetoCal could refuse twice,
    # does not send again. The POST lands before the retry (its retry_delay), which adopts it.
    use_connection(monkeypatch, sandbox.url, timeout=SHORT_TIMEOUT)
    sandbox.inject("delay", method="POST", path="/bookings", seconds=SHORT_TIMEOUT[1] * 4)

    def retry_delay(context: Any) -> None:
        answered_posts(sandbox, 1)  # the stalled POST has been handled

    run = run_in_airflow(
        dag_with(
            "slotless_slow_commit",
            lambda: NeetoCalCreateBookingOperator(
                task_id="book", on_retry_callback=retry_delay, **booking_arguments(slot=SLOTLESS)
            ),
        )
    )

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert try_number_of(run) == 2
    assert [p.status for p in posts(sandbox)] == [200]  # the stalled one, answered after the client gave up
    assert waits == [3.0]  # try 1's settle wait between its two look-ups
    assert returned(run)["sid"] == booking["sid"]
    logs = log_output()
    assert "timed out waiting for NeetoCal's answer" in logs
    assert "Not sent again by this try" in logs


# ---- (3) TLS: commit, then a broken TLS record -------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    cert, _key = make_self_signed_cert(tmp_path)
    return cert


@pytest.fixture
def https_sandbox(certificate: Path, waits: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[NeetoCalSandbox]:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with NeetoCalSandbox(
        api_key=TEST_API_KEY, tls_cert=certificate, tls_key=certificate.with_name("sandbox-key.pem")
    ) as running:
        assert running.url.startswith("https://127.0.0.1:")
        yield running


@pytest.mark.parametrize("trust", ["REQUESTS_CA_BUNDLE", "ca_bundle extra"])
def test_a_booking_whose_tls_answer_breaks_after_the_commit_is_adopted_not_reposted(
    https_sandbox: NeetoCalSandbox, certificate: Path, monkeypatch: pytest.MonkeyPatch, trust: str
) -> None:
    if trust == "REQUESTS_CA_BUNDLE":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
        use_connection(monkeypatch, https_sandbox.url)
    else:
        use_connection(monkeypatch, https_sandbox.url, ca_bundle=str(certificate))
    https_sandbox.inject("commit_then_tls_garbage", method="POST", path="/bookings")

    run = run_in_airflow(booking_dag(f"tls_garbage_{trust.split()[0].lower()}", **booking_arguments()))

    booking = assert_one_live_booking_of(https_sandbox)
    assert run.state == "success"
    assert try_number_of(run) == 1
    assert [(p.status, p.fault) for p in posts(https_sandbox)] == [(None, "commit_then_tls_garbage")]
    assert returned(run)["sid"] == booking["sid"]


def test_an_untrusted_certificate_fails_before_anything_is_sent(
    https_sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch, log_output: Callable[[], str]
) -> None:
    # The control for the test above: without the CA, verification is on and nothing gets through.
    use_connection(monkeypatch, https_sandbox.url)

    run = run_in_airflow(booking_dag("tls_untrusted", retries=0, **booking_arguments()))

    assert run.state == "failed"
    assert https_sandbox.requests == []
    assert https_sandbox.bookings == []
    assert "CERTIFICATE_VERIFY_FAILED" in log_output()


# ---- (4) Airflow's email is the alert address, never the attendee ------------------------------


def test_default_args_email_never_becomes_the_attendee_of_a_created_booking(sandbox: NeetoCalSandbox) -> None:
    run = run_in_airflow(
        dag_with(
            "alert_email_create",
            lambda: NeetoCalCreateBookingOperator(task_id="book", **booking_arguments()),
            default_args={"email": ONCALL, "email_on_failure": False},
        )
    )

    booking = assert_one_live_booking_of(sandbox, EVE)
    assert run.state == "success"
    assert [p.json["email"] for p in posts(sandbox)] == [EVE]
    assert ONCALL not in json.dumps([(r.query, r.json) for r in sandbox.requests])
    assert returned(run)["email"] == booking["email"] == EVE


def test_without_attendee_email_the_alert_address_is_not_booked_and_nothing_is_sent(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    arguments = booking_arguments()
    del arguments["attendee_email"]
    run = run_in_airflow(
        dag_with(
            "alert_email_missing_attendee",
            lambda: NeetoCalCreateBookingOperator(task_id="book", **arguments),
            default_args={"email": ONCALL, "email_on_failure": False},
        )
    )

    assert_failed_for_good_at_once(run)
    assert sandbox.requests == []
    logs = log_output()
    assert "attendee_email=None: required" in logs
    assert f"email='{ONCALL}' is Airflow's failure-alert address" in logs


def test_default_args_email_never_becomes_the_attendee_of_a_rescheduled_booking(sandbox: NeetoCalSandbox) -> None:
    def build() -> None:
        book = NeetoCalCreateBookingOperator(task_id="book", **booking_arguments())
        move = NeetoCalRescheduleBookingOperator(
            task_id="move",
            booking_sid="{{ ti.xcom_pull(task_ids='book', key='booking_sid') }}",
            name="Eve Smith",
            attendee_email=EVE,
            time_zone="UTC",
            slot_start="2030-07-16T11:00:00Z",
        )
        book >> move

    run = run_in_airflow(dag_with("alert_email_reschedule", build, default_args={"email": ONCALL}))

    booking = assert_one_live_booking_of(sandbox, EVE)
    assert run.state == "success"
    (patch,) = [r for r in sandbox.requests if r.method == "PATCH"]
    assert patch.json["email"] == EVE
    assert booking["starts_at"] == "2030-07-16T11:00:00.000Z"
    assert ONCALL not in json.dumps([(r.query, r.json) for r in sandbox.requests])


def test_a_reschedule_without_attendee_email_fails_at_once_and_sends_nothing(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    run = run_in_airflow(
        dag_with(
            "alert_email_reschedule_missing",
            lambda: NeetoCalRescheduleBookingOperator(
                task_id="book", booking_sid="abc1234", name="Eve", time_zone="UTC", slot_start="2030-07-16T11:00:00Z"
            ),
            default_args={"email": ONCALL},
        )
    )

    assert_failed_for_good_at_once(run)
    assert sandbox.requests == []
    assert f"email='{ONCALL}' is Airflow's failure-alert address" in log_output()


# ---- (5) bulk: one booking per row, never one for two ------------------------------------------


def bulk_dag(dag_id: str, rows: list[dict[str, Any]], operator: type = NeetoCalCreateBookingsOperator) -> Any:
    return dag_with(dag_id, lambda: operator(task_id="bulk", bookings=rows, meeting_slug="quick-sync", time_zone="UTC"))


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(
            [{"name": "Eve", "email": EVE}, {"name": "Eve S.", "attendee_email": "EVE@example.com"}], id="slotless"
        ),
        pytest.param(
            [
                {"name": "Eve", "email": EVE, "slot_start": "2030-07-15T10:00:00Z"},
                {"name": "Eve", "email": EVE, "slot_start": "2030-07-15T15:30:00+05:30"},
            ],
            id="same_instant_written_twice",
        ),
    ],
)
def test_bulk_rows_asking_for_the_same_booking_are_refused_before_any_request(
    sandbox: NeetoCalSandbox, rows: list[dict[str, Any]], log_output: Callable[[], str]
) -> None:
    run = run_in_airflow(bulk_dag(f"repeated_rows_{len(rows[1])}", rows))

    assert_failed_for_good_at_once(run, "bulk")
    assert sandbox.requests == []
    assert "bookings[1]=" in (logs := log_output())
    assert "asks for the same booking as bookings[0]" in logs


SAME_ATTENDEE_ROWS = [
    {"name": "Eve", "email": EVE},  # slot-less first: the operator still claims slotted rows first
    {"name": "Eve", "email": EVE, "slot_start": "2030-07-15T10:00:00Z"},
    {"name": "Ann", "email": "ann@example.com"},
]


def test_a_bulk_retry_adopts_each_rows_own_booking_never_one_for_two_rows(sandbox: NeetoCalSandbox) -> None:
    run = run_in_airflow(bulk_dag("retry_claims", SAME_ATTENDEE_ROWS, BulkDiesAfterBookingOnTry1))

    assert run.state == "success"
    assert try_number_of(run, "bulk") == 2
    assert len(posts(sandbox)) == 3  # try 2 adopted all three
    results = returned(run, "bulk")
    assert len({b["sid"] for b in results}) == 3, results
    assert sorted(b["sid"] for b in results) == sorted(b["sid"] for b in sandbox.bookings)
    assert results[1]["starts_at"] == "2030-07-15T10:00:00.000Z"
    assert results[0]["starts_at"] != results[1]["starts_at"]


def test_a_bulk_retry_books_a_lost_slotless_row_instead_of_adopting_another_rows_booking(
    sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    # Row 0 (slot-less) loses its POST before NeetoCal commits it; row 1 (same attendee, a slot) is
    # booked. The retry must not hand row 1's booking (this attendee's only booking of the run) to
    # row 0: it books row 0 once.
    sandbox.inject("delay", method="POST", path="/bookings", seconds=0)  # row 1's POST (slotted rows go first)
    sandbox.inject("drop", method="POST", path="/bookings")  # row 0's
    rows = SAME_ATTENDEE_ROWS[:2]

    run = run_in_airflow(bulk_dag("retry_lost_slotless", rows))

    assert run.state == "success"
    assert try_number_of(run, "bulk") == 2
    assert live_per_attendee(sandbox) == collections.Counter({EVE: 2}), described(sandbox)
    results = returned(run, "bulk")
    assert results[0]["sid"] != results[1]["sid"]
    assert results[1]["starts_at"] == "2030-07-15T10:00:00.000Z"


def test_bulk_takes_its_rows_lazily_from_a_mapped_upstream_task(sandbox: NeetoCalSandbox) -> None:
    seen: list[str] = []

    def build() -> None:
        @task
        def row(index: int) -> dict[str, Any]:
            return {
                "name": f"Guest {index}",
                "email": f"guest{index}@example.com",
                "slot_start": f"2030-07-15T{8 + index:02d}:00:00Z",
            }

        NeetoCalCreateBookingsOperator(
            task_id="bulk",
            bookings=row.expand(index=[0, 1, 2]),
            meeting_slug="quick-sync",
            time_zone="UTC",
            pre_execute=lambda context: seen.append(type(context["task"].bookings).__name__),
        )

    run = run_in_airflow(dag_with("lazy_rows", build))

    assert run.state == "success"
    # Airflow 3: LazyXComSequence; Airflow 2: LazyXComSelectSequence. Never a list.
    assert len(seen) == 1
    assert seen[0].startswith("LazyXCom")
    assert sorted(b["email"] for b in sandbox.bookings) == [f"guest{i}@example.com" for i in range(3)]
    assert xcoms_of(run.dag_id, run.run_id)[("bulk", -1, "booking_sids")] == [b["sid"] for b in returned(run, "bulk")]


# ---- pagination that never ends ---------------------------------------------------------------


def seed_a_second_page(sandbox: NeetoCalSandbox, email: str = EVE) -> None:
    """101 bookings of ``email``, so that the look-up's listing has two pages of 100."""
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Api-Key"] = TEST_API_KEY
    start = pendulum.datetime(2030, 8, 1, tz="UTC")
    for index in range(101):
        slot = start.add(minutes=15 * index)
        answer = session.post(
            f"{sandbox.api_url}/bookings",
            json={
                "meeting_slug": "quick-sync",
                "name": "Eve Smith",
                "email": email,
                "time_zone": "UTC",
                "slot_date": slot.format("YYYY-MM-DD"),
                "slot_start_time": slot.format("hh:mm A"),
            },
            timeout=10,
        )
        answer.raise_for_status()
    session.close()


def test_a_listing_that_repeats_its_first_page_fails_the_lookup_in_bounded_requests(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    seed_a_second_page(sandbox)
    seeded = len(sandbox.requests)
    sandbox.inject("repeat_page", times=1000, method="GET", path="/bookings")

    run = run_in_airflow(booking_dag("repeat_page_lookup", **booking_arguments()))

    assert_failed_retryably(run)
    during_run = sandbox.requests[seeded:]
    assert [f"{r.method} {r.path}" for r in during_run] == ["GET /meetings", "GET /bookings", "GET /bookings"] * (
        RETRIES + 1
    )
    assert len(sandbox.bookings) == 101  # nothing booked: absence was never proven
    assert "stopped walking the listing" in log_output()


def test_a_lost_answer_whose_lookup_meets_a_repeating_page_is_adopted_by_the_retry(
    sandbox: NeetoCalSandbox, waits: list[float]
) -> None:
    seed_a_second_page(sandbox)
    sandbox.inject("commit_then_drop", method="POST", path="/bookings")
    sandbox.inject("repeat_page", times=2, method="GET", path="/bookings")  # the look-up after the lost answer

    run = run_in_airflow(booking_dag("repeat_page_after_post", if_exists="create", **booking_arguments()))

    assert run.state == "success"
    assert try_number_of(run) == 2
    assert len(posts(sandbox)) == 102
    at_the_slot = [b for b in live_bookings(sandbox) if b["starts_at"] == "2030-07-15T10:00:00.000Z"]
    assert len(at_the_slot) == 1
    assert returned(run)["sid"] == at_the_slot[0]["sid"]


# ---- the environment does not redirect the client ---------------------------------------------


def test_proxy_variables_pointing_at_a_dead_port_are_ignored(
    sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
        monkeypatch.setenv(name.lower(), dead)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # Control: a client that trusts the environment cannot reach the sandbox now.
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(f"{sandbox.url}/_sandbox/health", timeout=5)

    run = run_in_airflow(booking_dag("dead_proxy", **booking_arguments()))

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert returned(run)["sid"] == booking["sid"]


# ---- answers too large or too slow -------------------------------------------------------------


def test_an_oversized_answer_to_the_post_is_cut_and_the_slot_booked_once(
    sandbox: NeetoCalSandbox, waits: list[float], log_output: Callable[[], str]
) -> None:
    sandbox.inject("oversized", method="POST", path="/bookings", size=9 * 1024 * 1024)

    run = run_in_airflow(booking_dag("oversized_post", **booking_arguments()))

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert [(p.fault, p.status) for p in posts(sandbox)] == [("oversized", 200), (None, 200)]
    assert returned(run)["sid"] == booking["sid"]
    assert "answer larger than" in log_output()


def test_an_oversized_answer_to_the_lookup_is_cut_and_read_again(sandbox: NeetoCalSandbox, waits: list[float]) -> None:
    sandbox.inject("oversized", method="GET", path="/bookings", size=9 * 1024 * 1024)

    run = run_in_airflow(booking_dag("oversized_lookup", **booking_arguments()))

    assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert waits == [1.0]  # the hook's one back-off before reading the listing again
    assert len(posts(sandbox)) == 1


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param("POST", "/bookings", id="post"), pytest.param("GET", "/bookings", id="lookup")]
)
def test_a_trickling_answer_is_stopped_at_the_deadline(
    sandbox: NeetoCalSandbox,
    waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    log_output: Callable[[], str],
) -> None:
    # One byte every 0.2 s: no single read waits past the read timeout, only the total deadline
    # (connect + read timeout) stops it. The POST was committed, so it is looked up and adopted.
    use_connection(monkeypatch, sandbox.url, timeout=SHORT_TIMEOUT)
    sandbox.inject("commit_then_trickle", method=method, path=path, seconds=0.2)

    run = run_in_airflow(booking_dag(f"trickle_{method.lower()}", **booking_arguments()))

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert try_number_of(run) == 1
    assert len(posts(sandbox)) == 1
    assert returned(run)["sid"] == booking["sid"]
    assert "did not arrive within" in log_output()


# ---- 2xx answers that do not show the booking -------------------------------------------------


@pytest.mark.parametrize("slot", [pytest.param(SLOTTED, id="slotted"), pytest.param(SLOTLESS, id="slotless")])
@pytest.mark.parametrize("fault", ["commit_then_sidless", "commit_then_empty"])
def test_a_2xx_answer_without_the_booking_is_looked_up_and_adopted(
    sandbox: NeetoCalSandbox, waits: list[float], fault: str, slot: dict[str, Any]
) -> None:
    sandbox.inject(fault, method="POST", path="/bookings")

    run = run_in_airflow(booking_dag(f"{fault}_{'slotted' if slot else 'slotless'}", **booking_arguments(slot=slot)))

    booking = assert_one_live_booking_of(sandbox)
    assert run.state == "success"
    assert try_number_of(run) == 1
    assert [p.status for p in posts(sandbox)] == [200]
    assert returned(run)["sid"] == booking["sid"]
    assert waits == []


# ---- a booking_sid that rendered as 'None' ----------------------------------------------------


def test_cancel_and_reschedule_of_a_sid_rendered_none_send_nothing(
    sandbox: NeetoCalSandbox, log_output: Callable[[], str]
) -> None:
    def build() -> None:
        @task
        def book() -> None:
            """Pushes no booking_sid: the pull below finds nothing and renders 'None'."""

        sid = "{{ ti.xcom_pull(task_ids='book', key='booking_sid') }}"
        cancel = NeetoCalCancelBookingOperator(task_id="cancel", booking_sid=sid)
        move = NeetoCalRescheduleBookingOperator(
            task_id="move",
            booking_sid=sid,
            name="Eve",
            attendee_email=EVE,
            time_zone="UTC",
            slot_start="2030-07-16T11:00:00Z",
        )
        book() >> [cancel, move]

    run = run_in_airflow(dag_with("sid_none", build))

    assert run.state == "failed"
    assert task_instances(run, "cancel") == {-1: ("failed", 1)}
    assert task_instances(run, "move") == {-1: ("failed", 1)}
    assert sandbox.requests == []
    assert "booking_sid='None': the booking sid is empty" in log_output()


# ---- a wrong API key ---------------------------------------------------------------------------


def test_a_wrong_api_key_fails_the_task_at_once(sandbox: NeetoCalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, sandbox.url, password="wrong-key-0123456789")

    run = run_in_airflow(booking_dag("wrong_key", **booking_arguments()))

    assert sandbox.bookings == []
    assert_failed_for_good_at_once(run)
