"""Bulk throughput: 500 rows through NeetoCalCreateBookingsOperator at several concurrencies.

The sandbox runs in its own process and answers every request after ``--latency`` seconds (a real
round trip, 50 ms by default). Each concurrency books the same number of rows into a fresh sandbox
(fresh workspace, ``if_exists="reuse"``), so the figures compare like with like. Printed per
concurrency: bookings/s, requests per booking (counted by the sandbox), and the ratio to the ceiling
``concurrency / latency`` (one request per booking, every worker always waiting on the network).
Then the same rows as mapped NeetoCalCreateBookingOperator tasks under ``dag.test()`` (``--mapped``
rows; mapped task instances are slow to run, so fewer by default), and the ratio bulk / mapped.

Prints a table, asserts nothing. Usage:
``python benchmarks/bench_bulk.py [--rows 500] [--latency 0.05] [--concurrency 1 4 8 16] [--mapped 100]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import API_KEY, sandbox_process, slotted_rows

from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator


class _TI:
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def run_bulk(rows: list[dict[str, Any]], concurrency: int) -> tuple[float, int]:
    """Seconds for the batch and requests sent (the pacer counts every request the hook sends)."""
    operator = NeetoCalCreateBookingsOperator(
        task_id="bench", bookings=rows, meeting_slug="quick-sync", time_zone="UTC", max_concurrency=concurrency
    )
    context = {"ti": _TI(), "dag_run": SimpleNamespace(start_date=None)}
    started = time.perf_counter()
    results = operator.execute(context)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    assert operator.hook.pacer is not None
    if sum(1 for r in results if r and r["status"] == "created") != len(rows):
        raise RuntimeError("not every row was booked")
    operator.hook.close()
    return elapsed, operator.hook.pacer.requests


def count_bookings(url: str) -> int:
    answer = requests.get(
        f"{url}/api/external/v1/bookings", params={"page_size": 1}, headers={"X-Api-Key": API_KEY}, timeout=30
    )
    return int(answer.json()["pagination"]["total_records"])


def run_mapped(rows: list[dict[str, Any]]) -> float:
    """Seconds to book ``rows`` as mapped create tasks of one DAG run under ``dag.test()``."""
    import pendulum

    from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
    from tests.compat import DAG

    with DAG(
        dag_id="bench_mapped_create", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False
    ) as dag:
        NeetoCalCreateBookingOperator.partial(
            task_id="book", meeting_slug="quick-sync", time_zone="UTC", retries=0
        ).expand_kwargs(
            [{**{k: v for k, v in row.items() if k != "email"}, "attendee_email": row["email"]} for row in rows]
        )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    from tests.integration.runs import run_in_airflow

    DagBundlesManager().sync_bundles_to_db()  # dag.test() needs the DAG's bundle in the DB
    started = time.perf_counter()

    run = run_in_airflow(dag)
    elapsed = time.perf_counter() - started
    if run.state != "success":
        raise RuntimeError(f"the mapped run ended {run.state}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--mapped", type=int, default=100, help="rows booked as mapped tasks (0: skip)")
    args = parser.parse_args()
    logging.getLogger("airflow.task").setLevel(logging.WARNING)

    print(f"Bulk: {args.rows} rows, sandbox latency {args.latency * 1000:.0f} ms, fresh workspace, if_exists='reuse'")
    header = f"{'concurrency':>11}  {'bookings/s':>10}  {'requests/booking':>16}  {'ceiling/s':>9}  {'of ceiling':>10}"
    print(header)
    print("-" * len(header))
    best: dict[int, float] = {}
    for concurrency in args.concurrency:
        with sandbox_process("--latency", str(args.latency)) as url:
            elapsed, sent = run_bulk(slotted_rows(args.rows), concurrency)
            booked = count_bookings(url)
        rate = booked / elapsed
        best[concurrency] = rate
        ceiling = concurrency / args.latency
        print(f"{concurrency:>11}  {rate:>10.1f}  {sent / booked:>16.3f}  {ceiling:>9.0f}  {rate / ceiling:>9.0%}")
    if args.mapped:
        with sandbox_process("--latency", str(args.latency)):
            elapsed = run_mapped(slotted_rows(args.mapped, prefix="mapped"))
        mapped_rate = args.mapped / elapsed
        print(f"mapped NeetoCalCreateBookingOperator x {args.mapped} under dag.test(): {mapped_rate:.1f} bookings/s")
        for concurrency, rate in best.items():
            print(f"  bulk at concurrency {concurrency} / mapped: {rate / mapped_rate:.1f}x")


if __name__ == "__main__":
    main()
