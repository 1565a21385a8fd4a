"""One open state file: the SQLite connection, its lock, the transactions, the migrations (the
scripts are ``state/schema.py``'s), and the clock; and ``Store``, what every store of the
ledger has.

Every store of the ledger (``state/ledger.py``) works on one shared ``Database``: the stores
hold the queries, this holds what they share. Each store reaches the state file only through
``Store``'s few short names for the ``Database``; a store that needs a sibling store receives
it in its constructor, never the whole ledger, so the dependencies between concerns stay
visible and without a cycle. Its clock is the only one state reads: the
times the stores stamp (``updated_at``, ``issued_at``, ``answered_at`` ...) come from
``now()``, so a run or a test that passes its clock sees its own time written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from igest_sync.errors import StateError
from igest_sync.state.schema import SCHEMA_VERSION, statements
from igest_sync.timeutil import utc_now

# One key of the meta table set (``set_meta``), also as one statement of a larger transaction.
SET_META = (
    "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"
)

# How long a statement waits for another process that holds the state file (SQLite's busy
# timeout), and what the message says when that was not enough.
BUSY_SECONDS = 10

# SQL parameters: positional or named.
Params = tuple[object, ...] | dict[str, object]
# The wall clock: an aware datetime.
Clock = Callable[[], datetime]


class _Busy(Exception):
    """Another process holds the state file for a moment."""


class Database:
    """The state file's connection; thread-safe: every statement takes the connection lock."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self.clock: Clock = clock or utc_now
        self._lock = threading.RLock()
        self._db = _open(path)

    def now(self) -> datetime:
        """The time by this state's one clock, in UTC."""
        return self.clock().astimezone(UTC)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements -------------------------------------------------------------------------

    def write(self, sql: str, params: Params = ()) -> None:
        self.write_many((sql, params))

    def write_many(self, *statements: tuple[str, Params]) -> None:
        """Run the statements in one transaction: all of them are recorded, or none."""
        with self._lock:
            try:
                with transaction(self._db):
                    for sql, params in statements:
                        self._db.execute(sql, params)
            except OUR_MISTAKES:
                raise
            except sqlite3.DatabaseError as exc:
                raise _failed(self.path, "could not be written", exc) from None

    def rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except OUR_MISTAKES:
                raise
            except sqlite3.DatabaseError as exc:
                raise _failed(self.path, "cannot be read", exc) from None

    # -- the meta table: one key/value table, each concern with its own keys -----------------

    def get_meta(self, key: str) -> str | None:
        rows = self.rows("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(SET_META, (key, value))


# -- what every store of the ledger shares ----------------------------------------------------

# The public names every store inherits from ``Store``: the meta table is one key/value table
# in which each concern keeps its own keys (notices shown, an order found credited, serve's
# last webhook). ``Ledger`` forwards them to its ``meta`` store.
SHARED = frozenset({"get_meta", "set_meta"})


def stamp(moment: datetime) -> str:
    """A moment as the stores write it and compare it as text: UTC ISO 8601, to the second.
    A bound given in Lisbon time (a digest's period) must be turned to UTC first, or text
    order is not time order and a summer period is an hour off."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def moment(text: str | None) -> datetime | None:
    """``stamp`` read back: a time the state wrote (UTC when it names no zone); None when
    absent or unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Store:
    """One concern's queries, on the ledger's shared database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _write(self, sql: str, params: Params = ()) -> None:
        self.db.write(sql, params)

    def _write_many(self, *statements: tuple[str, Params]) -> None:
        self.db.write_many(*statements)

    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.db.rows(sql, params)

    def _now(self) -> str:
        """The state's clock, as the stores write it (UTC, to the second)."""
        return stamp(self.db.now())

    def get_meta(self, key: str) -> str | None:
        return self.db.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)


# A statement or a value of ours that SQLite refuses (a wrong type bound, a constraint broken):
# a bug, shown as one (the traceback in the log), never as a damaged file a person is told to
# move away, which would throw away the ledger's failures and credit requests with it.
OUR_MISTAKES = (
    sqlite3.ProgrammingError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
)


def _failed(path: Path | str, what: str, exc: sqlite3.DatabaseError) -> StateError:
    """A statement refused: the disk (full, I/O: an OperationalError), or a damaged file."""
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        hint = (
            f"Another process held the state file for over {BUSY_SECONDS} seconds (a backup "
            "or sync tool, an open `sqlite3` shell?); nothing is lost: the next run takes up "
            "where this one stopped."
        )
    elif isinstance(exc, sqlite3.OperationalError):
        hint = "Check the free space and the permissions of its disk; the next run retries."
    else:  # "database disk image is malformed"
        hint = (
            "The file is damaged. Keep a copy, move it away (with its -wal and -shm files, "
            "once `serve` is stopped if it runs) and run again: igest-sync looks up every "
            "document in iGEST, so nothing is invoiced twice."
        )
    return StateError(f"State file {path} {what}: {exc}.", hint=hint)


# -- opening, schema ------------------------------------------------------------------------


def _open(path: Path) -> sqlite3.Connection:
    # Switching a new file to WAL takes an exclusive lock that SQLite's busy timeout does
    # not wait for: when another process (status during a first run) is just creating the
    # file, try again for a few seconds rather than fail.
    deadline = time.monotonic() + 10
    while True:
        try:
            return _open_once(path)
        except _Busy:
            if time.monotonic() > deadline:
                raise StateError(
                    f"State file {path} is busy: another process holds it.",
                    hint="Try again in a moment; if it persists, look for a stuck "
                    "igest-sync process.",
                ) from None
            time.sleep(0.05)


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
        elif (names := os.stat(path).st_nlink) > 1:
            # SQLite keeps its journal beside each name, and the run lock is one per name: two
            # runs through two names work at once and the file is damaged.
            raise StateError(
                f"State file {path} has {names} names (hard links); two runs "
                "through two of them would both work on it and damage it.",
                hint="Keep one name: remove the other hard links (a symbolic link is fine), "
                "or give this one its own copy.",
            )
        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS
        )
        db.row_factory = sqlite3.Row
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, on creation
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if (
            version == 0
            and db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
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
            hint="It is left untouched. Move it away (with its -wal and -shm files, once "
            "`serve` is stopped if it runs) and run again: igest-sync looks up every document "
            "in iGEST, so nothing is invoiced twice.",
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


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION, one transaction per version.

    The version is read again under the write lock: two runs opening a new file at the
    same moment must not both create the tables (the second finds them made).
    """
    try:
        with transaction(db):
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in statements(target):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={target}")
    except sqlite3.DatabaseError as exc:
        raise StateError(f"State file {path} could not be migrated: {exc}.") from None


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
