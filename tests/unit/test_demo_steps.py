"""The demo runs each step in its own process, as that step's command line would run."""

from __future__ import annotations

import logging
import os

import pytest

from igest_sync.demo import run_step


def test_a_step_runs_with_its_environment_and_logging_and_leaves_the_demos_as_they_were(
    tmp_path,
):
    seen: dict[str, str | None] = {}

    def run_cli(args: list[str]) -> int:
        seen["home"] = os.environ.get("IGEST_SYNC_HOME")
        from igest_sync import logsetup

        logsetup.configure(tmp_path / "logs")  # as the step's command sets up its log
        return 1

    logger = logging.getLogger("igest_sync")
    before = dict(os.environ), list(logger.handlers), logger.propagate, logger.level
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    assert run_step(run_cli, ["status"], env) == 1  # the step's exit code, as it is
    assert seen["home"] == str(tmp_path)
    after = dict(os.environ), list(logger.handlers), logger.propagate, logger.level
    assert after == before


def test_ctrl_c_in_a_step_stops_the_demo():
    # The step shows the interruption and exits 130; the demo does not go on to the next one.
    with pytest.raises(KeyboardInterrupt):
        run_step(lambda args: 130, ["invoice"], dict(os.environ))
