"""The ledger's side of credit requests: which credit work a request's reference is, and whether
the person who asked for it was told its outcome (``answered_at``, schema 4)."""

from __future__ import annotations

from igest_sync.models import Kind
from igest_sync.state.database import Store
from igest_sync.state.work import WorkRecord, work_record


class CreditRequestsStore(Store):
    """Credit work by request, on the ledger's database."""

    def credit_work_by_reference(self, order_id: int, reference: str) -> WorkRecord | None:
        """The order's credit work whose NC carries ``reference``, if this ledger has it."""
        rows = self._rows(
            "SELECT * FROM work WHERE order_id=? AND kind=? AND external_reference=?",
            (order_id, Kind.CREDIT, reference),
        )
        return work_record(rows[0]) if rows else None

    def mark_answered(self, order_id: int, seq: int) -> None:
        """The person who asked for this credit was told its outcome (issued or found issued)."""
        self._write(
            "UPDATE work SET answered_at=? WHERE order_id=? AND kind=? AND seq=?",
            (self._now(), order_id, Kind.CREDIT, seq),
        )

    def answered(self, order_id: int, seq: int) -> bool:
        rows = self._rows(
            "SELECT answered_at FROM work WHERE order_id=? AND kind=? AND seq=?",
            (order_id, Kind.CREDIT, seq),
        )
        return bool(rows and rows[0]["answered_at"])
