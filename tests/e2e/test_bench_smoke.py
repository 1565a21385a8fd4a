"""The benchmark runs: its quickest scenarios through the real CLI, nothing timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench.py"


@pytest.mark.slow(9)
def test_bench_quick_quiet_and_startup_complete_and_print_the_table(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {**os.environ}
    env.pop("IGEST_SYNC_HOME", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--scenario",
            "quiet",
            "--scenario",
            "startup",
            "--documents",
            "500",
            "--repeats",  # one of each: this checks the benchmark runs, it measures nothing
            "1",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        check=False,  # the exit code is asserted below, with the output in the message
        timeout=240,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [
        [cell.strip() for cell in line.split("|")]
        for line in proc.stdout.splitlines()
        if line.count("|") == 4
    ]
    assert rows[0] == ["Scenario", "Measure", "Value", "Target", "Result"]
    measures = {(row[0], row[1]) for row in rows[1:]}
    assert ("Quiet cron run", "requests (all services)") in measures
    assert ("Start-up", "status (500 documents)") in measures
    assert all(row[4] != "FAIL" for row in rows[1:])
    assert figures.exists()


def test_unavoidable_time_follows_the_sliding_windows() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bounds
    finally:
        sys.path.remove(str(BENCH.parent))
    # iGEST 10/s: requests 1-10 at 0 s, 11-20 at 1 s ...; the answer comes one latency later.
    assert bounds.rate_bound(10, bounds.IGEST_WINDOWS, 0.05) == pytest.approx(0.05)
    assert bounds.rate_bound(11, bounds.IGEST_WINDOWS, 0.05) == pytest.approx(1.05)
    # Jumpseller: 800 fit in 40 s at 20/s; the 801st waits for the first to leave the minute.
    sends = bounds.earliest_sends(801, bounds.JUMPSELLER_WINDOWS)
    assert sends[799] == 39.0 and sends[800] == 60.0
    backlog = bounds.backlog_bound(
        igest_requests=2000, jumpseller_requests=1000, orders=1000, concurrency=4, latency=0.05
    )
    assert backlog.limited_by == "iGEST 10/s" and backlog.seconds == pytest.approx(199.05)
    # Writes start after the last read is answered; earlier reads still count in the window.
    catalogue = bounds.plan_then_write_bound(
        jumpseller_reads=20, igest_reads=0, jumpseller_writes=20, igest_writes=0, latency=0.5
    )
    # The 20 reads fill the 1-second window at 0 s: the writes go at 1.0 s, answered at 1.5 s.
    assert catalogue.seconds == pytest.approx(1.5)


def test_realtime_figures_percentiles_bound_and_memory_growth() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import realtime
    finally:
        sys.path.remove(str(BENCH.parent))
    values = [float(n) for n in range(1, 101)]  # 1 .. 100 s
    assert [realtime.percentile(values, q) for q in (0.5, 0.95, 0.99)] == [50.0, 95.0, 99.0]
    assert realtime.percentile([2.0], 0.99) == 2.0
    # 300 orders at 2 iGEST requests each: 600 at 10/s, the last sent at 59 s.
    figures = realtime.Figures(first_paid=0.0, last_paid=10.0)
    figures.requests = {"jumpseller": 600, "igest": 600}
    bound, limited_by = realtime.burst_bound(figures, 300, 0.05)
    assert bound == pytest.approx(59.05) and limited_by.startswith("iGEST")
    # Memory: warm-up in the first quarter does not count; growth after it does.
    flat = [(float(t), 50_000 if t < 4 else 80_000) for t in range(16)]
    assert realtime.memory_growth_kb(flat) == 0
    growing = [(float(t), 80_000 + 1000 * t) for t in range(16)]
    assert realtime.memory_growth_kb(growing) == 8000
    assert realtime.memory_growth_kb(growing[:5]) is None  # too few samples to say
