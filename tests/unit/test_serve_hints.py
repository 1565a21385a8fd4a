"""serve's webhook work against in-memory fakes: a hint names an order, the API says what it is.

The order is read again for every hint, so a replayed, late or out-of-order delivery does the
right thing; a hint is deleted only once the order's outcome is in the ledger.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action, DocumentType, Kind, OrderLine, Tax, WorkState
from igest_sync.runs.invoicing.hints import MAX_ATTEMPTS, retry_delay, work_hints
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.wiring import credit_run
from igest_sync.state.inbox import ORDER
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
D = Decimal
VAT = (Tax("IVA 23", D(23), False, True),)


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the runs catches it."""


def config(**invoice: object) -> Config:
    settings = {"start_date": date(2026, 11, 1), "concurrency": 1} | invoice
    return fake_config(hooks_token="h", **settings)


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as ledger:
        ledger.advance_checkpoint(1)  # a store that has run before
        yield ledger


def hint(ledger: Ledger, order_id: int, event: str = "order_paid", at: datetime = NOW) -> None:
    ledger.record_hint(ORDER, order_id, event, triggered_at=None, received_at=at)


def work(ledger, js, ig, cfg=None, now=NOW):
    run = InvoiceRun.build(cfg or config(), ledger, js, ig, now=now)
    return work_hints(run, ledger.waiting_hints(now, 50), now=now)


def test_a_paid_order_is_invoiced_once_however_often_the_webhook_comes(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(10)]), FakeIgest()
    for _ in range(3):
        hint(ledger, 10)  # Jumpseller retries, or sends twice
    outcome = work(ledger, js, ig)
    assert [(o.key, o.action) for o in outcome.report.outcomes] == [("10", Action.ISSUED)]
    assert js.called("order") == [10]  # three deliveries, one order read
    assert ledger.hints_count() == 0
    hint(ledger, 10)  # a replay an hour later
    again = work(ledger, js, ig, now=NOW + timedelta(hours=1))
    assert again.report.outcomes == []
    assert len(ig.finals()) == 1
    assert ledger.checkpoint == 1  # only the sweep's listing moves the checkpoint


def test_the_status_read_now_decides_not_the_event(ledger):
    # "order_paid" for an order still waiting for payment: remembered, nothing issued.
    js, ig = FakeJumpseller(orders=[paid_order(11, status="pending_payment")]), FakeIgest()
    hint(ledger, 11, "order_paid")
    assert work(ledger, js, ig).report.outcomes == []
    assert [o.order_id for o in ledger.open_orders()] == [11]
    assert ig.finals() == []
    # "order_updated" once it is paid: invoiced.
    js.add(paid_order(11))
    hint(ledger, 11, "order_updated")
    assert [o.action for o in work(ledger, js, ig).report.outcomes] == [Action.ISSUED]


def test_cancelled_before_paid_issues_nothing_even_when_order_paid_comes_late(ledger):
    # Never paid: no payment time (a paid order later cancelled keeps its completed_at, and
    # is looked up in iGEST for an invoice the ledger may not know: test_simulation's 240001139).
    never_paid = replace(paid_order(12, status="canceled"), completed_at=None)
    js, ig = FakeJumpseller(orders=[never_paid]), FakeIgest()
    hint(ledger, 12, "order_canceled")
    hint(ledger, 12, "order_paid")  # out of order
    assert work(ledger, js, ig).report.outcomes == []
    assert ig.finals() == [] and ledger.work(12) is None


def test_a_cancelled_invoiced_order_of_any_age_is_credited_once(ledger):
    old = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
    cfg = config(start_date=date(2025, 1, 1))
    js, ig = FakeJumpseller(orders=[paid_order(13, "24.60", paid_at=old)]), FakeIgest()
    hint(ledger, 13)
    work(ledger, js, ig, cfg)
    js.add(replace(js.orders[13], status="canceled"))
    hint(ledger, 13, "order_canceled")
    hint(ledger, 13, "order_canceled")
    outcome = work(ledger, js, ig, cfg)
    assert [(o.key, o.action, o.kind) for o in outcome.report.outcomes] == [
        ("13", Action.ISSUED, Kind.CREDIT)
    ]
    hint(ledger, 13, "order_canceled")  # replayed later: nothing left to credit
    assert work(ledger, js, ig, cfg).report.outcomes == []
    notes = [d for d in ig.finals() if d.type == DocumentType.NC]
    assert len(notes) == 1 and notes[0].gross_total == paid_order(13, "24.60").total
    # Paid again after the refund: one order has one invoice; a person is told.
    js.add(replace(js.orders[13], status="paid"))
    hint(ledger, 13, "order_paid")
    again = work(ledger, js, ig, cfg)
    assert again.report.outcomes == []
    assert [n for n in again.report.notices if "Order 13: paid again" in n]


def test_a_partial_credit_killed_then_the_cancellation_webhook_credits_both_at_once(ledger):
    # A person's `credit --line` was killed before it reached iGEST; then the customer
    # cancelled. The webhook's batch finishes that credit as it was asked and credits the rest
    # (the pass of `invoice` does the same: credits/cancellations.py).
    lines = (
        OrderLine(1, None, "SKU-1", "Caneca", D(3), D("10.00"), D(0), VAT),
        OrderLine(2, None, "SKU-2", "Prato", D(1), D("5.00"), D(0), VAT),
    )
    order = replace(paid_order(17, "35.00"), lines=lines)
    js, ig, cfg = FakeJumpseller(orders=[order]), FakeIgest(), config(link_documents=False)
    hint(ledger, 17)
    work(ledger, js, ig, cfg)

    def killed(step: str) -> None:
        if step == "request":
            raise Killed(step)

    with pytest.raises(Killed):
        credit_run(cfg, ledger, js, ig, now=NOW, crash_hook=killed).credit(
            17, CreditRequest.parse(["SKU-1:1"]), "Devolução", confirm=lambda plan: True
        )
    js.add(replace(order, status="canceled"))
    hint(ledger, 17, "order_canceled")
    outcome = work(ledger, js, ig, cfg)
    assert [(o.action, o.kind) for o in outcome.report.outcomes] == [
        (Action.ISSUED, Kind.CREDIT),
        (Action.ISSUED, Kind.CREDIT),
    ]
    notes = [d.gross_total for d in ig.finals() if d.type == DocumentType.NC]
    assert sorted(notes) == [D("10.00"), D("25.00")]
    assert ledger.invoiced_without_credit() == {}


def test_credit_cancelled_off_points_a_person_to_the_credit_command(ledger):
    cfg = config(credit_cancelled=False)
    js, ig = FakeJumpseller(orders=[paid_order(14)]), FakeIgest()
    hint(ledger, 14)
    work(ledger, js, ig, cfg)
    js.add(replace(js.orders[14], status="canceled"))
    hint(ledger, 14, "order_canceled")
    outcome = work(ledger, js, ig, cfg)
    assert any("igest-sync credit 14" in n for n in outcome.report.notices)
    assert [d for d in ig.finals() if d.type == DocumentType.NC] == []


def test_before_the_start_date_or_from_the_till_it_is_skipped_and_said(ledger):
    early = datetime(2026, 10, 30, 10, 0, tzinfo=UTC)
    js = FakeJumpseller(orders=[paid_order(15, paid_at=early)])
    ig = FakeIgest()
    hint(ledger, 15)
    [skipped] = work(ledger, js, ig).report.outcomes
    assert skipped.action == Action.SKIPPED and "before the start date" in skipped.detail
    assert ig.finals() == [] and ledger.hints_count() == 0


def test_an_order_not_shown_yet_and_an_unreachable_jumpseller_postpone(ledger):
    js, ig = FakeJumpseller(), FakeIgest()
    # A signed delivery whose order the API does not show yet (its webhook came first): tried
    # again in seconds like any failed read, then issued once the API shows it.
    hint(ledger, 404)
    assert (work(ledger, js, ig).postponed, ledger.hints_count()) == (1, 1)
    js.add(paid_order(404))
    soon = NOW + timedelta(seconds=3)
    assert [o.action for o in work(ledger, js, ig, now=soon).report.outcomes] == [Action.ISSUED]
    assert ledger.hints_count() == 0
    js.add(paid_order(16))
    js.faults.add("order", "5xx")
    hint(ledger, 16)
    outcome = work(ledger, js, ig)
    assert (outcome.postponed, ledger.hints_count()) == (1, 1)
    assert ledger.waiting_hints(NOW, 50) == []  # not due again yet
    later = NOW + timedelta(minutes=1)
    [due] = ledger.waiting_hints(later, 50)
    assert due.attempts == 1
    assert [o.action for o in work(ledger, js, ig, now=later).report.outcomes] == [Action.ISSUED]


def test_after_max_attempts_the_hint_is_left_to_the_sweep(ledger):
    js = FakeJumpseller(orders=[paid_order(17)])
    js.faults.add("order", "5xx", times=None)
    hint(ledger, 17)
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        work(ledger, js, FakeIgest(), now=now)
        now += timedelta(hours=1)
    assert ledger.hints_count() == 0
    assert ledger.work(17) is None  # nothing recorded as done: the sweep finds it paid


def test_a_stop_finishes_the_order_in_flight_and_leaves_the_rest_in_the_inbox(ledger):
    import threading

    js = FakeJumpseller(orders=[paid_order(20), paid_order(21)])
    ig = FakeIgest()
    for order_id in (20, 21):
        hint(ledger, order_id)
    stop = threading.Event()
    read = js.order

    def read_then_stop(order_id: int):
        stop.set()  # SIGTERM arrives while order 20 is being worked
        return read(order_id)

    js.order = read_then_stop  # type: ignore[method-assign]
    run = InvoiceRun.build(config(), ledger, js, ig, now=NOW, stop=stop)
    outcome = work_hints(run, ledger.waiting_hints(NOW, 50), now=NOW)
    assert outcome.stopped
    assert [d.external_reference for d in ig.finals()] == ["jumpseller:loja:20"]
    assert ledger.work(20).state == WorkState.FINAL and ledger.work(21) is None
    [left] = ledger.waiting_hints(NOW, 50)
    assert left.subject_id == 21
    js.order = read  # type: ignore[method-assign]
    assert [o.action for o in work(ledger, js, ig).report.outcomes] == [Action.ISSUED]


def test_on_a_lost_state_file_a_webhook_adopts_what_iGEST_holds_and_issues_nothing():
    with Ledger(Path(":memory:")) as fresh:  # no run has used it: nothing known
        js, ig = FakeJumpseller(orders=[paid_order(30)]), FakeIgest()
        ig.hold("jumpseller:loja:30", gross_total="12.30")
        hint(fresh, 30)
        [adopted] = work(fresh, js, ig).report.outcomes
        assert adopted.action == Action.ADOPTED
        assert len(ig.finals()) == 1 and ig.called("create_document") == []


def test_once_a_run_has_listed_iGEST_a_webhook_issues_without_a_lookup(ledger):
    ledger.set_meta("last_run_at", NOW.isoformat())
    js, ig = FakeJumpseller(orders=[paid_order(31), paid_order(32)]), FakeIgest()
    hint(ledger, 31)
    hint(ledger, 32)
    outcomes = work(ledger, js, ig).report.outcomes
    assert [o.action for o in outcomes] == [Action.ISSUED, Action.ISSUED]
    # Two writes per order (the burst's bound), and one listing per batch of the documents
    # iGEST issued since the orders were paid (a state file put back from a copy would not
    # know them), not a lookup per order.
    assert ig.called("find_documents") == [{"date_from": date(2026, 11, 20)}]


def test_while_a_rebuild_listing_is_unfinished_a_webhook_looks_iGEST_up_first(ledger):
    # A checkpoint from an older listing, but a rebuild a kill cut short: the ledger may not
    # know what iGEST holds, so the webhook's order is looked up and adopted, not issued again.
    ledger.set_meta("last_run_at", NOW.isoformat())
    ledger.begin_listing(date(2026, 10, 1))
    js, ig = FakeJumpseller(orders=[paid_order(32)]), FakeIgest()
    ig.hold("jumpseller:loja:32", gross_total="12.30")
    hint(ledger, 32)
    assert [o.action for o in work(ledger, js, ig).report.outcomes] == [Action.ADOPTED]
    assert ig.called("create_document") == []


def test_in_review_mode_a_webhook_makes_one_draft_that_waits_however_often_it_comes(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(10)]), FakeIgest()
    hint(ledger, 10)
    first = work(ledger, js, ig, config(review=True))
    assert [o.action for o in first.report.outcomes] == [Action.DRAFTED]
    assert ledger.work(10).state == WorkState.REVIEW
    hint(ledger, 10, "order_updated")  # a replay, or an update of the same paid order
    again = work(ledger, js, ig, config(review=True), now=NOW + timedelta(minutes=5))
    assert [o.action for o in again.report.outcomes] == [Action.DRAFTED]
    assert ig.calls.count("create_document") == 1 and ig.finals() == []
    # Cancelled while its draft waits: the draft is deleted, nothing is ever finalized.
    js.add(replace(paid_order(10), status="canceled"))
    hint(ledger, 10, "order_canceled")
    gone = work(ledger, js, ig, config(review=True), now=NOW + timedelta(minutes=10))
    assert [o.action for o in gone.report.outcomes] == [Action.SKIPPED]
    assert [d for d in ig.documents.values() if d.status == "draft"] == [] and ig.finals() == []


def _until_done(ledger, js, ig, start: datetime, *, limit: int = 20) -> datetime:
    """Work the inbox as the worker does, each time at the moment the next hint is due; the
    (virtual) moment the inbox is empty."""
    now = start
    for _ in range(limit):
        work(ledger, js, ig, now=now)
        due = ledger.next_hint_due()
        if ledger.hints_count() == 0:
            return now
        assert due is not None
        now = max(now, due)
    raise AssertionError("the inbox never emptied")


@pytest.mark.parametrize("step", ["create_document", "finalize_document"])
def test_a_lost_igest_answer_is_retried_within_seconds_and_issued_once(ledger, step):
    """iGEST did the write, its answer was lost (a 502 after the fact): the hint is kept and
    worked again 2 s later, through the look-up by reference; one invoice, in seconds."""
    ledger.set_meta("last_run_at", NOW.isoformat())
    js, ig = FakeJumpseller(orders=[paid_order(40)]), FakeIgest()
    ig.faults.add(step, "5xx", after=True)
    hint(ledger, 40)
    first = work(ledger, js, ig)
    [lost] = first.report.quiet  # retried by itself: nothing for a person
    assert lost.transient and first.report.outcomes == [] and first.postponed == 1
    assert ledger.waiting_hints(NOW + timedelta(seconds=1), 50) == []
    done = _until_done(ledger, js, ig, NOW)
    assert done - NOW < timedelta(seconds=15)
    assert done - NOW == retry_delay(0) == timedelta(seconds=2)
    assert len(ig.finals()) == 1 and len(ig.called("create_document")) == 1
    assert ledger.work(40).state == WorkState.FINAL


def test_a_failure_that_lasts_backs_off_and_is_left_to_the_sweep_at_the_bound(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(41)]), FakeIgest()
    ig.faults.add("create_document", "5xx", times=None)  # iGEST refuses every draft
    hint(ledger, 41)
    now, waits = NOW, []
    for _ in range(MAX_ATTEMPTS):
        outcome = work(ledger, js, ig, now=now)
        assert outcome.report.outcomes == []  # never printed while retried
        due = ledger.next_hint_due()
        if due is None:
            break
        waits.append((due - now).total_seconds())
        now = due
    assert waits == [2, 4, 8, 16, 32, 60, 60]
    assert ledger.hints_count() == 0  # the bound: the work stays failed, the sweep retries it
    failed = ledger.work(41)
    assert failed.state == WorkState.FAILED and failed.transient
    assert len(ig.called("create_document")) == MAX_ATTEMPTS


def test_a_return_credited_in_full_on_an_order_that_stays_paid_is_no_paid_again(ledger):
    # A person's `credit --all` for a return: Jumpseller keeps the order paid. A later delivery
    # (order_updated: shipped, a note) is no refund undone; "invoice it by hand" would be a
    # wrong second invoice.
    cfg = config()
    js, ig = FakeJumpseller(orders=[paid_order(21)]), FakeIgest()
    hint(ledger, 21)
    work(ledger, js, ig, cfg)
    credit_run(cfg, ledger, js, ig, now=NOW).credit(
        21, CreditRequest(everything=True), "Devolução", confirm=lambda plan: True
    )
    assert ledger.credited_in_full(21)
    hint(ledger, 21, "order_updated")
    later = work(ledger, js, ig, cfg)
    assert not [n for n in later.report.alert_notices if "paid again" in n]


def test_under_the_small_business_exemption_webhooks_are_worked_one_at_a_time_oldest_first(
    ledger, monkeypatch
):
    # As `invoice` does: the order that crosses 18,750 EUR must be the first in payment order,
    # not whichever of several workers reached the guard first (the crossing is kept a year).
    from igest_sync.runs.invoicing import hints

    seen = []
    real = hints.in_parallel

    def watched(items, work, *, workers, **kw):
        seen.append(([h.subject_id for h in items], workers))
        return real(items, work, workers=workers, **kw)

    monkeypatch.setattr(hints, "in_parallel", watched)
    js = FakeJumpseller(orders=[paid_order(i) for i in (33, 31, 32)])
    for order_id in (33, 31, 32):
        hint(ledger, order_id)
    cfg = config(
        vat_regime="art53",
        concurrency=4,
        product_exemption_code="M10",
        shipping_exemption_code="M10",
    )
    work(ledger, js, FakeIgest(), cfg)
    assert seen == [([31, 32, 33], 1)]


def test_a_rejected_order_is_never_drafted_again_by_a_later_webhook_nor_the_sweep(ledger):
    # A person rejected the draft serve made (it is wrong, or the order was invoiced by hand):
    # it waits for `resend`, as `invoice` leaves it. A later delivery (order_updated: shipped,
    # a note) and the sweep's listing of the order past the checkpoint drafted it again, and
    # finalized it once review was off: a second invoice.
    from igest_sync.runs.invoicing import review

    js, ig = FakeJumpseller(orders=[paid_order(10)]), FakeIgest()
    hint(ledger, 10)
    work(ledger, js, ig, config(review=True))
    assert review.reject(ledger, ig, 10, now=NOW).action == Action.REJECTED
    later = NOW + timedelta(hours=1)
    hint(ledger, 10, "order_updated", at=later)
    outcome = work(ledger, js, ig, config(review=False), now=later)
    assert outcome.report.outcomes == [] and ledger.hints_count() == 0
    InvoiceRun.build(config(review=False), ledger, js, ig, now=later).run()  # the sweep
    assert len(ig.called("create_document")) == 1
    assert ig.finals() == []
    rejected = ledger.work(10)
    assert (rejected.state, rejected.transient) == (WorkState.FAILED, False)
    assert rejected.error.startswith("rejected by a person")
