"""Constants and helpers of the adapter tests: fake endpoints and credentials, window counting."""

from __future__ import annotations

JS_BASE = "https://js.test/v1"
JS_LOGIN = "mystore-login"
JS_TOKEN = "0123456789abcdef0123456789abcdef"  # 32 characters, like a real auth token
IG_BASE = "https://igest.test/v1"
IG_KEY = "ik_live_9f8e7d6c5b4a39281706"
IG_CODE = "sc_5up3r-s3cr3t-c0d3"
SECRETS = (JS_TOKEN, IG_KEY, IG_CODE)


def max_in_any_window(times: list[float], seconds: float) -> int:
    """The most send times that fall in any half-open window [t, t + seconds)."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        count = sum(1 for t in times[i:] if t < start + seconds)
        best = max(best, count)
    return best
