"""A data-pipeline step: one NeetoCal booking per attendee row an upstream task produced."""

from __future__ import annotations

import csv
from pathlib import Path
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

ATTENDEES_CSV = Path(__file__).parent / "data" / "attendees.csv"

with DAG(
    dag_id="neetocal_pipeline",
    description="Read attendee rows, book each one in NeetoCal (mapped tasks), summarise the results.",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["neetocal", "example"],
    params={
        "attendees_csv": Param(
            str(ATTENDEES_CSV),
            type="string",
            title="Attendees CSV",
            description="Columns: name, email, slot_date, slot_start_time, time_zone, language.",
        ),
        "meeting_slug": Param("meeting-with-oliver-smith", type="string", title="Meeting"),
    },
    doc_md="""
### One booking per row

`extract_attendees` reads the attendee rows (a CSV here; in real life a query or an upstream
dataset), `create_booking` is **mapped** over them with `expand_kwargs`, one task instance per
attendee, and `summarise` collects every mapped instance's XCom into a booked/failed report,
even when some bookings failed. A row with a bad value fails only its own mapped instance, with a
message naming the field, and sends nothing to NeetoCal.
""",
):

    @task
    def extract_attendees(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Turn each CSV row into the keyword arguments of one booking."""
        path = Path((params or {})["attendees_csv"])
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [
            {
                "name": row["name"],
                # Not "email": on Airflow 2, partial() reserves that name for failure alerts.
                "attendee_email": row["email"],
                "slot_date": row["slot_date"],
                "slot_start_time": row["slot_start_time"],
                "time_zone": row["time_zone"],
                "form_responses": {"language": row["language"]},
            }
            for row in rows
        ]

    attendees = extract_attendees()

    bookings = NeetoCalCreateBookingOperator.partial(
        task_id="create_booking",
        meeting_slug="{{ params.meeting_slug }}",
        retries=0,
    ).expand_kwargs(attendees)

    @task(trigger_rule="all_done")
    def summarise(attendees: list[dict[str, Any]], bookings: list[dict[str, Any] | None]) -> dict[str, Any]:
        """Pair each attendee with its booking; a failed mapped instance left no XCom."""
        by_email = {b["email"].lower(): b for b in bookings if b}
        booked, failed = [], []
        for attendee in attendees:
            email = attendee["attendee_email"]
            booking = by_email.get(email.lower())
            if booking:
                booked.append({"email": email, "sid": booking["sid"], "starts_at": booking["starts_at"]})
            else:
                failed.append({"email": email})
        summary = {"booked": booked, "failed": failed}
        print(f"NeetoCal bookings: {len(booked)} booked, {len(failed)} failed")
        for line in booked:
            print(f"  booked {line['email']}: {line['sid']} at {line['starts_at']}")
        for line in failed:
            print(f"  FAILED {line['email']}")
        return summary

    # Task-decorated calls take XComArgs in place of their values at DAG-definition time.
    summarise(attendees, bookings.output)  # type: ignore[arg-type]
