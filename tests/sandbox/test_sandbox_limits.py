"""Rate limits: Jumpseller's headers, 429s and ban; iGEST's 429 with Retry-After."""

from __future__ import annotations

from igest_sandbox import Sandbox
from igest_sandbox.limits import JumpsellerLimiter
from tests.support.clock import FakeClock
from tests.support.sandbox_clients import body, igest_client, jumpseller_client


def test_jumpseller_headers_count_down_then_429() -> None:
    sb = Sandbox(seed=False, jumpseller_limits=(3, 5), ban_after=100)
    with jumpseller_client(sb) as js:
        answers = [js.get("/store/info.json") for _ in range(4)]
    remaining = [a.headers["Jumpseller-PerSecondRateLimit-Remaining"] for a in answers]
    assert remaining[:3] == ["2", "1", "0"]
    assert answers[0].headers["Jumpseller-PerSecondRateLimit-Limit"] == "3"
    assert answers[0].headers["Jumpseller-PerMinuteRateLimit-Limit"] == "5"
    assert answers[0].headers["Jumpseller-PerMinuteRateLimit-Remaining"] == "4"
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Jumpseller-PerSecondRateLimit-Remaining" in answers[3].headers
    assert sb.stats()["jumpseller"]["429"] == 1


def test_per_minute_limit_applies_when_the_second_window_has_room() -> None:
    now = [0.0]
    limiter = JumpsellerLimiter(20, 3, wall_clock=FakeClock().wall, monotonic=lambda: now[0])
    accepted = []
    for _ in range(4):
        accepted.append(limiter.check()[0])
        now[0] += 2.0  # each request 2 s after the last: the 1 s window is always empty
    assert accepted == [True, True, True, False]
    now[0] = 61.0  # the first request has left the minute window
    assert limiter.check()[0] is True


def test_ban_after_repeated_429s() -> None:
    clock = FakeClock()
    sb = Sandbox(
        seed=False, jumpseller_limits=(1, 1000), ban_after=3, ban_seconds=600, clock=clock.wall
    )
    with jumpseller_client(sb) as js:
        answers = [js.get("/store/info.json") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 429, 429, 429, 429]
    assert "Jumpseller-BannedByRateLimit-Reset" not in answers[2].headers
    assert answers[3].headers["Jumpseller-BannedByRateLimit-Reset"] == "2026-11-27T12:10:00+00:00"
    assert sb.jumpseller_limiter.banned
    sb.reset_limits()
    with jumpseller_client(sb) as js:
        assert js.get("/store/info.json").status_code == 200


def test_igest_429_with_retry_after() -> None:
    sb = Sandbox(seed=False, igest_limit=2)
    with igest_client(sb) as ig:
        answers = [ig.get("/entity") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert body(answers[2])["error"]["code"] == "rate_limited"
    assert sb.stats()["igest"]["429"] == 1


def test_latency_is_set_per_service() -> None:
    sb = Sandbox(seed=False, latency={"jumpseller": 0.25, "igest": 0.0})
    assert (sb.jumpseller_app.latency, sb.igest_app.latency) == (0.25, 0.0)
    both = Sandbox(seed=False, latency=0.1)
    assert (both.jumpseller_app.latency, both.igest_app.latency) == (0.1, 0.1)
    sb.jumpseller_app.latency = 0.0  # adjustable while running
    with jumpseller_client(sb) as js:
        assert js.get("/store/info.json").status_code == 200
