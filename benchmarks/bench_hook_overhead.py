"""Per-booking overhead of the hook: ``hook.create_booking`` vs a bare ``requests.Session.post``.

Same payload shapes, same keep-alive, against the sandbox in its own process (no added latency, so
the client's own cost shows). Blocks of ``--block`` bookings alternate between the two, ``--rounds``
times; the median ms per booking of each and their ratio are printed. Asserts nothing.

Usage: ``python benchmarks/bench_hook_overhead.py [--block 100] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import API_KEY, sandbox_process, slotted_rows

from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = iter(slotted_rows(2 * args.block * args.rounds + 10))

    def payload() -> dict[str, object]:
        return {"meeting_slug": "quick-sync", "time_zone": "UTC", **next(rows)}

    with sandbox_process() as url:
        hook = NeetoCalHook()
        bare = requests.Session()
        bare.headers.update({"X-Api-Key": API_KEY, "Accept": "application/json"})
        endpoint = f"{url}/api/external/v1/bookings"

        def via_hook() -> None:
            hook.create_booking(payload())

        def via_requests() -> None:
            answer = bare.post(endpoint, json=payload(), timeout=(10, 30))
            answer.raise_for_status()
            answer.json()

        via_hook()  # warm both connections
        via_requests()
        timings: dict[str, list[float]] = {"hook.create_booking": [], "requests.Session.post": []}
        for _ in range(args.rounds):
            for label, step in (("hook.create_booking", via_hook), ("requests.Session.post", via_requests)):
                started = time.perf_counter()
                for _ in range(args.block):
                    step()
                timings[label].append((time.perf_counter() - started) * 1000 / args.block)
    hook_ms = statistics.median(timings["hook.create_booking"])
    bare_ms = statistics.median(timings["requests.Session.post"])
    print(f"Per booking, {args.rounds} interleaved blocks of {args.block}, median")
    print(f"{'path':<24}{'ms/booking':>12}")
    print(f"{'hook.create_booking':<24}{hook_ms:>12.2f}")
    print(f"{'requests.Session.post':<24}{bare_ms:>12.2f}")
    print(f"ratio hook / bare: {hook_ms / bare_ms:.2f}x")


if __name__ == "__main__":
    main()
