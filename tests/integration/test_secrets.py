"""The API key never shows up in anything Airflow or the provider produces.

Each test uses a fresh, recognisable key (``LEAKCANARY-`` + 24 random hex characters) and greps
everything a run leaves behind: captured stdout/stderr and logging, every file under the Airflow
home and the task log folder (which includes the metadata DB: XComs, rendered template fields, the
``log`` table), the rendered template fields and XComs read back through Airflow's models, exception
texts, and the sandbox's own log. Besides the whole key, any 8 consecutive characters of its random
part count as a leak (an excerpt cut in the middle of the key is still a leak).

Short keys (3 characters, below Airflow's masker minimum of 5) get the same treatment without relying
on the masker: the provider must not write them anywhere itself.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_neetocal.exceptions import NeetoCalApiError, NeetoCalAuthError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.retries import RetryPolicy
from airflow_provider_neetocal.sandbox import NeetoCalSandbox
from tests.compat import xcoms_of
from tests.conftest import neetocal_conn_json
from tests.integration.test_example_dags import run_dag

pytestmark = pytest.mark.integration

CANARY_PREFIX = "LEAKCANARY-"
#: Three characters, below Airflow's ``min_length_masked_secret`` (5); '~' keeps grep free of false hits.
SHORT_KEY = "Z~q"
ARGS = {
    "meeting_slug": "quick-sync",
    "name": "Eve Smith",
    "attendee_email": "eve@example.com",
    "time_zone": "UTC",
    "slot_date": "2030-07-15",
    "slot_start_time": "10:00 AM",
}
NO_RETRIES = RetryPolicy(max_retries=0, max_rate_limit_waits=0)


def new_canary() -> str:
    return CANARY_PREFIX + secrets.token_hex(12)


def leaks(text: str, key: str) -> list[str]:
    """The key, or any 8 consecutive characters of its random part, wherever they occur in ``text``."""
    if key.startswith(CANARY_PREFIX):
        secret = key[len(CANARY_PREFIX) :]
        pieces = {key} | {secret[i : i + 8] for i in range(len(secret) - 7)}
    else:
        pieces = {key}
    return sorted(
        {
            f"{piece!r} at {text.index(piece)}: ...{text[max(0, text.index(piece) - 60) : text.index(piece) + 60]!r}..."
            for piece in pieces
            if piece in text
        }
    )


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.exists():
            yield from (path for path in root.rglob("*") if path.is_file())


def leaks_in_files(key: str, *roots: Path) -> dict[str, list[str]]:
    found = {}
    for path in files_under(*roots):
        text = path.read_bytes().decode("latin-1")
        hits = leaks(text, key)
        if hits:
            found[str(path)] = hits
    return found


class SandboxLog(logging.Handler):
    """Everything the sandbox's own logger says, at every level."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def sandbox_log() -> Iterator[SandboxLog]:
    logger = logging.getLogger("airflow_provider_neetocal.sandbox")
    handler, level = SandboxLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def task_log_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "task-logs"
    folder.mkdir()
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(folder))
    return folder


@contextmanager
def sandbox_with_key(monkeypatch: pytest.MonkeyPatch, server_key: str, client_key: str) -> Iterator[NeetoCalSandbox]:
    with NeetoCalSandbox(api_key=server_key) as running:
        monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_DEFAULT", neetocal_conn_json(running.url, client_key))
        yield running


def rendered_fields_of(dag_id: str, run_id: str) -> list[Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id).all()
        return [(row.task_id, row.map_index, row.rendered_fields) for row in rows]


def everything_produced(runs: list[tuple[str, str]], log_output: Any, sandbox_log: SandboxLog) -> dict[str, str]:
    """Every text Airflow and the provider produced for these runs, by where it came from."""
    texts = {"captured output and logging": log_output(), "sandbox log": "\n".join(sandbox_log.lines)}
    for dag_id, run_id in runs:
        texts[f"xcom {dag_id}"] = repr(xcoms_of(dag_id, run_id))
        texts[f"rendered fields {dag_id}"] = json.dumps(rendered_fields_of(dag_id, run_id), default=repr)
    return texts


def assert_no_leak(key: str, texts: dict[str, str], task_log_folder: Path) -> None:
    found = {where: hits for where, text in texts.items() if (hits := leaks(text, key))}
    found |= leaks_in_files(key, Path(os.environ["AIRFLOW_HOME"]), task_log_folder)
    assert found == {}


# --- the example DAGs with a recognisable key ---------------------------------------------------------


def test_running_every_example_dag_leaves_the_key_nowhere(
    dagbag, monkeypatch, log_output, sandbox_log, task_log_folder
):
    import pendulum

    key = new_canary()
    with sandbox_with_key(monkeypatch, key, key) as sandbox:
        manual = run_dag(dagbag, "neetocal_manual_booking", run_conf={"slot_start": "2030-07-16T11:00:00+05:30"})
        scheduled = run_dag(
            dagbag, "neetocal_scheduled_followup", logical_date=pendulum.datetime(2030, 7, 12, 6, tz="UTC")
        )
        pipeline = run_dag(dagbag, "neetocal_pipeline")
        requests_seen = len(sandbox.requests)
        bookings = len(sandbox.bookings)

    assert (manual.state, scheduled.state, pipeline.state) == ("success", "success", "success")
    assert requests_seen > 0
    assert bookings >= 3  # the key really was used, and accepted
    runs = [(run.dag_id, run.run_id) for run in (manual, scheduled, pipeline)]
    texts = everything_produced(runs, log_output, sandbox_log)
    # Controls: the places searched really hold the runs' output.
    assert "NeetoCal booking" in texts["captured output and logging"]
    assert "POST /api/external/v1/bookings" in texts["sandbox log"]
    assert all(texts[f"rendered fields {dag_id}"] != "[]" for dag_id, _ in runs)
    assert_no_leak(key, texts, task_log_folder)


def test_a_run_failing_on_a_wrong_key_leaves_the_wrong_key_nowhere(
    dagbag, monkeypatch, log_output, sandbox_log, task_log_folder
):
    wrong_key = new_canary()
    with sandbox_with_key(monkeypatch, new_canary(), wrong_key) as sandbox:
        run = run_dag(dagbag, "neetocal_manual_booking", run_conf={"slot_start": "2030-07-16T11:00:00+05:30"})
        statuses = [request.status for request in sandbox.requests]

    assert run.state == "failed"
    assert 401 in statuses
    assert_no_leak(wrong_key, everything_produced([(run.dag_id, run.run_id)], log_output, sandbox_log), task_log_folder)


def exception_texts(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    parts += [repr(getattr(error, name, None)) for name in ("args", "errors", "api_message", "cause")]
    return "\n".join(parts)


@pytest.mark.parametrize("key_kind", ["canary", "short"])
def test_the_operator_failing_on_a_wrong_key_says_so_without_the_key(monkeypatch, log_output, sandbox_log, key_kind):
    wrong_key = new_canary() if key_kind == "canary" else SHORT_KEY
    with sandbox_with_key(monkeypatch, new_canary(), wrong_key):
        operator = NeetoCalCreateBookingOperator(task_id="book", **ARGS)
        with pytest.raises(NeetoCalAuthError) as caught:  # met by the look-up before the first POST
            operator.execute({"ti": _TI(), "dag_run": None})

    assert caught.value.status == 401
    texts = {"exception": exception_texts(caught.value), "logs": log_output(), "sandbox": "\n".join(sandbox_log.lines)}
    assert {where: hits for where, text in texts.items() if (hits := leaks(text, wrong_key))} == {}


def test_a_short_key_that_works_is_written_nowhere(monkeypatch, log_output, sandbox_log, task_log_folder):
    with sandbox_with_key(monkeypatch, SHORT_KEY, SHORT_KEY) as sandbox:
        ti = _TI()
        booking = NeetoCalCreateBookingOperator(task_id="book", **ARGS).execute({"ti": ti, "dag_run": None})
        ok, message = NeetoCalHook().test_connection()

    assert sandbox.bookings == [booking]
    assert ok
    texts = {
        "logs": log_output(),
        "sandbox": "\n".join(sandbox_log.lines),
        "return value and xcoms": repr((booking, ti.xcoms)),
        "test_connection": message,
    }
    assert {where: hits for where, text in texts.items() if (hits := leaks(text, SHORT_KEY))} == {}
    assert leaks_in_files(SHORT_KEY, task_log_folder) == {}


class _TI:
    try_number = 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


# --- a server that echoes the key back --------------------------------------------------------------


class EchoingServer(ThreadingHTTPServer):
    """Answers every request with an error that quotes the ``X-Api-Key`` it received, in various ways."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.mode = "json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        key = self.headers.get("X-Api-Key", "")
        mode = self.server.mode
        headers = {"Content-Type": "application/json"}
        if mode == "json":
            status, body = 401, json.dumps({"error": f"Could not authenticate, invalid API Key {key}"})
        elif mode == "errors":
            status, body = 422, json.dumps({"errors": {"api_key": [f"{key} is not allowed", key]}, "notice": key})
        elif mode == "html":
            status, headers = 502, {"Content-Type": "text/html"}
            body = f"<html><head><title>Bad gateway for {key}</title></head><body>{key}</body></html>"
        elif mode == "text":
            status, headers = 500, {"Content-Type": "text/plain"}
            body = f"upstream said: key={key}"
        elif mode == "cut":  # the key straddles the 300-character excerpt limit of error messages
            status, body = 401, json.dumps({"error": "x" * 270 + key + " was refused"})
        elif mode == "redirect":
            status, body = 302, ""
            headers = {"Location": f"https://login.example.invalid/?api_key={key}"}
        else:  # 200 with garbage after a write: an unknown outcome
            status, headers, body = 200, {"Content-Type": "text/plain"}, f"[{key}"
        payload = body.encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer  # noqa: N815 - http.server's handler names


@pytest.fixture
def echoing_server() -> Iterator[EchoingServer]:
    server = EchoingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def echo_failure(monkeypatch, server: EchoingServer, mode: str, key: str) -> NeetoCalApiError:
    server.mode = mode
    monkeypatch.setenv("AIRFLOW_CONN_NEETOCAL_ECHO", neetocal_conn_json(server.url, key))
    hook = NeetoCalHook("neetocal_echo", retry_policy=NO_RETRIES)
    with pytest.raises(NeetoCalApiError) as caught:
        hook.create_booking({"meeting_slug": "quick-sync"})
    hook.log.error("create failed: %s", caught.value)
    return caught.value


@pytest.mark.parametrize("mode", ["json", "errors", "html", "text", "garbled"])
@pytest.mark.parametrize("key_kind", ["canary", "short"])
def test_a_server_echoing_the_key_in_its_error_body_does_not_get_it_into_the_error(
    monkeypatch, log_output, echoing_server, mode, key_kind
):
    key = new_canary() if key_kind == "canary" else SHORT_KEY

    error = echo_failure(monkeypatch, echoing_server, mode, key)

    assert "***" in str(error)  # the echo was there, and was redacted
    texts = {"exception": exception_texts(error), "logs": log_output()}
    assert {where: hits for where, text in texts.items() if (hits := leaks(text, key))} == {}


@pytest.mark.parametrize("key_kind", ["canary", "short"])
def test_a_redirect_quoting_the_key_does_not_get_it_into_the_error(monkeypatch, log_output, echoing_server, key_kind):
    key = new_canary() if key_kind == "canary" else SHORT_KEY

    error = echo_failure(monkeypatch, echoing_server, "redirect", key)

    texts = {"exception": exception_texts(error), "logs": log_output()}
    assert {where: hits for where, text in texts.items() if (hits := leaks(text, key))} == {}


def test_an_echoed_key_cut_by_the_excerpt_limit_does_not_leave_a_piece_of_it(monkeypatch, log_output, echoing_server):
    key = new_canary()

    error = echo_failure(monkeypatch, echoing_server, "cut", key)

    texts = {"exception": exception_texts(error), "logs": log_output()}
    assert {where: hits for where, text in texts.items() if (hits := leaks(text, key))} == {}
