"""Test DAG: the bulk operator fed by an upstream task's XCom."""

from __future__ import annotations

from typing import Any

import pendulum

from airflow_provider_neetocal.operators.bulk import NeetoCalCreateBookingsOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]
    from airflow.models import DAG

with DAG("neetocal_test_bulk", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False):

    @task
    def attendees() -> list[dict[str, Any]]:
        starts = ["2030-07-15T08:00:00Z", "2030-07-15T08:15:00Z", "2030-07-15T08:30:00Z"]
        return [{"name": f"Guest {i}", "email": f"guest{i}@example.com", "slot_start": s} for i, s in enumerate(starts)]

    NeetoCalCreateBookingsOperator(task_id="bulk", bookings=attendees(), meeting_slug="quick-sync", time_zone="UTC")
