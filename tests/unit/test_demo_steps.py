"""The demo runs each step in its own process, as that step's command line would run."""

from __future__ import annotations

import os

import pytest

from igest_sync.demo import run_step


def test_a_step_runs_with_its_environment_and_leaves_the_demos_as_it_was(tmp_path):
    seen: dict[str, str | None] = {}

    def run_cli(args: list[str]) -> int:
        seen["home"] = os.environ.get("IGEST_SYNC_HOME")
        return 1

    before = dict(os.environ)
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    assert run_step(run_cli, ["status"], env) == 1  # the step's exit code, as it is
    assert seen["home"] == str(tmp_path)
    assert dict(os.environ) == before


def test_ctrl_c_in_a_step_stops_the_demo():
    # The step shows the interruption and exits 130; the demo does not go on to the next one.
    with pytest.raises(KeyboardInterrupt):
        run_step(lambda args: 130, ["invoice"], dict(os.environ))
