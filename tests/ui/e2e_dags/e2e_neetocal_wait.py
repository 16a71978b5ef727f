"""End-to-end test DAG: a deferred sensor waiting, in the triggerer, for a booking to be cancelled."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_neetocal.sensors.booking import NeetoCalBookingSensor

with DAG(
    dag_id="e2e_neetocal_wait",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={"booking_sid": "none"},
):
    NeetoCalBookingSensor(
        task_id="wait",
        booking_sid="{{ params.booking_sid }}",
        target_statuses=["cancelled"],
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )
