"""Parse cost: what importing an operator module, and building one task of it, adds to a DAG file.

A DAG file that uses no ``@task`` imports ``airflow.sdk`` and then our module, and nothing else of the
SDK has been touched yet (a "cold" SDK: ``airflow.sdk``'s names load lazily, on first use). So each
sample is a fresh interpreter that imports ``airflow.sdk`` alone, then times

* ``import``: importing the module;
* ``+ build``: importing it and building one operator / sensor of it, as a DAG file does (a name the
  constructor imports on first use is paid here, in every parse).

Modules are interleaved round by round, so drift hits them alike; the median of ``--rounds`` samples is
printed, with the difference to ``EmptyOperator`` (the floor: an operator that imports nothing) and
``HttpOperator`` when apache-airflow-providers-http is installed, and the fastest sample: on a
machine shared with other work, noise only ever adds time, so the minimum is the closer estimate of
what the import itself costs.

Bytecode: a deployed provider and Airflow run from compiled ``.pyc`` files (pip writes them at
install). The probes therefore run with a bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary
directory, warmed by one unmeasured round, whatever ``PYTHONDONTWRITEBYTECODE`` says here);
``--compile`` measures without it, every module compiled from source in every probe.

Prints a table, asserts nothing. Usage: ``python benchmarks/bench_parse_cost.py [--rounds 9] [--compile]``.
To see where a module's time goes: ``python -X importtime -c "import airflow.sdk; import <module>"``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = """
import time
import airflow.sdk
started = time.perf_counter()
import {module}
imported = time.perf_counter()
{build}
built = time.perf_counter()
print((imported - started) * 1000, (built - started) * 1000)
"""

#: label: (module, statement building one task of it, run after the import; "" when none)
MODULES: dict[str, tuple[str, str]] = {
    "EmptyOperator": (
        "airflow.providers.standard.operators.empty",
        "airflow.providers.standard.operators.empty.EmptyOperator(task_id='t')",
    ),
    "HttpOperator": (
        "airflow.providers.http.operators.http",
        "airflow.providers.http.operators.http.HttpOperator(task_id='t', endpoint='/x')",
    ),
    "neetocal package": ("airflow_provider_neetocal", ""),
    "operators.booking": (
        "airflow_provider_neetocal.operators.booking",
        "airflow_provider_neetocal.operators.booking.NeetoCalCreateBookingOperator(task_id='t', meeting_slug='m', "
        "name='n', attendee_email='e@example.com', time_zone='UTC')",
    ),
    "operators.bulk": (
        "airflow_provider_neetocal.operators.bulk",
        "airflow_provider_neetocal.operators.bulk.NeetoCalCreateBookingsOperator(task_id='t', bookings=[])",
    ),
    "operators.lifecycle": (
        "airflow_provider_neetocal.operators.lifecycle",
        "airflow_provider_neetocal.operators.lifecycle.NeetoCalCancelBookingOperator(task_id='t', booking_sid='x')",
    ),
    "operators.read": (
        "airflow_provider_neetocal.operators.read",
        "airflow_provider_neetocal.operators.read.NeetoCalListBookingsOperator(task_id='t')",
    ),
    "sensors.booking": (
        "airflow_provider_neetocal.sensors.booking",
        "airflow_provider_neetocal.sensors.booking.NeetoCalBookingSensor(task_id='t', booking_sid='x')",
    ),
    "hooks.neetocal (task time)": ("airflow_provider_neetocal.hooks.neetocal", ""),
}


def probe_environment(compile_each_time: bool, cache: str) -> dict[str, str]:
    """The probes' environment: a bytecode cache as a deployment has, unless ``--compile``."""
    env = dict(os.environ)
    if compile_each_time:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def sample(module: str, build: str, env: dict[str, str]) -> tuple[float, float]:
    """``(import ms, import + build ms)`` in one fresh interpreter."""
    code = PROBE.format(module=module, build=build or "pass")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    imported, built = out.strip().splitlines()[-1].split()
    return float(imported), float(built)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--compile", action="store_true", help="no bytecode cache: compile every module each time")
    args = parser.parse_args()
    present = {label: spec for label, spec in MODULES.items() if _importable(spec[0])}
    with tempfile.TemporaryDirectory(prefix="neetocal-bench-pycache-") as cache:
        env = probe_environment(args.compile, cache)
        for module, build in present.values():  # warm-up: writes the bytecode cache, not measured
            sample(module, build, env)
        imports: dict[str, list[float]] = {label: [] for label in present}
        builds: dict[str, list[float]] = {label: [] for label in present}
        for _ in range(args.rounds):
            for label, (module, build) in present.items():
                imported, built = sample(module, build, env)
                imports[label].append(imported)
                builds[label].append(built)
    imported_ms = {label: statistics.median(values) for label, values in imports.items()}
    fastest_ms = {label: min(values) for label, values in imports.items()}
    built_ms = {label: statistics.median(values) for label, values in builds.items()}
    empty_import, empty_fastest, empty_built = (
        imported_ms["EmptyOperator"],
        fastest_ms["EmptyOperator"],
        built_ms["EmptyOperator"],
    )
    cache_note = "no bytecode cache (--compile)" if args.compile else "bytecode cached"
    print(f"After a cold `import airflow.sdk`, fresh interpreters, {cache_note}, {args.rounds} rounds (interleaved)")
    header = (
        f"{'module':<28}{'import ms':>10}{'vs Empty':>10}{'vs Http':>9}"
        f"{'fastest':>9}{'vs Empty':>10}{'+ build ms':>12}{'vs Empty':>10}"
    )
    print(header)
    print(f"{'':<28}{'(median)':>10}{'':>19}{'(min)':>9}{'':>10}{'(median)':>12}")
    print("-" * len(header))
    http = imported_ms.get("HttpOperator")
    for label in present:
        value = imported_ms[label]
        versus_http = f"{value - http:+.1f}" if http is not None else "n/a"
        fastest = f"{fastest_ms[label]:>9.1f}{fastest_ms[label] - empty_fastest:>+10.1f}"
        has_build = bool(present[label][1])
        build_text = f"{built_ms[label]:>12.1f}{built_ms[label] - empty_built:>+10.1f}" if has_build else ""
        print(f"{label:<28}{value:>10.1f}{value - empty_import:>+10.1f}{versus_http:>9}{fastest}{build_text}")
    if http is None:
        print("HttpOperator: apache-airflow-providers-http is not installed here; not measured")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


if __name__ == "__main__":
    main()
