"""The one parallel helper: results in order, progress per step, a run-wide stop."""

from __future__ import annotations

import threading
import time

import pytest

from igest_sync.errors import AuthError
from igest_sync.runs.parallel import in_parallel


def test_results_keep_the_steps_order_whatever_finishes_first():
    def slow_first(n: int) -> int:
        time.sleep(0.02 if n == 0 else 0)
        return n * 10

    assert list(in_parallel([0, 1, 2, 3], slow_first, workers=4)) == [0, 10, 20, 30]


def test_progress_follows_each_finished_step():
    seen: list[tuple[int, int]] = []
    list(in_parallel([1, 2, 3], lambda n: n, workers=2, progress=lambda d, t: seen.append((d, t))))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_stop_error_skips_the_steps_not_started_and_is_raised_at_the_end():
    started: list[int] = []
    lock = threading.Lock()

    def act(n: int) -> int:
        with lock:
            started.append(n)
        if n == 1:
            raise AuthError("refused", service="iGEST", status=401)
        return n

    results: list[int] = []
    with pytest.raises(AuthError):
        results.extend(in_parallel(list(range(10)), act, workers=1, stop_on=AuthError))
    assert results == [0]  # one worker: nothing after the refusal was attempted
    assert started == [0, 1]


def test_other_errors_propagate_as_they_come():
    def act(n: int) -> int:
        if n == 2:
            raise ValueError("bug")
        return n

    with pytest.raises(ValueError):
        list(in_parallel([1, 2, 3], act, workers=1, stop_on=AuthError))


def test_no_steps_no_progress():
    seen: list[tuple[int, int]] = []
    assert list(in_parallel([], lambda n: n, progress=lambda d, t: seen.append((d, t)))) == []
    assert seen == []
