"""Review of the triggers' shared HTTP clients (branch ``client``): repros of problems found.

Each test states what should hold; it failed on the reviewed code. Two are fixed (the CA bundle's
identity, one SSL context per CA setting); the third is a strict xfail while it holds (a documented limit
in docs/deployment.md: no provider code path uses one client in two event loops).
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import gc
import http.server
import os
import re
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import certifi
import pytest

from airflow_provider_neetocal.hooks import neetocal_async
from airflow_provider_neetocal.hooks.neetocal import _ConnectionSettings
from airflow_provider_neetocal.hooks.neetocal_async import NeetoCalAsyncClient

KEY = "review-key-0123456789abcdef"


def _settings(base_url: str, verify: str | bool = True) -> _ConnectionSettings:
    return _ConnectionSettings(base_url, KEY, (2.0, 2.0), None, verify, "v1")  # type: ignore[arg-type]


def _client(settings: _ConnectionSettings) -> NeetoCalAsyncClient:
    client = NeetoCalAsyncClient()
    client._settings = settings  # no Airflow connection needed: the settings the hook would read
    return client


def test_touching_the_ca_bundle_does_not_grow_the_ssl_context_cache_without_bound(tmp_path: Path) -> None:
    """A CA bundle whose mtime changes (config agents re-render files; ``touch``) while triggers run must not
    add one SSL context per change to a process-wide cache that never forgets: at most the current one (and
    those still used by open clients) stays. Here: 10 touches, each followed by a borrow and a release."""
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    settings = _settings("https://127.0.0.1:9/api/external/v1", verify=str(bundle))

    async def borrow_and_release() -> None:
        client = _client(settings)
        await client._http()
        await client.aclose()

    before = len(neetocal_async._ssl_contexts)
    for step in range(10):
        os.utime(bundle, ns=(1_700_000_000_000_000_000 + step, 1_700_000_000_000_000_000 + step))
        asyncio.run(borrow_and_release())
    assert len(neetocal_async._ssl_contexts) - before <= 1


def test_a_replaced_ca_bundle_is_read_again_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    """The module promises a replaced CA bundle is re-read. A file replaced by another (new inode) of the same
    size whose modification time was preserved must still give a new SSL context, else a CA removed from the
    bundle (say, a compromised one) stays trusted by every trigger until the triggerer restarts."""
    certificates = re.findall(
        rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", Path(certifi.where()).read_bytes(), re.S
    )
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"".join(certificates))
    before = neetocal_async._ssl_context(str(bundle))
    stat = bundle.stat()
    replacement = tmp_path / "ca.pem.new"
    # Same length, other content (the same certificates in another order: a valid bundle that changed).
    replacement.write_bytes(b"".join(reversed(certificates)))
    assert replacement.stat().st_size == stat.st_size
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, bundle)
    assert bundle.stat().st_ino != stat.st_ino  # another file
    assert neetocal_async._ssl_context(str(bundle)) is not before, "the replaced bundle was not read again"


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client keeps the connection in its pool

    def do_GET(self) -> None:
        body = b'{"booking": {"sid": "b1", "status": "confirmed"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.xfail(
    strict=True,
    reason="SharedClients.release drops a client whose loop has closed without closing it: its pooled "
    "keep-alive socket stays open until garbage collection (ResourceWarning: unclosed transport/socket)",
)
def test_a_client_used_again_in_a_new_loop_closes_the_old_loops_http_client() -> None:
    """The ``asyncio.run``-per-call pattern (the brief's sync path, ``dag.test()``): a NeetoCalAsyncClient that
    polled in one loop and is used again in the next must not leave the first loop's shared HTTP client, and
    its open keep-alive socket, unclosed. Its last user let it go, so it must be closed (the module says a
    client is closed when its last user closes) and no ResourceWarning must come when it is collected."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        from airflow_provider_neetocal.api_contract import get_booking

        settings = _settings(f"http://127.0.0.1:{server.server_address[1]}/api/external/v1")
        client = _client(settings)
        call = get_booking("v1", "b1")

        async def poll() -> Any:
            await client.request(call)
            return client._shared.client if client._shared else None

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first_http = asyncio.run(poll())  # loop 1 ends; the client stays in use by this object
            asyncio.run(poll())  # loop 2: borrows its own and lets loop 1's go
            first_closed = first_http.is_closed
            del first_http
            gc.collect()
            asyncio.run(client.aclose())
            gc.collect()
        leaked = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert first_closed, "loop 1's HTTP client was let go without being closed"
        assert not leaked, [str(w.message) for w in leaked]
    finally:
        server.shutdown()
        server.server_close()
