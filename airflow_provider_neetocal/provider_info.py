"""The provider's static description: what Airflow's providers manager and connection form read.

Pure data, no Airflow import: Airflow >= 3.2 builds the connection form from ``conn-fields`` and
``ui-field-behaviour`` here without importing the hook, and older versions ask the hook, which
reads the same constants, so both forms always agree.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "airflow-provider-neetocal"
HOOK_CLASS_NAME = "airflow_provider_neetocal.hooks.neetocal.NeetoCalHook"
BOOKING_LINK_CLASS_NAME = "airflow_provider_neetocal.links.NeetoCalBookingLink"

#: Standard fields NeetoCal has no use for; only Workspace (host) and API key (password) remain.
HIDDEN_FIELDS = ["schema", "port", "login", "extra"]

#: ``ui-field-behaviour`` in provider-info spelling (kebab-case keys).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": HIDDEN_FIELDS,
    "relabeling": {"host": "Workspace", "password": "API key"},
    "placeholders": {
        "host": "acme (for acme.neetocal.com) or http://127.0.0.1:8765",
        "password": "API key from NeetoCal → Admin panel → API Keys",
        "base_url": "https://proxy.example.com (optional)",
        "timeout": "30",
        "proxy": "http://proxy.internal:3128 (optional)",
        "ca_bundle": "/etc/ssl/certs/corp-ca.pem (optional)",
    },
}

#: Extra fields, stored in the connection's ``extra`` under the same names.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "base_url": {
        "label": "Base URL (advanced)",
        "description": (
            "Optional, e.g. https://proxy.example.com: origin of a NeetoCal-compatible server or proxy; "
            "overrides Workspace. https:// required except for loopback addresses."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "Optional, e.g. 30: seconds to wait for NeetoCal's answer (default 30; connect timeout 10).",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "proxy": {
        "label": "Proxy URL (advanced)",
        "description": (
            "Optional, e.g. http://proxy.internal:3128: proxy for every request to NeetoCal. "
            "HTTP(S)_PROXY from the environment is ignored."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "ca_bundle": {
        "label": "CA bundle path (advanced)",
        "description": (
            "Optional, e.g. /etc/ssl/certs/corp-ca.pem: file of CA certificates to verify NeetoCal's (or the "
            "proxy's) TLS certificate; default: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else the system's."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "api_version": {
        "label": "API version",
        "description": (
            "NeetoCal API the provider speaks: v1 (the default; NeetoCal marks it deprecated) or v2. "
            "Switching needs nothing else: see docs/api-versions.md."
        ),
        # An enum renders as a select in Airflow >= 3.2's form; older forms get a SelectField from the hook.
        # "null" in the type: optional. Airflow >= 3.2 marks a field required (and refuses it cleared, with
        # its always-present clear button) when its type does not admit null; cleared, the hook reads v1.
        "schema": {
            "type": ["string", "null"],
            "enum": ["v1", "v2"],
            "default": "v1",
            "values_display": {"v1": "v1 (default, deprecated by NeetoCal)", "v2": "v2"},
        },
    },
}


def hook_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the hook method's spelling (snake_case keys), for Airflow < 3.2."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (``apache_airflow_provider`` entry point)."""
    from airflow_provider_neetocal import __version__

    return {
        "package-name": PACKAGE_NAME,
        "name": "NeetoCal",
        "description": "Create and manage [NeetoCal](https://neetocal.com) bookings from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "NeetoCal",
                "external-doc-url": "https://neetocal.com",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "NeetoCal", "python-modules": ["airflow_provider_neetocal.hooks.neetocal"]}],
        "operators": [
            {
                "integration-name": "NeetoCal",
                "python-modules": [
                    "airflow_provider_neetocal.operators.booking",
                    "airflow_provider_neetocal.operators.bulk",
                    "airflow_provider_neetocal.operators.lifecycle",
                    "airflow_provider_neetocal.operators.read",
                    "airflow_provider_neetocal.operators.sync",
                ],
            }
        ],
        "sensors": [{"integration-name": "NeetoCal", "python-modules": ["airflow_provider_neetocal.sensors.booking"]}],
        "triggers": [
            {"integration-name": "NeetoCal", "python-modules": ["airflow_provider_neetocal.triggers.booking"]}
        ],
        "connection-types": [
            {
                "connection-type": "neetocal",
                "hook-class-name": HOOK_CLASS_NAME,
                "hook-name": "NeetoCal",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "extra-links": [BOOKING_LINK_CLASS_NAME],
    }
