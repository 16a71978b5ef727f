"""Requests per poll interval for 1, 3 and 10 watchers of one workspace: each polling alone (``run()``,
Airflow 3.1 / 3.2, or a trigger that does not share) against one shared poll (Airflow 3.3's
``SharedStreamManager``, which the triggerer uses for triggers with equal ``shared_stream_key()``).

Watchers differ in ``changes`` and ``meeting_slug`` (what they emit), not in what they list, so on 3.3
they share. An in-process sandbox (real HTTP on 127.0.0.1) holds ``--upcoming`` bookings; each
configuration runs for ``--intervals`` poll intervals of ``--interval`` seconds (wall time: this prints
figures, it asserts nothing) and the sandbox counts the requests. Re-checks (``GET /bookings/{sid}``)
stay per watcher and happen only when known bookings leave the listing: none here.

Usage: ``python benchmarks/bench_shared_poll.py [--watchers 1,3,10] [--upcoming 100] [--interval 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pendulum

from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

KEY = "bench-key-0123456789abcdef"
VARIANTS: list[dict[str, Any]] = [
    {"changes": ["created"]},
    {"changes": ["cancelled"]},
    {"changes": ["rescheduled"]},
    {"changes": ["created", "cancelled"]},
    {"changes": ["created", "rescheduled"]},
    {"changes": ["cancelled", "rescheduled"]},
    {},
    {"meeting_slug": "quick-sync"},
    {"meeting_slug": "quick-sync", "changes": ["created"]},
    {"meeting_slug": "quick-sync", "changes": ["cancelled"]},
]


def book(hook: NeetoCalHook, count: int) -> None:
    start = pendulum.now("UTC").add(days=1).start_of("day")
    for index in range(count):
        moment = start.add(minutes=15 * index)
        hook.create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": "Bench",
                "email": f"bench{index}@example.com",
                "slot_date": moment.to_date_string(),
                "slot_start_time": moment.format("hh:mm A"),
                "time_zone": "UTC",
            }
        )


async def run_for(watchers: list[NeetoCalBookingEventTrigger], seconds: float, *, shared: bool) -> None:
    """Run the watchers for ``seconds``, alone or through one ``SharedStreamManager``; then cancel."""

    async def drain(stream) -> None:  # type: ignore[no-untyped-def]
        async for _ in stream:
            pass

    manager = None
    if shared:
        from airflow.triggers.shared_stream import SharedStreamManager

        manager = SharedStreamManager()
        streams = [
            w.filter_shared_stream(manager.subscribe(trigger_id=i, trigger=w, key=w.shared_stream_key()))
            for i, w in enumerate(watchers)
        ]
    else:
        streams = [w.run() for w in watchers]
    tasks = [asyncio.ensure_future(drain(stream)) for stream in streams]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if manager is not None:
        await manager.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", default="1,3,10")
    parser.add_argument("--upcoming", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--intervals", type=int, default=5)
    args = parser.parse_args()
    seconds = args.interval * args.intervals + args.interval / 2  # the polls at 0, 1, ..., intervals
    with NeetoCalSandbox(api_key=KEY) as sandbox:
        os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
            {"conn_type": "neetocal", "host": sandbox.url, "password": KEY}
        )
        book(NeetoCalHook(), args.upcoming)
        print(
            f"NeetoCalBookingEventTrigger: GET requests per poll interval ({args.upcoming} upcoming bookings, "
            f"{args.intervals + 1} polls of {args.interval:g} s each)"
        )
        print("watchers  alone (run())  shared (Airflow 3.3)")
        for count in (int(n) for n in args.watchers.split(",")):
            figures = []
            for shared in (False, True):
                watchers = [
                    NeetoCalBookingEventTrigger(poll_interval=args.interval, **VARIANTS[i % len(VARIANTS)])
                    for i in range(count)
                ]
                before = len(sandbox.requests)
                asyncio.run(run_for(watchers, seconds, shared=shared))
                sent = [r for r in sandbox.requests[before:] if r.method == "GET"]
                listings = [r for r in sent if r.path == "/bookings"]
                figures.append(
                    f"{len(listings) / (args.intervals + 1):.1f} listings ({len(sent) / (args.intervals + 1):.1f} GET)"
                )
            print(f"{count:<9} {figures[0]:<14} {figures[1]}")


if __name__ == "__main__":
    main()
