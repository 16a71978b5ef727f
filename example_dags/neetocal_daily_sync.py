"""A daily sync: NeetoCal's onboarding calls kept in step with a table, planned, checked, then applied.

The table is a CSV read through Airflow's ``ObjectStoragePath`` (``file://`` here, ``s3://conn@bucket/key``
on workers that share no disk). Needs Airflow 3.3 or later: the sync's ownership lives in the asset
state store (on older Airflow the DAG parses, and its sync tasks fail saying so, having sent nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum

# On Airflow 3 only, write `from airflow.sdk import DAG, Param, task` instead.
from airflow_provider_neetocal._compat import DAG, Param, task
from airflow_provider_neetocal.operators.sync import NeetoCalSyncBookingsOperator

#: The sample table shipped beside this file, as a URL: the default of the ``rows_csv`` Param. Plain
#: ``file://`` + path, not ``Path.as_uri()``: ObjectStoragePath does not decode the ``%20`` written for a space.
ONBOARDING_CSV_URL = "file://" + (Path(__file__).parent / "data" / "onboarding_calls.csv").resolve().as_posix()
#: Names the sync, and its asset ``neetocal://neetocal_default/sync/onboarding-calls``.
SYNC_ID = "onboarding-calls"
#: The most cancellations the check lets through to the apply, whatever the operator's own guard says.
MAX_CANCELLATIONS_WITHOUT_A_HUMAN = 20

with DAG(
    dag_id="neetocal_daily_sync",
    description="Keep NeetoCal's onboarding calls in step with a table: plan, check, apply.",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    # One apply at a time: two overlapping runs of one sync would both plan the same creates.
    max_active_runs=1,
    tags=["neetocal", "example", "sync"],
    params={
        "rows_csv": Param(
            ONBOARDING_CSV_URL,
            type="string",
            title="Table (CSV URL)",
            description=(
                "URL of the CSV, read by the worker through ObjectStoragePath: file:///path, s3://conn_id@bucket/key "
                "or any fsspec store. Columns: row_id (the stable key), name, email, slot_date, slot_start_time, "
                "time_zone."
            ),
        ),
        "meeting_slug": Param(
            "weekly-webinar",
            type="string",
            title="Meeting",
            description="The slug of the NeetoCal meeting every row is booked on (a group meeting in the sandbox).",
        ),
    },
    doc_md="""
### Keep NeetoCal in step with a table

Every day the onboarding table is recomputed upstream; this DAG makes NeetoCal match it:

1. **plan** (`mode="plan"`): reads the table, the bookings the sync owns (remembered in the asset
   state store of `neetocal://neetocal_default/sync/onboarding-calls`) and their state in NeetoCal,
   and logs the plan: create / reschedule / cancel / unchanged / drifted per row key. Sends no write.
2. **check**: stops the run before any write when the plan would cancel more than a few bookings, or
   could not read something (a human looks at the plan in the log first).
3. **apply** (`mode="apply"`): recomputes the plan and carries it out, each write exactly once. Only
   bookings the sync created are ever moved or cancelled; a booking someone moved or cancelled by hand
   is left alone (`on_drift="respect"`).

Downstream DAGs can be scheduled on the sync's asset. Needs Airflow 3.3+. See docs/sync.md.
""",
):
    common: dict[str, Any] = {
        "rows": "{{ params.rows_csv }}",
        "sync_id": SYNC_ID,
        "key_field": "row_id",
        "meeting_slug": "{{ params.meeting_slug }}",
    }
    plan = NeetoCalSyncBookingsOperator(task_id="plan", mode="plan", **common)

    @task
    def check(plan: dict[str, Any]) -> dict[str, int]:
        """Let the apply run only on a plan that a person would wave through."""
        counts = plan["counts"]
        if plan.get("refused"):
            raise ValueError(f"the sync's guard refuses this plan: {plan['refused']}")
        if plan["cancellations"] > MAX_CANCELLATIONS_WITHOUT_A_HUMAN:
            raise ValueError(
                f"the plan cancels {plan['cancellations']} bookings (more than {MAX_CANCELLATIONS_WITHOUT_A_HUMAN}): "
                "look at the plan task's log, then run the apply by hand if it is right"
            )
        print(f"Plan accepted: {counts}")
        return counts

    apply = NeetoCalSyncBookingsOperator(
        task_id="apply",
        mode="apply",
        retries=2,
        retry_delay=pendulum.duration(minutes=1),
        **common,
    )
    check(plan.output) >> apply  # type: ignore[arg-type]
