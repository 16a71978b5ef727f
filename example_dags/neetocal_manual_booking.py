"""Book a NeetoCal meeting from the Airflow UI: "Trigger DAG" shows the Params below as a form."""

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

from airflow_provider_neetocal.booking import MEETING_SPOTS
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

with DAG(
    dag_id="neetocal_manual_booking",
    description="Create one NeetoCal booking from a form (Trigger DAG w/ config).",
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
            description="Slug of the scheduling link, the last part of its booking URL.",
        ),
        "name": Param("Eve Smith", type="string", minLength=1, maxLength=255, title="Attendee name"),
        "email": Param("eve@example.com", type="string", format="email", title="Attendee email"),
        "slot_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Start",
            description="Leave empty to book the meeting's first available slot.",
        ),
        "time_zone": Param("Asia/Kolkata", type="string", enum=TIME_ZONES, title="Attendee time zone"),
        "preferred_meeting_spot": Param("jitsi", type="string", enum=list(MEETING_SPOTS), title="Meeting spot"),
        "guests": Param(
            [],
            type="array",
            items={"type": "string", "format": "email"},
            title="Guests",
            description="Email addresses of other people to invite, one per line.",
        ),
        "language": Param("English", type="string", title="Language (form answer)"),
    },
    doc_md="""
### Book a NeetoCal meeting from a form

Click **Trigger** (▶) and fill in the form: meeting, attendee, start and time zone, meeting spot
and guests. The task validates everything before it calls NeetoCal, so a typo fails fast with a
message that names the field and sends nothing. The created booking is the task's
`return_value` XCom, and the **NeetoCal booking** button in the task view opens it.

From the command line:

```bash
airflow dags trigger neetocal_manual_booking \\
  -c '{"name": "Eve Smith", "email": "eve@example.com", "slot_start": "2030-07-15T11:00:00+05:30"}'
```

Needs the `neetocal_default` connection (a workspace and API key, or the local sandbox).
""",
):
    create_booking = NeetoCalCreateBookingOperator(
        task_id="create_booking",
        meeting_slug="{{ params.meeting_slug }}",
        name="{{ params.name }}",
        attendee_email="{{ params.email }}",
        slot_start="{{ params.slot_start }}",
        time_zone="{{ params.time_zone }}",
        preferred_meeting_spot="{{ params.preferred_meeting_spot }}",
        # Rendered as a JSON string (templates render to text); the operator decodes it.
        form_responses='{"guest_email_s": {{ params.guests | tojson }}, "language": {{ params.language | tojson }}}',
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
