"""One fake clock for every test: a monotonic reading and a wall time that move together,
only when a test (or the code under test) sleeps on it or advances it.

    clock = FakeClock()
    RateGate(windows, clock=clock, sleep=clock.sleep)   # monotonic seconds: clock()
    Sandbox(clock=clock.wall)                           # wall time: clock.wall()
    clock.advance(days=1)                               # both move
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
