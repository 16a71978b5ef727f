"""The provider's face to Airflow: entry point, provider info, connection form, discovery."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest

import airflow_provider_neetocal
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
from tests.compat import requires_connection_form_widgets

DISTRIBUTION = "airflow-provider-neetocal"


def _import(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_entry_point_loads_get_provider_info():
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.dist and e.dist.name == DISTRIBUTION]
    assert entry.load()() == get_provider_info()


def test_package_name_equals_the_distribution_name():
    assert get_provider_info()["package-name"] == distribution(DISTRIBUTION).metadata["Name"]


def test_version_is_the_distribution_version():
    assert get_provider_info()["versions"] == [airflow_provider_neetocal.__version__]
    assert distribution(DISTRIBUTION).version == airflow_provider_neetocal.__version__


def test_declared_classes_and_modules_import():
    info = get_provider_info()
    (conn_type,) = info["connection-types"]
    assert _import(conn_type["hook-class-name"]) is NeetoCalHook
    for dotted in info["extra-links"]:
        assert _import(dotted)
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_connection_type_matches_the_hook():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == NeetoCalHook.conn_type == "neetocal"
    assert conn_type["hook-name"] == NeetoCalHook.hook_name


def test_hook_form_for_older_airflow_says_what_provider_info_says():
    behaviour = NeetoCalHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }
    assert behaviour["relabeling"] == {"host": "Workspace", "password": "API key"}
    assert {"login", "port", "schema"} <= set(behaviour["hidden_fields"])
    assert "password" not in behaviour["hidden_fields"]


def test_provider_info_validates_against_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_discovers_the_connection_type_and_link():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert DISTRIBUTION in manager.providers
    assert manager.hooks["neetocal"].hook_class_name.endswith("NeetoCalHook")
    assert "airflow_provider_neetocal.links.NeetoCalBookingLink" in manager.extra_links_class_names


@requires_connection_form_widgets()
def test_providers_manager_discovers_the_connection_type_and_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert DISTRIBUTION in manager.providers
    assert manager.hooks["neetocal"].hook_class_name.endswith("NeetoCalHook")
    assert manager.field_behaviours["neetocal"]["relabeling"]["host"] == "Workspace"
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__neetocal__")}
    assert widgets == {f"extra__neetocal__{field}" for field in CONN_FIELDS}
    assert "airflow_provider_neetocal.links.NeetoCalBookingLink" in manager.extra_links_class_names


def test_api_version_field_offers_every_version_the_contract_speaks():
    from airflow_provider_neetocal.api_contract import API_VERSIONS, DEFAULT_API_VERSION

    schema = CONN_FIELDS["api_version"]["schema"]
    assert schema["enum"] == list(API_VERSIONS)
    assert schema["default"] == DEFAULT_API_VERSION
    assert set(schema["values_display"]) == set(API_VERSIONS)


def test_every_extra_field_is_optional_in_the_airflow_3_form():
    """Airflow >= 3.2 marks a conn-field required (a star, and an error once cleared) unless its type admits null."""
    required = [
        name
        for name, spec in CONN_FIELDS.items()
        if "null"
        not in (spec["schema"]["type"] if isinstance(spec["schema"]["type"], list) else [spec["schema"]["type"]])
    ]

    assert required == []


def test_a_cleared_api_version_reads_as_the_default_version():
    from airflow_provider_neetocal.api_contract import DEFAULT_API_VERSION, checked_api_version

    assert checked_api_version(None) == DEFAULT_API_VERSION
    assert checked_api_version("") == DEFAULT_API_VERSION


def test_older_airflow_form_shows_the_api_version_as_a_select():
    pytest.importorskip("wtforms", reason="Airflow < 3.2 builds this form with wtforms (fab); not installed here")
    pytest.importorskip("flask_appbuilder", reason="Airflow < 3.2 builds this form with flask_appbuilder")
    from wtforms import Form, StringField

    widgets = NeetoCalHook.get_connection_form_widgets()

    assert all(widget.field_class is StringField for widget in widgets.values())  # all Airflow 2 accepts
    form = type("ConnectionForm", (Form,), {"api_version": widgets["api_version"]})()
    html = str(form.api_version())
    assert html.startswith("<select")
    assert '<option value="v1" selected>' in html
    assert '<option value="v2">v2</option>' in html
    assert form.api_version.data == "v1"
    from werkzeug.datastructures import MultiDict

    posted = type("ConnectionForm", (Form,), {"api_version": widgets["api_version"]})(MultiDict({"api_version": "v3"}))
    assert not posted.validate()
    assert "must be one of: v1, v2" in posted.errors["api_version"][0]
    cleared = type("ConnectionForm", (Form,), {"api_version": widgets["api_version"]})(MultiDict({"api_version": ""}))
    assert cleared.validate(), cleared.errors


def test_airflow_3_1_form_offers_the_api_version_as_a_dropdown():
    """Airflow 3.0/3.1's UI turns the hook's wtforms fields into JSON schema, in a process of its own."""
    pytest.importorskip(
        "airflow.api_fastapi.core_api.services.ui.connections", reason="Airflow 3's UI service (3.x only)"
    )
    probe = (
        "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService as S\n"
        "f = S._get_hooks_with_mocked_fab()[1]['extra__neetocal__api_version'].field\n"
        "print(json.dumps((f.param.schema if hasattr(f, 'param') else f['schema'])['enum']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import json\n{probe}"], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["v1", "v2"]
