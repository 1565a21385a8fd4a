"""The log file a cron run leaves behind: readable sentences, bounded size, no secrets.

``serve`` for several stores (agencies) writes one log per store, in each store's own log
folder: a line logged while working for a store (``store_context``, carried into the worker
threads of ``runs/parallel.py``) goes to that store's file only; a line of the process itself
(started, stopping) goes to every store's.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from igest_sync.redact import RedactingFilter

LOG_FILE = "igest-sync.log"
MAX_BYTES = 1_000_000  # five files of 1 MB: months of cron runs, never an unbounded file
BACKUPS = 5


_STORE: contextvars.ContextVar[str | None] = contextvars.ContextVar("igest_store", default=None)


@contextlib.contextmanager
def store_context(name: str) -> Iterator[None]:
    """Log lines from here on (in this context) belong to store ``name``."""
    token = _STORE.set(name)
    try:
        yield
    finally:
        _STORE.reset(token)


class StoreFilter(logging.Filter):
    """Lets through the lines of one store, and those of no store in particular."""

    def __init__(self, store: str) -> None:
        super().__init__()
        self.store = store

    def filter(self, record: logging.LogRecord) -> bool:
        current = _STORE.get()
        return current is None or current == self.store


def configure_stores(
    log_dirs: dict[str, Path], *, secrets: Iterable[str] = (), verbose: bool = False
) -> None:
    """One rotating log per store (``serve --home A --home B``): each in its own folder."""
    root = logging.getLogger("igest_sync")
    if getattr(root, "_igest_configured", False):
        return
    root.setLevel(logging.INFO)
    root.propagate = False
    redact = RedactingFilter(secrets)
    for store, log_dir in log_dirs.items():
        _add_file_handler(root, log_dir, redact, StoreFilter(store))
    if verbose:
        _add_console(root, redact)
    root._igest_configured = True  # type: ignore[attr-defined]


class PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """The rotating log, private to its owner whenever a file is made (at rotation too, not
    only when a process starts: ``serve`` runs for months), and quiet when the disk refuses a
    line: one warning on stderr for the process, never a traceback per line (cron mails it)."""

    warned = False  # this file's warning was given

    def _open(self) -> io.TextIOWrapper:
        if os.name != "posix":  # Windows keeps it private through the profile's own ACL
            return super()._open()
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # one made before this rule, or under a wider umask
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # a bug (a bad format): shown, not taken for the disk
            return
        if not self.warned:
            self.warned = True
            reason = error.strerror or error
            print(
                f"warning: cannot write the log file {self.baseFilename}: {reason}; "
                "the run goes on without it",
                file=sys.stderr,
            )


def _add_file_handler(
    root: logging.Logger,
    log_dir: Path,
    redact: logging.Filter,
    only: logging.Filter | None = None,
) -> Path | None:
    file = log_dir / LOG_FILE
    try:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handler: logging.Handler = PrivateRotatingFile(
            file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [pid %(process)d] %(message)s")
        )
        if only is not None:
            handler.addFilter(only)
        handler.addFilter(redact)
        root.addHandler(handler)
    except OSError as exc:  # an unwritable log dir must not stop the invoicing
        print(f"warning: cannot write the log file in {log_dir}: {exc.strerror}", file=sys.stderr)
        return None
    return file


def _add_console(root: logging.Logger, redact: logging.Filter) -> None:
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    # An error the CLI has just printed (record marked "shown") is not printed twice.
    console.addFilter(lambda record: not getattr(record, "shown", False))
    console.addFilter(redact)
    root.addHandler(console)


def configure(log_dir: Path, *, secrets: Iterable[str] = (), verbose: bool = False) -> Path | None:
    """Log INFO and up to a rotating file (and to stderr with --verbose). Returns the file."""
    root = logging.getLogger("igest_sync")
    if getattr(root, "_igest_configured", False):
        return getattr(root, "_igest_file", None)
    root.setLevel(logging.INFO)
    root.propagate = False
    redact = RedactingFilter(secrets)
    path = _add_file_handler(root, log_dir, redact)  # None when the file cannot be written
    if verbose:
        _add_console(root, redact)
    root._igest_configured = True  # type: ignore[attr-defined]
    root._igest_file = path  # type: ignore[attr-defined]
    return path


_MARKS = ("_igest_configured", "_igest_file")


@contextlib.contextmanager
def separate() -> Iterator[None]:
    """The package's logging as a new process starts it (not set up) for the block, then as it
    was: for one process that runs several commands, the demo's steps and the tests'
    in-process CLI. What the block set up (its log file) is closed as the block ends."""
    root = logging.getLogger("igest_sync")
    handlers, propagate, level = list(root.handlers), root.propagate, root.level
    marks = {mark: getattr(root, mark) for mark in _MARKS if hasattr(root, mark)}

    def clear() -> None:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for mark in _MARKS:
            if hasattr(root, mark):
                delattr(root, mark)

    clear()
    root.propagate = True
    root.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        made = list(root.handlers)
        clear()
        for handler in made:
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.propagate = propagate
        root.setLevel(level)
        for mark, value in marks.items():
            setattr(root, mark, value)
