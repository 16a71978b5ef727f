"""Second hostile review of the sync (issue 21), pure parts: row files and the store's size limit.

Each problem is a strict xfail repro that fails on the current code.
"""

from __future__ import annotations

import datetime as dt
import json

from airflow_provider_neetocal.operators.sync import DEFAULT_BATCH_SIZE, load_rows
from airflow_provider_neetocal.sync import MAX_CHUNK_BYTES, MAX_KEY_LENGTH, desired_from_rows, pending_record

HEADER = "row_id,name,email,meeting_slug,time_zone,slot_date,slot_start_time"
#: Airflow's default ``[state_store] max_value_storage_bytes``.
AIRFLOW_DEFAULT_LIMIT = 65_535
LINE = "ann,Ann,ann@example.com,weekly-webinar,Europe/London,2030-07-15,10:00 AM"


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    """A CSV saved by Excel as "CSV UTF-8" starts with a BOM; its rows must be read like any other."""
    path = tmp_path / "rows.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + LINE + "\r\n").encode("utf-8"))
    rows = load_rows(f"file://{path}")
    assert set(desired_from_rows(rows, key_field="row_id")) == {"ann"}


def test_the_pending_record_of_a_default_batch_fits_the_store_limit():
    """Every value the sync writes must stay under the size it promises for its chunks (48,000 bytes,
    under Airflow's default 65,535): including ``neetocal.sync.pending`` for a full default batch of
    creates whose keys are as long as ``MAX_KEY_LENGTH`` allows."""
    ops = [
        {
            "key": f"{i:06d}-" + "k" * (MAX_KEY_LENGTH - 7),
            "op": "create",
            "meeting": "onboarding-call",
            "email": f"customer.{i}.onboarding-team@enterprise-customer.example.com",
            "start": "2030-07-15T09:00:00+00:00",
        }
        for i in range(DEFAULT_BATCH_SIZE)
    ]
    record = pending_record(ops, now=dt.datetime(2030, 7, 1, tzinfo=dt.timezone.utc))
    size = len(json.dumps(record, separators=(",", ":")))
    assert size <= AIRFLOW_DEFAULT_LIMIT, f"the pending record is {size} bytes"
    assert size <= MAX_CHUNK_BYTES, f"the pending record is {size} bytes"


def test_a_csv_line_of_empty_cells_is_skipped_like_a_blank_line(tmp_path):
    """A spreadsheet's trailing rows of empty cells carry no data: they must be skipped like blank lines."""
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + "\n" + LINE + "\n\n" + "," * HEADER.count(",") + "\n", encoding="utf-8")
    rows = load_rows(f"file://{path}")
    assert set(desired_from_rows(rows, key_field="row_id")) == {"ann"}
