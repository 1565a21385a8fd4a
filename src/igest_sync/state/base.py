"""What every store of the ledger has: the shared ``Database`` and a few short names for it.

``Ledger`` (``state/ledger.py``) is a thin facade over one store per concern (``meta``,
``work``, ``documents``, ``checks``, ``credit_requests``, ``inbox``, ``alerts``). Each store holds
the queries of its concern and reaches the state file only through the primitives below, all
delegated to the one ``Database`` the stores share (one connection, one lock, one clock). A
store that needs a sibling store receives it in its constructor, never the whole ledger, so
the dependencies between concerns stay visible and without a cycle.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from igest_sync.state.database import Database, Params

__all__ = ["SHARED", "Params", "Store", "stamp"]

# The public names every store inherits from ``Store``: the meta table is one key/value table
# in which each concern keeps its own keys (notices shown, an order found credited, serve's
# last webhook). ``Ledger`` forwards them to its ``meta`` store.
SHARED = frozenset({"get_meta", "set_meta"})


def stamp(moment: datetime) -> str:
    """A moment as the stores write it and compare it as text: UTC ISO 8601, to the second.
    A bound given in Lisbon time (a digest's period) must be turned to UTC first, or text
    order is not time order and a summer period is an hour off."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


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
