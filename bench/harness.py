"""Benchmark plumbing: the sandbox with a request timeline, a private CLI home, timed CLI runs.

The sandbox is served from this process (loopback threads) with the real rate limits; the
tool runs as a separate process exactly as cron runs it (``python -m igest_sync --config``),
so its wall time includes interpreter start-up and its peak RSS is its own (``os.wait4``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from igest_sandbox import Sandbox
from igest_sandbox.server import _Handler
from igest_sync.config import write_config
from igest_sync.demo import demo_config


@dataclass(frozen=True)
class RequestEvent:
    service: str  # "jumpseller" | "igest"
    method: str
    path: str
    start: float  # time.perf_counter() when the server began handling it
    end: float  # when the answer was ready
    status: int


class Timeline:
    """Every API request the sandbox served, with server-side start and end times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[RequestEvent] = []

    def add(self, event: RequestEvent) -> None:
        with self._lock:
            self.events.append(event)

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def between(self, start: float, end: float) -> list[RequestEvent]:
        with self._lock:
            return [e for e in self.events if start <= e.start <= end]


class _TimedApp:
    """WSGI middleware around one emulator: records API requests (not /_sandbox/ control)."""

    def __init__(self, app: Any, service: str, timeline: Timeline) -> None:
        self._app = app
        self._service = service
        self._timeline = timeline

    def __getattr__(self, name: str) -> Any:  # latency, loader ... stay reachable
        return getattr(self._app, name)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._app(environ, start_response)
        status: list[int] = [0]

        def recording_start(line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        began = time.perf_counter()
        try:
            return self._app(environ, recording_start)
        finally:
            self._timeline.add(
                RequestEvent(
                    self._service,
                    environ.get("REQUEST_METHOD", ""),
                    path,
                    began,
                    time.perf_counter(),
                    status[0],
                )
            )


def set_server_nagle(enabled: bool) -> None:
    """Whether the sandbox's server leaves Nagle's algorithm on for its sockets.

    Its handler writes the headers and the body of an answer in two ``send`` calls; with
    Nagle on, the body waits for the client's delayed ACK of the headers, about 40 ms per
    request on Linux. Real API servers answer without that stall (nginx and most servers set
    TCP_NODELAY), so the benchmark turns it off unless asked to keep it (``--keep-nagle``).
    """
    _Handler.disable_nagle_algorithm = not enabled


@contextmanager
def bench_sandbox(*, latency: float, seed: bool) -> Iterator[tuple[Sandbox, Timeline]]:
    """A started sandbox with the real limits (Jumpseller 20/s + 800/min, iGEST 10/s), the
    given latency on both services, and a timeline of every request."""
    timeline = Timeline()
    sb = Sandbox(seed=seed, latency=latency, jumpseller_limits=(20, 800), igest_limit=10)
    sb.jumpseller_app = _TimedApp(sb.jumpseller_app, "jumpseller", timeline)  # type: ignore
    sb.igest_app = _TimedApp(sb.igest_app, "igest", timeline)  # type: ignore
    sb.start()
    try:
        yield sb, timeline
    finally:
        sb.stop()


@dataclass
class CliRun:
    args: tuple[str, ...]
    code: int
    wall: float  # seconds from spawn to exit
    started: float  # perf_counter at spawn
    max_rss_kb: int
    cpu_user: float
    cpu_system: float
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system

    def describe_failure(self) -> str:
        what = "timed out" if self.timed_out else f"exited {self.code}"
        tail = (self.stderr.strip() or self.stdout.strip())[-600:]
        return f"igest-sync {' '.join(self.args)} {what}: {tail}"


@dataclass
class CliHome:
    """A private IGEST_SYNC_HOME with a config for the sandbox (demo choices + overrides)."""

    root: Path
    config: Path
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    cprofile_dir: Path | None = None
    runs: int = 0

    @classmethod
    def create(
        cls,
        root: Path,
        credentials: dict,
        *,
        start_date: str,
        overrides: dict[str, dict] | None = None,
        cprofile_dir: Path | None = None,
    ) -> CliHome:
        values = demo_config(credentials, start_date=start_date)
        for section, keys in (overrides or {}).items():
            values.setdefault(section, {}).update(keys)
        config = root / "config.toml"
        write_config(config, values, overwrite=True)
        env = {**os.environ, "IGEST_SYNC_HOME": str(root), "COLUMNS": "200"}
        env.pop("IGEST_SYNC_REPORTS", None)
        return cls(root, config, env, cprofile_dir=cprofile_dir)

    @property
    def state(self) -> Path:
        return self.root / "state.sqlite3"

    def run(self, *args: str, timeout: float = 900.0, label: str = "run") -> CliRun:
        """Run ``igest-sync --config CONFIG ARGS`` and wait for it (killed after ``timeout``)."""
        self.runs += 1
        command = [self.python]
        if self.cprofile_dir is not None:
            self.cprofile_dir.mkdir(parents=True, exist_ok=True)
            out = self.cprofile_dir / f"{self.runs:02d}-{label}.pstats"
            command += ["-m", "cProfile", "-o", str(out)]
        command += ["-m", "igest_sync", "--config", str(self.config), *args]
        return run_process(command, env=self.env, timeout=timeout, args=tuple(args))


def run_process(
    command: list[str], *, env: dict[str, str], timeout: float, args: tuple[str, ...]
) -> CliRun:
    """Spawn, wait with ``os.wait4`` (this child's own rusage), kill on timeout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        result: dict[str, Any] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            result.update(ended=time.perf_counter(), status=status, usage=usage)

        reaper = threading.Thread(target=reap, daemon=True)
        reaper.start()
        reaper.join(timeout)
        timed_out = reaper.is_alive()
        if timed_out:
            proc.kill()
            reaper.join(10)
        proc.returncode = os.waitstatus_to_exitcode(result["status"]) if result else -9
        out.seek(0)
        err.seek(0)
        usage = result.get("usage")
        return CliRun(
            args=args,
            code=proc.returncode,
            wall=result.get("ended", time.perf_counter()) - started,
            started=started,
            max_rss_kb=usage.ru_maxrss if usage else 0,  # kilobytes on Linux
            cpu_user=usage.ru_utime if usage else 0.0,
            cpu_system=usage.ru_stime if usage else 0.0,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            timed_out=timed_out,
        )
