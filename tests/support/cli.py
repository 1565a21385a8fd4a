"""The real CLI with a private home, config and state, for e2e and fault tests: in the test's
process against the sandbox's emulators (``inprocess.py``) where the test neither kills nor
signals it, else in a process of its own (``popen``, or ``in_process=False``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from igest_sandbox import Sandbox
from igest_sync.cli.session import pace_file
from igest_sync.config import write_config
from igest_sync.demo import demo_config
from tests.support import forked, inprocess


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


class Cli:
    """Runs `igest-sync` with a private home, config and state: in this process when given the
    sandbox (``in_process``), else as `python -m igest_sync`; ``popen`` always starts a process."""

    def __init__(
        self,
        home: Path,
        config: Path,
        env: dict[str, str] | None = None,
        *,
        in_process: Sandbox | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.in_process = in_process
        self.sandbox = sandbox or in_process
        self.home = home
        self.config = config
        self.state = home / "state.sqlite3"
        self.env = {**os.environ, "IGEST_SYNC_HOME": str(home), "COLUMNS": "200", **(env or {})}
        self.env.pop("IGEST_SYNC_REPORTS", None)
        self.outputs: list[str] = []  # everything printed, for the secret grep

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "igest_sync", "--config", str(self.config), *args]

    def __call__(self, *args: str, timeout: float = 120) -> Result:
        # In-process calls swap this process's environment and standard streams: from the
        # main thread only (a test that runs the CLI from threads gets processes).
        if self.in_process is not None and threading.current_thread() is threading.main_thread():
            sb = self.in_process
            done = inprocess.run(
                ("--config", str(self.config), *args),
                env=self.env,
                sandbox=sb,
                clock=getattr(sb, "virtual_clock", None),
            )
        else:
            self._real_day()
            done = run_cli("--config", str(self.config), *args, env=self.env, timeout=timeout)
        self.outputs += [done.stdout, done.stderr]
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> forked.Started | subprocess.Popen:
        """A call started and not waited for, forked from the warm parent where it can be (a
        ``subprocess.Popen`` look-alike: wait, poll, kill, send_signal, stdout/stderr)."""
        self._real_day()
        if forked.available():
            return forked.start(self.command(*args)[3:], env=self.env)
        return self.popen(*args)

    def popen(self, *args: str) -> subprocess.Popen:
        self._real_day()
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def _real_day(self) -> None:
        """A process reads the real clock: its sandbox must live in the real day too."""
        clock = getattr(self.sandbox, "virtual_clock", None)
        if clock is not None and self.sandbox.clock == clock.wall:  # type: ignore[union-attr]
            raise AssertionError(
                "this test starts a process, which lives in the real day, against a sandbox that "
                "lives in its virtual clock's day: mark the test `real_day`"
            )

    def status(self) -> dict:
        result = self("status", "--json")
        assert result.code == 0, result.stderr
        return result.json()

    def log_text(self) -> str:
        logs = self.home / "logs"
        return (
            "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*")))
            if logs.exists()
            else ""
        )


def run_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> forked.Finished:
    """``python -m igest_sync *args`` with ``env``, stdin from /dev/null, output captured: in a
    process forked from a warm parent (tests/support/forked.py) where it can, else a new one."""
    if forked.available():
        return forked.run(args, env=env, timeout=timeout)
    proc = subprocess.run(
        [sys.executable, "-m", "igest_sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return forked.Finished(proc.returncode, proc.stdout, proc.stderr)


def make_cli(
    sb: Sandbox,
    home: Path,
    *,
    env: dict[str, str] | None = None,
    last_run_long_ago: bool = True,
    in_process: bool = True,
    **overrides: dict,
) -> Cli:
    """A Cli whose config is the demo's for this sandbox, with ``overrides`` per section.

    With ``last_run_long_ago`` the home is that of a store whose last run was long ago (true
    of a new sandbox): its pace files list no recent request, so the first call does not
    assume that an earlier run used the current second and wait it out. That assumption,
    made when there is no pace file, is tested by the adapter tests and the two-runs test.

    ``in_process`` (the default): each call runs in this process against ``sb``'s emulators, on
    ``sb.virtual_clock`` when it has one; ``in_process=False`` for a test about the process
    itself (what a new interpreter reads at start-up, a real socket).
    """
    values = demo_config(sb.credentials)
    for section, keys in overrides.items():
        values.setdefault(section, {}).update(keys)
    config = home / "config.toml"
    write_config(config, values, overwrite=True)
    cli = Cli(home, config, env, in_process=sb if in_process else None, sandbox=sb)
    if last_run_long_ago:
        for service in ("jumpseller", "igest"):
            pace_file(cli.state, service).write_text('{"sent": []}')
    return cli
