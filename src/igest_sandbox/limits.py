"""Rate limiters of the two emulators (sliding windows over accepted requests).

Jumpseller (spec, "Rate Limit"): 20 requests per second and 800 per minute; every response
carries ``Jumpseller-PerMinuteRateLimit-Limit/-Remaining`` and
``Jumpseller-PerSecondRateLimit-Limit/-Remaining``; beyond a limit the answer is 429; after
``ban_after`` such 429s a temporary ban answers every request with 429 and
``Jumpseller-BannedByRateLimit-Reset: <UTC time>``.

iGEST (contract): 10 requests per second per entity; beyond it 429 with ``Retry-After``.

Choices (the references are silent): windows slide (any 1 s / 60 s interval holds at most the
limit, which is at least as strict as fixed windows, so a client that passes here passes
there); only accepted requests use up the budget, so "Remaining" never goes negative.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta


class SlidingWindow:
    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()

    def allows(self, now: float) -> bool:
        self._trim(now)
        return len(self._times) < self.limit

    def add(self, now: float) -> None:
        self._times.append(now)

    def remaining(self, now: float) -> int:
        self._trim(now)
        return max(0, self.limit - len(self._times))

    def wait(self, now: float) -> float:
        """Seconds until one more request would be accepted."""
        self._trim(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.period - now

    def clear(self) -> None:
        self._times.clear()


class JumpsellerLimiter:
    def __init__(
        self,
        per_second: int = 20,
        per_minute: int = 800,
        *,
        ban_after: int = 2000,
        ban_seconds: float = 300.0,
        wall_clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.second = SlidingWindow(per_second, 1.0)
        self.minute = SlidingWindow(per_minute, 60.0)
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self._wall = wall_clock
        self._now = monotonic
        self._lock = threading.Lock()
        self.hits = 0  # 429s since the last ban (or start)
        self._banned_until: float | None = None
        self._ban_reset: datetime | None = None

    def check(self) -> tuple[bool, list[tuple[str, str]]]:
        """(accepted, headers) for one request; the headers go on the response either way."""
        with self._lock:
            now = self._now()
            if self._banned_until is not None and now >= self._banned_until:
                self._banned_until = self._ban_reset = None
                self.hits = 0
            accepted = False
            if self._banned_until is None:
                if self.second.allows(now) and self.minute.allows(now):
                    self.second.add(now)
                    self.minute.add(now)
                    accepted = True
                else:
                    self.hits += 1
                    if self.hits >= self.ban_after:
                        self._banned_until = now + self.ban_seconds
                        self._ban_reset = self._wall() + timedelta(seconds=self.ban_seconds)
            headers = [
                ("Jumpseller-PerMinuteRateLimit-Limit", str(self.minute.limit)),
                ("Jumpseller-PerMinuteRateLimit-Remaining", str(self.minute.remaining(now))),
                ("Jumpseller-PerSecondRateLimit-Limit", str(self.second.limit)),
                ("Jumpseller-PerSecondRateLimit-Remaining", str(self.second.remaining(now))),
            ]
            if self._ban_reset is not None:
                reset = self._ban_reset.replace(microsecond=0).isoformat()
                headers.append(("Jumpseller-BannedByRateLimit-Reset", reset))
            return accepted, headers

    @property
    def banned(self) -> bool:
        with self._lock:
            return self._banned_until is not None and self._now() < self._banned_until

    def reset(self) -> None:
        with self._lock:
            self.second.clear()
            self.minute.clear()
            self.hits = 0
            self._banned_until = self._ban_reset = None


class IgestLimiter:
    def __init__(
        self, per_second: int = 10, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.second = SlidingWindow(per_second, 1.0)
        self._now = monotonic
        self._lock = threading.Lock()

    def check(self) -> int | None:
        """None when accepted, else the Retry-After seconds (at least 1)."""
        with self._lock:
            now = self._now()
            if self.second.allows(now):
                self.second.add(now)
                return None
            return max(1, math.ceil(self.second.wait(now)))

    def reset(self) -> None:
        with self._lock:
            self.second.clear()
