"""Run once per new NeetoCal booking: event-driven scheduling (Airflow 3.1+) over the booking event trigger."""

from __future__ import annotations

import pendulum

# Event-driven scheduling (AssetWatcher) exists from Airflow 3.0, and this provider supports it from
# 3.1. On Airflow 2.x this file defines no DAG.
try:
    from airflow.sdk import DAG, Asset, AssetWatcher, task
except ImportError:  # Airflow 2.x
    DAG = None  # type: ignore[assignment,misc]

from airflow_provider_neetocal.booking_changes import changes_of
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

if DAG is not None:
    new_bookings = Asset(
        name="neetocal_new_bookings",
        uri="neetocal://neetocal_default/bookings",
        watchers=[
            AssetWatcher(
                name="neetocal_new_bookings_watcher",
                trigger=NeetoCalBookingEventTrigger(changes=["created"], poll_interval=60.0),
            )
        ],
    )

    with DAG(
        dag_id="neetocal_on_new_booking",
        description="A run for the new NeetoCal bookings each poll finds (event-driven; Airflow 3.1+).",
        schedule=[new_bookings],
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        tags=["neetocal", "example"],
        doc_md="""
### On every new booking

Scheduled by an **asset watcher**: the triggerer runs `NeetoCalBookingEventTrigger`, which polls the
workspace's upcoming bookings once a minute and emits **one event per poll that found new bookings,
carrying all of them** (a list), so a burst of bookings reaches one run, not runs that Airflow could
merge or drop. `welcome` reads every booking of the run's triggering events with `changes_of`
(each change once, even if a triggerer crash delivered it again). On Airflow 3.3+ the watcher keeps
its memory in the asset state store: bookings made while the triggerer was down or this DAG was
paused (up to 7 days) reach the next run. Needs Airflow 3.1+ and a running triggerer.
""",
    ):

        @task
        def welcome(triggering_asset_events: dict | None = None) -> list[str]:
            """Greet the attendee of every new booking this run was started for (one or many)."""
            greeted = []
            for change in changes_of(triggering_asset_events or {}):
                booking = change.get("booking") or {}
                sid, email, starts_at = booking.get("sid"), booking.get("email"), booking.get("starts_at")
                print(f"New NeetoCal booking {sid}: {email} at {starts_at}")
                greeted.append(str(sid))
            return greeted

        welcome()
