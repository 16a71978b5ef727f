"""The sandbox's HTTP layer: a threaded stdlib server speaking HTTP/1.1 with keep-alive.

It authenticates, applies the fault switch, parses bodies and writes answers; the endpoints
themselves live in :mod:`.api`. Access logs go to the ``airflow_provider_neetocal.sandbox`` logger
and name only the method, path and status: headers (and so the API key) are never logged.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import hmac
import html
import json
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_neetocal.sandbox.api import API_PREFIX, ApiResponse, SandboxAPI
from airflow_provider_neetocal.sandbox.api_v2 import API_V2_PREFIX, SandboxAPIV2
from airflow_provider_neetocal.sandbox.recording import RecordedRequest, RequestJournal, public_headers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_neetocal.sandbox.faults import FaultAction, FaultSwitch

logger = logging.getLogger("airflow_provider_neetocal.sandbox")

HEALTH_PATH = "/_sandbox/health"
UNAUTHENTICATED = {"error": "Could not authenticate, invalid API Key"}
NOT_FOUND = {"error": "Not found"}
RATE_LIMITED = {"error": "Too many requests, try again after some time"}
MALFORMED_JSON_BODY = b'{"id": "8f14e45f-ceea-4e7a-9c3b-6d1b0c2a4e5f", "sid": "q3x9'
MAX_BODY_BYTES = 10 * 1024 * 1024
JSON_TYPE = "application/json; charset=utf-8"
#: Seconds a client gets to finish the TLS handshake.
TLS_HANDSHAKE_TIMEOUT = 10.0
#: Routes whose answers are paginated, which ``repeat_page`` answers with their first page.
PAGINATED_ENDPOINTS = ("list_bookings", "list_meetings")


class BodyError(ValueError):
    """The request body cannot be read or parsed (answered 400)."""


def gateway_page(status: int) -> bytes:
    """An nginx-style HTML error page, what a proxy in front of the service answers."""
    title = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def oversized_page(status: int, size: int) -> Iterable[bytes]:
    """A gateway-like HTML page of exactly ``size`` bytes, in chunks: the padding is an HTML comment."""
    head, tail = gateway_page(status).split(b"<hr>", 1)
    head += b"<!-- "
    tail = b" -->\r\n<hr>" + tail
    if size <= len(head) + len(tail):
        yield (head + tail)[:size]
        return
    yield head
    padding = size - len(head) - len(tail)
    chunk = b"x" * 65536
    while padding > 0:
        yield chunk[:padding]
        padding -= len(chunk)
    yield tail


def tls_garbage_record() -> bytes:
    """Bytes that look like a TLS 1.2/1.3 application-data record but whose MAC cannot verify."""
    payload = os.urandom(64)
    return bytes([0x17, 0x03, 0x03]) + len(payload).to_bytes(2, "big") + payload


def format_retry_after(seconds: float) -> str:
    """Whole seconds as HTTP wants them; fractions are kept (``0.2``) so fast tests can use them."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """The request body as a dict: JSON, or form-encoded; empty bodies are ``{}``."""
    if not raw.strip():
        return {}
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise BodyError(f"Malformed form body: {exc}") from None
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise BodyError(
            f"Unsupported Content-Type {media_type or '(none)'!r}: send a JSON body with Content-Type: application/json"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError(f"Malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise BodyError(f"The JSON body must be an object, got {type(data).__name__}")
    return data


def fault_status(action: FaultAction) -> int | None:
    """The status a before-commit fault answers with; ``None`` for a dropped connection."""
    if action.kind == "drop":
        return None
    if action.kind == "malformed_json":
        return 200
    if action.kind in ("oversized", "raw"):
        return action.status or 200
    return action.status or (429 if action.kind == "rate_limit" else 500 if action.kind == "server_error" else 502)


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows the sandbox's parts and closes live connections on stop.

    :param address: (host, port) to bind; port 0 picks a free one.
    :param api: the endpoints.
    :param api_key: the key every API request must carry in ``X-Api-Key``.
    :param faults: the fault switch.
    :param journal: where requests are recorded.
    :param stopping: set when the sandbox stops, to cut sleeps short.
    :param tls: a server-side SSL context; when given, the listening socket is wrapped and every
        connection speaks HTTPS (the handshake runs in the connection's own thread).
    """

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        *,
        api: SandboxAPI,
        api_key: str,
        faults: FaultSwitch,
        journal: RequestJournal,
        stopping: threading.Event,
        tls: ssl.SSLContext | None = None,
        api_v2: SandboxAPIV2 | None = None,
    ) -> None:
        self.api = api
        self.api_v2 = api_v2
        self.api_key = api_key
        self.faults = faults
        self.journal = journal
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        #: TCP connections accepted since start (or :meth:`reset_connection_counts`), and most open at once.
        self.connections_opened = 0
        self.most_open_connections = 0
        self._stop_requested = threading.Event()
        self._serving = threading.Event()
        self._stopped = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        try:
            super().__init__(address, SandboxRequestHandler)
            if tls is not None:
                self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        except BaseException:
            self._wake_reader.close()
            self._wake_writer.close()
            raise

    def serve(self) -> None:
        """Accept connections until :meth:`stop_serving`; unlike ``serve_forever`` it does not poll.

        ``serve_forever`` notices ``shutdown()`` only at its next poll, which made every stop wait;
        here a socket pair wakes the loop at once.
        """
        self._serving.set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._stop_requested.is_set():
                    for key, _ in selector.select():
                        if key.fileobj is self and not self._stop_requested.is_set():
                            self._accept_one()
        finally:
            self._stopped.set()

    def _accept_one(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def stop_serving(self) -> None:
        """Make :meth:`serve` return and wait for it."""
        self._stop_requested.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._serving.is_set():
            self._stopped.wait(timeout=5)

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
                self.connections_opened += 1
                self.most_open_connections = max(self.most_open_connections, len(self._connections))
            else:
                self._connections.discard(connection)

    def connection_counts(self, *, reset: bool = False) -> dict[str, int]:
        """``opened`` (accepted), ``open`` (now) and ``most_open`` (at once) client connections."""
        with self._connections_lock:
            counts = {
                "opened": self.connections_opened,
                "open": len(self._connections),
                "most_open": self.most_open_connections,
            }
            if reset:
                self.connections_opened = 0
                self.most_open_connections = len(self._connections)
            return counts

    def close_connections(self) -> None:
        """Shut down every open client connection (keep-alive threads would otherwise wait on them)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("Error while serving a request from %s", client_address[0])


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Handles one client connection (possibly several requests, with keep-alive)."""

    protocol_version = "HTTP/1.1"
    # Without this every small response waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "NeetoCalSandbox/1.0"
    sys_version = ""
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, read from the sandbox clock (which tests freeze and move), as NeetoCal's
        comes from its own clock: a client comparing booking times with the server's time sees it move."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = datetime.datetime.fromtimestamp(self.server.api.now().timestamp(), tz=datetime.timezone.utc)
        return email.utils.format_datetime(now, usegmt=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def handle(self) -> None:
        """Finish the TLS handshake (on an HTTPS sandbox) here, not in the accepting thread, then serve."""
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(TLS_HANDSHAKE_TIMEOUT)
            try:
                self.connection.do_handshake()
            except OSError as exc:
                logger.info("TLS handshake with %s failed: %s", self.client_address[0], exc)
                self.close_connection = True
                return
            self.connection.settimeout(None)
        super().handle()

    # ---- logging: method, path and status only --------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        logger.info("%s %s -> %s", self.command, urlsplit(self.path).path, status)

    def log_message(self, format: str, *args: Any) -> None:
        logger.warning("%s: %s", self.address_string(), format % args)

    # ---- dispatch -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _handle(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            raw = self._read_body()
        except BodyError as exc:
            self.close_connection = True
            self._send_json(ApiResponse(400, {"error": str(exc)}))
            return
        if path == HEALTH_PATH and self.command == "GET":
            self._send_json(ApiResponse(200, {"status": "ok"}))
            return
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._handle_api(path[len(API_PREFIX) :] or "/", path, query, raw)
        elif self.server.api_v2 is not None and (path == API_V2_PREFIX or path.startswith(API_V2_PREFIX + "/")):
            self._handle_api(path[len(API_V2_PREFIX) :] or "/", path, query, raw, api=self.server.api_v2)
        else:
            self._send_page(path, query, raw)

    def _handle_api(
        self, route: str, path: str, query: dict[str, str], raw: bytes, api: SandboxAPI | SandboxAPIV2 | None = None
    ) -> None:
        server = self.server
        arrived = time.monotonic()
        api = api or server.api  # v1 unless the path said v2
        endpoint = api.resolve(self.command, route)
        authenticated = hmac.compare_digest((self.headers.get("X-Api-Key") or "").encode(), server.api_key.encode())

        def record(status: int | None, fault: str | None = None) -> None:
            self._record(route, path, query, raw, status, authenticated=authenticated, fault=fault, arrived=arrived)

        if endpoint is None:
            record(404)
            self._send_json(ApiResponse(404, NOT_FOUND))
            return
        if not authenticated:
            record(401)
            self._send_json(ApiResponse(401, UNAUTHENTICATED))
            return
        plan = server.faults.plan(self.command, route)
        if plan.latency and not self._wait(plan.latency):
            record(None, "stopped")
            return
        api_query = query
        if plan.before is not None:
            if plan.before.kind == "delay":
                if not self._wait(plan.before.seconds):
                    record(None, "stopped")
                    return
            elif plan.before.kind == "repeat_page":
                if endpoint.name in PAGINATED_ENDPOINTS:
                    api_query = {**query, "page_number": "1"}
            else:
                record(fault_status(plan.before), plan.before.kind)
                self._send_fault(plan.before)
                return
        try:
            body = parse_body(raw, self.headers.get("Content-Type", ""))
        except BodyError as exc:
            record(400, plan.name)
            self._send_json(ApiResponse(400, {"error": str(exc)}))
            return
        try:
            response = api.call(endpoint, api_query, body)
        except Exception:
            logger.exception("Sandbox error while handling %s %s", self.command, route)
            response = ApiResponse(500, {"error": "Internal sandbox error (see the sandbox log)"})
        after = plan.after
        if after is not None:
            if after.kind == "commit_then_drop":
                record(None, after.kind)
                self.close_connection = True
                return
            if after.kind == "commit_then_502":
                record(after.status or 502, after.kind)
                self._send_html(after.status or 502)
                return
            if after.kind == "commit_then_delay" and not self._wait(after.seconds):
                record(None, "stopped")
                return
            if after.kind == "commit_then_trickle":
                record(response.status, after.kind)
                self._send_trickled(response, after.seconds)
                return
            if after.kind in ("commit_then_empty", "commit_then_sidless"):
                status = after.status or 200
                record(status, after.kind)
                self._send(status, b"" if after.kind == "commit_then_empty" else b"{}", JSON_TYPE)
                return
            if after.kind == "commit_then_tls_garbage":
                record(None, after.kind)
                self._write_tls_garbage()
                return
        record(response.status, plan.name)
        self._send_json(response)
        if self.command == "GET" and endpoint.name in PAGINATED_ENDPOINTS and response.status == 200:
            page = (response.body.get("pagination") or {}).get("current_page_number")
            for action in server.faults.page_actions(route, page if isinstance(page, int) else 1):
                try:
                    action()
                except Exception:
                    logger.exception("A between-pages change of the workspace failed")

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the sandbox stops meanwhile; on stop, drop the connection and return False."""
        if seconds > 0 and self.server.stopping.wait(seconds):
            self.close_connection = True
            return False
        return True

    # ---- reading --------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise BodyError(f"Invalid Content-Length {length_header!r}") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise BodyError(f"Content-Length {length} is out of range")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError("Malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise BodyError("Request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # ---- writing --------------------------------------------------------------------------------

    def _send_headers(self, status: int, length: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._send_headers(status, len(body), content_type, headers)
        self.wfile.write(body)

    def _send_trickled(self, response: ApiResponse, seconds: float) -> None:
        """Headers at once (with the full Content-Length), then the JSON body one byte every ``seconds``."""
        body = json.dumps(response.body).encode()
        self._send_headers(response.status, len(body), JSON_TYPE)
        self.wfile.flush()
        for index in range(len(body)):
            if not self._wait(seconds):
                return
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()

    def _write_tls_garbage(self) -> None:
        """Write a corrupt TLS record on the raw TCP socket, beneath TLS, then close the connection.

        A client that sent its request and reads the answer fails to verify the record (``bad record
        mac``). On a plain-HTTP sandbox the same bytes arrive as a garbage answer instead.
        """
        self.close_connection = True
        self.wfile.flush()
        with socket.socket(fileno=os.dup(self.connection.fileno())) as raw:
            raw.sendall(tls_garbage_record())

    def _send_json(self, response: ApiResponse, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(response.body).encode()
        self._send(response.status, body, JSON_TYPE, headers)

    def _send_html(self, status: int) -> None:
        self._send(status, gateway_page(status), "text/html")

    def _send_fault(self, action: FaultAction) -> None:
        """Answer (or not) as a before-commit fault says."""
        status = fault_status(action)
        if status is None:
            self.close_connection = True
        elif action.kind == "rate_limit":
            headers = {} if action.retry_after is None else {"Retry-After": format_retry_after(action.retry_after)}
            self._send_json(ApiResponse(status, RATE_LIMITED), headers)
        elif action.kind == "server_error":
            self._send_json(ApiResponse(status, {"error": HTTPStatus(status).phrase}))
        elif action.kind == "html_error":
            self._send_html(status)
        elif action.kind == "oversized":
            self._send_headers(status, action.size, "text/html")
            for chunk in oversized_page(status, action.size):
                self.wfile.write(chunk)
        elif action.kind == "raw":
            self._send(status, action.body.encode(), JSON_TYPE)
        else:
            # malformed_json: a 200 whose body is cut short, as when a proxy truncates an answer.
            self._send(status, MALFORMED_JSON_BODY, JSON_TYPE)

    def _send_page(self, path: str, query: dict[str, str], raw: bytes) -> None:
        """Tiny HTML pages for the booking URLs the API hands out; 404 JSON for anything else."""
        parts = [part for part in path.split("/") if part]
        stored = None
        is_booking_page = len(parts) == 2 or (len(parts) == 3 and parts[0] == "admin")
        if self.command == "GET" and is_booking_page and parts[-2] == "bookings":
            stored = self.server.api.store.get(parts[-1])
        if stored is None:
            self._record(path, path, query, raw, 404)
            self._send_json(ApiResponse(404, NOT_FOUND))
            return
        booking = stored.booking
        rows = "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(booking.get(key)))}</td></tr>"
            for key in ("sid", "status", "name", "email", "host_name", "starts_at", "ends_at", "time_zone")
        )
        title = html.escape(f"{booking.get('meeting', {}).get('name', 'Booking')} ({booking.get('sid')})")
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>NeetoCal sandbox booking</p><table>{rows}</table></body></html>"
        )
        self._record(path, path, query, raw, 200)
        self._send(200, page.encode(), "text/html; charset=utf-8")

    # ---- journal --------------------------------------------------------------------------------

    def _record(
        self,
        route: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        status: int | None,
        *,
        authenticated: bool = False,
        fault: str | None = None,
        arrived: float | None = None,
    ) -> None:
        try:
            parsed: Any = parse_body(raw, self.headers.get("Content-Type", "")) if raw.strip() else None
        except BodyError:
            parsed = None
        self.server.journal.append(
            RecordedRequest(
                method=self.command,
                path=route,
                query=query,
                json=parsed,
                status=status,
                full_path=path,
                headers=public_headers(self.headers),
                authenticated=authenticated,
                fault=fault,
                arrived=time.monotonic() if arrived is None else arrived,
            )
        )
