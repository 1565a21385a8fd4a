"""The local state: checkpoint, what we know of each order, the documents issued, the run lock.

SQLite in the state directory, file mode 0600, one transaction per recorded step. The ledger is
a cache of intent and outcome, never the source of truth for "was this order invoiced": iGEST is
(see ``runs/invoice.py``), so a lost ledger costs a lookup, never a second invoice.

Lifecycle of one piece of work (an invoice or a credit note for one order), ``work.state``:

    pending ──▶ requested ──▶ draft ──▶ finalizing ──▶ final
       │            │           │            │
       └────────────┴───────────┴────────────┴──▶ failed (reason, transient?, attempts)

``phase`` keeps the furthest step that may have reached iGEST (requested, draft, finalizing),
or "unverified" for work recorded while the ledger was empty: work with a phase set is looked
up by its external reference before anything is sent again.

``Ledger`` here owns the connection, the transactions, meta, the checkpoint and the run lock;
the queries live in one mixin per concern: ``work`` (orders and work), ``documents`` (documents,
links, e-mails, credit notes), ``checks`` (VIES answers, notices shown), ``inbox`` (the
webhook inbox of ``serve``) and ``alerts`` (the alerts outbox, and what alerts and the
digest read); the records they return in ``records``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Self

from igest_sync.errors import StateError
from igest_sync.state.alerts import AlertsMixin
from igest_sync.state.base import Params
from igest_sync.state.checks import ChecksMixin
from igest_sync.state.credit_requests import CreditRequestsMixin
from igest_sync.state.documents import DocumentsMixin
from igest_sync.state.inbox import InboxMixin
from igest_sync.state.lock import run_lock
from igest_sync.state.records import DocumentRecord, OrderRecord, WorkRecord
from igest_sync.state.schema import SCHEMA_VERSION, migrate, transaction
from igest_sync.state.work import WorkMixin

# Callers import the records from here, beside the Ledger that returns them.
__all__ = ["DocumentRecord", "Ledger", "OrderRecord", "WorkRecord"]


class _Busy(Exception):
    """Another process holds the state file for a moment."""


class Ledger(WorkMixin, DocumentsMixin, ChecksMixin, CreditRequestsMixin, InboxMixin, AlertsMixin):
    """One open state file. Thread-safe: every method takes the connection lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = self._open(path)

    # -- opening, schema --------------------------------------------------------------------

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        # Switching a new file to WAL takes an exclusive lock that SQLite's busy timeout does
        # not wait for: when another process (status during a first run) is just creating the
        # file, try again for a few seconds rather than fail.
        deadline = time.monotonic() + 10
        while True:
            try:
                return Ledger._open_once(path)
            except _Busy:
                if time.monotonic() > deadline:
                    raise StateError(
                        f"State file {path} is busy: another process holds it.",
                        hint="Try again in a moment; if it persists, look for a stuck "
                        "igest-sync process.",
                    ) from None
                time.sleep(0.05)

    @staticmethod
    def _open_once(path: Path) -> sqlite3.Connection:
        if str(path) == ":memory:":  # a dry run with no state file yet: write nothing to disk
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            memory.row_factory = sqlite3.Row
            migrate(memory, path)
            return memory
        db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                # SQLite would only say "unable to open database file".
                raise StateError(
                    f"State path {path} is a directory, not a file.",
                    hint=f"Pass --state with a file's path (e.g. {path / 'state.db'}), or move "
                    "the directory away.",
                )
            if not path.exists():
                # Create the file 0600 before SQLite touches it: it names customers and totals.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            elif not os.access(path, os.R_OK | os.W_OK):
                raise StateError(
                    f"State file {path} is not readable and writable by this user.",
                    hint=f"Fix its owner or mode (chmod 600 {path}), or pass --state PATH.",
                )
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            db.row_factory = sqlite3.Row
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, on creation
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if (
                version == 0
                and db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[
                    0
                ]
            ):
                raise StateError(
                    f"State file {path} has tables but no igest-sync schema version.",
                    hint="It is not an igest-sync state file; move it away or pass --state PATH.",
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                if db is not None:
                    db.close()
                raise _Busy from None
            raise StateError(
                f"State file {path} cannot be used: {exc}.",
                hint="Check the file and its directory, or pass --state PATH.",
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"State file {path} cannot be read: {exc}.",
                hint="It is left untouched. Move it away and run again: igest-sync looks up "
                "every document in iGEST, so nothing is invoiced twice.",
            ) from None
        except OSError as exc:
            raise StateError(
                f"State file {path} cannot be opened: {exc.strerror}.",
                hint="Check the directory's permissions, or pass --state PATH.",
            ) from None
        if version > SCHEMA_VERSION:
            db.close()
            raise StateError(
                f"State file {path} is from a newer igest-sync (schema {version}, "
                f"this version knows {SCHEMA_VERSION}).",
                hint="Upgrade igest-sync; the file is left untouched.",
            )
        if version < SCHEMA_VERSION:
            migrate(db, path)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Params = ()) -> None:
        self._write_many((sql, params))

    def _write_many(self, *statements: tuple[str, Params]) -> None:
        """Run the statements in one transaction: all of them are recorded, or none."""
        with self._lock:
            try:
                with transaction(self._db):
                    for sql, params in statements:
                        self._db.execute(sql, params)
            except sqlite3.DatabaseError as exc:
                raise StateError(f"State file {self.path} could not be written: {exc}.") from None

    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateError(f"State file {self.path} cannot be read: {exc}.") from None

    # -- meta: checkpoint and run times -----------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    @property
    def checkpoint(self) -> int | None:
        """Highest Jumpseller order id already seen; None before the first run."""
        value = self.get_meta("last_order_id")
        return int(value) if value is not None else None

    def advance_checkpoint(self, order_id: int) -> None:
        current = self.checkpoint
        if current is None or order_id > current:
            self.set_meta("last_order_id", str(order_id))

    # -- the run lock -----------------------------------------------------------------------

    def run_lock(self) -> contextlib.AbstractContextManager[None]:
        return run_lock(self.path)
