"""Authentication, routing, body parsing and the wire format."""

from __future__ import annotations

import logging

import pytest
import requests

from airflow_provider_neetocal.sandbox import DEFAULT_PORT, NeetoCalSandbox
from tests.sandbox.conftest import API_KEY, TIMEOUT, Client, booking_payload

UNAUTHENTICATED = {"error": "Could not authenticate, invalid API Key"}


def test_default_port_constant() -> None:
    assert DEFAULT_PORT == 8765


def test_urls_point_at_loopback_and_the_v1_prefix(sandbox: NeetoCalSandbox) -> None:
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
    assert sandbox.api_url == sandbox.url + "/api/external/v1"


def test_random_api_key_when_none_given() -> None:
    first, second = NeetoCalSandbox(), NeetoCalSandbox()
    assert first.api_key.startswith("sandbox-")
    assert len(first.api_key) == len("sandbox-") + 32
    assert first.api_key != second.api_key


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}])
def test_missing_or_wrong_key_is_401(sandbox: NeetoCalSandbox, headers: dict[str, str]) -> None:
    response = requests.get(sandbox.api_url + "/meetings", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


def test_unauthenticated_booking_is_not_stored(sandbox: NeetoCalSandbox) -> None:
    response = requests.post(sandbox.api_url + "/bookings", json=booking_payload(), timeout=TIMEOUT)
    assert response.status_code == 401
    assert sandbox.bookings == []


def test_unknown_route_is_404(client: Client) -> None:
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_wrong_method_on_a_known_path_is_404(client: Client) -> None:
    assert client.request("DELETE", "/bookings").status_code == 404


def test_answers_are_json_with_content_length(client: Client) -> None:
    response = client.get("/meetings")
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_keep_alive_serves_several_requests_on_one_connection(client: Client) -> None:
    for _ in range(3):
        response = client.get("/meetings")
        assert response.status_code == 200
        assert response.headers.get("Connection", "keep-alive").lower() != "close"


def test_malformed_json_body_is_400(client: Client) -> None:
    response = client.post("/bookings", data=b'{"name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]


def test_json_array_body_is_400(client: Client) -> None:
    response = client.post("/bookings", json=[booking_payload()])
    assert response.status_code == 400
    assert "object" in response.json()["error"]


def test_json_body_without_json_content_type_is_400(client: Client) -> None:
    import json

    response = client.post("/bookings", data=json.dumps(booking_payload()), headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]


def test_health_needs_no_key(sandbox: NeetoCalSandbox) -> None:
    response = requests.get(sandbox.url + "/_sandbox/health", timeout=TIMEOUT)
    assert response.json() == {"status": "ok"}


def test_booking_urls_serve_a_page(client: Client, sandbox: NeetoCalSandbox) -> None:
    booking = client.booked()
    for url in (booking["client_booking_url"], booking["admin_booking_url"]):
        page = requests.get(url, timeout=TIMEOUT)
        assert page.status_code == 200
        assert booking["sid"] in page.text
    assert requests.get(sandbox.url + "/bookings/nope123", timeout=TIMEOUT).status_code == 404


def test_requests_are_recorded_without_the_key(client: Client, sandbox: NeetoCalSandbox) -> None:
    client.book()
    client.get("/bookings", params={"type": "upcoming"})
    requests.get(sandbox.api_url + "/meetings", headers={"X-Api-Key": "wrong-key"}, timeout=TIMEOUT)
    create, listing, denied = sandbox.requests
    assert (create.method, create.path, create.status) == ("POST", "/bookings", 200)
    assert create.json == booking_payload()
    assert create.full_path == "/api/external/v1/bookings"
    assert create.authenticated
    assert (listing.method, listing.path, listing.query, listing.json) == (
        "GET",
        "/bookings",
        {"type": "upcoming"},
        None,
    )
    assert (denied.status, denied.authenticated) == (401, False)
    for recorded in sandbox.requests:
        assert "x-api-key" not in {name.lower() for name in recorded.headers}
        assert API_KEY not in repr(recorded)
        assert "wrong-key" not in repr(recorded)


def test_api_key_never_reaches_the_log(
    client: Client, sandbox: NeetoCalSandbox, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    client.book()
    client.book()  # 422: slot taken
    client.get("/nope")
    requests.get(sandbox.api_url + "/meetings", headers={"X-Api-Key": "wrong-key-123"}, timeout=TIMEOUT)
    client.post("/bookings", data=b"{", headers={"Content-Type": "application/json"})
    assert "POST /api/external/v1/bookings -> 200" in caplog.text
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert API_KEY not in text
        assert "wrong-key-123" not in text


def test_stop_releases_the_port_promptly() -> None:
    sandbox = NeetoCalSandbox().start()
    port = sandbox.port
    session = requests.Session()
    session.get(sandbox.url + "/_sandbox/health", timeout=TIMEOUT)  # leaves a keep-alive connection open
    sandbox.stop()
    with NeetoCalSandbox(port=port) as again:
        assert again.port == port
        assert requests.get(again.url + "/_sandbox/health", timeout=TIMEOUT).status_code == 200
    session.close()


def test_stop_twice_is_harmless() -> None:
    sandbox = NeetoCalSandbox().start()
    sandbox.stop()
    sandbox.stop()
    assert not sandbox.running


def test_connections_are_counted_opened_open_and_most_at_once(sandbox: NeetoCalSandbox) -> None:
    headers = {"X-Api-Key": API_KEY}
    before = sandbox.connection_counts(reset=True)
    assert before["opened"] >= 0
    with requests.Session() as session:  # keep-alive: two requests, one connection
        for _ in range(2):
            assert session.get(sandbox.api_url + "/meetings", headers=headers, timeout=TIMEOUT).status_code == 200
        with requests.Session() as other:
            assert other.get(sandbox.api_url + "/meetings", headers=headers, timeout=TIMEOUT).status_code == 200
            counts = sandbox.connection_counts()
    assert counts == {"opened": 2, "open": 2, "most_open": 2}
    assert sandbox.connection_counts(reset=True)["opened"] == 2
    assert sandbox.connection_counts()["opened"] == 0
