"""End-to-end fixtures: the real CLI, as a subprocess, against the sandbox on loopback sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from igest_sync.config import write_config
from igest_sync.demo import demo_config
from igest_sync.sandbox import start_sandbox


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


class Cli:
    """Runs `python -m igest_sync` with a private home, config and state."""

    def __init__(self, home: Path, config: Path) -> None:
        self.home = home
        self.config = config
        self.state = home / "state.sqlite3"
        self.env = {**os.environ, "IGEST_SYNC_HOME": str(home), "COLUMNS": "200"}
        self.env.pop("IGEST_SYNC_REPORTS", None)
        self.outputs: list[str] = []  # everything printed, for the secret grep

    def __call__(self, *args: str, timeout: float = 120) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "igest_sync", "--config", str(self.config), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        self.outputs += [proc.stdout, proc.stderr]
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "igest_sync", "--config", str(self.config), *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
        )

    def log_text(self) -> str:
        logs = self.home / "logs"
        return "".join(p.read_text() for p in logs.glob("*")) if logs.exists() else ""


@pytest.fixture
def sandbox() -> Iterator:
    with start_sandbox(seed=True) as sb:
        yield sb


def make_cli(sb, home: Path, **overrides: dict) -> Cli:
    values = demo_config(sb.credentials)
    for section, keys in overrides.items():
        values.setdefault(section, {}).update(keys)
    config = home / "config.toml"
    write_config(config, values, overwrite=True)
    return Cli(home, config)


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(sandbox, tmp_path)
