"""``make test-distributed``: the provider on a real distributed Airflow, with faults, from scratch.

What it does, all on 127.0.0.1 and all stopped again at the end (``finally``):

1. PostgreSQL and Redis: installed with ``apt-get`` when their binaries are missing; the local
   PostgreSQL cluster is started when it is down (and stopped again), a throw-away role and database
   are created (and dropped); Redis runs as this script's own process on a free port.
2. The NeetoCal sandbox (the installed provider's CLI) with a ``commit-then-drop`` fault: every Nth
   ``POST /bookings`` stores the booking and then closes the connection without an answer, so the
   client cannot know whether it was booked; and some latency, so tasks are in flight long enough.
3. Airflow (the venv this script runs in: Airflow, the celery provider, psycopg2, the provider) with
   the CeleryExecutor: ``api-server``, ``scheduler``, ``dag-processor`` and two ``celery worker``s
   with distinct Celery hostnames, log-server ports and task-instance host names (``worker1``,
   ``worker2``), and a short task heartbeat timeout so a dead worker's task is noticed quickly.
4. Through the REST API only (never ``dags test``): the manual-booking example, the pipeline example
   over 40 rows (its CSV read through ``ObjectStoragePath`` from a ``file://`` URL given in the run's
   conf), and a bulk DAG (this script writes it into the run's DAGs folder) whose worker is killed
   with SIGKILL, its whole process group, while the bulk task is booking; Airflow must notice and
   retry the task on the other worker.
5. Reads every booking back from the sandbox and prints per DAG: run state, wall time, task
   instances per worker, bookings expected / found / duplicated / lost. Exit code 1 when any DAG run
   did not succeed or any booking is duplicated or lost.

Run with ``make test-distributed`` (it builds ``.venv-distributed``). Needs root or password-less
sudo only when PostgreSQL or Redis must be installed, or PostgreSQL started.
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
import subprocess
import sys
import tempfile
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
MEETING = "quick-sync"  # the sandbox's 15-minute, UTC, always-open one-on-one meeting
WORKERS = ("worker1", "worker2")
EMAIL_DOMAIN = "distributed.example.com"

BULK_DAG = '''
"""Written by scripts/distributed_check.py: {count} rows booked by one bulk task, retried on a dead worker."""
from __future__ import annotations

import datetime
import json

import pendulum

from airflow_provider_neetocal._compat import DAG
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator

with DAG(
    dag_id="neetocal_distributed_bulk",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    NeetoCalCreateBookingsOperator(
        task_id="book_all",
        bookings=json.loads({rows!r}),
        meeting_slug="{meeting}",
        time_zone="UTC",
        max_concurrency=4,
        retries=3,
        retry_delay=datetime.timedelta(seconds=5),
    )
'''

HOSTNAME_MODULE = '''
"""Written by scripts/distributed_check.py: each worker reports its own name as task-instance host."""
import os
import re
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

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        self.logs[name] = log
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running[name] = process
        return process

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


def sandbox_bookings(url: str) -> list[dict[str, Any]]:
    """Every booking in the sandbox, page by page (100 a page) until an empty page."""
    bookings: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = http_json(
            "GET", f"{url}/api/external/v1/bookings?page_size=100&page_number={page}", headers={"X-Api-Key": API_KEY}
        )
        if not answer["bookings"]:
            return bookings
        bookings.extend(answer["bookings"])
        page += 1


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
    """A timestamp of the REST API (ISO 8601, ``Z`` or an offset)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def rows(prefix: str, count: int, year: int) -> list[dict[str, Any]]:
    """``count`` attendees on consecutive 15-minute slots of the UTC meeting in ``year``."""
    import pendulum

    start = pendulum.datetime(year, 1, 1, tz="UTC")
    out = []
    for n in range(count):
        slot = start.add(minutes=15 * n)
        out.append(
            {
                "name": f"{prefix.title()} {n}",
                "email": f"{prefix}-{n:03d}@{EMAIL_DOMAIN}",
                "slot_date": slot.format("YYYY-MM-DD"),
                "slot_start_time": slot.format("hh:mm A"),
                "time_zone": "UTC",
                "language": "English",
            }
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
    state: str
    wall_seconds: float
    per_worker: Counter[str]
    expected: set[str]
    found: int = 0
    duplicated: int = 0
    lost: int = 0
    answers_lost: int = 0
    adopted: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "success" and self.duplicated == 0 and self.lost == 0


def main() -> int:
    # A CI timeout or Ctrl-C sends SIGTERM/SIGINT: turned into an exit, so every `finally` below stops
    # what was started (PostgreSQL, Redis, Airflow, the workers) instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-rows", type=int, default=40)
    parser.add_argument("--bulk-rows", type=int, default=60)
    parser.add_argument("--commit-then-drop-every", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.25, help="sandbox latency per request, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp AIRFLOW_HOME (logs) afterwards")
    args = parser.parse_args()
    total = time.monotonic()

    ensure_packages()
    home = Path(tempfile.mkdtemp(prefix="neetocal-distributed-"))
    dags = home / "dags"
    shutil.copytree(ROOT / "example_dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    # Bulk rows carry the form answer in form_responses (the pipeline's CSV has a "language" column).
    bulk_rows = [
        {**{k: v for k, v in row.items() if k != "language"}, "form_responses": {"language": row["language"]}}
        for row in rows("bulk", args.bulk_rows, 2032)
    ]
    (dags / "neetocal_distributed_bulk.py").write_text(
        BULK_DAG.format(count=len(bulk_rows), rows=json.dumps(bulk_rows), meeting=MEETING)
    )
    (home / "pythonpath").mkdir()
    (home / "pythonpath" / "neetocal_check_hostname.py").write_text(HOSTNAME_MODULE)
    pipeline_rows = rows("pipeline", args.pipeline_rows, 2031)
    pipeline_csv = home / "attendees.csv"
    with pipeline_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(pipeline_rows[0]))
        writer.writeheader()
        writer.writerows(pipeline_rows)

    postgres = Postgres()
    processes = Processes(home)
    outcomes: list[Outcome] = []
    try:
        postgres.start()
        redis_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
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
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
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
        dag_ids = ["neetocal_manual_booking", "neetocal_pipeline", "neetocal_distributed_bulk"]

        def parsed() -> bool:
            known = {d["dag_id"] for d in airflow.api("GET", "/api/v2/dags?limit=100")["dags"]}
            return set(dag_ids) <= known

        wait_for("the DAG processor to parse the DAGs", parsed, 240, processes, set())
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

        def finish(dag_id: str, run_id: str, expected: set[str], killed: set[str], timeout: float) -> Outcome:
            def done() -> dict[str, Any] | None:
                state = dag_run(dag_id, run_id)
                return state if state["state"] in ("success", "failed") else None

            final = wait_for(f"{dag_id} to finish", done, timeout, processes, killed)
            start, end = final.get("start_date"), final.get("end_date")
            wall = (instant(end) - instant(start)).total_seconds() if start and end else float("nan")
            per_worker: Counter[str] = Counter()
            for ti in task_instances(dag_id, run_id):
                per_worker[ti.get("hostname") or "?"] += 1
                ti_path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}"
                for try_ in airflow.api("GET", ti_path + "/tries")["task_instances"][:-1]:
                    per_worker[f"{try_.get('hostname') or '?'} (earlier try)"] += 1
            say(f"{dag_id}: {final['state']} in {wall:.0f} s")
            return Outcome(dag_id, str(final["state"]), wall, per_worker, expected)

        # 1. The manual-booking form, as the UI would send it: the first free slot.
        manual_email = f"manual-000@{EMAIL_DOMAIN}"
        run_id = trigger("neetocal_manual_booking", {"name": "Manual Check", "email": manual_email})
        outcomes.append(finish("neetocal_manual_booking", run_id, {manual_email}, set(), 300))

        # 2. The pipeline: 40 mapped bookings, rows read on a worker through ObjectStoragePath.
        run_id = trigger(
            "neetocal_pipeline", {"attendees_csv": pipeline_csv.resolve().as_uri(), "meeting_slug": MEETING}
        )
        outcomes.append(finish("neetocal_pipeline", run_id, {r["email"] for r in pipeline_rows}, set(), 900))

        # 3. Bulk: SIGKILL the worker running it (its whole process group) once it has booked some rows.
        run_id = trigger("neetocal_distributed_bulk", {})
        bulk_emails = {r["email"] for r in bulk_rows}

        def running_on() -> str | None:
            (ti,) = task_instances("neetocal_distributed_bulk", run_id)
            booked = sum(1 for b in sandbox_bookings(sandbox_url) if b["email"] in bulk_emails)
            host = ti.get("hostname")
            return host if ti["state"] == "running" and host in WORKERS and booked >= 5 else None

        victim = wait_for("the bulk task to be booking", running_on, 300, processes, set())
        booked_before = sum(1 for b in sandbox_bookings(sandbox_url) if b["email"] in bulk_emails)
        say(f"SIGKILL {victim} (process group) with {booked_before} of {len(bulk_rows)} bulk rows booked")
        processes.kill(victim)
        outcomes.append(finish("neetocal_distributed_bulk", run_id, bulk_emails, {victim}, 900))

        # The sandbox's view: every booking, grouped by attendee.
        per_email = Counter(b["email"] for b in sandbox_bookings(sandbox_url) if b.get("status") != "cancelled")
        for outcome in outcomes:
            outcome.found = sum(1 for e in outcome.expected if per_email[e] >= 1)
            outcome.duplicated = sum(per_email[e] - 1 for e in outcome.expected if per_email[e] > 1)
            outcome.lost = len(outcome.expected) - outcome.found
        for outcome in outcomes:
            outcome.answers_lost = count_in_task_logs(home, outcome.dag_id, LOST_ANSWER)
            outcome.adopted = count_in_task_logs(home, outcome.dag_id, ADOPTED) + sum(
                int(n) for n in re.findall(BULK_RECOVERED, task_logs(home, outcome.dag_id))
            )
    finally:
        say("stopping everything this script started")
        processes.stop_all()
        postgres.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    print()
    print(
        f"Distributed check: Airflow 3.3 CeleryExecutor, PostgreSQL {postgres.version}, Redis, "
        f"workers {', '.join(WORKERS)}; sandbox commit-then-drop every {args.commit_then_drop_every} POSTs, "
        f"latency {args.latency} s; {victim} killed mid-task"
    )
    header = (
        f"{'DAG':<27} {'state':<7} {'wall s':>6} {'expected':>8} {'found':>5} {'dup':>3} {'lost':>4} "
        f"{'answers lost':>12} {'adopted':>7}  task tries per worker"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        workers = ", ".join(f"{host}: {n}" for host, n in sorted(o.per_worker.items()))
        print(
            f"{o.dag_id:<27} {o.state:<7} {o.wall_seconds:>6.0f} {len(o.expected):>8} {o.found:>5} "
            f"{o.duplicated:>3} {o.lost:>4} {o.answers_lost:>12} {o.adopted:>7}  {workers}"
        )
    print("answers lost: POSTs whose answer the commit-then-drop fault dropped (from the task logs); adopted:")
    print("bookings found and taken instead of sent again (after a lost answer, or by a retry: rows the killed")
    print("try had booked); expected/found/dup/lost: counted in the sandbox, by attendee.")
    print(f"total {time.monotonic() - total:.0f} s")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
