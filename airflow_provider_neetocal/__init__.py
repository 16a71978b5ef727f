"""Apache Airflow provider for NeetoCal.

Loaded by Airflow's providers manager through the ``apache_airflow_provider`` entry point, so it
stays import-light: the version and the static provider description, no Airflow import.
"""

from __future__ import annotations

from airflow_provider_neetocal.provider_info import get_provider_info

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]
