"""End-to-end fixtures: the real CLI against the sandbox: in this process through its emulators'
WSGI apps, on the sandbox's virtual clock (which also flows with real time, for the tests that
start a real process against its loopback servers); see tests/support/cli.py.

The sandbox runs with limits far above the real ones (``FAST_LIMITS``), which it advertises and
the client follows, so these tests do not wait on pacing; the tests that check pacing (the
catalogue runs' "no 429", tests/faults/test_rate_limits.py) use the real figures on a virtual
clock that does not flow, with one worker thread, so that what they claim holds on any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from igest_sandbox import start_sandbox
from tests.support.cli import Cli, Result, make_cli  # noqa: F401 (re-exported to the tests)
from tests.support.clock import VirtualClock
from tests.support.sandbox_clients import FAST_LIMITS


@pytest.fixture
def sandbox() -> Iterator:
    clock = VirtualClock(flowing=True)
    with start_sandbox(seed=True, **FAST_LIMITS, monotonic=clock, sleep=clock.sleep) as sb:
        sb.virtual_clock = clock  # type: ignore[attr-defined]  (the in-process CLI's clock)
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(sandbox, tmp_path)
