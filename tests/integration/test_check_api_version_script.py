"""``scripts/check_api_version.py`` against the sandbox: it books, reads, reschedules and cancels one booking
on the chosen version and prints the raw answers (never the key)."""

from __future__ import annotations

import importlib.util
import io

import pytest

from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.conftest import ROOT, TEST_API_KEY

pytestmark = pytest.mark.integration


def load_script():
    spec = importlib.util.spec_from_file_location("check_api_version", ROOT / "scripts" / "check_api_version.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("version", "answers", "shape", "create_status"),
    [
        pytest.param("v1", "bare", "bare", 200, id="v1"),
        pytest.param("v2", "wrapped", 'wrapped {"booking": ...}', 201, id="v2-wrapped"),
    ],
)
def test_the_check_books_moves_and_cancels_one_booking_and_prints_the_raw_answers(
    monkeypatch: pytest.MonkeyPatch, version: str, answers: str, shape: str, create_status: int
) -> None:
    monkeypatch.setenv("NEETOCAL_API_KEY", TEST_API_KEY)
    out = io.StringIO()
    with NeetoCalSandbox(api_key=TEST_API_KEY, v2_booking_answers=answers) as sandbox:
        code = load_script().main(
            ["--base-url", sandbox.url, "--api-version", version, "--meeting-slug", "quick-sync"], out=out
        )
        (booking,) = sandbox.bookings
        routes = [(r.method, r.path) for r in sandbox.requests if r.method != "GET"]

    printed = out.getvalue()
    assert code == 0, printed
    assert booking["status"] == "cancelled"
    assert booking["starts_at"] != booking["created_at"]
    sid = booking["sid"]
    cancel = ("POST", f"/bookings/{sid}/cancel") if version == "v1" else ("PATCH", f"/bookings/{sid}")
    assert routes == [("POST", "/bookings"), ("PATCH", f"/bookings/{sid}"), cancel]
    assert f"create: HTTP {create_status}, booking answered {shape}" in printed
    assert f"get: HTTP 200, booking answered {shape}" in printed
    assert "after cancel: status 'cancelled'" in printed
    assert f'"sid": "{sid}"' in printed
    assert TEST_API_KEY not in printed


def test_the_check_refuses_an_unknown_version_before_sending(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("NEETOCAL_API_KEY", TEST_API_KEY)
    with NeetoCalSandbox(api_key=TEST_API_KEY) as sandbox, pytest.raises(SystemExit) as exited:
        load_script().main(["--base-url", sandbox.url, "--api-version", "v3", "--meeting-slug", "quick-sync"])
    assert exited.value.code == 2
    assert "expected one of v1, v2" in capsys.readouterr().err
    assert sandbox.requests == []
