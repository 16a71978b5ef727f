"""Book a NeetoCal meeting from the Airflow UI: **Trigger** shows the Params below as a form.

The slot is a date and a wall-clock start time *in the attendee's time zone*, as NeetoCal itself
takes it: what the user types is what the attendee's calendar shows, whatever zone the browser or
Airflow runs in. (A date-time picker would read the time in the UI's zone, UTC by default, and
silently book another hour.)
"""

from __future__ import annotations

from typing import Any

import pendulum

# Airflow 3 imports; Airflow 2.11 (no airflow.sdk yet) has the very same classes under their old
# homes. Only this import differs: on Airflow 3 only, keep the first line and drop the fallback.
try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]
    from airflow.models import DAG, Param

from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

TIME_ZONES = [
    "Asia/Kolkata",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Madrid",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Asia/Dubai",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
]

#: The spots the example meeting (``meeting-with-oliver-smith``) offers, with their labels: NeetoCal refuses
#: a spot the meeting does not offer. For another meeting, list what it offers (all NeetoCal knows:
#: ``airflow_provider_neetocal.booking.MEETING_SPOTS``).
OFFERED_SPOTS = {"jitsi": "Jitsi Meet", "zoom": "Zoom", "google_meet": "Google Meet", "in_person": "In person"}

with DAG(
    dag_id="neetocal_manual_booking",
    description="Book one NeetoCal meeting from a form: click Trigger.",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["neetocal", "example"],
    params={
        "meeting_slug": Param(
            "meeting-with-oliver-smith",
            type="string",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
            title="Meeting",
            description="Slug of the scheduling link: the last part of its booking URL.",
        ),
        "name": Param(
            "Eve Smith",
            type="string",
            minLength=1,
            maxLength=255,
            title="Attendee name",
            description="Who the meeting is booked for, as NeetoCal shows it.",
        ),
        "email": Param(
            "eve@example.com",
            type="string",
            format="email",
            title="Attendee email",
            description="NeetoCal sends the invitation here.",
        ),
        "time_zone": Param(
            "Asia/Kolkata",
            type="string",
            enum=TIME_ZONES,
            title="Attendee time zone",
            description="Date and Start time below are read in this zone, not in your browser's or Airflow's.",
        ),
        "slot_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Date (in the attendee's time zone)",
            description="Leave Date and Start time empty to book the meeting's first free slot.",
        ),
        "slot_start_time": Param(
            None,
            type=["null", "string"],
            # Checked when the run is triggered, as Date is: 24-hour or AM/PM, hours 0-23, minutes 00-59.
            pattern=r"^\s*$|^\s*([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?\s*([AaPp][Mm])?\s*$",
            title="Start time (in the attendee's time zone)",
            description=(
                "Wall-clock time in the attendee's time zone, e.g. 14:00 or 02:00 PM: booked as typed, "
                "never converted from UTC."
            ),
        ),
        "preferred_meeting_spot": Param(
            "jitsi",
            type="string",
            enum=list(OFFERED_SPOTS),
            values_display=OFFERED_SPOTS,
            title="Meeting spot",
            description="The meeting must offer it: these are the four meeting-with-oliver-smith offers.",
        ),
        "guests": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "format": "email"},
            title="Guests",
            description="Optional: email addresses of other people to invite, one per line.",
        ),
        "language": Param(
            None,
            type=["null", "string"],
            title="Language",
            description="Optional: the attendee's answer to the meeting's Language question, e.g. English.",
        ),
    },
    doc_md="""
### Book a NeetoCal meeting from a form

Click **Trigger** and fill in the form: meeting, attendee, the attendee's time zone, then the
**date and start time in that zone** (both empty: the meeting's first free slot), meeting spot,
guests and language. The time is booked as typed, in the attendee's zone.

The task validates everything before it calls NeetoCal, so a typo fails fast with a message that
names the field and sends nothing. A refusal leads the task log with what happened and what to do, e.g. *Slot
2031-07-15 11:00 (Asia/Kolkata) of Meeting with Oliver Smith refused — pick another or fix what
NeetoCal names*, and NeetoCal's own reason on the next line. The created booking is the task's
`return_value` XCom, and the **NeetoCal booking** button in the task view opens it.

From the command line (`slot_start`, one ISO-8601 instant with its offset, may replace
`slot_date` + `slot_start_time`):

```bash
airflow dags trigger neetocal_manual_booking -c '{"name": "Eve Smith", "email": "eve@example.com",
  "time_zone": "Asia/Kolkata", "slot_date": "2031-07-15", "slot_start_time": "11:00"}'
```

Needs the `neetocal_default` connection (a workspace and API key, or the local sandbox).
""",
):
    create_booking = NeetoCalCreateBookingOperator(
        task_id="create_booking",
        meeting_slug="{{ params.meeting_slug }}",
        name="{{ params.name }}",
        attendee_email="{{ params.email }}",
        time_zone="{{ params.time_zone }}",
        slot_date="{{ params.slot_date }}",
        slot_start_time="{{ params.slot_start_time }}",
        # Not in the form: a run's conf may give the slot as one instant instead (command line, REST API).
        slot_start="{{ params.get('slot_start') }}",
        preferred_meeting_spot="{{ params.preferred_meeting_spot }}",
        # Rendered as a JSON string (templates render to text); the operator decodes it.
        form_responses=(
            '{"guest_email_s": {{ (params.guests or []) | tojson }}'
            '{% if params.language %}, "language": {{ params.language | tojson }}{% endif %}}'
        ),
    )

    @task
    def announce(booking: dict[str, Any]) -> str:
        """A downstream step reading the created booking from XCom (e.g. to post it to Slack)."""
        when = booking.get("starts_at_for_client") or booking.get("starts_at")
        message = (
            f"Booked {booking['sid']} ({(booking.get('meeting') or {}).get('name')}) for {booking['name']} "
            f"at {when}: {booking.get('admin_booking_url')}"
        )
        print(message)
        return message

    # Task-decorated calls take XComArgs in place of their values at DAG-definition time.
    announce(create_booking.output)  # type: ignore[arg-type]
