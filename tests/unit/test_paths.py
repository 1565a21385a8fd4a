"""Where the files live: platformdirs by default, everything under IGEST_SYNC_HOME when set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from igest_sync.config import paths


def test_home_moves_all_three_under_one_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path))
    assert paths.config_path() == tmp_path / "config.toml"
    assert paths.state_path() == tmp_path / "state.sqlite3"
    assert paths.log_dir() == tmp_path / "logs"


def test_environment_is_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path / "one"))
    first = paths.state_path()
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path / "two"))
    assert first == tmp_path / "one" / "state.sqlite3"
    assert paths.state_path() == tmp_path / "two" / "state.sqlite3"


def test_home_expands_the_user_directory(monkeypatch):
    monkeypatch.setenv("IGEST_SYNC_HOME", "~/igest-home")
    assert paths.config_path() == Path.home() / "igest-home" / "config.toml"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG directories are Linux's")
@pytest.mark.parametrize("home_value", [None, ""])
def test_defaults_follow_the_platform_directories(tmp_path, monkeypatch, home_value):
    if home_value is None:
        monkeypatch.delenv("IGEST_SYNC_HOME", raising=False)
    else:
        monkeypatch.setenv("IGEST_SYNC_HOME", home_value)  # empty means "not set"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.config_path() == tmp_path / "cfg" / "igest-sync" / "config.toml"
    assert paths.state_path() == tmp_path / "state" / "igest-sync" / "state.sqlite3"
    assert paths.log_dir().is_relative_to(tmp_path / "state" / "igest-sync")


def test_paths_are_pure(tmp_path, monkeypatch):
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path / "not-yet"))
    paths.config_path(), paths.state_path(), paths.log_dir()
    assert not (tmp_path / "not-yet").exists()
