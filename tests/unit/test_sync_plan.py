"""The sync's pure core: rows → desired bookings, the plan per key, the guard, and the ownership store."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_provider_neetocal.exceptions import NeetoCalValidationError
from airflow_provider_neetocal.sync import (
    MAX_CHUNK_BYTES,
    META_KEY,
    PENDING_KEY,
    Owned,
    OwnershipStore,
    SyncStoreError,
    apply_outcome,
    cancellation_limit,
    desired_from_rows,
    fold_pending,
    pending_record,
    plan_sync,
)
from tests.state_store import FakeAssetStateStore

DEFAULTS = {"meeting_slug": "weekly-webinar", "time_zone": "UTC"}
T10 = "2030-07-15T10:00:00+00:00"
T11 = "2030-07-15T11:00:00+00:00"
T12 = "2030-07-15T12:00:00+00:00"


def rows_at(**starts: str) -> dict:
    rows = [
        {"id": key, "name": key, "email": f"{key}@example.com", "slot_start": start} for key, start in starts.items()
    ]
    return desired_from_rows(rows, key_field="id", defaults=DEFAULTS)


def owned(key: str, sid: str, start: str, **extra) -> Owned:
    return Owned(key, sid, "weekly-webinar", f"{key}@example.com", start, **extra)


def live(sid: str, start: str, status: str = "confirmed") -> dict:
    return {"sid": sid, "starts_at": start, "status": status}


def actions(plan) -> dict[str, str]:
    return {step.key: step.action for step in plan.steps}


# -- rows ---------------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_naming_both_rows():
    rows = [
        {"id": "a", "name": "A", "email": "a@example.com", "slot_start": T10},
        {"id": "a", "name": "B", "email": "b@example.com", "slot_start": T11},
    ]
    with pytest.raises(NeetoCalValidationError, match=r"rows\[1\]\.id.*same key as rows\[0\]"):
        desired_from_rows(rows, key_field="id", defaults=DEFAULTS)


def test_a_row_without_a_key_or_a_slot_is_refused_with_the_field():
    rows = [{"name": "A", "email": "a@example.com", "slot_start": T10}, {"id": "b", "name": "B", "email": "b@x.com"}]
    with pytest.raises(NeetoCalValidationError) as refused:
        desired_from_rows(rows, key_field="id", defaults=DEFAULTS)
    fields = [p.field for p in refused.value.problems]
    assert fields == ["rows[0].id", "rows[1].slot_start"]


def test_unknown_columns_are_refused():
    with pytest.raises(NeetoCalValidationError, match="unknown columns"):
        desired_from_rows([{"id": 1, "colour": "red"}], key_field="id", defaults=DEFAULTS)


def test_whole_number_keys_and_csv_style_texts_are_keys():
    desired = desired_from_rows(
        [{"id": 7, "name": "A", "email": "a@example.com", "slot_date": "2030-07-15", "slot_start_time": "10:00"}],
        key_field="id",
        defaults=DEFAULTS,
    )
    assert list(desired) == ["7"]
    assert desired["7"].start == pendulum.parse(T10)


# -- the plan -----------------------------------------------------------------------------------


def test_new_rows_are_created_and_owned_unchanged_ones_left():
    plan = plan_sync(rows_at(a=T10, b=T11), {"a": owned("a", "S1", T10)}, {"S1": live("S1", T10)})
    assert actions(plan) == {"a": "unchanged", "b": "create"}


def test_a_changed_start_is_a_reschedule_of_the_same_booking():
    plan = plan_sync(rows_at(a=T11), {"a": owned("a", "S1", T10)}, {"S1": live("S1", T10)})
    (step,) = plan.steps
    assert (step.action, step.sid, step.current, step.target) == ("reschedule", "S1", T10, T11)


def test_a_removed_row_is_cancelled_or_kept():
    state = ({"a": owned("a", "S1", T10)}, {"S1": live("S1", T10)})
    assert actions(plan_sync({}, *state)) == {"a": "cancel"}
    assert actions(plan_sync({}, *state, on_removed="keep")) == {"a": "keep"}


def test_a_booking_moved_by_hand_is_drift_respected_or_moved_back():
    state = ({"a": owned("a", "S1", T10)}, {"S1": live("S1", T12)})
    assert actions(plan_sync(rows_at(a=T10), *state)) == {"a": "drifted"}
    assert actions(plan_sync(rows_at(a=T10), *state, on_drift="enforce")) == {"a": "reschedule"}
    # Row gone, booking moved by hand: respect leaves it too.
    assert actions(plan_sync({}, *state)) == {"a": "drifted"}


def test_a_booking_cancelled_by_hand_is_drift_respected_or_booked_again():
    state = ({"a": owned("a", "S1", T10)}, {"S1": live("S1", T10, "cancelled")})
    assert actions(plan_sync(rows_at(a=T10), *state)) == {"a": "drifted"}
    assert actions(plan_sync(rows_at(a=T10), *state, on_drift="enforce")) == {"a": "create"}
    assert actions(plan_sync({}, *state)) == {"a": "forget"}


def test_a_deleted_booking_counts_as_cancelled_by_hand():
    assert actions(plan_sync(rows_at(a=T10), {"a": owned("a", "S1", T10)}, {"S1": None})) == {"a": "drifted"}


def test_an_owned_booking_that_could_not_be_read_is_unknown_and_never_created_again():
    plan = plan_sync(rows_at(a=T11), {"a": owned("a", "S1", T10)}, {})
    assert actions(plan) == {"a": "unknown"}
    assert plan.writes == []


def test_an_unresolved_interrupted_create_is_unknown_not_created():
    plan = plan_sync(rows_at(a=T10), {}, {}, unresolved={"a"})
    assert actions(plan) == {"a": "unknown"}


def test_a_move_of_ours_that_landed_without_being_recorded_is_not_drift():
    record = owned("a", "S1", T10, moving_to=T11)
    plan = plan_sync(rows_at(a=T12), {"a": record}, {"S1": live("S1", T11)})
    assert actions(plan) == {"a": "reschedule"}
    assert actions(plan_sync(rows_at(a=T11), {"a": record}, {"S1": live("S1", T11)})) == {"a": "unchanged"}


def test_a_row_back_after_our_own_unrecorded_cancel_is_booked_again_not_drift():
    record = owned("a", "S1", T10, cancelling=True)
    plan = plan_sync(rows_at(a=T10), {"a": record}, {"S1": live("S1", T10, "cancelled")})
    assert actions(plan) == {"a": "create"}


def test_a_changed_attendee_replaces_the_booking_and_counts_as_a_cancellation():
    rows = desired_from_rows(
        [{"id": "a", "name": "A", "email": "new@example.com", "slot_start": T10}], key_field="id", defaults=DEFAULTS
    )
    plan = plan_sync(rows, {"a": owned("a", "S1", T10)}, {"S1": live("S1", T10)})
    (step,) = plan.steps
    assert (step.action, step.replace) == ("create", True)
    assert plan.cancellations == 1


def test_writes_only_ever_name_owned_sids():
    current = {"S1": live("S1", T10), "S2": live("S2", T10), "FOREIGN": live("FOREIGN", T10)}
    mine = {"a": owned("a", "S1", T10), "b": owned("b", "S2", T10)}
    for on_drift in ("respect", "enforce"):
        for on_removed in ("cancel", "keep"):
            plan = plan_sync(rows_at(a=T11, c=T10), mine, current, on_drift=on_drift, on_removed=on_removed)
            assert {s.sid for s in plan.writes if s.action != "create"} <= {"S1", "S2"}


def test_the_guard_is_absolute_or_a_fraction_of_owned():
    assert cancellation_limit(3, 100) == 3
    assert cancellation_limit(0.5, 7) == 3
    assert cancellation_limit(None, 7) is None


def test_the_compact_xcom_lists_changes_but_not_unchanged_keys():
    plan = plan_sync(rows_at(a=T10, b=T11), {"a": owned("a", "S1", T10)}, {"S1": live("S1", T10)})
    compact = plan.compact(mode="plan", sync_id="s")
    assert compact["counts"]["unchanged"] == 1
    assert [c["key"] for c in compact["changes"]] == ["b"]
    json.dumps(compact)
    assert any("create" in line for line in plan.table())


def test_apply_outcome_records_the_new_start_and_drops_cancelled_keys():
    rows = rows_at(a=T11)
    record = {"a": owned("a", "S1", T10)}
    (step,) = plan_sync(rows, record, {"S1": live("S1", T10)}).steps
    after = apply_outcome(record, step, rows["a"], live("S1", T11))
    assert after["a"].start == T11
    (cancel,) = plan_sync({}, record, {"S1": live("S1", T10)}).steps
    assert apply_outcome(record, cancel, None, None) == {}


# -- pending and the store ----------------------------------------------------------------------


def test_a_pending_move_or_cancel_only_marks_the_key_that_owns_that_sid():
    mine = {"a": owned("a", "S1", T10)}
    pending = pending_record(
        [
            {"key": "a", "op": "reschedule", "sid": "S1", "to": T11},
            {"key": "a", "op": "cancel", "sid": "OTHER"},
            {"key": "b", "op": "cancel", "sid": "S9"},
        ],
        now=pendulum.now("UTC"),
    )
    folded, creates = fold_pending(mine, pending)
    assert folded["a"].moving_to == T11
    assert not folded["a"].cancelling
    assert "b" not in folded
    assert creates == []


def test_a_pending_create_of_an_unowned_key_is_to_be_looked_up():
    pending = pending_record(
        [{"key": "b", "op": "create", "meeting": "m", "email": "b@example.com", "start": T10}], now=pendulum.now("UTC")
    )
    _, creates = fold_pending({}, pending)
    assert [c.key for c in creates] == ["b"]
    _, none = fold_pending({"b": owned("b", "S2", T10)}, pending)
    assert none == []


def test_an_unreadable_pending_record_is_refused():
    with pytest.raises(SyncStoreError):
        fold_pending({}, {"format": 99, "ops": []})


def test_ten_thousand_owned_keys_fit_the_store_in_chunks_under_the_size_limit():
    store = FakeAssetStateStore()
    ownership = OwnershipStore(store, sync_id="s", workspace="https://acme.neetocal.com")
    mine = {
        f"customer-{i:06d}": Owned(
            f"customer-{i:06d}", f"sid{i:09d}", "onboarding-call", f"customer{i}@example.com", T10
        )
        for i in range(10_000)
    }
    ownership.save(mine)
    sizes = [len(text) for key, text in store.values.items() if key.startswith("neetocal.sync.owned.")]
    assert max(sizes) <= MAX_CHUNK_BYTES
    assert len(sizes) == ownership.buckets
    loaded, pending = OwnershipStore(store, sync_id="s", workspace="https://acme.neetocal.com").load()
    assert loaded == mine
    assert pending is None


def test_one_changed_key_rewrites_one_chunk_and_the_meta():
    store = FakeAssetStateStore()
    ownership = OwnershipStore(store, sync_id="s", workspace="w")
    mine = {f"k{i}": owned(f"k{i}", f"S{i}", T10) for i in range(2_000)}
    ownership.save(mine)
    mine["k5"] = owned("k5", "S5", T11)
    assert ownership.save(mine) == 2
    assert ownership.save(mine) == 0, "saving an unchanged ownership wrote to the store"


def test_growing_past_a_chunk_moves_to_a_new_generation_written_before_the_meta():
    store = FakeAssetStateStore()
    ownership = OwnershipStore(store, sync_id="s", workspace="w", max_bytes=2_000)
    ownership.save({f"k{i}": owned(f"k{i}", f"S{i}", T10) for i in range(5)})
    first = ownership.generation
    ownership.save({f"k{i}": owned(f"k{i}", f"S{i}", T10) for i in range(200)})
    assert ownership.generation == first + 1
    assert not any(key.startswith(f"neetocal.sync.owned.{first}.") for key in store.values)
    loaded, _ = OwnershipStore(store, sync_id="s", workspace="w", max_bytes=2_000).load()
    assert len(loaded) == 200


def test_another_syncs_or_workspaces_ownership_is_refused():
    store = FakeAssetStateStore()
    OwnershipStore(store, sync_id="s", workspace="w").save({"a": owned("a", "S1", T10)})
    with pytest.raises(SyncStoreError, match="not of sync 'other'"):
        OwnershipStore(store, sync_id="other", workspace="w").load()
    with pytest.raises(SyncStoreError):
        OwnershipStore(store, sync_id="s", workspace="elsewhere").load()


def test_a_missing_chunk_or_a_store_that_fails_is_an_error_not_an_empty_ownership():
    store = FakeAssetStateStore()
    OwnershipStore(store, sync_id="s", workspace="w").save({"a": owned("a", "S1", T10)})
    store.fail_reads = 1
    with pytest.raises(SyncStoreError, match="failed"):
        OwnershipStore(store, sync_id="s", workspace="w").load()
    for key in [k for k in store.values if k.startswith("neetocal.sync.owned.")]:
        store.delete(key)
    with pytest.raises(SyncStoreError, match="missing"):
        OwnershipStore(store, sync_id="s", workspace="w").load()


def test_pending_without_meta_is_refused():
    store = FakeAssetStateStore({PENDING_KEY: pending_record([], now=pendulum.now("UTC"))})
    with pytest.raises(SyncStoreError):
        OwnershipStore(store, sync_id="s", workspace="w").load()
    assert META_KEY not in store.values


def test_a_booking_whose_attendee_is_not_the_one_booked_is_never_touched_even_under_enforce():
    record = {"a": owned("a", "S1", T10)}
    current = {"S1": {"sid": "S1", "starts_at": T12, "status": "confirmed", "email": "someone.else@example.com"}}
    for on_drift in ("respect", "enforce"):
        assert actions(plan_sync(rows_at(a=T11), record, current, on_drift=on_drift)) == {"a": "drifted"}
        assert actions(plan_sync({}, record, current, on_drift=on_drift)) == {"a": "drifted"}


def test_one_booking_owned_by_two_keys_is_refused_on_load():
    store = FakeAssetStateStore()
    OwnershipStore(store, sync_id="s", workspace="w").save({"a": owned("a", "S1", T10), "b": owned("b", "S1", T10)})
    with pytest.raises(SyncStoreError, match="owned by two keys"):
        OwnershipStore(store, sync_id="s", workspace="w").load()


def test_a_booking_whose_meeting_has_started_is_never_cancelled_or_moved():
    """NeetoCal's clock past a booking's start: a removed row is forgotten, a moved row kept (no write)."""
    record = {"a": owned("a", "S1", T10)}
    current = {"S1": live("S1", T10)}
    after = pendulum.parse(T11)
    assert actions(plan_sync({}, record, current, now=after)) == {"a": "forget"}
    assert actions(plan_sync(rows_at(a=T12), record, current, now=after)) == {"a": "keep"}
    assert actions(plan_sync(rows_at(a=T10), record, current, now=after)) == {"a": "unchanged"}
    before = pendulum.parse("2030-07-15T09:00:00+00:00")
    assert actions(plan_sync({}, record, current, now=before)) == {"a": "cancel"}
    assert actions(plan_sync(rows_at(a=T12), record, current, now=before)) == {"a": "reschedule"}


def test_a_stale_meta_count_is_read_with_the_chunks_as_truth_and_corrected_by_the_next_save():
    store = FakeAssetStateStore()
    OwnershipStore(store, sync_id="s", workspace="w").save({"a": owned("a", "S1", T10)})
    store.set(META_KEY, {**store.get(META_KEY), "count": 7})
    loaded, _ = (reader := OwnershipStore(store, sync_id="s", workspace="w")).load()
    assert set(loaded) == {"a"}
    reader.save(loaded)
    assert store.get(META_KEY)["count"] == 1


def test_another_task_applying_a_sync_is_refused_unless_it_takes_it_over():
    store = FakeAssetStateStore()
    OwnershipStore(store, sync_id="s", workspace="w", owner="first/sync").save({"a": owned("a", "S1", T10)})
    with pytest.raises(SyncStoreError, match=r"belongs to the task 'first/sync'.*take_over_from='first/sync'"):
        OwnershipStore(store, sync_id="s", workspace="w", owner="second/sync").load()
    assert set(OwnershipStore(store, sync_id="s", workspace="w").load()[0]) == {"a"}  # a plan only reads
    taker = OwnershipStore(store, sync_id="s", workspace="w", owner="second/sync", take_over_from="first/sync")
    taker.save(taker.load()[0])
    assert store.get(META_KEY)["owner"] == "second/sync"
    with pytest.raises(SyncStoreError, match="belongs to the task 'second/sync'"):
        OwnershipStore(store, sync_id="s", workspace="w", owner="first/sync").load()


# -- the operator's arguments (parse time) and rows -------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"sync_id": "has spaces"}, "sync_id"),
        ({"on_drift": "ignore"}, "on_drift"),
        ({"on_removed": "delete"}, "on_removed"),
        ({"max_cancellations": 1.5}, "max_cancellations"),
        ({"max_cancellations": -1}, "max_cancellations"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed_naming_the_argument(arguments, match):
    from airflow_provider_neetocal.operators.sync import NeetoCalSyncBookingsOperator

    with pytest.raises(ValueError, match=match):
        NeetoCalSyncBookingsOperator(**{"task_id": "s", "rows": [], "sync_id": "s", **arguments})


def test_mapping_a_sync_is_refused_when_the_dag_is_parsed():
    """A mapped sync's asset (named by its sync_id) is only known when it runs: refused for that reason,
    not later with a false 'needs Airflow 3.3'."""
    from airflow_provider_neetocal.operators.sync import NeetoCalSyncBookingsOperator

    with pytest.raises(TypeError, match=r"cannot be mapped.*one operator per sync"):
        NeetoCalSyncBookingsOperator.partial(task_id="sync", key_field="row_id")


def test_rows_come_from_a_csv_url_a_json_string_or_a_list(tmp_path):
    from airflow_provider_neetocal.operators.sync import load_rows

    table = tmp_path / "rows.csv"
    table.write_text("row_id,name,email,host_email\n1,Ann,ann@example.com,\n", encoding="utf-8")
    assert load_rows(table.as_uri()) == [{"row_id": "1", "name": "Ann", "email": "ann@example.com"}]
    assert load_rows('[{"row_id": 1}]') == [{"row_id": 1}]
    assert load_rows(({"row_id": 1},)) == [{"row_id": 1}]
    with pytest.raises(NeetoCalValidationError, match="rows"):
        load_rows("rows.csv")
    with pytest.raises(NeetoCalValidationError, match="rows"):
        load_rows({"row_id": 1})
