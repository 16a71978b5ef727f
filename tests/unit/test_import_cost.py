"""DAG files pay nothing for importing us: no HTTP stack, no email validator until a task runs.

Each check runs in a fresh interpreter (``sys.modules`` of this one is full of everything the suite
imported), imports ``airflow.sdk`` first as a DAG file does, then one of our modules, and lists
what our import added. A behaviour, not a timing: the benchmark measures the milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_neetocal._compat import AIRFLOW_V_3_0_PLUS

#: Loaded by a task when it runs, never by parsing a DAG file.
TASK_TIME_ONLY = ("requests", "urllib3", "tenacity", "email_validator", "httpx")

MODULES = [
    "airflow_provider_neetocal",
    "airflow_provider_neetocal.operators.booking",
    "airflow_provider_neetocal.operators.bulk",
    "airflow_provider_neetocal.operators.lifecycle",
    "airflow_provider_neetocal.operators.read",
    "airflow_provider_neetocal.sensors.booking",
    "airflow_provider_neetocal.triggers.booking",
    "airflow_provider_neetocal.links",
    "airflow_provider_neetocal.exactly_once",
]

PROBE = """
import importlib, json, sys
try:
    import airflow.sdk  # what every DAG file imports anyway
except ImportError:  # Airflow 2: DAG files import airflow.models
    import airflow.models
added = {{}}
for module in {modules!r}:
    before = set(sys.modules)
    importlib.import_module(module)
    added[module] = sorted(set(sys.modules) - before)
print(json.dumps(added))
"""


@pytest.fixture(scope="module")
def added_by_module() -> dict[str, list[str]]:
    """What each module's import added, in one fresh interpreter (each module after the ones before it).

    Whatever an earlier module loaded is charged to that module, so anything any of them loads shows up.
    """
    return modules_added_by([*MODULES, "airflow_provider_neetocal.hooks.neetocal"])


def modules_added_by(modules: list[str]) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=modules)], capture_output=True, text=True, check=True, timeout=120
    )
    added: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return added


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_dag_facing_module_loads_no_http_stack_or_validator(module, added_by_module):
    loaded = sorted({name.split(".")[0] for name in added_by_module[module]} & set(TASK_TIME_ONLY))
    # tenacity counts only if we add it: airflow.sdk may import it itself.
    assert loaded == [], f"importing {module} after airflow.sdk also imported {loaded}"


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2's airflow.models imports requests itself")
def test_the_probe_sees_the_http_stack_when_the_hook_is_imported(added_by_module):
    """The check can fail: importing the hook module does load requests and urllib3."""
    added = {name.split(".")[0] for name in added_by_module["airflow_provider_neetocal.hooks.neetocal"]}
    assert {"requests", "urllib3"} <= added
