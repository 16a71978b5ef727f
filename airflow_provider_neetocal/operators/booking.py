"""Airflow operators over the booking core and the hook: the only code that knows the task context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from airflow_provider_neetocal.booking import build_booking_payload
from airflow_provider_neetocal.exceptions import NeetoCalBookingExistsError
from airflow_provider_neetocal.hooks.neetocal import NeetoCalHook
from airflow_provider_neetocal.links import (
    BOOKING_SID_XCOM_KEY,
    BOOKING_URL_XCOM_KEY,
    NeetoCalBookingLink,
)
from airflow_provider_neetocal.operators.base import NeetoCalBaseOperator
from airflow_provider_neetocal.recovery import created_after

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from airflow_provider_neetocal._compat import Context

#: What to do when the booking already exists before the first attempt (see the operator's docs).
IfExists = Literal["reuse", "fail", "create"]
IF_EXISTS_CHOICES: tuple[str, ...] = get_args(IfExists)


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
    :param email: the attendee's email address. Stored as ``attendee_email``, because
        ``BaseOperator.email`` is where Airflow sends failure alerts, and an attendee must never
        receive those.
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
    :param neetocal_conn_id: the ``neetocal`` connection to use.
    :param attendee_email: the attendee's address under a name that cannot clash with Airflow's
        ``email``; when given, ``email`` is the failure-alert address again. Needed for
        ``.partial(...).expand_kwargs(rows)`` on Airflow 2, whose ``partial()`` sets ``email`` itself.
    :param if_exists: what to do when NeetoCal already holds a live booking for this attendee,
        meeting and start before the first attempt (a re-run, a backfill, a manual clear):
        ``"reuse"`` (default) adopts it and returns it as if just created; ``"fail"`` fails the task
        (``NeetoCalBookingExistsError``), except on a retry that finds what an earlier try made
        during this DAG run;
        ``"create"`` skips that look-up and always sends the first POST. Whatever the choice, an
        Airflow retry (``try_number > 1``) and an attempt whose outcome is unknown always look
        the booking up before sending again, so a retry never books twice.
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
        email: str | None = None,
        time_zone: str,
        slot_start: Any = None,
        slot_date: Any = None,
        slot_start_time: Any = None,
        preferred_meeting_spot: str | None = None,
        form_responses: dict[str, Any] | str | None = None,
        metadata: dict[str, Any] | str | None = None,
        neetocal_conn_id: str = NeetoCalHook.default_conn_name,
        if_exists: IfExists = "reuse",
        attendee_email: str | None = None,
        **kwargs: Any,
    ) -> None:
        if attendee_email is not None:
            # With the alias, ``email`` keeps Airflow's meaning (the failure-alert address).
            kwargs["email"] = email
        super().__init__(neetocal_conn_id=neetocal_conn_id, **kwargs)
        self.if_exists = checked_if_exists(if_exists)
        self.meeting_slug = meeting_slug
        self.attendee_name = name
        self.attendee_email = attendee_email if attendee_email is not None else email
        self.time_zone = time_zone
        self.slot_start = slot_start
        self.slot_date = slot_date
        self.slot_start_time = slot_start_time
        self.preferred_meeting_spot = preferred_meeting_spot
        self.form_responses = form_responses
        self.metadata = metadata

    def build_payload(self) -> dict[str, Any]:
        """The validated ``POST /bookings`` body for the rendered arguments."""
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
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, create the booking exactly once, push its references and return it."""
        payload = self.build_payload()
        booking, created = obtain_booking(
            self.hook,
            payload,
            if_exists=self.if_exists,
            retrying=context["ti"].try_number > 1,
            run_started=getattr(context.get("dag_run"), "start_date", None),
        )
        push_booking_references(context, booking)
        self.log.info(
            "%s NeetoCal booking %s for meeting %s starting %s",
            "Created" if created else "Recovered existing (not created again):",
            booking.get("sid"),
            payload["meeting_slug"],
            booking.get("starts_at"),
        )
        return booking


def checked_if_exists(value: Any) -> IfExists:
    """``value`` if it is an ``if_exists`` choice; a DAG-parse-time error otherwise."""
    if value not in IF_EXISTS_CHOICES:
        raise ValueError(f"if_exists={value!r}: expected one of {', '.join(IF_EXISTS_CHOICES)}")
    return value


def obtain_booking(
    hook: NeetoCalHook,
    payload: dict[str, Any],
    *,
    if_exists: IfExists,
    retrying: bool,
    run_started: dt.datetime | None,
) -> tuple[dict[str, Any], bool]:
    """The exactly-once rule shared by the single and bulk operators: find, or create once.

    Looks the booking up first unless ``if_exists="create"`` on a first try; adopts what it finds
    (``"fail"`` refuses it, unless this is a retry and it was made during this DAG run); otherwise
    creates it with recovery of lost answers. Returns ``(booking, created)``.
    """
    booking = hook.find_booking(payload, created_since=run_started) if if_exists != "create" or retrying else None
    if booking is None:
        return hook.create_booking_once(payload, created_since=run_started)
    # "fail" adopts only what an earlier try of this task made: on a first try nothing of ours exists.
    if if_exists == "fail" and not (retrying and run_started is not None and created_after(booking, run_started)):
        raise NeetoCalBookingExistsError(booking)
    return booking, False


def push_booking_references(context: Context, booking: dict[str, Any]) -> None:
    """Push ``booking_sid`` and ``booking_url`` so links and downstream tasks find the booking."""
    ti = context["ti"]
    ti.xcom_push(key=BOOKING_SID_XCOM_KEY, value=booking.get("sid"))
    ti.xcom_push(key=BOOKING_URL_XCOM_KEY, value=booking.get("admin_booking_url"))
