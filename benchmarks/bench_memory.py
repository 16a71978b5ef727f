"""Memory: peak RSS of a 10,000-row bulk batch above the interpreter's baseline.

A child interpreter imports Airflow and the operator, notes its RSS (the baseline), builds the rows,
books them all against the sandbox (its own process, no latency) with the default compact return,
and reports its peak RSS (``ru_maxrss``). Asserts nothing.

Usage: ``python benchmarks/bench_memory.py [--rows 10000] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import resource, sys, time
from types import SimpleNamespace
sys.path.insert(0, {here!r})
from _sandbox_process import slotted_rows
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
import airflow_provider_neetocal.hooks.neetocal, requests, concurrent.futures.thread

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

class TI:
    try_number = 1
    def xcom_push(self, key, value):
        pass

baseline = rss_mb()
rows = slotted_rows({rows})
operator = NeetoCalCreateBookingsOperator(
    task_id="bench", bookings=rows, meeting_slug="quick-sync", time_zone="UTC", max_concurrency={concurrency},
    progress_every_rows=10**9, progress_every_seconds=10**9,
)
started = time.perf_counter()
results = operator.execute({{"ti": TI(), "dag_run": SimpleNamespace(start_date=None)}})
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
booked = sum(r["status"] == "created" for r in results)
print(f"RESULT {{baseline:.1f}} {{peak:.1f}} {{booked}} {{elapsed:.1f}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    from _sandbox_process import sandbox_process

    with sandbox_process():
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(here=here, rows=args.rows, concurrency=args.concurrency)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    baseline, peak, booked, elapsed = line.split()[1:]
    print(f"Memory: {args.rows} rows, concurrency {args.concurrency}, compact return, no latency")
    print(f"{'baseline RSS (MB)':>18}{'peak RSS (MB)':>15}{'above baseline':>16}{'booked':>8}{'seconds':>9}")
    print(f"{float(baseline):>18.1f}{float(peak):>15.1f}{float(peak) - float(baseline):>16.1f}{booked:>8}{elapsed:>9}")


if __name__ == "__main__":
    main()
