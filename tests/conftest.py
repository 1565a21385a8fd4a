"""Suite-wide hooks."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Each property test tries Hypothesis's usual 100 examples in the suite (no deadline: a busy
# machine must not fail a test); HYPOTHESIS_PROFILE=thorough tries 2,000 of each, for a change to
# the money, credit or mapping rules (README, "Run the tests").
settings.register_profile("suite", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the longest tests first, one per worker.

    The tests marked ``slow(seconds)`` mostly wait (real rate limits, a real 30 s timeout), so
    started first they overlap the quick ones instead of running alone at the end. pytest-xdist's
    ``worksteal`` (pyproject.toml) hands each worker one contiguous share of this list and lets
    idle workers take from the others' tails, so the slow tests go to the heads of the shares,
    longest first, one share after another. The order only depends on the collection, so every
    worker computes the same one (xdist checks that).
    """

    def seconds(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return float(slow.args[0]) if slow is not None and slow.args else 0.0

    slow = sorted((item for item in items if seconds(item)), key=seconds, reverse=True)
    quick = [item for item in items if not seconds(item)]
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for share in range(workers):
        size = remaining // (workers - share)  # as worksteal splits the list
        heads = slow[share::workers]
        ordered += heads + quick[: size - len(heads)]
        del quick[: size - len(heads)]
        remaining -= size
    items[:] = ordered + quick


@pytest.fixture
def smtp():
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it takes."""
    from tests.support.alert_receivers import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def chat():
    """A real HTTP receiver on loopback for the alerts' chat webhooks."""
    from tests.support.alert_receivers import ChatReceiver

    receiver = ChatReceiver().start()
    yield receiver
    receiver.stop()
