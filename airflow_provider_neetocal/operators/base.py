"""What every NeetoCal operator shares: the connection argument and one lazily created hook.

DAG files import operator modules on every parse, all day, in every DAG processor; no request is
ever sent then. So nothing here (or in the operator modules) imports the HTTP stack at module level:
the hook module, and with it ``requests``, ``urllib3`` and ``tenacity``, loads when a task first
uses :attr:`NeetoCalBaseOperator.hook`.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal._compat import BaseOperator
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
    from airflow_provider_neetocal.journal import Journal

#: Shortest ``retry_delay`` that leaves a slow POST time to land before the retry looks it up.
MIN_SAFE_RETRY_DELAY_SECONDS = 60


class NeetoCalBaseOperator(BaseOperator):
    """Base of the NeetoCal operators.

    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    def __init__(self, *, neetocal_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.neetocal_conn_id = neetocal_conn_id

    @cached_property
    def hook(self) -> NeetoCalHook:
        """The hook for ``neetocal_conn_id``, created on first use (after templates are rendered)."""
        from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

        return NeetoCalHook(self.neetocal_conn_id)

    def journal(self, context: Context) -> Journal | None:
        """This task's booking journal: Airflow 3.3's task state store, ``None`` before 3.3.

        Writes are recorded there before they go out, so a retry, a clear or a crashed worker's
        successor resumes from what was sent (see :mod:`airflow_provider_neetocal.journal`).
        """
        from airflow_provider_neetocal._compat import task_state_store_of
        from airflow_provider_neetocal.journal import Journal

        found = task_state_store_of(context)
        if found is None:
            return None
        store, retention, proves_absence = found
        return Journal(store, retention=retention, proves_absence=proves_absence)

    def warn_if_retry_delay_is_short(self) -> None:
        """Say so when an Airflow retry could look a booking up before a slow POST has landed.

        After a lost answer, the retry's look-up is what proves a booking absent; a POST NeetoCal is
        still processing is invisible to it. ``retry_delay`` is the margin (see docs/reliability.md).
        """
        delay = self.retry_delay
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay or 0)
        if self.retries and seconds < MIN_SAFE_RETRY_DELAY_SECONDS:
            self.log.warning(
                "retry_delay is %.0f s: a retry after a lost answer looks the booking up that soon, and a "
                "booking NeetoCal is still processing then would be made twice; keep retry_delay at %d s or "
                "more (Airflow's default is 300 s)",
                seconds,
                MIN_SAFE_RETRY_DELAY_SECONDS,
            )

    def on_kill(self) -> None:
        """Release pooled HTTP connections when Airflow kills the task."""
        if "hook" in self.__dict__:
            self.hook.close()
