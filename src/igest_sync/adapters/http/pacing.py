"""Pacing: keep every request of one service under its rate limits, across threads.

``RateGate`` reserves each request's send time over several sliding windows at once (20/s and
800/min for Jumpseller, 10/s for iGEST); ``HttpService`` asks it for a slot before every
attempt, retries included.

Why not an httpx transport that wraps the real one: passing ``transport=`` to ``httpx.Client``
turns off the proxies it reads from the environment (``HTTPS_PROXY``), and the gate's wait would
then fall inside the attempt, which the request's time budget counts (``service.py``: waiting
for our own pace is not network time). So the service calls the gate itself, just before the
attempt leaves.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateWindow:
    """At most ``limit`` requests in any ``seconds``-long sliding window."""

    limit: int
    seconds: float


# A send later than its reserved slot by more than this is counted from when it really left.
LATE_SEND = 0.005


class RateGate:
    """Thread-safe pacing over several sliding windows at once (e.g. 20/s and 800/min).

    Each ``acquire`` reserves the earliest send time that keeps every window under its limit
    and sleeps until then; reservations are handed out in order, so worker threads share the
    budget fairly. ``slack`` widens every window a little so that network jitter between our
    clock and the server's does not turn a full window into a 429.
    """

    def __init__(
        self,
        windows: Sequence[RateWindow],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        slack: float = 0.05,
    ) -> None:
        self.windows = tuple(windows)
        self._clock = clock
        self._sleep = sleep
        self._slack = slack
        self._sent: list[float] = []  # send times (past and reserved), ascending
        # Sends the server counted and we did not (other clients, an earlier process), per
        # window: a minute window's extra count must not also fill the one-second window.
        self._phantoms: list[list[float]] = [[] for _ in self.windows]
        self._hold_until = float("-inf")
        self._lock = threading.Lock()
        self._longest = max((w.seconds for w in self.windows), default=0.0) + slack

    def acquire(self) -> float:
        """Wait for a free slot; return the (clock) time the slot was reserved for."""
        with self._lock:
            now = self._clock()
            self._forget_before(now)
            start = max(now, self._hold_until, self._sent[-1] if self._sent else now)
            start = self._earliest_slot(start)
            self._sent.append(start)  # start >= every entry, so the list stays sorted
        if start > now:
            self._sleep(start - now)
        return start

    def left(self, reserved: float) -> None:
        """The request whose slot was ``reserved`` leaves now: if that is late (a thread that
        woke late on a busy machine), it occupies the windows from now, as the server will
        count it, so the requests after it keep their distance from its real send."""
        with self._lock:
            now = self._clock()
            if now - reserved <= LATE_SEND:
                return
            index = bisect.bisect_left(self._sent, reserved)
            if index < len(self._sent) and self._sent[index] == reserved:
                del self._sent[index]
                bisect.insort(self._sent, now)

    def add_sent(self, times: Iterable[float]) -> None:
        """Count sends made before this gate existed (clock times), in every window."""
        with self._lock:
            for when in times:
                bisect.insort(self._sent, when)

    def hold_until(self, when: float) -> None:
        """Send nothing before clock time ``when`` (a Retry-After applies to every thread)."""
        with self._lock:
            self._hold_until = max(self._hold_until, when)

    def follow_limit(self, seconds: float, limit: int) -> None:
        """The server advertises ``limit`` requests per ``seconds`` window: pace to that.

        Jumpseller advertises the very figures we start from (20/s, 800/min), so against it
        nothing changes; a server with other limits (a plan with more, a stricter one, or the
        sandbox that the fast tests run with high limits) is paced to what it says, not to our
        guess. A window we do not keep is ignored.
        """
        if limit < 1:
            return
        with self._lock:
            self.windows = tuple(
                RateWindow(limit, w.seconds) if w.seconds == seconds else w for w in self.windows
            )

    def observe(self, seconds: float, remaining: int, *, at: float | None = None) -> None:
        """The server says only ``remaining`` requests are left in its ``seconds`` window.

        When the server has counted more than we have (other clients of the same store, or
        clocks that disagree) we add the difference as sends made now, so our own count never
        lets more through than the server will accept.
        """
        index = next((i for i, w in enumerate(self.windows) if w.seconds == seconds), None)
        if index is None:
            return
        window = self.windows[index]
        with self._lock:
            now = self._clock() if at is None else at
            span = window.seconds + self._slack
            times = self._times(index)
            active = len(times) - self._first_active(now, span, times)
            missing = window.limit - max(remaining, 0) - active
            for _ in range(max(missing, 0)):
                bisect.insort(self._phantoms[index], now)

    def _times(self, index: int) -> list[float]:
        phantoms = self._phantoms[index]
        return sorted(self._sent + phantoms) if phantoms else self._sent

    def _first_active(self, at: float, span: float, times: list[float] | None = None) -> int:
        # A send at time x occupies the window until x + span (exclusive). Comparing x + span
        # with ``at`` (rather than x with at - span) keeps the float arithmetic consistent
        # with the way _earliest_slot computes the next free time.
        times = self._sent if times is None else times
        return bisect.bisect_right(times, at, key=lambda x: x + span)

    def _earliest_slot(self, start: float) -> float:
        moved = True
        while moved:
            moved = False
            for index, window in enumerate(self.windows):
                span = window.seconds + self._slack
                times = self._times(index)
                first = self._first_active(start, span, times)
                active = len(times) - first
                if active >= window.limit:
                    start = times[first + active - window.limit] + span
                    moved = True
        return start

    def _forget_before(self, now: float) -> None:
        for times in (self._sent, *self._phantoms):
            cut = bisect.bisect_right(times, now, key=lambda x: x + self._longest)
            if cut:
                del times[:cut]
