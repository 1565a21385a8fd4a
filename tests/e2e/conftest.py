"""End-to-end fixtures: the real CLI, as a subprocess, against the sandbox on loopback sockets.

The sandbox runs with limits far above the real ones (``FAST_LIMITS``), which it advertises and
the client follows, so these tests do not wait on pacing; the tests that check pacing (the
catalogue runs' "no 429", tests/faults/test_rate_limits.py, the demo) use the real figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from igest_sandbox import start_sandbox
from tests.support.cli import Cli, Result, make_cli  # noqa: F401 (re-exported to the tests)
from tests.support.sandbox_clients import FAST_LIMITS


@pytest.fixture
def sandbox() -> Iterator:
    with start_sandbox(seed=True, **FAST_LIMITS) as sb:
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(sandbox, tmp_path)
