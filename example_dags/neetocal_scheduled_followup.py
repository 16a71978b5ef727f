"""Every weekday morning, book the next business day's follow-up call for the data just processed."""

from __future__ import annotations

import pendulum

# Airflow 3 imports; Airflow 2.11 (no airflow.sdk yet) has the very same classes under their old
# homes. Only this import differs: on Airflow 3 only, keep the first line and drop the fallback.
try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2.x
    from airflow.models import DAG, Param

from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

WEEKEND = (pendulum.SATURDAY, pendulum.SUNDAY)


def next_business_day_at(moment: pendulum.DateTime, time_zone: str, hour: int, minute: int = 0) -> str:
    """The first weekday after ``moment`` (read in ``time_zone``) at ``hour:minute``, as ISO-8601.

    A template macro: the slot is derived from the run's data interval, so a re-run or backfill of
    the same interval asks for the same slot (NeetoCal then refuses a second booking of it).
    """
    day = pendulum.instance(moment).in_timezone(time_zone).add(days=1)
    while day.day_of_week in WEEKEND:
        day = day.add(days=1)
    return day.at(hour, minute).isoformat()


with DAG(
    dag_id="neetocal_scheduled_followup",
    description="Weekday mornings: book a follow-up call for the day after the data interval.",
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["neetocal", "example"],
    params={
        "meeting_slug": Param(
            "meeting-with-oliver-smith",
            type="string",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
            title="Meeting",
            description="Slug of the scheduling link (the last part of its booking URL).",
        ),
        "name": Param(
            "Data quality review",
            type="string",
            minLength=1,
            maxLength=255,
            title="Attendee name",
            description="Who the follow-up call is booked for, as NeetoCal shows it.",
        ),
        "email": Param(
            "data-quality@example.com",
            type="string",
            format="email",
            title="Attendee email",
            description="NeetoCal sends the invitation here.",
        ),
        "time_zone": Param(
            "Asia/Kolkata",
            type="string",
            minLength=1,
            title="Attendee time zone",
            description="IANA zone, e.g. Europe/London: the call is booked at 11:30 in this zone.",
        ),
    },
    user_defined_macros={"next_business_day_at": next_business_day_at},
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    doc_md="""
### Scheduled follow-up bookings

Runs at 06:00 UTC on weekdays. Each run books the data-quality review call at 11:30 in the
attendee's zone on the first business day after its data interval ends
(`{{ next_business_day_at(data_interval_end, params.time_zone, 11, 30) }}`), so the slot follows the
run's logical date, not the wall clock: a backfill books the calls those runs would have booked.
""",
):
    NeetoCalCreateBookingOperator(
        task_id="book_follow_up",
        meeting_slug="{{ params.meeting_slug }}",
        name="{{ params.name }}",
        attendee_email="{{ params.email }}",
        time_zone="{{ params.time_zone }}",
        slot_start="{{ next_business_day_at(data_interval_end, params.time_zone, 11, 30) }}",
        form_responses={"language": "English"},
    )
