"""reconcile with partial credit notes: several NCs per invoice, each with its own reference;
a cancellation is uncredited only while they credit less than the invoice; NCs that together
credit more than the invoice are flagged."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from test_reconcile import NOV, STORE, config, doc, igest, jumpseller, kinds, order

from igest_sync.models import DocumentLine
from igest_sync.references import parse_reference
from igest_sync.runs.reconcile import UNCREDITED, WRONG_TOTAL, ReconcileRun, compare

D = Decimal


def line(ref: str, qty: str, price: str) -> DocumentLine:
    return DocumentLine(ref, ref, D(qty), D(price), D(0), D("23.00"))


def invoice(order_id: int):
    lines = (line("SKU-1", "3", "10.00"), line("PORTES", "1", "20.00"))
    return replace(doc(order_id, "50.00"), lines=lines, prices_include_vat=True)


def note(order_id: int, seq: int, gross: str, *lines: DocumentLine, of: str):
    base = doc(order_id, gross, kind="credit")
    ref = base.external_reference + (f":{seq}" if seq > 1 else "")
    return replace(base, external_reference=ref, lines=lines, related_number=of)


def test_later_credit_note_references_belong_to_their_order():
    assert parse_reference("jumpseller:shop:7:credit:2", STORE) == (7, "credit")
    assert parse_reference("jumpseller:shop:7:credit:12", STORE) == (7, "credit")
    for odd in ("jumpseller:shop:7:credit:0", "jumpseller:shop:7:credit:1", "jumpseller:shop:7:x"):
        assert parse_reference(odd, STORE) == (None, "invoice"), odd


def test_partial_credits_of_a_cancelled_order_are_uncredited_until_they_add_up():
    fr = invoice(1)
    first = note(1, 1, "10.00", line("SKU-1", "1", "10.00"), of=fr.number)
    report = compare([order(1, status="canceled")], [fr, first], STORE, NOV)
    assert kinds(report) == [(UNCREDITED, 1)]
    assert "is credited only 10.00 EUR of 50.00 EUR (by NC " in report.problems[0].detail
    rest = note(
        1, 2, "40.00", line("SKU-1", "2", "10.00"), line("PORTES", "1", "20.00"), of=fr.number
    )
    report = compare([order(1, status="canceled")], [fr, first, rest], STORE, NOV)
    assert report.problems == []
    # A paid (not cancelled) order may be credited in part: that is not a problem.
    assert compare([order(1)], [fr, first], STORE, NOV).problems == []


def test_credit_notes_that_exceed_the_invoice_are_flagged():
    fr = invoice(1)
    a = note(1, 1, "20.00", line("SKU-1", "2", "10.00"), of=fr.number)
    b = note(1, 2, "20.00", line("SKU-1", "2", "10.00"), of=fr.number)
    report = compare([order(1)], [fr, a, b], STORE, NOV)
    assert kinds(report) == [(WRONG_TOTAL, 1)]
    detail = report.problems[0].detail
    assert f"SKU-1: 3 invoiced, 4 credited ({a.number}, {b.number})" in detail
    assert report.problems[0].documents == (fr.number, a.number, b.number)
    stray = note(1, 3, "5.00", line("OTHER", "1", "5.00"), of=fr.number)
    report = compare([order(1)], [fr, a, stray], STORE, NOV)
    assert "OTHER: not on" in report.problems[0].detail


def test_the_run_asks_iGEST_for_the_notes_of_an_invoice_that_looks_uncredited():
    fr = invoice(1)
    late = replace(
        note(1, 2, "50.00", *fr.lines, of=fr.number), date=NOV.last.replace(month=12, day=31)
    )
    js, ig = jumpseller([order(1, status="canceled")]), igest([fr, late])
    report = ReconcileRun(config().invoice, config().jumpseller.store, js, ig).run(NOV)
    assert ig.called("credit_notes_of") == [fr.number]
    assert report.problems == []


def test_an_uncredited_order_the_next_run_credits_says_so_beside_the_command():
    """credit_cancelled on and the order within credit_lookback_days: the next `invoice`
    credits it, so the hint says that a person need not act; older, or with the pass off, the
    command alone."""
    from datetime import UTC, datetime

    js, ig = jumpseller([order(1, status="canceled")]), igest([invoice(1)])

    def hint(now: datetime, **settings) -> str:
        cfg = config(**settings)
        run = ReconcileRun(cfg.invoice, cfg.jumpseller.store, js, ig, now=now)
        [problem] = run.run(NOV).problems
        return problem.hint

    soon = hint(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert soon.startswith("the next `igest-sync invoice` credits it (credit_cancelled); or now:")
    assert "igest-sync credit 1 --reason TEXT --all" in soon
    months_later = hint(datetime(2027, 6, 1, 12, 0, tzinfo=UTC))  # past the 90-day lookback
    assert months_later == "igest-sync credit 1 --reason TEXT --all"
    off = hint(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), credit_cancelled=False)
    assert off == "igest-sync credit 1 --reason TEXT --all"


def test_an_uncredited_order_whose_credit_note_was_refused_is_left_to_a_person():
    """The pass never retries a credit note iGEST refused for a reason a person must fix:
    reconcile must not say that the next run credits it."""
    from datetime import UTC, datetime
    from pathlib import Path

    from igest_sync.models import Kind
    from igest_sync.state.ledger import Ledger

    js, ig = jumpseller([order(1, status="canceled")]), igest([invoice(1)])
    cfg = config()
    with Ledger(Path(":memory:")) as ledger:
        ledger.ensure_work(1, Kind.CREDIT, "jumpseller:shop:1:credit:rabc", seq=2)
        ledger.fail(1, Kind.CREDIT, "refused: the customer's NIF", transient=False, seq=2)
        run = ReconcileRun(
            cfg.invoice,
            cfg.jumpseller.store,
            js,
            ig,
            ledger=ledger,
            now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        )
        [problem] = run.run(NOV).problems
    assert problem.hint == "igest-sync credit 1 --reason TEXT --all"
