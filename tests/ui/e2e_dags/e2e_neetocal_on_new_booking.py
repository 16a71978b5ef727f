"""End-to-end test DAG: one run per new booking, through a real triggerer (polls every 2 s)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_neetocal.booking_changes import changes_of
from airflow_provider_neetocal.triggers.booking import NeetoCalBookingEventTrigger

bookings = Asset(
    name="e2e_neetocal_bookings",
    uri="neetocal://neetocal_default/e2e-bookings",
    watchers=[
        AssetWatcher(
            name="e2e_neetocal_watcher", trigger=NeetoCalBookingEventTrigger(changes=["created"], poll_interval=2.0)
        )
    ],
)

with DAG(
    dag_id="e2e_neetocal_on_new_booking",
    schedule=[bookings],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):

    @task
    def read_booking(triggering_asset_events: dict | None = None) -> list[str]:
        return [str(change["booking"]["sid"]) for change in changes_of(triggering_asset_events or {})]

    read_booking()
