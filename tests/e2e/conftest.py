"""End-to-end fixtures: the real CLI, as a subprocess, against the sandbox on loopback sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from igest_sync.sandbox import start_sandbox
from tests.cli_harness import Cli, Result, make_cli  # noqa: F401 (re-exported to the tests)


@pytest.fixture
def sandbox() -> Iterator:
    with start_sandbox(seed=True) as sb:
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(sandbox, tmp_path)
