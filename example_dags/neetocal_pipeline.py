"""A data-pipeline step: one NeetoCal booking per attendee row an upstream task produced.

The rows are read through Airflow's ``ObjectStoragePath``, so the CSV can live wherever the workers
can all reach it: ``file://`` (the default here: the copy beside this file) on one machine,
``s3://aws_default@bucket/attendees.csv``, ``gs://…``, ``abfs://…`` or any other fsspec-backed store
on a distributed deployment whose workers share no disk.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pendulum

# DAG, Param and task come from airflow.sdk on Airflow 3 and from their old homes on Airflow 2.11;
# on Airflow 3 only, write `from airflow.sdk import DAG, ObjectStoragePath, Param, task` instead.
from airflow_provider_neetocal._compat import DAG, Param, object_storage_path, task
from airflow_provider_neetocal.operators.booking import NeetoCalCreateBookingOperator

#: The sample rows shipped beside this file, as a URL (``file://``): the default of the ``attendees_csv`` Param.
#: Plain ``file://`` + path, not ``Path.as_uri()``: ObjectStoragePath does not decode the ``%20`` that
#: ``as_uri()`` writes for a space, so a DAGs folder like ``~/my dags`` would not be found.
ATTENDEES_CSV_URL = "file://" + (Path(__file__).parent / "data" / "attendees.csv").resolve().as_posix()

with DAG(
    dag_id="neetocal_pipeline",
    description="Read attendee rows, book each one in NeetoCal (mapped tasks), summarise the results.",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["neetocal", "example"],
    params={
        "attendees_csv": Param(
            ATTENDEES_CSV_URL,
            type="string",
            title="Attendees CSV",
            description=(
                "URL of the CSV, read by the worker through ObjectStoragePath: file:///path, "
                "s3://conn_id@bucket/key or any fsspec store. A bare path counts as file://. "
                "Columns: name, email, slot_date, slot_start_time, time_zone, language."
            ),
        ),
        "meeting_slug": Param(
            "meeting-with-oliver-smith",
            type="string",
            title="Meeting",
            description="Slug of the scheduling link every row is booked on (the last part of its booking URL).",
        ),
    },
    doc_md="""
### One booking per row

`extract_attendees` reads the attendee rows (a CSV read through `ObjectStoragePath`, so any
fsspec store works: `file://` here, `s3://conn_id@bucket/key` on workers that share no disk; in real
life also a query or an upstream dataset), `create_booking` is **mapped** over them with
`expand_kwargs`, one task instance per attendee, and `summarise` collects every mapped instance's
XCom into a booked/failed report, even when some bookings failed. A row with a bad value fails only
its own mapped instance, with a message naming the field, and sends nothing to NeetoCal.
""",
):

    @task
    def extract_attendees(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Turn each CSV row into the keyword arguments of one booking.

        The file is read on the worker that runs this task, from the URL given at run time (not a path
        fixed when the DAG was parsed), so it need not exist on the scheduler or the other workers.
        """
        location = (params or {})["attendees_csv"]
        url = location if "://" in location else "file://" + Path(location).resolve().as_posix()
        text = object_storage_path(url).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
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
        # Safe to retry: a retry looks its booking up before sending (docs/reliability.md). A bad row
        # fails at once whatever this says (a validation error is never retried).
        retries=3,
        retry_delay=pendulum.duration(minutes=1),
    ).expand_kwargs(attendees)

    @task(trigger_rule="all_done", multiple_outputs=False)
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
