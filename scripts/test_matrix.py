"""``make test-matrix``: the whole pytest suite on each supported Airflow version.

For each version ``X.Y.Z`` given on the command line (default: the tested ones below) this runs
``make venv`` and ``make pytest`` with ``VENV=.venv-airflow-X.Y.Z`` and ``AIRFLOW_VERSION=X.Y.Z``,
so every version gets its own venv and its own ``AIRFLOW_HOME`` (``.airflow/X.Y.Z``) and installs
exactly the way ``make test`` does (uv, no constraints file, the provider editable with its test
extras). Lint and mypy are not repeated: ``make test`` runs them on the default version.

Prints the install and test time of each version and a summary table; exits non-zero when any
version failed (pytest's exit code 5, "no tests collected", counts as a failure here: the suite is
never empty, so it would mean a broken collection).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTED_VERSIONS = ["2.11.2", "3.1.8", "3.3.2"]


@dataclass
class Outcome:
    version: str
    install_seconds: float
    install_code: int
    test_seconds: float = 0.0
    test_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.install_code == 0 and self.test_code == 0


def make(target: str, version: str, extra: list[str]) -> tuple[int, float]:
    """Run ``make <target>`` for one Airflow version; return its exit code and wall time."""
    command = ["make", "--no-print-directory", target, f"VENV=.venv-airflow-{version}", f"AIRFLOW_VERSION={version}"]
    command += extra
    print(f"\n=== Airflow {version}: {shlex.join(command)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=ROOT)
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("versions", nargs="*", default=TESTED_VERSIONS, help="Airflow versions (X.Y.Z)")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-m \"not ui\"'")
    args = parser.parse_args()

    outcomes: list[Outcome] = []
    for version in args.versions:
        install_code, install_seconds = make("venv", version, [])
        outcome = Outcome(version, install_seconds, install_code)
        outcomes.append(outcome)
        print(f"=== Airflow {version}: install {install_seconds:.0f} s (exit {install_code})", flush=True)
        if install_code != 0:
            continue
        outcome.test_code, outcome.test_seconds = make("pytest", version, [f"PYTEST_ARGS={args.pytest_args}"])
        print(f"=== Airflow {version}: tests {outcome.test_seconds:.0f} s (exit {outcome.test_code})", flush=True)

    print("\nAirflow version matrix (install = venv + uv install, skipped when already installed):")
    print(f"  {'version':<10}{'install':>10}{'tests':>10}  result")
    for outcome in outcomes:
        result = "passed" if outcome.ok else "install failed" if outcome.install_code else "tests failed"
        print(f"  {outcome.version:<10}{outcome.install_seconds:>9.0f}s{outcome.test_seconds:>9.0f}s  {result}")
    return 0 if outcomes and all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
