"""A first run on a store with history: orders placed long before the start date and paid on or
after it are sales to invoice, whatever their age; those paid before it are not, and no one is
told of them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from igest_sandbox.data import seed_line
from tests.support.cli import make_cli
from tests.support.clock import VirtualClock
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox


def _at(*when: int) -> datetime:
    return datetime(*when, tzinfo=UTC)


def test_a_first_run_invoices_orders_placed_long_before_the_start_date_and_paid_since(tmp_path):
    # Before: the first run listed the orders created from 30 days before the start date. A
    # business's order placed in October and paid by transfer after the start date got no
    # invoice and no word; one still waiting for payment was never followed, so its payment
    # went unseen for good.
    clock = VirtualClock(wall=_at(2026, 12, 3, 12, 0))
    with started_sandbox(clock=clock, seed=False, **FAST_LIMITS) as sb:
        cli = make_cli(sb, Path(tmp_path), invoice={"start_date": "2026-12-01"})
        line = [seed_line("CAN-AZU", 1)]
        paid_since = sb.store.add_order(
            lines=line, created_at=_at(2026, 10, 25, 10), completed_at=_at(2026, 12, 2, 9)
        )
        waiting = sb.store.add_order(
            lines=line, created_at=_at(2026, 10, 20, 10), status="pending_payment"
        )
        paid_before = sb.store.add_order(
            lines=line, created_at=_at(2026, 9, 1, 10), completed_at=_at(2026, 9, 2, 9)
        )
        first = cli("invoice", "--json")
        assert first.code == 0, first.stderr
        code = sb.credentials["jumpseller"]["login"]

        def invoiced(order_id: int) -> list[dict]:
            return sb.igest.final_documents_by_reference().get(f"jumpseller:{code}:{order_id}", [])

        assert len(invoiced(paid_since)) == 1  # dated the run's day, as any late invoice
        # Paid before the start date, months before the listing: no sale of ours, not said.
        assert invoiced(paid_before) == []
        assert str(paid_before) not in first.stdout
        assert all(o["order_id"] != str(paid_before) for o in first.json()["orders"])

        clock.advance(hours=1)
        sb.store.pay_order(waiting)
        second = cli("invoice", "--json")
        assert second.code == 0, second.stderr
        assert len(invoiced(waiting)) == 1 and len(invoiced(paid_since)) == 1
