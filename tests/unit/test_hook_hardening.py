"""NeetoCalHook against hostile or broken peers: TLS failures, proxies, echoed keys, huge or
trickling answers, endless pagination, answers without a booking, odd timeouts, a moved masker.

Real sockets only where they matter (trickling bodies, proxies from the environment, TLS), always
on 127.0.0.1; everything else through ``requests_mock``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import requests
import requests_mock as rm
import urllib3.exceptions

from airflow_provider_neetocal import _compat
from airflow_provider_neetocal.exceptions import (
    NeetoCalAuthError,
    NeetoCalClientError,
    NeetoCalConfigError,
    NeetoCalConnectionError,
    NeetoCalOutcomeUnknownError,
    NeetoCalPaginationError,
    NeetoCalRetryableError,
    NeetoCalServerError,
)
from airflow_provider_neetocal.hooks import neetocal as hook_module
from airflow_provider_neetocal.hooks.neetocal import (
    MAX_ERROR_BODY_BYTES,
    MAX_PAGES,
    MAX_RESPONSE_BYTES,
    NeetoCalHook,
    _was_sent,
)
from airflow_provider_neetocal.provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_neetocal.retries import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

API = "https://acme.neetocal.com/api/external/v1"
BOOKING = {"id": "7f3c", "sid": "8sqtzrs", "status": "confirmed"}
#: A key with every character JSON or a URL would escape, to check each echoed form is redacted.
ODD_KEY = 'k3y/with"quote\\back+plus&amp=eq%pct-0123456789'


def make_hook(conn_id: str = "neetocal_default", **kwargs: Any) -> NeetoCalHook:
    made = NeetoCalHook(
        conn_id, retry_policy=RetryPolicy(max_retries=2, max_rate_limit_waits=3, backoff=1.0, max_wait=30), **kwargs
    )
    made.waits = []  # type: ignore[attr-defined]
    made._sleep = made.waits.append  # type: ignore[attr-defined]
    return made


@pytest.fixture
def hook(neetocal_conn) -> NeetoCalHook:
    neetocal_conn("acme")
    return make_hook()


# -- 1. TLS errors after sending count as sent --------------------------------------------------


def _requests_ssl_error(inner: BaseException) -> requests.exceptions.SSLError:
    """What requests raises for a TLS failure: SSLError(MaxRetryError(reason=urllib3 SSLError(inner)))."""
    reason = urllib3.exceptions.SSLError(inner)
    reason.__cause__ = inner
    wrapped = urllib3.exceptions.MaxRetryError(None, "/api/external/v1/bookings", reason)  # type: ignore[arg-type]
    return requests.exceptions.SSLError(wrapped)


def test_tls_error_while_reading_the_answer_makes_a_post_outcome_unknown(hook):
    broken = _requests_ssl_error(ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac"))
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [{"exc": broken}, {"json": BOOKING}])
        with pytest.raises(NeetoCalOutcomeUnknownError, match="TLS error") as caught:
            hook.create_booking({})
    assert m.call_count == 1
    assert caught.value.cause.request_sent is True  # type: ignore[attr-defined]


def test_bare_ssl_error_counts_as_sent(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [{"exc": requests.exceptions.SSLError("EOF occurred")}, {"json": BOOKING}])
        with pytest.raises(NeetoCalOutcomeUnknownError):
            hook.create_booking({})
    assert m.call_count == 1


@pytest.mark.parametrize(
    "inner",
    [
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        urllib3.exceptions.ProxyError("x", ssl.SSLCertVerificationError(1, "self-signed certificate")),
    ],
    ids=["ssl-verify", "nested-in-args"],
)
def test_certificate_verification_failure_is_not_sent_and_a_post_is_retried(hook, inner):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [{"exc": _requests_ssl_error(inner)}, {"json": BOOKING}])
        assert hook.create_booking({}) == BOOKING
    assert m.call_count == 2


def test_hostname_mismatch_found_along_the_context_chain_is_not_sent():
    from urllib3.util.ssl_match_hostname import CertificateError

    def handshake() -> None:
        try:
            raise CertificateError("hostname 'acme' doesn't match 'evil'")
        except CertificateError as mismatch:
            raise urllib3.exceptions.SSLError("handshake failed") from mismatch

    with pytest.raises(urllib3.exceptions.SSLError) as caught:
        handshake()
    caught.value.__cause__ = None  # only the implicit context is left
    assert _was_sent(requests.exceptions.SSLError(caught.value)) is False


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), False),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (requests.exceptions.ConnectionError("Connection aborted"), True),
        (requests.exceptions.SSLError("wrong version number"), True),
        (requests.exceptions.ChunkedEncodingError("broken chunk"), True),
    ],
)
def test_only_failures_before_sending_count_as_not_sent(error, sent):
    assert _was_sent(error) is sent


def test_refused_and_dns_failures_count_as_not_sent():
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    dns = urllib3.exceptions.NameResolutionError("acme.neetocal.com", None, socket.gaierror(-2, "Name unknown"))  # type: ignore[arg-type]
    for reason in (refused, dns):
        wrapped = urllib3.exceptions.MaxRetryError(None, "/", reason)  # type: ignore[arg-type]
        assert _was_sent(requests.exceptions.ConnectionError(wrapped)) is False


# -- TLS against a real local server -----------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (so also its own CA bundle), and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _TlsServer:
    """Accepts TLS connections on 127.0.0.1; ``behaviour`` decides what each connection gets."""

    def __init__(self, cert: Path, key: Path, behaviour: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.behaviour = behaviour
        self.requests_received = 0
        self.handshakes_failed = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.stopped = threading.Event()
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                self.handshakes_failed += 1
                raw.close()
                continue
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:  # read it all: closing with unread data would reset the connection
                    body += conn.recv(65536)
                self.requests_received += 1
                if self.behaviour == "garbage-record":
                    # A TLS record the client cannot decrypt, written beside the TLS layer.
                    duplicate = socket.socket(fileno=socket.dup(conn.fileno()))
                    duplicate.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
                    duplicate.close()
                    time.sleep(0.5)
                else:
                    body = json.dumps(BOOKING).encode()
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def tls_server(self_signed) -> Iterator[Callable[[str], _TlsServer]]:
    servers: list[_TlsServer] = []

    def start(behaviour: str) -> _TlsServer:
        servers.append(_TlsServer(*self_signed, behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_untrusted_certificate_is_not_sent_so_a_post_is_retried_and_never_arrives(
    neetocal_conn, tls_server, monkeypatch
):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = tls_server("answer")
    neetocal_conn(f"https://127.0.0.1:{server.port}")
    hook = make_hook()
    with pytest.raises(NeetoCalConnectionError, match="TLS error") as caught:
        hook.create_booking({"meeting_slug": "demo"})
    assert caught.value.request_sent is False
    assert hook.waits == [1.0, 2.0]  # retried: nothing can have been booked
    # The client gives up as soon as its side of the last handshake fails; the server thread may
    # count that failure a moment later.
    deadline = time.monotonic() + 5
    while server.handshakes_failed < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.handshakes_failed == 3
    assert server.requests_received == 0


def test_tls_record_broken_after_the_request_arrived_makes_a_post_outcome_unknown(
    neetocal_conn, tls_server, self_signed, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self_signed[0]))
    server = tls_server("garbage-record")
    neetocal_conn(f"https://127.0.0.1:{server.port}")
    hook = make_hook()
    with pytest.raises(NeetoCalOutcomeUnknownError, match="TLS error") as caught:
        hook.create_booking({"meeting_slug": "demo"})
    assert caught.value.cause.request_sent is True  # type: ignore[attr-defined]
    assert server.requests_received == 1


def test_ca_bundle_extra_is_used_to_verify_the_server(neetocal_conn, tls_server, self_signed):
    server = tls_server("answer")
    neetocal_conn(f"https://127.0.0.1:{server.port}", ca_bundle=str(self_signed[0]))
    assert make_hook().create_booking({"meeting_slug": "demo"}) == BOOKING


def test_requests_ca_bundle_from_the_environment_is_still_honoured(neetocal_conn, tls_server, self_signed, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self_signed[0]))
    server = tls_server("answer")
    neetocal_conn(f"https://127.0.0.1:{server.port}")
    assert make_hook().create_booking({"meeting_slug": "demo"}) == BOOKING


# -- 2. proxies and CA bundles come from the connection, not the environment ------------------


class _Handler(BaseHTTPRequestHandler):
    """Answers every request with ``server.answer`` (status, headers, body chunks, pause between)."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, headers, chunks, pause = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[Callable[..., ThreadingHTTPServer]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(
        status: int = 200,
        body: bytes | list[bytes] = b"",
        headers: dict[str, str] | None = None,
        pause: float = 0.0,
    ) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        chunks = body if isinstance(body, list) else [body]
        all_headers = {"Content-Type": "application/json", "Content-Length": str(sum(map(len, chunks)))}
        server.answer = (status, {**all_headers, **(headers or {})}, chunks, pause)  # type: ignore[attr-defined]
        server.seen = []  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_proxy_variables_in_the_environment_never_see_the_request(neetocal_conn, local_server, monkeypatch):
    proxy = socket.create_server(("127.0.0.1", 0))
    proxy.settimeout(0.2)
    proxy_url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = local_server(body=json.dumps(BOOKING).encode())
    neetocal_conn(f"http://127.0.0.1:{server.server_port}")
    try:
        assert make_hook().get_booking("abc") == BOOKING
        with pytest.raises(TimeoutError):
            proxy.accept()[0].close()
    finally:
        proxy.close()
    assert len(server.seen) == 1  # type: ignore[attr-defined]


def test_proxy_extra_carries_every_request(neetocal_conn, local_server):
    proxy = local_server(body=json.dumps(BOOKING).encode())
    proxy_url = f"http://127.0.0.1:{proxy.server_port}"
    neetocal_conn("http://127.0.0.1:9", proxy=proxy_url)  # nothing listens on port 9: only the proxy answers
    hook = make_hook()
    assert hook.get_booking("abc") == BOOKING
    assert hook.session.proxies == {"http": proxy_url, "https": proxy_url}
    [(method, target, _)] = proxy.seen  # type: ignore[attr-defined]
    assert (method, target) == ("GET", "http://127.0.0.1:9/api/external/v1/bookings/abc")


def test_session_ignores_the_environment_and_verifies_with_the_default_store(hook, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert hook.session.trust_env is False
    assert hook.session.verify is True
    assert hook.session.proxies == {}


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_bundle_variables_set_what_requests_verifies_with(neetocal_conn, monkeypatch, tmp_path, variable):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(bundle))
    neetocal_conn("acme")
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", json=BOOKING)
        make_hook().get_booking("abc")
    assert m.last_request.verify == str(bundle)


def test_ca_bundle_extra_wins_over_the_environment(neetocal_conn, monkeypatch, tmp_path):
    extra, env = tmp_path / "extra.pem", tmp_path / "env.pem"
    extra.write_text("x")
    env.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(env))
    neetocal_conn("acme", ca_bundle=str(extra))
    assert make_hook().session.verify == str(extra)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"proxy": "proxy.internal:3128"}, "proxy"),
        ({"proxy": "ftp://proxy.internal"}, "proxy"),
        ({"proxy": 3128}, "proxy"),
        ({"ca_bundle": "/no/such/bundle.pem"}, "ca_bundle"),
        ({"ca_bundle": True}, "ca_bundle"),
    ],
)
def test_unusable_proxy_or_ca_bundle_extra_is_a_config_error(neetocal_conn, extra, field):
    neetocal_conn("acme", **extra)
    with pytest.raises(NeetoCalConfigError) as caught:
        _ = make_hook().session
    assert caught.value.field == field


def test_proxy_password_is_masked(neetocal_conn):
    from airflow_provider_neetocal._compat import _secrets_masker

    neetocal_conn("acme", proxy="http://user:proxy-secret-123@proxy.internal:3128")
    _ = make_hook().session
    assert "proxy-secret-123" not in _secrets_masker().redact("x proxy-secret-123 y")


def test_connection_form_declares_proxy_and_ca_bundle():
    for name in ("proxy", "ca_bundle"):
        assert CONN_FIELDS[name]["label"]
        assert CONN_FIELDS[name]["description"]
        assert CONN_FIELDS[name]["schema"] == {"type": ["string", "null"]}
        assert name in UI_FIELD_BEHAVIOUR["placeholders"]


# -- 3. every form of an echoed key is redacted, and unusable keys are refused -----------------


@pytest.mark.parametrize(
    "echo",
    [
        lambda key: json.dumps({"error": f"invalid key {key}"}),
        lambda key: json.dumps({"error": f"invalid key {key}"}).replace("/", "\\/"),
        lambda key: json.dumps({"error": f"invalid key {key}"}, ensure_ascii=True).replace("/", "\\u002f"),
        lambda key: json.dumps({"error": f"invalid key {quote(key, safe='')}"}),
        lambda key: f"<html><title>no such key {key}</title></html>",
    ],
    ids=["raw", "slash-escaped", "unicode-escaped", "percent-encoded", "html"],
)
def test_echoed_key_is_redacted_in_every_form(neetocal_conn, echo):
    neetocal_conn("acme", password=ODD_KEY)
    hook = make_hook()
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", status_code=401, text=echo(ODD_KEY))
        with pytest.raises(NeetoCalAuthError) as caught:
            hook.get_booking("abc")
    shown = " ".join([str(caught.value), *caught.value.errors])  # type: ignore[attr-defined]
    assert "***" in shown
    for form in (ODD_KEY, json.dumps(ODD_KEY)[1:-1], quote(ODD_KEY, safe="")):
        assert form not in shown
    assert "k3y/with" not in shown


def test_key_echoed_slash_escaped_in_a_garbled_2xx_answer_is_redacted(neetocal_conn):
    key = "slash/key-0123456789"
    neetocal_conn("acme", password=key)
    hook = make_hook()
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", text='{"echo": "slash\\/key-0123456789"')
        with pytest.raises(NeetoCalServerError) as caught:
            hook.get_booking("abc")
    assert "slash" not in str(caught.value)


@pytest.mark.parametrize(
    "key", ["Zq9x secret", "Zq9x\r\nX-Evil: 1", "Zq9x\tsecret", "Zq9xé-secret", "Zq9x\x00secret"], ids=repr
)
def test_key_an_http_header_cannot_carry_is_refused_without_quoting_it(neetocal_conn, key):
    neetocal_conn("acme", password=key)
    with rm.Mocker() as m, pytest.raises(NeetoCalConfigError) as caught:
        make_hook().get_booking("abc")
    assert m.call_count == 0
    assert caught.value.field == "password"
    assert "HTTP header" in str(caught.value)
    assert "Zq9x" not in str(caught.value)


def test_every_visible_ascii_character_is_accepted_in_a_key(neetocal_conn):
    key = "".join(chr(c) for c in range(0x21, 0x7F))
    neetocal_conn("acme", password=key)
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", json=BOOKING)
        make_hook().get_booking("abc")
    assert m.last_request.headers["X-Api-Key"] == key


# -- 4. answers: size cap and total deadline ----------------------------------------------------


class _CountingBody(io.RawIOBase):
    """A body of ``prefix`` then spaces, ``size`` bytes in all, that counts how much was read from it."""

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        self.size = size
        self.prefix = prefix
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.served)
        data = (self.prefix[self.served : self.served + n]).ljust(n, b" ")
        buffer[:n] = data
        self.served += n
        return n


@pytest.mark.parametrize(
    ("method", "error_type"), [("GET", NeetoCalServerError), ("POST", NeetoCalOutcomeUnknownError)]
)
def test_a_20_mib_answer_is_refused_without_reading_it_in_full(hook, method, error_type):
    body = _CountingBody(20 * 1024 * 1024)
    with rm.Mocker() as m:
        m.register_uri(
            method, f"{API}/bookings", body=io.BufferedReader(body), headers={"Content-Type": "application/json"}
        )
        with pytest.raises(error_type, match=f"answer larger than {MAX_RESPONSE_BYTES} bytes"):
            hook.request(method, "/bookings", retry_policy=RetryPolicy(max_retries=0))
    assert body.served <= MAX_RESPONSE_BYTES + 2 * 65536
    assert m.call_count == 1


@pytest.mark.parametrize(("status", "error_type"), [(502, NeetoCalServerError), (400, NeetoCalClientError)])
def test_a_huge_error_page_is_cut_and_still_classified_by_its_status(hook, status, error_type):
    body = _CountingBody(20 * 1024 * 1024, prefix=b"<html><title>Gateway says no</title><body>")
    with rm.Mocker() as m:
        m.get(
            f"{API}/bookings/abc",
            status_code=status,
            body=io.BufferedReader(body),
            headers={"Content-Type": "text/html"},
        )
        with pytest.raises(
            error_type,
            match=rf" — .*\nNeetoCal answered HTTP {status} to GET /bookings/abc: non-JSON response: Gateway says no",
        ):
            hook.request("GET", "/bookings/abc", retry_policy=RetryPolicy(max_retries=0))
    assert body.served <= MAX_ERROR_BODY_BYTES + 65536


def test_an_answer_just_under_the_cap_is_read(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "MAX_RESPONSE_BYTES", 1000)
    with rm.Mocker() as m:
        m.get(f"{API}/bookings/abc", text=json.dumps({**BOOKING, "pad": "x" * 900}))
        assert hook.get_booking("abc")["sid"] == BOOKING["sid"]


def test_gzip_answer_is_decoded(hook):
    import gzip

    with rm.Mocker() as m:
        m.get(
            f"{API}/bookings/abc",
            content=gzip.compress(json.dumps(BOOKING).encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert hook.get_booking("abc") == BOOKING


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_trickling_answer_is_cut_at_the_total_deadline(neetocal_conn, local_server, method):
    body = json.dumps(BOOKING).encode()
    server = local_server(body=[body[i : i + 1] for i in range(len(body))], pause=0.2)
    neetocal_conn(f"http://127.0.0.1:{server.server_port}")
    hook = make_hook(timeout=(0.5, 0.5))
    assert hook.deadline_seconds == 1.0
    started = time.monotonic()
    if method == "GET":
        with pytest.raises(NeetoCalConnectionError, match=r"timed out: the answer did not arrive within 1 s") as caught:
            hook.request("GET", "/bookings/abc", retry_policy=RetryPolicy(max_retries=0))
        assert caught.value.request_sent is True
    else:
        with pytest.raises(NeetoCalOutcomeUnknownError, match="did not arrive within 1 s"):
            hook.create_booking({})
    assert time.monotonic() - started < 2.5  # the whole body would take about 12 s
    assert len(server.seen) == 1  # type: ignore[attr-defined]


def test_connections_are_reused_after_a_complete_answer(neetocal_conn, local_server):
    server = local_server(body=json.dumps(BOOKING).encode())
    neetocal_conn(f"http://127.0.0.1:{server.server_port}")
    hook = make_hook()
    for _ in range(3):
        assert hook.get_booking("abc") == BOOKING
    pool = next(iter(hook.session.adapters["http://"].poolmanager.pools._container.values()))
    assert pool.num_connections == 1


def test_a_body_cut_short_is_a_dropped_connection_and_a_post_outcome_unknown(neetocal_conn, local_server):
    server = local_server(body=b'{"sid": "8sq', headers={"Content-Length": "200", "Connection": "close"})
    neetocal_conn(f"http://127.0.0.1:{server.server_port}")
    with pytest.raises(NeetoCalOutcomeUnknownError):
        make_hook(timeout=(1, 1)).create_booking({})


def test_empty_2xx_answer_to_a_read_is_still_an_empty_object(hook):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings/abc/cancel", status_code=204)
        assert hook.cancel_booking("abc") == {}


# -- 5. pagination that does not add up --------------------------------------------------------


def test_a_page_repeated_forever_stops_with_a_pagination_error(hook):
    page = {"meetings": [{"slug": "a"}], "pagination": {"total_pages": 10**9}}
    with rm.Mocker() as m:
        m.get(f"{API}/meetings", json=page)
        with pytest.raises(
            NeetoCalPaginationError,
            match=r"(?s)^NeetoCal's listing pages do not add up — probably temporary.*\nGET /meetings: page 2 repeats",
        ):
            list(hook.list_meetings())
    assert m.call_count == 2


def test_a_page_number_other_than_the_one_asked_for_stops_the_walk(hook):
    def page(request: Any, context: Any) -> dict[str, Any]:
        return {
            "bookings": [{"sid": f"b{request.qs['page_number'][0]}"}],
            "pagination": {"total_pages": 5, "current_page_number": 1},
        }

    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json=page)
        with pytest.raises(
            NeetoCalPaginationError,
            match=r"(?s)^NeetoCal's listing pages do not add up — .*\nGET /bookings: asked for page 2, got page 1",
        ) as caught:
            list(hook.list_bookings())
    assert isinstance(caught.value, NeetoCalRetryableError)
    assert isinstance(caught.value, NeetoCalServerError)


def test_walk_stops_after_max_pages(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "MAX_PAGES", 3)

    def page(request: Any, context: Any) -> dict[str, Any]:
        number = int(request.qs["page_number"][0])
        return {
            "bookings": [{"sid": f"b{number}"}],
            "pagination": {"total_pages": 10**9, "current_page_number": number},
        }

    with rm.Mocker() as m:
        m.get(f"{API}/bookings", json=page)
        seen = []
        with pytest.raises(NeetoCalPaginationError, match="after 3 pages"):
            seen.extend(b["sid"] for b in hook.list_bookings())
    assert seen == ["b1", "b2", "b3"]
    assert m.call_count == 3


def test_max_pages_is_a_thousand():
    assert MAX_PAGES == 1000


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"meetings": {"slug": "a"}}, "'meetings' is a dict, expected a list of objects"),
        ({"meetings": [None]}, "'meetings' holds a NoneType, expected only objects"),
        ({"meetings": ["a"]}, "'meetings' holds a str"),
        ({"meetings": [{"slug": "a"}], "pagination": [1]}, "'pagination' is a list"),
    ],
    ids=["object", "null-item", "string-item", "pagination-list"],
)
def test_unexpected_listing_shape_is_a_typed_server_error(hook, body, problem):
    with rm.Mocker() as m:
        m.get(f"{API}/meetings", json=body)
        with pytest.raises(NeetoCalServerError, match="unexpected answer shape") as caught:
            list(hook.list_meetings())
    assert problem in str(caught.value)
    assert "GET /meetings" in str(caught.value)


@pytest.mark.parametrize("body", [{}, {"meetings": None}, {"meetings": []}, {"pagination": {"total_pages": 3}}])
def test_missing_or_empty_items_are_no_items(hook, body):
    with rm.Mocker() as m:
        m.get(f"{API}/meetings", json=body)
        assert list(hook.list_meetings()) == []
    assert m.call_count == 1


def test_string_page_numbers_are_understood(hook):
    pages = [
        {"bookings": [{"sid": "a"}], "pagination": {"total_pages": 2, "current_page_number": "1"}},
        {"bookings": [{"sid": "b"}], "pagination": {"total_pages": 2, "current_page_number": "2"}},
    ]
    with rm.Mocker() as m:
        m.get(f"{API}/bookings", [{"json": p} for p in pages])
        assert [b["sid"] for b in hook.list_bookings()] == ["a", "b"]


# -- 6. a 2xx without a booking is not a booking ------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 201, "text": ""},
        {"status_code": 204},
        {"json": {}},
        {"json": {"message": "ok"}},
        {"json": {"sid": ""}},
        {"json": {"sid": None}},
        {"json": {"sid": 12}},
    ],
    ids=["201-empty", "204", "empty-object", "message-only", "empty-sid", "null-sid", "number-sid"],
)
def test_create_booking_answered_without_a_sid_is_outcome_unknown(hook, answer):
    with rm.Mocker() as m:
        m.post(f"{API}/bookings", [answer, {"json": BOOKING}])
        with pytest.raises(NeetoCalOutcomeUnknownError, match="NeetoCal answered 2xx without a booking sid") as caught:
            hook.create_booking({})
    assert m.call_count == 1
    assert isinstance(caught.value.cause, NeetoCalServerError)


@pytest.mark.parametrize("answer", [{"status_code": 200, "text": ""}, {"json": {"message": "Booking updated"}}])
def test_reschedule_answered_without_a_sid_is_outcome_unknown(hook, answer):
    with rm.Mocker() as m:
        m.patch(f"{API}/bookings/abc", [answer, {"json": BOOKING}])
        with pytest.raises(NeetoCalOutcomeUnknownError, match="without a booking sid"):
            hook.reschedule_booking("abc", {"slot_date": "2030-01-02"})
    assert m.call_count == 1


# -- 7. timeouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "nan",
        "inf",
        "-inf",
        "NaN",
        True,
        False,
        "true",
        float("nan"),
        float("inf"),
        [1, 2, 3],
        [5],
        (),
        "0",
        -1,
        {"a": 1},
    ],
    ids=repr,
)
def test_timeout_extra_that_is_not_positive_finite_seconds_is_refused(neetocal_conn, value):
    neetocal_conn("acme", timeout=value if not isinstance(value, float) else str(value))
    with pytest.raises(NeetoCalConfigError) as caught:
        _ = make_hook().timeout
    assert caught.value.field == "timeout"
    assert "expected a positive, finite number of seconds" in str(caught.value)


@pytest.mark.parametrize("value", [(float("nan"), 1), (1, float("inf")), (True, 3), [1, 2, 3]], ids=repr)
def test_timeout_argument_is_checked_the_same_way(neetocal_conn, value):
    neetocal_conn("acme")
    with pytest.raises(NeetoCalConfigError, match="timeout"):
        _ = make_hook(timeout=value).timeout


@pytest.mark.parametrize(("value", "expected"), [("12", (12.0, 12.0)), (2.5, (2.5, 2.5)), ([3, "7"], (3.0, 7.0))])
def test_timeout_accepts_seconds_or_a_pair(neetocal_conn, value, expected):
    neetocal_conn("acme", timeout=value)
    assert make_hook().timeout == expected


# -- 9. the secrets masker's private module is optional ----------------------------------------

_PRIVATE_MASKER_MODULES = ("airflow.sdk._shared.secrets_masker", "airflow.utils.log.secrets_masker")


def _without_private_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the private module _compat reads on this Airflow unimportable (only that one: on 3.1,
    Airflow's own connection code still imports the other)."""
    name = _PRIVATE_MASKER_MODULES[0] if _compat.AIRFLOW_V_3_1_PLUS else _PRIVATE_MASKER_MODULES[1]
    monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.skipif(
    not _compat.AIRFLOW_V_3_1_PLUS,
    reason="Airflow 2's public mask_secret lives in that same module: without it nothing can mask",
)
def test_compat_imports_without_airflows_private_masker_module(monkeypatch):
    _without_private_masker(monkeypatch)
    spec = importlib.util.spec_from_file_location("_compat_without_masker", _compat.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._secrets_masker() is None


@pytest.mark.skipif(
    not _compat.AIRFLOW_V_3_2_PLUS,
    reason="before 3.2, Airflow reads connections through that same private module: blocking it blocks them",
)
def test_without_the_private_masker_the_key_goes_to_the_public_mask_secret(monkeypatch, neetocal_conn):
    masked: list[str] = []
    monkeypatch.setattr(_compat, "mask_secret", masked.append)
    _without_private_masker(monkeypatch)
    _compat.mask_secret_of_any_length("k3y")
    neetocal_conn("acme", password="abc")
    _ = make_hook().base_url
    assert masked == ["k3y", "abc"]
