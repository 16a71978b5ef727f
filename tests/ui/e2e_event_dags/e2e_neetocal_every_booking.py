"""End-to-end test DAG: every new booking reaches a run (the event trigger polls every 2 s)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_neetocal.booking_changes import changes_of
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

bookings = Asset(
    name="e2e_neetocal_every_booking",
    uri="neetocal://neetocal_default/e2e-every-booking",
    watchers=[
        AssetWatcher(
            name="e2e_neetocal_every_booking_watcher",
            trigger=NeetoCalBookingEventTrigger(changes=["created"], poll_interval=2.0),
        )
    ],
)

with DAG(
    dag_id="e2e_neetocal_every_booking",
    schedule=[bookings],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=64,
):

    @task
    def read_bookings(triggering_asset_events: dict | None = None) -> list[str]:
        return [str(change["booking_sid"]) for change in changes_of(triggering_asset_events or {})]

    read_bookings()
