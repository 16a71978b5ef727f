"""The HTTP client as the provider built it before issue 19, for side-by-side benchmarks.

Each ``NeetoCalAsyncClient`` (so each trigger) then builds its own ``httpx.AsyncClient``, with its own
SSL context and CA bundle and its own connection pool, exactly as ``hooks/neetocal_async.py`` did.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient


async def _own_http(self: NeetoCalAsyncClient) -> tuple[httpx.AsyncClient, asyncio.Semaphore | None]:
    if self._client is None:
        settings = await self.settings()
        connect, read = settings.timeout
        verify: ssl.SSLContext | bool = True
        if isinstance(settings.verify, str):
            verify = ssl.create_default_context(cafile=settings.verify)
        self._client = httpx.AsyncClient(
            headers={
                "X-Api-Key": settings.api_key,
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-neetocal/{__version__} httpx/{httpx.__version__}",
            },
            timeout=httpx.Timeout(read, connect=connect),
            follow_redirects=False,
            trust_env=False,
            proxy=settings.proxy,
            verify=verify,
        )
    return self._client, None


def install_per_trigger_clients() -> None:
    """Make every ``NeetoCalAsyncClient`` of this process build a client of its own (the old way)."""
    NeetoCalAsyncClient._http = _own_http  # type: ignore[method-assign]
