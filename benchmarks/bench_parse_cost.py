"""Parse cost: what importing an operator module adds to a DAG file that already imported ``airflow.sdk``.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (every DAG file does), then times
one import. Modules are interleaved round by round, so drift hits them alike; the median of
``--rounds`` samples is printed, with the difference to ``EmptyOperator`` (the floor: an operator
that imports nothing) and to ``HttpOperator`` when apache-airflow-providers-http is installed.

Prints a table, asserts nothing. Usage: ``python benchmarks/bench_parse_cost.py [--rounds 9]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys

PROBE = """
import time
import airflow.sdk
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000)
"""

MODULES = {
    "EmptyOperator": "airflow.providers.standard.operators.empty",
    "HttpOperator": "airflow.providers.http.operators.http",
    "neetocal package": "airflow_provider_neetocal",
    "operators.booking": "airflow_provider_neetocal.operators.booking",
    "operators.bulk": "airflow_provider_neetocal.operators.bulk",
    "operators.lifecycle": "airflow_provider_neetocal.operators.lifecycle",
    "hooks.neetocal (task time)": "airflow_provider_neetocal.hooks.neetocal",
}


def sample(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    present = {label: module for label, module in MODULES.items() if importlib.util.find_spec(module.split(".")[0])}
    present = {label: module for label, module in present.items() if _importable(module)}
    samples: dict[str, list[float]] = {label: [] for label in present}
    for _ in range(args.rounds):
        for label, module in present.items():
            samples[label].append(sample(module))
    medians = {label: statistics.median(values) for label, values in samples.items()}
    empty = medians["EmptyOperator"]
    print(f"Import time after airflow.sdk, fresh interpreters, median of {args.rounds} (interleaved)")
    header = f"{'module':<28}{'ms':>8}{'vs EmptyOperator':>18}{'vs HttpOperator':>17}"
    print(header)
    print("-" * len(header))
    http = medians.get("HttpOperator")
    for label, value in medians.items():
        versus_http = f"{value - http:+.1f}" if http is not None else "n/a"
        print(f"{label:<28}{value:>8.1f}{value - empty:>+18.1f}{versus_http:>17}")
    if http is None:
        print("HttpOperator: apache-airflow-providers-http is not installed here; not measured")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


if __name__ == "__main__":
    main()
