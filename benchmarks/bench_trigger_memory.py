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
* ``bare-httpx`` (not run unless asked): no provider code, one ``httpx.AsyncClient`` and a GET per
  poll: the floor that httpx itself costs, for reading the other rows.
* ``per-trigger``: each trigger builds its own ``httpx.AsyncClient`` with its own SSL context (CA bundle
  loaded again), as the provider did before issue 19: the "before" column, measured side by side.

Asserts nothing; prints one row per (N, mode). Wall time: about ``(1 + rounds) * poll_interval`` seconds
per row plus start-up.

Usage: ``python benchmarks/bench_trigger_memory.py [--counts 100,500,1000] [--poll-interval 10] [--latency 0.05]``
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, gc, os, sys, time
sys.path.insert(0, {here!r})
MODE, COUNT, INTERVAL, ROUNDS, SID = {mode!r}, {count}, {interval}, {rounds}, {sid!r}
PROFILE = {profile!r}
LIMITS = {limits!r}

import airflow.sdk  # what a triggerer has loaded anyway
from airflow_provider_neetocal.triggers import booking as triggers
from airflow_provider_neetocal.hooks import neetocal_async

if MODE == "per-trigger":
    from _old_client import install_per_trigger_clients
    install_per_trigger_clients()
for name, value in LIMITS.items():
    setattr(neetocal_async, name, value)

polls = 0
original_get_booking = neetocal_async.NeetoCalAsyncClient.get_booking

async def counted_get_booking(self, sid):
    global polls
    polls += 1
    return await original_get_booking(self, sid)

neetocal_async.NeetoCalAsyncClient.get_booking = counted_get_booking

import httpcore._async.connection as _connection
connects = 0
original_connect = _connection.AsyncHTTPConnection._connect

async def counted_connect(self, request):
    global connects
    connects += 1
    return await original_connect(self, request)

_connection.AsyncHTTPConnection._connect = counted_connect

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

gc_seconds = 0.0
_gc_started = 0.0

def _gc_timer(phase, info):
    global gc_seconds, _gc_started
    if phase == "start":
        _gc_started = time.process_time()
    else:
        gc_seconds += time.process_time() - _gc_started

gc.callbacks.append(_gc_timer)

def trigger():
    return triggers.NeetoCalBookingTrigger(booking_sid=SID, wait_for="start", poll_interval=INTERVAL)

bare_http = None

async def bare_wait():
    # The floor: one shared httpx.AsyncClient, a GET and json() per poll, no provider code.
    global bare_http, polls
    if bare_http is None:
        import json, httpx
        conn = json.loads(os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"])
        bundle = conn.get("extra", {{}}).get("ca_bundle")
        bare_http = httpx.AsyncClient(
            verify=neetocal_async.ssl.create_default_context(cafile=bundle) if bundle else True,
            headers={{"X-Api-Key": conn["password"]}},
            limits=httpx.Limits(
                max_connections=neetocal_async.MAX_CONNECTIONS,
                max_keepalive_connections=neetocal_async.MAX_KEEPALIVE_CONNECTIONS,
            ),
            base_url=conn["host"] + "/api/external/v1",
        )
    while True:
        polls += 1
        response = await bare_http.get(f"/bookings/{{SID}}")
        response.raise_for_status()
        response.json()
        await asyncio.sleep(INTERVAL)
    yield

async def drain(agen):
    async for _ in agen:
        raise SystemExit("a trigger ended: the benchmark's booking should never start")

def wait():
    return bare_wait() if MODE == "bare-httpx" else trigger().run()

async def main():
    first = asyncio.ensure_future(drain(wait()))
    while polls < 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    gc.collect()
    baseline = rss_kb()
    tasks = []
    for _ in range(COUNT):
        tasks.append(asyncio.ensure_future(drain(wait())))
        await asyncio.sleep(INTERVAL / COUNT)
    while polls < COUNT + 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    gc.collect()
    held = rss_kb()
    profiler = None
    if PROFILE:
        import cProfile
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    cpu0, polls0, gc0, connects0 = cpu(), polls, gc_seconds, connects
    await asyncio.sleep(INTERVAL * ROUNDS)
    cpu1, polls1, gc1, connects1 = cpu(), polls, gc_seconds, connects
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(PROFILE)
    open_sockets = sockets()
    for task in [first, *tasks]:
        task.cancel()
    await asyncio.gather(first, *tasks, return_exceptions=True)
    per_poll_ms = (cpu1 - cpu0) * 1000 / max(polls1 - polls0, 1)
    gc_ms = (gc1 - gc0) * 1000 / max(polls1 - polls0, 1)
    figures = [baseline, held, polls1 - polls0, f"{{per_poll_ms:.3f}}", open_sockets, f"{{gc_ms:.3f}}"]
    print("RESULT", *figures, connects1 - connects0)

asyncio.run(main())
"""


def https_flags(directory: str) -> tuple[list[str], dict[str, object]]:
    """Sandbox flags for HTTPS, and the connection extra that trusts it: a CA bundle of certifi's
    authorities plus the sandbox's certificate, so each SSL context loads as much as a real one."""
    import certifi

    from airflow_provider_neetocal.sandbox.tls import make_self_signed_cert

    cert, key = make_self_signed_cert(directory)
    bundle = Path(directory) / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + cert.read_bytes())
    return ["--tls-cert", str(cert), "--tls-key", str(key)], {"ca_bundle": str(bundle)}


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
    limits = {}
    if args.max_connections:
        limits["MAX_CONNECTIONS"] = args.max_connections
    if args.max_keepalive is not None:
        limits["MAX_KEEPALIVE_CONNECTIONS"] = args.max_keepalive
    code = CHILD.format(
        here=here,
        mode=mode,
        count=count,
        interval=args.poll_interval,
        rounds=args.rounds,
        sid=sid,
        profile=profile,
        limits=limits,
    )
    # The child's log goes to a file: a pipe nobody reads would fill and block its event loop.
    with tempfile.TemporaryFile("w+") as log:
        done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log, text=True, check=False)
        line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
        if line is None:
            log.seek(0)
            raise RuntimeError(f"{mode} x {count} failed:\n{done.stdout[-2000:]}\n{log.read()[-4000:]}")
    return line.split()[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="100,500,1000")
    parser.add_argument("--modes", default="per-trigger,shared")
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="poll intervals over which CPU is measured")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the sandbox adds to every answer")
    parser.add_argument("--plain-http", action="store_true", help="talk http:// to the sandbox (default: https://)")
    parser.add_argument("--max-connections", type=int, help="shared mode: MAX_CONNECTIONS instead of the default")
    parser.add_argument(
        "--max-keepalive", type=int, help="shared mode: MAX_KEEPALIVE_CONNECTIONS instead of the default"
    )
    parser.add_argument("--profile", default="", help="write cProfile stats of the CPU window to PREFIX.mode.N")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    from _sandbox_process import sandbox_process

    counts = [int(count) for count in args.counts.split(",")]
    modes = args.modes.split(",")
    print(
        f"Deferred waits in one event loop: NeetoCalBookingTrigger, poll every {args.poll_interval:g} s, "
        f"sandbox latency {args.latency * 1000:g} ms, {'http' if args.plain_http else 'https'}, "
        f"CPU over {args.rounds} poll intervals"
    )
    print(
        f"{'triggers':>8}  {'mode':<12}{'baseline MB':>12}{'RSS +MB':>9}{'KB/trigger':>11}"
        f"{'polls':>7}{'CPU ms/poll':>12}{'of GC':>8}{'connects':>10}{'sockets':>8}"
    )
    with contextlib.ExitStack() as stack:
        flags: list[str] = ["--latency", str(args.latency)]
        extra: dict[str, object] | None = None
        if not args.plain_http:
            tls_flags, extra = https_flags(stack.enter_context(tempfile.TemporaryDirectory()))
            flags += tls_flags
        stack.enter_context(sandbox_process(*flags, conn_extra=extra))
        sid = book_far_ahead()
        for count in counts:
            for mode in modes:
                baseline, held, polls, per_poll, sockets, gc_ms, connects = run_child(here, mode, count, args, sid)
                above = int(held) - int(baseline)
                print(
                    f"{count:>8}  {mode:<12}{int(baseline) / 1024:>12.1f}{above / 1024:>9.1f}"
                    f"{above / count:>11.1f}{polls:>7}{float(per_poll):>12.2f}{float(gc_ms):>8.2f}"
                    f"{connects:>10}{sockets:>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
