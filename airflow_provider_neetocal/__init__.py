"""Apache Airflow provider for NeetoCal.

This module is what Airflow's providers manager loads through the ``apache_airflow_provider``
entry point, so it stays import-light: no Airflow import here, only the version and the static
provider description. The hook, operators and links are imported lazily by Airflow from the dotted
paths below.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-neetocal"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (placeholder until the hook lands)."""
    return {"package-name": PACKAGE_NAME, "name": "NeetoCal", "versions": [__version__]}
