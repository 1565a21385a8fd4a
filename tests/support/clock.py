"""One fake clock for every test: a monotonic reading and a wall time that move together,
only when a test (or the code under test) sleeps on it or advances it.

    clock = FakeClock()
    RateGate(windows, clock=clock, sleep=clock.sleep)   # monotonic seconds: clock()
    Sandbox(clock=clock.wall)                           # wall time: clock.wall()
    clock.advance(days=1)                               # both move
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

WALL_START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: float = 1000.0, wall: datetime = WALL_START) -> None:
        self.now = start  # monotonic seconds
        self.wall_now = wall
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.wall_now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self._move(seconds)

    def advance(self, **delta: float) -> None:
        self._move(timedelta(**delta).total_seconds())

    def _move(self, seconds: float) -> None:
        self.now += seconds
        self.wall_now += timedelta(seconds=seconds)


class VirtualClock(FakeClock):
    """The fake clock for a whole run, shared by threads: the CLI's pacing, the sandbox's rate
    limiters and holds, a request log. Time moves only when a thread sleeps on it, so pacing
    costs no wall time and what a rate limiter counts does not depend on the machine's load.

    A thread that sleeps ``seconds`` wakes at the time it last read plus ``seconds`` (what it
    meant to wait for), or at once if another thread has already moved time past that: never
    earlier, and never later because the machine was busy. With one thread sending at a time
    (one worker) a run is therefore the same on every machine.

        clock = VirtualClock()
        Sandbox(monotonic=clock, sleep=clock.sleep, clock=clock.wall)
        JumpsellerClient(..., clock=clock, sleep=clock.sleep, wall_clock=clock.time)
    """

    def __init__(
        self, start: float = 1000.0, wall: datetime | None = None, *, flowing: bool = False
    ) -> None:
        # A flowing clock starts at the real time unless given a day: its pace files and a real
        # process's can then be read by the other.
        wall = wall or (datetime.now(UTC) if flowing else WALL_START)
        super().__init__(start, wall)
        # Clock seconds -> Unix time: time() is wall()'s timestamp.
        self._epoch = wall.timestamp() - start
        self._lock = threading.Lock()
        self._read = threading.local()
        self._flowing = flowing
        self._real = time.monotonic()

    def __call__(self) -> float:
        with self._lock:
            self._flow()
            self._read.at = self.now
            return self.now

    def _flow(self) -> None:
        if self._flowing:
            real = time.monotonic()
            self._move(max(0.0, real - self._real))
            self._real = real

    def time(self) -> float:
        """Unix time, as ``time.time()``: for pace files and dated Retry-After."""
        return self() + self._epoch

    def wall(self) -> datetime:
        with self._lock:
            self._flow()
            return self.wall_now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self._flow()
            self.sleeps.append(seconds)
            since = getattr(self._read, "at", self.now)
            self._move(max(0.0, since + seconds - self.now))
            self._read.at = self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._move(timedelta(**delta).total_seconds())


def one_worker(monkeypatch: Any) -> None:
    """Every parallel step of a run (invoice's orders, the catalogue runs' writes) on one worker
    thread: with one thread sending at a time, a run on a ``VirtualClock`` is the same on every
    machine. (Several threads sharing the pacing gate are tested on the gate itself.)"""
    from concurrent.futures import ThreadPoolExecutor

    from igest_sync.runs import parallel

    monkeypatch.setattr(parallel, "ThreadPoolExecutor", lambda max_workers: ThreadPoolExecutor(1))
