"""Airflow operators over the booking core and the hook: the only code that knows the task context.

DAG files import this module on every parse, so it imports only what building an operator needs
(the Airflow base, the connection id, the link). The booking core, the exactly-once machinery and
the exception types are imported by the functions that use them, when a task runs; ``IfExists``
stays importable from here (module ``__getattr__``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_neetocal.connection import DEFAULT_CONN_ID
from airflow_provider_neetocal.links import (
    BOOKING_SID_XCOM_KEY,
    BOOKING_URL_XCOM_KEY,
    NeetoCalBookingLink,
)
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context
    from airflow_provider_neetocal.exactly_once import IfExists
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalClientError, NeetoCalValidationError

__all__ = [
    "IfExists",
    "NeetoCalCreateBookingOperator",
    "attendee_email_problem",
    "in_operator_terms",
    "push_booking_references",
    "run_start_of",
    "slot_refusal_lead",
    "slot_refusal_reason",
]

#: The ``if_exists`` choices, so that building an operator need not import ``exactly_once`` (a unit
#: test pins them to :data:`airflow_provider_neetocal.exactly_once.IF_EXISTS_CHOICES`).
IF_EXISTS_CHOICES = ("reuse", "fail", "create")
#: Widest first line of a refusal: what the Airflow log viewer shows without scrolling sideways (the same
#: as :data:`airflow_provider_neetocal.exceptions.FIRST_LINE_WIDTH`, kept here so that building an
#: operator need not import ``exceptions``; a unit test pins them together).
FIRST_LINE_WIDTH = 120
#: Fewest characters of a meeting's name kept when a first line is shortened to fit.
MIN_MEETING_NAME = 10


class NeetoCalCreateBookingOperator(NeetoCalBaseOperator):
    """Create a NeetoCal booking and return it, as NeetoCal answered, as the task's XCom.

    Every payload argument is templated, so values can come from DAG params, upstream XComs or
    macros such as ``{{ ds }}``. Arguments are validated in :meth:`execute`, before any request: a
    violation fails the task at once (no Airflow retries, nothing sent) with a message naming each
    field, the value and the expected form.

    The slot is either ``slot_start`` (one instant, converted into ``time_zone``) or ``slot_date``
    + ``slot_start_time`` (wall-clock values in ``time_zone``); with neither, NeetoCal books the
    meeting's first available slot.

    Besides the ``return_value`` XCom (the whole booking), the task pushes ``booking_sid`` and
    ``booking_url`` (the admin URL) as soon as NeetoCal answers; the "NeetoCal booking" extra link
    reads the latter.

    :param meeting_slug: slug of the scheduling link, e.g. ``meeting-with-oliver-smith``.
    :param name: the attendee's name.
    :param attendee_email: the attendee's email address. Not ``email``: that is Airflow's own
        failure-alert address (``BaseOperator.email``), which ``default_args`` fill in for every task,
        and an on-call address must never become the attendee. ``email`` keeps Airflow's meaning here.
    :param time_zone: IANA zone of the attendee (``Asia/Kolkata``); the slot is read in it.
    :param slot_start: the start as an ISO-8601 string (``{{ ts }}``, a date-time Param), a
        ``datetime`` or a pendulum ``DateTime``. Exclusive with ``slot_date``/``slot_start_time``.
    :param slot_date: the day, ``YYYY-MM-DD``.
    :param slot_start_time: the time, ``01:30 PM``, ``1:30 pm`` or ``13:30``; sent as ``01:30 PM``.
    :param preferred_meeting_spot: one of custom, jitsi, in_person, daily, zoom, whereby,
        google_meet, teams (the meeting must offer it).
    :param form_responses: answers keyed by question field code; a JSON string is accepted.
        Guests go under ``guest_email_s`` as a list of addresses.
    :param metadata: extra booking metadata (a mapping or a JSON string).
    :param override_availability: NeetoCal API v2 only: ``True`` books the slot even outside the
        meeting's availability. On a v1 connection, setting it fails the task before any request.
    :param host_email: NeetoCal API v2 only (documented by NeetoCal's CLI): which host of a
        multi-host meeting takes the booking. On a v1 connection, setting it fails the task before
        any request.
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    :param if_exists: what to do when NeetoCal already holds a live booking for this attendee,
        meeting and start before the first attempt (a backfill, a second run for the same people):
        ``"reuse"`` (default) adopts it and returns it as if just created; ``"fail"`` fails the task
        (``NeetoCalBookingExistsError``), except on a retry that finds what an earlier try made
        during this DAG run; ``"create"`` skips that look-up on the first try, and on a retry whose
        look-up cannot decide (see below) sends anyway, accepting the risk of a duplicate.
        Whatever the choice, an Airflow retry (``try_number > 1``) and an attempt whose outcome is
        unknown look the booking up before sending again, and a look-up that cannot prove the
        booking absent sends nothing (``NeetoCalBookingUnknownError``, retryable). A slot-less
        request is never looked up on its first try (nothing of it can exist yet). Details:
        :mod:`airflow_provider_neetocal.exactly_once`.
    """

    template_fields: Sequence[str] = (
        "meeting_slug",
        "attendee_name",
        "attendee_email",
        "time_zone",
        "slot_start",
        "slot_date",
        "slot_start_time",
        "preferred_meeting_spot",
        "form_responses",
        "metadata",
        "override_availability",
        "host_email",
        "neetocal_conn_id",
    )
    template_fields_renderers = {"form_responses": "json", "metadata": "json"}
    operator_extra_links = (NeetoCalBookingLink(),)
    ui_color = "#e4f1fe"

    def __init__(
        self,
        *,
        meeting_slug: str,
        name: str,
        attendee_email: str | None = None,
        time_zone: str,
        slot_start: Any = None,
        slot_date: Any = None,
        slot_start_time: Any = None,
        preferred_meeting_spot: str | None = None,
        form_responses: dict[str, Any] | str | None = None,
        metadata: dict[str, Any] | str | None = None,
        override_availability: bool | str | None = None,
        host_email: str | None = None,
        neetocal_conn_id: str = DEFAULT_CONN_ID,
        if_exists: IfExists = "reuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.if_exists = if_exists if if_exists in IF_EXISTS_CHOICES else _refused_if_exists(if_exists)
        self.meeting_slug = meeting_slug
        self.attendee_name = name
        self.attendee_email = attendee_email
        self.time_zone = time_zone
        self.slot_start = slot_start
        self.slot_date = slot_date
        self.slot_start_time = slot_start_time
        self.preferred_meeting_spot = preferred_meeting_spot
        self.form_responses = form_responses
        self.metadata = metadata
        self.override_availability = override_availability
        self.host_email = host_email

    def build_payload(self) -> dict[str, Any]:
        """The validated ``POST /bookings`` body for the rendered arguments."""
        from airflow_provider_neetocal.booking import build_booking_payload
        from airflow_provider_neetocal.exceptions import NeetoCalValidationError

        missing = attendee_email_problem(self.attendee_email, getattr(self, "email", None))
        try:
            return build_booking_payload(
                meeting_slug=self.meeting_slug,
                name=self.attendee_name,
                email=self.attendee_email,
                time_zone=self.time_zone,
                slot_start=self.slot_start,
                slot_date=self.slot_date,
                slot_start_time=self.slot_start_time,
                preferred_meeting_spot=self.preferred_meeting_spot,
                form_responses=self.form_responses,
                metadata=self.metadata,
                override_availability=self.override_availability,
                host_email=self.host_email,
            )
        except NeetoCalValidationError as invalid:
            raise in_operator_terms(invalid, missing) from None

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, create the booking exactly once, push its references and return it."""
        from airflow_provider_neetocal.api_contract import check_create_fields
        from airflow_provider_neetocal.exactly_once import ExactlyOnce
        from airflow_provider_neetocal.exceptions import NeetoCalClientError

        payload = self.build_payload()
        check_create_fields(self.hook.api_version, payload)
        self.warn_if_retry_delay_is_short()
        once = ExactlyOnce(
            self.hook,
            if_exists=self.if_exists,
            retrying=context["ti"].try_number > 1,
            run_started=run_start_of(context),
            journal=self.journal(context),
            try_number=context["ti"].try_number,
        )
        try:
            booking, created = once.obtain(payload)
        except NeetoCalClientError as refused:
            why = slot_refusal_reason(refused)
            if why is not None:
                slug = payload["meeting_slug"]
                refused.lead_with(slot_refusal_lead(why, payload, once.listed_meeting_name(slug) or slug))
            raise
        push_booking_references(context, booking)
        self.log.info(
            "%s NeetoCal booking %s for meeting %s starting %s",
            "Created" if created else "Recovered existing (not created again):",
            booking.get("sid"),
            payload["meeting_slug"],
            booking.get("starts_at"),
        )
        return booking


def slot_refusal_reason(error: NeetoCalClientError) -> str | None:
    """NeetoCal's reason when ``error`` is a 422 to a create's ``POST`` (``""`` if it gave none); else ``None``.

    Any 422 to the create counts, whatever NeetoCal's words ("The selected slot is not available",
    "The slot is no longer available", a required question left blank): they are quoted, never parsed.
    """
    from airflow_provider_neetocal.exceptions import without_final_period

    if error.status != 422 or error.method != "POST":
        return None
    return without_final_period(" ".join(error.api_message.split()))


def slot_refusal_lead(why: str, payload: dict[str, Any], meeting: str) -> str:
    """The first line of a refused create: which slot (in the attendee's zone), of which meeting, and what to do.

    Within :data:`FIRST_LINE_WIDTH` characters where it can be: NeetoCal's reason is put in only when
    it fits (the next line quotes it whole anyway), and a long meeting name is shortened.

    :param why: NeetoCal's reason (:func:`slot_refusal_reason`).
    :param payload: the ``POST /bookings`` body that was refused.
    :param meeting: the meeting's name (or slug).
    """
    zone, meeting = payload["time_zone"], " ".join(meeting.split())  # a name's line break would end the line
    if "slot_date" in payload:
        wall = dt.datetime.strptime(payload["slot_start_time"], "%I:%M %p").strftime("%H:%M")
        before, after = f"Slot {payload['slot_date']} {wall} ({zone}) of ", " refused"
        advice = "pick another or fix what NeetoCal names" if why else "pick another slot"
    else:
        before, after = "First free slot of ", f" ({zone}) refused"
        advice = "open more slots or fix what NeetoCal names" if why else "open more slots in NeetoCal"
    with_reason = f"{before}{meeting}{after}: {why} — {advice}"
    if why and len(with_reason) <= FIRST_LINE_WIDTH:
        return with_reason
    room = FIRST_LINE_WIDTH - len(f"{before}{after} — {advice}")
    if len(meeting) > room:
        meeting = meeting[: max(room, MIN_MEETING_NAME) - 3].rstrip() + "..."
    return f"{before}{meeting}{after} — {advice}"


def attendee_email_problem(attendee_email: Any, alert_email: Any) -> FieldProblem | None:
    """The problem with a missing attendee address, pointing away from Airflow's ``email``."""
    from airflow_provider_neetocal.booking import is_absent
    from airflow_provider_neetocal.exceptions import FieldProblem

    if not is_absent(attendee_email):
        return None
    hint = (
        f" (this task's email={alert_email!r} is Airflow's failure-alert address, from the task or "
        "default_args, and is never booked)"
        if alert_email
        else ""
    )
    return FieldProblem(
        "attendee_email",
        attendee_email,
        f"required: the attendee's email address, e.g. attendee_email='eve@example.com'{hint}",
    )


def in_operator_terms(invalid: NeetoCalValidationError, missing: FieldProblem | None) -> NeetoCalValidationError:
    """The builder's refusal with NeetoCal's ``email`` field named as the DAG author wrote it."""
    from airflow_provider_neetocal.exceptions import FieldProblem, NeetoCalValidationError

    return NeetoCalValidationError(
        [
            (missing or FieldProblem("attendee_email", p.value, p.problem)) if p.field == "email" else p
            for p in invalid.problems
        ]
    )


def run_start_of(context: Context) -> dt.datetime | None:
    """When the DAG run started: bookings NeetoCal made since then may be this run's."""
    return getattr(context.get("dag_run"), "start_date", None)


def push_booking_references(context: Context, booking: dict[str, Any]) -> None:
    """Push ``booking_sid`` and ``booking_url`` so links and downstream tasks find the booking."""
    ti = context["ti"]
    ti.xcom_push(key=BOOKING_SID_XCOM_KEY, value=booking.get("sid"))
    ti.xcom_push(key=BOOKING_URL_XCOM_KEY, value=booking.get("admin_booking_url"))


def _refused_if_exists(value: Any) -> IfExists:
    """Refuse an ``if_exists`` that is no choice, with ``exactly_once``'s own message (imported only then)."""
    from airflow_provider_neetocal.exactly_once import checked_if_exists

    return checked_if_exists(value)


def __getattr__(name: str) -> Any:
    """``IfExists``, re-exported from :mod:`airflow_provider_neetocal.exactly_once` on first use."""
    if name == "IfExists":
        from airflow_provider_neetocal.exactly_once import IfExists

        return IfExists
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
