"""Find a free slot, book it, wait (deferred, no worker slot) until the meeting has ended, then follow up."""

from __future__ import annotations

import pendulum

# Airflow 3 imports; Airflow 2.11 (no airflow.sdk yet) has the very same classes under their old
# homes. Only this import differs: on Airflow 3 only, keep the first line and drop the fallback.
try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]
    from airflow.models import DAG, Param

from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator
from airflow_provider_neetocal.operators.read import NeetoCalFindSlotsOperator
from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor

with DAG(
    dag_id="neetocal_meeting_followup",
    description="Book the first free slot next week, wait until the meeting has ended, then follow up.",
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
            description="Slug of the scheduling link (the last part of its booking URL): the first free slot "
            "in the seven days after the run's date is booked.",
        ),
        "name": Param(
            "Ada Lovelace",
            type="string",
            minLength=1,
            maxLength=255,
            title="Attendee name",
            description="Who the meeting is booked for, as NeetoCal shows it.",
        ),
        "email": Param(
            "ada@example.com",
            type="string",
            format="email",
            title="Attendee email",
            description="NeetoCal sends the invitation here; the follow-up task addresses the same person.",
        ),
        "time_zone": Param(
            "Asia/Kolkata",
            type="string",
            minLength=1,
            title="Attendee time zone",
            description="IANA zone, e.g. Europe/London: free slots are listed and booked in this zone.",
        ),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    doc_md="""
### Follow up after a meeting

1. `find_slot` reads the meeting's free slots over the next seven days (`NeetoCalFindSlotsOperator`)
   and keeps the earliest.
2. `book` books it for the attendee from the params (`NeetoCalCreateBookingOperator`).
3. `wait_until_ended` is a **deferrable** `NeetoCalBookingSensor(wait_for="end")`: after one read it
   hands the wait to the triggerer, which reads the booking once a minute and holds no worker slot
   for the hours or days until the meeting ends. A cancelled booking fails it at once.
4. `follow_up` runs once the meeting has ended, with the booking from the sensor's XCom: send the
   notes, the survey, the invoice.
""",
):
    find_slot = NeetoCalFindSlotsOperator(
        task_id="find_slot",
        meeting_slug="{{ params.meeting_slug }}",
        date_from="{{ macros.ds_add(ds, 1) }}",
        date_to="{{ macros.ds_add(ds, 7) }}",
        time_zone="{{ params.time_zone }}",
        limit=1,
    )
    book = NeetoCalCreateBookingOperator(
        task_id="book",
        meeting_slug="{{ params.meeting_slug }}",
        name="{{ params.name }}",
        attendee_email="{{ params.email }}",
        time_zone="{{ params.time_zone }}",
        slot_date="{{ ti.xcom_pull(task_ids='find_slot')[0]['slot_date'] }}",
        slot_start_time="{{ ti.xcom_pull(task_ids='find_slot')[0]['slot_start_time'] }}",
    )
    wait_until_ended = NeetoCalBookingSensor(
        task_id="wait_until_ended",
        booking_sid="{{ ti.xcom_pull(task_ids='book', key='booking_sid') }}",
        wait_for="end",
        deferrable=True,
        poke_interval=60,
        timeout=pendulum.duration(days=14).total_seconds(),
    )

    @task
    def follow_up(booking: dict) -> str:
        """Whatever comes after the meeting; here, the note a follow-up e-mail would carry."""
        note = f"Thanks for meeting us at {booking['starts_at']}, {booking.get('name') or 'there'}!"
        print(f"Follow-up for NeetoCal booking {booking['sid']}: {note}")
        return note

    find_slot >> book >> wait_until_ended
    follow_up(wait_until_ended.output)  # type: ignore[arg-type]
