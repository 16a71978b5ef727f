"""Side-by-side cost of the ways the provider creates bookings, against the local sandbox.

Prints figures, asserts nothing (speed is not a test). Everything runs in one process against one
sandbox on 127.0.0.1, so the ratios compare like with like on this machine:

* ``create, shared session``   - ``hook.create_booking`` in a loop on one keep-alive session;
* ``create, new hook each``    - a fresh hook (new session, new TCP connection) per booking,
  which is what one mapped task instance per booking pays;
* ``exactly-once (reuse)``     - ``ExactlyOnce.obtain``: a look-up before each POST, the operator's default
  ``if_exists="reuse"``: the price of never booking twice;
* ``unknown outcome, recovered`` - every POST commits then loses its answer, and the booking is
  recovered by a look-up (settle wait disabled).

Usage: ``python benchmarks/bench_booking_paths.py [--bookings 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from itertools import count

import pendulum

from airflow_provider_neetocal.exactly_once import ExactlyOnce
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.sandbox import NeetoCalSandbox

MEETING = "quick-sync"  # every day, all day, 15-minute slots: room for thousands of bookings


def payloads(start: pendulum.DateTime) -> Callable[[], dict[str, object]]:
    """An endless supply of distinct, valid payloads on consecutive 15-minute slots."""
    numbers = count()

    def next_payload() -> dict[str, object]:
        n = next(numbers)
        slot = start.add(minutes=15 * n)
        return {
            "meeting_slug": MEETING,
            "name": f"Bench {n}",
            "email": f"bench{n}@example.com",
            "time_zone": "UTC",
            "slot_date": slot.format("YYYY-MM-DD"),
            "slot_start_time": slot.format("hh:mm A"),
        }

    return next_payload


def measure(bookings: int, step: Callable[[], None]) -> float:
    """Milliseconds per booking for ``bookings`` calls of ``step``."""
    started = time.perf_counter()
    for _ in range(bookings):
        step()
    return (time.perf_counter() - started) * 1000 / bookings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=100, help="bookings per path and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    args = parser.parse_args()

    with NeetoCalSandbox() as sandbox:
        os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
            {"conn_type": "neetocal", "host": sandbox.url, "password": sandbox.api_key}
        )
        next_payload = payloads(pendulum.datetime(2031, 1, 1, tz="UTC"))
        shared = NeetoCalHook()

        def create_shared() -> None:
            shared.create_booking(next_payload())

        def create_new_hook() -> None:
            hook = NeetoCalHook()
            hook.create_booking(next_payload())
            hook.close()

        once = ExactlyOnce(shared, settle_seconds=0)

        def exactly_once() -> None:
            once.obtain(next_payload())

        def recovered() -> None:
            sandbox.inject("commit_then_drop", times=1, method="POST", path="/bookings")
            booking, created = once.obtain(next_payload())
            if created or not booking.get("sid"):
                raise RuntimeError("the dropped answer's booking was not recovered")

        paths = {
            "create, shared session": create_shared,
            "create, new hook each": create_new_hook,
            "exactly-once (reuse)": exactly_once,
            "unknown outcome, recovered": recovered,
        }
        results: dict[str, list[float]] = {label: [] for label in paths}
        for _ in range(args.repeat):
            for label, step in paths.items():  # interleaved rounds: drift hits every path alike
                results[label].append(measure(args.bookings, step))
        total = len(sandbox.bookings)

    baseline = statistics.median(results["create, shared session"])
    print(f"{args.bookings} bookings per path x {args.repeat} rounds; sandbox holds {total} bookings")
    print(f"{'path':<30}{'ms/booking (median)':>22}{'vs shared session':>20}")
    for label, samples in results.items():
        median = statistics.median(samples)
        print(f"{label:<30}{median:>22.2f}{median / baseline:>19.2f}x")


if __name__ == "__main__":
    main()
