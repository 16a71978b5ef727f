"""Regressions of the hostile review's findings that need no Airflow run: pure functions, the hook
against ``requests_mock`` or a tiny server on 127.0.0.1.

Each test names the behaviour it guarantees and the finding it comes from (A2, A3, A9a, A9b, the CA
nit). What is asserted is what a user would see: what a listing yields, what an error says, what a
look-up concludes, whether a request got through, and what the server saw of the client. Never wall
time. The DAG-level findings are in ``tests/integration/test_review_regressions.py``.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_neetocal.booking import build_booking_payload
from airflow_provider_neetocal.exactly_once import Absent, Unknowable, judge_lookup
from airflow_provider_neetocal.exceptions import MAX_BODY_EXCERPT, NeetoCalApiError, NeetoCalOutcomeUnknownError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.retries import RetryPolicy
from tests.conftest import TEST_API_KEY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: A loopback address nothing is sent to: every request below is answered by ``requests_mock``.
MOCKED = "http://127.0.0.1:9"
API = f"{MOCKED}/api/external/v1"
EVE = "eve@example.com"
MEETING = {"id": "m1", "name": "Weekly webinar", "slug": "weekly-webinar", "kind": "group"}


def make_hook(**kwargs: Any) -> NeetoCalHook:
    """A hook that neither repeats a failed request nor sleeps."""
    hook = NeetoCalHook(retry_policy=RetryPolicy(max_retries=0), **kwargs)
    hook._sleep = lambda seconds: None  # type: ignore[method-assign]
    return hook


@pytest.fixture
def hook(neetocal_conn: Callable[..., str]) -> NeetoCalHook:
    neetocal_conn(MOCKED)
    return make_hook()


# ---- A2: a page count that is a string, null or missing ---------------------------------------


def _page(items: list[dict[str, Any]], variant: str, number: int) -> dict[str, Any]:
    pagination: dict[str, Any] = {"total_records": 101, "current_page_number": number, "page_size": 100}
    if variant == "total_pages_string":
        pagination["total_pages"] = "2"
    elif variant == "total_pages_null":
        pagination["total_pages"] = None
    body: dict[str, Any] = {"bookings": items}
    if variant != "pagination_missing":
        body["pagination"] = pagination
    return body


@pytest.mark.parametrize("variant", ["total_pages_string", "total_pages_null", "pagination_missing"])
def test_a2_a_listing_without_an_integer_page_count_is_walked_past_its_first_full_page(
    hook: NeetoCalHook, variant: str
) -> None:
    older = [{"sid": f"old{i:04d}", "email": EVE} for i in range(100)]
    ours = {"sid": "ours123", "email": EVE}

    def answer(request: Any, context: Any) -> dict[str, Any]:
        number = int(request.qs["page_number"][0])
        return _page({1: older, 2: [ours]}.get(number, []), variant, number)

    with rm.Mocker() as mocked:
        mocked.get(f"{API}/bookings", json=answer)
        listed = list(hook.list_bookings(client_email=EVE))

    assert [b["sid"] for b in listed] == [b["sid"] for b in older] + ["ours123"]


# ---- A9a: an echoed key with a \u escape, cut by the excerpt ---------------------------------


def _key_fragments(text: str, shortest: int = 8) -> list[str]:
    """Every prefix and suffix of the key of at least ``shortest`` characters found in ``text``."""
    key = TEST_API_KEY
    pieces = {key[:n] for n in range(shortest, len(key) + 1)} | {key[-n:] for n in range(shortest, len(key) + 1)}
    return sorted(piece for piece in pieces if piece in text)


@pytest.mark.parametrize("cut_inside_key_at", [8, 12, 16, 20, 30])
@pytest.mark.parametrize("escaped", [0, 9], ids=["escape_first_char", "escape_a_middle_char"])
def test_a9a_a_key_echoed_with_a_unicode_escape_leaves_no_part_of_itself_in_the_error(
    hook: NeetoCalHook, cut_inside_key_at: int, escaped: int
) -> None:
    key = TEST_API_KEY
    escaped_key = key[:escaped] + f"\\u{ord(key[escaped]):04x}" + key[escaped + 1 :]
    lead = "invalid key "
    # The decoded message is cut to MAX_BODY_EXCERPT characters: pad it so the cut lands inside the key.
    padding = "x" * (MAX_BODY_EXCERPT - 3 - len(lead) - cut_inside_key_at)
    body = '{"error": "' + padding + lead + escaped_key + ' was refused"}'

    with rm.Mocker() as mocked:
        mocked.get(f"{API}/bookings/abc1234", status_code=422, text=body, headers={"Content-Type": "application/json"})
        with pytest.raises(NeetoCalApiError) as caught:
            hook.get_booking("abc1234")

    message = str(caught.value)
    assert lead.strip() in message  # NeetoCal's message is still quoted
    assert _key_fragments(message) == [], message


# ---- A9b: a starts_at / created_at without an offset ------------------------------------------


def test_a9b_a_booking_whose_starts_at_has_no_offset_makes_the_lookup_unknowable_not_absent() -> None:
    payload = build_booking_payload(
        meeting_slug="weekly-webinar",
        name="Eve",
        email=EVE,
        time_zone="Europe/London",
        slot_date="2030-07-15",
        slot_start_time="11:00 AM",
    )
    booking = {
        "sid": "abc1234",
        "email": EVE,
        "meeting_id": "m1",
        "status": "confirmed",
        "starts_at": "2030-07-15T11:00:00",  # London wall time: 10:00 UTC, our slot; read as UTC it is not
        "created_at": "2026-11-30T10:00:00Z",
    }

    lookup = judge_lookup([booking], payload, MEETING, run_started=None)

    assert isinstance(lookup, Unknowable), lookup
    assert "starts_at" in lookup.reason
    # Control: the same booking with its offset is simply another slot.
    assert judge_lookup([{**booking, "starts_at": "2030-07-15T11:00:00Z"}], payload, MEETING, run_started=None) == (
        Absent()
    )


def test_a9b_a_slotless_lookup_over_a_booking_whose_created_at_has_no_offset_is_unknowable() -> None:
    payload = build_booking_payload(meeting_slug="weekly-webinar", name="Eve", email=EVE, time_zone="Europe/London")
    booking = {
        "sid": "abc1234",
        "email": EVE,
        "meeting_id": "m1",
        "status": "confirmed",
        "starts_at": "2030-07-15T10:00:00Z",
        "created_at": "2026-11-30T09:58:00",  # no offset: which instant is unknown
    }
    run_started = pendulum.datetime(2026, 11, 30, 10, 0, tz="UTC")

    lookup = judge_lookup([booking], payload, MEETING, run_started=run_started)

    assert isinstance(lookup, Unknowable), lookup
    assert "created_at" in lookup.reason


# ---- CA nit: a stale REQUESTS_CA_BUNDLE and a plain-http loopback server ------------------------


class _MeetingsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"meetings": [MEETING], "pagination": {"total_pages": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def meetings_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MeetingsHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_nit_a_stale_ca_bundle_variable_does_not_break_a_plain_http_loopback_connection(
    neetocal_conn: Callable[..., str],
    meetings_server: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    variable: str,
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "gone" / "ca.pem"))
    neetocal_conn(f"http://127.0.0.1:{meetings_server.server_port}")

    assert [m["slug"] for m in make_hook().list_meetings()] == ["weekly-webinar"]


# ---- A3 (known limit): response headers trickling past the total deadline ---------------------


class HeaderTrickler:
    """A 127.0.0.1 server that answers the status line, then trickles one header byte at a time.

    It records how many header bytes it got out before the client hung up, and whether it got to
    the end of the trickle (the client stayed connected all along).
    """

    def __init__(self, header_bytes: int, pause: float) -> None:
        self.header_bytes = header_bytes
        self.pause = pause
        self.sent = 0
        self.finished = threading.Event()
        self.completed = False
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
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(self.header_bytes):
                    conn.sendall(b"a")
                    self.sent += 1
                    stop.wait(self.pause)
                body = b'{"sid": "abc1234"}'
                conn.sendall(b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                self.completed = True
            except OSError:
                pass
            finally:
                self.finished.set()

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=10)


def test_a3_a_client_hangs_up_on_headers_trickling_past_the_total_deadline(neetocal_conn: Callable[..., str]) -> None:
    # 30 header bytes, one every 0.1 s (each read well under the 0.2 s read timeout); the deadline is
    # 0.4 s, so a client honouring it leaves after a handful of bytes, long before the 30th.
    trickler = HeaderTrickler(header_bytes=30, pause=0.1)
    try:
        neetocal_conn(f"http://127.0.0.1:{trickler.port}")
        hook = make_hook(timeout=(0.2, 0.2))
        with pytest.raises(NeetoCalOutcomeUnknownError, match=r"timed out: the answer did not arrive within 0\.4 s"):
            hook.create_booking({"meeting_slug": "quick-sync", "name": "Eve", "email": EVE, "time_zone": "UTC"})
        hook.session.close()
        assert trickler.finished.wait(10)
    finally:
        trickler.close()

    assert not trickler.completed, f"the client stayed for all {trickler.sent} trickled header bytes"
