"""The log file a cron run leaves behind: readable sentences, bounded size, no secrets."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from igest_sync.redact import redact

LOG_FILE = "igest-sync.log"
MAX_BYTES = 1_000_000  # five files of 1 MB: months of cron runs, never an unbounded file
BACKUPS = 5


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in a record's final text (tracebacks included)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        message = redact(message, self.secrets)
        record.msg, record.args = message, None
        return True


def configure(log_dir: Path, *, secrets: Iterable[str] = (), verbose: bool = False) -> Path | None:
    """Log INFO and up to a rotating file (and to stderr with --verbose). Returns the file."""
    root = logging.getLogger("igest_sync")
    if getattr(root, "_igest_configured", False):
        return getattr(root, "_igest_file", None)
    root.setLevel(logging.INFO)
    root.propagate = False
    redact = RedactingFilter(secrets)
    file = log_dir / LOG_FILE
    path: Path | None = None  # stays None when the file cannot be written
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
        if os.name == "posix":  # Windows keeps it private through the profile's own ACL
            os.chmod(file, 0o600)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [pid %(process)d] %(message)s")
        )
        handler.addFilter(redact)
        root.addHandler(handler)
        path = file
    except OSError as exc:  # an unwritable log dir must not stop the invoicing
        print(f"warning: cannot write the log file in {log_dir}: {exc.strerror}", file=sys.stderr)
    if verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        # An error the CLI has just printed (record marked "shown") is not printed twice.
        console.addFilter(lambda record: not getattr(record, "shown", False))
        console.addFilter(redact)
        root.addHandler(console)
    root._igest_configured = True  # type: ignore[attr-defined]
    root._igest_file = path  # type: ignore[attr-defined]
    return path
