"""The in-process CLI runner (tests/support/inprocess.py) behaves as a forked call does, and
leaves this process as it found it; the virtual clock it paces on moves only when slept on."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from igest_sandbox import Sandbox, start_sandbox
from igest_sync.cli import composition
from tests.support import forked, inprocess
from tests.support.cli import make_cli
from tests.support.clock import VirtualClock, one_worker
from tests.support.sandbox_clients import started_sandbox


@pytest.mark.parametrize(
    ("args", "columns"),
    [
        (["--help"], "80"),
        (["status", "--help"], "60"),  # the width comes from this call's COLUMNS
        (["status"], "80"),
        (["no-such-command"], "80"),
        (["--config", "missing.toml", "invoice"], "80"),
    ],
)
@pytest.mark.skipif(not forked.available(), reason="compared with the forked runner")
def test_an_in_process_call_prints_and_exits_as_a_forked_one(tmp_path, args, columns):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path), "COLUMNS": columns}
    inside = inprocess.run(args, env=env, sandbox=Sandbox(seed=False))
    fork = forked.run(args, env=env, timeout=60)
    assert (inside.returncode, inside.stdout, inside.stderr) == (
        fork.returncode,
        fork.stdout,
        fork.stderr,
    )


def test_a_call_leaves_the_environment_streams_and_logging_as_they_were(tmp_path):
    environ, streams = dict(os.environ), (sys.stdin, sys.stdout, sys.stderr)
    handlers = list(logging.getLogger("igest_sync").handlers)
    with start_sandbox(seed=False) as sb:  # loopback URLs in the config; called in-process
        cli = make_cli(sb, tmp_path)
        assert cli("invoice").code == 0
        assert sb.stats()["jumpseller"]["requests"] > 0
    assert (cli.home / "logs").is_dir()  # it logged to its own home
    assert dict(os.environ) == environ and (sys.stdin, sys.stdout, sys.stderr) == streams
    assert logging.getLogger("igest_sync").handlers == handlers


def test_the_clients_pace_on_the_sandbox_clock_and_no_wall_time_passes(tmp_path, monkeypatch):
    # One thread sending at a time: with several, which request reaches the sandbox in which
    # virtual second depends on how the machine schedules them (a 429 is then possible and
    # handled, but not this test's point).
    one_worker(monkeypatch)
    clock = VirtualClock()
    with started_sandbox(clock=clock, seed=True) as sb:
        cli = make_cli(sb, tmp_path, last_run_long_ago=False)
        # No pace file: the run assumes an earlier one used iGEST's current second and waits
        # it out, on the virtual clock; then 20/s and 10/s for the seed's orders.
        started, real = clock(), time.monotonic()
        assert cli("invoice").code == 0
        assert clock() - started >= 1.0
        assert time.monotonic() - real < 30  # whatever the virtual clock went through
        assert sb.stats()["igest"]["429"] == 0 and sb.stats()["jumpseller"]["429"] == 0


def test_a_virtual_sleep_wakes_when_its_thread_meant_to():
    clock = VirtualClock()
    start = clock()
    clock.sleep(2.0)
    assert clock() == start + 2.0
    # Another thread that read the clock before this one slept and sleeps less wakes at its
    # own time: the clock does not go back, and is not pushed further.
    other_read = threading.Event()
    slept = threading.Event()

    def other() -> None:
        clock()
        other_read.set()
        slept.wait()
        clock.sleep(1.0)

    thread = threading.Thread(target=other)
    clock.advance(seconds=0)
    thread.start()
    other_read.wait()
    clock.sleep(3.0)  # from start + 2.0
    slept.set()
    thread.join()
    assert clock() == start + 5.0


def test_a_flowing_clock_follows_real_time_and_skips_its_sleeps():
    clock = VirtualClock(flowing=True)
    start, real = clock(), time.monotonic()
    clock.sleep(3600)
    assert clock() - start >= 3600
    assert time.monotonic() - real < 60
    later = clock()
    time.sleep(0.05)
    assert clock() - later >= 0.05


def test_a_call_lives_in_its_sandbox_s_day_and_the_cli_s_clock_is_put_back(tmp_path):
    # The CLI's one wall clock (cli/composition.wall_clock) is the sandbox's during a call: the
    # ledger's stamps, the run's day and status's "now" are the sandbox's, whatever today is.
    real = composition.wall_clock
    clock = VirtualClock(wall=datetime(2031, 3, 14, 10, 0, tzinfo=UTC))
    with started_sandbox(clock=clock, seed=False) as sb:
        paid = clock.wall() - timedelta(hours=1)
        sb.store.add_order(
            lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "rate": 23}],
            created_at=paid - timedelta(minutes=5),
            completed_at=paid,
        )
        cli = make_cli(sb, tmp_path)
        assert cli("invoice").code == 0
        status = cli.status()
    [document] = status["documents"]
    assert document["date"] == "2031-03-14"
    assert document["issued_at"].startswith("2031-03-14T10:")
    assert status["last_run_at"].startswith("2031-03-14T10:")
    assert composition.wall_clock is real
