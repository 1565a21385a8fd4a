"""The ledger's side of credit requests: which credit work a request's reference is, and whether
the person who asked for it was told its outcome (``answered_at``, schema 4)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from igest_sync.models import Kind

if TYPE_CHECKING:
    from igest_sync.state.ledger import Params, WorkRecord


class CreditRequestsMixin:
    """Credit work by request, on the ledger's connection (a base of ``Ledger``)."""

    if TYPE_CHECKING:

        def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]: ...
        def _write(self, sql: str, params: Params = ()) -> None: ...
        def credit_works(self, order_id: int) -> list[WorkRecord]: ...

    def credit_work_by_reference(self, order_id: int, reference: str) -> WorkRecord | None:
        """The order's credit work whose NC carries ``reference``, if this ledger has it."""
        return next(
            (w for w in self.credit_works(order_id) if w.external_reference == reference), None
        )

    def mark_answered(self, order_id: int, seq: int) -> None:
        """The person who asked for this credit was told its outcome (issued or found issued)."""
        self._write(
            "UPDATE work SET answered_at=? WHERE order_id=? AND kind=? AND seq=?",
            (datetime.now(UTC).isoformat(timespec="seconds"), order_id, Kind.CREDIT, seq),
        )

    def answered(self, order_id: int, seq: int) -> bool:
        rows = self._rows(
            "SELECT answered_at FROM work WHERE order_id=? AND kind=? AND seq=?",
            (order_id, Kind.CREDIT, seq),
        )
        return bool(rows and rows[0]["answered_at"])
