"""RateGate: what the server tells us about one window must not throttle another."""

from __future__ import annotations

from adapter_helpers import FakeClock, max_in_any_window

from igest_sync.adapters.http import RateGate, RateWindow


def _gate(clock: FakeClock) -> RateGate:
    return RateGate([RateWindow(20, 1.0), RateWindow(800, 60.0)], clock=clock, sleep=clock.sleep)


def test_a_busy_minute_reported_by_the_server_does_not_stall_the_next_second():
    clock = FakeClock()
    gate = _gate(clock)
    gate.observe(60.0, 100)  # the server counted 700 requests this minute that we did not send
    gate.acquire()
    assert clock.sleeps == []  # the one-second window is still empty
    sends = [gate.acquire() for _ in range(150)]
    # ... but only 100 more fit in the minute
    assert max_in_any_window(sends, 60.0) <= 100 or clock.now - 1000.0 >= 60.0
    assert sum(1 for t in sends if t < 1000.0 + 60.0) <= 100


def test_a_full_second_reported_by_the_server_waits_for_that_second_only():
    clock = FakeClock()
    gate = _gate(clock)
    gate.observe(1.0, 0)
    start = gate.acquire()
    assert 1.0 <= start - 1000.0 <= 1.15


def test_observations_at_a_past_moment_only_cover_what_is_left_of_that_second():
    clock = FakeClock(start=1000.6)
    gate = _gate(clock)
    gate.observe(1.0, 0, at=1000.0)  # a full second as of a moment 0.6 s ago
    start = gate.acquire()
    assert 0.4 <= start - 1000.6 <= 0.55
