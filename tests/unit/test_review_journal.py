"""Hostile review of issue 18: repros answered by the hook or the journal alone (real sockets on 127.0.0.1).

Each test is ``xfail(strict=True)`` with the finding as its reason: it fails today and turns red the
day the finding is fixed (then drop the mark). The ones that need Airflow or the sandbox are in
``tests/integration/test_review_journal.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_neetocal.exceptions import NeetoCalApiError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.retries import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

EVE = "eve@example.com"


def make_hook(**kwargs: Any) -> NeetoCalHook:
    """A hook that neither repeats a failed request nor sleeps."""
    hook = NeetoCalHook(retry_policy=RetryPolicy(max_retries=0), **kwargs)
    hook._sleep = lambda seconds: None  # type: ignore[method-assign]
    return hook


# ---- R5: the whole-response deadline and an HTTPS proxy's CONNECT answer -----------------------------


class ConnectTrickler:
    """An HTTP proxy on 127.0.0.1 that answers a CONNECT by trickling its response headers one byte at a time."""

    def __init__(self, header_bytes: int, pause: float) -> None:
        self.header_bytes = header_bytes
        self.pause = pause
        self.sent = 0
        self.request = b""
        self.completed = False
        self.finished = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        stop = threading.Event()
        with conn:
            try:
                self.request = conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\nX-Slow: ")
                for _ in range(self.header_bytes):
                    conn.sendall(b"a")
                    self.sent += 1
                    stop.wait(self.pause)
                conn.sendall(b"\r\n\r\n")
                self.completed = True
            except OSError:
                pass
            finally:
                self.finished.set()

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=15)


def test_r5_a_request_through_a_proxy_trickling_its_connect_answer_ends_at_the_deadline(
    neetocal_conn: Callable[..., str],
) -> None:
    # 30 bytes, one every 0.1 s (each read well under the 0.2 s read timeout): 3 s; the deadline is 0.4 s.
    proxy = ConnectTrickler(header_bytes=30, pause=0.1)
    try:
        neetocal_conn("https://127.0.0.1:9", proxy=f"http://127.0.0.1:{proxy.port}")
        hook = make_hook(timeout=(0.2, 0.2))
        started = time.monotonic()
        with pytest.raises(NeetoCalApiError):
            list(hook.list_meetings())
        elapsed = time.monotonic() - started
        hook.session.close()
        assert proxy.finished.wait(15)
    finally:
        proxy.close()

    assert proxy.request.startswith(b"CONNECT "), proxy.request
    assert not proxy.completed, f"the client stayed for all {proxy.sent} trickled CONNECT header bytes"
    assert elapsed < 1.5, f"a request with a 0.4 s deadline took {elapsed:.1f} s"
