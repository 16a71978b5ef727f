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
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import TYPE_CHECKING, Any

import httpx
import tenacity
from asgiref.sync import sync_to_async

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal.exceptions import (
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
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

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_neetocal.hooks.neetocal import _ConnectionSettings


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
        self._client: httpx.AsyncClient | None = None
        #: The ``Date`` header of the last answer (NeetoCal's clock), as the sync hook keeps it.
        self.last_server_date: str | None = None
        self._sleep = asyncio.sleep

    async def __aenter__(self) -> NeetoCalAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections (the client reopens them if used again)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def settings(self) -> _ConnectionSettings:
        """The connection's checked settings, read once (in a thread: reading a connection may block)."""
        if self._settings is None:
            hook = NeetoCalHook(self.neetocal_conn_id, api_version=self.api_version_arg)
            self._settings = await sync_to_async(lambda: hook._connection_settings)()
        return self._settings

    async def _http(self) -> httpx.AsyncClient:
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
                follow_redirects=False,  # the key would travel to the new host
                trust_env=False,  # proxy and CA bundle come from the connection, as in the sync hook
                proxy=settings.proxy,
                verify=verify,
            )
        return self._client

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
        return await retrying(self._send_once, call)

    async def _send_once(self, call: contract.Call) -> Any:
        settings = await self.settings()
        client = await self._http()
        connect, read = settings.timeout
        url = f"{settings.base_url}{call.path}"
        try:
            # The read timeout bounds each read; the total deadline bounds a trickling answer.
            status, headers, body = await asyncio.wait_for(self._fetch(client, url, call), timeout=connect + read)
        except (asyncio.TimeoutError, httpx.TimeoutException) as error:
            raise NeetoCalConnectionError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message="timed out waiting for NeetoCal's answer",
                request_sent=not isinstance(error, httpx.ConnectTimeout),
            ) from None
        except httpx.HTTPError as error:
            raise NeetoCalConnectionError(
                method=call.method,
                endpoint=call.path,
                status=None,
                message=self._redact(f"{type(error).__name__}: {error}"),
                request_sent=not isinstance(error, httpx.ConnectError),
            ) from None
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
        if self._settings is None or not self._settings.api_key:
            return text
        for form in _key_forms(self._settings.api_key):
            text = text.replace(form, "***")
        return text


class _Headers(dict):
    """Response headers, looked up case-insensitively (httpx's own object does not outlive the stream)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({key.lower(): value for key, value in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


__all__ = ["NeetoCalAsyncClient"]
