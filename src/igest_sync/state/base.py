"""What the ledger's concern mixins (``work``, ``documents``, ``checks``) use of ``Ledger``.

``Ledger`` (``state/ledger.py``) owns the connection, its lock and the transactions; each mixin
holds the queries of one concern and reaches the database only through these methods, so that a
new concern (the webhook inbox, the alerts) is a new mixin, not more lines in one class.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path

# SQL parameters: positional or named.
Params = tuple[object, ...] | dict[str, object]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LedgerBase(ABC):
    """The connection's few primitives; ``Ledger`` implements them."""

    path: Path

    @abstractmethod
    def _write(self, sql: str, params: Params = ()) -> None: ...

    @abstractmethod
    def _write_many(self, *statements: tuple[str, Params]) -> None: ...

    @abstractmethod
    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...
