"""One-shot faults for answers a hardened client must survive: huge, slow, repeated, raw or empty."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from airflow_provider_neetocal.sandbox import Fault, NeetoCalSandbox
from tests.sandbox.conftest import Client, booking_payload, quick_sync


def _book(client: Client, hour: int = 1, **kwargs: object) -> requests.Response:
    """POST a valid quick-sync booking; ``kwargs`` go to ``requests`` (e.g. ``stream``)."""
    payload = booking_payload(**quick_sync(slot_start_time=f"{hour:02d}:00 PM"))
    return client.post("/bookings", json=payload, **kwargs)


# ---- oversized -----------------------------------------------------------------------------------


def test_oversized_answers_20_mib_of_html_with_content_length_and_commits_nothing(
    client: Client, sandbox: NeetoCalSandbox
) -> None:
    sandbox.inject("oversized", method="POST", path="/bookings")
    response = _book(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Length"] == str(20 * 1024 * 1024)
    assert len(response.content) == 20 * 1024 * 1024
    assert response.content.startswith(b"<html>")
    assert response.content.rstrip().endswith(b"</html>")
    assert sandbox.bookings == []
    assert (sandbox.requests[-1].status, sandbox.requests[-1].fault) == (200, "oversized")


def test_oversized_with_status_and_size(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("oversized", status=502, size=300_000)
    response = client.get("/meetings")
    assert response.status_code == 502
    assert len(response.content) == 300_000
    assert b"502 Bad Gateway" in response.content


def test_oversized_smaller_than_the_page_is_cut_to_size(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("oversized", size=10)
    response = client.get("/meetings")
    assert response.content == b"<html>\r\n<h"
    assert client.get("/meetings").status_code == 200


def test_oversized_lets_a_streaming_client_stop_early(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("oversized")
    with client.get("/meetings", stream=True) as response:
        assert int(response.headers["Content-Length"]) == 20 * 1024 * 1024
        assert len(response.raw.read(1024)) == 1024
    assert client.get("/meetings").status_code == 200


# ---- commit_then_trickle -------------------------------------------------------------------------


def test_commit_then_trickle_sends_a_complete_answer_one_byte_per_write(
    client: Client, sandbox: NeetoCalSandbox
) -> None:
    sandbox.inject("commit_then_trickle", seconds=0)
    response = _book(client)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.json() == sandbox.bookings[0]
    assert (sandbox.requests[-1].status, sandbox.requests[-1].fault) == (200, "commit_then_trickle")


def test_commit_then_trickle_commits_before_the_slow_body(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_trickle", seconds=0.2)
    with _book(client, stream=True) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) > 100
        assert len(sandbox.bookings) == 1
        started = time.monotonic()
        assert response.raw.read(3) == b'{"i'
        assert time.monotonic() - started >= 0.5


def test_commit_then_trickle_defaults_to_one_second_per_byte() -> None:
    assert Fault("commit_then_trickle").action().seconds == 1.0


# ---- repeat_page ---------------------------------------------------------------------------------


def test_repeat_page_answers_page_one_for_every_bookings_page(client: Client, sandbox: NeetoCalSandbox) -> None:
    for hour in (1, 2, 3):
        _book(client, hour)
    first = client.get("/bookings", params={"page_size": 1}).json()
    assert first["pagination"] == {"total_records": 3, "total_pages": 3, "current_page_number": 1, "page_size": 1}
    sandbox.inject("repeat_page", times=2, method="GET", path="/bookings")
    pages = [client.get("/bookings", params={"page_size": 1, "page_number": n}).json() for n in (2, 3)]
    assert pages == [first, first]
    assert [r.query.get("page_number") for r in sandbox.requests[-2:]] == ["2", "3"]
    assert [r.fault for r in sandbox.requests[-2:]] == ["repeat_page", "repeat_page"]
    second = client.get("/bookings", params={"page_size": 1, "page_number": 2}).json()
    assert second["pagination"]["current_page_number"] == 2
    assert second["bookings"] != first["bookings"]


def test_repeat_page_answers_page_one_for_meetings(client: Client, sandbox: NeetoCalSandbox) -> None:
    first = client.get("/meetings", params={"page_size": 2}).json()
    sandbox.inject("repeat_page", path="/meetings")
    assert client.get("/meetings", params={"page_size": 2, "page_number": 2}).json() == first


def test_repeat_page_leaves_other_routes_alone(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("repeat_page")
    assert _book(client).status_code == 200
    assert len(sandbox.bookings) == 1


# ---- raw -----------------------------------------------------------------------------------------


def test_raw_sends_the_body_verbatim_and_commits_nothing(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("raw", body='{"sid": 12, "status": null}')
    response = _book(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content == b'{"sid": 12, "status": null}'
    assert sandbox.bookings == []
    assert (sandbox.requests[-1].status, sandbox.requests[-1].fault) == (200, "raw")


def test_raw_with_a_status_and_no_body(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("raw", status=201)
    response = client.get("/meetings")
    assert response.status_code == 201
    assert response.content == b""


def test_raw_body_is_sent_as_utf8(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("raw", status=422, body='{"error": "Créneau indisponible"}')
    response = client.get("/meetings")
    assert response.status_code == 422
    assert response.json() == {"error": "Créneau indisponible"}


# ---- commit_then_empty / commit_then_sidless -----------------------------------------------------


def test_commit_then_empty_stores_and_answers_200_with_no_body(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_empty", method="POST", path="/bookings")
    response = _book(client)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "0"
    assert response.content == b""
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert len(sandbox.bookings) == 1
    assert sandbox.requests[-1].fault == "commit_then_empty"


def test_commit_then_sidless_stores_and_answers_an_empty_object(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_sidless", method="POST", path="/bookings")
    response = _book(client)
    assert response.status_code == 200
    assert response.json() == {}
    assert len(sandbox.bookings) == 1
    assert "already booked" in _book(client).json()["error"]


# ---- commit_then_tls_garbage over plain HTTP -----------------------------------------------------


def test_commit_then_tls_garbage_over_plain_http_is_a_garbage_answer(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_tls_garbage")
    with pytest.raises(requests.ConnectionError):
        _book(client)
    assert len(sandbox.bookings) == 1
    assert (sandbox.requests[-1].status, sandbox.requests[-1].fault) == (None, "commit_then_tls_garbage")


def test_commit_then_tls_garbage_bytes_look_like_a_tls_record(sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_tls_garbage")
    request = (f"GET /api/external/v1/meetings HTTP/1.1\r\nHost: x\r\nX-Api-Key: {sandbox.api_key}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
    assert received[:3] == b"\x17\x03\x03"
    assert int.from_bytes(received[3:5], "big") == len(received) - 5


# ---- validation ----------------------------------------------------------------------------------


def test_invalid_size_and_body_are_refused(sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(ValueError, match="size"):
        sandbox.inject("oversized", size=0)
    with pytest.raises(ValueError, match="body"):
        sandbox.inject("raw", body=b"{}")  # type: ignore[arg-type]
