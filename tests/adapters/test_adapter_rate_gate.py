"""RateGate: what the server tells us about one window must not throttle another."""

from __future__ import annotations

from igest_sync.adapters.http import RateGate, RateWindow
from tests.support.adapter_data import max_in_any_window
from tests.support.clock import FakeClock


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


def test_an_advertised_limit_replaces_the_window_it_names_only():
    clock = FakeClock()
    gate = _gate(clock)
    gate.follow_limit(1.0, 100)
    gate.follow_limit(30.0, 5)  # a window we do not keep: ignored
    gate.follow_limit(60.0, 0)  # nonsense: ignored
    assert [(w.limit, w.seconds) for w in gate.windows] == [(100, 1.0), (800, 60.0)]
    sends = [gate.acquire() for _ in range(100)]
    assert clock.sleeps == [] and max_in_any_window(sends, 1.0) == 100
    gate.follow_limit(1.0, 5)  # a stricter server is followed too
    more = [gate.acquire() for _ in range(10)]
    assert clock.sleeps and max_in_any_window(more, 1.0) <= 5


def test_a_send_that_leaves_late_counts_from_when_it_left():
    """A thread that woke late (a busy machine) sends after its slot: the server counts it
    then, so the request a window later must keep its distance from the real send."""
    clock = FakeClock()
    gate = RateGate([RateWindow(2, 1.0)], clock=clock, sleep=clock.sleep, slack=0.05)
    first = gate.acquire()
    clock.advance(seconds=0.3)  # the first request leaves 0.3 s after its slot
    gate.left(first)
    gate.acquire()  # the second fits in the same second
    third = gate.acquire()
    assert abs(third - (first + 0.3 + 1.05)) < 1e-9  # not first + 1.05


def test_a_send_on_time_keeps_its_slot():
    clock = FakeClock()
    gate = RateGate([RateWindow(2, 1.0)], clock=clock, sleep=clock.sleep, slack=0.05)
    first = gate.acquire()
    clock.advance(seconds=0.004)  # within LATE_SEND: the slot stands
    gate.left(first)
    gate.acquire()
    assert abs(gate.acquire() - (first + 1.05)) < 1e-9
