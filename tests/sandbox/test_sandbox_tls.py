"""HTTPS: the sandbox behind a self-signed certificate, and a TLS record corrupted after the commit."""

from __future__ import annotations

import http.client
import ipaddress
import signal
import ssl
from typing import TYPE_CHECKING

import pytest
import requests
from cryptography import x509

from airflow_provider_neetocal.sandbox import NeetoCalSandbox, make_self_signed_cert
from tests.sandbox.conftest import API_KEY, NOW, TIMEOUT, Clock, booking_payload, quick_sync
from tests.sandbox.test_sandbox_cli import RunningCli, _start

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_sandbox(cert: tuple[Path, Path]) -> Iterator[NeetoCalSandbox]:
    cert_path, key_path = cert
    with NeetoCalSandbox(api_key=API_KEY, now=Clock(NOW), tls_cert=cert_path, tls_key=key_path) as running:
        yield running


class HttpsClient:
    """A keep-alive session verifying against the sandbox's certificate.

    ``verify`` goes with every request: a ``Session.verify`` would lose to ``REQUESTS_CA_BUNDLE``
    when that is set in the environment (as it is on many CI machines).
    """

    def __init__(self, cert_path: Path) -> None:
        self.cert_path = str(cert_path)
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = API_KEY

    def get(self, url: str) -> requests.Response:
        return self.session.get(url, verify=self.cert_path, timeout=TIMEOUT)

    def post(self, url: str, payload: dict[str, object]) -> requests.Response:
        return self.session.post(url, json=payload, verify=self.cert_path, timeout=TIMEOUT)


@pytest.fixture
def session(cert: tuple[Path, Path]) -> Iterator[HttpsClient]:
    client = HttpsClient(cert[0])
    yield client
    client.session.close()


def _payload() -> dict[str, object]:
    return booking_payload(**quick_sync(slot_start_time="01:00 PM"))


def test_the_certificate_names_loopback_and_localhost(cert: tuple[Path, Path]) -> None:
    certificate = x509.load_pem_x509_certificate(cert[0].read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert cert[1].stat().st_mode & 0o077 == 0


def test_urls_say_https(https_sandbox: NeetoCalSandbox) -> None:
    assert https_sandbox.scheme == "https"
    assert https_sandbox.url == f"https://127.0.0.1:{https_sandbox.port}"
    assert https_sandbox.api_url.startswith("https://127.0.0.1:")


def test_a_verified_https_request_works(https_sandbox: NeetoCalSandbox, session: HttpsClient) -> None:
    response = session.get(https_sandbox.api_url + "/meetings")
    assert response.status_code == 200
    assert len(response.json()["meetings"]) == 4
    created = session.post(https_sandbox.api_url + "/bookings", _payload())
    assert created.status_code == 200
    assert created.json()["client_booking_url"].startswith(https_sandbox.url + "/bookings/")


def test_localhost_verifies_too(https_sandbox: NeetoCalSandbox, session: HttpsClient) -> None:
    url = f"https://localhost:{https_sandbox.port}/api/external/v1/meetings"
    assert session.get(url).status_code == 200


def test_an_unverified_certificate_is_refused(https_sandbox: NeetoCalSandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_sandbox.api_url + "/meetings", headers={"X-Api-Key": API_KEY}, timeout=TIMEOUT)


def test_keep_alive_reuses_one_tls_connection(https_sandbox: NeetoCalSandbox, cert: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(cert[0]))
    connection = http.client.HTTPSConnection("127.0.0.1", https_sandbox.port, context=context, timeout=TIMEOUT)
    try:
        statuses = []
        sockets = []
        for _ in range(3):
            connection.request("GET", "/api/external/v1/meetings", headers={"X-Api-Key": API_KEY})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert statuses == [200, 200, 200]
    assert sockets[0] is sockets[1] is sockets[2]
    assert isinstance(sockets[0], ssl.SSLSocket)


def test_a_plain_http_client_fails_and_the_sandbox_keeps_serving(
    https_sandbox: NeetoCalSandbox, session: HttpsClient
) -> None:
    plain = https_sandbox.url.replace("https://", "http://") + "/api/external/v1/meetings"
    with pytest.raises(requests.ConnectionError):
        requests.get(plain, headers={"X-Api-Key": API_KEY}, timeout=TIMEOUT)
    assert session.get(https_sandbox.api_url + "/meetings").status_code == 200


def test_commit_then_tls_garbage_stores_the_booking_and_the_client_gets_an_ssl_error(
    https_sandbox: NeetoCalSandbox, session: HttpsClient
) -> None:
    https_sandbox.inject("commit_then_tls_garbage", method="POST", path="/bookings")
    with pytest.raises(requests.exceptions.SSLError):
        session.post(https_sandbox.api_url + "/bookings", _payload())
    assert len(https_sandbox.bookings) == 1
    last = https_sandbox.requests[-1]
    assert (last.method, last.path, last.status, last.fault) == ("POST", "/bookings", None, "commit_then_tls_garbage")
    retried = session.post(https_sandbox.api_url + "/bookings", _payload())
    assert "already booked" in retried.json()["error"]


def test_commit_then_tls_garbage_with_plain_requests_post(
    https_sandbox: NeetoCalSandbox, cert: tuple[Path, Path]
) -> None:
    https_sandbox.inject("commit_then_tls_garbage")
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(
            https_sandbox.api_url + "/bookings",
            json=_payload(),
            headers={"X-Api-Key": API_KEY},
            verify=str(cert[0]),
            timeout=TIMEOUT,
        )
    assert len(https_sandbox.bookings) == 1


def test_other_faults_work_over_https(https_sandbox: NeetoCalSandbox, session: HttpsClient) -> None:
    https_sandbox.inject("commit_then_trickle", seconds=0)
    response = session.post(https_sandbox.api_url + "/bookings", _payload())
    assert response.json() == https_sandbox.bookings[0]
    https_sandbox.inject("oversized", size=1_000_000)
    assert len(session.get(https_sandbox.api_url + "/meetings").content) == 1_000_000


def test_tls_cert_and_key_go_together(cert: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        NeetoCalSandbox(tls_cert=cert[0])


def test_cli_serves_https(cert: tuple[Path, Path]) -> None:
    cli: RunningCli = _start("--tls-cert", str(cert[0]), "--tls-key", str(cert[1]), "--api-key", "tls-key-1")
    try:
        assert cli.url.startswith("https://127.0.0.1:")
        assert cli.get("/meetings", timeout=TIMEOUT, verify=str(cert[0])).status_code == 200
    finally:
        code, _, _ = cli.stop(signal.SIGTERM)
    assert code == 0
