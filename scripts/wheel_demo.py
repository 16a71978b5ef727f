"""``make wheel-demo``: the provider as users get it, from the built wheel, away from the repo.

1. builds the sdist and wheel (``uv build``) into ``.airflow/wheel-demo/dist`` and checks them the
   way the package index and a packager would: ``twine check --strict`` (metadata complete; twine
   does not render Markdown, so the README's links are checked to be absolute below),
   ``check-wheel-contents`` (no stray or duplicate files), ``pyroma`` 10/10 on
   the sdist, ``LICENSE`` and ``NOTICE`` in both, the wheel's file list (package data,
   ``py.typed``, entry point, every example DAG and the pipeline's CSV) and every link of the README
   (the project page on the index) absolute;
2. creates a fresh venv ``.venv-wheel-<airflow version>`` holding only Airflow and that wheel
   (no editable install, nothing from the repo on ``sys.path``);
3. in a temp dir outside the repo: starts the sandbox from the installed package
   (``python -m airflow_provider_neetocal.sandbox``: its seeded meetings come from the wheel's
   ``meetings.json``), checks Airflow discovers the provider through its entry point, gets the
   example DAGs the way the README says (``python -m airflow_provider_neetocal.examples copy``, with
   the DAGs folder from ``airflow config get-value core dags_folder``), checks they are the
   repository's files byte for byte, that a second copy refuses to overwrite them, and that Airflow
   imports every one of them without an error; then runs ``airflow dags test`` on
   ``neetocal_manual_booking`` and on ``neetocal_pipeline`` (which reads the copied CSV);
4. reads the sandbox's ``GET /bookings`` and fails unless the runs created the bookings.

Run with the dev venv's Python (it has ``uv`` and ``twine``): ``.venv/bin/python scripts/wheel_demo.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "neetocal_manual_booking"
API_KEY = "wheel-demo-key-0123456789"
ATTENDEE = "wheel-demo@example.com"
#: What the wheel must contain besides Python modules.
REQUIRED_IN_WHEEL = ["airflow_provider_neetocal/sandbox/meetings.json", "airflow_provider_neetocal/py.typed"]
#: The example DAGs and their data, copied into the wheel from the repository's root ``example_dags/``.
EXAMPLES = sorted(
    str(path.relative_to(ROOT / "example_dags"))
    for pattern in ("neetocal_*.py", "data/*.csv")
    for path in (ROOT / "example_dags").glob(pattern)
)
EXAMPLE_DAG_IDS = sorted(Path(name).stem for name in EXAMPLES if name.endswith(".py"))
#: One row per line of the pipeline's sample CSV, each booked by ``neetocal_pipeline``.
PIPELINE_ATTENDEES = [
    line.split(",")[1].lower()
    for line in (ROOT / "example_dags" / "data" / "attendees.csv").read_text(encoding="utf-8").splitlines()[1:]
]
#: Licence files every distribution carries (Apache-2.0 section 4: a copy of the licence and the NOTICE).
LICENCE_FILES = ["LICENSE", "NOTICE"]


def step(message: str) -> float:
    print(f"\n==> {message}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    ({time.monotonic() - started:.1f} s)", flush=True)


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command, failing loudly with its output."""
    result = subprocess.run(command, text=True, capture_output=True, cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        print(result.stdout[-6000:], result.stderr[-6000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"failed (exit {result.returncode}): {' '.join(command)}")
    return result


def build(dist: Path) -> Path:
    started = step(f"uv build (sdist + wheel) into {dist.relative_to(ROOT)}")
    shutil.rmtree(dist, ignore_errors=True)
    run([sys.executable, "-m", "uv", "build", "--quiet", "--out-dir", str(dist), str(ROOT)])
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist, got {[p.name for p in dist.iterdir()]}")
    run([sys.executable, "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0])])
    bin_dir = Path(sys.executable).parent
    run([str(bin_dir / "check-wheel-contents"), str(wheels[0])])
    pyroma = run([str(bin_dir / "pyroma"), "--min", "10", str(sdists[0])]).stdout
    print("    " + next((line for line in pyroma.splitlines() if line.startswith("Final rating")), "pyroma: 10/10"))
    names = zipfile.ZipFile(wheels[0]).namelist()
    with tarfile.open(sdists[0]) as sdist:
        sdist_names = {name.split("/", 1)[-1] for name in sdist.getnames()}
    licences_missing = [
        f"wheel: {n}" for n in LICENCE_FILES if not any(x.endswith(f".dist-info/licenses/{n}") for x in names)
    ]
    licences_missing += [f"sdist: {n}" for n in LICENCE_FILES if n not in sdist_names]
    if licences_missing:
        raise SystemExit(f"licence files missing: {licences_missing}")
    required = REQUIRED_IN_WHEEL + [f"airflow_provider_neetocal/example_dags/{name}" for name in EXAMPLES]
    missing = [name for name in required if name not in names]
    entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    if missing or entry_points is None:
        raise SystemExit(f"wheel lacks {missing or 'entry_points.txt'}")
    entry_text = zipfile.ZipFile(wheels[0]).read(entry_points).decode()
    if "[apache_airflow_provider]" not in entry_text:
        raise SystemExit(f"wheel has no apache_airflow_provider entry point:\n{entry_text}")
    relative = readme_relative_links(ROOT / "README.md")
    if relative:
        raise SystemExit(f"README links that break on the package index (make them absolute): {relative}")
    print(
        f"    {wheels[0].name} ({len(names)} files), {sdists[0].name}: twine check --strict, "
        "check-wheel-contents, pyroma 10/10 passed; LICENSE and NOTICE in both; "
        f"{len(EXAMPLES)} example files in the wheel; README links absolute"
    )
    done(started)
    return wheels[0]


def readme_relative_links(readme: Path) -> list[str]:
    """Markdown link and image targets in ``readme`` that are neither absolute URLs nor in-page anchors."""
    text = re.sub(r"```.*?```", "", readme.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = re.findall(r"\]\(([^)\s]+)", text)
    return [target for target in targets if not target.startswith(("https://", "http://", "#", "mailto:"))]


def make_venv(venv: Path, airflow_version: str, wheel: Path) -> Path:
    started = step(f"fresh venv {venv.name}: apache-airflow=={airflow_version} + {wheel.name}, nothing else")
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    uv_install = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python)]
    run([*uv_install, f"apache-airflow=={airflow_version}", str(wheel)])
    done(started)
    return python


def start_sandbox(python: Path, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The installed package's sandbox CLI on a free port; returns the process and its URL."""
    process = subprocess.Popen(
        [str(python), "-m", "airflow_provider_neetocal.sandbox", "--port", "0", "--api-key", API_KEY],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    print(f"    {line}")
    prefix = "NeetoCal sandbox listening on "
    if not line.startswith(prefix):
        process.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return process, line[len(prefix) :].split()[0]


def api_get(url: str) -> Any:
    request = urllib.request.Request(url, headers={"X-Api-Key": API_KEY, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def last_json(stdout: str) -> Any:
    """The JSON a CLI printed as its last JSON line (Airflow's CLI logs warnings to stdout before it)."""
    line = next((line for line in reversed(stdout.splitlines()) if line.startswith(("[", "{"))), None)
    if line is None:
        raise SystemExit(f"no JSON in the command's output:\n{stdout[-2000:]}")
    return json.loads(line)


def copy_examples_from_wheel(python: Path, airflow: str, work: Path, env: dict[str, str]) -> None:
    """The README's one command for the examples, run from the installed wheel into Airflow's DAGs folder."""
    started = step(
        "airflow db migrate; python -m airflow_provider_neetocal.examples copy $(airflow config get-value …)"
    )
    run([airflow, "db", "migrate"], cwd=work, env=env)
    dags_folder = Path(run([airflow, "config", "get-value", "core", "dags_folder"], cwd=work, env=env).stdout.strip())
    if dags_folder != work / "dags":
        raise SystemExit(f"airflow config get-value core dags_folder answered {dags_folder}, not {work / 'dags'}")
    source = run([str(python), "-m", "airflow_provider_neetocal.examples", "path"], cwd=work, env=env).stdout.strip()
    if "/site-packages/airflow_provider_neetocal/example_dags" not in source:
        raise SystemExit(f"the examples were not found in the installed wheel but in {source}")
    print(
        run(
            [str(python), "-m", "airflow_provider_neetocal.examples", "copy", str(dags_folder)], cwd=work, env=env
        ).stdout.splitlines()[-1]
    )
    copied = sorted(str(p.relative_to(dags_folder)) for p in dags_folder.rglob("*") if p.is_file())
    if copied != EXAMPLES:
        raise SystemExit(f"copied {copied}, expected {EXAMPLES}")
    differing = [
        name for name in EXAMPLES if (dags_folder / name).read_bytes() != (ROOT / "example_dags" / name).read_bytes()
    ]
    if differing:
        raise SystemExit(f"copied examples differ from the repository's example_dags/: {differing}")
    again = subprocess.run(
        [str(python), "-m", "airflow_provider_neetocal.examples", "copy", str(dags_folder)],
        cwd=work,
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if again.returncode != 1 or "--force" not in again.stderr:
        raise SystemExit(
            f"a second copy should refuse to overwrite (exit 1, naming --force): {again.returncode} {again.stderr}"
        )
    listed = last_json(run([airflow, "dags", "list", "--local", "--output", "json"], cwd=work, env=env).stdout)
    errors = last_json(
        run([airflow, "dags", "list-import-errors", "--local", "--output", "json"], cwd=work, env=env).stdout
    )
    dag_ids = sorted(dag["dag_id"] for dag in listed)
    if dag_ids != EXAMPLE_DAG_IDS or errors:
        raise SystemExit(f"Airflow parsed {dag_ids} (expected {EXAMPLE_DAG_IDS}); import errors: {errors}")
    print(f"    {len(EXAMPLES)} files copied from the wheel, identical to example_dags/; a second copy refused")
    print(f"    airflow dags list: {', '.join(dag_ids)}; no import errors")
    done(started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--airflow-version", default="3.3.2")
    args = parser.parse_args()
    total = time.monotonic()

    wheel = build(ROOT / ".airflow" / "wheel-demo" / "dist")
    python = make_venv(ROOT / f".venv-wheel-{args.airflow_version}", args.airflow_version, wheel)
    airflow = str(python.parent / "airflow")

    with tempfile.TemporaryDirectory(prefix="neetocal-wheel-demo-") as temp:
        work = Path(temp)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV")) and key != "PYTHONPATH"
        }
        env |= {
            "AIRFLOW_HOME": str(work / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

        started = step("the installed package: imported from site-packages, not from the repo")
        where = run(
            [str(python), "-c", "import airflow_provider_neetocal as p; print(p.__file__, p.__version__)"],
            cwd=work,
            env=env,
        ).stdout.strip()
        print(f"    {where}")
        if "/site-packages/airflow_provider_neetocal/" not in where or where.startswith(str(ROOT / "airflow_")):
            raise SystemExit(f"the provider was not imported from the installed wheel: {where}")
        providers = run([airflow, "providers", "list", "--output", "json"], cwd=work, env=env).stdout
        if '"airflow-provider-neetocal"' not in providers:
            raise SystemExit("airflow providers list does not show airflow-provider-neetocal")
        print("    airflow providers list: airflow-provider-neetocal discovered through its entry point")
        done(started)

        copy_examples_from_wheel(python, airflow, work, env)

        started = step("sandbox from the installed package (python -m airflow_provider_neetocal.sandbox)")
        sandbox, url = start_sandbox(python, work, env)
        try:
            meetings = api_get(f"{url}/api/external/v1/meetings")
            slugs = [m["slug"] for m in meetings["meetings"]]
            print(f"    seeded meetings from the wheel's meetings.json: {slugs}")
            done(started)

            env["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(
                {"conn_type": "neetocal", "host": url, "password": API_KEY}
            )
            conf = {"name": "Wheel Demo", "email": ATTENDEE, "time_zone": "Asia/Kolkata"}
            started = step(f"airflow dags test {DAG_ID} -c '{json.dumps(conf)}' (cwd {work})")
            run([airflow, "dags", "test", DAG_ID, "-c", json.dumps(conf)], cwd=work, env=env)
            done(started)

            started = step("airflow dags test neetocal_pipeline (its rows from the copied data/attendees.csv)")
            run([airflow, "dags", "test", "neetocal_pipeline"], cwd=work, env=env)
            booked = sorted(b["email"].lower() for b in api_get(f"{url}/api/external/v1/bookings")["bookings"])
            if any(booked.count(email) != 1 for email in PIPELINE_ATTENDEES):
                raise SystemExit(f"expected one booking per CSV row {PIPELINE_ATTENDEES}, the sandbox has {booked}")
            print(f"    one booking per row of the wheel's CSV: {', '.join(PIPELINE_ATTENDEES)}")
            done(started)

            bookings = api_get(f"{url}/api/external/v1/bookings?client_email={ATTENDEE}")["bookings"]
            created = [b for b in bookings if b.get("email") == ATTENDEE]
            if len(created) != 1 or created[0].get("status") != "confirmed":
                raise SystemExit(f"expected one confirmed booking for {ATTENDEE}, the sandbox has {bookings}")
            booking = created[0]
            print(
                f"\nBooking created from the wheel install: {booking['sid']} for {booking['email']} "
                f"at {booking['starts_at']} ({booking['admin_booking_url']})"
            )
        finally:
            os.killpg(sandbox.pid, signal.SIGTERM)
            sandbox.wait(timeout=10)

    print(f"\nwheel demo passed in {time.monotonic() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
