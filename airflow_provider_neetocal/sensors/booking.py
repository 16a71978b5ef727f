"""``NeetoCalBookingSensor``: wait until a booking reaches a status, or its start / end has passed.

Imports only what building a sensor needs; the decision, the checks and the exception types load when
it runs (see :mod:`airflow_provider_neetocal.operators.booking`).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_neetocal._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
    error_behind_soft_fail_skip,
)
from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.links import NeetoCalBookingLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.booking_wait import WaitSpec
    from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook


class NeetoCalBookingSensor(BaseSensorOperator):
    """Wait until a NeetoCal booking reaches one of ``target_statuses``, or its start / end has passed.

    Works in ``mode="poke"``, ``mode="reschedule"`` and deferred (``deferrable=True``, default from
    ``[operators] default_deferrable``): deferred, it pokes once, then hands the wait to
    :class:`~airflow_provider_neetocal.triggers.booking.NeetoCalBookingTrigger` in the triggerer,
    which holds no worker slot. Every mode decides with the same pure function
    (:func:`~airflow_provider_neetocal.booking_wait.judge`), comparing booking times with NeetoCal's
    clock (the answer's ``Date`` header).

    Fails at once, without retries, when the booking does not exist (404) or is cancelled / rejected
    while waiting for something else; ``soft_fail=True`` skips instead, as it does on ``timeout``.
    A retryable error (429 / 5xx / network errors left after the client's retries) is raised in
    every mode, ``soft_fail`` or not, so the task retries instead of being skipped.
    Returns the booking's compact summary (XCom).

    :param booking_sid: the booking to watch (templated; e.g. ``"{{ ti.xcom_pull('book')['sid'] }}"``).
    :param wait_for: ``"status"`` (default), ``"start"`` or ``"end"``.
    :param target_statuses: for ``"status"``: the statuses that end the wait (default ``["confirmed"]``;
        templated). A string names one status (``"cancelled"``), several separated by commas, or a
        rendered list (``"{{ params.statuses }}"``).
    :param neetocal_conn_id: the ``neetocal`` connection.
    :param api_version: ``"v1"`` / ``"v2"``; the connection's when ``None``.
    :param deferrable: wait in the triggerer instead of a worker.
    """

    template_fields: Sequence[str] = ("booking_sid", "wait_for", "target_statuses")
    operator_extra_links = (NeetoCalBookingLink(),)
    ui_color = "#dbeafe"

    def __init__(
        self,
        *,
        booking_sid: str,
        wait_for: str = "status",
        target_statuses: Sequence[str] | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        api_version: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.booking_sid = booking_sid
        self.wait_for = wait_for
        # Stored as given (a templated string is rendered later): checked_wait reads a string as
        # statuses, never as a sequence of characters.
        self.target_statuses: Any = target_statuses if target_statuses is not None else ["confirmed"]
        self.neetocal_conn_id = neetocal_conn_id
        self.api_version = api_version
        self.deferrable = deferrable

    def _spec(self) -> WaitSpec:
        from airflow_provider_neetocal.booking_wait import checked_wait

        return checked_wait(self.wait_for, self.target_statuses)

    def _hook(self) -> NeetoCalHook:
        from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook

        return NeetoCalHook(self.neetocal_conn_id, api_version=self.api_version)

    def execute(self, context: Context) -> Any:
        """Poke (and wait in this worker), or poke once and defer to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_neetocal.booking import checked_booking_sid
        from airflow_provider_neetocal.exceptions import NeetoCalNotFoundError

        try:
            booking = self._check(context)
        except NeetoCalNotFoundError as error:
            self._fail(error)
        if booking is not None:
            return booking
        from airflow_provider_neetocal.triggers.booking import NeetoCalBookingTrigger

        timeout = self.timeout.total_seconds() if isinstance(self.timeout, dt.timedelta) else self.timeout
        deadline = time.time() + float(timeout) if timeout is not None else None
        self.defer(
            trigger=NeetoCalBookingTrigger(
                booking_sid=checked_booking_sid(self.booking_sid),
                wait_for=self.wait_for,
                target_statuses=list(self._spec().target_statuses),
                neetocal_conn_id=self.neetocal_conn_id,
                api_version=self.api_version,
                poll_interval=float(self.poke_interval),
                deadline=deadline,
            ),
            method_name="execute_complete",
        )
        return None

    def poke(self, context: Context) -> Any:
        """One ``GET /bookings/{sid}``: ``True``-ish (the summary, for XCom) when met, ``False`` while waiting."""
        booking = self._check(context)
        if booking is None:
            return False
        from airflow_provider_neetocal._compat import PokeReturnValue

        return PokeReturnValue(is_done=True, xcom_value=booking)

    def _check(self, context: Context) -> dict[str, Any] | None:
        """Read the booking once: its summary when met, ``None`` while waiting; raises when it can never be met."""
        from airflow_provider_neetocal.booking import checked_booking_sid
        from airflow_provider_neetocal.booking_wait import booking_summary, judge, server_now
        from airflow_provider_neetocal.exceptions import NeetoCalBookingEndedError, NeetoCalServerError

        spec = self._spec()
        sid = checked_booking_sid(self.booking_sid)
        hook = self._hook()
        try:
            booking = hook.get_booking(sid)
        finally:
            hook.close()
        judgement = judge(booking, spec, server_now(hook.last_server_date, dt.datetime.now(dt.timezone.utc)))
        self.log.info("NeetoCal %s", judgement.message)
        if judgement.verdict == "met":
            return booking_summary(booking)
        if judgement.verdict == "ended":
            self._fail(NeetoCalBookingEndedError(judgement.message))
        if judgement.verdict == "unknowable":
            from airflow_provider_neetocal.api_contract import get_booking

            raise NeetoCalServerError(
                method="GET",
                endpoint=get_booking(hook.api_version, self.booking_sid).path,
                status=None,
                message=judgement.message,
            )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the trigger's event into the sync path's outcome: the summary, or the same exception."""
        from airflow_provider_neetocal.booking_wait import exception_from_event
        from airflow_provider_neetocal.exceptions import NeetoCalBookingEndedError, NeetoCalNotFoundError

        status = event.get("status")
        message = str(event.get("message") or "")
        if status == "success":
            self.log.info("NeetoCal %s", message)
            return dict(event.get("booking") or {})
        if status == "ended":
            self._fail(NeetoCalBookingEndedError(message))
        if status == "timeout":
            timed_out = AirflowSensorTimeout(f"Sensor has timed out waiting for NeetoCal: {message}")
            if self.soft_fail:
                raise AirflowSkipException(str(timed_out)) from timed_out
            raise timed_out
        error = exception_from_event(event)
        if self.soft_fail and isinstance(error, NeetoCalNotFoundError):
            raise AirflowSkipException(str(error)) from error
        raise error

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the trigger, with ``soft_fail`` skipping only what it skips in poke mode.

        Airflow's sensor base turns *every* ``AirflowException`` raised after a deferral into a skip
        under ``soft_fail``, while poke mode skips only timeouts and non-retryable failures
        (``AirflowFailException``). So a retryable error from :meth:`execute_complete` (429 / 5xx /
        network errors left after the client's retries) is raised as it is, and the task retries.
        """
        from airflow_provider_neetocal.exceptions import NeetoCalApiError

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            error = error_behind_soft_fail_skip(skip) if self.soft_fail else None
            if isinstance(error, NeetoCalApiError) and not isinstance(error, AirflowFailException):
                raise error from None
            raise

    def _fail(self, error: Exception) -> NoReturn:
        if self.soft_fail:
            raise AirflowSkipException(str(error)) from error
        raise error
