"""The fault switch: periodic faults and one-shot injections, over real HTTP."""

from __future__ import annotations

import threading

import pytest
import requests

from airflow_provider_neetocal.sandbox import Faults, NeetoCalSandbox
from tests.sandbox.conftest import Client, booking_payload, quick_sync


def _book(client: Client, hour: int = 1, **kwargs: object) -> requests.Response:
    """POST a valid quick-sync booking; ``kwargs`` go to ``requests`` (e.g. ``timeout``)."""
    payload = booking_payload(**quick_sync(slot_start_time=f"{hour:02d}:00 PM"))
    return client.post("/bookings", json=payload, **kwargs)


# ---- periodic ------------------------------------------------------------------------------------


def test_rate_limit_every_third_request_with_retry_after(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(rate_limit_every=3, retry_after=2)
    statuses = [client.get("/meetings") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    limited = statuses[2]
    assert limited.json() == {"error": "Too many requests, try again after some time"}
    assert limited.headers["Retry-After"] == "2"


def test_rate_limit_without_retry_after(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(rate_limit_every=1, retry_after=None)
    response = client.get("/meetings")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_unauthenticated_requests_are_not_counted(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(rate_limit_every=2)
    requests.get(sandbox.api_url + "/meetings", timeout=5)
    assert client.get("/meetings").status_code == 200
    assert client.get("/meetings").status_code == 429


def test_server_error_every_nth_commits_nothing(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(server_error_every=1, server_error_status=503)
    response = _book(client)
    assert response.status_code == 503
    assert response.json() == {"error": "Service Unavailable"}
    assert sandbox.bookings == []


def test_commit_then_drop_stores_the_booking_but_the_client_sees_a_connection_error(
    client: Client, sandbox: NeetoCalSandbox
) -> None:
    sandbox.faults = Faults(commit_then_drop_every=2)
    assert _book(client, 1).status_code == 200
    with pytest.raises(requests.ConnectionError):
        _book(client, 2)
    assert [b["starts_at"] for b in sandbox.bookings] == ["2030-01-07T13:00:00.000Z", "2030-01-07T14:00:00.000Z"]
    assert sandbox.requests[-1].status is None
    assert sandbox.requests[-1].fault == "commit_then_drop"


def test_commit_then_drop_counts_only_booking_posts(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(commit_then_drop_every=1)
    assert client.get("/bookings").status_code == 200
    assert client.get("/meetings").status_code == 200
    with pytest.raises(requests.ConnectionError):
        _book(client)


def test_commit_then_502_stores_then_answers_an_html_gateway_page(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(commit_then_502_every=1)
    response = _book(client)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert len(sandbox.bookings) == 1


def test_latency_still_answers(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(latency=0.05)
    assert client.get("/meetings").status_code == 200


def test_invalid_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_limit_every"):
        Faults(rate_limit_every=0)
    with pytest.raises(ValueError, match="server_error_status"):
        Faults(server_error_every=1, server_error_status=404)


def test_setting_faults_restarts_the_count(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.faults = Faults(rate_limit_every=2)
    client.get("/meetings")
    sandbox.faults = Faults(rate_limit_every=2)
    assert client.get("/meetings").status_code == 200


# ---- one-shot ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "header"), [(1.0, "1"), (5, "5"), (None, None)])
def test_injected_rate_limit(
    client: Client, sandbox: NeetoCalSandbox, retry_after: float | None, header: str | None
) -> None:
    sandbox.inject("rate_limit", retry_after=retry_after)
    response = client.get("/meetings")
    assert response.status_code == 429
    assert response.headers.get("Retry-After") == header
    assert client.get("/meetings").status_code == 200


def test_injected_server_error_matches_method_and_path(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("server_error", method="POST", path="/bookings")
    assert client.get("/bookings").status_code == 200
    assert len(sandbox.pending_faults) == 1
    response = _book(client)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal Server Error"}
    assert sandbox.bookings == []
    assert sandbox.pending_faults == []
    assert _book(client).status_code == 200


def test_injected_fault_path_matches_by_prefix(client: Client, sandbox: NeetoCalSandbox) -> None:
    sid = _book(client).json()["sid"]
    sandbox.inject("server_error", path="bookings", status=504)
    assert client.post(f"/bookings/{sid}/cancel").status_code == 504
    assert sandbox.bookings[0]["status"] == "confirmed"


def test_injected_fault_applies_times_times(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("server_error", times=2)
    assert [client.get("/meetings").status_code for _ in range(3)] == [500, 500, 200]


def test_injected_html_error_commits_nothing(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("html_error", status=503)
    response = _book(client)
    assert response.status_code == 503
    assert "<html>" in response.text
    assert "503 Service Unavailable" in response.text
    assert sandbox.bookings == []


def test_injected_malformed_json_commits_nothing(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("malformed_json")
    response = _book(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert sandbox.bookings == []


def test_injected_drop_commits_nothing(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("drop")
    with pytest.raises(requests.ConnectionError):
        _book(client)
    assert sandbox.bookings == []
    assert _book(client).status_code == 200


def test_injected_commit_then_drop(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_drop", times=1, method="POST", path="/bookings")
    with pytest.raises(requests.ConnectionError):
        _book(client)
    assert len(sandbox.bookings) == 1
    assert "already booked" in _book(client).json()["error"]


def test_injected_commit_then_502(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("commit_then_502")
    assert _book(client).status_code == 502
    assert len(sandbox.bookings) == 1


def test_injected_commit_then_delay_lets_the_client_time_out_after_the_commit(
    client: Client, sandbox: NeetoCalSandbox
) -> None:
    sandbox.inject("commit_then_delay", seconds=5)
    with pytest.raises(requests.ReadTimeout):
        _book(client, timeout=0.3)
    assert len(sandbox.bookings) == 1


def test_injected_delay_then_answers_normally(client: Client, sandbox: NeetoCalSandbox) -> None:
    sandbox.inject("delay", seconds=0.05)
    assert _book(client).status_code == 200
    assert sandbox.requests[-1].fault == "delay"


def test_unknown_fault_kind_is_refused(sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(ValueError, match="Unknown fault kind"):
        sandbox.inject("explode")


def test_reset_clears_bookings_requests_and_faults(client: Client, sandbox: NeetoCalSandbox) -> None:
    _book(client)
    sandbox.faults = Faults(rate_limit_every=1)
    sandbox.inject("drop")
    sandbox.reset()
    assert (sandbox.bookings, sandbox.requests, sandbox.pending_faults) == ([], [], [])
    assert sandbox.faults == Faults()
    assert client.get("/meetings").status_code == 200


def test_stop_interrupts_a_long_delay() -> None:
    sandbox = NeetoCalSandbox().start()
    sandbox.inject("delay", seconds=60)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(
                requests.get(sandbox.api_url + "/meetings", headers={"X-Api-Key": sandbox.api_key}, timeout=30)
            )
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while sandbox.pending_faults:  # wait until the request is in the delay
        threading.Event().wait(0.01)
    sandbox.stop()
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)
