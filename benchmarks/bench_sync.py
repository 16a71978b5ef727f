"""The sync operator on a table of 10,000 rows: a first sync, then a day with 1 % of the rows changed.

The sandbox runs in its own process (``--latency`` seconds per answer, none by default). The
operator's ``execute`` runs in this process with a minimal task context whose asset state store is an
in-memory dict with the real accessor's JSON round trip (no Airflow scheduler: the figures are the
sync's own). Printed per step: wall time, HTTP requests by kind (reads / writes, counted at the hook),
the plan's counts, and asset-store writes; the operator's own split of its time (rows: reading and
checking the table and loading ownership; reads: NeetoCal's state of the owned bookings; plan: the
pure diff; apply: the writes and their ownership saves). Goal (issue 21): the changed day's reads proportional to
the owned bookings and its writes equal to the changes; a re-run sends no write.

Prints a table, asserts nothing. Usage:
``python benchmarks/bench_sync.py [--rows 10000] [--changed 0.01] [--latency 0] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import sandbox_process

from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.sync import NeetoCalSyncBookingsOperator
from airflow_provider_neetocal.sync import MAX_CHUNK_BYTES


class _Store:
    """One asset's state store: values cross JSON, as Airflow's do."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1

    def delete(self, key: str) -> None:
        self.values.pop(key, None)
        self.writes += 1


class _TI:
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


COUNTS: collections.Counter[str] = collections.Counter()
_request = NeetoCalHook.request


def _counted(self: NeetoCalHook, method: str, endpoint: str, **kwargs: Any) -> Any:
    COUNTS["writes" if method.upper() != "GET" else "reads"] += 1
    return _request(self, method, endpoint, **kwargs)


def rows_for(count: int, *, moved: set[int], removed: set[int], added: int) -> list[dict[str, Any]]:
    """Distinct attendees on consecutive 15-minute slots of ``quick-sync`` (one-on-one, UTC)."""
    import pendulum

    start = pendulum.datetime(2031, 1, 1, tz="UTC")
    rows = []
    for n in [*range(count), *range(count * 2, count * 2 + added)]:
        if n in removed:
            continue
        slot = start.add(minutes=15 * (n + (count * 3 if n in moved else 0)))
        rows.append(
            {
                "key": f"row-{n}",
                "name": f"Bench {n}",
                "email": f"bench{n}@example.com",
                "slot_date": slot.format("YYYY-MM-DD"),
                "slot_start_time": slot.format("hh:mm A"),
            }
        )
    return rows


def run(store: _Store, rows: list[dict[str, Any]], *, mode: str, concurrency: int) -> tuple[dict[str, Any], float]:
    operator = NeetoCalSyncBookingsOperator(
        task_id="sync",
        rows=rows,
        sync_id="bench",
        mode=mode,
        meeting_slug="quick-sync",
        time_zone="UTC",
        max_concurrency=concurrency,
        max_cancellations=None,
    )
    context = {"ti": _TI(), "asset_state_store": {operator.asset: store}}
    COUNTS.clear()
    writes_before = store.writes
    started = time.perf_counter()
    summary = operator.execute(context)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    operator.hook.close()
    summary["store_writes"] = store.writes - writes_before
    return summary, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed on the second day")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the sandbox waits before each answer")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    NeetoCalHook.request = _counted  # type: ignore[method-assign]

    changes = int(args.rows * args.changed)
    moved = set(range(0, changes * 4 // 10))
    removed = set(range(changes * 4 // 10, changes * 7 // 10))
    added = changes - len(moved) - len(removed)
    flags = ["--latency", str(args.latency)] if args.latency else []
    store = _Store()
    lines = []
    with sandbox_process(*flags):
        first = rows_for(args.rows, moved=set(), removed=set(), added=0)
        second = rows_for(args.rows, moved=moved, removed=removed, added=added)
        for label, rows, mode in (
            ("day 1: first sync (apply)", first, "apply"),
            ("day 1: re-run (apply)", first, "apply"),
            (f"day 2: {changes} changed (plan)", second, "plan"),
            (f"day 2: {changes} changed (apply)", second, "apply"),
            ("day 2: re-run (apply)", second, "apply"),
        ):
            summary, elapsed = run(store, rows, mode=mode, concurrency=args.concurrency)
            counts = {k: v for k, v in summary["counts"].items() if v}
            parts = summary["seconds"]
            lines.append((label, elapsed, parts, COUNTS["reads"], COUNTS["writes"], summary["store_writes"], counts))
    chunks = [len(v) for k, v in store.values.items() if k.startswith("neetocal.sync.owned.")]
    print(
        f"NeetoCal sync: {args.rows} rows, {changes} changed on day 2 ({len(moved)} moved, {len(removed)} removed, "
        f"{added} added), concurrency {args.concurrency}, sandbox latency {args.latency * 1000:.0f} ms"
    )
    print(
        f"{'step':32} {'total s':>8} {'rows s':>7} {'reads s':>8} {'plan s':>7} {'apply s':>8} "
        f"{'reads':>6} {'writes':>6} {'store writes':>12}  plan"
    )
    for label, elapsed, parts, reads, writes, store_writes, counts in lines:
        print(
            f"{label:32} {elapsed:8.2f} {parts['rows']:7.2f} {parts['reads']:8.2f} {parts['plan']:7.3f} "
            f"{parts['apply']:8.2f} {reads:6d} {writes:6d} {store_writes:12d}  {counts}"
        )
    print(
        f"ownership in the asset state store: {len(chunks)} chunks, largest {max(chunks)} bytes "
        f"(limit {MAX_CHUNK_BYTES}), {sum(chunks)} bytes in all"
    )


if __name__ == "__main__":
    main()
