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
    "airflow_provider_neetocal.operators.sync",
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


#: What an operator module's import must leave to the task (or to a DAG file that asks for it): the
#: ``@task`` machinery (the standard provider's python operators, ``packaging.requirements``), the HTML
#: parser used for error bodies, and the provider's own task-time modules.
NOT_AT_PARSE = (
    "airflow.providers.standard",
    "airflow.sdk.bases.decorator",
    "packaging.requirements",
    "html.parser",
    "airflow_provider_neetocal.exactly_once",
    "airflow_provider_neetocal.exceptions",
    "airflow_provider_neetocal.booking",
    "airflow_provider_neetocal.booking_wait",
    "airflow_provider_neetocal.slots",
    "airflow_provider_neetocal.api_contract",
)
#: The operator and sensor modules a DAG file imports, each in its own fresh interpreter.
LEAN_MODULES = [
    "airflow_provider_neetocal.operators.booking",
    "airflow_provider_neetocal.operators.bulk",
    "airflow_provider_neetocal.operators.read",
    "airflow_provider_neetocal.operators.lifecycle",
    "airflow_provider_neetocal.operators.sync",
    "airflow_provider_neetocal.sensors.booking",
]

BUILD_PROBE = """
import json, sys
import airflow.sdk
from airflow.sdk import BaseSensorOperator

class Floor(BaseSensorOperator):
    def poke(self, context):
        return True

# What building any sensor loads is Airflow's own cost, not ours (3.1 loads the standard provider then).
Floor(task_id="floor")
before = set(sys.modules)
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator
from airflow_provider_neetocal.operators.lifecycle import NeetoCalCancelBookingOperator
from airflow_provider_neetocal.operators.read import NeetoCalFindSlotsOperator, NeetoCalListBookingsOperator
from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor
NeetoCalCreateBookingOperator(task_id="b", meeting_slug="m", name="n", attendee_email="e@example.com",
                              time_zone="UTC", if_exists="fail")
NeetoCalCreateBookingsOperator(task_id="bb", bookings="{{ params.rows }}", if_exists="fail", max_concurrency=8)
NeetoCalCancelBookingOperator(task_id="c", booking_sid="x")
NeetoCalListBookingsOperator(task_id="l")
NeetoCalFindSlotsOperator(task_id="s", meeting_slug="m", date_from="2030-01-01", date_to="2030-01-02", time_zone="UTC")
NeetoCalBookingSensor(task_id="w", booking_sid="x", target_statuses="cancelled")
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def loaded_of(added: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(name for name in added if name.startswith(prefixes))


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2's airflow.models imports the decorators itself")
@pytest.mark.parametrize("module", LEAN_MODULES)
def test_an_operator_module_leaves_task_decorators_html_parser_and_task_time_modules_unloaded(module):
    added = modules_added_by([module])[module]

    assert loaded_of(added, NOT_AT_PARSE) == []


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2's airflow.models imports the decorators itself")
def test_building_the_operators_as_a_dag_file_does_loads_no_task_time_module_either():
    """Construction runs in every DAG parse too: the ``if_exists`` check must not pull ``exactly_once``."""
    result = subprocess.run(
        [sys.executable, "-c", BUILD_PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    added = json.loads(result.stdout.strip().splitlines()[-1])

    assert loaded_of(added, NOT_AT_PARSE) == []


def test_the_probe_sees_task_time_modules_when_they_are_imported():
    """The check can fail: the hook module (the exactly-once machinery's caller) does load them."""
    added = modules_added_by(["airflow_provider_neetocal.hooks.neetocal"])["airflow_provider_neetocal.hooks.neetocal"]

    assert loaded_of(added, NOT_AT_PARSE) != []


def test_the_if_exists_choices_checked_at_build_time_are_exactly_onces():
    from airflow_provider_neetocal.exactly_once import IF_EXISTS_CHOICES
    from airflow_provider_neetocal.operators import booking

    assert booking.IF_EXISTS_CHOICES == IF_EXISTS_CHOICES


def test_names_made_lazy_still_import_from_where_they_were():
    from airflow_provider_neetocal import _compat
    from airflow_provider_neetocal.exactly_once import IfExists
    from airflow_provider_neetocal.operators.booking import IfExists as Reexported

    assert Reexported is IfExists
    for name in ("DAG", "Param", "task", "BaseHook", "TaskInstanceKey"):
        assert getattr(_compat, name) is not None
    with pytest.raises(AttributeError):
        _compat.NoSuchName  # noqa: B018
