"""The only code that speaks HTTP to NeetoCal."""

from __future__ import annotations

import contextlib
import copy
import json as jsonlib
import math
import os
import socket
import ssl
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.ssl_match_hostname import CertificateError

from airflow_provider_neetocal import __version__
from airflow_provider_neetocal import api_contract as contract
from airflow_provider_neetocal._compat import BaseHook, mask_secret_of_any_length
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID, api_root_url
from airflow_provider_neetocal.exceptions import (
    FieldProblem,
    NeetoCalApiError,
    NeetoCalAuthError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalNotFoundError,
    NeetoCalOutcomeUnknownError,
    NeetoCalPaginationError,
    NeetoCalServerError,
    NeetoCalValidationError,
    error_messages_from_body,
    map_strings,
)
from airflow_provider_neetocal.retries import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_neetocal.pacing import Pacer

#: ``(connect, read)`` seconds. A booking POST does real work server-side (calendar checks,
#: invitations), hence the generous read timeout.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)
#: Largest page NeetoCal serves; fewer round trips when iterating over every booking.
MAX_PAGE_SIZE = contract.MAX_PAGE_SIZE
#: Most pages one listing walks (100,000 items at the largest page size): a server that keeps
#: announcing more pages is refused with :class:`NeetoCalPaginationError` instead of looping forever.
MAX_PAGES = 1000
#: Largest successful answer read (8 MiB; a booking is a few KiB). A larger one is refused
#: without being read in full.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Largest part of an error answer read (1 MiB): enough for any message NeetoCal writes, and a
#: gateway's huge error page is cut instead of read in full.
MAX_ERROR_BODY_BYTES = 1024 * 1024
#: Bytes asked for per read of the answer; the size cap and the deadline are checked between reads.
_READ_CHUNK = 65536
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Failures that provably happen before a request byte leaves (see :func:`_was_sent`).
_NOT_SENT_CAUSES = (NewConnectionError, ConnectTimeoutError, ssl.SSLCertVerificationError, CertificateError)
_NO_RETRIES = RetryPolicy(max_retries=0, max_rate_limit_waits=0)
#: Keep-alive connections kept per host; the bulk operator raises it to its concurrency.
DEFAULT_POOL_MAXSIZE = 16


#: The monotonic deadline of the request this thread is sending (set by ``_send_once``).
_DEADLINE = threading.local()
#: What to call right before each attempt of a request leaves, per thread (see ``before_each_attempt``).
_ATTEMPT = threading.local()


def _hang_up(connection: Any) -> None:
    """End a connection whose answer is past its deadline: the blocked read then fails at once."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def _hang_up_at_deadline(connection: Any) -> Iterator[None]:
    """While the block runs, hang up on ``connection`` if this thread's request deadline comes first."""
    deadline = getattr(_DEADLINE, "at", None)
    if deadline is None:
        yield
        return
    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _hang_up, (connection,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class _DeadlinePoolMixin:
    """A connection pool that hangs up on an answer whose status line and headers outlast the deadline.

    The read timeout bounds each socket read, so a server (or a proxy answering ``CONNECT``) trickling
    its headers a byte at a time never trips it; urllib3 has no total deadline. While a proxy tunnel is
    set up, and while the request is sent and its headers are read, a timer waits for the thread's
    deadline and, if it comes first, shuts the socket down.
    """

    def _prepare_proxy(self, conn: Any) -> None:
        with _hang_up_at_deadline(conn):
            super()._prepare_proxy(conn)  # type: ignore[misc]

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        with _hang_up_at_deadline(conn):
            return super()._make_request(conn, *args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnectionPool(_DeadlinePoolMixin, HTTPConnectionPool):
    pass


class _DeadlineHTTPSConnectionPool(_DeadlinePoolMixin, HTTPSConnectionPool):
    pass


_DEADLINE_POOLS = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


class _DeadlineAdapter(HTTPAdapter):
    """``requests``' adapter over :class:`_DeadlinePoolMixin` pools, direct and through a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme") and not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


class _TooManyPagesError(Exception):
    """A listing announces more pages than the caller will walk (or no count at all)."""


class _ConnectionSettings(NamedTuple):
    base_url: str
    api_key: str
    timeout: tuple[float, float]
    proxy: str | None
    verify: str | bool
    api_version: contract.ApiVersion

    def __repr__(self) -> str:  # the key and the proxy (which may carry a password) are never shown
        return (
            f"_ConnectionSettings(base_url={self.base_url!r}, api_key='***', timeout={self.timeout!r}, "
            f"proxy={'***' if self.proxy else None}, verify={self.verify!r}, api_version={self.api_version!r})"
        )


class NeetoCalHook(BaseHook):
    """Talk to NeetoCal's external API (v1 or v2) with the credentials of a ``neetocal`` connection.

    Which API version is spoken comes from the connection's ``api_version`` extra (``v1`` when
    unset) or the ``api_version`` argument; every path, method and answer shape comes from
    :mod:`airflow_provider_neetocal.api_contract`, so a DAG switches versions by its connection alone.

    One ``requests.Session`` per hook carries the ``X-Api-Key`` header, JSON content negotiation
    and a ``User-Agent`` naming this provider; every request has explicit connect/read timeouts
    and a total deadline (:attr:`deadline_seconds`), and answers larger than
    :data:`MAX_RESPONSE_BYTES` are refused. The session ignores proxy and CA settings from the
    environment except ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``; the connection extras
    ``proxy`` and ``ca_bundle`` set them explicitly.
    The hook retries by itself only where repeating cannot duplicate a booking (see
    :mod:`airflow_provider_neetocal.retries`) and turns every failure into a typed
    :mod:`~airflow_provider_neetocal.exceptions` error that quotes NeetoCal's own message.

    :param neetocal_conn_id: the ``neetocal`` connection holding the workspace and API key.
    :param api_version: ``"v1"`` or ``"v2"``; overrides the connection's ``api_version`` extra.
    :param timeout: ``(connect, read)`` seconds, or one number for both. The connection extra
        ``timeout`` overrides the default but not an explicit argument.
    :param retry_policy: bounds of the hook's own retries.
    :param pacer: a gate shared with other hooks or threads (see :mod:`airflow_provider_neetocal.pacing`):
        consulted before every request sent, and paused by every 429 for the wait the retry policy
        chose. ``None`` (the default) paces nothing.
    :param pool_maxsize: keep-alive connections the session keeps per host (at least the number of
        threads sending through this hook at once).
    """

    conn_name_attr = "neetocal_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "neetocal"
    hook_name = "NeetoCal"

    def __init__(
        self,
        neetocal_conn_id: str = default_conn_name,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
        api_version: str | None = None,
    ) -> None:
        super().__init__()
        self.neetocal_conn_id = neetocal_conn_id
        self._api_version_arg = api_version
        self._timeout_arg = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self.pacer = pacer
        self.pool_maxsize = pool_maxsize
        self._sleep = time.sleep
        #: The ``Date`` header of the last answer: NeetoCal's clock, which the booking sensor compares
        #: booking times with (``None`` before the first answer or when the server sent none).
        self.last_server_date: str | None = None
        #: The first 401 this hook got: NeetoCal does not know the key, so nothing more is sent with it.
        self._refused_key: NeetoCalAuthError | None = None

    # -- Airflow connection form (Airflow 2.x and 3.0/3.1; 3.2+ reads provider info) ----------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Show only Workspace and API key, relabelled, with placeholders."""
        from airflow_provider_neetocal.provider_info import hook_field_behaviour

        return hook_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields stored in the connection's ``extra`` (advanced base URL, timeout, API version).

        A field whose schema has an ``enum`` (the API version) is a select, as Airflow >= 3.2 renders it
        from provider info. Older forms accept only text, number, password and boolean fields, so it
        is a text field restricted by ``any_of`` (Airflow 3.0/3.1 turn that into a dropdown) and drawn
        as a ``<select>`` (Airflow 2's form draws the widget it is given).
        """
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional, any_of

        from airflow_provider_neetocal.provider_info import CONN_FIELDS

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec.get("schema", {})
            if "enum" in schema:
                widgets[name] = StringField(
                    lazy_gettext(spec["label"]),
                    widget=_SelectWidget(schema["enum"], schema.get("values_display", {}), schema.get("default")),
                    validators=[Optional(), any_of(schema["enum"])],
                    description=spec.get("description", ""),
                    default=schema.get("default"),
                )
            else:
                widgets[name] = StringField(
                    lazy_gettext(spec["label"]),
                    widget=BS3TextFieldWidget(),
                    validators=[Optional()],
                    description=spec.get("description", ""),
                )
        return widgets

    # -- connection --------------------------------------------------------------------------

    @cached_property
    def _connection_settings(self) -> _ConnectionSettings:
        conn = self.get_connection(self.neetocal_conn_id)
        extra = conn.extra_dejson or {}
        api_key = (conn.password or "").strip()
        if not api_key:
            raise NeetoCalConfigError(
                "password",
                f"connection {self.neetocal_conn_id!r} has no API key: put it in the API key (password) "
                "field; generate one in NeetoCal under Admin panel → API Keys",
                lead="The NeetoCal connection's API key is missing — fill in its API key field; nothing was sent",
            )
        mask_secret_of_any_length(api_key)
        extra = _known_extras(extra)
        if not all("\x21" <= ch <= "\x7e" for ch in api_key):
            # Never quote the key: requests would, in an InvalidHeader error, for a line break.
            raise NeetoCalConfigError(
                "password",
                f"the API key of connection {self.neetocal_conn_id!r} contains characters an HTTP header "
                "cannot carry (spaces, line breaks, non-ASCII letters): paste the key again exactly as "
                "NeetoCal shows it under Admin panel → API Keys",
                lead="The NeetoCal connection's API key has characters a request cannot carry — paste it again; "
                "nothing was sent",
            )
        if not _is_unset(self._api_version_arg):
            api_version = contract.checked_api_version(self._api_version_arg, "api_version (hook argument)")
        else:
            api_version = contract.checked_api_version(extra.get("api_version"))
        base_url = api_root_url(conn.host, conn.port, extra.get("base_url"), contract.api_path(api_version))
        return _ConnectionSettings(
            base_url=base_url,
            api_key=api_key,
            timeout=_timeout(self._timeout_arg, extra.get("timeout")),
            proxy=_proxy(extra.get("proxy")),
            verify=_ca_bundle(extra.get("ca_bundle"), https=base_url.startswith("https://")),
            api_version=api_version,
        )

    @property
    def api_version(self) -> contract.ApiVersion:
        """The API version this hook speaks (``"v1"`` or ``"v2"``)."""
        return self._connection_settings.api_version

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://acme.neetocal.com/api/external/v1``."""
        return self._connection_settings.base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout in seconds used for every request."""
        return self._connection_settings.timeout

    @property
    def deadline_seconds(self) -> float:
        """Longest a request may take in total, answer included: connect + read timeout.

        The read timeout bounds each socket read, not the whole answer: a server trickling one
        byte per second would never trip it. The hook stops reading at this deadline instead.
        """
        connect, read = self.timeout
        return connect + read

    @cached_property
    def session(self) -> requests.Session:
        """The hook's HTTP session (created on first use)."""
        settings = self._connection_settings
        api_key = settings.api_key
        session = requests.Session()
        # Proxies and CA bundles come from the connection, not from whatever the worker's
        # environment says: an HTTP(S)_PROXY meant for other traffic would otherwise receive the
        # API key, even for a loopback sandbox.
        session.trust_env = False
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        session.verify = settings.verify
        session.headers.update(
            {
                "X-Api-Key": api_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"airflow-provider-neetocal/{__version__} {requests.utils.default_user_agent()}",
            }
        )
        # Retries are decided per request by RetryPolicy; urllib3 must never repeat on its own.
        adapter = _DeadlineAdapter(max_retries=0, pool_maxsize=self.pool_maxsize)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    @contextlib.contextmanager
    def before_each_attempt(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call ``callback`` right before each attempt of this thread's requests leaves, inside the block.

        After the pacer's wait and any 429 wait, so the caller (the booking journal) can record the
        moment a write really goes out. An exception from ``callback`` stops that attempt: nothing
        is sent, and the exception propagates.
        """
        previous = getattr(_ATTEMPT, "callback", None)
        _ATTEMPT.callback = callback
        try:
            yield
        finally:
            _ATTEMPT.callback = previous

    def get_conn(self) -> requests.Session:
        """Return the configured ``requests.Session`` (Airflow's conventional hook accessor)."""
        return self.session

    def close(self) -> None:
        """Close pooled connections; the hook reopens them if used again."""
        if "session" in self.__dict__:
            self.__dict__.pop("session").close()

    # -- bookings ----------------------------------------------------------------------------

    def create_booking(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /bookings``: create a booking and return it as NeetoCal answered.

        Never re-sent after the request may have reached NeetoCal: a read timeout, dropped
        connection or 5xx raises :class:`NeetoCalOutcomeUnknownError` so the caller can look the
        booking up instead of creating a duplicate. So does a 2xx answer without a booking ``sid``
        (empty body, a proxy's page): nothing proves the booking was made, nor that it was not.
        """
        call = contract.create_booking(self.api_version, payload)
        return _with_booking_sid(call.method, call.path, self._booking_answer(call))

    def get_booking(self, booking_sid: str) -> dict[str, Any]:
        """``GET /bookings/{sid}``: one booking (with ``form_responses_as_hash``)."""
        return self._booking_answer(contract.get_booking(self.api_version, booking_sid))

    def list_bookings(
        self,
        *,
        type: str | None = None,
        client_email: str | None = None,
        host_email: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        **v2_filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """``GET /bookings``: iterate over every matching booking, fetching pages lazily.

        :param type: ``upcoming``, ``past``, ``cancelled`` or ``incomplete``; all when ``None``.
        :param client_email: only the bookings of this attendee.
        :param host_email: only the bookings hosted by this team member.
        :param page_size: bookings per request (NeetoCal serves at most 100).
        :param v2_filters: API v2 only (refused on v1, which would ignore them and list everything):
            ``meeting_sid``, ``search`` (3+ characters), ``starts_after`` / ``starts_before`` (ISO 8601
            date-time or ``YYYY-MM-DD``, or a date / aware datetime), ``sorting_key`` (``created_at``,
            ``starts_at``), ``sorting_order`` (``asc``, ``desc``).
        """
        filters = {"type": type, "client_email": client_email, "host_email": host_email, **v2_filters}
        yield from self._paginate(self._bookings_page(filters), page_size)

    def list_bookings_complete(self, *, max_pages: int | None = None, **filters: Any) -> list[dict[str, Any]] | None:
        """Every matching booking once, none missed that existed while it was listed.

        An offset-paged listing read while the workspace changes can read a booking twice or skip
        one (see :mod:`airflow_provider_neetocal.listing`): this one is walked until it is proven
        (one page; or two walks in a row that did not race and read the same bookings), at most
        :data:`~airflow_provider_neetocal.listing.MAX_WALKS` times. On API v2, unless ``filters``
        name an order, bookings are listed in creation order, where new ones land on the last page.

        :param max_pages: ``None`` when the first page announces more pages than this (or none),
            having sent that one request.
        :param filters: as for :meth:`list_bookings`.
        :raises NeetoCalPaginationError: the listing kept changing under every walk (retryable).
        """
        from airflow_provider_neetocal.listing import MAX_WALKS, Walk, proven

        if self.api_version == "v2" and "sorting_key" not in filters:
            filters = {**filters, "sorting_key": "created_at", "sorting_order": "asc"}
        page_call = self._bookings_page(filters)
        previous: Walk | None = None
        for _ in range(MAX_WALKS):
            walk = Walk()
            try:
                for _booking in self._paginate(page_call, MAX_PAGE_SIZE, max_pages=max_pages, on_page=walk.add_page):
                    pass
            except _TooManyPagesError:
                return None
            if proven(previous, walk):
                return list(walk.bookings.values())
            self.log.info("The bookings listing changed while it was read (%s); reading it again", walk.why_raced())
            previous = walk
        raise NeetoCalPaginationError(
            method="GET",
            endpoint=page_call(1, MAX_PAGE_SIZE).path,
            status=None,
            message=f"the listing kept changing while it was read ({MAX_WALKS} walks): it cannot prove which "
            "bookings exist",
        )

    def cancel_booking(self, booking_sid: str, *, cancel_reason: str | None = None) -> dict[str, Any]:
        """Cancel a booking; returns NeetoCal's answer (v1: ``{"message": ...}``; v2: the booking, unwrapped).

        v1: ``POST /bookings/{sid}/cancel``, the reason in the query string, where v1's reference
        puts it. v2: ``PATCH /bookings/{sid}`` with ``{"status": "cancelled", "cancel_reason": ...}``.
        """
        return self._booking_answer(contract.cancel_booking(self.api_version, booking_sid, cancel_reason))

    def reschedule_booking(
        self, booking_sid: str, payload: dict[str, Any], *, current: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``PATCH /bookings/{sid}``: move a booking (slot_date, slot_start_time, time_zone, ...).

        On v2 only what changes is sent: with ``current`` (the booking as last read), an unchanged
        ``name`` or ``email`` is left out (see :func:`~airflow_provider_neetocal.api_contract.reschedule_booking`).
        A 2xx answer without the booking's ``sid`` raises :class:`NeetoCalOutcomeUnknownError`, as
        a lost answer does: the caller reads the booking back to learn whether it moved.
        """
        call = contract.reschedule_booking(self.api_version, booking_sid, payload, current)
        return _with_booking_sid(call.method, call.path, self._booking_answer(call))

    def get_slots(
        self, meeting_slug: str, *, time_zone: str, year: int, month: int, day: int | None = None
    ) -> list[dict[str, Any]]:
        """The meeting's days with their free slots in ``time_zone``.

        v1: ``GET /slots/{meeting_slug}``. v2 names the meeting by its sid
        (``GET /meetings/{sid}/slots``): it is looked up from the slug once per hook.
        """
        meeting_sid = self.meeting_sid(meeting_slug) if self.api_version == "v2" else None
        call = contract.get_slots(
            self.api_version,
            time_zone=time_zone,
            year=year,
            month=month,
            day=day,
            meeting_slug=meeting_slug,
            meeting_sid=meeting_sid,
        )
        return contract.slot_days_of(self._request_object(call.method, call.path, params=call.query))

    def meeting_sid(self, meeting_slug: str) -> str:
        """The sid of the meeting (scheduling link) whose slug is ``meeting_slug``, from ``GET /meetings``.

        Remembered per hook. Slugs compare case-insensitively, as NeetoCal's booking pages do.

        :raises NeetoCalNotFoundError: when no listed meeting has that slug.
        """
        slug = contract.path_id(meeting_slug, "meeting_slug")
        cache: dict[str, str] = self.__dict__.setdefault("_meeting_sids", {})
        if slug.lower() not in cache:
            for meeting in self.list_meetings():
                listed_slug, sid = meeting.get("slug"), meeting.get("sid")
                if isinstance(listed_slug, str) and isinstance(sid, str) and sid:
                    cache.setdefault(listed_slug.lower(), sid)
        if slug.lower() not in cache:
            raise NeetoCalNotFoundError(
                method="GET",
                endpoint="/meetings",
                status=None,
                message=f"no meeting with slug {slug!r} is listed: check meeting_slug against the workspace's "
                "scheduling links",
            )
        return cache[slug.lower()]

    def list_meetings(
        self, *, host_email: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """``GET /meetings``: iterate over every scheduling link of the workspace."""
        version = self.api_version

        def page(number: int, size: int) -> contract.Call:
            return contract.list_meetings(version, page_number=number, page_size=size, host_email=host_email)

        yield from self._paginate(page, page_size)

    def test_connection(self) -> tuple[bool, str]:
        """Check the workspace answers and accepts the key, with one cheap authenticated GET.

        Used by the connection form's Test button; never raises.
        """
        try:
            # One try, no retries: the Test button should answer in seconds, not after back-offs.
            call = contract.list_bookings(self.api_version, page_number=1, page_size=1)
            self.request(call.method, call.path, params=call.query, retry_policy=_NO_RETRIES)
        except Exception as error:
            return False, str(error)
        return True, f"Connected to {self.base_url} (NeetoCal API {self.api_version}): the API key was accepted"

    # -- HTTP --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Any:
        """Send one API request with the hook's retry policy and return the decoded JSON body.

        :param endpoint: path below the API root, e.g. ``/bookings``.
        :param retry_policy: overrides the hook's policy for this request.
        :raises NeetoCalClientError: 4xx other than 408/429 (fails the task without retries).
        :raises NeetoCalRetryableError: network errors, 5xx and 429 left after the hook's retries.
        :raises NeetoCalOutcomeUnknownError: a write that may have been applied.
        :raises NeetoCalAuthError: a copy of the first 401, without sending, once NeetoCal has refused the
            key: no other request with that key can pass, and each one would put the key on the wire again.
        """
        if self._refused_key is not None:
            raise copy.copy(self._refused_key)
        method = method.upper()
        idempotent = method in _IDEMPOTENT_METHODS
        query = {k: v for k, v in (params or {}).items() if v is not None}
        policy = retry_policy or self.retry_policy
        pacer = self.pacer
        retrying = policy.retrying(
            idempotent=idempotent,
            sleep=self._sleep,
            logger=self.log,
            on_rate_limit=pacer.pause if pacer is not None else None,
        )
        try:
            return retrying(self._send_once, method, endpoint, query, json)
        except NeetoCalAuthError as error:
            if error.status == 401:
                self._refused_key = error
            raise
        except (NeetoCalServerError, NeetoCalConnectionError) as error:
            if idempotent or (isinstance(error, NeetoCalConnectionError) and not error.request_sent):
                raise
            raise NeetoCalOutcomeUnknownError(cause=error) from error

    def _send_once(self, method: str, endpoint: str, params: dict[str, Any], body: Any) -> Any:
        url = f"{self.base_url}{endpoint}"
        if self.pacer is not None:
            self.pacer.wait()
        before_attempt = getattr(_ATTEMPT, "callback", None)
        if before_attempt is not None:
            before_attempt()
        started = time.monotonic()
        deadline = started + self.deadline_seconds
        _DEADLINE.at = deadline
        try:
            # Never follow redirects: requests would re-send the X-Api-Key header to the new host.
            # Streamed, so the answer is read under a size cap and a total deadline (the headers
            # under _DeadlineAdapter's, the body under _read_body's).
            response = self.session.request(
                method,
                url,
                params=params or None,
                json=body,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            late = time.monotonic() >= deadline
            raise NeetoCalConnectionError(
                method=method,
                endpoint=endpoint,
                status=None,
                message=f"timed out: the answer did not arrive within {self.deadline_seconds:g} s"
                if late
                else self._redact(_describe_network_error(error)),
                request_sent=_was_sent(error),
            ) from None
        finally:
            _DEADLINE.at = None
        try:
            self._read_body(response, method, endpoint, deadline)
        finally:
            response.close()
        self.last_server_date = response.headers.get("Date")
        self.log.debug(
            "NeetoCal %s %s -> HTTP %s in %.0f ms",
            method,
            endpoint,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 300:
            raise self._error_for(response, method, endpoint)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise NeetoCalServerError(
                method=method,
                endpoint=endpoint,
                status=response.status_code,
                message="; ".join(self._messages_of(response)) or "empty body",
            ) from None
        # A server echoing the key in a success answer must not put it into XCom or logs.
        return map_strings(data, self._redact) if self._key_in(response.text) else data

    def _read_body(self, response: requests.Response, method: str, endpoint: str, deadline: float) -> None:
        """Read the streamed answer into ``response`` (``.content``, ``.text``, ``.json()`` then work).

        Reads in chunks so that a huge or trickling answer is stopped between reads: past
        ``deadline`` (monotonic) or :data:`MAX_RESPONSE_BYTES` (:data:`MAX_ERROR_BODY_BYTES` of an
        error answer, which is cut there and still classified by its status). One read may still
        wait up to the read timeout, so the deadline can be overshot by at most that much.
        """
        is_error = response.status_code >= 300
        limit = MAX_ERROR_BODY_BYTES if is_error else MAX_RESPONSE_BYTES
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise NeetoCalConnectionError(
                        method=method,
                        endpoint=endpoint,
                        status=None,
                        message=f"timed out: the answer did not arrive within {self.deadline_seconds:g} s",
                        request_sent=True,
                    )
                chunk = response.raw.read1(_READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    if is_error:
                        break
                    raise NeetoCalServerError(
                        method=method,
                        endpoint=endpoint,
                        status=response.status_code,
                        message=f"answer larger than {limit} bytes, not read further",
                    )
        except urllib3.exceptions.HTTPError as error:
            raise NeetoCalConnectionError(
                method=method,
                endpoint=endpoint,
                status=None,
                message=self._redact(_describe_network_error(_as_requests_error(error))),
                request_sent=True,
            ) from None
        except OSError as error:  # a socket error urllib3 did not wrap
            raise NeetoCalConnectionError(
                method=method,
                endpoint=endpoint,
                status=None,
                message=self._redact(f"connection error while reading the answer: {error}"),
                request_sent=True,
            ) from None
        body = b"".join(chunks)
        response._content = body[:limit] if is_error else body
        response._content_consumed = True  # type: ignore[attr-defined]

    def _messages_of(self, response: requests.Response) -> list[str]:
        """The messages of an answer's body, redacted before they are cut and again once decoded."""
        body = self._redact(response.text)
        content_type = response.headers.get("Content-Type", "")
        return [self._redact(m) for m in error_messages_from_body(body, content_type, redact=self._redact)]

    def _error_for(self, response: requests.Response, method: str, endpoint: str) -> NeetoCalApiError:
        # Redacted before the messages are cut to length, or a cut could keep half of an echoed key,
        # and again after JSON decoding, which turns an escaped key ("a\/b") back into the key.
        return contract.error_for_answer(
            method=method,
            endpoint=endpoint,
            status=response.status_code,
            messages=self._messages_of(response),
            reason=response.reason or "",
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
            redact=self._redact,
        )

    def _bookings_page(self, filters: dict[str, Any]) -> Callable[[int, int], contract.Call]:
        """Page ``number`` of ``size`` of the bookings listing with ``filters``, as the contract shapes it."""
        version = self.api_version

        def page(number: int, size: int) -> contract.Call:
            return contract.list_bookings(version, page_number=number, page_size=size, filters=filters)

        return page

    def _booking_answer(self, call: contract.Call) -> dict[str, Any]:
        """Send ``call`` and return the booking its answer holds (bare, or wrapped on v2)."""
        data = self._request_object(call.method, call.path, params=call.query, json=call.json)
        return contract.booking_of(self.api_version, data)

    def _paginate(
        self,
        page_call: Callable[[int, int], contract.Call],
        page_size: int,
        *,
        max_pages: int | None = None,
        on_page: Callable[[list[dict[str, Any]], dict[str, Any]], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise NeetoCalValidationError(
                [FieldProblem("page_size", page_size, f"expected a whole number from 1 to {MAX_PAGE_SIZE}")]
            )
        first_call = page_call(1, page_size)
        endpoint, key = first_call.path, first_call.items_key or ""
        page = 1
        previous: list[dict[str, Any]] | None = None
        while True:
            if page > MAX_PAGES:
                raise NeetoCalPaginationError(
                    method="GET",
                    endpoint=endpoint,
                    status=None,
                    message=f"still more pages announced after {MAX_PAGES} pages: stopped walking the listing",
                )
            call = page_call(page, page_size)
            data = self._request_object(call.method, call.path, params=call.query)
            items = _page_items(data, key, endpoint)
            pagination = data.get("pagination")
            if pagination is None:
                pagination = {}
            if not isinstance(pagination, dict):
                raise _shape_error(endpoint, f"'pagination' is a {type(pagination).__name__}, expected an object")
            current = pagination.get("current_page_number")
            if current is not None and _as_page_number(current) != page:
                raise NeetoCalPaginationError(
                    method="GET",
                    endpoint=endpoint,
                    status=None,
                    message=f"asked for page {page}, got page {current!r}: stopped walking the listing",
                )
            if items and items == previous:
                raise NeetoCalPaginationError(
                    method="GET",
                    endpoint=endpoint,
                    status=None,
                    message=f"page {page} repeats the items of page {page - 1}: stopped walking the listing",
                )
            total_pages = _as_page_number(pagination.get("total_pages"))
            if max_pages is not None and page == 1:
                announced = total_pages
                if announced is None and _as_page_number(pagination.get("total_records")) is not None:
                    announced = math.ceil(int(pagination["total_records"]) / page_size)
                if announced is None or announced > max_pages:
                    raise _TooManyPagesError(announced)
            if on_page is not None:
                on_page(items, pagination)
            yield from items
            # Without a usable page count, only an empty page proves the end: a short page does not
            # (a server may serve fewer than asked), and stopping early would hide bookings.
            if not items or (total_pages is not None and page >= total_pages):
                return
            previous = items
            page += 1

    def _redact(self, text: str) -> str:
        """Remove the API key from text that came from elsewhere (a server echoing headers).

        Every form a server may echo it in is replaced: raw, JSON-escaped (also with a ``/`` escaped) and
        percent-encoded.
        """
        settings = self.__dict__.get("_connection_settings")
        if not settings or not settings.api_key:
            return text
        for form in _key_forms(settings.api_key):
            if form in text:
                text = text.replace(form, "***")
        return text

    def _key_in(self, text: str) -> bool:
        """Whether an answer may carry the key: in any of its forms, or behind a ``\\u`` escape."""
        return "\\u" in text or self._redact(text) != text

    def _request_object(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`request` for endpoints documented to answer a JSON object."""
        data = self.request(method, endpoint, **kwargs)
        if isinstance(data, dict):
            return data
        error = NeetoCalServerError(
            method=method.upper(),
            endpoint=endpoint,
            status=None,
            message=f"expected a JSON object in the answer, got {type(data).__name__}",
        )
        if method.upper() in _IDEMPOTENT_METHODS:
            raise error
        raise NeetoCalOutcomeUnknownError(cause=error)


class _SelectWidget:
    """Draws a text field as a ``<select>`` of fixed values (Airflow 2's connection form takes no SelectField)."""

    def __init__(self, values: list[str], shown: dict[str, str], default: str | None) -> None:
        self.values, self.shown, self.default = values, shown, default

    def __call__(self, field: Any, **kwargs: Any) -> Any:
        from markupsafe import Markup, escape
        from wtforms.widgets import html_params

        kwargs.setdefault("id", field.id)
        kwargs["class"] = f"{kwargs.get('class', '')} form-control".strip()
        chosen = field.data or self.default
        options = "".join(
            f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>'
            f"{escape(self.shown.get(value, value))}</option>"
            for value in self.values
        )
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{options}</select>")


def _is_unset(value: Any) -> bool:
    """An argument left to the connection: ``None`` or blank text (a template that rendered empty)."""
    return value is None or (isinstance(value, str) and not value.strip())


#: Prefix Airflow 2's connection form may give a provider's extra fields (``extra__<conn type>__<name>``).
_FORM_PREFIX = "extra__neetocal__"


def _known_extras(extra: Any) -> dict[str, Any]:
    """The extras the provider reads, by their bare names; an unknown one is refused, naming it (nothing sent).

    A misspelt key (``read_timeout`` for ``timeout``, ``apiversion``) would otherwise be ignored without
    a word: the task would run with the default. Keys the connection form may write are let through: the
    form's own fields, with or without Airflow 2's ``extra__neetocal__`` prefix (read as the bare name,
    which wins when both are set), and any key left empty (a cleared field), which changes nothing.
    """
    from airflow_provider_neetocal.provider_info import CONN_FIELDS

    if not isinstance(extra, dict):
        return {}
    known: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in extra.items():
        name = str(key)
        bare = name[len(_FORM_PREFIX) :] if name.startswith(_FORM_PREFIX) else name
        if bare in CONN_FIELDS:
            if name == bare or bare not in extra:
                known[bare] = value
        elif value not in (None, ""):
            unknown.append(name)
    if unknown:
        names = ", ".join(repr(key) for key in sorted(unknown))
        raise NeetoCalConfigError(
            "extra",
            f"unknown key(s) {names}: the extras NeetoCal reads are {', '.join(CONN_FIELDS)}",
            # Dropped for the generic first line when the names are too long for it.
            lead=f"Unknown NeetoCal connection extra {names} — rename or remove it; nothing was sent",
        )
    return known


def _timeout(argument: float | tuple[float, float] | None, extra: Any) -> tuple[float, float]:
    value: Any = argument if argument is not None else extra
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    expected = "expected a positive, finite number of seconds (e.g. 30) or a (connect, read) pair such as (10, 30)"
    parts = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(parts) != 2:
        raise NeetoCalConfigError("timeout", f"{value!r} has {len(parts)} items: {expected}")
    seconds: list[float] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, float, str)):
            raise NeetoCalConfigError("timeout", f"{value!r} is not a number of seconds: {expected}")
        try:
            number = float(part)
        except ValueError:
            raise NeetoCalConfigError("timeout", f"{value!r} is not a number of seconds: {expected}") from None
        if not math.isfinite(number) or number <= 0:
            raise NeetoCalConfigError("timeout", f"{value!r}: {expected}")
        seconds.append(number)
    return seconds[0], seconds[1]


def _proxy(value: Any) -> str | None:
    """The ``proxy`` extra: an ``http(s)://`` or ``socks5(h)://`` URL, used for http and https."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    expected = "expected a proxy URL such as 'http://proxy.internal:3128'"
    if not isinstance(value, str):
        raise NeetoCalConfigError("proxy", f"not text: {expected}")
    try:
        parts = urlsplit(value.strip())
        _ = parts.port
    except ValueError:
        raise NeetoCalConfigError("proxy", f"not a valid URL: {expected}") from None
    if parts.scheme.lower() not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise NeetoCalConfigError("proxy", f"scheme {parts.scheme!r} or host missing or unsupported: {expected}")
    if parts.password:
        mask_secret_of_any_length(parts.password)
    return value.strip()


def _ca_bundle(value: Any, *, https: bool = True) -> str | bool:
    """What ``requests`` verifies TLS certificates with (the session ignores the environment).

    The ``ca_bundle`` extra, else ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` as ``requests``
    itself would read them, else the default trust store (``True``). Not looked at for a plain
    http (loopback) server: a stale variable must not break what never uses it.
    """
    if value is not None and not isinstance(value, str):
        raise NeetoCalConfigError("ca_bundle", f"{value!r} is not text: expected the path of a CA bundle file")
    if not https:
        return True
    source, path = "ca_bundle", (value or "").strip()
    if not path:
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            if os.environ.get(variable, "").strip():
                source, path = f"ca_bundle (from the environment variable {variable})", os.environ[variable].strip()
                break
    if not path:
        return True
    if not os.path.exists(path):
        raise NeetoCalConfigError(source, f"{path!r} does not exist: expected the path of a CA bundle file")
    return path


def _was_sent(error: requests.RequestException) -> bool:
    """Whether a failed request may have reached the server (so a write may have been applied).

    Only failures that provably happen before the request leaves count as not sent: DNS failure
    and refused connection (``NewConnectionError``), connect timeout, and a server certificate
    that failed verification (the handshake stops before any request byte is written). Any other
    TLS error may have come while reading the answer, so it counts as sent.
    """
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return False
    if not isinstance(error, requests.exceptions.ConnectionError):
        return True
    return not any(isinstance(cause, _NOT_SENT_CAUSES) for cause in _causes(error))


def _causes(error: BaseException) -> Iterator[object]:
    """``error`` and what it wraps: ``__cause__``, ``__context__``, ``args`` and urllib3's ``reason``."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending and len(seen) < 50:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.append(getattr(current, "reason", None))
        if isinstance(current, BaseException):
            pending.extend([current.__cause__, current.__context__])
            pending.extend(arg for arg in current.args if isinstance(arg, BaseException) or hasattr(arg, "reason"))


def _as_requests_error(error: urllib3.exceptions.HTTPError) -> requests.RequestException:
    """The ``requests`` exception for a urllib3 error met while reading the answer, as ``iter_content`` maps it."""
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(error)
    if isinstance(error, urllib3.exceptions.SSLError):
        return requests.exceptions.SSLError(error)
    if isinstance(error, urllib3.exceptions.DecodeError):
        return requests.exceptions.ContentDecodingError(error)
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return requests.exceptions.ChunkedEncodingError(error)
    return requests.exceptions.ConnectionError(error)


def _key_forms(api_key: str) -> list[str]:
    """Every spelling of the key a server may echo: raw, JSON-escaped (with or without ``\\/``), percent-encoded."""
    escaped = jsonlib.dumps(api_key)[1:-1]
    forms = {api_key, escaped, escaped.replace("/", "\\/"), quote(api_key, safe="")}
    return sorted(forms, key=len, reverse=True)


def _page_items(data: dict[str, Any], key: str, endpoint: str) -> list[dict[str, Any]]:
    """The items of one page; a missing or null key is an empty page, any other non-list a shape error."""
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _shape_error(endpoint, f"{key!r} is a {type(items).__name__}, expected a list of objects")
    for item in items:
        if not isinstance(item, dict):
            raise _shape_error(endpoint, f"{key!r} holds a {type(item).__name__}, expected only objects")
    return items


def _shape_error(endpoint: str, problem: str) -> NeetoCalServerError:
    return NeetoCalServerError(
        method="GET", endpoint=endpoint, status=None, message=f"unexpected answer shape: {problem}"
    )


def _as_page_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _with_booking_sid(method: str, endpoint: str, booking: dict[str, Any]) -> dict[str, Any]:
    """``booking`` when it carries a ``sid``; else the write's outcome is unknown."""
    sid = booking.get("sid")
    if isinstance(sid, str) and sid.strip():
        return booking
    raise NeetoCalOutcomeUnknownError(
        cause=NeetoCalServerError(
            method=method,
            endpoint=endpoint,
            status=None,
            message="NeetoCal answered 2xx without a booking sid",
        )
    )


def _describe_network_error(error: requests.RequestException) -> str:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "timed out waiting for NeetoCal's answer"
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS error: {error}"
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, NewConnectionError):
            return f"could not connect: {reason}"
        return f"connection error: {error}"
    return f"{type(error).__name__}: {error}"


__all__ = ["DEFAULT_TIMEOUT", "NeetoCalHook"]
