"""The one place where supported Airflow versions differ.

Airflow 3 moved the authoring interface to ``airflow.sdk``; Airflow 2 keeps it under
``airflow.models``, ``airflow.hooks`` and ``airflow.utils``. Every other module of the provider
imports these names from here, so supporting (or dropping) a version touches only this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= AIRFLOW_VERSION

if TYPE_CHECKING or AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, Context
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret
    from airflow.sdk.types import TaskInstanceKey
else:  # pragma: no cover - exercised by the Airflow 2 test matrix
    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.hooks.base import BaseHook
    from airflow.models import BaseOperator, BaseOperatorLink
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.models.xcom import XCom
    from airflow.utils.context import Context
    from airflow.utils.log.secrets_masker import mask_secret

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "Context",
    "TaskInstanceKey",
    "XCom",
    "mask_secret",
]


def dagbag_class() -> type:
    """``DagBag`` (moved to ``airflow.dag_processing.dagbag`` in 3.x); imported lazily, tests use it."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:  # pragma: no cover - exercised by the Airflow 2 test matrix
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag
