"""The sync operator (issue 21) over real HTTP to the sandbox, through Airflow (``dag.test()``).

Every step counts the sandbox's bookings per key's attendee (live ones), so a duplicate, a lost
booking or a touched foreign booking shows. Bookings go to the **group** meeting "weekly-webinar"
(50 seats a slot), where a second booking of one attendee and slot is accepted as NeetoCal would:
what keeps duplicates out is the sync, not the sandbox. Each test has its own ``sync_id`` (its
own asset, so its own ownership).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.operators.sync import NeetoCalSyncBookingsOperator
from airflow_provider_neetocal.sync import OwnershipStore, SyncStoreError
from tests.compat import DAG, xcoms_of
from tests.conftest import TEST_API_KEY
from tests.integration.conftest import API_SETUPS
from tests.integration.runs import live_bookings, record_hook_waits, run_in_airflow, task_instances

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]
needs_store = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="the sync's ownership lives in Airflow 3.3's asset state store"
)
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
#: Monday 2030-07-15 onwards, weekdays 10:00-16:00 London, one-hour seats for 50.
SLOTS = {
    "a": ("2030-07-15", "10:00 AM"),
    "b": ("2030-07-15", "11:00 AM"),
    "c": ("2030-07-16", "02:00 PM"),
    "d": ("2030-07-17", "03:00 PM"),
    "e": ("2030-07-18", "10:00 AM"),
}


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_hook_waits(monkeypatch)


def row(key: str, slot: str, email: str | None = None) -> dict[str, Any]:
    slot_date, slot_start_time = SLOTS[slot]
    return {
        "row_id": key,
        "name": key.title(),
        "email": email or f"{key}@example.com",
        "slot_date": slot_date,
        "slot_start_time": slot_start_time,
    }


FIRST = [row("ann", "a"), row("bob", "b"), row("cat", "c"), row("dan", "d")]


def sync(sync_id: str, rows: Any, *, mode: str = "apply", **kwargs: Any) -> Any:
    """One DAG run of a one-task DAG syncing ``rows``; returns the run."""
    with DAG(dag_id=f"sync_{sync_id}", schedule=None, catchup=False) as dag:
        NeetoCalSyncBookingsOperator(
            task_id="sync",
            rows=rows,
            sync_id=sync_id,
            key_field="row_id",
            mode=mode,
            meeting_slug="weekly-webinar",
            time_zone="Europe/London",
            **{"retries": 0, **kwargs},
        )
    return run_in_airflow(dag)


def plan_of(run: Any) -> dict[str, Any]:
    return xcoms_of(run.dag_id, run.run_id)[("sync", -1, "plan")]


def writes(sandbox: NeetoCalSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests if r.method in WRITE_METHODS]


def per_key(sandbox: NeetoCalSandbox) -> dict[str, int]:
    """Live bookings per attendee (a key's attendee is ``<key>@example.com``)."""
    counts: dict[str, int] = {}
    for booking in live_bookings(sandbox):
        name = booking["email"].split("@")[0]
        counts[name] = counts.get(name, 0) + 1
    return counts


def booking_of(sandbox: NeetoCalSandbox, key: str) -> dict[str, Any]:
    (booking,) = [b for b in live_bookings(sandbox) if b["email"] == f"{key}@example.com"]
    return booking


def api(sandbox: NeetoCalSandbox) -> requests.Session:
    """A client of the sandbox outside Airflow: a person, or another system."""
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Api-Key"] = TEST_API_KEY
    return session


def sync_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@needs_store
def test_plan_sends_no_write_then_apply_books_each_row_once_and_a_rerun_sends_nothing(sandbox):
    sid = sync_id()
    run = sync(sid, FIRST, mode="plan")
    assert run.state == "success"
    assert writes(sandbox) == []
    assert plan_of(run)["counts"]["create"] == 4

    run = sync(sid, FIRST)
    assert run.state == "success", task_instances(run, "sync")
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert len(writes(sandbox)) == 4

    run = sync(sid, FIRST)
    assert run.state == "success"
    assert len(writes(sandbox)) == 4, "a re-run of a finished apply sent a write"
    assert plan_of(run)["counts"]["unchanged"] == 4


@needs_store
@pytest.mark.parametrize("sandbox", API_SETUPS, indirect=True)
def test_second_sync_books_added_moves_changed_and_cancels_removed_rows(sandbox):
    sid = sync_id()
    assert sync(sid, FIRST).state == "success"
    bob_before = booking_of(sandbox, "bob")
    foreign = None
    with api(sandbox) as session:  # a host's own booking, same meeting: never the sync's
        foreign = session.post(
            f"{sandbox.api_url}/bookings",
            json={
                "meeting_slug": "weekly-webinar",
                "name": "Zed",
                "email": "zed@example.com",
                "time_zone": "UTC",
                "slot_date": "2030-07-16",
                "slot_start_time": "01:00 PM",
            },
            timeout=10,
        ).json()
    before = len(writes(sandbox))
    second = [row("ann", "a"), row("bob", "e"), row("dan", "d"), row("eve", "b")]  # bob moved, cat removed, eve added

    run = sync(sid, second)

    assert run.state == "success", task_instances(run, "sync")
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "dan": 1, "eve": 1, "zed": 1}
    bob_after = booking_of(sandbox, "bob")
    assert bob_after["sid"] == bob_before["sid"], "a moved row was cancelled and booked again"
    assert bob_after["starts_at"] != bob_before["starts_at"]
    made = writes(sandbox)[before:]
    assert len(made) == 3, made  # one create, one move, one cancel
    assert foreign is not None
    (zed,) = [b for b in sandbox.bookings if b["email"] == "zed@example.com"]
    assert zed["status"] == "confirmed"
    assert zed["starts_at"].startswith("2030-07-16T13:00")
    counts = plan_of(run)["counts"]
    assert (counts["create"], counts["reschedule"], counts["cancel"], counts["unchanged"]) == (1, 1, 1, 2)


@needs_store
def test_bookings_changed_by_hand_are_respected_then_enforced(sandbox):
    sid = sync_id()
    assert sync(sid, FIRST).state == "success"
    ann, bob = booking_of(sandbox, "ann"), booking_of(sandbox, "bob")
    with api(sandbox) as session:  # ann moved by hand
        session.patch(
            f"{sandbox.api_url}/bookings/{ann['sid']}",
            json={
                "name": "Ann",
                "email": ann["email"],
                "time_zone": "Europe/London",
                "slot_date": "2030-07-19",
                "slot_start_time": "01:00 PM",
            },
            timeout=10,
        ).raise_for_status()
    sandbox.set_status(bob["sid"], "cancelled")  # bob cancelled by hand
    before = len(writes(sandbox))

    run = sync(sid, FIRST)

    assert run.state == "success"
    assert len(writes(sandbox)) == before, "a booking changed by hand was touched under on_drift='respect'"
    assert plan_of(run)["counts"]["drifted"] == 2
    assert per_key(sandbox) == {"ann": 1, "cat": 1, "dan": 1}

    run = sync(sid, FIRST, on_drift="enforce")

    assert run.state == "success", task_instances(run, "sync")
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert booking_of(sandbox, "ann")["sid"] == ann["sid"]
    assert booking_of(sandbox, "ann")["starts_at"] == ann["starts_at"]
    assert len(writes(sandbox)) == before + 2


@needs_store
def test_an_empty_table_trips_the_guard_and_sends_nothing(sandbox):
    sid = sync_id()
    assert sync(sid, FIRST).state == "success"
    before = len(writes(sandbox))

    run = sync(sid, [])

    assert run.state == "failed"
    assert len(writes(sandbox)) == before
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    plan = plan_of(run)
    assert plan["counts"]["cancel"] == 4
    assert "max_cancellations" in plan["refused"]

    run = sync(sid, [], max_cancellations=None)

    assert run.state == "success"
    assert per_key(sandbox) == {}


@needs_store
def test_on_removed_keep_leaves_the_booking(sandbox):
    sid = sync_id()
    assert sync(sid, FIRST).state == "success"
    before = len(writes(sandbox))
    run = sync(sid, FIRST[:3], on_removed="keep")
    assert run.state == "success"
    assert len(writes(sandbox)) == before
    assert plan_of(run)["counts"]["keep"] == 1
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}


@needs_store
def test_a_crash_mid_apply_converges_on_the_next_run_without_duplicates(sandbox, monkeypatch):
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    sid = sync_id()
    real_create = NeetoCalHook.create_booking
    made: list[str] = []

    def create_then_die(self: NeetoCalHook, payload: dict[str, Any]) -> dict[str, Any]:
        if len(made) == 2:
            raise RuntimeError("the worker died")  # not a row error: the task dies mid-batch
        booking = real_create(self, payload)
        made.append(booking["sid"])
        return booking

    monkeypatch.setattr(NeetoCalHook, "create_booking", create_then_die)
    run = sync(sid, FIRST, max_concurrency=1)
    assert run.state == "failed"
    assert sum(per_key(sandbox).values()) == 2
    monkeypatch.setattr(NeetoCalHook, "create_booking", real_create)

    run = sync(sid, FIRST)

    assert run.state == "success", task_instances(run, "sync")
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert len([w for w in writes(sandbox) if w == ("POST", "/bookings")]) == 4
    run = sync(sid, FIRST)
    assert plan_of(run)["counts"]["unchanged"] == 4


@needs_store
def test_a_retry_in_the_same_run_after_a_crash_mid_apply_books_the_rest_once(sandbox, monkeypatch):
    import datetime as dt

    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    real_create = NeetoCalHook.create_booking
    calls = {"n": 0}

    def third_create_dies_once(self: NeetoCalHook, payload: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            real_create(self, payload)  # it lands, and the answer is lost with the worker
            raise RuntimeError("the worker died")
        return real_create(self, payload)

    monkeypatch.setattr(NeetoCalHook, "create_booking", third_create_dies_once)
    run = sync(sync_id(), FIRST, max_concurrency=1, retries=1, retry_delay=dt.timedelta(0))

    assert run.state == "success", task_instances(run, "sync")
    assert task_instances(run, "sync")[-1][1] == 2
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert len([w for w in writes(sandbox) if w == ("POST", "/bookings")]) == 4


@needs_store
def test_a_crash_between_the_writes_and_saving_ownership_converges(sandbox, monkeypatch):
    sid = sync_id()
    real_save = OwnershipStore.save
    calls = {"n": 0}

    def save_fails_after_the_writes(self: OwnershipStore, owned: Any) -> int:
        calls["n"] += 1
        if owned:  # the save after the batch: the bookings exist, their ownership is lost
            raise SyncStoreError("the supervisor went away")
        return real_save(self, owned)

    monkeypatch.setattr(OwnershipStore, "save", save_fails_after_the_writes)
    run = sync(sid, FIRST)
    assert run.state == "failed"
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    monkeypatch.setattr(OwnershipStore, "save", real_save)
    before = len(writes(sandbox))

    run = sync(sid, FIRST)

    assert run.state == "success", task_instances(run, "sync")
    assert len(writes(sandbox)) == before, "an interrupted create was sent again"
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert plan_of(run)["counts"]["unchanged"] == 4


@needs_store
def test_duplicate_keys_are_refused_before_any_request(sandbox):
    run = sync(sync_id(), [row("ann", "a"), row("ann", "b")])
    assert run.state == "failed"
    assert sandbox.requests == []


@needs_store
def test_it_never_adopts_an_identical_booking_it_did_not_make(sandbox):
    with api(sandbox) as session:
        session.post(
            f"{sandbox.api_url}/bookings",
            json={
                "meeting_slug": "weekly-webinar",
                "name": "Ann",
                "email": "ann@example.com",
                "time_zone": "Europe/London",
                "slot_date": "2030-07-15",
                "slot_start_time": "10:00 AM",
            },
            timeout=10,
        ).raise_for_status()
    sid = sync_id()
    run = sync(sid, FIRST)
    assert run.state == "failed"  # ann's row: a booking exists that the sync did not make
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    run = sync(sid, [], max_cancellations=None)
    assert per_key(sandbox) == {"ann": 1}, "the sync cancelled a booking it did not make"


@pytest.mark.skipif(AIRFLOW_V_3_3_PLUS, reason="before 3.3 only: there is no asset state store")
def test_before_airflow_3_3_it_refuses_clearly_and_sends_nothing(sandbox, caplog):
    run = sync(sync_id(), FIRST)
    assert run.state == "failed"
    assert sandbox.requests == []


@needs_store
def test_a_row_back_after_a_cancel_whose_record_was_lost_is_booked_again_not_drift(sandbox, monkeypatch):
    sid = sync_id()
    assert sync(sid, FIRST).state == "success"
    ann = booking_of(sandbox, "ann")
    real_save = OwnershipStore.save

    def save_fails_once_ann_is_gone(self: OwnershipStore, owned: Any) -> int:
        if "ann" not in owned:  # the save after the cancel: the cancel landed, its record is lost
            raise SyncStoreError("the supervisor went away")
        return real_save(self, owned)

    monkeypatch.setattr(OwnershipStore, "save", save_fails_once_ann_is_gone)
    assert sync(sid, FIRST[1:]).state == "failed"
    assert sandbox.booking(ann["sid"])["status"] == "cancelled"
    monkeypatch.setattr(OwnershipStore, "save", real_save)

    run = sync(sid, FIRST)

    assert run.state == "success", task_instances(run, "sync")
    assert per_key(sandbox) == {"ann": 1, "bob": 1, "cat": 1, "dan": 1}
    assert booking_of(sandbox, "ann")["sid"] != ann["sid"]
    assert plan_of(run)["counts"]["drifted"] == 0


@needs_store
def test_a_field_the_api_version_does_not_take_is_refused_for_every_row_before_any_request(sandbox):
    rows = [*FIRST, {**row("eve", "e"), "host_email": "oliver@example.com"}]  # host_email: API v2 only
    run = sync(sync_id(), rows)
    assert run.state == "failed"
    assert [r for r in sandbox.requests if r.method != "GET"] == []
    assert per_key(sandbox) == {}


@needs_store
def test_ten_thousand_owned_keys_round_trip_through_airflows_asset_state_store():
    """The real store (the task's supervisor, the metadata DB) keeps the chunks a 10,000-key sync writes."""
    from airflow.sdk import Asset

    from airflow_provider_neetocal.sync import MAX_CHUNK_BYTES, Owned
    from tests.integration.runs import task

    uri = f"neetocal://neetocal_default/sync/{sync_id()}"
    asset = Asset(uri=uri, name=uri)
    owned = {
        f"customer-{i:06d}": Owned(
            f"customer-{i:06d}", f"x{i:06d}", "onboarding-call", f"customer{i}@example.com", "2030-07-15T09:00:00+00:00"
        )
        for i in range(10_000)
    }

    with DAG(dag_id=f"sync_store_{uri.rsplit('/', 1)[-1]}", schedule=None, catchup=False) as dag:

        @task(outlets=[asset])
        def save(asset_state_store: Any = None) -> int:
            ownership = OwnershipStore(asset_state_store[asset], sync_id="s", workspace="w")
            ownership.save(owned)
            return ownership.buckets

        @task(inlets=[asset])
        def load(asset_state_store: Any = None) -> list[Any]:
            store = asset_state_store[asset]
            loaded, _ = OwnershipStore(store, sync_id="s", workspace="w").load()
            meta = store.get("neetocal.sync.meta")
            sizes = [len(json.dumps(store.get(f"neetocal.sync.owned.0.{i}"))) for i in range(meta["chunks"])]
            return [len(loaded), sorted(loaded) == sorted(owned), max(sizes), meta["chunks"]]

        save() >> load()

    run = run_in_airflow(dag)
    assert run.state == "success"
    count, same_keys, largest, chunks = xcoms_of(run.dag_id, run.run_id)[("load", -1, "return_value")]
    assert (count, same_keys) == (10_000, True)
    assert largest <= MAX_CHUNK_BYTES
    assert chunks == xcoms_of(run.dag_id, run.run_id)[("save", -1, "return_value")]
