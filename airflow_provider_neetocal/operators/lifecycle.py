"""The rest of a booking's life: cancel and reschedule, each safe to retry.

Imports only what building an operator needs; the booking core and the exception types load when a
task runs (see :mod:`airflow_provider_neetocal.operators.booking`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.links import NeetoCalBookingLink
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.operators.booking import push_booking_references

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.journal import Entry, Journal


class NeetoCalCancelBookingOperator(NeetoCalBaseOperator):
    """Cancel a NeetoCal booking; return the booking as it stands afterwards.

    Safe to retry and to re-run: a booking that is already cancelled counts as done, and an
    attempt whose answer was lost is checked by reading the booking back, not by cancelling again.

    :param booking_sid: the booking's short id (``sid``), e.g. from the create task's
        ``booking_sid`` XCom: ``"{{ ti.xcom_pull(task_ids='book', key='booking_sid') }}"``.
    :param cancel_reason: optional reason shown to the attendee.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    template_fields: Sequence[str] = ("booking_sid", "cancel_reason", "neetocal_conn_id")
    operator_extra_links = (NeetoCalBookingLink(),)
    ui_color = "#fde4e4"

    def __init__(
        self,
        *,
        booking_sid: str,
        cancel_reason: str | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.booking_sid = booking_sid
        self.cancel_reason = cancel_reason

    def execute(self, context: Context) -> dict[str, Any]:
        """Cancel unless already cancelled, then return the booking read back from NeetoCal."""
        from airflow_provider_neetocal.booking import checked_booking_sid, is_absent
        from airflow_provider_neetocal.exceptions import NeetoCalClientError, NeetoCalOutcomeUnknownError

        sid = checked_booking_sid(self.booking_sid)
        reason = None if is_absent(self.cancel_reason) else _reason(self.cancel_reason)
        booking = self.hook.get_booking(sid)
        push_booking_references(context, booking)
        if _is_cancelled(booking):
            self.log.info("NeetoCal booking %s is already %s; nothing to do", sid, booking.get("status"))
            return booking
        try:
            self.hook.cancel_booking(sid, cancel_reason=reason)
        except (NeetoCalOutcomeUnknownError, NeetoCalClientError) as error:
            # Lost answer, or a 422 because an earlier attempt already cancelled it: the booking decides.
            booking = self.hook.get_booking(sid)
            if not _is_cancelled(booking):
                raise
            self.log.warning("%s, but the booking is cancelled now", error)
        booking = self.hook.get_booking(sid)
        self.log.info("Cancelled NeetoCal booking %s (was starting %s)", sid, booking.get("starts_at"))
        return booking


class NeetoCalRescheduleBookingOperator(NeetoCalBaseOperator):
    """Move a NeetoCal booking to another slot; return the updated booking.

    NeetoCal API v1 requires the attendee's name, email and time zone with every reschedule; API v2
    takes only what changes, so there ``name`` and ``attendee_email`` are optional and are sent only
    when they differ from the booking's. Safe to retry: when the booking already starts at the
    requested time, nothing is sent.

    :param booking_sid: the booking's short id (``sid``).
    :param name: the attendee's name (required on v1; on v2 only to change it).
    :param attendee_email: the attendee's email (required on v1; on v2 only to change it). Not
        ``email``, which stays Airflow's failure-alert address (``default_args`` fill it in, and it
        must never overwrite the attendee).
    :param time_zone: IANA zone the slot is read in.
    :param slot_start: the new start (ISO-8601 string, datetime or pendulum DateTime), or
    :param slot_date: the new day ``YYYY-MM-DD`` with
    :param slot_start_time: the new time (``01:30 PM``, ``1:30 pm`` or ``13:30``).
    :param form_responses: optional updated form answers (mapping or JSON string); API v1 only (v2's
        reference documents none for a reschedule: refused there before any request).
    :param reschedule_reason: optional reason shown to the attendee.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    """

    template_fields: Sequence[str] = (
        "booking_sid",
        "attendee_name",
        "attendee_email",
        "time_zone",
        "slot_start",
        "slot_date",
        "slot_start_time",
        "form_responses",
        "reschedule_reason",
        "neetocal_conn_id",
    )
    template_fields_renderers = {"form_responses": "json"}
    operator_extra_links = (NeetoCalBookingLink(),)
    ui_color = "#fdf3e4"

    def __init__(
        self,
        *,
        booking_sid: str,
        name: str | None = None,
        attendee_email: str | None = None,
        time_zone: str,
        slot_start: Any = None,
        slot_date: Any = None,
        slot_start_time: Any = None,
        form_responses: dict[str, Any] | str | None = None,
        reschedule_reason: str | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.booking_sid = booking_sid
        self.attendee_name = name
        self.attendee_email = attendee_email
        self.time_zone = time_zone
        self.slot_start = slot_start
        self.slot_date = slot_date
        self.slot_start_time = slot_start_time
        self.form_responses = form_responses
        self.reschedule_reason = reschedule_reason

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, move the booking unless it is already there, and return it."""
        from airflow_provider_neetocal.api_contract import changed_attendee_fields, check_reschedule_fields
        from airflow_provider_neetocal.booking import build_reschedule_payload, checked_booking_sid
        from airflow_provider_neetocal.exactly_once import parse_instant, slot_start_utc, workspace_of
        from airflow_provider_neetocal.exceptions import (
            NeetoCalBookingUnknownError,
            NeetoCalJournalUnreadableError,
            NeetoCalOutcomeUnknownError,
            NeetoCalValidationError,
        )
        from airflow_provider_neetocal.journal import (
            Entry,
            JournalError,
            Unreadable,
            journal_key,
            request_identity,
            sending,
        )
        from airflow_provider_neetocal.operators.booking import attendee_email_problem, in_operator_terms

        sid = checked_booking_sid(self.booking_sid)
        version = self.hook.api_version
        missing = attendee_email_problem(self.attendee_email, getattr(self, "email", None))
        try:
            payload = build_reschedule_payload(
                name=self.attendee_name,
                email=self.attendee_email,
                time_zone=self.time_zone,
                slot_start=self.slot_start,
                slot_date=self.slot_date,
                slot_start_time=self.slot_start_time,
                form_responses=self.form_responses,
                reschedule_reason=self.reschedule_reason,
                attendee_required=version == "v1",
            )
        except NeetoCalValidationError as invalid:
            raise in_operator_terms(invalid, missing) from None
        check_reschedule_fields(version, payload)
        target = slot_start_utc(payload)
        journal = self.journal(context)
        identity = ""
        entry = None
        if journal is not None:
            identity = request_identity(
                "reschedule", workspace_of(self.hook.base_url), {"sid": sid, "start": str(target)}
            )
            try:
                entry = journal.read("reschedule", identity)
            except JournalError as error:
                raise NeetoCalBookingUnknownError(
                    reason=f"the task's journal could not be read, so an earlier try's move is unknown: {error}",
                    sent=False,
                ) from None
            if isinstance(entry, Unreadable):
                raise NeetoCalJournalUnreadableError(key=journal_key("reschedule", identity), reason=entry.reason)
        booking = self.hook.get_booking(sid)
        at_target = parse_instant(booking.get("starts_at")) == target
        if isinstance(entry, Entry) and entry.state == "answered" and not at_target:
            # This task moved it already (the journal says so); someone moved it since: theirs to decide.
            self.log.warning(
                "This task already moved NeetoCal booking %s to %s; it starts at %s now (moved since by someone "
                "else): not moving it again",
                sid,
                target,
                booking.get("starts_at"),
            )
        elif (
            isinstance(entry, Entry)
            and entry.state == "sending"
            and not at_target
            and entry.before
            and booking.get("starts_at") not in entry.before
        ):
            # An earlier try sent the move and its answer was lost; the booking is neither where it was
            # nor where this task moves it: someone moved it since, theirs to decide.
            self.log.warning(
                "An earlier try of this task sent the move of NeetoCal booking %s from %s to %s; it starts at %s "
                "now (moved since by someone else): not moving it again",
                sid,
                entry.before[0],
                target,
                booking.get("starts_at"),
            )
        elif at_target and not _is_cancelled(booking) and not changed_attendee_fields(payload, booking):
            self.log.info("NeetoCal booking %s already starts at %s; nothing to do", sid, booking.get("starts_at"))
        else:
            if journal is not None:
                self._record_move(
                    journal,
                    sending(
                        "reschedule",
                        identity,
                        # For a move, "before" is where the booking started before it (not booking sids).
                        before=[str(booking.get("starts_at"))],
                        previous=entry if isinstance(entry, Entry) else None,
                        now=dt.datetime.now(dt.timezone.utc),
                        neetocal_clock=self.hook.last_server_date,
                        try_number=context["ti"].try_number,
                    ),
                )
            try:
                booking = self.hook.reschedule_booking(sid, payload, current=booking)
            except NeetoCalOutcomeUnknownError:
                booking = self.hook.get_booking(sid)
                if parse_instant(booking.get("starts_at")) != target or changed_attendee_fields(payload, booking):
                    raise
            if journal is not None:
                self._record_moved(journal, identity, sid)
            self.log.info("Rescheduled NeetoCal booking %s to %s", sid, booking.get("starts_at"))
        push_booking_references(context, booking)
        return booking

    def _record_move(self, journal: Journal, entry: Entry) -> None:
        """Journal the move about to be sent; a store that refuses it stops the move (nothing sent)."""
        from airflow_provider_neetocal.exceptions import NeetoCalBookingUnknownError
        from airflow_provider_neetocal.journal import JournalError

        try:
            journal.write(entry)
        except JournalError as error:
            raise NeetoCalBookingUnknownError(
                reason=f"the task's journal could not record the move before sending, so it was not sent: {error}",
                sent=False,
            ) from None

    def _record_moved(self, journal: Journal, identity: str, sid: str) -> None:
        """Journal the move once it is made, so a clear never moves the booking again (failures only logged)."""
        from airflow_provider_neetocal.journal import Entry, JournalError

        try:
            journal.write(Entry("reschedule", identity, "answered", sid=sid))
        except JournalError as error:
            self.log.warning("Booking %s is moved, but the journal could not record it (%s)", sid, error)


def _reason(value: Any) -> str:
    from airflow_provider_neetocal.booking import MAX_REASON_LENGTH
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    if isinstance(value, str) and len(value.strip()) <= MAX_REASON_LENGTH:
        return value.strip()
    raise NeetoCalValidationError(
        [FieldProblem("cancel_reason", value, f"expected text of at most {MAX_REASON_LENGTH} characters")]
    )


def _is_cancelled(booking: dict[str, Any]) -> bool:
    from airflow_provider_neetocal.exactly_once import is_live

    return not is_live(booking)
