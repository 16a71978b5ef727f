"""Memory and CPU of deferred waits: N ``NeetoCalBookingTrigger`` s in one event loop, as a triggerer holds them.

For each N (``--counts``) and each way of getting the HTTP client (``--modes``, run interleaved), a fresh
child interpreter (so RSS figures do not mix) imports Airflow and the trigger, starts one trigger and
lets it poll once (imports and the first client are then in the baseline), notes its RSS, then starts N
more triggers spread over one poll interval, each waiting for the start of a booking years ahead (so it
polls ``GET /bookings/{sid}`` every ``--poll-interval`` seconds and never ends). Once every trigger has
polled, RSS above the baseline is divided by N; then, over ``--rounds`` poll intervals, the process CPU
(user + system, ``os.times()``) is divided by the polls sent in that window. The sandbox runs in its own
process with ``--latency`` seconds added to every answer, so its CPU is not counted.

Modes:

* ``shared``: the provider as shipped: the triggers of one connection share one ``httpx.AsyncClient``
  per event loop (and one SSL context per verify setting).
* ``per-trigger``: each trigger builds its own ``httpx.AsyncClient`` with its own SSL context (CA bundle
  loaded again), as the provider did before issue 19: the "before" column, measured side by side.

Asserts nothing; prints one row per (N, mode). Wall time: about ``(1 + rounds) * poll_interval`` seconds
per row plus start-up.

Usage: ``python benchmarks/bench_trigger_memory.py [--counts 100,500,1000] [--poll-interval 10] [--latency 0.05]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, gc, os, sys, time
sys.path.insert(0, {here!r})
MODE, COUNT, INTERVAL, ROUNDS, SID = {mode!r}, {count}, {interval}, {rounds}, {sid!r}
PROFILE = {profile!r}

import airflow.sdk  # what a triggerer has loaded anyway
from airflow_provider_neetocal.triggers import booking as triggers
from airflow_provider_neetocal.hooks import neetocal_async

if MODE == "per-trigger":
    from _old_client import install_per_trigger_clients
    install_per_trigger_clients()

polls = 0
original_get_booking = neetocal_async.NeetoCalAsyncClient.get_booking

async def counted_get_booking(self, sid):
    global polls
    polls += 1
    return await original_get_booking(self, sid)

neetocal_async.NeetoCalAsyncClient.get_booking = counted_get_booking

def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def cpu():
    times = os.times()
    return times.user + times.system

def sockets():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{{fd}}").startswith("socket:")
        except OSError:
            pass
    return count

def trigger():
    return triggers.NeetoCalBookingTrigger(booking_sid=SID, wait_for="start", poll_interval=INTERVAL)

async def drain(agen):
    async for _ in agen:
        raise SystemExit("a trigger ended: the benchmark's booking should never start")

async def main():
    first = asyncio.ensure_future(drain(trigger().run()))
    while polls < 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    gc.collect()
    baseline = rss_kb()
    tasks = []
    for _ in range(COUNT):
        tasks.append(asyncio.ensure_future(drain(trigger().run())))
        await asyncio.sleep(INTERVAL / COUNT)
    while polls < COUNT + 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    gc.collect()
    held = rss_kb()
    profiler = None
    if PROFILE:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    cpu0, polls0 = cpu(), polls
    await asyncio.sleep(INTERVAL * ROUNDS)
    cpu1, polls1 = cpu(), polls
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(PROFILE)
    open_sockets = sockets()
    for task in [first, *tasks]:
        task.cancel()
    await asyncio.gather(first, *tasks, return_exceptions=True)
    per_poll_ms = (cpu1 - cpu0) * 1000 / max(polls1 - polls0, 1)
    print(f"RESULT {{baseline}} {{held}} {{polls1 - polls0}} {{per_poll_ms:.3f}} {{open_sockets}}")

asyncio.run(main())
"""


def book_far_ahead() -> str:
    """One booking years ahead: a wait for its start never ends."""
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    return str(
        NeetoCalHook().create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": "Bench",
                "email": "bench-wait@example.com",
                "slot_date": "2031-01-06",
                "slot_start_time": "10:00 AM",
                "time_zone": "UTC",
            }
        )["sid"]
    )


def run_child(here: str, mode: str, count: int, args: argparse.Namespace, sid: str) -> list[str]:
    profile = f"{args.profile}.{mode}.{count}" if args.profile else ""
    code = CHILD.format(
        here=here, mode=mode, count=count, interval=args.poll_interval, rounds=args.rounds, sid=sid, profile=profile
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{mode} x {count} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return line.split()[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="100,500,1000")
    parser.add_argument("--modes", default="per-trigger,shared")
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="poll intervals over which CPU is measured")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the sandbox adds to every answer")
    parser.add_argument("--profile", default="", help="write cProfile stats of the CPU window to PREFIX.mode.N")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    from _sandbox_process import sandbox_process

    counts = [int(count) for count in args.counts.split(",")]
    modes = args.modes.split(",")
    print(
        f"Deferred waits in one event loop: NeetoCalBookingTrigger, poll every {args.poll_interval:g} s, "
        f"sandbox latency {args.latency * 1000:g} ms, CPU over {args.rounds} poll intervals"
    )
    print(
        f"{'triggers':>8}  {'mode':<12}{'baseline MB':>12}{'RSS +MB':>9}{'KB/trigger':>11}"
        f"{'polls':>7}{'CPU ms/poll':>12}{'sockets':>8}"
    )
    with sandbox_process("--latency", str(args.latency)):
        sid = book_far_ahead()
        for count in counts:
            for mode in modes:
                baseline, held, polls, per_poll, sockets = run_child(here, mode, count, args, sid)
                above = int(held) - int(baseline)
                print(
                    f"{count:>8}  {mode:<12}{int(baseline) / 1024:>12.1f}{above / 1024:>9.1f}"
                    f"{above / count:>11.1f}{polls:>7}{float(per_poll):>12.2f}{sockets:>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
