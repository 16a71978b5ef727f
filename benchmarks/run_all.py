"""Run every benchmark in turn (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_parse_cost.py", "bench_hook_overhead.py", "bench_bulk.py", "bench_memory.py", "bench_sync.py"]

if __name__ == "__main__":
    for script in SCRIPTS:
        print(f"\n== {script} ==", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True)
