"""``make demo``: one real Airflow run of the manual-booking example DAG, end to end, offline.

1. starts the local NeetoCal sandbox on 127.0.0.1 (bookings kept in ``.airflow/demo-sandbox.sqlite3``);
2. points ``AIRFLOW_CONN_NEETOCAL_DEFAULT`` at it (unless ``--use-existing-connection``);
3. ``airflow db migrate`` and ``airflow dags test neetocal_manual_booking -c {...}`` with a
   project-local ``AIRFLOW_HOME`` and SQLite;
4. reads the booking back over the API and prints it;
5. stops the sandbox, whatever happened.

With ``--use-existing-connection`` the sandbox is not started and the DAG runs against whatever
``AIRFLOW_CONN_NEETOCAL_DEFAULT`` (or the ``neetocal_default`` connection) points at: a real workspace.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pendulum

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "neetocal_manual_booking"
TASK_ID = "create_booking"


MEETING_SLUG = "meeting-with-oliver-smith"


def choose_start(zone: str, not_before: tuple[int, int] = (11, 0), days: int = 14) -> pendulum.DateTime:
    """The first free slot from tomorrow on, at or after ``not_before`` local time, asked of the API.

    Asking ``GET /slots`` keeps the demo repeatable: the sandbox keeps earlier demos' bookings, and
    a taken slot would be refused. Falls back to the next weekday at ``not_before`` when the
    answer has no slot in the documented ``hh:mm AM/PM`` form.
    """
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    hook = NeetoCalHook()
    day = pendulum.now(zone).add(days=1)
    for _ in range(days):
        for entry in hook.get_slots(MEETING_SLUG, time_zone=zone, year=day.year, month=day.month, day=day.day):
            times = sorted(
                pendulum.from_format(f"{entry.get('date')} {time}", "YYYY-MM-DD hh:mm A", tz=zone)
                for time in (entry.get("slots") or {})
            )
            for start in times:
                if (start.hour, start.minute) >= not_before:
                    return start
        day = day.add(days=1)
    while day.day_of_week in (pendulum.SATURDAY, pendulum.SUNDAY):
        day = day.add(days=1)
    return day.at(*not_before)


def run(command: list[str], env: dict[str, str], log: Path) -> int:
    """Run a command with its output in ``log``; on failure print the log's tail."""
    with log.open("w") as handle:
        code = subprocess.call(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-60:]
        print(f"\n$ {' '.join(command)}  (exit {code}; full output in {log})", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--use-existing-connection", action="store_true", help="do not start the sandbox")
    parser.add_argument("--name", default="Eve Smith")
    parser.add_argument("--email", default="eve@example.com")
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    args = parser.parse_args()

    airflow_home = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow" / "demo"))
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    airflow = str(Path(sys.executable).parent / "airflow")

    sandbox = None
    if not args.use_existing_connection:
        from airflow_provider_neetocal.sandbox import NeetoCalSandbox

        logging.getLogger("airflow_provider_neetocal.sandbox").setLevel(logging.WARNING)
        sandbox = NeetoCalSandbox(state=airflow_home / "demo-sandbox.sqlite3").start()
        env["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
            {"conn_type": "neetocal", "host": sandbox.url, "password": sandbox.api_key}
        )
        print(f"NeetoCal sandbox running at {sandbox.url}")
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    try:
        start = choose_start(args.time_zone)
        conf = {
            "meeting_slug": MEETING_SLUG,
            "name": args.name,
            "email": args.email,
            "time_zone": args.time_zone,
            "slot_start": start.isoformat(),
        }
        print(f"airflow db migrate (AIRFLOW_HOME={airflow_home})")
        if run([airflow, "db", "migrate"], env, airflow_home / "demo-db-migrate.log"):
            return 1
        print(f"airflow dags test {DAG_ID} -c '{json.dumps(conf)}'")
        dags_test_log = airflow_home / "demo-dags-test.log"
        if run([airflow, "dags", "test", DAG_ID, "-c", json.dumps(conf)], env, dags_test_log):
            return 1
        announced = [line for line in dags_test_log.read_text().splitlines() if "Booked " in line]
        if announced:
            print(f"Downstream task read the booking from XCom: {announced[-1].split('Booked ', 1)[-1].split(' [')[0]}")
        return print_booking(args.email, start)
    finally:
        if sandbox is not None:
            sandbox.stop()
            print("NeetoCal sandbox stopped")


def print_booking(email: str, start: pendulum.DateTime) -> int:
    """Read the booking back over the API, as a downstream user would, and print it."""
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

    hook = NeetoCalHook()
    wanted = start.in_timezone("UTC")
    matches = [
        booking
        for booking in hook.list_bookings(client_email=email)
        if pendulum.parse(booking["starts_at"]) == wanted and booking.get("status") != "cancelled"
    ]
    if not matches:
        print(f"No booking for {email} at {start.isoformat()} was found after the run", file=sys.stderr)
        return 1
    booking = hook.get_booking(matches[-1]["sid"])
    print("\nBooking created through Airflow and read back from NeetoCal:")
    for key in (
        "sid",
        "status",
        "name",
        "email",
        "meeting",
        "starts_at",
        "starts_at_for_client",
        "time_zone",
        "preferred_meeting_spot",
        "admin_booking_url",
    ):
        value = booking.get(key)
        print(f"  {key:<24}{value['name'] if key == 'meeting' and isinstance(value, dict) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
