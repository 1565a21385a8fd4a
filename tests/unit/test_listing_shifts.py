"""A listing of one status loses members while it is read: an order on a page already read
that changes status (a transfer confirmed, a refund) moves every later one up a place, and the
first of the next page slips onto the page read before. Jumpseller pages by ``limit`` and
``page`` (an offset), newest first: nothing in the spec keeps a listing still while it is read.

A first run (or a rebuild after a lost state file) reads two such listings once, for the orders
older than its listing by creation day: those waiting for payment and those paid since the start
date. An order one of them let slip is in no later listing: behind the checkpoint, never
followed, and older than the gap check reads back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from igest_sync.models import Action
from igest_sync.runs.invoicing.invoice import InvoiceRun
from tests.support.inprocess_world import World, world

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
START = date(2026, 11, 1)
LINE = [{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}]
SUMMER = datetime(2026, 8, 1, 10, 0, tzinfo=UTC)  # well before the first run's listing


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(tmp_path, NOW, start_date=START, sandbox={"seed": False}) as current:
        yield current


def run(w: World):
    return InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall()).run()


def meanwhile(w: World, path: str, change: Callable[[], None]) -> list[int]:
    """Runs ``change`` at the store just before page 2 of ``path`` is first asked for; returns
    the pages of ``path`` asked for, in order."""
    real = w.js._request
    asked: list[int] = []

    def request(method: str, where: str, **kwargs: Any) -> Any:
        if where == path:
            page = int((kwargs.get("params") or {}).get("page", 1))
            if page == 2 and 2 not in asked:
                change()
            asked.append(page)
        return real(method, where, **kwargs)

    w.js._request = request  # type: ignore[method-assign]
    return asked


def placed_in_summer(w: World, count: int, *, paid_from: datetime | None = None) -> list[int]:
    """``count`` orders placed an hour apart in the summer, oldest first: waiting for payment,
    or paid a minute apart from ``paid_from`` (late transfers)."""
    return [
        w.sb.store.add_order(
            lines=LINE,
            status="pending_payment" if paid_from is None else "paid",
            created_at=SUMMER + timedelta(hours=n),
            completed_at=None if paid_from is None else paid_from + timedelta(minutes=n),
        )
        for n in range(count)
    ]


def test_an_old_order_waiting_for_payment_is_not_lost_when_another_is_paid_mid_listing(
    w: World,
) -> None:
    # 101 orders placed in the summer still wait for a transfer: two pages, newest first.
    waiting = placed_in_summer(w, 101)
    w.sb.store.add_order(lines=LINE, status="paid")  # today's sale: the checkpoint passes all
    oldest, newest = waiting[0], waiting[-1]
    # The newest transfer comes in while the first run reads its listing's second page (by
    # GET /orders.json: the listing by creation before it holds one page, today's sale).
    asked = meanwhile(w, "/orders.json", lambda: w.sb.store.set_status(newest, "paid"))
    run(w)
    assert 2 in asked
    w.clock.advance(hours=1)
    w.sb.store.set_status(oldest, "paid")  # ... and the oldest a day later
    w.clock.advance(hours=24)
    run(w)
    finals = w.sb.igest.final_documents_by_reference()
    paid_keys = {str(newest), str(oldest)}
    invoiced = {ref.rsplit(":", 1)[-1] for ref in finals}
    assert paid_keys <= invoiced, f"not invoiced: {paid_keys - invoiced}"
    assert all(len(docs) == 1 for docs in finals.values())


def test_an_old_order_paid_since_the_start_date_is_not_lost_when_another_is_refunded_mid_listing(
    w: World,
) -> None:
    # 101 orders placed in the summer and paid since the start date (late transfers): two
    # pages of the first run's listing of older paid orders, newest first.
    paid = placed_in_summer(w, 101, paid_from=datetime(2026, 11, 5, 10, 0, tzinfo=UTC))
    w.sb.store.add_order(lines=LINE, status="paid")
    oldest, newest = paid[0], paid[-1]
    # The newest is refunded while the first run reads the listing's second page.
    asked = meanwhile(w, "/orders.json", lambda: w.sb.store.cancel_order(newest))
    report = run(w)
    assert 2 in asked
    outcomes = {o.key: o.action for o in report.outcomes}
    assert outcomes.get(str(oldest)) == Action.ISSUED, outcomes.get(str(oldest))


def test_old_orders_waiting_for_payment_past_the_first_page_are_not_lost_when_page_is_ignored(
    w: World,
) -> None:
    # The spec declares no ``limit`` nor ``page`` for /orders/status/{status}.json: a server
    # may answer every page with the first. 130 orders placed in the summer still wait for a
    # transfer (a store's unpaid Multibanco references pile up): a first run read the 100
    # newest, took the repeat for the end, and passed the 30 oldest for good.
    waiting = placed_in_summer(w, 130)
    w.sb.store.add_order(lines=LINE, status="paid")
    real = w.js._request

    def no_page_on_status(method: str, where: str, **kwargs: Any) -> Any:
        if where.startswith("/orders/status/") and kwargs.get("params"):
            kwargs["params"] = {**kwargs["params"], "page": 1}
        return real(method, where, **kwargs)

    w.js._request = no_page_on_status  # type: ignore[method-assign]
    run(w)
    oldest = waiting[0]
    w.clock.advance(hours=1)
    w.sb.store.set_status(oldest, "paid")  # its transfer comes in after the first run
    w.clock.advance(hours=1)
    run(w)
    finals = w.sb.igest.final_documents_by_reference()
    assert f"jumpseller:{w.config.jumpseller.store}:{oldest}" in finals, "never invoiced"
