"""Where igest-sync keeps its files.

Defaults follow each platform's conventions (platformdirs). ``IGEST_SYNC_HOME`` moves all of them
under one directory: for tests, for several shops on one machine, for a container volume. The
functions read the environment at call time, so a test's ``monkeypatch.setenv`` takes effect.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_dir, user_log_dir, user_state_dir

APP_NAME = "igest-sync"
HOME_ENV = "IGEST_SYNC_HOME"
CONFIG_FILE = "config.toml"
STATE_FILE = "state.sqlite3"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def config_path() -> Path:
    """The TOML configuration file (``$IGEST_SYNC_HOME/config.toml`` when set)."""
    home = _home()
    # appauthor=False: no "<author>\<app>" nesting on Windows, just the app's own directory.
    return (home or Path(user_config_dir(APP_NAME, appauthor=False))) / CONFIG_FILE


def state_path() -> Path:
    """The SQLite ledger (``$IGEST_SYNC_HOME/state.sqlite3`` when set)."""
    home = _home()
    return (home or Path(user_state_dir(APP_NAME, appauthor=False))) / STATE_FILE


def log_dir() -> Path:
    """The directory for log files (``$IGEST_SYNC_HOME/logs`` when set)."""
    home = _home()
    return home / "logs" if home else Path(user_log_dir(APP_NAME, appauthor=False))
