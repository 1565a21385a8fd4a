"""End-to-end fixtures: the real CLI against the sandbox: in this process through its emulators'
WSGI apps, on the sandbox's virtual clock, which flows with real time from a fixed day that the
CLI and the sandbox share (``WALL_START``); a test that starts a real process against the
loopback servers is marked ``real_day`` and its sandbox lives in the real day. See
tests/support/cli.py.

The sandbox runs with limits far above the real ones (``FAST_LIMITS``), which it advertises and
the client follows, so these tests do not wait on pacing; the tests that check pacing (the
catalogue runs' "no 429", tests/faults/test_rate_limits.py) use the real figures on a virtual
clock that does not flow, with one worker thread, so that what they claim holds on any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli, Result, make_cli  # noqa: F401 (re-exported to the tests)
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator:
    """The seeded sandbox, living in its virtual clock's day (``WALL_START``, 27 November 2026,
    a week after the seed's orders) whatever today is: the in-process CLI lives in the same day
    (``sb.clock`` is its wall clock too), and time flows from there with real time.

    A test marked ``real_day`` starts the CLI as a process, which reads the real clock: its
    sandbox lives in the real day (and ``Cli`` refuses to start a process against the other)."""
    real_day = request.node.get_closest_marker("real_day") is not None
    with started_sandbox(real_day=real_day, seed=True, **FAST_LIMITS) as sb:
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(sandbox, tmp_path)
