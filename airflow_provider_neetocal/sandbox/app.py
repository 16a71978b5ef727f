"""``NeetoCalSandbox``: the sandbox as an object you start, inspect, break on purpose and stop."""

from __future__ import annotations

import secrets
import ssl
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_neetocal.sandbox.api import API_PREFIX, SandboxAPI
from airflow_provider_neetocal.sandbox.api_v2 import API_V2_PREFIX, SandboxAPIV2, checked_booking_answers
from airflow_provider_neetocal.sandbox.config import MeetingsSource, load_meetings
from airflow_provider_neetocal.sandbox.faults import DEFAULT_RETRY_AFTER, Fault, Faults, FaultSwitch, PageAction
from airflow_provider_neetocal.sandbox.recording import RecordedRequest, RequestJournal
from airflow_provider_neetocal.sandbox.server import SandboxHTTPServer
from airflow_provider_neetocal.sandbox.store import BookingStore

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from datetime import datetime
    from types import TracebackType

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
API_KEY_ENV = "NEETOCAL_SANDBOX_API_KEY"


def generate_api_key() -> str:
    return "sandbox-" + secrets.token_hex(16)


def _real_clock() -> datetime:
    return pendulum.now("UTC")


class NeetoCalSandbox:
    """A local, NeetoCal-compatible API server running in a background thread.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with NeetoCalSandbox() as sandbox:
            requests.get(sandbox.api_url + "/meetings", headers={"X-Api-Key": sandbox.api_key})

    :param host: interface to bind; loopback by default.
    :param port: port to bind; 0 picks a free one.
    :param api_key: the key clients must send in ``X-Api-Key``; random when not given.
    :param state: a SQLite file keeping bookings across restarts; in memory when ``None``.
    :param meetings: the workspace's meetings: a list of meeting dicts, ``{"meetings": [...]}``, or the
        path of a JSON/YAML file of that shape; the shipped seed when ``None``.
    :param faults: periodic faults to start with.
    :param now: returns the current aware datetime; the real clock when ``None`` (tests freeze time).
    :param tls_cert: a PEM certificate (chain) file; with ``tls_key`` the sandbox serves HTTPS and
        :attr:`url` starts with ``https://`` (see :func:`~airflow_provider_neetocal.sandbox.tls.make_self_signed_cert`).
    :param tls_key: the PEM private key of ``tls_cert``.
    :param v2_booking_answers: how API v2 answers a single booking: ``"bare"`` (as v1) or
        ``"wrapped"`` (``{"booking": {...}}``); settable later through :attr:`v2_booking_answers`.
    """

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        api_key: str | None = None,
        state: str | os.PathLike[str] | None = None,
        meetings: MeetingsSource = None,
        faults: Faults | None = None,
        now: Callable[[], datetime] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        v2_booking_answers: str = "bare",
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both for HTTPS, or neither")
        self._tls: ssl.SSLContext | None = None
        if tls_cert is not None and tls_key is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(tls_cert, tls_key)
        self.host = host
        self._requested_port = port
        self.api_key = api_key or generate_api_key()
        self._store = BookingStore(state)
        self._fault_switch = FaultSwitch(faults)
        self._journal = RequestJournal()
        self._clock_source = now or _real_clock
        self._clock_offset = timedelta(0)
        self._api = SandboxAPI(load_meetings(meetings), self._store, now=self._clock, base_url=lambda: self.url)
        self._api_v2 = SandboxAPIV2(self._api, booking_answers=v2_booking_answers)
        self._stopping = threading.Event()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> NeetoCalSandbox:
        """Bind the port and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("The sandbox is already running")
        self._stopping.clear()
        server = SandboxHTTPServer(
            (self.host, self._requested_port),
            api=self._api,
            api_key=self.api_key,
            faults=self._fault_switch,
            journal=self._journal,
            stopping=self._stopping,
            tls=self._tls,
            api_v2=self._api_v2,
        )
        port = server.server_address[1]
        shown_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        self._url = f"{self.scheme}://{shown_host}:{port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve,
            name=f"neetocal-sandbox-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        self._stopping.set()
        if server is not None:
            server.stop_serving()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._store.close()

    def __enter__(self) -> NeetoCalSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # ---- addresses ------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https`` when started with a TLS certificate, else ``http``."""
        return "https" if self._tls is not None else "http"

    @property
    def url(self) -> str:
        """The origin, e.g. ``http://127.0.0.1:54321`` or ``https://...`` (the API is under :attr:`api_url`)."""
        if self._url is None:
            raise RuntimeError("The sandbox has not been started")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def api_v2_url(self) -> str:
        """The root of API v2, ``<url>/api/external/v2``."""
        return self.url + API_V2_PREFIX

    @property
    def v2_booking_answers(self) -> str:
        """How API v2 answers a single booking (create, get, update): ``"bare"`` or ``"wrapped"``."""
        return self._api_v2.booking_answers

    @v2_booking_answers.setter
    def v2_booking_answers(self, value: str) -> None:
        self._api_v2.booking_answers = checked_booking_answers(value)

    # ---- inspection -----------------------------------------------------------------------------

    @property
    def bookings(self) -> list[dict[str, Any]]:
        """Copies of every stored booking object, in creation order (as ``POST /bookings`` returns them)."""
        with self._store.lock:
            self._api.apply_due_changes()
        return [self._api.render(record) for record in self._store.all()]

    def booking(self, sid: str) -> dict[str, Any] | None:
        """One booking as ``GET /bookings/{sid}`` shows it (with ``form_responses_as_hash``), or ``None``."""
        with self._store.lock:
            self._api.apply_due_changes()
        record = self._store.get(sid)
        return self._api.render(record, with_hash=True) if record else None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (except health checks), oldest first. The API key is never kept."""
        return self._journal.items()

    def connection_counts(self, *, reset: bool = False) -> dict[str, int]:
        """TCP connections clients made: ``opened`` since start (or the last reset), ``open`` now and
        ``most_open`` at once (so a test can bound how many a client pool holds).

        :param reset: start counting afresh after this read (``most_open`` from the connections open now).
        """
        if self._server is None:
            raise RuntimeError("The sandbox is not running")
        return self._server.connection_counts(reset=reset)

    @property
    def meetings(self) -> list[dict[str, Any]]:
        """The meetings as ``GET /meetings`` shows them (unlisted ones left out)."""
        return [meeting.to_api() for meeting in self._api.listed_meetings]

    def now(self) -> datetime:
        """The sandbox's current time (the ``now`` callable, or the real clock, plus the clock offset)."""
        return self._clock()

    def _clock(self) -> datetime:
        return self._clock_source() + self._clock_offset

    # ---- clock and status control (tests) -------------------------------------------------------

    def advance_clock(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move the sandbox's clock forward (``advance_clock(90)``, ``advance_clock(hours=2)``); returns the new time.

        Everything time-dependent follows: ``type=upcoming`` / ``past`` listings, slots in the past, and
        status changes scheduled with :meth:`set_status` ``(at=...)``. The clock never moves back.
        """
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError(f"advance_clock({step}): the sandbox clock only moves forward")
        self._clock_offset += step
        return self.now()

    def set_clock(self, moment: datetime) -> None:
        """Make the sandbox's clock read ``moment`` now (it keeps running from there, as its source does)."""
        self._clock_offset = moment - self._clock_source()

    def set_status(self, sid: str, status: str, *, at: datetime | None = None, reason: str | None = None) -> None:
        """Change a booking's ``status`` as NeetoCal's own UI or an attendee would (not through the API).

        :param status: one of ``confirmed``, ``cancelled``, ``rejected``, ``awaiting_approval``.
        :param at: apply it once the sandbox clock reaches this aware time (status changes over time);
            at once when ``None``.
        :param reason: stored as ``cancel_reason`` for ``cancelled`` / ``rejected``.
        :raises KeyError: for an unknown booking sid.
        """
        self._api.schedule_status(sid, status, at=at, reason=reason)

    # ---- faults ---------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._fault_switch.faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        """Replace the periodic faults; counting starts again from the next request."""
        self._fault_switch.faults = faults

    def inject(
        self,
        kind: str,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        seconds: float | None = None,
        retry_after: float | None = DEFAULT_RETRY_AFTER,
        size: int | None = None,
        body: str | None = None,
    ) -> Fault:
        """Queue a one-shot fault for the next ``times`` matching API requests.

        :param kind: rate_limit, server_error, html_error, malformed_json, drop, delay, oversized, raw,
            repeat_page (before anything is committed) or commit_then_drop, commit_then_502,
            commit_then_delay, commit_then_trickle, commit_then_empty, commit_then_sidless,
            commit_then_tls_garbage (after); see the sandbox README.
        :param times: how many matching requests get it.
        :param method: only requests with this method (any when ``None``).
        :param path: only routes (the path after ``/api/external/v1``) starting with this.
        :param status: the status of rate_limit (429), server_error (500), html_error and commit_then_502
            (502), oversized, raw, commit_then_empty and commit_then_sidless (200).
        :param seconds: sleep of delay and commit_then_delay, pause between the body bytes of
            commit_then_trickle (1 s when ``None``).
        :param retry_after: ``Retry-After`` of rate_limit; ``None`` sends none.
        :param size: body bytes of oversized (20 MiB when ``None``).
        :param body: the body raw sends verbatim (empty when ``None``).
        """
        fault = Fault(
            kind=kind,
            times=times,
            method=method,
            path=path,
            status=status,
            seconds=seconds,
            retry_after=retry_after,
            size=size,
            body=body,
        )
        self._fault_switch.inject(fault)
        return fault

    def after_page(self, action: Callable[[], Any], *, page: int = 1, path: str = "/bookings", times: int = 1) -> None:
        """Change the workspace right after page ``page`` of a listing is answered, before the next is asked.

        What a walk over offset pages meets when NeetoCal's workspace changes under it: ``action`` (a
        booking made, cancelled or moved, e.g. through the sandbox's own API) runs once the page's
        answer is sent, for the next ``times`` listings of ``path`` (any API version) that reach that page.
        """
        self._fault_switch.after_page(PageAction(action=action, page=page, path=path, times=times))

    def clear_faults(self) -> None:
        """Forget every fault (periodic and one-shot) and every between-pages change not yet made."""
        self._fault_switch.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """One-shot faults not yet consumed."""
        return self._fault_switch.pending()

    def reset(self) -> None:
        """Forget every booking (in the state file too), recorded request and fault."""
        self._store.clear()
        self._api.clear_scheduled()
        self._journal.clear()
        self._fault_switch.clear()
