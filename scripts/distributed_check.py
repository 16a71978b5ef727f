"""``make test-distributed``: the provider on a real distributed Airflow, with faults, from scratch.

What it does, all on 127.0.0.1 and all stopped again at the end (``finally``):

1. PostgreSQL and Redis: installed with ``apt-get`` when their binaries are missing; the local
   PostgreSQL cluster is started when it is down (and stopped again), a throw-away role and database
   are created (and dropped); Redis runs as this script's own process on a free port.
2. The NeetoCal sandbox (the installed provider's CLI) keeping its bookings in a SQLite file, with a
   ``commit-then-drop`` fault: every Nth ``POST /bookings`` stores the booking and then closes the
   connection without an answer, so the client cannot know whether it was booked; and some latency.
3. Airflow (the venv this script runs in: Airflow, the celery provider, psycopg2, the provider) with
   the CeleryExecutor: ``api-server``, ``scheduler``, ``dag-processor`` and two ``celery worker``s
   with distinct Celery hostnames, log-server ports and task-instance host names (``worker1``,
   ``worker2``), and a short task heartbeat timeout so a dead worker's task is noticed quickly.
4. Through the REST API only (never ``dags test``; every DAG paused at creation and the ones below
   unpaused, so the other example DAGs are parsed but never run): the manual-booking example, the
   pipeline example over 40 rows of the **group** meeting ``weekly-webinar`` (its CSV read through
   ``ObjectStoragePath`` from a ``file://`` URL given in the run's conf), and three bulk DAGs of the
   group meeting (this script writes them into the run's DAGs folder). A group meeting seats 50 per
   slot, so the sandbox takes a second booking of the same attendee and slot: a duplicate is the
   provider's, and it shows.

   * ``neetocal_distributed_bulk_task_killed``: once the first try is booking, its **task process**
     (Airflow 3.3 runs it in a process group of its own, ``airflow worker -- <ti id>``, a child of the
     ``airflow task supervisor`` in the Celery worker) is SIGKILLed. The supervisor reports the try
     failed and Airflow retries it; the retry starts after the killed process is gone.
   * ``neetocal_distributed_bulk_worker_killed``: once the first try is booking, the **Celery worker's
     process group** is SIGKILLed (worker, pool, task supervisor). The task process, in its own group,
     survives it (for a few seconds: it dies once it next talks to its dead supervisor); Airflow notices
     the dead worker through the heartbeat timeout and retries the task on the other worker. The script
     watches the orphaned task process and reports whether the retry started while it still ran. The
     killed worker is then started again.
   * ``neetocal_distributed_bulk_worker_frozen``: the first try's task process and its worker are
     frozen (SIGSTOP to both process groups: a paused machine); Airflow notices the silent worker
     through the heartbeat timeout and retries the task on the other worker; once the retry has booked
     some rows, the task process and then its worker are thawed (SIGCONT): a first try running again
     beside its retry until its supervisor learns that the try is over and kills it, the case
     exactly-once must survive.

   Each bulk DAG's first try is paced (``--first-try-rate``, 2 requests/s) so that it is still booking when it
   is killed and when its retry starts; retries run at full speed.
5. Counts **every** booking the sandbox holds (its SQLite file: any e-mail, status, meeting and slot)
   and prints per DAG: run state, wall time, task tries per worker, bookings expected / found /
   duplicated / lost / unexpected. A booking is expected when it is live (``confirmed``) and matches a
   row the DAG asked for (attendee, meeting and start); anything else is unexpected, and so is a
   booking of an e-mail no DAG used. Exit code 1 when any DAG run did not succeed or any booking is
   duplicated, lost or unexpected.

``--break no-journal`` / ``--break no-lookup`` run a deliberately broken build, to show the check can fail:
the bulk DAG files (not the provider) patch the provider when ``NEETOCAL_CHECK_BREAK`` says so.
``no-journal``: the operators' journal is ``None``, as on an Airflow without the task state store.
``no-lookup``: no journal either, and every try books as a first try with ``if_exists="create"``
(nothing looked up before a POST).

Run with ``make test-distributed`` (it builds ``.venv-distributed``; ``DISTRIBUTED_ARGS='--break
no-journal'`` for a broken build). Needs root or password-less sudo only when PostgreSQL or Redis
must be installed, or PostgreSQL started.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "distributed-check-" + secrets.token_hex(16)
JWT_SECRET = "distributed-check-jwt-" + secrets.token_hex(32)
#: The sandbox's group meeting: 60 minutes, Mon-Fri 10:00-16:00 London, 50 seats a slot (meetings.json).
GROUP_MEETING = "weekly-webinar"
GROUP_MEETING_ZONE = "Europe/London"
#: The manual-booking example's default meeting (one-on-one); the example books its first free slot.
MANUAL_MEETING = "meeting-with-oliver-smith"
WORKERS = ("worker1", "worker2")
EMAIL_DOMAIN = "distributed.example.com"
#: Statuses a booking the check asked for may have; any other (cancelled, rejected, ...) is unexpected.
LIVE_STATUSES = frozenset({"confirmed"})
#: How each bulk DAG's first try is killed: its task process (SIGKILL); its worker's process group
#: (SIGKILL; the task process, in a group of its own, is left); or the task process and its worker frozen
#: (SIGSTOP) until Airflow retries the task elsewhere, then thawed (SIGCONT) once the retry is booking.
KILLS = {
    "neetocal_distributed_bulk_task_killed": "task",
    "neetocal_distributed_bulk_worker_killed": "worker",
    "neetocal_distributed_bulk_worker_frozen": "frozen",
}
KILL_WHAT = {
    "task": "its task process SIGKILLed",
    "worker": "its worker's process group SIGKILLed",
    "frozen": "its task process and its worker frozen, thawed beside the retry",
}
#: Bookings the sandbox must hold for a bulk DAG's rows before its first try is killed.
KILL_AFTER_BOOKED = 10
#: New bookings the retry must have made before the frozen first try is thawed beside it.
THAW_AFTER_RETRY_BOOKED = 20
#: The broken builds ``--break`` can run (see the bulk DAG template).
BREAKS = ("no-journal", "no-lookup")

BULK_DAG = '''
"""Written by scripts/distributed_check.py: {count} rows of a group meeting booked by one bulk task whose first
try is killed ({kill})."""
from __future__ import annotations

import datetime
import json
import os
from typing import Any

import pendulum

from airflow_provider_neetocal._compat import DAG
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator

# The check's broken builds (``distributed_check.py --break ...``), never set otherwise; patched here, in the
# DAG file, not in the provider. no-journal: no journal, as on an Airflow without the task state store.
# no-lookup: every try books as a first try with if_exists="create" (no journal, no look-up before a POST).
BROKEN = os.environ.get("NEETOCAL_CHECK_BREAK")
if BROKEN in ("no-journal", "no-lookup"):
    from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator

    NeetoCalBaseOperator.journal = lambda self, context: None
if BROKEN == "no-lookup":
    from airflow_provider_neetocal.exactly_once import ExactlyOnce

    _init = ExactlyOnce.__init__

    def _forgetful_init(self: Any, hook: Any, **kwargs: Any) -> None:
        _init(self, hook, **(kwargs | dict(retrying=False, journal=None, if_exists="create")))

    ExactlyOnce.__init__ = _forgetful_init


class FirstTryPaced(NeetoCalCreateBookingsOperator):
    """The first try at {first_try_rate} requests/s, so it is still booking when it is killed and when its retry
    starts; retries at full speed."""

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number == 1:
            self.max_requests_per_second = {first_try_rate}
        return super().execute(context)


with DAG(
    dag_id="{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    FirstTryPaced(
        task_id="book_all",
        bookings=json.loads({rows!r}),
        meeting_slug="{meeting}",
        max_concurrency=4,
        retries=3,
        retry_delay=datetime.timedelta(seconds=5),
    )
'''

HOSTNAME_MODULE = '''
"""Written by scripts/distributed_check.py: each worker reports its own name as task-instance host."""
import os
import socket


def hostname() -> str:
    return os.environ.get("NEETOCAL_CHECK_HOSTNAME") or socket.getfqdn()
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def as_root(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo"):
        return ["sudo", "-n", *command]
    raise SystemExit(f"need root or password-less sudo for: {' '.join(command)}")


def run(command: list[str], **kwargs: Any) -> str:
    result = subprocess.run(command, text=True, capture_output=True, check=False, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"failed (exit {result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server binary (Debian keeps them under /usr/lib/postgresql/<version>/bin)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: p.parts[-3])
    return str(candidates[-1]) if candidates else None


def ensure_packages() -> None:
    """apt-get install PostgreSQL and Redis when their binaries are missing."""
    missing = []
    if not (shutil.which("pg_ctlcluster") and postgres_bin("postgres")):
        missing.append("postgresql")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if not missing:
        say("PostgreSQL and Redis already installed")
        return
    say(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(as_root(["apt-get", "update", "-qq"]), env=env)
    run(as_root(["apt-get", "install", "-y", "-qq", *missing]), env=env)


@dataclass
class Postgres:
    """A role and database in the machine's PostgreSQL cluster; the cluster started only if it was down."""

    version: str = ""
    cluster: str = ""
    port: int = 5432
    started_cluster: bool = False
    name: str = field(default_factory=lambda: "neetocal_check_" + secrets.token_hex(4))
    password: str = field(default_factory=lambda: secrets.token_hex(16))

    def start(self) -> None:
        clusters = run(["pg_lsclusters", "--no-header"]).split("\n")
        rows = [line.split() for line in clusters if line.strip()]
        if not rows:
            version = Path(postgres_bin("postgres") or "").parts[-3]
            run(as_root(["pg_createcluster", version, "main"]))
            rows = [line.split() for line in run(["pg_lsclusters", "--no-header"]).split("\n") if line.strip()]
        self.version, self.cluster, port, status = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
        self.port = int(port)
        if status != "online":
            say(f"starting PostgreSQL {self.version}/{self.cluster} on port {self.port}")
            run(as_root(["pg_ctlcluster", self.version, self.cluster, "start"]))
            self.started_cluster = True
        self.psql(f"CREATE ROLE {self.name} LOGIN PASSWORD '{self.password}'")
        self.psql(f"CREATE DATABASE {self.name} OWNER {self.name}")
        say(f"PostgreSQL {self.version}: database {self.name} on 127.0.0.1:{self.port}")

    def psql(self, sql: str) -> None:
        command = ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-p", str(self.port), "-c", sql]
        if os.geteuid() == 0:
            run(["runuser", "-u", "postgres", "--", *command])
        else:
            run(["sudo", "-n", "-u", "postgres", *command])

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.name}:{self.password}@127.0.0.1:{self.port}/{self.name}"

    def stop(self) -> None:
        if not self.version:
            return
        try:
            self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.psql(f"DROP ROLE IF EXISTS {self.name}")
        finally:
            if self.started_cluster:
                say(f"stopping PostgreSQL {self.version}/{self.cluster} (this script started it)")
                run(as_root(["pg_ctlcluster", self.version, self.cluster, "stop"]))


@dataclass
class Processes:
    """Every daemon this script starts, each in its own process group, with its log file."""

    home: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)

    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        self.logs[name] = log
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running[name] = process
        self.commands[name] = (command, env)
        return process

    def restart(self, name: str) -> None:
        """Start ``name`` again, with the same command and environment, once it is dead (killed)."""
        self.kill(name)
        self.running[name].wait()
        self.logs[name].close()
        self.start(name, *self.commands[name])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def check_alive(self, skip: set[str]) -> None:
        for name, process in self.running.items():
            if name not in skip and process.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n{tail}")

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.kill(name, signal.SIGTERM)
            self.kill(name, signal.SIGCONT)  # a frozen (SIGSTOPped) group handles its SIGTERM only once continued
        deadline = time.monotonic() + 20
        for name, process in self.running.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            self.kill(name, signal.SIGKILL)  # the group: forked children too
            process.wait()
            self.logs[name].close()


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@dataclass
class Airflow:
    base_url: str
    token: str = ""

    def api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return http_json(method, self.base_url + path, body, headers)

    def login(self) -> None:
        """A JWT from the simple auth manager (every user an admin in this throw-away set-up)."""
        self.token = http_json("GET", self.base_url + "/auth/token")["access_token"]

    def healthy(self) -> bool:
        try:
            http_json("GET", self.base_url + "/api/v2/monitor/health")
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return False


#: What the hook logs when a POST's answer was lost (the commit-then-drop fault), and what the
#: exactly-once look-up logs when it adopts the booking that POST made.
LOST_ANSWER = "so NeetoCal may have applied it"
ADOPTED = "Recovered existing (not created again)"
#: The bulk operator's summary line: rows it found already booked (by a lost answer or an earlier try).
BULK_RECOVERED = r"recovered \(not created again\)\s+(\d+)"


def task_logs(home: Path, dag_id: str) -> str:
    """``dag_id``'s task logs, every try on every worker (one machine, one log folder)."""
    return "\n".join(log.read_text(errors="replace") for log in (home / "logs" / f"dag_id={dag_id}").rglob("*.log"))


def count_in_task_logs(home: Path, dag_id: str, phrase: str) -> int:
    return task_logs(home, dag_id).count(phrase)


def instant(text: str) -> datetime.datetime:
    """A timestamp of the REST API or the sandbox (ISO 8601, ``Z`` or an offset), in UTC."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


#: One booking a DAG asks for: (attendee e-mail in lower case, meeting slug, UTC start or None for "any").
Key = tuple[str, str, "datetime.datetime | None"]


def group_rows(prefix: str, count: int, year: int) -> list[dict[str, Any]]:
    """``count`` attendees, each on its own slot of the group meeting: weekdays from 1 January of ``year``,
    10:00 to 15:00 London time (the meeting's hours), one hour apart."""
    import pendulum

    out: list[dict[str, Any]] = []
    day = pendulum.datetime(year, 1, 1, tz=GROUP_MEETING_ZONE)
    while len(out) < count:
        if day.day_of_week not in (pendulum.SATURDAY, pendulum.SUNDAY):
            for hour in range(10, 16):
                if len(out) == count:
                    break
                slot = day.set(hour=hour)
                n = len(out)
                out.append(
                    {
                        "name": f"{prefix.title()} {n}",
                        "email": f"{prefix}-{n:03d}@{EMAIL_DOMAIN}",
                        "slot_date": slot.format("YYYY-MM-DD"),
                        "slot_start_time": slot.format("hh:mm A"),
                        "time_zone": GROUP_MEETING_ZONE,
                        "language": "English",
                    }
                )
        day = day.add(days=1)
    return out


def row_key(row: dict[str, Any]) -> Key:
    import pendulum

    start = pendulum.from_format(
        f"{row['slot_date']} {row['slot_start_time']}", "YYYY-MM-DD hh:mm A", tz=row["time_zone"]
    )
    moment = datetime.datetime.fromtimestamp(start.timestamp(), tz=datetime.timezone.utc)
    return (row["email"].lower(), GROUP_MEETING, moment)


@dataclass(frozen=True)
class Stored:
    """One booking as the sandbox keeps it (its SQLite file)."""

    sid: str
    email: str
    meeting: str
    starts_at: datetime.datetime | None
    status: str
    created_at: datetime.datetime | None


def stored_bookings(path: Path) -> list[Stored]:
    """Every booking in the sandbox's SQLite file, whatever its e-mail, status, meeting or slot."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        records = [json.loads(text) for (text,) in db.execute("SELECT record FROM bookings ORDER BY seq")]
    out = []
    for record in records:
        booking = record.get("booking") or {}
        starts, created = booking.get("starts_at"), booking.get("created_at")
        out.append(
            Stored(
                sid=str(booking.get("sid")),
                email=str(booking.get("email") or "").lower(),
                meeting=str(record.get("meeting_slug") or ""),
                starts_at=instant(starts) if isinstance(starts, str) and starts else None,
                status=str(booking.get("status")),
                created_at=instant(created) if isinstance(created, str) and created else None,
            )
        )
    return out


def wait_for(what: str, condition: Any, timeout: float, processes: Processes, skip: set[str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive(skip)
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}; logs in {processes.home}")


@dataclass
class Outcome:
    dag_id: str
    prefix: str  # e-mail local part of every row of this DAG: "<prefix>-NNN@EMAIL_DOMAIN"
    expected: set[Key]
    state: str = "?"
    wall_seconds: float = float("nan")
    per_worker: Counter[str] = field(default_factory=Counter)
    found: int = 0
    duplicated: int = 0
    lost: int = 0
    unexpected: int = 0
    answers_lost: int = 0
    adopted: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success" and self.duplicated == 0 and self.lost == 0 and self.unexpected == 0


def tally(outcomes: list[Outcome], bookings: list[Stored]) -> list[Stored]:
    """Fill in found / duplicated / lost / unexpected per DAG from every booking; return the bookings no
    DAG asked for (an e-mail none of them used)."""
    strays: list[Stored] = []
    per_key: dict[str, Counter[Key]] = {o.dag_id: Counter() for o in outcomes}
    for booking in bookings:
        owner = next((o for o in outcomes if booking.email.startswith(f"{o.prefix}-")), None)
        if owner is None or not booking.email.endswith(f"@{EMAIL_DOMAIN}"):
            strays.append(booking)
            continue
        exact: Key = (booking.email, booking.meeting, booking.starts_at)
        any_slot: Key = (booking.email, booking.meeting, None)
        key = exact if exact in owner.expected else any_slot if any_slot in owner.expected else None
        if key is None or booking.status not in LIVE_STATUSES:
            owner.unexpected += 1
            owner.notes.append(
                f"unexpected booking {booking.sid}: {booking.email}, {booking.meeting}, "
                f"{booking.starts_at.isoformat() if booking.starts_at else '?'}, {booking.status}"
            )
            continue
        per_key[owner.dag_id][key] += 1
    for outcome in outcomes:
        counts = per_key[outcome.dag_id]
        outcome.found = sum(1 for k in outcome.expected if counts[k] >= 1)
        outcome.duplicated = sum(counts[k] - 1 for k in outcome.expected if counts[k] > 1)
        outcome.lost = len(outcome.expected) - outcome.found
    return strays


def proc_state(pid: int) -> str | None:
    """The process's state letter (``R``, ``S``, ``Z`` ...), ``None`` once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def task_process(ti_id: str) -> int | None:
    """The pid of the process running task instance ``ti_id``: Airflow 3.3's task runner titles itself
    ``airflow worker -- <ti id>`` (a fork of the Celery worker's ``airflow task supervisor``)."""
    title = f"airflow worker -- {ti_id}"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and cmdline(int(entry.name)).startswith(title) and is_alive(int(entry.name)):
            return int(entry.name)
    return None


@dataclass
class Watch:
    """Polls a killed (or orphaned) process until it is gone, from a thread: when did it die?"""

    pid: int
    since: datetime.datetime
    gone_at: datetime.datetime | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watch:
        threading.Thread(target=self._run, daemon=True, name=f"watch-{self.pid}").start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if not is_alive(self.pid):
                self.gone_at = now_utc()
                return
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


def main() -> int:
    # A CI timeout or Ctrl-C sends SIGTERM/SIGINT: turned into an exit, so every `finally` below stops
    # what was started (PostgreSQL, Redis, Airflow, the workers) instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-rows", type=int, default=40)
    parser.add_argument("--bulk-rows", type=int, default=120, help="rows of each of the two bulk DAGs")
    parser.add_argument(
        "--first-try-rate", type=float, default=2.0, help="requests/s of each bulk DAG's first try (the killed one)"
    )
    parser.add_argument("--commit-then-drop-every", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.25, help="sandbox latency per request, seconds")
    parser.add_argument(
        "--break",
        dest="broken",
        choices=BREAKS,
        help="run a deliberately broken build (see above) to show that the check goes red",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp AIRFLOW_HOME (logs) afterwards")
    args = parser.parse_args()
    total = time.monotonic()

    ensure_packages()
    home = Path(tempfile.mkdtemp(prefix="neetocal-distributed-"))
    dags = home / "dags"
    shutil.copytree(ROOT / "example_dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    pipeline_rows = group_rows("pipeline", args.pipeline_rows, 2031)
    bulk_rows: dict[str, list[dict[str, Any]]] = {}
    for n, (dag_id, kill) in enumerate(KILLS.items()):
        prefix = f"bulk-{kill}"
        # Bulk rows carry the form answer in form_responses (the pipeline's CSV has a "language" column).
        bulk_rows[dag_id] = [
            {**{k: v for k, v in row.items() if k != "language"}, "form_responses": {"language": row["language"]}}
            for row in group_rows(prefix, args.bulk_rows, 2032 + n)
        ]
        (dags / f"{dag_id}.py").write_text(
            BULK_DAG.format(
                count=args.bulk_rows,
                kill=KILL_WHAT[kill],
                dag_id=dag_id,
                rows=json.dumps(bulk_rows[dag_id]),
                meeting=GROUP_MEETING,
                first_try_rate=args.first_try_rate,
            )
        )
    (home / "pythonpath").mkdir()
    (home / "pythonpath" / "neetocal_check_hostname.py").write_text(HOSTNAME_MODULE)
    pipeline_csv = home / "attendees.csv"
    with pipeline_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(pipeline_rows[0]))
        writer.writeheader()
        writer.writerows(pipeline_rows)
    sandbox_db = home / "sandbox.sqlite"

    postgres = Postgres()
    processes = Processes(home)
    outcomes: list[Outcome] = []
    strays: list[Stored] = []
    orphans: list[int] = []
    try:
        postgres.start()
        redis_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NEETOCAL_CHECK"))}
        processes.start(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            base_env,
        )
        sandbox_port = free_port()
        processes.start(
            "sandbox",
            [
                str(BIN / "python"),
                *("-m", "airflow_provider_neetocal.sandbox", "--port", str(sandbox_port), "--api-key", API_KEY),
                *("--state", str(sandbox_db)),
                *("--commit-then-drop-every", str(args.commit_then_drop_every), "--latency", str(args.latency)),
            ],
            base_env,
        )
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        api_port = free_port()
        env = {
            **base_env,
            "PYTHONPATH": str(home / "pythonpath"),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Paused: the other example DAGs are parsed but never run (the scheduled one would book); the
            # DAGs this check triggers are unpaused through the REST API.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "neetocal_check_hostname.hostname",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW_CONN_NEETOCAL_DEFAULT": json.dumps(
                {"conn_type": "neetocal", "host": sandbox_url, "password": API_KEY}
            ),
        }
        if args.broken:
            env["NEETOCAL_CHECK_BREAK"] = args.broken
            say(f"BROKEN BUILD on purpose: NEETOCAL_CHECK_BREAK={args.broken} (patched in the bulk DAG files)")
        say(f"airflow db migrate (AIRFLOW_HOME={home})")
        run([str(BIN / "airflow"), "db", "migrate"], env=env)
        processes.start("api-server", [str(BIN / "airflow"), "api-server"], env)
        processes.start("scheduler", [str(BIN / "airflow"), "scheduler"], env)
        processes.start("dag-processor", [str(BIN / "airflow"), "dag-processor"], env)
        for name in WORKERS:
            worker_env = {
                **env,
                "NEETOCAL_CHECK_HOSTNAME": name,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            processes.start(
                name,
                [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "4"],
                worker_env,
            )
        airflow = Airflow(f"http://127.0.0.1:{api_port}")
        wait_for("the API server", airflow.healthy, 180, processes, set())
        airflow.login()
        dag_ids = ["neetocal_manual_booking", "neetocal_pipeline", *KILLS]

        def parsed() -> bool:
            known = {d["dag_id"] for d in airflow.api("GET", "/api/v2/dags?limit=100")["dags"]}
            return set(dag_ids) <= known

        wait_for("the DAG processor to parse the DAGs", parsed, 240, processes, set())
        for dag_id in dag_ids:
            airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        say(
            f"Airflow up: api-server, scheduler, dag-processor, {', '.join(WORKERS)} ({time.monotonic() - total:.0f} s)"
        )

        def trigger(dag_id: str, conf: dict[str, Any]) -> str:
            run_ = airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
            return str(run_["dag_run_id"])

        def dag_run(dag_id: str, run_id: str) -> dict[str, Any]:
            return dict(airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

        def task_instances(dag_id: str, run_id: str) -> list[dict[str, Any]]:
            answer = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
            return list(answer["task_instances"])

        def tries(dag_id: str, run_id: str, ti: dict[str, Any]) -> list[dict[str, Any]]:
            ti_path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}"
            return list(airflow.api("GET", ti_path + "/tries")["task_instances"])

        def finish(outcome: Outcome, run_id: str, killed: set[str], timeout: float) -> None:
            dag_id = outcome.dag_id

            def done() -> dict[str, Any] | None:
                state = dag_run(dag_id, run_id)
                return state if state["state"] in ("success", "failed") else None

            final = wait_for(f"{dag_id} to finish", done, timeout, processes, killed)
            start, end = final.get("start_date"), final.get("end_date")
            outcome.wall_seconds = (instant(end) - instant(start)).total_seconds() if start and end else float("nan")
            for ti in task_instances(dag_id, run_id):
                outcome.per_worker[ti.get("hostname") or "?"] += 1
                for try_ in tries(dag_id, run_id, ti)[:-1]:
                    outcome.per_worker[f"{try_.get('hostname') or '?'} (earlier try)"] += 1
            outcome.state = str(final["state"])
            say(f"{dag_id}: {outcome.state} in {outcome.wall_seconds:.0f} s")

        # 1. The manual-booking form, as the UI would send it: the first free slot.
        manual_email = f"manual-000@{EMAIL_DOMAIN}"
        manual = Outcome("neetocal_manual_booking", "manual", {(manual_email, MANUAL_MEETING, None)})
        outcomes.append(manual)
        run_id = trigger(
            "neetocal_manual_booking", {"name": "Manual Check", "email": manual_email, "meeting_slug": MANUAL_MEETING}
        )
        finish(manual, run_id, set(), 300)

        # 2. The pipeline: 40 mapped bookings of the group meeting, rows read on a worker through ObjectStoragePath.
        pipeline = Outcome("neetocal_pipeline", "pipeline", {row_key(r) for r in pipeline_rows})
        outcomes.append(pipeline)
        run_id = trigger(
            "neetocal_pipeline",
            {"attendees_csv": "file://" + pipeline_csv.resolve().as_posix(), "meeting_slug": GROUP_MEETING},
        )
        finish(pipeline, run_id, set(), 900)

        # 3. The bulk DAGs: the first try killed while it books (see KILLS).
        killed_workers: set[str] = set()
        for dag_id, kill in KILLS.items():
            outcome = Outcome(dag_id, f"bulk-{kill}", {row_key(r) for r in bulk_rows[dag_id]})
            outcomes.append(outcome)
            emails = {r["email"].lower() for r in bulk_rows[dag_id]}
            run_id = trigger(dag_id, {})

            def booked(emails: set[str] = emails) -> int:
                return sum(1 for b in stored_bookings(sandbox_db) if b.email in emails)

            def booking_now(dag_id: str = dag_id, run_id: str = run_id) -> tuple[dict[str, Any], int] | None:
                (ti,) = task_instances(dag_id, run_id)
                if ti["state"] != "running" or ti.get("hostname") not in WORKERS or booked() < KILL_AFTER_BOOKED:
                    return None
                pid = task_process(str(ti["id"]))
                return (ti, pid) if pid is not None else None

            ti, pid = wait_for(f"{dag_id}'s first try to be booking", booking_now, 300, processes, killed_workers)
            orphans.append(pid)
            victim = str(ti["hostname"])
            supervisor = parent_of(pid) or 0
            worker_group = os.getpgid(processes.running[victim].pid)
            layout = (
                f"task process {pid} (process group {os.getpgid(pid)}, '{cmdline(pid)[:60]}'), child of {supervisor} "
                f"('{cmdline(supervisor)[:40]}...', group {os.getpgid(supervisor)}); {victim}'s group {worker_group}"
            )
            before = booked()
            killed_at = now_utc()
            thawed_at: datetime.datetime | None = None
            if kill == "task":
                os.kill(pid, signal.SIGKILL)
                what = f"SIGKILL the task process {pid} on {victim}"
            elif kill == "worker":
                processes.kill(victim)
                killed_workers.add(victim)
                what = f"SIGKILL {victim}'s process group {worker_group} (the task process {pid} is not in it)"
            else:
                # The whole machine paused: the task's own group first, then the worker's (supervisor included).
                # Not killed: a stopped process whose parent dies gets SIGHUP (an orphaned process group).
                os.killpg(pid, signal.SIGSTOP)
                os.killpg(worker_group, signal.SIGSTOP)
                what = f"SIGSTOP the task process {pid} (its group) and {victim}'s process group {worker_group}"
            say(f"{what}, {before} of {len(emails)} rows booked; {layout}")
            outcome.notes.append(f"first try on {victim}: {layout}")
            outcome.notes.append(f"{what} at {killed_at:%H:%M:%S}, {before} of {len(emails)} rows booked by then")
            watch = Watch(pid, killed_at).start()
            if kill == "frozen":

                def retry_booking(dag_id: str = dag_id, run_id: str = run_id, before: int = before) -> bool:
                    (ti,) = task_instances(dag_id, run_id)
                    running = ti["state"] == "running" and int(ti.get("try_number") or 0) >= 2
                    return running and booked() >= before + THAW_AFTER_RETRY_BOOKED

                wait_for(f"{dag_id}'s retry to be booking", retry_booking, 300, processes, killed_workers)
                thawed_at = now_utc()
                # The task first: it may act before its supervisor learns that its try is over.
                os.killpg(pid, signal.SIGCONT)
                time.sleep(0.5)
                os.killpg(worker_group, signal.SIGCONT)
                say(f"SIGCONT the first try's task process {pid}, then {victim}: beside the retry ({booked()} booked)")
                outcome.notes.append(
                    f"SIGCONT the first try's task process {pid} {(thawed_at - killed_at).total_seconds():.0f} s after "
                    f"the freeze, then {victim} 0.5 s later; the retry had booked {THAW_AFTER_RETRY_BOOKED}+ rows "
                    f"({booked()} in the sandbox)"
                )
            finish(outcome, run_id, killed_workers, 900)
            watch.stop()
            (ti,) = task_instances(dag_id, run_id)
            all_tries = tries(dag_id, run_id, ti)
            for try_ in all_tries:
                started = instant(try_["start_date"]) if try_.get("start_date") else None
                offset = f"{(started - killed_at).total_seconds():+.0f} s" if started else "?"
                outcome.notes.append(
                    f"try {try_['try_number']} on {try_.get('hostname')}: {try_.get('state')}, started {offset} "
                    "from the kill (or freeze)"
                )
            retry = next((t for t in all_tries if t["try_number"] == 2 and t.get("start_date")), None)
            gone = watch.gone_at
            life = f"{(gone - killed_at).total_seconds():.1f} s after the kill (or freeze)" if gone else "never"
            outcome.notes.append(f"the first try's task process {pid} was gone {life}")
            if retry is not None:
                retry_start = instant(retry["start_date"])
                overlap = gone is None or gone > retry_start
                outcome.notes.append(
                    f"try 2 started {(retry_start - killed_at).total_seconds():.0f} s after the kill (or freeze), "
                    + ("WHILE the killed try's task process still existed" if overlap else "after it was gone")
                    + (" (frozen until the SIGCONT)" if thawed_at and overlap else "")
                )
                late = [
                    b
                    for b in stored_bookings(sandbox_db)
                    if b.email in emails and b.created_at is not None and killed_at <= b.created_at < retry_start
                ]
                outcome.notes.append(f"bookings made between the kill and try 2's start: {len(late)}")
            else:
                outcome.notes.append("no try 2 (Airflow did not retry)")
            if thawed_at is not None and gone is not None:
                outcome.notes.append(
                    f"the thawed first try ran beside the retry for {(gone - thawed_at).total_seconds():.1f} s"
                )
            if kill == "worker":
                processes.restart(victim)  # two workers again for the next DAG
                killed_workers.discard(victim)
                say(f"{victim} restarted")

        # The sandbox's view: every booking it holds, whatever its e-mail, status, meeting or slot.
        bookings = stored_bookings(sandbox_db)
        strays = tally(outcomes, bookings)
        say(f"the sandbox holds {len(bookings)} bookings")
        for outcome in outcomes:
            outcome.answers_lost = count_in_task_logs(home, outcome.dag_id, LOST_ANSWER)
            outcome.adopted = count_in_task_logs(home, outcome.dag_id, ADOPTED) + sum(
                int(n) for n in re.findall(BULK_RECOVERED, task_logs(home, outcome.dag_id))
            )
    finally:
        say("stopping everything this script started")
        for pid in orphans:  # a task process outlives its killed worker (its own process group)
            with contextlib.suppress(ProcessLookupError):
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        processes.stop_all()
        postgres.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    print()
    print(
        f"Distributed check: Airflow 3.3 CeleryExecutor, PostgreSQL {postgres.version}, Redis, "
        f"workers {', '.join(WORKERS)}; sandbox commit-then-drop every {args.commit_then_drop_every} POSTs, "
        f"latency {args.latency} s; bulk rows on {GROUP_MEETING} (group, 50 seats a slot)"
        + (f"; BROKEN BUILD: {args.broken}" if args.broken else "")
    )
    header = (
        f"{'DAG':<39} {'state':<7} {'wall s':>6} {'expected':>8} {'found':>5} {'dup':>3} {'lost':>4} "
        f"{'unexp':>5} {'answers lost':>12} {'adopted':>7}  task tries per worker"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        workers = ", ".join(f"{host}: {n}" for host, n in sorted(o.per_worker.items()))
        print(
            f"{o.dag_id:<39} {o.state:<7} {o.wall_seconds:>6.0f} {len(o.expected):>8} {o.found:>5} "
            f"{o.duplicated:>3} {o.lost:>4} {o.unexpected:>5} {o.answers_lost:>12} {o.adopted:>7}  {workers}"
        )
    print(f"{'(an e-mail no DAG used)':<39} {'':<7} {'':>6} {0:>8} {'':>5} {'':>3} {'':>4} {len(strays):>5}")
    print(
        f"every booking in the sandbox: {len(bookings)}; expected {sum(len(o.expected) for o in outcomes)}, "
        f"found {sum(o.found for o in outcomes)}, duplicated {sum(o.duplicated for o in outcomes)}, "
        f"lost {sum(o.lost for o in outcomes)}, unexpected {sum(o.unexpected for o in outcomes) + len(strays)}"
    )
    print("expected/found/dup/lost/unexp: every booking the sandbox holds (its SQLite file), matched to the rows")
    print("each DAG asked for by attendee, meeting and start (the manual example: any slot); unexp: any other")
    print("booking (another slot or meeting, not confirmed, or an e-mail no DAG used). answers lost: POSTs whose")
    print("answer the commit-then-drop fault dropped (task logs); adopted: bookings found and taken instead of")
    print("sent again (after a lost answer, or by a retry: rows the killed try had booked).")
    for o in outcomes:
        for note in o.notes[:12]:
            print(f"{o.dag_id}: {note}")
        if len(o.notes) > 12:
            print(f"{o.dag_id}: ... {len(o.notes) - 12} more")
    for stray in strays[:10]:
        print(f"booking of an e-mail no DAG used: {stray}")
    print(f"total {time.monotonic() - total:.0f} s")
    ok = all(o.ok for o in outcomes) and not strays
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
