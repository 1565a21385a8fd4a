"""Crashes and overlaps: SIGKILL at random moments, a deleted state file, two runs at once.

The soak is ``bench/crash_soak.py`` (the same code, a short form): 30 orders, 8 kills, a small
latency so that kills land while requests are in flight.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from igest_sandbox import Sandbox
from tests.support import forked

from .conftest import Cli, add_paid_orders, assert_all_done, make_cli, recorded_sandbox, soak


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """The real limits: two runs started together rely on iGEST's paced first request to
    overlap (the other fault tests run with high limits). A little iGEST latency keeps the
    first run holding the lock well past the second one's start-up, which on a loaded machine
    (CPU shared with other suites) could otherwise take longer than the whole first run."""
    with recorded_sandbox(real_day=True, latency=(0.0, 0.3)) as sandbox:
        yield sandbox


@pytest.mark.slow(15)
def test_random_kills_lose_nothing_and_duplicate_nothing(tmp_path: Path):
    result = soak.run_soak(
        orders=30,
        kills=8,
        seed=3,
        latency=0.02,
        max_delay=2.0,
        workdir=tmp_path,
        launch=_launcher(),
    )
    report = "\n".join(result.lines()) + "\n" + (tmp_path / "runs.log").read_text()[-3000:]
    assert result.killed >= 4, report  # most kills really interrupted a run
    assert result.finished, report
    audit = result.audit
    assert audit.paid >= 20, report
    assert audit.duplicates == [], report
    assert audit.missing == [], report
    assert audit.wrong_totals == [] and audit.unexpected == [], report
    assert audit.stray_drafts == [], report
    # No 429 among real processes in real time is a timing claim (a loaded machine wakes a
    # paced thread late): bench/crash_soak.py reports it; a 429 met is waited out, and what
    # is asserted here, exactly once, holds either way.


def _launcher():
    """Each run a process forked from the warm server (its own pid, killed by SIGKILL alone),
    where the platform has it; else the soak's own new interpreter."""
    if not forked.available():
        return None
    return lambda args, env, log: forked.start(args, env=env, output=log)


def test_a_deleted_state_file_issues_nothing_new(sb, cli: Cli):
    add_paid_orders(sb, 3)
    assert cli("invoice").code == 0
    before = {
        ref: [d["number"] for d in docs]
        for ref, docs in sb.igest.final_documents_by_reference().items()
    }
    drafts_posted = len(
        [e for e in sb.requests() if e.method == "POST" and e.path == "/v1/documents"]
    )
    for suffix in ("", "-wal", "-shm"):
        cli.state.with_name(cli.state.name + suffix).unlink(missing_ok=True)
    result = cli("invoice", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["issued"] == 0 and report["adopted"] == 3
    after = {
        ref: [d["number"] for d in docs]
        for ref, docs in sb.igest.final_documents_by_reference().items()
    }
    assert after == before
    assert (
        len([e for e in sb.requests() if e.method == "POST" and e.path == "/v1/documents"])
        == drafts_posted
    )  # not one draft sent
    assert len(cli.status()["documents"]) == 3  # the ledger knows them again
    assert_all_done(sb, cli)  # and the adopted documents are not attached a second time


def test_two_runs_started_together_issue_each_document_once_and_one_stops(sb, tmp_path):
    add_paid_orders(sb, 4)
    cli = make_cli(sb, tmp_path, last_run_long_ago=False)
    # Both processes start within a millisecond; the first to take the lock needs over a
    # second (iGEST's first request waits out the current second), far longer than the
    # other needs to reach the lock.
    processes = [cli.start("invoice"), cli.start("invoice")]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]
    for p in processes:
        p.stdout.close()
        p.stderr.close()
    assert sorted(code for code, _, _ in results) == [0, 3], results
    [(_, out, err)] = [r for r in results if r[0] == 3]
    # Off a terminal (cron) the stopped run prints nothing (issue 11.2); its one line is logged.
    assert out == err == "", (out, err)
    [message] = [line for line in cli.log_text().splitlines() if "Another igest-sync run" in line]
    assert "Another igest-sync run" in message and "stops without doing anything" in message
    assert_all_done(sb, cli)


def test_a_lock_left_by_a_killed_run_is_taken_over(sb, cli: Cli):
    import signal
    import subprocess
    import sys

    add_paid_orders(sb, 1)
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    lock = cli.state.with_name(cli.state.name + ".lock")
    # A process that takes the run lock the way igest-sync does, then dies by SIGKILL.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
                "print('locked', flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    blocked = cli("invoice")
    # Silent off a terminal (issue 11.2); the log names the holder.
    assert blocked.code == 3 and blocked.stderr == "" and f"pid {holder.pid}" in cli.log_text()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    holder.stdout.close()
    deadline = time.monotonic() + 5
    result = cli("invoice")
    while result.code == 3 and time.monotonic() < deadline:  # the kernel releases it at exit
        result = cli("invoice")
    assert result.code == 0, result.stderr
    assert lock.exists()  # the stale file is reused, not a reason to stop
    assert_all_done(sb, cli)
