"""The pace file: an earlier run's send times, so the next run counts them instead of guessing."""

from __future__ import annotations

import json

from igest_sync.adapters.http import UNFINISHED, PaceFile
from igest_sync.adapters.igest import IgestClient
from tests.support.adapter_data import IG_BASE, IG_CODE, IG_KEY

ENTITY = {"nif": "509999995", "name": "E", "currency": "EUR", "stock_by_warehouse": True}


def _igest(clock, pace, **kwargs) -> IgestClient:
    # The pace file is dated by the wall clock: the test's own, so that a busy machine's
    # delay between writing the earlier run's file and reading it is no part of the result.
    return IgestClient(
        IG_BASE,
        IG_KEY,
        IG_CODE,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: clock.wall().timestamp(),
        pace_file=pace,
        **kwargs,
    )


def _earlier_run(pace, clock, count: int, ago: float) -> None:
    pace.write_text(json.dumps({"sent": [clock.wall().timestamp() - ago] * count}))


def test_a_full_second_left_by_an_earlier_run_is_waited_out_only_for_what_is_left(
    tmp_path, httpx_mock, clock
):
    pace = tmp_path / "state.igest-pace"
    _earlier_run(pace, clock, 10, ago=0.2)  # iGEST's whole 10/s, a moment ago
    httpx_mock.add_response(method="GET", json=ENTITY)
    with _igest(clock, pace) as ig:
        ig.entity()
    assert len(clock.sleeps) == 1 and 0.8 <= clock.sleeps[0] <= 0.95, clock.sleeps


def test_a_few_sends_of_an_earlier_run_leave_room_and_the_file_gains_ours(
    tmp_path, httpx_mock, clock
):
    pace = tmp_path / "state.igest-pace"
    _earlier_run(pace, clock, 3, ago=0.2)
    httpx_mock.add_response(method="GET", json=ENTITY)
    with _igest(clock, pace) as ig:
        ig.entity()
    assert clock.sleeps == []  # 3 of 10 used: no guessing that all 10 were
    assert len(json.loads(pace.read_text())["sent"]) == 4


def test_without_a_pace_file_the_second_is_assumed_used(tmp_path, httpx_mock, clock):
    httpx_mock.add_response(method="GET", json=ENTITY)
    with _igest(clock, tmp_path / "missing-pace") as ig:
        ig.entity()
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 1.15
    assert (tmp_path / "missing-pace").exists()  # the next run will know


def test_an_unreadable_pace_file_counts_as_none(tmp_path, httpx_mock, clock):
    pace = tmp_path / "state.igest-pace"
    for garbage in ("1764420000.5", "{", '{"sent": "x"}', '{"sent": ["a"]}', ""):
        pace.write_text(garbage)
        assert PaceFile(pace).read() is None, garbage
    httpx_mock.add_response(method="GET", json=ENTITY)
    with _igest(clock, pace) as ig:
        ig.entity()
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 1.0  # the safe assumption


def test_a_run_marks_the_file_unfinished_then_writes_when_its_requests_were_answered(tmp_path):
    wall = [100.0]
    path = tmp_path / "pace"
    pace = PaceFile(path, wall_clock=lambda: wall[0])
    assert pace.read() is None
    pace.sending()
    # Before the first request goes: a run killed from here on is known to be unfinished.
    assert json.loads(path.read_text()) == {"unfinished": True, "writer": pace._writer}
    assert PaceFile(path).read() == UNFINISHED
    wall[0] = 100.4
    pace.answered()  # the server counted it by the time its answer came
    for when in (101.0, 101.6):
        wall[0] = when
        pace.sending()
        pace.answered()
    pace.close()
    # 100.4 left the window
    assert json.loads(path.read_text()) == {"sent": [101.0, 101.6], "writer": pace._writer}
    assert not (tmp_path / "pace.tmp").exists()  # written aside, then moved into place
    wall[0] = 102.3
    assert PaceFile(path, wall_clock=lambda: wall[0]).read() == [101.6]


def test_after_a_killed_run_even_jumpseller_assumes_the_second_was_used(
    tmp_path, httpx_mock, clock
):
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from tests.support.adapter_data import JS_BASE, JS_LOGIN, JS_TOKEN

    httpx_mock.add_response(method="GET", json={"store": {"name": "Loja"}}, is_reusable=True)
    pace = tmp_path / "state.jumpseller-pace"
    pace.write_text(json.dumps({"unfinished": True}))
    with JumpsellerClient(
        JS_BASE, JS_LOGIN, JS_TOKEN, clock=clock, sleep=clock.sleep, pace_file=pace
    ) as js:
        js.store_info()
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 1.15
    clock.sleeps.clear()
    pace.unlink()  # no file at all: Jumpseller's headers will tell, nothing is assumed
    with JumpsellerClient(
        JS_BASE, JS_LOGIN, JS_TOKEN, clock=clock, sleep=clock.sleep, pace_file=pace
    ) as js:
        js.store_info()
    assert clock.sleeps == []


# -- two processes on one state file: cron's `invoice` beside `serve` -------------------------


def _service(clock, pace):
    from igest_sync.adapters.http import HttpService, RateWindow

    return HttpService(
        service="iGEST",
        base_url=IG_BASE,
        windows=[RateWindow(10, 1.0)],
        credential_keys="igest.integration_key",
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: clock.now + 1_700_000_000.0,  # moves with the fake clock
        pace_file=pace,
        busy_without_pace=True,
    )


def _sends(clock, service, count: int) -> list[float]:
    times = []
    for _ in range(count):
        service.request("GET", "/entity")
        times.append(clock.now)
    return times


def test_the_run_lock_hands_the_igest_budget_over_through_the_pace_file(
    tmp_path, httpx_mock, clock
):
    """serve spends iGEST's whole second, publishes it as it lets the run lock go; cron, which
    takes the lock next, counts it and waits for the window: never 11 requests in a second."""
    httpx_mock.add_response(method="GET", json=ENTITY, is_reusable=True)
    pace = tmp_path / "state.igest-pace"
    pace.write_text('{"sent": []}')  # both started long after any earlier run
    serve, cron = _service(clock, pace), _service(clock, pace)
    try:
        burst = _sends(clock, serve, 10)
        serve.share_pace()  # serve's unit ends: the lock goes to cron
        cron.catch_up()
        [after] = _sends(clock, cron, 1)
        assert after >= burst[0] + 1.0, (burst, after)
        # ... and back: serve's next unit counts cron's request.
        cron.share_pace()
        serve.catch_up()
        everything = sorted(burst + [after] + _sends(clock, serve, 10))
        assert all(b - a >= 1.0 for a, b in zip(everything, everything[10:], strict=False))
    finally:
        serve.close()
        cron.close()


def test_without_the_handover_the_second_process_would_send_into_a_full_second(
    tmp_path, httpx_mock, clock
):
    # The same two processes, cron not catching up: it sends at once (what made the 429s).
    httpx_mock.add_response(method="GET", json=ENTITY, is_reusable=True)
    pace = tmp_path / "state.igest-pace"
    pace.write_text('{"sent": []}')
    serve, cron = _service(clock, pace), _service(clock, pace)
    try:
        burst = _sends(clock, serve, 10)
        serve.share_pace()
        [after] = _sends(clock, cron, 1)
        assert after - burst[0] < 1.0
    finally:
        serve.close()
        cron.close()


def test_a_process_reading_its_own_published_second_does_not_count_it_twice(tmp_path, clock):
    pace = tmp_path / "state.igest-pace"
    mine = PaceFile(pace, wall_clock=lambda: clock.now)
    mine.sending()
    mine.answered()
    mine.publish()
    assert mine.read() == []  # its gate counts them already
    assert len(PaceFile(pace, wall_clock=lambda: clock.now).read()) == 1  # another process
    mine.sending()
    assert PaceFile(pace, wall_clock=lambda: clock.now).read() == UNFINISHED


def test_the_lock_of_a_process_killed_mid_second_is_taken_with_its_second_counted_as_spent(
    tmp_path, httpx_mock, clock
):
    """serve was killed in the middle of a burst (its pace file says "unfinished"): cron, which
    gets the lock at once, waits out what may be left of that second before its first send."""
    httpx_mock.add_response(method="GET", json=ENTITY, is_reusable=True)
    pace = tmp_path / "state.igest-pace"
    pace.write_text('{"sent": []}')
    cron = _service(clock, pace)  # started, waiting for serve's lock
    try:
        pace.write_text(json.dumps({"unfinished": True, "writer": "serve-killed"}))
        before = clock.now
        cron.catch_up()
        [sent] = _sends(clock, cron, 1)
        assert sent - before >= 1.0
    finally:
        cron.close()
