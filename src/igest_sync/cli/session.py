"""What every command imports, in one place: the app's plumbing (``cli/plumbing.py``), the
composition root (``cli/composition.py``: config, clients, lock, ledger, the run context) and
the error handler (``cli/errors.py``).

``cli/<family>.py`` hold the commands; the names they share are re-exported here, so that a new
command (or a branch that edits one) does not need to know which of the three holds a name.
"""

from __future__ import annotations

from igest_sync.cli.composition import (
    config_path,
    load_config,
    make_clients,
    make_vies,
    pace_file,
    session,
    setup_logging,
    state_path,
)
from igest_sync.cli.errors import finish, main, run_app
from igest_sync.cli.plumbing import (
    FromOption,
    Group,
    JsonOption,
    ToOption,
    exit_codes_help,
    hoist_global_options,
    order_number,
    parse_date,
    parse_order_id,
    remember_json,
    show_version,
    state_of,
)

__all__ = [
    "FromOption",
    "Group",
    "JsonOption",
    "ToOption",
    "config_path",
    "exit_codes_help",
    "finish",
    "hoist_global_options",
    "load_config",
    "main",
    "make_clients",
    "make_vies",
    "order_number",
    "pace_file",
    "parse_date",
    "parse_order_id",
    "remember_json",
    "run_app",
    "session",
    "setup_logging",
    "show_version",
    "state_of",
    "state_path",
]
