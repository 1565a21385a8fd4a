"""An abandoned checkout that the customer completes later (a recovery email) keeps its order id,
behind the checkpoint: the runs must still find it paid and invoice it, webhook or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from igest_sync.models import Action
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.inprocess_world import World, world

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LINE = [{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}]


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(tmp_path, NOW, start_date=date(2026, 11, 1), sandbox={"seed": False}) as current:
        yield current


def run(w: World):
    return InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall()).run()


def test_an_abandoned_order_paid_days_later_is_invoiced_by_the_next_run(w: World) -> None:
    cart = w.sb.store.add_order(lines=LINE, status="abandoned", created_at=NOW - timedelta(days=2))
    w.sb.store.add_order(lines=LINE, status="paid")  # a newer order: the checkpoint passes
    assert run(w).count(Action.ISSUED) == 1
    w.clock.advance(hours=1)
    w.sb.store.set_status(cart, "paid")  # the customer came back through the recovery email
    report = run(w)
    [outcome] = [o for o in report.outcomes if o.key == str(cart)]
    assert outcome.action == Action.ISSUED
    assert len(w.sb.igest.final_documents_by_reference()) == 2


def test_an_abandoned_order_paid_weeks_later_is_found_by_the_daily_gap_check(w: World) -> None:
    # Past the days the runs follow: the daily read-back reaches back to the oldest cart the
    # ledger holds (within a month) and finds it paid: a sale, not a gap (no failure, no
    # alert), which the next run issues once.
    cart = w.sb.store.add_order(lines=LINE, status="abandoned", created_at=NOW - timedelta(days=12))
    w.sb.store.add_order(lines=LINE, status="paid")
    assert run(w).count(Action.ISSUED) == 1  # and the day's gap check
    w.clock.advance(hours=2)
    w.sb.store.set_status(cart, "paid")
    w.clock.advance(hours=23)  # the next day's check
    found = run(w)
    assert [o for o in found.outcomes if o.key == str(cart)] == []
    assert found.exit_code == 0 and found.notices == []
    again = run(w)
    [issued] = [o for o in again.outcomes if o.key == str(cart)]
    assert issued.action == Action.ISSUED
    finals = w.sb.igest.final_documents_by_reference()
    assert len(finals) == 2 and all(len(docs) == 1 for docs in finals.values())


def paid_after_all_is_invoiced_once(w: World, late: int) -> None:
    """``late``, cancelled, is paid after all: the next three runs issue it once, and no
    invoice of the store's two orders is issued twice."""
    w.clock.advance(hours=1)
    w.sb.store.set_status(late, "paid")
    issued = []
    for _ in range(3):
        w.clock.advance(minutes=10)
        issued += [o for o in run(w).outcomes if o.key == str(late)]
    assert [o.action for o in issued] == [Action.ISSUED]
    finals = w.sb.igest.final_documents_by_reference()
    assert len(finals) == 2 and all(len(docs) == 1 for docs in finals.values())


def test_a_cancelled_order_paid_later_is_invoiced(w: World) -> None:
    # Cancelled before any payment (a transfer that did not come in time), then paid after all:
    # the credit pass, which follows the cancelled orders, reads it again; the next run issues.
    late = w.sb.store.add_order(lines=LINE, status="pending_payment")
    w.sb.store.add_order(lines=LINE, status="paid")
    run(w)
    w.sb.store.cancel_order(late)
    run(w)  # recorded as cancelled
    assert w.ledger.order(late).status == "canceled"
    paid_after_all_is_invoiced_once(w, late)


@pytest.mark.parametrize("days", [5, 20, 40])
def test_an_order_cancelled_before_the_first_runs_first_invoice_then_paid_is_invoiced(
    w: World, days: int
) -> None:
    # The first run lists a month before the start date and finds this order already cancelled
    # (a transfer that did not come in time), created before any order it invoices. Paid after
    # all, on or after the start date: a sale. Its days are behind the checkpoint, past what the
    # gap check reads back, and before the first invoiced order's creation, where the
    # cancellation pass's watch (which reads cancelled orders paid again) used to begin.
    late = w.sb.store.add_order(
        lines=LINE, status="canceled", created_at=NOW - timedelta(days=days)
    )
    w.sb.store.add_order(lines=LINE, status="paid")
    assert run(w).count(Action.ISSUED) == 1
    paid_after_all_is_invoiced_once(w, late)


def test_a_cart_reopened_then_paid_days_later_is_invoiced_by_the_next_run(w: World) -> None:
    # Abandoned, then reopened (waiting for a Multibanco payment), then paid days later: each
    # change is seen by the runs, which follow waiting orders with no limit of days.
    cart = w.sb.store.add_order(lines=LINE, status="abandoned", created_at=NOW)
    w.sb.store.add_order(lines=LINE, status="paid")
    run(w)
    w.clock.advance(days=2)
    w.sb.store.set_status(cart, "pending_payment")
    run(w)
    assert w.ledger.order(cart).status == "pending_payment"
    w.clock.advance(days=9)
    w.sb.store.set_status(cart, "paid")
    [outcome] = [o for o in run(w).outcomes if o.key == str(cart)]
    assert outcome.action == Action.ISSUED


def test_a_run_killed_as_the_check_records_a_completed_cart_loses_nothing(
    w: World, monkeypatch
) -> None:
    # Killed once the cart's new status is written: its work was written before, and the next
    # run issues it (recorded "paid" first, no later check read it again: 12 days is past its 3).
    from igest_sync.runs.invoicing import gapcheck

    cart = w.sb.store.add_order(lines=LINE, status="abandoned", created_at=NOW - timedelta(days=12))
    w.sb.store.add_order(lines=LINE, status="paid")
    run(w)
    w.sb.store.set_status(cart, "paid")
    w.clock.advance(hours=25)

    class Killed(BaseException):
        pass

    real = gapcheck.record_order

    def killed(*args, **kwargs):
        real(*args, **kwargs)  # the new status is written, then the run dies
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(gapcheck, "record_order", killed)
        with pytest.raises(Killed):
            run(w)
    issued = []
    for _ in range(2):
        w.clock.advance(minutes=10)
        issued += [o.action for o in run(w).outcomes if o.key == str(cart)]
    assert issued == [Action.ISSUED]


def test_an_order_paid_again_after_its_invoice_was_credited_is_pointed_out(w: World) -> None:
    # Paid, invoiced, refunded (cancelled: credited in full), then paid again: one order has one
    # invoice, so the sale is a person's to invoice, and they are told (it was silent).
    sale = w.sb.store.add_order(lines=LINE, status="paid")
    assert run(w).count(Action.ISSUED) == 1
    w.sb.store.cancel_order(sale)
    w.clock.advance(minutes=10)
    run(w)  # the credit note
    assert w.ledger.credited_in_full(sale)
    w.sb.store.set_status(sale, "paid")
    told = []
    for _ in range(3):
        w.clock.advance(minutes=10)
        # Shown or held back for its reminder alike: counted every time it comes.
        told += [n for n in run(w).alert_notices if f"Order {sale}: paid again" in n]
    assert len(told) == 1
    assert len(w.sb.igest.final_documents_by_reference()) == 2  # the invoice and its NC


def test_an_older_order_invoiced_then_refunded_is_credited_after_the_state_file_is_lost(
    w: World, tmp_path: Path
) -> None:
    # Placed in September, before a first run's listing (from 30 days before the start date),
    # paid by transfer in November: the first run reads it among the older paid orders and
    # invoices it. It is refunded, then the state file is lost.
    placed = datetime(2026, 9, 20, 10, 0, tzinfo=UTC)
    late = w.sb.store.add_order(
        lines=LINE,
        status="paid",
        created_at=placed,
        completed_at=datetime(2026, 11, 5, 10, 0, tzinfo=UTC),
    )
    w.sb.store.add_order(lines=LINE, status="paid")  # today's sale
    run(w)
    [invoice] = w.sb.igest.final_documents_by_reference()[
        f"jumpseller:{w.config.jumpseller.store}:{late}"
    ]
    w.sb.store.cancel_order(late)
    w.clock.advance(hours=1)
    with Ledger(tmp_path / "rebuilt.sqlite3") as rebuilt:
        InvoiceRun.build(w.config, rebuilt, w.js, w.ig, now=w.clock.wall()).run()
    notes = [d for d in w.sb.igest.documents if d["type"] == "NC" and d["status"] == "final"]
    assert [n["gross_total"] for n in notes] == [invoice["gross_total"]], "never credited"
