"""status: which paid orders are late for their invoice (``--fail-if-late``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from igest_sync.models import Kind
from igest_sync.runs.status import build_status
from igest_sync.state.ledger import Ledger

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_failed_invoice_is_late_but_a_failed_credit_note_is_not() -> None:
    paid = NOW - timedelta(days=5)
    with Ledger(Path(":memory:")) as ledger:
        for order_id in (7, 8):
            ledger.record_order(
                order_id, "paid", created_at=paid, paid_at=paid, total=Decimal("10"), customer="A"
            )
        ledger.ensure_work(7, Kind.INVOICE, "jumpseller:s:7")
        ledger.fail(7, Kind.INVOICE, "refused", transient=False)
        # Order 8's invoice was issued (elsewhere in this story); its second credit note failed.
        ledger.ensure_work(8, Kind.CREDIT, "jumpseller:s:8:credit:2", seq=2)
        ledger.fail(8, Kind.CREDIT, "refused", transient=False, seq=2)
        report = build_status(ledger, now=NOW)
    assert [order_id for order_id, _, _ in report.late_beyond(24)] == [7]
