"""Hundreds of deferred waits in one event loop, over real HTTP: one shared client, few connections.

A triggerer runs every trigger in one event loop; here 200 ``NeetoCalBookingTrigger`` s do, against the
sandbox, which counts the TCP connections it accepted. Polls are a real 0.2 s apart (a fake sleep would
let 200 triggers spin); nothing is asserted about time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.hooks.neetocal_async import MAX_CONNECTIONS, shared_clients
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingTrigger

if TYPE_CHECKING:
    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

TRIGGERS = 200
SLOTS = ("09:00 AM", "09:30 AM", "10:00 AM", "10:30 AM", "11:00 AM", "11:30 AM", "01:00 PM", "01:30 PM")


def book_many(sandbox: NeetoCalSandbox, count: int) -> list[str]:
    """``count`` quick-sync bookings on distinct slots, through one sync hook whose connection is then closed."""
    start = pendulum.instance(sandbox.now()).in_timezone("UTC").add(days=1)
    hook = NeetoCalHook()
    sids = []
    for n in range(count):
        answer = hook.create_booking(
            {
                "meeting_slug": "quick-sync",
                "name": f"Guest {n}",
                "email": f"guest{n}@example.com",
                "slot_date": start.add(days=n // len(SLOTS)).to_date_string(),
                "slot_start_time": SLOTS[n % len(SLOTS)],
                "time_zone": "UTC",
            }
        )
        sids.append(answer["sid"])
    hook.session.close()
    return sids


def test_200_waits_in_one_loop_share_a_client_and_a_bounded_number_of_connections(
    sandbox: NeetoCalSandbox,
) -> None:
    sids = book_many(sandbox, TRIGGERS)
    # Even ones wait for a cancellation that comes once every trigger has polled; odd ones are met at once.
    waiting = sids[0::2]
    sandbox.connection_counts(reset=True)
    gets_before = len(sandbox.requests)

    async def run_all() -> tuple[list[dict[str, Any]], int, int]:
        triggers = [
            NeetoCalBookingTrigger(
                booking_sid=sid,
                wait_for="status",
                target_statuses=["cancelled"] if sid in waiting else ["confirmed"],
                poll_interval=0.2,
            )
            for sid in sids
        ]

        async def first_event(trigger: NeetoCalBookingTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("a trigger ended without an event")

        tasks = [asyncio.ensure_future(first_event(trigger)) for trigger in triggers]
        while len(sandbox.requests) - gets_before < TRIGGERS + len(waiting):  # every one polled, waiting ones twice
            await asyncio.sleep(0.05)
        clients_while_waiting = len(shared_clients.clients())
        for sid in waiting:
            sandbox.set_status(sid, "cancelled")
        events = await asyncio.gather(*tasks)
        return events, clients_while_waiting, len(shared_clients.clients())

    events, clients_while_waiting, clients_after = asyncio.run(run_all())

    assert [e["status"] for e in events] == ["success"] * TRIGGERS
    assert [e["booking_sid"] for e in events] == sids
    assert [e["booking"]["status"] for e in events] == ["cancelled", "confirmed"] * (TRIGGERS // 2)
    assert clients_while_waiting == 1
    assert clients_after == 0  # the last trigger to finish closed it
    counts = sandbox.connection_counts()
    assert counts["most_open"] <= MAX_CONNECTIONS
    assert counts["opened"] <= MAX_CONNECTIONS  # kept alive between polls, never one per trigger
    gets = [r for r in sandbox.requests[gets_before:] if r.method == "GET"]
    assert len(gets) >= TRIGGERS + len(waiting)
    assert all(r.status == 200 for r in gets)


def test_two_connections_keep_apart_in_one_loop(sandbox: NeetoCalSandbox, monkeypatch: Any) -> None:
    """A second connection id with another (wrong) key gets its own client: its 401 is its own, and the
    good connection's triggers are met with their key."""
    from tests.conftest import neetocal_conn_json

    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_OLD", neetocal_conn_json(sandbox.url, password="revoked-key-000"))
    sids = book_many(sandbox, 4)

    async def run_all() -> list[dict[str, Any]]:
        triggers = [
            NeetoCalBookingTrigger(booking_sid=sid, neetocal_conn_id=conn_id, poll_interval=0.2)
            for sid in sids
            for conn_id in ("neetocal_default", "neetocal_old")
        ]

        async def first_event(trigger: NeetoCalBookingTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("a trigger ended without an event")

        return await asyncio.gather(*(first_event(t) for t in triggers))

    events = asyncio.run(run_all())
    assert [e["status"] for e in events] == ["success", "error"] * len(sids)
    assert all(e["error"]["class"] == "NeetoCalAuthError" for e in events[1::2])
    authenticated = [r.authenticated for r in sandbox.requests if r.method == "GET"]
    assert authenticated.count(True) == len(sids)
    assert authenticated.count(False) == len(sids)
