"""A quiet ``invoice`` run costs the same on three years of history as on a new store, and an
invoiced order cancelled later is still found (credited, or pointed out: issue 18's rule).

The history is built straight into the fakes and the ledger, as years of complete runs leave
them: orders over three years, three in ten cancelled without ever being paid (expired
Multibanco references), the others invoiced. The counts are the fakes' calls: each of these
calls is one request here (no listing in these runs is longer than a page).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.models import Action, Kind, Order
from igest_sync.references import external_reference
from igest_sync.runs.credits.cancellations import page_size
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.gapcheck import LAST_CHECK
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.setup.status import STORE_NAME_AT
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
YEARS = timedelta(days=3 * 365)
STORE = "loja"
# A quiet run's calls: new orders, the count of the cancelled orders, one chunk of the sweep.
QUIET = ["orders_after", "order_page", "orders_created_between"]


class Killed(BaseException):
    """A SIGKILL, as far as the run can tell."""


def config(**invoice: object) -> Config:
    settings = {"start_date": (NOW - YEARS).date(), "concurrency": 1} | invoice
    return fake_config(store=STORE, login="login", link_documents=False, **settings)


def history(ledger: Ledger, js: FakeJumpseller, igest: FakeIgest, orders: int) -> list[Order]:
    """``orders`` orders over three years, as complete runs left them; returns them."""
    made = []
    step = YEARS / orders
    for n in range(orders):
        created = NOW - YEARS + step * n
        order_id = 1000 + n
        if n % 10 in (0, 3, 6):  # a Multibanco reference that expired unpaid
            order = paid_order(order_id, created_at=created, status="canceled", completed_at=None)
        else:
            order = paid_order(order_id, created_at=created, paid_at=created + timedelta(hours=2))
        made.append(order)
        js.add(order)
        record_order(ledger, order)
        if order.status == "paid":
            reference = external_reference(STORE, order_id)
            doc = igest.hold(reference, gross_total="12.30", day=created.date())
            ledger.ensure_work(order_id, Kind.INVOICE, reference)
            ledger.record_final(order_id, Kind.INVOICE, doc, email=False)
    ledger.complete_listing(made[-1].id)
    quiet_meta(ledger)
    return made


def quiet_meta(ledger: Ledger) -> None:
    """What a run earlier today left: the store's name and the day's gap check."""
    ledger.set_meta(STORE_NAME_AT, NOW.isoformat())
    ledger.set_meta(LAST_CHECK, NOW.isoformat())


def run(ledger, js, igest, cfg: Config | None = None, now: datetime = NOW):
    js.calls.clear()
    igest.calls.clear()
    return InvoiceRun.build(cfg or config(), ledger, js, igest, now=now).run()


def cancel(js: FakeJumpseller, order_id: int) -> None:
    js.orders[order_id] = replace(js.orders[order_id], status="canceled")


def test_a_page_size_always_ends_a_listing_inside_a_page():
    for count in range(1, 30_000):
        size = page_size(count)
        assert 50 < size <= 100 and count % size
    assert page_size(0) == 100


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_quiet_run_on_three_years_costs_what_it_costs_on_a_new_store(newest_first):
    costs = []
    for orders in (10, 3000):
        with Ledger(Path(":memory:")) as ledger:
            js, igest = FakeJumpseller(), FakeIgest()
            js.newest_first = newest_first
            history(ledger, js, igest, orders)
            report = run(ledger, js, igest)
            assert report.outcomes == [] and report.notices == [] and report.exit_code == 0
            costs.append((list(js.calls), list(igest.calls)))
    small, big = costs
    assert big == small == (QUIET, [])


@pytest.mark.parametrize("newest_first", [True, False])
def test_an_old_invoiced_order_cancelled_later_is_found_and_pointed_out(newest_first):
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        js.newest_first = newest_first
        made = history(ledger, js, igest, 3000)
        old = made[1001]  # paid about two years ago, invoiced
        assert old.status == "paid"
        cancel(js, old.id)
        report = run(ledger, js, igest)
        [notice] = report.notices
        assert f"Order {old.id} was cancelled after FR A/" in notice
        assert f"`igest-sync credit {old.id} --reason TEXT --all`" in notice
        # A search by creation day, not a listing of 900 cancelled orders nor a read per order.
        searched = [c for c in js.calls if c in ("order_page", "orders_created_between")]
        assert len(searched) <= 16, searched and "order" not in js.calls
        assert ledger.order(old.id).status == "canceled"
        # Known now: the next run is quiet again, and still points it out when due.
        report = run(ledger, js, igest)
        assert js.calls == QUIET
        assert report.notices == [] and report.quiet_notices == [notice]
        later = run(ledger, js, igest, now=NOW + timedelta(hours=25))
        assert later.notices == [notice]


def test_a_recent_order_cancelled_after_its_invoice_is_credited_once_even_after_a_kill():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        history(ledger, js, igest, 3000)
        fresh = paid_order(9001, "35.00", created_at=NOW - timedelta(days=2))
        js.add(fresh)
        run(ledger, js, igest)  # invoices it
        quiet_meta(ledger)
        [invoice] = igest.finals(external_reference(STORE, fresh.id))
        cancel(js, fresh.id)
        igest.faults.add("*", Killed)  # killed at the credit pass's first call to iGEST
        with pytest.raises(Killed):
            run(ledger, js, igest)
        # Nothing of the credit is recorded yet: only that the order is cancelled.
        assert ledger.credit_works(fresh.id) == [] and ledger.order(fresh.id).status == "canceled"
        report = run(ledger, js, igest)  # the ledger holds it as cancelled: credited now
        assert [(o.key, o.action) for o in report.outcomes] == [(str(fresh.id), Action.ISSUED)]
        notes = [d for d in igest.finals() if d.type == "NC"]
        assert [n.gross_total for n in notes] == [Decimal("35.00")]
        assert ledger.invoiced_without_credit(cancelled=True) == {}
        again = run(ledger, js, igest)
        assert again.outcomes == [] and len([d for d in igest.finals() if d.type == "NC"]) == 1
        assert js.calls == QUIET and invoice.number


def test_an_order_back_from_cancelled_is_read_again_and_the_counts_agree_again():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        made = history(ledger, js, igest, 300)
        back = made[30]
        assert back.status == "canceled"
        js.orders[back.id] = replace(back, status="abandoned")
        run(ledger, js, igest)
        assert ledger.order(back.id).status == "abandoned"
        report = run(ledger, js, igest)
        assert report.notices == [] and js.calls == QUIET


def test_nothing_invoiced_yet_costs_no_cancellation_request():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        js.add(paid_order(5, created_at=NOW - timedelta(days=1), status="canceled"))
        ledger.complete_listing(5)
        quiet_meta(ledger)
        run(ledger, js, igest)
        assert js.calls == ["orders_after"]  # nothing invoiced: no count, no sweep


def test_a_cancellation_listing_that_fails_is_a_notice_and_the_next_run_finds_it():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        made = history(ledger, js, igest, 300)
        old = made[101]
        cancel(js, old.id)
        js.faults.add("order_page", "5xx")
        report = run(ledger, js, igest)
        assert any("Could not look for cancelled orders" in n for n in report.notices)
        report = run(ledger, js, igest)
        assert any(f"Order {old.id} was cancelled after" in n for n in report.notices)


def test_the_watch_starts_at_the_first_invoice_not_at_the_first_order():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        made = history(ledger, js, igest, 30)
        assert made[0].status == "canceled" and made[1].status == "paid"
        run(ledger, js, igest)
        [(page, size, status, first, last)] = js.called("order_page")
        assert status == "canceled" and first == made[1].created_at.date()
        assert last == NOW.date() + timedelta(days=1)
        assert page == 1 and size == 100  # 8 cancelled since: the first page is the listing


@pytest.mark.parametrize("seed", range(12))
def test_any_mix_of_late_changes_is_found_within_one_turn_of_the_sweep(seed):
    """Several invoiced orders cancelled at once, an order the ledger never saw, one set back
    from cancelled, in either listing order: the count finds them at the first pass, except
    when one set back hides one cancelled from it; the sweep finds that one within one turn.
    Then a pass is the count and one chunk of the sweep."""
    import random

    rng = random.Random(seed)
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        js.newest_first = rng.random() < 0.5
        made = history(ledger, js, igest, rng.choice([120, 600, 2400]))
        paid = [o for o in made if o.status == "paid"]
        for order in rng.sample(paid, rng.randint(1, 6)):
            cancel(js, order.id)
        if rng.random() < 0.5:  # created in the watch, never recorded, cancelled
            ghost = made[len(made) // 2]
            js.add(replace(ghost, id=ghost.id + 100_000, status="canceled"))
        back_too = None
        if rng.random() < 0.5:  # set back from cancelled
            back_too = rng.choice([o for o in made if o.status == "canceled"][1:])
            js.orders[back_too.id] = replace(back_too, status="abandoned")
        credits = InvoiceRun.build(config(), ledger, js, igest, now=NOW).credits
        watch = made[1].created_at
        missed = [
            o.id
            for o in js.orders.values()
            if o.status == "canceled"
            and o.created_at >= watch
            and ((r := ledger.order(o.id)) is None or r.status != "canceled")
        ]
        assert missed  # something to find
        js.calls.clear()
        credits._cancelled_orders().find_cancellations()
        assert len(js.calls) <= 40, js.calls
        first_pass_found = all(
            (r := ledger.order(i)) is not None and r.status == "canceled" for i in missed
        )
        # One turn of the sweep at most (a swap hides from the count, not from the sweep).
        chunks = len([o for o in js.orders.values() if o.status == "canceled"]) // 90 + 2
        for _ in range(chunks):
            credits._cancelled_orders().find_cancellations()
        for order in js.orders.values():
            if order.status == "canceled" and order.created_at >= watch:
                record = ledger.order(order.id)
                assert record is not None and record.status == "canceled", order.id
        if back_too is None:  # without a swap, the first pass found everything
            assert first_pass_found
        js.calls.clear()
        credits._cancelled_orders().find_cancellations()
        assert js.calls == ["order_page", "orders_created_between"]


def test_an_invoice_recorded_later_for_an_older_order_moves_the_watch_back():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        made = history(ledger, js, igest, 30)
        run(ledger, js, igest)
        [(_, _, _, first, _)] = js.called("order_page")
        assert first == made[1].created_at.date()
        # A backfill (or a rebuild) adopts the invoice of an order created before the watch.
        older = paid_order(900, created_at=NOW - YEARS - timedelta(days=40))
        js.add(older)
        record_order(ledger, older)
        reference = external_reference(STORE, older.id)
        ledger.ensure_work(older.id, Kind.INVOICE, reference)
        ledger.record_final(older.id, Kind.INVOICE, igest.hold(reference), email=False)
        for fake in (js, igest):
            fake.log.clear()
        run(ledger, js, igest)
        [(_, _, _, first, _)] = js.called("order_page")
        assert first == older.created_at.date()


def test_a_cron_run_tells_once_that_serve_stopped_sweeping_not_that_it_was_stopped():
    """A killed serve (no sweep for two intervals and more) was seen by `status` alone: cron's
    run, the one thing that still runs, now says so (printed once, then reminded; alerted),
    and says nothing of a serve stopped on purpose."""
    from igest_sync.state.inbox import LAST_SWEEP, SERVE_STOPPED

    with Ledger(Path(":memory:")) as ledger:
        js, igest = FakeJumpseller(), FakeIgest()
        history(ledger, js, igest, 10)
        ledger.set_meta(LAST_SWEEP, (NOW - timedelta(minutes=20)).isoformat())
        assert run(ledger, js, igest).notices == []  # within two sweeps and 5 minutes
        ledger.set_meta(LAST_SWEEP, (NOW - timedelta(minutes=26)).isoformat())
        report = run(ledger, js, igest)
        [told] = report.notices
        assert "serve is not running" in told and "every 10 minutes" in told
        assert told in report.alert_notices
        assert run(ledger, js, igest).notices == []  # once, then as a reminder
        ledger.set_meta(SERVE_STOPPED, (NOW - timedelta(minutes=25)).isoformat())
        assert run(ledger, js, igest, now=NOW + timedelta(days=2)).notices == []
