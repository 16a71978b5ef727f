"""The triggers' async client at the httpx layer: headers, redirect refusal, redaction, size cap, reads only.

``httpx.MockTransport`` stands in for the network (unit tests only); the behaviour over real HTTP is in
tests/integration/test_booking_triggers.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal import exceptions as errors
from airflow_provider_neetocal.hooks import neetocal_async
from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient
from airflow_provider_neetocal.retries import RetryPolicy
from tests.conftest import TEST_API_KEY

if TYPE_CHECKING:
    from collections.abc import Callable


def run(neetocal_conn: Any, handler: Callable[[httpx.Request], httpx.Response], call: Any) -> Any:
    neetocal_conn(host="http://127.0.0.1:9")
    client = NeetoCalAsyncClient(retry_policy=RetryPolicy(max_retries=0, max_rate_limit_waits=0))

    async def go() -> Any:
        settings = await client.settings()
        client._client = httpx.AsyncClient(
            transport=httpx.MockTransport(handler),
            headers={"X-Api-Key": settings.api_key},
            follow_redirects=False,
        )
        try:
            return await client.request(call)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_the_real_client_sends_the_key_json_accept_and_a_user_agent(neetocal_conn: Any, monkeypatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"sid": "abc"})

    real = httpx.AsyncClient

    def with_mock(**kwargs: Any) -> httpx.AsyncClient:
        assert kwargs["follow_redirects"] is False
        assert kwargs["trust_env"] is False
        return real(transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr(neetocal_async.httpx, "AsyncClient", with_mock)
    neetocal_conn(host="http://127.0.0.1:9")

    async def go() -> dict[str, Any]:
        async with NeetoCalAsyncClient() as client:
            return await client.get_booking("abc")

    assert asyncio.run(go()) == {"sid": "abc"}
    (request,) = seen
    assert request.headers["X-Api-Key"] == TEST_API_KEY
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("airflow-provider-neetocal/")
    assert str(request.url) == "http://127.0.0.1:9/api/external/v1/bookings/abc"


def test_a_redirect_is_not_followed_and_the_key_in_it_is_redacted(neetocal_conn: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": f"https://evil.example/?k={TEST_API_KEY}"})

    with pytest.raises(errors.NeetoCalClientError, match="not followed") as caught:
        run(neetocal_conn, handler, contract.get_booking("v1", "abc"))
    assert TEST_API_KEY not in str(caught.value)


def test_an_error_body_echoing_the_key_is_redacted_and_typed(neetocal_conn: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"bad key {TEST_API_KEY}"})

    with pytest.raises(errors.NeetoCalAuthError) as caught:
        run(neetocal_conn, handler, contract.get_booking("v1", "abc"))
    assert TEST_API_KEY not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_success_answer_echoing_the_key_is_redacted(neetocal_conn: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"sid": "abc", "note": TEST_API_KEY}).encode())

    assert run(neetocal_conn, handler, contract.get_booking("v1", "abc")) == {"sid": "abc", "note": "***"}


def test_an_oversized_answer_is_refused(neetocal_conn: Any, monkeypatch) -> None:
    monkeypatch.setattr(neetocal_async, "MAX_RESPONSE_BYTES", 100)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"x": "' + b"a" * 500 + b'"}')

    with pytest.raises(errors.NeetoCalServerError, match="larger than 100 bytes"):
        run(neetocal_conn, handler, contract.get_booking("v1", "abc"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, errors.NeetoCalNotFoundError),
        (429, errors.NeetoCalRateLimitError),
        (503, errors.NeetoCalServerError),
        (422, errors.NeetoCalClientError),
    ],
)
def test_statuses_map_to_the_sync_hooks_exceptions(neetocal_conn: Any, status: int, expected: type) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "nope"})

    with pytest.raises(expected, match=f"HTTP {status}"):
        run(neetocal_conn, handler, contract.get_booking("v1", "abc"))


def test_it_refuses_to_write(neetocal_conn: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    for call in (contract.cancel_booking("v1", "abc"), contract.create_booking("v1", {"name": "x"})):
        with pytest.raises(ValueError, match="only reads"):
            run(neetocal_conn, handler, call)
