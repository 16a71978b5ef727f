"""The one place where supported Airflow versions differ.

Supported: Airflow 2.11 and 3.1+ (tested: 2.11.2, 3.1.8, 3.3.2; see ``docs/airflow-versions.md``).

- Airflow 3 moved the authoring interface to ``airflow.sdk``; Airflow 2 keeps it under
  ``airflow.models``, ``airflow.hooks`` and ``airflow.utils``.
- Within 3.x the Task SDK kept growing: ``BaseHook`` and ``mask_secret`` are in ``airflow.sdk``
  from 3.1 (so 3.0 is not supported), and the task exceptions and ``TaskInstanceKey`` moved into
  it in 3.2 (3.1 still has them in ``airflow.exceptions`` / ``airflow.models``).
- ``BaseSensorOperator.resume_execution`` turns every ``AirflowException`` raised after a deferral
  into a skip when ``soft_fail`` is on (2.11: ``AirflowSkipException(str(e))``; 3.1+: "Skipping due to
  soft_fail ...", also for ``never_fail``); :func:`error_behind_soft_fail_skip` undoes that for errors
  the sensor means to raise.
- ``DagBag`` (tests only) moved to ``airflow.dag_processing.dagbag`` in 3.2.
- The task state store (AIP-103, ``context["task_state_store"]``) exists from 3.3: the booking
  journal (:mod:`airflow_provider_neetocal.journal`) uses it there, and is absent below.
- The asset state store exists from 3.3: the triggerer hands a watcher trigger its assets' store
  (``asset_state_store``) before ``run()``; :func:`watcher_state_store` returns it, or ``None`` below
  3.3 (the event trigger then keeps its memory in the process only, as it always did).

Every other module of the provider imports these names from here, so supporting (or dropping) a
version touches only this file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_1_PLUS = Version("3.1.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION

if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:  # pragma: no cover - refused by the package's bounds too
    raise ImportError(
        f"airflow-provider-neetocal supports Airflow 2.11 and 3.1+, not {_airflow_version}: "
        "Airflow 3.0's Task SDK has no BaseHook or mask_secret yet"
    )

if TYPE_CHECKING or AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseOperator, BaseOperatorLink, Context
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret
else:  # pragma: no cover - exercised by the Airflow 2 test matrix
    from airflow.models import BaseOperator, BaseOperatorLink
    from airflow.models.xcom import XCom
    from airflow.utils.context import Context
    from airflow.utils.log.secrets_masker import mask_secret

# The DAG-authoring names the example DAGs use (Airflow 2 keeps them under airflow.models / decorators)
# are imported on first use, in __getattr__: ``airflow.sdk.task`` alone loads the standard provider's
# python operators and ``packaging.requirements``, which an operator module's import must not pay for.
if TYPE_CHECKING:
    from airflow.sdk import DAG, Param, task

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
else:  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
    from airflow.configuration import conf
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, AirflowSkipException

#: ``BaseEventTrigger`` and ``AssetWatcher`` (event-driven scheduling) are usable from Airflow 3.1 on here.
EVENT_TRIGGERS_SUPPORTED = AIRFLOW_V_3_1_PLUS
#: The triggerer gives a watcher trigger its assets' state store (memory across restarts) from 3.3 on.
ASSET_STATE_STORE_SUPPORTED = AIRFLOW_V_3_3_PLUS


def watcher_state_store(trigger: Any) -> Any:
    """The asset state store the triggerer set on ``trigger`` (Airflow 3.3+), else ``None``.

    The value has ``aget`` / ``aset`` / ``adelete`` (``AssetStateStoreAccessors``); it is ``None`` on
    older Airflow, when the trigger runs outside a triggerer, and for a trigger watching no asset.
    """
    if not ASSET_STATE_STORE_SUPPORTED:
        return None  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
    return getattr(trigger, "asset_state_store", None)


def sync_asset(uri: str) -> Any:
    """The asset a sync operator writes (its outlet, holding its ownership in the asset state store).

    ``None`` before Airflow 3.3: there is no asset state store to keep ownership in, and the operator
    refuses to run (see :func:`asset_state_store_of`).
    """
    if not ASSET_STATE_STORE_SUPPORTED:  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
        return None
    from airflow.sdk import Asset

    return Asset(uri=uri, name=uri)


def asset_state_store_of(context: Any, asset: Any) -> Any:
    """The state store accessor of ``asset`` (an outlet of the running task), or ``None`` before 3.3."""
    if not ASSET_STATE_STORE_SUPPORTED or asset is None:  # pragma: no cover - 2.11 and 3.1 matrix
        return None
    stores = context.get("asset_state_store") if hasattr(context, "get") else None
    if stores is None:
        return None
    return stores[asset]


def cancelled_by_user_action(error: BaseException) -> bool:
    """Whether ``error`` is the triggerer's cancellation of a trigger for a user action (a DAG paused,
    a task cleared): the triggerer goes on running then, and sends the events it queued. Its shutdown
    cancels without that message (and may not send them). Airflow before 3.3 has no such message here."""
    import asyncio

    if not isinstance(error, asyncio.CancelledError) or not error.args:
        return False
    try:
        from airflow.jobs.triggerer_job_runner import _USER_ACTION_CANCEL_MSG
    except ImportError:  # pragma: no cover - Airflow versions without it
        return False
    return bool(error.args[0] == _USER_ACTION_CANCEL_MSG)


if TYPE_CHECKING:
    from airflow.sdk import BaseHook, BaseSensorOperator, ObjectStoragePath, PokeReturnValue
    from airflow.sdk.types import TaskInstanceKey
    from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent


def __getattr__(name: str) -> Any:
    """Trigger, sensor and hook bases and DAG-authoring names, imported on first use: operators never pay for them.

    ``BaseEventTrigger`` is ``BaseTrigger`` before 3.1 (an event trigger then only runs as a plain
    trigger: ``AssetWatcher`` does not exist there; see :data:`EVENT_TRIGGERS_SUPPORTED`).
    """
    if name == "BaseHook":  # only the hook modules need it, when a task runs
        if AIRFLOW_V_3_1_PLUS:
            import airflow.sdk as hooks
        else:  # pragma: no cover - exercised by the Airflow 2 test matrix
            import airflow.hooks.base as hooks  # type: ignore[no-redef]
        return getattr(hooks, name)
    if name == "TaskInstanceKey":  # a type hint of the link, used by the tests
        if AIRFLOW_V_3_2_PLUS:
            import airflow.sdk.types as keys
        else:  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
            import airflow.models.taskinstancekey as keys  # type: ignore[no-redef]
        return getattr(keys, name)
    if name in ("DAG", "Param", "task"):
        if AIRFLOW_V_3_0_PLUS:
            import airflow.sdk as authoring
        elif name == "task":  # pragma: no cover - exercised by the Airflow 2 test matrix
            import airflow.decorators as authoring  # type: ignore[no-redef]
        else:  # pragma: no cover - exercised by the Airflow 2 test matrix
            import airflow.models as authoring  # type: ignore[no-redef]
        return getattr(authoring, name)
    if name in ("BaseTrigger", "TriggerEvent"):
        import airflow.triggers.base as triggers

        return getattr(triggers, name)
    if name == "BaseEventTrigger":
        import airflow.triggers.base as triggers

        return triggers.BaseEventTrigger if EVENT_TRIGGERS_SUPPORTED else triggers.BaseTrigger
    if name in ("BaseSensorOperator", "PokeReturnValue"):
        if AIRFLOW_V_3_1_PLUS:
            import airflow.sdk as sensors
        else:  # pragma: no cover - exercised by the Airflow 2 test matrix
            import airflow.sensors.base as sensors  # type: ignore[no-redef]
        return getattr(sensors, name)
    if name == "ObjectStoragePath":
        if AIRFLOW_V_3_1_PLUS:
            from airflow.sdk import ObjectStoragePath
        else:  # pragma: no cover - exercised by the Airflow 2 test matrix
            from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
        return ObjectStoragePath
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "ASSET_STATE_STORE_SUPPORTED",
    "DAG",
    "EVENT_TRIGGERS_SUPPORTED",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "Param",
    "PokeReturnValue",
    "TaskInstanceKey",
    "TriggerEvent",
    "XCom",
    "asset_state_store_of",
    "conf",
    "error_behind_soft_fail_skip",
    "mask_secret",
    "mask_secret_of_any_length",
    "object_storage_path",
    "sync_asset",
    "task",
    "task_state_store_of",
    "watcher_state_store",
]


def mask_secret_of_any_length(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker, however short it is.

    ``mask_secret`` skips secrets shorter than ``[logging] min_length_masked_secret`` (5 by
    default in Airflow 3) because masking "abc" everywhere would garble logs. For an API key the
    trade goes the other way: a garbled log line is cheap, a leaked key is not. So a short key is
    added to the masker's patterns directly (the masker's internals differ per version, hence here).

    Those internals live in a private Airflow module, imported here only when needed: should
    Airflow move it, the provider still imports and the key still goes to the public
    ``mask_secret`` (which may skip a very short key).
    """
    if not secret:
        return
    masker = _secrets_masker()
    if masker is None or len(secret) >= (getattr(masker, "min_length_to_mask", None) or 0):
        mask_secret(secret)  # also tells Airflow 3's supervisor process
        return
    pattern = re.escape(secret)
    patterns = getattr(masker, "patterns", None)
    if isinstance(patterns, set) and pattern not in patterns:
        patterns.add(pattern)
        masker.replacer = re.compile("|".join(sorted(patterns, key=len, reverse=True)))


def _secrets_masker() -> Any:
    """Airflow's secrets masker instance, or ``None`` when its private module cannot be imported."""
    try:
        if AIRFLOW_V_3_1_PLUS:
            from airflow.sdk._shared.secrets_masker import _secrets_masker as masker
        else:  # pragma: no cover - exercised by the Airflow 2 test matrix
            from airflow.utils.log.secrets_masker import _secrets_masker as masker  # type: ignore[no-redef]
        return masker()
    except (ImportError, AttributeError):
        return None


def error_behind_soft_fail_skip(skip: AirflowSkipException) -> BaseException | None:
    """The error the sensor base's ``resume_execution`` turned into ``skip`` under ``soft_fail``, if any.

    Every supported version raises that skip ``from`` the error it caught (2.11.2, 3.1.8 and 3.3.2
    alike), so the error is the skip's ``__cause__``. A skip the sensor raised itself is caught and
    re-raised by the base in the same way: its cause is that first skip, and ``None`` is returned.
    """
    cause = skip.__cause__
    return None if cause is None or isinstance(cause, AirflowSkipException) else cause


def dagbag_class() -> type:
    """``DagBag`` (moved to ``airflow.dag_processing.dagbag`` in 3.2); imported lazily, tests use it."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag


def object_storage_path(url: str) -> Any:
    """An Airflow ``ObjectStoragePath`` for ``url`` (``file://``, ``s3://conn_id@bucket/key``, ...).

    Called by a task, so fsspec loads when a task reads, never when a DAG file is parsed (a DAG file
    that imported ``ObjectStoragePath`` itself would load it at parse time).
    """
    return __getattr__("ObjectStoragePath")(url)


def task_state_store_of(context: Any) -> tuple[Any, Any, bool] | None:
    """The task's state store, the retention to write with, and whether it survives success.

    ``None`` before Airflow 3.3 (no task state store) or when the context has none. The retention is
    Airflow's ``NEVER_EXPIRE``: a journal entry then lives as long as its DAG run (deleted with it),
    never expiring under a clear that comes weeks later. The flag is ``False`` when
    ``[state_store] clear_on_success`` deletes a task's entries once it succeeds.
    """
    if not AIRFLOW_V_3_3_PLUS:  # pragma: no cover - exercised by the Airflow 2.11 and 3.1 test matrix
        return None
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return None
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    return store, NEVER_EXPIRE, not conf.getboolean("state_store", "clear_on_success", fallback=False)
