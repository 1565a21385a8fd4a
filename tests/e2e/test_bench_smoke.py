"""The benchmark runs: its quickest scenarios through the real CLI, nothing timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench.py"


def test_bench_quick_quiet_and_startup_complete_and_print_the_table(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {**os.environ}
    env.pop("IGEST_SYNC_HOME", None)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--scenario", "quiet", "--scenario", "startup",
         "--documents", "500", "--json", str(figures)],
        capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [[cell.strip() for cell in line.split("|")] for line in proc.stdout.splitlines()
            if line.count("|") == 4]
    assert rows[0] == ["Scenario", "Measure", "Value", "Target", "Result"]
    measures = {(row[0], row[1]) for row in rows[1:]}
    assert ("Quiet cron run", "requests (all services)") in measures
    assert ("Start-up", "status (500 documents)") in measures
    assert all(row[4] != "FAIL" for row in rows[1:])
    assert figures.exists()
