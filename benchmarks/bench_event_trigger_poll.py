"""What one poll of ``NeetoCalBookingEventTrigger`` costs, in requests, for N upcoming bookings.

v1's ``GET /bookings`` has no sort or "since" filter, so each poll lists the whole upcoming window
(100 a page, capped by ``max_pages``) and re-reads each known booking that left it (capped by
``max_rechecks``). This books N quick-sync meetings in an in-process sandbox (real HTTP on
127.0.0.1), then runs the trigger's poll: the baseline poll, a quiet poll, and a poll after K of
the bookings were cancelled ("after cancels"; fewer when N < K); it prints the requests each poll
sent, counted by the sandbox.

Usage: ``python benchmarks/bench_event_trigger_poll.py [--sizes 0,100,500,1000,2500] [--cancel 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pendulum

from airflow_provider_neetocal.booking_changes import BookingChangeTracker, WatcherMemory
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

KEY = "bench-key-0123456789abcdef"


def book(hook: NeetoCalHook, count: int) -> list[str]:
    """``count`` quick-sync bookings (every 15 minutes, from tomorrow on)."""
    start = pendulum.now("UTC").add(days=1).start_of("day")
    sids = []
    for index in range(count):
        moment = start.add(minutes=15 * index)
        answer = hook.create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": "Bench",
                "email": f"bench{index}@example.com",
                "slot_date": moment.to_date_string(),
                "slot_start_time": moment.format("hh:mm A"),
                "time_zone": "UTC",
            }
        )
        sids.append(answer["sid"])
    return sids


async def poll(trigger: NeetoCalBookingEventTrigger, client: NeetoCalAsyncClient, memory: WatcherMemory) -> int:
    """One poll of the trigger; returns the changes it found (one event carries them all)."""
    memory.outbox = []
    await trigger._poll(client, memory)
    return len(memory.outbox)


def measure(size: int, cancel: int, max_pages: int, max_rechecks: int) -> dict[str, object]:
    with NeetoCalSandbox(api_key=KEY) as sandbox:
        os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
            {"conn_type": "neetocal", "host": sandbox.url, "password": KEY}
        )
        hook = NeetoCalHook()
        sids = book(hook, size)
        trigger = NeetoCalBookingEventTrigger(max_pages=max_pages, max_rechecks=max_rechecks)
        memory = WatcherMemory(BookingChangeTracker())
        figures: dict[str, object] = {"upcoming": size}

        async def run() -> None:
            async with NeetoCalAsyncClient() as client:
                for label, before_poll in (
                    ("baseline", lambda: None),
                    ("quiet", lambda: None),
                    ("after cancels", lambda: [hook.cancel_booking(s) for s in sids[:cancel]]),
                ):
                    before_poll()
                    seen = len(sandbox.requests)
                    changes = await poll(trigger, client, memory)
                    sent = [r for r in sandbox.requests[seen:] if r.method == "GET"]
                    figures[label] = f"{len(sent)} GET ({changes} changes)"

        asyncio.run(run())
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,100,500,1000,2500")
    parser.add_argument("--cancel", type=int, default=5)
    parser.add_argument("--max-pages", type=int, default=10)
    parser.add_argument("--max-rechecks", type=int, default=20)
    args = parser.parse_args()
    rows = [measure(int(size), args.cancel, args.max_pages, args.max_rechecks) for size in args.sizes.split(",")]
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in columns]
    print(
        f"NeetoCalBookingEventTrigger: requests per poll (max_pages={args.max_pages}, max_rechecks={args.max_rechecks})"
    )
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


if __name__ == "__main__":
    main()
