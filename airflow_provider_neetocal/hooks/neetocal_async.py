"""The triggers' way to NeetoCal: ``httpx.AsyncClient``, reads only, same rules as the sync hook.

A trigger runs in the triggerer's event loop, where the sync hook's ``requests`` would block every
other trigger. This client speaks the same contract (:mod:`airflow_provider_neetocal.api_contract`
builds every request and reads every answer, :func:`~airflow_provider_neetocal.api_contract.error_for_answer`
turns every error status into the same typed exception), takes its settings (base URL, key, timeouts,
proxy, CA bundle, API version) from the sync hook's checked connection settings, refuses redirects,
caps the answer's size, redacts the key from everything a server sends back, and retries with the
sync hook's :class:`~airflow_provider_neetocal.retries.RetryPolicy` (429 honouring ``Retry-After``,
5xx and network errors with back-off).

It can only read: :meth:`request` refuses any method but ``GET``, so a trigger, however often the
triggerer restarts it, never creates, cancels or moves a booking.

**One HTTP client per connection, per event loop.** A triggerer holds up to a thousand triggers in one
event loop. Each :class:`NeetoCalAsyncClient` borrows its ``httpx.AsyncClient`` from
:data:`shared_clients`, which keeps one per (running event loop, connection settings): the key, base URL,
proxy, CA bundle and timeouts decide which one, so a connection whose key was rotated gets a new client,
never the old key. A client is closed when the last :class:`NeetoCalAsyncClient` using it closes, and
is never used from another event loop than the one that opened it. One SSL context per CA setting is
built per process (loading the CA bundle is what made a client cost ~0.7 MB). At most
:data:`MAX_CONNECTIONS` requests of a shared client are in flight at once; more wait their turn in
order, and the wait is not counted in a request's timeouts (it is cut short by a trigger's deadline).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import ssl
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import tenacity
from asgiref.sync import sync_to_async

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal.exceptions import (
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalRetryableError,
    NeetoCalServerError,
    error_messages_from_body,
    map_strings,
)
from airflow_provider_neetocal.hooks.neetocal import (
    MAX_ERROR_BODY_BYTES,
    MAX_PAGE_SIZE,
    MAX_RESPONSE_BYTES,
    NeetoCalHook,
    _key_forms,
    _page_items,
)
from airflow_provider_neetocal.retries import RetryPolicy

_T = TypeVar("_T")

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from airflow_provider_neetocal.hooks.neetocal import _ConnectionSettings

#: Requests one shared client has in flight at most (and so TCP connections it opens to NeetoCal).
#: 1,000 triggers polling every 10 s with 50 ms answers need about 5 at once; 20 absorbs a triggerer
#: start, when every trigger polls at once (1,000 requests drain in ~2.5 s at 50 ms), without a
#: connection per trigger, which is what rate limits and server connection caps punish. Beyond it,
#: requests wait their turn in order (:meth:`NeetoCalAsyncClient._wait_for_turn`).
MAX_CONNECTIONS = 20
#: Idle connections a shared client keeps for the next polls: all of them. Keeping fewer made a
#: burst's extra connections close and reopen (a TLS handshake each, measured: 298 handshakes per
#: 500 polls with 5 kept, 7 with 20); idle ones still close after :data:`KEEPALIVE_EXPIRY`.
MAX_KEEPALIVE_CONNECTIONS = MAX_CONNECTIONS
#: Seconds an idle pooled connection is kept for the next poll (httpx's default).
KEEPALIVE_EXPIRY = 5.0


class _SharedClient:
    """One ``httpx.AsyncClient`` and the NeetoCalAsyncClients using it, in one event loop."""

    __slots__ = ("client", "gate", "loop", "pool_key", "users")

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, pool_key: bytes) -> None:
        self.client = client
        self.loop = loop
        self.pool_key = pool_key
        self.gate = asyncio.Semaphore(MAX_CONNECTIONS)
        self.users = 0

    def __repr__(self) -> str:  # the key is in the client's headers: never shown
        return f"<shared NeetoCal HTTP client, {self.users} users, pool {self.pool_key.hex()[:8]}>"


class SharedClients:
    """The process's shared ``httpx.AsyncClient`` s, by event loop and connection settings.

    :meth:`acquire` returns the client for the running loop and the settings, creating it on first
    use; :meth:`release` closes it once its last user releases it. Entries of event loops that were
    closed (or garbage-collected) are dropped: a client never serves another loop than its own.
    The pool key is an HMAC of the settings under a per-process random secret, so neither the key nor
    anything that would verify a guess of it is kept in, or printed from, this registry.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bytes, _SharedClient]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)

    def __repr__(self) -> str:
        with self._lock:
            counts = [len(entries) for entries in self._by_loop.values()]
        return f"<SharedClients: {sum(counts)} clients in {len(counts)} event loops>"

    def pool_key(self, settings: _ConnectionSettings) -> bytes:
        """What decides the pool: key, base URL, proxy, CA setting (with the bundle file's identity) and timeouts."""
        parts = [settings.api_key, settings.base_url, settings.proxy or "", repr(settings.timeout)]
        parts.append(repr(_verify_identity(settings.verify)))
        return hmac.new(self._secret, "\x00".join(parts).encode(), hashlib.sha256).digest()

    def acquire(self, settings: _ConnectionSettings) -> _SharedClient:
        """The running loop's client for ``settings``, counted as used until :meth:`release`."""
        loop = asyncio.get_running_loop()
        key = self.pool_key(settings)
        with self._lock:
            for stale in [other for other in self._by_loop if other.is_closed()]:
                del self._by_loop[stale]
            entries = self._by_loop.setdefault(loop, {})
            shared = entries.get(key)
            if shared is None:
                shared = entries[key] = _SharedClient(_new_http_client(settings), loop, key)
            shared.users += 1
            return shared

    async def release(self, shared: _SharedClient) -> None:
        """One user fewer; the last one closes the client (in its own loop, or drops it if that loop is gone)."""
        with self._lock:
            shared.users -= 1
            if shared.users > 0:
                return
            entries = self._by_loop.get(shared.loop)
            if entries is not None and entries.get(shared.pool_key) is shared:
                del entries[shared.pool_key]
                if not entries:
                    del self._by_loop[shared.loop]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is shared.loop:
            await shared.client.aclose()
        elif not shared.loop.is_closed() and shared.loop.is_running():
            asyncio.run_coroutine_threadsafe(shared.client.aclose(), shared.loop)

    def clients(self) -> list[_SharedClient]:
        """The clients of the running loop (for tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return list(self._by_loop.get(loop, {}).values())


#: The process-wide registry every :class:`NeetoCalAsyncClient` borrows from.
shared_clients = SharedClients()


async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds``; a cancellation is never swallowed.

    Python 3.10 / 3.11's ``asyncio.wait_for`` returns the result instead of raising when the task is
    cancelled in the very step its awaitable completes (python/cpython#86296): a trigger the triggerer
    cancelled then went on polling forever (found by ``benchmarks/bench_trigger_memory.py``, which
    cancels 1,000 waits at once). ``asyncio.timeout`` (3.11+) does not, and costs no extra task.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout=seconds)  # pragma: no cover - Python 3.10


def _verify_identity(verify: str | bool) -> tuple[Any, ...]:
    """A CA setting plus, for a bundle file, what tells one file's content from another's.

    The inode and device name a file replaced atomically (``os.replace``, ``cp`` of a prepared file);
    the change time (which no tool can set back, unlike the modification time that ``cp -p`` or
    ``rsync -t`` keep) and the size a file rewritten in place. Any of them changing means the bundle is
    read again.
    """
    if isinstance(verify, str):
        try:
            stat = os.stat(verify)
        except OSError:
            return (verify, None)
        return (verify, stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
    return (verify,)


#: The SSL context of each CA setting, with the bundle identity it was read from: only the latest
#: reading of a setting is kept (a bundle touched a thousand times costs one context, not a thousand;
#: a client still holding an older one keeps it alive by its own reference).
_ssl_contexts: dict[str | bool, tuple[tuple[Any, ...], ssl.SSLContext]] = {}
_ssl_lock = threading.Lock()


def _ssl_context(verify: str | bool) -> ssl.SSLContext:
    """One SSL context per CA setting in the process (contexts are thread-safe and loop-free)."""
    identity = _verify_identity(verify)
    with _ssl_lock:
        cached = _ssl_contexts.get(verify)
        if cached is not None and cached[0] == identity:
            return cached[1]
        if isinstance(verify, str):
            context = ssl.create_default_context(cafile=verify)
        else:
            context = httpx.create_ssl_context(verify=verify, trust_env=False)
        _ssl_contexts[verify] = (identity, context)
        return context


def _new_http_client(settings: _ConnectionSettings) -> httpx.AsyncClient:
    connect, read = settings.timeout
    return httpx.AsyncClient(
        headers={
            "X-Api-Key": settings.api_key,
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-neetocal/{__version__} httpx/{httpx.__version__}",
        },
        timeout=httpx.Timeout(read, connect=connect),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
        follow_redirects=False,  # the key would travel to the new host
        trust_env=False,  # proxy and CA bundle come from the connection, as in the sync hook
        proxy=settings.proxy,
        verify=_ssl_context(settings.verify),
    )


class NeetoCalAsyncClient:
    """Read NeetoCal (``GET`` only) from async code, with a ``neetocal`` connection's settings.

    Use it as an async context manager, or call :meth:`aclose`::

        async with NeetoCalAsyncClient("neetocal_default") as client:
            booking = await client.get_booking(sid)

    :param neetocal_conn_id: the ``neetocal`` connection.
    :param api_version: ``"v1"`` / ``"v2"``; overrides the connection's ``api_version`` extra.
    :param retry_policy: bounds of the client's own retries (the sync hook's defaults when ``None``).
    :param deadline: absolute time (POSIX seconds) past which no retry wait reaches: each wait is cut
        to the time left, and after a wait cut short (or once the deadline has passed) the last error
        is raised instead of retrying. A trigger's deadline, so a 429 storm cannot hold it past it.
    """

    def __init__(
        self,
        neetocal_conn_id: str = NeetoCalHook.default_conn_name,
        *,
        api_version: str | None = None,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> None:
        self.neetocal_conn_id = neetocal_conn_id
        self.api_version_arg = api_version
        self.retry_policy = retry_policy or RetryPolicy()
        self.deadline = deadline
        #: ``True`` once a retry loop gave up because of :attr:`deadline` (its last error was raised).
        self.deadline_reached = False
        self._settings: _ConnectionSettings | None = None
        self._key_forms: list[str] = []
        #: A client of this object's own (tests put one with a mock transport here); else a shared one.
        self._client: httpx.AsyncClient | None = None
        self._shared: _SharedClient | None = None
        #: The ``Date`` header of the last answer (NeetoCal's clock), as the sync hook keeps it.
        self.last_server_date: str | None = None
        self._sleep = asyncio.sleep

    async def __aenter__(self) -> NeetoCalAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<NeetoCalAsyncClient conn_id={self.neetocal_conn_id!r}>"

    async def aclose(self) -> None:
        """Stop using the HTTP client: the last user of a shared one closes it (it is borrowed again if used)."""
        client, self._client = self._client, None
        shared, self._shared = self._shared, None
        if client is not None:
            await client.aclose()
        if shared is not None:
            await shared_clients.release(shared)

    async def settings(self) -> _ConnectionSettings:
        """The connection's checked settings, read once (in a thread: reading a connection may block)."""
        if self._settings is None:
            hook = NeetoCalHook(self.neetocal_conn_id, api_version=self.api_version_arg)
            settings = await sync_to_async(lambda: hook._connection_settings)()
            self._key_forms = _key_forms(settings.api_key) if settings.api_key else []
            self._settings = settings
        return self._settings

    async def _http(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore | None]:
        """The HTTP client to send with, and the gate that bounds its requests in flight (shared clients)."""
        if self._client is not None:
            return self._client, None
        loop = asyncio.get_running_loop()
        shared = self._shared
        if shared is not None and shared.loop is loop:
            return shared.client, shared.gate
        settings = await self.settings()
        earlier = self._shared  # read again: another coroutine may have borrowed meanwhile
        if earlier is None or earlier.loop is not loop:
            self._shared = shared_clients.acquire(settings)
            if earlier is not None:  # borrowed in another event loop: never used here
                await shared_clients.release(earlier)
        assert self._shared is not None
        return self._shared.client, self._shared.gate

    async def _wait_for_turn(self, gate: asyncio.Semaphore, call: contract.Call) -> None:
        """A free place among the shared client's :data:`MAX_CONNECTIONS`; by the deadline at the latest."""
        if self.deadline is None or not gate.locked():
            await gate.acquire()
            return
        try:
            await _within(max(self.deadline - time.time(), 0.0), gate.acquire())
        except asyncio.TimeoutError:
            raise NeetoCalConnectionError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message=f"all {MAX_CONNECTIONS} connections to NeetoCal stayed busy until the deadline",
                request_sent=False,
            ) from None

    # -- reads -----------------------------------------------------------------------------------

    async def get_booking(self, booking_sid: str) -> dict[str, Any]:
        """``GET /bookings/{sid}``: one booking, as the sync hook's ``get_booking`` returns it."""
        settings = await self.settings()
        call = contract.get_booking(settings.api_version, booking_sid)
        return contract.booking_of(settings.api_version, await self._object(call))

    async def find_booking(self, booking_sid: str) -> dict[str, Any] | None:
        """:meth:`get_booking`, or ``None`` when NeetoCal answers 404 for it."""
        try:
            return await self.get_booking(booking_sid)
        except NeetoCalNotFoundError:
            return None

    async def list_bookings(
        self, filters: Mapping[str, Any] | None = None, *, max_pages: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``max_pages`` pages (100 a page) of ``GET /bookings`` with ``filters``.

        :returns: the bookings and whether that was the whole listing (``False``: the cap cut it).
        """
        settings = await self.settings()
        items: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            call = contract.list_bookings(
                settings.api_version, page_number=page, page_size=MAX_PAGE_SIZE, filters=filters
            )
            data = await self._object(call)
            found = _page_items(data, "bookings", call.path)
            items.extend(found)
            raw = data.get("pagination")
            pagination: dict[str, Any] = raw if isinstance(raw, dict) else {}
            total = pagination.get("total_pages")
            if not found or (isinstance(total, int) and page >= total) or len(found) < MAX_PAGE_SIZE:
                return items, True
        return items, False

    async def meeting_id(self, meeting_slug: str) -> str:
        """The ``id`` of the meeting whose slug is ``meeting_slug`` (booking objects name meetings by id)."""
        settings = await self.settings()
        slug = contract.path_id(meeting_slug, "meeting_slug").lower()
        for page in range(1, 101):
            call = contract.list_meetings(settings.api_version, page_number=page, page_size=MAX_PAGE_SIZE)
            data = await self._object(call)
            meetings = _page_items(data, "meetings", call.path)
            for meeting in meetings:
                if str(meeting.get("slug", "")).lower() == slug and meeting.get("id"):
                    return str(meeting["id"])
            if len(meetings) < MAX_PAGE_SIZE:
                break
        raise NeetoCalNotFoundError(
            method="GET",
            endpoint="/meetings",
            status=None,
            message=f"no meeting with slug {meeting_slug!r} is listed: check meeting_slug",
        )

    # -- HTTP ------------------------------------------------------------------------------------

    async def _object(self, call: contract.Call) -> dict[str, Any]:
        data = await self.request(call)
        if not isinstance(data, dict):
            raise NeetoCalServerError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message=f"expected a JSON object in the answer, got {type(data).__name__}",
            )
        return data

    async def request(self, call: contract.Call) -> Any:
        """Send a read with the retry policy; return the decoded JSON.

        :raises ValueError: for any method but ``GET`` (triggers never write).
        """
        if call.method != "GET":
            raise ValueError(f"NeetoCalAsyncClient only reads: {call.method} {call.path} refused")
        try:
            return await self._send_once(call)  # most polls: one try, and no retry controller to build
        except NeetoCalRetryableError as error:  # the only errors the policy may retry
            return await self._retry(call, error)

    async def _retry(self, call: contract.Call, first_error: NeetoCalRetryableError) -> Any:
        """The retry policy's loop for a read whose first try failed with ``first_error``.

        The loop's first attempt re-raises that error instead of sending again, so budgets, waits
        and the deadline count it exactly as if the loop had sent it.
        """
        template = self.retry_policy.retrying(idempotent=True, sleep=time.sleep)
        deadline = self.deadline
        cut_short = False

        def wait(state: tenacity.RetryCallState) -> float:
            nonlocal cut_short
            seconds = float(template.wait(state))
            if deadline is None:
                return seconds
            left = max(deadline - time.time(), 0.0)
            if seconds >= left:
                cut_short = True  # one last try at the deadline, then no more
                return left
            return seconds

        def stop(state: tenacity.RetryCallState) -> bool:
            if deadline is not None and (cut_short or time.time() >= deadline):
                self.deadline_reached = True
                return True
            return bool(template.stop(state))

        retrying = tenacity.AsyncRetrying(
            retry=template.retry,
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        tries = 0

        async def attempt() -> Any:
            nonlocal tries
            tries += 1
            if tries == 1:
                raise first_error
            return await self._send_once(call)

        return await retrying(attempt)

    async def _send_once(self, call: contract.Call) -> Any:
        settings = await self.settings()
        client, gate = await self._http()
        connect, read = settings.timeout
        url = f"{settings.base_url}{call.path}"
        if gate is not None:
            await self._wait_for_turn(gate, call)  # not counted in the timeouts below
        try:
            # The read timeout bounds each read; the total deadline bounds a trickling answer.
            status, headers, body = await _within(connect + read, self._fetch(client, url, call))
        except (asyncio.TimeoutError, httpx.TimeoutException) as error:
            raise NeetoCalConnectionError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message="timed out waiting for NeetoCal's answer",
                request_sent=not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)),
            ) from None
        except httpx.HTTPError as error:
            raise NeetoCalConnectionError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message=self._redact(f"{type(error).__name__}: {error}"),
                request_sent=not isinstance(error, httpx.ConnectError),
            ) from None
        finally:
            if gate is not None:
                gate.release()
        self.last_server_date = headers.get("Date")
        text = body.decode("utf-8", errors="replace")
        if status >= 300:
            redacted = self._redact(text)
            messages = [
                self._redact(m)
                for m in error_messages_from_body(redacted, headers.get("Content-Type", ""), redact=self._redact)
            ]
            raise contract.error_for_answer(
                method=call.method,
                endpoint=call.path,
                status=status,
                messages=messages,
                reason=headers.get("reason", ""),
                retry_after=headers.get("Retry-After"),
                location=headers.get("Location"),
                redact=self._redact,
            )
        if not body:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            raise NeetoCalServerError(
                method=call.method, endpoint=call.path, status=status, message="answer is not JSON"
            ) from None
        return map_strings(data, self._redact) if self._redact(text) != text or "\\u" in text else data

    async def _fetch(self, client: httpx.AsyncClient, url: str, call: contract.Call) -> tuple[int, Any, bytes]:
        async with client.stream(call.method, url, params=call.query or None) as response:
            limit = MAX_ERROR_BODY_BYTES if response.status_code >= 300 else MAX_RESPONSE_BYTES
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    if response.status_code >= 300:
                        break
                    raise NeetoCalServerError(
                        method=call.method,
                        endpoint=call.path,
                        status=response.status_code,
                        message=f"answer larger than {limit} bytes, not read further",
                    )
            headers = dict(response.headers)
            headers["reason"] = response.reason_phrase
            return response.status_code, _Headers(headers), b"".join(chunks)[:limit]

    def _redact(self, text: str) -> str:
        for form in self._key_forms:
            if form in text:
                text = text.replace(form, "***")
        return text


class _Headers(dict):
    """Response headers, looked up case-insensitively (httpx's own object does not outlive the stream)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({key.lower(): value for key, value in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


__all__ = ["NeetoCalAsyncClient"]
