"""The triggers' shared HTTP clients: one per (event loop, connection settings), closed by the last user.

No network here: a client is borrowed and compared, never sent with (except through ``httpx.MockTransport``
in the cancellation test). Sharing over real HTTP, with hundreds of triggers, is in
tests/integration/test_trigger_client_sharing.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import httpx
import pytest

from airflow_provider_neetocal.hooks import neetocal_async
from airflow_provider_neetocal.hooks.neetocal_async import MAX_CONNECTIONS, NeetoCalAsyncClient, shared_clients
from airflow_provider_neetocal.retries import RetryPolicy
from tests.conftest import TEST_API_KEY

OTHER_KEY = "rotated-key-9876543210fedcba"


async def borrowed(client: NeetoCalAsyncClient) -> httpx.AsyncClient:
    http, _gate = await client._http()
    return http


def test_clients_of_one_connection_share_one_http_client_in_a_loop(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")

    async def go() -> None:
        first, second = NeetoCalAsyncClient(), NeetoCalAsyncClient()
        assert await borrowed(first) is await borrowed(second)
        assert len(shared_clients.clients()) == 1
        await first.aclose()
        assert not (await borrowed(second)).is_closed  # still used by second
        await second.aclose()
        assert shared_clients.clients() == []

    asyncio.run(go())


def test_one_client_borrowed_by_two_coroutines_at_once_is_counted_once(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")

    async def go() -> None:
        client = NeetoCalAsyncClient()
        first, second = await asyncio.gather(borrowed(client), borrowed(client))
        assert first is second
        await client.aclose()
        assert first.is_closed  # one borrow counted, one release: closed

    asyncio.run(go())


def test_the_last_user_closes_the_shared_client(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")

    async def go() -> None:
        client = NeetoCalAsyncClient()
        http = await borrowed(client)
        await client.aclose()
        assert http.is_closed
        again = NeetoCalAsyncClient()
        assert await borrowed(again) is not http  # a new one, not the closed one
        await again.aclose()

    asyncio.run(go())


def test_a_rotated_key_gets_a_new_client_and_the_old_one_closes_with_its_last_user(
    neetocal_conn: Any,
) -> None:
    async def go() -> None:
        neetocal_conn(host="http://127.0.0.1:9")
        old = NeetoCalAsyncClient()
        old_http = await borrowed(old)
        neetocal_conn(host="http://127.0.0.1:9", password=OTHER_KEY)
        new = NeetoCalAsyncClient()
        new_http = await borrowed(new)
        assert new_http is not old_http
        assert new_http.headers["X-Api-Key"] == OTHER_KEY
        assert old_http.headers["X-Api-Key"] == TEST_API_KEY
        await old.aclose()
        assert old_http.is_closed
        assert not new_http.is_closed
        await new.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("change", "value"),
    [("host", "http://127.0.0.1:10"), ("proxy", "http://127.0.0.1:3128"), ("timeout", [5, 7])],
)
def test_other_connection_settings_get_another_client(neetocal_conn: Any, change: str, value: Any) -> None:
    async def go() -> None:
        neetocal_conn(host="http://127.0.0.1:9")
        first = NeetoCalAsyncClient()
        first_http = await borrowed(first)
        settings = {"host": "http://127.0.0.1:9", change: value}
        neetocal_conn(**settings)
        second = NeetoCalAsyncClient()
        assert await borrowed(second) is not first_http
        await first.aclose()
        await second.aclose()

    asyncio.run(go())


def test_each_event_loop_gets_its_own_client(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")
    seen: dict[str, httpx.AsyncClient] = {}
    both_borrowed = threading.Barrier(2, timeout=30)

    def in_a_thread(name: str) -> None:
        async def go() -> None:
            client = NeetoCalAsyncClient()
            seen[name] = await borrowed(client)
            await asyncio.get_running_loop().run_in_executor(None, both_borrowed.wait)
            await client.aclose()

        asyncio.run(go())

    threads = [threading.Thread(target=in_a_thread, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert seen["a"] is not seen["b"]
    assert seen["a"].is_closed
    assert seen["b"].is_closed


def test_a_client_used_in_another_loop_borrows_that_loops_client(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")
    client = NeetoCalAsyncClient()
    first = asyncio.run(borrowed(client))
    second = asyncio.run(borrowed(client))
    assert second is not first


def test_a_closed_loops_clients_are_dropped_from_the_registry(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")
    left_open = NeetoCalAsyncClient()
    asyncio.run(borrowed(left_open))  # never closed: its loop ends with it in use

    async def count_loops() -> str:
        user = NeetoCalAsyncClient()
        await borrowed(user)
        described = repr(shared_clients)
        await user.aclose()
        return described

    assert asyncio.run(count_loops()) == "<SharedClients: 1 clients in 1 event loops>"


def test_the_key_is_in_no_repr(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9", proxy="http://user:proxy-secret@127.0.0.1:3128")

    async def go() -> list[str]:
        client = NeetoCalAsyncClient()
        await borrowed(client)
        assert client._shared is not None
        shown = [
            repr(client),
            repr(await client.settings()),
            repr(shared_clients),
            repr(client._shared),
            repr(shared_clients.clients()),
            client._shared.pool_key.hex(),
        ]
        await client.aclose()
        return shown

    for text in asyncio.run(go()):
        assert TEST_API_KEY not in text
        assert "proxy-secret" not in text


def test_one_ssl_context_per_ca_setting(neetocal_conn: Any, tmp_path: Any) -> None:
    from pathlib import Path

    import certifi

    pem = Path(certifi.where()).read_bytes()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pem)
    assert neetocal_async._ssl_context(True) is neetocal_async._ssl_context(True)
    assert neetocal_async._ssl_context(str(bundle)) is neetocal_async._ssl_context(str(bundle))
    assert neetocal_async._ssl_context(str(bundle)) is not neetocal_async._ssl_context(True)
    before = neetocal_async._ssl_context(str(bundle))
    bundle.write_bytes(pem + b"\n")  # replaced: read again
    assert neetocal_async._ssl_context(str(bundle)) is not before


def test_requests_beyond_the_limit_wait_their_turn_and_all_complete(neetocal_conn: Any) -> None:
    neetocal_conn(host="http://127.0.0.1:9")
    in_flight = 0
    most = 0
    full: asyncio.Event | None = None

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most, full
        full = full or asyncio.Event()
        in_flight += 1
        most = max(most, in_flight)
        if in_flight >= MAX_CONNECTIONS:
            full.set()
        with contextlib.suppress(asyncio.TimeoutError):  # the first answers wait until the limit is reached
            await asyncio.wait_for(full.wait(), timeout=30)
        in_flight -= 1
        return httpx.Response(200, json={"sid": request.url.path.rsplit("/", 1)[-1], "status": "confirmed"})

    real = httpx.AsyncClient

    def with_mock(**kwargs: Any) -> httpx.AsyncClient:
        return real(transport=httpx.MockTransport(handler), **kwargs)

    async def go() -> list[dict[str, Any]]:
        clients = [NeetoCalAsyncClient() for _ in range(5 * MAX_CONNECTIONS)]
        try:
            return await asyncio.gather(*(c.get_booking(f"b{n}") for n, c in enumerate(clients)))
        finally:
            for client in clients:
                await client.aclose()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neetocal_async.httpx, "AsyncClient", with_mock)
        answers = asyncio.run(go())
    assert [a["sid"] for a in answers] == [f"b{n}" for n in range(5 * MAX_CONNECTIONS)]
    assert most == MAX_CONNECTIONS


def test_a_cancelled_read_is_never_swallowed_whenever_the_cancel_lands(neetocal_conn: Any) -> None:
    """A trigger the triggerer cancels must end, even if the answer arrives in the same step.

    The cancel is sent after 0, 1, 2, ... loop steps, so one of them lands in the step the answer
    completes (where Python 3.11's ``asyncio.wait_for`` returned the answer and the trigger went on).
    """
    neetocal_conn(host="http://127.0.0.1:9")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"sid": "abc", "status": "confirmed"})

    async def cancelled_after(steps: int) -> str:
        client = NeetoCalAsyncClient(retry_policy=RetryPolicy(max_retries=0, max_rate_limit_waits=0))
        await client.settings()
        client._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        task = asyncio.ensure_future(client.get_booking("abc"))
        for _ in range(steps):
            await asyncio.sleep(0)
        accepted = task.cancel()  # False once the read is over
        try:
            await task
            return "answered after the cancel" if accepted else "answered"
        except asyncio.CancelledError:
            return "cancelled"
        finally:
            await client.aclose()

    async def sweep() -> list[str]:
        return [await cancelled_after(steps) for steps in range(100)]

    outcomes = asyncio.run(sweep())
    assert outcomes[0] == "cancelled"
    assert outcomes[-1] == "answered"  # the sweep reaches past the step the answer completes in
    assert "answered after the cancel" not in outcomes
