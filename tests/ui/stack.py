"""A throw-away Airflow 3 (API server, DAG processor, scheduler) plus the sandbox, on 127.0.0.1.

Each daemon runs in its own process group (the scheduler forks workers) on free ports, with a
project-local ``AIRFLOW_HOME`` and SQLite, no login (simple auth manager, everyone admin) and
the Test Connection button enabled. Stopping kills each group, whatever state it is in.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SANDBOX_API_KEY = "ui-test-key-0123456789-abcdef"
#: Fixed, 64+ characters: the API server and the workers must agree on it.
JWT_SECRET = "neetocal-ui-test-jwt-secret-" + "0123456789abcdef" * 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AirflowStack:
    """The processes and addresses of one throw-away Airflow, see the module docstring."""

    home: Path
    dags_folder: Path
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    api_port: int = field(default_factory=free_port)
    log_server_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)
    sandbox_url: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            }
        )
        if self.sandbox_url:
            # What the triggered DAG's tasks use; the UI test adds its own connections on top.
            env["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
                {"conn_type": "neetocal", "host": self.sandbox_url, "password": SANDBOX_API_KEY}
            )
        return env

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        self.logs[name] = log
        process = subprocess.Popen(
            command, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True
        )
        self.processes[name] = process
        return process

    def start_sandbox(self) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_neetocal.sandbox", "--port", "0", "--api-key", SANDBOX_API_KEY],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=(self.home / "sandbox.log").open("wb"),
            cwd=self.home,
            start_new_session=True,
        )
        self.processes["sandbox"] = process
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        prefix = "NeetoCal sandbox listening on "
        assert line.startswith(prefix), f"sandbox did not start: {line!r}"
        self.sandbox_url = line[len(prefix) :].split()[0]

    def start(self, *, with_scheduler: bool = True) -> AirflowStack:
        started = time.monotonic()
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.start_sandbox()
        subprocess.run(
            [str(self.bin_dir / "airflow"), "db", "migrate"],
            env=self.env(),
            cwd=self.home,
            check=True,
            stdout=(self.home / "db-migrate.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.timings["db migrate"] = time.monotonic() - started
        self.spawn("api-server", [str(self.bin_dir / "airflow"), "api-server"])
        if with_scheduler:
            self.spawn("dag-processor", [str(self.bin_dir / "airflow"), "dag-processor"])
            self.spawn("scheduler", [str(self.bin_dir / "airflow"), "scheduler"])
        self.wait_for(lambda: self.api("GET", "/api/v2/monitor/health") is not None, 120, "the API server")
        self.timings["API server up"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
                except ProcessLookupError:
                    pass
            if name in self.logs:
                self.logs[name].close()

    def wait_for(self, condition: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{name} exited with {process.returncode}; see {self.home / (name + '.log')}")
            result = condition()
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {self.home}")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the Airflow REST API (no token needed: all admins); ``None`` when it cannot answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"{}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def sandbox_bookings(self, **query: str) -> list[dict[str, Any]]:
        url = f"{self.sandbox_url}/api/external/v1/bookings?" + "&".join(f"{k}={v}" for k, v in query.items())
        request = urllib.request.Request(url, headers={"X-Api-Key": SANDBOX_API_KEY})
        with urllib.request.urlopen(request, timeout=10) as response:
            return list(json.loads(response.read())["bookings"])
