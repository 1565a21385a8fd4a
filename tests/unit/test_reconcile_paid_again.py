"""reconcile and an order paid again after its invoice was credited in full (a refund undone).

The customer paid, and iGEST holds an invoice and a credit note that cancel out: a sale without
an invoice. One order has one invoice (its reference), so ``--fix`` never issues another: a
person issues it by hand, as the runs' one-time notice says. A paid order credited in full for
a return (``credit --all``; Jumpseller keeps it paid) is no such problem.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from test_reconcile import NOV, STORE, FakeInvoiceRun, config, doc, igest, jumpseller, kinds, order

from igest_sync.fiscal.credit import CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.runs.credits.cancellations import note_paid_again
from igest_sync.runs.reconcile import PAID_AGAIN, ReconcileRun, compare
from igest_sync.state.ledger import Ledger

D = Decimal
SALE = 1002  # paid, invoiced, cancelled and credited, then paid again


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as opened:
        yield opened


def cancellation_note(order_id: int, gross: str = "50.00", occurrence: int = 1):
    """The credit pass's NC of a cancelled order: all that is left, for ``credit_reason``."""
    reason = config().invoice.credit_reason
    identity = RequestIdentity.of(order_id, CreditRequest(everything=True), reason)
    return replace(
        doc(order_id, gross, kind="credit"),
        external_reference=identity.reference(STORE, occurrence),
    )


def return_note(order_id: int, gross: str = "50.00"):
    """A person's ``credit N --all --reason Devolução``: the goods came back."""
    identity = RequestIdentity.of(order_id, CreditRequest(everything=True), "Devolução")
    return replace(
        doc(order_id, gross, kind="credit"), external_reference=identity.reference(STORE, 1)
    )


def run(ledger: Ledger | None = None, *documents, fix: bool = False):
    js, ig = jumpseller([order(1), order(SALE, total="70.20")]), igest([doc(1), *documents])
    cfg = config()
    return ReconcileRun(
        cfg.invoice,
        cfg.jumpseller.store,
        js,
        ig,
        ledger=ledger,
        resend=FakeInvoiceRun().resend,
    ).run(NOV, fix=fix)


def test_compare_flags_a_paid_order_credited_in_full_with_both_figures_and_what_to_do():
    invoice, note = doc(SALE, "70.20"), doc(SALE, "70.20", kind="credit")
    report = compare(
        [order(SALE, total="70.20")], [invoice, note], STORE, NOV, paid_again=lambda o, c: True
    )
    assert kinds(report) == [(PAID_AGAIN, SALE)]
    [problem] = report.problems
    assert (problem.expected, problem.found) == (D("70.20"), D("0.00"))
    assert problem.documents == (invoice.number, note.number)
    assert "70.20 EUR" in problem.detail and "0.00 EUR invoiced net" in problem.detail
    # As the runs' notice says it (runs/credits/cancellations.PAID_AGAIN).
    assert "issue this sale's invoice by hand in iGEST" in (problem.hint or "")
    assert not problem.fixable
    assert report.exit_code == 1
    assert report.to_json()["counts"][PAID_AGAIN] == 1
    assert report.to_json()["problems"][0]["found"] == "0.00"
    assert "1 paid again" in report.summary()


def test_compare_leaves_a_partial_credit_and_a_return_alone():
    orders = [order(1), order(2)]
    partly = [doc(1), doc(1, "20.00", kind="credit")]  # a line returned: 30 EUR still invoiced
    returned = [doc(2), doc(2, kind="credit")]
    undone = compare(orders, partly + returned, STORE, NOV, paid_again=lambda o, c: o.id == 1)
    assert undone.problems == []
    never_asked = compare(orders, partly + returned, STORE, NOV)
    assert never_asked.problems == []


def test_the_state_file_s_note_of_an_order_paid_again_makes_it_a_problem(ledger):
    # The runs noted it (told once); reconcile says it every time until it is settled.
    note_paid_again(ledger, SALE)
    report = run(ledger, doc(SALE, "70.20"), return_note(SALE, "70.20"))
    assert kinds(report) == [(PAID_AGAIN, SALE)]
    assert report.exit_code == 1


def test_the_cancellation_s_own_credit_note_says_it_without_the_state_file():
    report = run(None, doc(SALE, "70.20"), cancellation_note(SALE, "70.20"))
    assert kinds(report) == [(PAID_AGAIN, SALE)]
    # Cancelled, paid, cancelled again and paid again: the pass's second occurrence.
    again = run(
        None,
        doc(SALE, "70.20"),
        cancellation_note(SALE, "30.00"),
        cancellation_note(SALE, "40.20", occurrence=2),
    )
    assert kinds(again) == [(PAID_AGAIN, SALE)]


def test_a_return_credited_in_full_on_an_order_that_stays_paid_is_clean(ledger):
    report = run(ledger, doc(SALE, "70.20"), return_note(SALE, "70.20"))
    assert report.problems == [] and report.exit_code == 0


def test_fix_issues_no_second_invoice_and_leaves_it_to_a_person(ledger):
    FakeInvoiceRun.calls = []
    note_paid_again(ledger, SALE)
    report = run(ledger, doc(SALE, "70.20"), cancellation_note(SALE, "70.20"), fix=True)
    assert FakeInvoiceRun.calls == []
    assert [(p.kind, p.order_id) for p in report.remaining] == [(PAID_AGAIN, SALE)]
    assert report.exit_code == 1
    assert "Fixed 0; 1 left, each saying what comes next." in report.summary()
    assert "`reconcile --fix` does not issue it" in (report.problems[0].hint or "")


def test_the_invoice_a_person_issued_by_hand_settles_it(ledger):
    note_paid_again(ledger, SALE)
    by_hand = replace(
        doc("", "70.20", day="2026-11-20"), external_reference=None, notes=f"Encomenda {SALE}"
    )
    report = run(ledger, doc(SALE, "70.20"), cancellation_note(SALE, "70.20"), by_hand)
    assert report.problems == [] and report.exit_code == 0
    assert any(
        f"{by_hand.number} of 2026-11-20, not issued by igest-sync" in n for n in report.notices
    )
    # Another total is not it: named, still a problem.
    wrong = replace(by_hand, gross_total=D("7.02"), net_total=D("7.02"))
    unsettled = run(ledger, doc(SALE, "70.20"), cancellation_note(SALE, "70.20"), wrong)
    assert kinds(unsettled) == [(PAID_AGAIN, SALE)]
    assert wrong.number in unsettled.problems[0].documents
