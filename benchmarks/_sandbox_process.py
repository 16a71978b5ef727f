"""The sandbox in its own process, so its CPU (and its GIL) is not the client's being measured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

API_KEY = "bench-key-0123456789"


@contextmanager
def sandbox_process(*flags: str, conn_extra: dict[str, object] | None = None) -> Iterator[str]:
    """Start ``python -m airflow_provider_neetocal.sandbox`` on a free 127.0.0.1 port; yield its URL.

    ``neetocal_default`` (``AIRFLOW_CONN_NEETOCAL_DEFAULT``) points at it while it runs, with
    ``conn_extra`` as its extras (e.g. the ``ca_bundle`` of an HTTPS sandbox).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_neetocal.sandbox", "--port", "0", "--api-key", API_KEY, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(https?://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        url = match.group(1)
        previous = os.environ.get("AIRFLOW_CONN_NEETOCAL_DEFAULT")
        conn: dict[str, object] = {"conn_type": "neetocal", "host": url, "password": API_KEY}
        if conn_extra:
            conn["extra"] = conn_extra
        os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = json.dumps(conn)
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("AIRFLOW_CONN_NEETOCAL_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_NEETOCAL_DEFAULT"] = previous
    finally:
        process.terminate()
        process.wait(timeout=10)


def slotted_rows(count: int, *, year: int = 2031, prefix: str = "bench") -> list[dict[str, object]]:
    """``count`` rows for distinct attendees on consecutive 15-minute slots of ``quick-sync`` (UTC)."""
    import pendulum

    start = pendulum.datetime(year, 1, 1, tz="UTC")
    rows: list[dict[str, object]] = []
    for n in range(count):
        slot = start.add(minutes=15 * n)
        rows.append(
            {
                "name": f"Bench {n}",
                "email": f"{prefix}{n}@example.com",
                "slot_date": slot.format("YYYY-MM-DD"),
                "slot_start_time": slot.format("hh:mm A"),
            }
        )
    return rows
