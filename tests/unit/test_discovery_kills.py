"""A run killed while it lists orders never skips a sale, nor issues one twice.

Jumpseller lists newest first. A checkpoint moved order by order jumped to the newest order at
the first page, so a first run killed on its second page left every older paid order behind the
checkpoint for good; and a rebuild (lost state file) killed the same way left a checkpoint that
made the next run issue without looking in iGEST first. Each test kills a run at every point of
its listing, in every listing order, then lets clean runs finish, and counts from iGEST alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.models import Order
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ORDERS = 7


class Killed(BaseException):
    """A SIGKILL, as far as the run can tell: nothing after it runs."""


class Listing(FakeJumpseller):
    """Lists in a given order, and can be killed after ``kill_after`` orders of a listing."""

    def __init__(self, orders: list[Order], order: str, seed: int = 0) -> None:
        super().__init__(orders=orders)
        self.order_name = order
        self.rng = random.Random(seed)
        self.kill_after: int | None = None

    def _arrange(self, orders: list[Order]) -> Iterator[Order]:
        if self.order_name == "newest":
            orders = sorted(orders, key=lambda o: -o.id)
        elif self.order_name == "shuffled":
            self.rng.shuffle(orders)
        for listed, order in enumerate(orders):
            if self.kill_after is not None and listed >= self.kill_after:
                raise Killed
            yield order

    def orders_created_between(
        self, first: date, last: date, status: str | None = None, *, steady: bool = False
    ) -> Iterator[Order]:
        return self._arrange(list(super().orders_created_between(first, last, status)))

    def orders_after(self, order_id: int) -> Iterator[Order]:
        return self._arrange(list(super().orders_after(order_id)))


def config(**invoice: object) -> Config:
    return fake_config(**({"start_date": date(2026, 11, 1), "concurrency": 1} | invoice))


def store(count: int = ORDERS, first_id: int = 1) -> list[Order]:
    """Paid orders, with one still waiting for payment among them."""
    orders = []
    for n in range(count):
        order_id = first_id + n
        created = NOW - timedelta(days=3) + timedelta(minutes=order_id)
        if order_id % 4 == 0:
            orders.append(paid_order(order_id, created_at=created, status="pending_payment"))
        else:
            orders.append(paid_order(order_id, created_at=created, paid_at=created))
    return orders


def run(
    ledger: Ledger,
    js: FakeJumpseller,
    ig: FakeIgest,
    since: date | None = None,
    start: date = date(2026, 11, 1),
) -> None:
    InvoiceRun.build(config(start_date=start), ledger, js, ig, now=NOW).run(since=since)


def killed_run(ledger: Ledger, js: Listing, ig: FakeIgest, after: int, **kwargs) -> None:
    js.kill_after = after
    with pytest.raises(Killed):
        run(ledger, js, ig, **kwargs)
    js.kill_after = None


def assert_exactly_once(js: FakeJumpseller, ig: FakeIgest) -> None:
    paid = {o.id for o in js.orders.values() if o.status == "paid"}
    refs = [d.external_reference for d in ig.finals()]
    assert sorted(refs) == sorted(f"jumpseller:loja:{i}" for i in paid), "missing or duplicated"
    assert [d for d in ig.documents.values() if d.status == "draft"] == [], "a stray draft"


@pytest.mark.parametrize("order", ["newest", "oldest", "shuffled"])
@pytest.mark.parametrize("after", range(ORDERS))
def test_a_first_run_killed_while_listing_misses_no_sale(order: str, after: int):
    js, ig = Listing(store(), order, seed=after), FakeIgest()
    with Ledger(Path(":memory:")) as ledger:
        killed_run(ledger, js, ig, after)
        assert ledger.checkpoint is None, "the checkpoint moved before the listing was whole"
        run(ledger, js, ig)
        assert ledger.checkpoint == ORDERS
        assert_exactly_once(js, ig)
        run(ledger, js, ig)  # and a quiet run after it changes nothing
        assert_exactly_once(js, ig)


@pytest.mark.parametrize("order", ["newest", "oldest", "shuffled"])
@pytest.mark.parametrize("after", range(ORDERS))
def test_a_rebuild_killed_while_listing_issues_nothing_twice(order: str, after: int):
    js, ig = Listing(store(), order, seed=after), FakeIgest()
    with Ledger(Path(":memory:")) as first:
        run(first, js, ig)
    issued = len(ig.finals())
    js.add(*store(3, first_id=ORDERS + 1))  # sales since the state file was lost
    with Ledger(Path(":memory:")) as rebuilt:  # the state file is lost
        killed_run(rebuilt, js, ig, after)
        assert rebuilt.rebuilding
        for _ in range(2):
            run(rebuilt, js, ig)
            assert_exactly_once(js, ig)
        assert not rebuilt.rebuilding
    assert len(ig.finals()) == issued + 2  # orders 8, 9 (10 waits for payment)


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_a_rebuild_killed_twice_still_looks_before_issuing(order: str):
    js, ig = Listing(store(), order), FakeIgest()
    with Ledger(Path(":memory:")) as first:
        run(first, js, ig)
    created = len(ig.called("create_document"))
    with Ledger(Path(":memory:")) as rebuilt:
        killed_run(rebuilt, js, ig, 2)
        killed_run(rebuilt, js, ig, 5)
        run(rebuilt, js, ig)
    assert len(ig.called("create_document")) == created, "issued again after the loss"
    assert_exactly_once(js, ig)


@pytest.mark.parametrize("order", ["newest", "oldest", "shuffled"])
@pytest.mark.parametrize("after", range(4))
def test_a_run_killed_while_listing_after_the_checkpoint_misses_no_sale(order: str, after: int):
    js, ig = Listing(store(), order, seed=after), FakeIgest()
    with Ledger(Path(":memory:")) as ledger:
        run(ledger, js, ig)
        js.add(*store(4, first_id=ORDERS + 1))
        killed_run(ledger, js, ig, after)
        assert ledger.checkpoint == ORDERS
        run(ledger, js, ig)
        assert ledger.checkpoint == ORDERS + 4
    assert_exactly_once(js, ig)


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("after", range(ORDERS))
def test_a_backfill_killed_while_listing_is_finished_by_the_next_run(order: str, after: int):
    js, ig = Listing(store(), order), FakeIgest()
    later, earlier = date(2026, 11, 19), date(2026, 11, 1)
    with Ledger(Path(":memory:")) as ledger:
        run(ledger, js, ig, start=later)  # every order paid before the start: none issued
        assert ig.finals() == [] and ledger.checkpoint == ORDERS
        # The merchant moves the start back and backfills; the backfill is killed.
        killed_run(ledger, js, ig, after, since=earlier, start=earlier)
        assert ledger.rebuilding, "the backfill's unfinished listing was forgotten"
        run(ledger, js, ig, start=earlier)  # no --since: the next run finishes the listing
        assert not ledger.rebuilding
    assert_exactly_once(js, ig)


@pytest.mark.parametrize("loss", ["lost", "older copy"])
def test_an_order_invoiced_then_cancelled_is_credited_after_the_state_file_is_lost(loss: str):
    """The invoice was issued, the state file lost (or put back from a copy taken before the
    invoice), then the order cancelled: the run adopts the invoice it finds in iGEST and
    credits it, instead of noting "cancelled before it was invoiced" (the simulation, seed 6).
    """
    js, ig = Listing(store(3), "newest"), FakeIgest()
    with Ledger(Path(":memory:")) as first:
        if loss == "older copy":
            run(first, FakeJumpseller(orders=[]), ig)  # a checkpoint, before any order
        run(first, js, ig)
    [invoice] = ig.finals("jumpseller:loja:2")
    js.orders[2] = replace(js.orders[2], status="canceled")
    with Ledger(Path(":memory:")) as rebuilt:
        if loss == "older copy":
            rebuilt.complete_listing(0)
            rebuilt.set_meta("last_run_at", NOW.isoformat())
        InvoiceRun.build(config(), rebuilt, js, ig, now=NOW + timedelta(hours=1)).run()
    notes = [d for d in ig.finals() if d.type == "NC"]
    assert [(n.related_number, n.gross_total) for n in notes] == [
        (invoice.number, invoice.gross_total)
    ]
    invoices = sorted(d.external_reference for d in ig.finals() if d.type != "NC")
    assert invoices == [f"jumpseller:loja:{i}" for i in (1, 2, 3)], "missing or duplicated"
