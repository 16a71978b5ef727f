"""One poll per workspace: watchers of one connection share one listing loop through Airflow 3.3's own
``SharedStreamManager`` (the triggerer's), over real HTTP against the sandbox.

Only the shared poll sleeps, so the fake clock of the trigger tests runs one scripted action per poll.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger
from tests.conftest import TEST_API_KEY
from tests.integration import test_booking_triggers
from tests.integration.test_booking_triggers import book
from tests.state_store import FakeAssetStateStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_neetocal.sandbox import NeetoCalSandbox

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="shared trigger streams: Airflow 3.3+")
moving_clock = test_booking_triggers.moving_clock


class _StopPollingError(Exception):
    """Raised from the fake clock to end the shared poll (and so every subscriber)."""


def share(
    watchers: list[NeetoCalBookingEventTrigger], moving_clock: list, between: list[Callable[[], Any] | None]
) -> list[list[dict[str, Any]]]:
    """Run ``watchers`` through one ``SharedStreamManager``; each watcher's event payloads."""
    from airflow.triggers.shared_stream import SharedStreamManager

    def stop() -> None:
        raise _StopPollingError

    moving_clock.extend([action or (lambda: None) for action in between] + [stop])
    results: list[list[dict[str, Any]]] = [[] for _ in watchers]

    async def consume(index: int, watcher: NeetoCalBookingEventTrigger, manager: SharedStreamManager) -> None:
        stream = manager.subscribe(trigger_id=index, trigger=watcher, key=watcher.shared_stream_key())
        try:
            async for event in watcher.filter_shared_stream(stream):
                results[index].append(event.payload)
        except Exception:  # the shared poll ended (the scripted stop): the end of this run
            return

    async def go() -> None:
        manager = SharedStreamManager()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(consume(i, w, manager) for i, w in enumerate(watchers))), timeout=60
            )
        finally:
            await manager.stop_all()

    asyncio.run(go())
    moving_clock.clear()
    return results


def changes(payloads: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    return [[(c["change"], c["booking_sid"]) for c in payload["changes"]] for payload in payloads]


def test_three_watchers_of_one_connection_share_one_listing_per_poll_and_each_keeps_its_own_changes(
    sandbox: NeetoCalSandbox, moving_clock: list
) -> None:
    known = book(sandbox, at="09:00 AM", email="known@example.com")
    watchers = [
        NeetoCalBookingEventTrigger(changes=["created"], poll_interval=30.0),
        NeetoCalBookingEventTrigger(changes=["cancelled"], poll_interval=30.0),
        NeetoCalBookingEventTrigger(meeting_slug="quick-sync", poll_interval=30.0),
    ]
    assert len({w.shared_stream_key() for w in watchers}) == 1
    assert len({w.memory_key() for w in watchers}) == 3
    stores = [FakeAssetStateStore() for _ in watchers]
    for watcher, store in zip(watchers, stores, strict=True):
        watcher.asset_state_store = store
    made: dict[str, Any] = {}

    def book_then_forbid_the_next_listing() -> None:
        made["b"] = book(sandbox, at="11:00 AM")
        sandbox.inject("raw", method="GET", path="/bookings", status=403, body='{"error": "Forbidden"}')

    between = [
        book_then_forbid_the_next_listing,
        None,
        lambda: NeetoCalHook().cancel_booking(known["sid"], cancel_reason="shared"),
        None,
    ]
    created, cancelled, meeting = share(watchers, moving_clock, between)

    assert changes(created) == [[("created", made["b"]["sid"])]]
    assert changes(cancelled) == [[("cancelled", known["sid"])]]
    assert changes(meeting) == [[("created", made["b"]["sid"])], [("cancelled", known["sid"])]]
    listings = [r.status for r in sandbox.requests if r.path == "/bookings" and r.query.get("type") == "upcoming"]
    assert listings == [200, 403, 200, 200, 200]  # one listing per poll for the three watchers
    assert len([r for r in sandbox.requests if r.path == "/meetings"]) == 1  # the meeting watcher's lookup
    assert all(store.writes >= 1 for store in stores)
    assert TEST_API_KEY not in repr([store.values for store in stores]) + repr(created + cancelled + meeting)


def test_watchers_that_read_different_listings_do_not_share() -> None:
    base = NeetoCalBookingEventTrigger(poll_interval=30.0)
    assert (
        base.shared_stream_key()
        == NeetoCalBookingEventTrigger(poll_interval=30.0, changes=["created"]).shared_stream_key()
    )
    for other in (
        NeetoCalBookingEventTrigger(poll_interval=30.0, host_email="sam@example.com"),
        NeetoCalBookingEventTrigger(poll_interval=30.0, neetocal_conn_id="other"),
        NeetoCalBookingEventTrigger(poll_interval=30.0, api_version="v2"),
        NeetoCalBookingEventTrigger(poll_interval=10.0),
        NeetoCalBookingEventTrigger(poll_interval=30.0, max_pages=2),
    ):
        assert other.shared_stream_key() != base.shared_stream_key()
