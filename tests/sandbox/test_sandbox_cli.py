"""``python -m airflow_provider_neetocal.sandbox`` as a real subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.sandbox.conftest import TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Iterator

LISTENING = re.compile(r"NeetoCal sandbox listening on (https?://127\.0\.0\.1:\d+) \(API key: (\S+)\)")


class RunningCli:
    def __init__(self, process: subprocess.Popen[str], url: str, api_key: str) -> None:
        self.process = process
        self.url = url
        self.api_key = api_key

    def get(self, route: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + "/api/external/v1" + route, headers={"X-Api-Key": self.api_key}, **kwargs)

    def stop(self, sig: int) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=TIMEOUT)
        return self.process.returncode, out, err


def _start(*args: str, env: dict[str, str] | None = None) -> RunningCli:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_neetocal.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=20)
    if not lines or not LISTENING.fullmatch(lines[0].strip()):
        process.kill()
        _out, err = process.communicate()
        pytest.fail(f"the sandbox did not announce itself: {lines!r} {err}")
    match = LISTENING.fullmatch(lines[0].strip())
    assert match is not None
    return RunningCli(process, match.group(1), match.group(2))


@pytest.fixture
def cli_processes() -> Iterator[list[RunningCli]]:
    started: list[RunningCli] = []
    yield started
    for cli in started:
        if cli.process.poll() is None:
            cli.process.kill()
            cli.process.communicate()


def test_cli_serves_and_stops_on_sigterm(cli_processes: list[RunningCli]) -> None:
    cli = _start("--api-key", "cli-secret-key-42")
    cli_processes.append(cli)
    assert cli.api_key == "cli-secret-key-42"
    assert cli.get("/meetings", timeout=TIMEOUT).status_code == 200
    denied = requests.get(cli.url + "/api/external/v1/meetings", headers={"X-Api-Key": "nope"}, timeout=TIMEOUT)
    assert denied.status_code == 401
    code, out, err = cli.stop(signal.SIGTERM)
    assert code == 0
    assert out == ""  # the one announcement line was already read
    assert "GET /api/external/v1/meetings -> 200" in err
    assert "cli-secret-key-42" not in err
    assert "nope" not in err


def test_cli_reads_the_key_from_the_environment_and_applies_faults(cli_processes: list[RunningCli]) -> None:
    cli = _start("--rate-limit-every", "2", "--retry-after", "none", env={"NEETOCAL_SANDBOX_API_KEY": "env-key-123"})
    cli_processes.append(cli)
    assert cli.api_key == "env-key-123"
    assert cli.get("/meetings", timeout=TIMEOUT).status_code == 200
    limited = cli.get("/meetings", timeout=TIMEOUT)
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    code, _, err = cli.stop(signal.SIGINT)
    assert code == 0
    assert "env-key-123" not in err


def test_cli_generates_a_random_key(cli_processes: list[RunningCli]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "NEETOCAL_SANDBOX_API_KEY"}
    process_env = {"NEETOCAL_SANDBOX_API_KEY": ""}
    cli = _start(env={**env, **process_env})
    cli_processes.append(cli)
    assert re.fullmatch(r"sandbox-[0-9a-f]{32}", cli.api_key)
    assert cli.stop(signal.SIGTERM)[0] == 0


def test_cli_rejects_a_bad_config(tmp_path: Any) -> None:
    config = tmp_path / "meetings.json"
    config.write_text('{"meetings": []}')
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_neetocal.sandbox", "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
    )
    assert result.returncode == 2
    assert "meetings" in result.stderr
