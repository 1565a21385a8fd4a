"""``adopt`` against the in-process sandbox seeded with a period the hosted "Quick Invoice" app
invoiced: matches by number, notes and facts, the record "issued elsewhere", the first run's
guard, ``credit`` of an adopted invoice exactly once, and ``reconcile``/``status`` counting it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from igest_sandbox.data import BUYERS
from igest_sandbox.hosted_app import HOSTED_FAIR_TOTAL, HOSTED_SERIES
from igest_sandbox.jumpseller.orders import Buyer
from igest_sync import cli
from igest_sync.config import Config
from igest_sync.errors import UsageError
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action, Kind, WorkState
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.hold import reviewed_periods
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.reconcile import Period, ReconcileRun
from igest_sync.runs.setup.adopt import AdoptRun
from igest_sync.runs.setup.status import build_status
from igest_sync.runs.wiring import credit_run
from igest_sync.state.ledger import Ledger
from tests.support import inprocess_world

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple]:
    with inprocess_world.world(
        tmp_path, NOW, start_date=date(2026, 11, 1), sandbox={"hosted_app": True}
    ) as w:
        yield w.sb, w.config, w.ledger, w.js, w.ig


def adopt(world, first=OCTOBER[0], last=OCTOBER[1], **kwargs):
    _, config, ledger, js, ig = world
    return AdoptRun(RunContext.build(config, ledger, js, ig, now=NOW)).run(first, last, **kwargs)


def by_number(report) -> dict:
    return {m.document.number: m for m in report.matches}


def reconcile(config: Config, js: object, ig: object, ledger: Ledger) -> ReconcileRun:
    """``reconcile`` as the CLI composes it: ``--fix`` resends through an invoice run."""
    resend = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend  # type: ignore[arg-type]
    return ReconcileRun(
        config.invoice,
        config.jumpseller.store,
        js,
        ig,
        ledger=ledger,
        now=NOW,
        resend=resend,  # type: ignore[arg-type]
    )


def test_matches_by_number_notes_and_facts_and_names_the_ambiguous_and_unmatched(world):
    report = adopt(world, dry_run=True)
    found = by_number(report)
    assert {n: (m.verdict, m.order_id) for n, m in found.items()} == {
        "FR QI/1": ("sure", 9001),
        "FR QI/2": ("sure", 9002),
        "FR QI/3": ("sure", 9003),
        "FR QI/4": ("sure", 9004),
        "FR QI/5": ("ambiguous", None),
        "FR QI/6": ("ambiguous", None),
        "FR QI/7": ("unmatched", None),
    }
    assert found["FR QI/1"].how == "order number in its reference"
    assert found["FR QI/3"].how == "order number in its notes"
    assert found["FR QI/4"].how == "total, payment day and NIF"
    assert found["FR QI/5"].candidates == (9005, 9006)
    assert found["FR QI/7"].document.gross_total == HOSTED_FAIR_TOTAL
    # A dry run records nothing.
    _, _, ledger, _, _ = world
    assert ledger.issued_elsewhere() == {}
    assert report.to_json()["counts"] == {"sure": 4, "ambiguous": 2, "unmatched": 1, "adopted": 0}


def test_recorded_after_asking_and_never_twice(world):
    _, _, ledger, _, _ = world
    asked = []
    declined = adopt(world, confirm=lambda r: asked.append(r) or False)
    assert declined.declined and asked and ledger.issued_elsewhere() == {}
    report = adopt(world, confirm=lambda r: True)
    assert sorted(m.order_id for m in report.recorded) == [9001, 9002, 9003, 9004]
    elsewhere = ledger.issued_elsewhere()
    assert {i: d.number for i, d in elsewhere.items()} == {
        9001: "FR QI/1",
        9002: "FR QI/2",
        9003: "FR QI/3",
        9004: "FR QI/4",
    }
    assert ledger.work(9001).state == WorkState.FINAL
    again = adopt(world, confirm=lambda r: pytest.fail("nothing left to ask"))
    assert again.count("adopted") == 4 and not again.recorded


def test_a_person_picks_an_ambiguous_match(world):
    _, _, ledger, _, _ = world
    report = adopt(world, picks={"FR QI/6": 9006}, confirm=lambda r: True)
    assert by_number(report)["FR QI/6"].recorded
    # Its twin is now the only candidate left for the other order, but stays a question:
    # the customer cannot be told from the document.
    assert by_number(report)["FR QI/5"].verdict == "ambiguous"
    assert ledger.issued_elsewhere()[9006].number == "FR QI/6"
    with pytest.raises(UsageError, match="FR QI/99"):
        adopt(world, picks={"FR QI/99": 9005}, dry_run=True)
    # A mistyped order number is the person's to fix (exit 2), not a service failure.
    with pytest.raises(UsageError, match="Jumpseller has no order 99999"):
        adopt(world, picks={"FR QI/5": 99999}, dry_run=True)


def test_first_invoice_stops_before_a_day_with_documents_not_ours(world):
    sb, config, ledger, js, ig = world
    before = len(sb.igest.documents)
    with pytest.raises(UsageError) as stopped:
        InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert "FR QI/8 of 2026-11-02" in stopped.value.message
    assert "igest-sync adopt --from 2026-11-02 --to 2026-11-03" in (stopped.value.hint or "")
    assert "start_date to 2026-11-04" in (stopped.value.hint or "")
    assert len(sb.igest.documents) == before and ledger.checkpoint is None
    # The dry run stops the same way, before anything.
    with pytest.raises(UsageError):
        InvoiceRun.build(config, ledger, js, ig, now=NOW).run(dry_run=True)
    # After adopt over those days, the run goes on and never invoices the adopted orders.
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    issued = {int(o.key) for o in report.outcomes if o.action == Action.ISSUED}
    assert issued and not issued & {10001, 10002}
    code = sb.credentials["jumpseller"]["login"]
    ours = sb.igest.final_documents_by_reference()
    assert f"jumpseller:{code}:10001" not in ours and f"jumpseller:{code}:10003" in ours


def test_a_later_run_holds_an_order_another_integration_invoiced_since_the_switch(world):
    """The hosted app left on after the switch invoices a payment too: the next run issued a
    second invoice (FR A/... beside FR QI/...) and reconcile called the period clean. The run
    holds the order for a person instead; `adopt` then records the app's invoice as its own,
    and a document that only names the order, for another total, holds nothing."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    for order_id in (10015, 10016):
        sb.store.pay_order(order_id, at=NOW)
    order = sb.store.orders[10015]
    _issue(sb.igest, order, day=NOW.date().isoformat(), reference="QI-10015")
    # A note naming 10016 on a document of another total is not its invoice.
    _issue(sb.igest, order, day=NOW.date().isoformat(), reference=None, notes="10016 troca")
    before = len(sb.igest.documents)
    # The dry run says so too, before anything is issued.
    preview = InvoiceRun.build(config, ledger, js, ig, now=NOW).run(dry_run=True)
    would = {int(o.key): o for o in preview.outcomes}
    assert would[10016].action == Action.WOULD_ISSUE
    assert would[10015].action == Action.WOULD_FAIL and "FR QI/" in would[10015].detail
    report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    outcomes = {int(o.key): o for o in report.outcomes}
    assert outcomes[10016].action == Action.ISSUED
    held = outcomes[10015]
    assert held.detail == would[10015].detail  # word for word
    assert held.action == Action.FAILED and not held.transient
    assert "FR QI/" in held.detail and "names this order in its reference" in held.detail
    assert "igest-sync adopt --from 2026-11-20 --to 2026-11-20" in held.detail
    assert "igest-sync resend 10015" in held.detail
    code = sb.credentials["jumpseller"]["login"]
    assert f"jumpseller:{code}:10015" not in sb.igest.final_documents_by_reference()
    assert len(sb.igest.documents) == before + 1  # 10016's only
    # The next run holds it again; adopt records the app's invoice, and it is settled.
    again = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert all(o.action != Action.ISSUED for o in again.outcomes)
    one = adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    assert one.summary().startswith("2 documents not issued by igest-sync from 2026-11-20")
    one.matches = one.matches[:1]  # said in the singular too ("1 documents" before)
    assert one.summary().startswith("1 document not issued by igest-sync from 2026-11-20")
    assert ledger.work(10015, Kind.INVOICE).state == WorkState.FINAL
    assert len(sb.igest.documents) == before + 1


def test_a_held_order_cancelled_before_adopt_stays_for_a_person_then_is_credited(world):
    """The hosted app invoiced a payment (FR QI/... naming the order), the run held the order,
    and the customer cancelled before anyone ran `adopt`: the next run dropped the order as
    "cancelled before it was invoiced", and the app's invoice of a refunded sale stayed
    uncredited with nothing said. It stays failed, naming that invoice; once adopted, the
    cancellation pass credits it."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10015, at=NOW)
    _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")
    held = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert {int(o.key): o.action for o in held.outcomes}[10015] == Action.FAILED
    sb.store.cancel_order(10015)
    preview = InvoiceRun.build(config, ledger, js, ig, now=NOW).run(dry_run=True)
    report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    for outcome, action in ((preview, Action.WOULD_FAIL), (report, Action.FAILED)):
        [mine] = [o for o in outcome.outcomes if o.key == "10015"]
        assert mine.action == action, mine.detail
        assert "FR QI/" in mine.detail and "cancelled" in mine.detail
        assert "credit" in mine.detail and "adopt --from 2026-11-20" in mine.detail
    assert report.exit_code == 1 and ledger.work(10015, Kind.INVOICE).state == WorkState.FAILED
    # `credit` cannot credit a document not recorded: it says which, not "not issued yet".
    with pytest.raises(UsageError) as asked:
        credit_run(config, ledger, js, ig, now=NOW).credit(
            10015, CreditRequest(everything=True), "Devolução", dry_run=True
        )
    refused = asked.value.hint or ""
    assert "FR QI/10" in refused and "must be credited" in refused, refused
    assert "not issued yet" not in refused
    adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    # A person who resends it now is told the credit note is still due, and who issues it.
    resent = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([10015], by_a_person=True)
    assert [o.action for o in resent.outcomes] == [Action.ALREADY]
    [due] = resent.notices
    assert "Order 10015 is cancelled and invoiced: its credit note is due" in due
    assert "the next `igest-sync invoice` credits it" in due and "credit 10015 --all" in due
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    notes = [d for d in sb.igest.documents if d["type"] == "NC" and d["status"] == "final"]
    assert [n["related_document"]["number"] for n in notes] == ["FR QI/10"]


def test_adopt_keeps_to_a_resend_that_said_the_document_is_not_the_orders_invoice(world):
    """`resend ORDER` after the hold said FR QI/10 is not 10015's invoice; a later adopt of that
    day recorded it as 10015's all the same, and the next run credited it."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10015, at=NOW)
    _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.cancel_order(10015)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    resent = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([10015], by_a_person=True)
    assert [o.action for o in resent.outcomes] == [Action.SKIPPED]
    report = adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    [qi] = [m for m in report.matches if m.document.number == "FR QI/10"]
    assert qi.verdict == "unmatched" and "resend 10015" in qi.how, qi.how
    assert 10015 not in ledger.issued_elsewhere()
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert [d for d in sb.igest.documents if d["type"] == "NC"] == []
    # A person's pick still records it: their later decision.
    adopt(world, NOW.date(), NOW.date(), picks={"FR QI/10": 10015}, confirm=lambda r: True)
    assert ledger.issued_elsewhere()[10015].number == "FR QI/10"


def test_reconcile_names_a_cancelled_sale_another_integration_invoiced_and_nobody_credited(world):
    """The hosted app invoiced a payment, the customer cancelled: reconcile said nothing of an
    invoice of a refunded sale without its credit note. It is uncredited, until adopt records
    it and the next run credits it."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10015, at=NOW)
    _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")
    sb.store.cancel_order(10015)
    november = Period(date(2026, 11, 1), date(2026, 11, 20))
    report = reconcile(config, js, ig, ledger).run(november)
    [uncredited] = [p for p in report.problems if p.order_id == 10015]
    assert uncredited.kind == "uncredited" and not uncredited.fixable
    assert "FR QI/10" in uncredited.detail and "not issued by igest-sync" in uncredited.detail
    assert "igest-sync adopt --from 2026-11-20 --to 2026-11-20" in (uncredited.hint or "")
    adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    after = reconcile(config, js, ig, ledger).run(november)
    assert [p for p in after.problems if p.order_id == 10015] == []


def test_the_hold_covers_a_retry_the_days_since_the_order_and_resend_decides_what_it_was_told(
    world,
):
    """Held only on a first attempt and from the payment day: an order that failed first (a
    502) was given a second invoice by its retry, and one the app invoiced as it was placed
    (before the payment) too. And `resend` for another reason (a VAT number) issued beside a
    document its person was never told of; for one they were told of, reconcile kept calling
    the sale invoiced twice after their decision."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)

    def run():
        report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
        return {int(o.key): o for o in report.outcomes + report.quiet}

    run()
    # The app invoiced 10015 the day it was placed (18 November); it is paid two days later.
    _issue(sb.igest, sb.store.orders[10015], day="2026-11-18", reference=None, notes="Enc. 10015")
    sb.faults.add("igest", "502", method="POST", path=r"^/v1/documents$", times=None)
    sb.store.pay_order(10016, at=NOW)
    assert run()[10016].transient  # its first attempt fails by itself
    sb.faults.clear()
    _issue(sb.igest, sb.store.orders[10016], day=NOW.date().isoformat(), reference="QI-10016")
    held = run()[10016]
    assert held.action == Action.FAILED and not held.transient and "FR QI/" in held.detail
    sb.store.pay_order(10015, at=NOW)
    assert "of 2026-11-18" in run()[10015].detail
    code = sb.credentials["jumpseller"]["login"]
    ours = sb.igest.final_documents_by_reference()
    assert f"jumpseller:{code}:10015" not in ours and f"jumpseller:{code}:10016" not in ours
    # The person read 10016's hold and decides it is not the sale's invoice: ours is issued,
    # and reconcile keeps to that decision.
    resent = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([10016], by_a_person=True)
    assert [o.action for o in resent.outcomes] == [Action.ISSUED]
    report = reconcile(config, js, ig, ledger).run(Period(date(2026, 11, 1), NOW.date()))
    assert not [p for p in report.problems if p.kind == "duplicate" and p.order_id == 10016]


def test_a_blanket_retry_or_reconcile_fix_never_issues_an_order_a_document_not_ours_holds(world):
    """`resend --failed` and `reconcile --fix` passed as the person's decision about the
    document the hold named, and issued the sale a second invoice beside the hosted app's."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    # 10015: the app invoiced it the day it was placed, before reconcile's period.
    _issue(sb.igest, sb.store.orders[10015], day="2026-11-18", reference=None, notes="Enc. 10015")
    sb.store.pay_order(10015, at=NOW)
    sb.store.pay_order(10016, at=NOW)
    _issue(sb.igest, sb.store.orders[10016], day=NOW.date().isoformat(), reference="QI-10016")
    held = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert {o.key for o in held.outcomes if o.action == Action.FAILED} >= {"10015", "10016"}
    code = sb.credentials["jumpseller"]["login"]

    def ours(order_id: int) -> bool:
        return f"jumpseller:{code}:{order_id}" in sb.igest.final_documents_by_reference()

    blanket = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([], all_failed=True)
    assert {o.key: o.action for o in blanket.outcomes}["10016"] == Action.FAILED
    assert not ours(10016) and not ours(10015)
    reconcile(config, js, ig, ledger).run(Period(date(2026, 11, 19), NOW.date()), fix=True)
    assert not ours(10015) and not ours(10016)
    # A person who names the order decides: ours is issued.
    named = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([10016], by_a_person=True)
    assert [o.action for o in named.outcomes] == [Action.ISSUED] and ours(10016)


def test_a_persons_resend_whose_answer_was_lost_is_finished_by_the_next_run_not_held_again(
    world,
):
    """The resend's draft reached iGEST and its answer was lost: it said "the next run tries
    again by itself", and the next run held the order again for the document the person had
    decided about (the decision lived only in the failure's text, which the 502 replaced)."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10016, at=NOW)
    _issue(sb.igest, sb.store.orders[10016], day=NOW.date().isoformat(), reference="QI-10016")
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()  # held for FR QI/...
    sb.faults.add("igest", "502", method="POST", path=r"^/v1/documents$", times=1, after=True)
    # The resend looks a lost answer up again at once: that attempt's finalize is refused too.
    sb.faults.add("igest", "502", method="POST", path=r"/finalize$", times=1)
    lost = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([10016], by_a_person=True)
    [outcome] = lost.outcomes
    assert outcome.transient and "tries again by itself" in outcome.detail
    again = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert {o.key: o.action for o in again.outcomes}["10016"] in (Action.ISSUED, Action.ADOPTED)
    code = sb.credentials["jumpseller"]["login"]
    assert len(sb.igest.final_documents_by_reference()[f"jumpseller:{code}:10016"]) == 1


def test_an_invoice_not_ours_cancelled_by_its_own_credit_note_is_no_sales_invoice_anywhere(world):
    """The runs' hold ignored it, but reconcile pointed at it as "may be its invoice: adopt"
    and adopt would record it: the sale left with a cancelled invoice for its only one."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10015, at=NOW)
    _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")
    [app] = [d for d in sb.igest.documents if d.get("external_reference") == "QI-10015"]
    lines = [
        {k: v if isinstance(v, str) or v is None else str(v) for k, v in line.items()}
        for line in app["lines"]
    ]
    sb.igest.create_document(
        {"type": "NC", "series": "QI", "date": NOW.date().isoformat(), "lines": lines,
         "customer": {"name": "Consumidor final"}, "prices_include_vat": True,
         "related_document": {"number": app["number"], "reason": "Anulação"}, "finalize": True}
    )  # fmt: skip
    sb.faults.add("igest", "500", method="POST", path=r"^/v1/documents$", times=None)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()  # ours fails: the sale is missing
    sb.faults.clear()
    report = reconcile(config, js, ig, ledger).run(Period(date(2026, 11, 1), NOW.date()))
    told = " ".join(f"{p.detail} {p.hint}" for p in report.problems if p.order_id == 10015)
    assert "missing" in " ".join(p.kind for p in report.problems if p.order_id == 10015)
    assert app["number"] not in told
    found = adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    assert all(m.document.number != app["number"] for m in found.matches)


def test_a_resend_decides_about_the_document_it_was_told_of_not_one_whose_number_begins_so():
    """The hold's failure named FR QI/10; the person's resend decides about that one. FR QI/1
    naming the same order was taken as decided too (its number is the start of FR QI/10's)."""
    from igest_sync.models import DocumentStatus, DocumentType, IssuedDocument
    from igest_sync.runs.invoicing.hold import invoiced_elsewhere
    from tests.support.fakes import paid_order

    order = paid_order(20003, "49.00")

    def fr(number: str) -> IssuedDocument:
        return IssuedDocument(
            id=number,
            type=DocumentType.FR,
            series="QI",
            number=number,
            atcud=None,
            status=DocumentStatus.FINAL,
            date=date(2026, 11, 20),
            external_reference="QI-20003",
            customer_nif=None,
            customer_name=None,
            net_total=Decimal("39.84"),
            vat_total=Decimal("9.16"),
            gross_total=Decimal("49.00"),
        )

    told = "FR QI/10 of 2026-11-20, not issued by igest-sync, names this order"
    with Ledger(Path(":memory:")) as ledger:
        assert invoiced_elsewhere(ledger, order, [fr("FR QI/10")], told=told) is None
        held = invoiced_elsewhere(ledger, order, [fr("FR QI/10"), fr("FR QI/1")], told=told)
        assert held is not None and held.reason.startswith("FR QI/1 of")


def test_an_invoice_its_credit_notes_cancel_in_full_holds_no_order():
    """The app's FR of the order, credited in full by its own NC: no invoice of the sale;
    holding the order sent the person to adopt a cancelled invoice."""
    from igest_sync.models import DocumentStatus, DocumentType, IssuedDocument
    from igest_sync.runs.invoicing.hold import invoiced_elsewhere
    from tests.support.fakes import paid_order

    order = paid_order(20003, "49.00")

    def doc(number: str, kind: DocumentType, related: str | None = None) -> IssuedDocument:
        return IssuedDocument(
            id=number,
            type=kind,
            series="QI",
            number=number,
            atcud=None,
            status=DocumentStatus.FINAL,
            date=date(2026, 11, 20),
            external_reference="QI-20003" if kind == DocumentType.FR else None,
            customer_nif=None,
            customer_name=None,
            net_total=Decimal("39.84"),
            vat_total=Decimal("9.16"),
            gross_total=Decimal("49.00"),
            related_number=related,
        )

    invoice = doc("FR QI/13", DocumentType.FR)
    with Ledger(Path(":memory:")) as ledger:
        assert invoiced_elsewhere(ledger, order, [invoice]) is not None
        note = doc("NC QI/2", DocumentType.NC, related="FR QI/13")
        assert invoiced_elsewhere(ledger, order, [invoice, note]) is None


def test_reconcile_names_a_sale_another_integration_invoiced_after_igest_sync(world):
    """serve invoiced the payment in a second; the hosted app, still on, invoiced it a minute
    later: two invoices for one sale, and reconcile called the period clean. Once ours is
    credited in full, the app's is the sale's invoice: nothing to report."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    work = ledger.work(10003, Kind.INVOICE)
    assert work is not None and work.state == WorkState.FINAL
    mine = ledger.document(work.document_id)
    # The app's invoice of the sale: its total, in one line.
    line = {"reference": "ENC", "description": "Encomenda 10003", "quantity": "1",
            "unit_price": f"{mine.gross_total:.2f}", "vat_rate": "23.00"}  # fmt: skip
    order = sb.store.orders[10003]
    _issue(sb.igest, order, day=NOW.date().isoformat(), reference="QI-10003", lines=[line])
    november = Period(date(2026, 11, 1), date(2026, 11, 20))
    report = reconcile(config, js, ig, ledger).run(november)
    [twice] = [p for p in report.problems if p.kind == "duplicate"]
    assert twice.order_id == 10003 and mine.number in twice.documents
    assert "not issued by igest-sync" in twice.detail and "its reference" in twice.detail
    assert "igest-sync credit 10003 --all" in (twice.hint or "")
    assert report.exit_code == 1 and not twice.fixable
    request = CreditRequest(everything=True)
    credit_run(config, ledger, js, ig, now=NOW).credit(
        10003, request, "Faturada duas vezes", confirm=lambda plan: True
    )
    after = reconcile(config, js, ig, ledger).run(november)
    assert [p for p in after.problems if p.order_id == 10003] == []


def test_reconcile_does_not_count_an_invoice_its_own_credit_note_cancels(world):
    """The app invoiced the sale after igest-sync, then cancelled its invoice with a credit
    note of its own: one invoice stands, and reconcile called the sale invoiced twice (the
    runs' hold already ignored such an invoice)."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    mine = ledger.document(ledger.work(10003, Kind.INVOICE).document_id)
    line = {"reference": "ENC", "description": "Encomenda 10003", "quantity": "1",
            "unit_price": f"{mine.gross_total:.2f}", "vat_rate": "23.00"}  # fmt: skip
    day = NOW.date().isoformat()
    _issue(sb.igest, sb.store.orders[10003], day=day, reference="QI-10003", lines=[line])
    november = Period(date(2026, 11, 1), NOW.date())
    [twice] = [p for p in reconcile(config, js, ig, ledger).run(november).problems
               if p.kind == "duplicate"]  # fmt: skip
    number = next(d for d in twice.documents if d.startswith("FR QI/"))
    sb.igest.create_document(
        {"type": "NC", "series": "QI", "date": day, "customer": {"name": "Consumidor final"},
         "lines": [line], "prices_include_vat": True, "payment_method": "MB", "finalize": True,
         "related_document": {"number": number, "reason": "Anulação"}}
    )  # fmt: skip
    after = reconcile(config, js, ig, ledger).run(november)
    assert [p for p in after.problems if p.kind == "duplicate"] == []


def test_moving_the_start_date_past_the_switch_also_lets_it_run(world):
    _sb, config, ledger, js, ig = world
    from dataclasses import replace

    later = replace(config, invoice=replace(config.invoice, start_date=date(2026, 11, 4)))
    report = InvoiceRun.build(later, ledger, js, ig, now=NOW).run()
    assert not report.failed


def test_a_start_date_moved_back_over_days_another_integration_invoiced_stops_like_a_first_run(
    world,
):
    """The orders a later start date skipped, judged again once it was moved back, were issued
    beside the hosted app's invoices of them (FR QI/4 to QI/6: only the documents that name
    their order held theirs), with no guard: a first run or a backfill over those days stops."""
    from dataclasses import replace

    sb, config, ledger, js, ig = world
    code = sb.credentials["jumpseller"]["login"]

    def starting(day: date) -> Config:
        return replace(config, invoice=replace(config.invoice, start_date=day))

    def ours() -> set[int]:
        refs = sb.igest.final_documents_by_reference()
        return {int(r.rsplit(":", 1)[1]) for r in refs if r.startswith(f"jumpseller:{code}:")}

    InvoiceRun.build(starting(date(2026, 11, 4)), ledger, js, ig, now=NOW).run()
    issued_first = ours()
    assert issued_first and not issued_first & set(range(9001, 9008))
    back = starting(OCTOBER[0])
    for dry_run in (True, False):
        with pytest.raises(UsageError) as stopped:
            InvoiceRun.build(back, ledger, js, ig, now=NOW).run(dry_run=dry_run)
        message = stopped.value.message
        assert (
            "on or after 2026-10-06, the first day of the 8 orders skipped until [invoice] "
            in message
        )
        assert "changed (FR QI/1 of 2026-10-06," in message
        hint = stopped.value.hint or ""
        assert "igest-sync adopt --from 2026-10-" in hint
        # Not "move start_date past them": the store's sales since would be skipped too.
        assert (
            hint.endswith(
                "or put [invoice] back as it was (start_date = 2026-11-04): the orders it "
                "skipped stay skipped."
            )
            and "or later" not in hint
        )
        assert ours() == issued_first
        # Nothing recorded for the orders now due: no later run issues them unguarded.
        assert all(ledger.work(i) is None for i in range(9001, 9008))
    # The old start date put back, the runs go on as before.
    assert not InvoiceRun.build(starting(date(2026, 11, 4)), ledger, js, ig, now=NOW).run().failed
    assert ours() == issued_first
    # After adopt over those days, the run goes on; the orders the app invoiced never get ours
    # (those it could not tie to one order wait for a person).
    adopt(world, OCTOBER[0], date(2026, 11, 3), confirm=lambda r: True)
    report = InvoiceRun.build(back, ledger, js, ig, now=NOW).run()
    assert not ours() & {9001, 9002, 9003, 9004, 9005, 9006}
    held = {int(o.key) for o in report.outcomes if o.action == Action.FAILED}
    assert {9005, 9006} <= held


def test_an_adopted_invoice_is_credited_with_its_customer_exactly_once(world):
    sb, config, ledger, js, ig = world
    adopt(world, confirm=lambda r: True)
    request = CreditRequest(everything=True)
    first = credit_run(config, ledger, js, ig, now=NOW).credit(
        9002, request, "Devolução", confirm=lambda plan: True
    )
    assert first.outcome is not None and first.outcome.action == Action.ISSUED
    again = credit_run(config, ledger, js, ig, now=NOW).credit(
        9002, request, "Devolução", confirm=lambda plan: True
    )
    assert again.outcome is not None and again.outcome.action == Action.ALREADY
    notes = [d for d in sb.igest.documents if d["type"] == "NC" and d["status"] == "final"]
    assert len(notes) == 1
    [note] = notes
    assert note["related_document"]["number"] == "FR QI/2"
    assert note["customer"]["nif"] == "123456789" and note["customer"]["name"] == "João Ferreira"
    assert note["gross_total"] == Decimal("43.60")
    assert note["external_reference"].startswith(f"jumpseller:{config.jumpseller.store}:9002:")


def test_reconcile_and_status_count_the_adopted_invoices(world):
    sb, config, ledger, js, ig = world
    # Paid before the start date, they are never missing; with the start date moved back
    # they are, until adopted.
    from dataclasses import replace

    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))
    before = reconcile(early, js, ig, ledger).run(Period(*OCTOBER))
    missing = {p.order_id: p for p in before.problems if p.kind == "missing"}
    assert {9001, 9002, 9003, 9004} <= set(missing)
    # Each is pointed at the document that may be its invoice, and never issued by --fix.
    assert missing[9004].documents == ("FR QI/4",) and not missing[9004].fixable
    assert "igest-sync adopt --from 2026-10-20 --to 2026-10-20" in (missing[9004].hint or "")
    assert missing[9005].documents == ("FR QI/5", "FR QI/6")  # either may be its invoice
    # Said once for both, with the pick adopt needs for a document it cannot decide alone.
    assert missing[9005].detail.count("may be its invoice") == 1
    assert "FR QI/5 of 2026-10-27, FR QI/6 of 2026-10-27" in missing[9005].detail
    assert "--pick 'FR QI/5=9005'" in (missing[9005].hint or "")
    assert "--pick" not in (missing[9004].hint or "")  # a sure match: adopt records it
    fixed = reconcile(early, js, ig, ledger).run(Period(*OCTOBER), fix=True)
    assert fixed.fixes == [] and len(sb.igest.documents) == 9  # nothing issued twice
    adopt(world, confirm=lambda r: True)
    after = reconcile(early, js, ig, ledger).run(Period(*OCTOBER))
    missing = {p.order_id for p in after.problems if p.kind == "missing"}
    assert not missing & {9001, 9002, 9003, 9004}
    assert missing == {9005, 9006}
    assert after.to_json()["issued_elsewhere"] == 4
    status = build_status(ledger, now=NOW)
    assert status.to_json()["issued_elsewhere"] == 4
    assert ledger.work(9004, Kind.INVOICE).external_reference.startswith("elsewhere:")


def test_orders_an_undecided_document_may_invoice_are_never_issued_by_a_run(world):
    # adopt left FR QI/5 and QI/6 undecided (two consumers, same day and total). A backfill
    # from October (the start date moved back) must not give 9005 and 9006 second invoices.
    from dataclasses import replace

    sb, config, ledger, js, ig = world
    adopt(world, last=NOW.date(), confirm=lambda r: True)  # October and the switch's days
    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))

    def backfill(**kw):
        return InvoiceRun.build(early, ledger, js, ig, now=NOW).run(since=OCTOBER[0], **kw)

    def issued_to_the_twins() -> list:
        return [
            d
            for d in sb.igest.documents
            if d["status"] == "final"
            and str(d.get("external_reference") or "").endswith((":9005", ":9006"))
        ]

    preview = {o.key: o for o in backfill(dry_run=True).outcomes}
    assert preview["9005"].action == Action.WOULD_FAIL
    report = backfill()
    held = {o.key: o for o in report.outcomes if o.key in ("9005", "9006")}
    assert {o.action for o in held.values()} == {Action.FAILED}
    assert "FR QI/5 or FR QI/6 of 2026-10-27, not issued by igest-sync, may be its invoice" in (
        held["9005"].detail
    )
    assert "--pick 'FR QI/5=9005'" in held["9005"].detail
    assert "igest-sync resend 9005" in held["9005"].detail
    assert issued_to_the_twins() == []
    # The person decides: each document is that order's invoice.
    adopt(world, picks={"FR QI/5": 9005}, confirm=lambda r: True)
    adopt(world, picks={"FR QI/6": 9006}, confirm=lambda r: True)
    assert {ledger.issued_elsewhere()[i].number for i in (9005, 9006)} == {"FR QI/5", "FR QI/6"}
    again = backfill()
    twins = [o for o in again.outcomes if o.key in ("9005", "9006")]
    assert [(o.key, o.action) for o in twins] == [
        ("9005", Action.ALREADY),
        ("9006", Action.ALREADY),
    ]
    assert issued_to_the_twins() == []


def test_adopt_killed_between_its_two_records_never_lets_a_run_issue_the_undecided(world):
    # adopt records the days it reviewed and the documents it could not decide. Killed
    # between the two writes, the days must not be reviewed without the undecided documents:
    # a first run would then issue 9005 and 9006 a second invoice.
    from dataclasses import replace

    from igest_sync.runs.setup import adopt as adopting

    sb, config, ledger, js, ig = world
    written = []
    real_set_meta = ledger.meta.set_meta

    class Killed(BaseException):
        pass

    def set_meta(key, value):
        if key in (adopting.REVIEWED_KEY, adopting.UNDECIDED_KEY):
            written.append(key)
            if len(written) == 2:
                raise Killed(key)
        real_set_meta(key, value)

    ledger.meta.set_meta = set_meta
    with pytest.raises(Killed):
        adopt(world, last=NOW.date(), confirm=lambda r: True)
    ledger.meta.set_meta = real_set_meta
    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))
    try:
        report = InvoiceRun.build(early, ledger, js, ig, now=NOW).run()
    except UsageError:
        report = None  # the first run stops: the days are not reviewed
    twins = [o for o in (report.outcomes if report else []) if o.key in ("9005", "9006")]
    assert all(o.action == Action.FAILED for o in twins), [(o.key, o.action) for o in twins]
    assert not [
        d
        for d in sb.igest.documents
        if d["status"] == "final"
        and str(d.get("external_reference") or "").endswith((":9005", ":9006"))
    ]


def test_the_digest_counts_adopted_invoices_apart_from_those_issued(world):
    from igest_sync.alerts.digest import build_digest, digest_lines

    _, _, ledger, _, _ = world
    adopt(world, confirm=lambda r: True)
    ever = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    digest = build_digest(ledger, *ever, now=NOW)
    assert (digest.invoices, digest.issued_elsewhere) == (0, 4)
    assert digest.to_json()["issued_elsewhere_total"] == "112.67"  # 23.88+43.60+11.40+33.79
    assert any("issued elsewhere" in line for line in digest_lines(digest))


def test_serve_webhooks_on_a_new_ledger_stop_like_the_first_run(world):
    from igest_sync.runs.invoicing.hints import work_hints
    from igest_sync.state.inbox import ORDER, Hint

    sb, config, ledger, js, ig = world
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW)
    hint = Hint(ORDER, 10003, ("order_paid",), (1,), 0)
    before = len(sb.igest.documents)
    with pytest.raises(UsageError, match="not issued by igest-sync"):
        work_hints(run, [hint], now=NOW)
    assert len(sb.igest.documents) == before
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    outcome = work_hints(InvoiceRun.build(config, ledger, js, ig, now=NOW), [hint], now=NOW)
    assert [o.action for o in outcome.report.outcomes] == [Action.ISSUED]


def test_a_period_with_nothing_sure_is_marked_reviewed_only_when_confirmed(world):
    _, _, ledger, _, _ = world
    fair = (date(2026, 10, 30), date(2026, 10, 30))  # only the fair's unmatched document
    declined = adopt(world, *fair, confirm=lambda r: False)
    assert declined.declined and declined.count("unmatched") == 1
    assert ledger.get_meta("adopt_reviewed") is None
    asked = []
    adopt(world, *fair, confirm=lambda r: asked.append(r) or True)
    assert asked and "2026-10-30" in (ledger.get_meta("adopt_reviewed") or "")


def test_a_document_without_nif_is_matched_by_the_customer_name(world):
    sb = world[0]
    sb.igest.create_document(
        {
            "type": "FR",
            "series": "QI",
            "date": "2026-11-14",
            "customer": {"name": "  TIAGO   sousa "},  # case and spaces as typed by hand
            "lines": [
                {
                    "reference": "CAN-AZU",
                    "description": "Caneca",
                    "quantity": "3",
                    "unit_price": "9.99",
                    "vat_rate": "23.00",
                }
            ],
            "prices_include_vat": True,
            "payment_method": "CC",
            "finalize": True,
        }
    )
    [match] = adopt(world, date(2026, 11, 14), date(2026, 11, 14), dry_run=True).matches
    assert (match.verdict, match.order_id, match.how) == (
        "sure",
        10011,
        "total, payment day and name",
    )
    five = by_number(adopt(world, dry_run=True))["FR QI/5"]
    assert "the document names no customer" in five.how


def test_a_period_reaching_past_today_is_reviewed_only_up_to_today(tmp_path):
    """Days after today were not listed: the other integration may still invoice on them, and
    a first run must stop for those documents (the period is remembered up to today only)."""
    with inprocess_world.world(
        tmp_path, NOW, start_date=date(2026, 11, 1), sandbox={"hosted_app": True}
    ) as w:
        run = AdoptRun(RunContext.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall))
        report = run.run(date(2026, 11, 1), date(2026, 12, 31), confirm=lambda r: True)
        assert report.recorded and reviewed_periods(w.ledger) == [
            (date(2026, 11, 1), date(2026, 11, 20))
        ]
        # Five days later the hosted app, still on, invoices a sale at a fair.
        w.clock.advance(days=5)
        fair = [{"reference": "AZL-FEIRA", "description": "Azulejos", "quantity": "1", "unit_price": "20.00",
                 "vat_rate": "23.00"}]  # fmt: skip
        w.sb.igest.create_document(
            {"type": "FR", "series": HOSTED_SERIES, "date": "2026-11-25",
             "customer": {"name": "Consumidor final"}, "lines": fair, "finalize": True,
             "prices_include_vat": True, "payment_method": "MB"}
        )  # fmt: skip
        with pytest.raises(UsageError) as stopped:
            InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall()).run()
        assert "of 2026-11-25" in stopped.value.message


@pytest.mark.parametrize("pick", ["FR QI/5", "=9005", "FR QI/5=", "FR QI/5=abc", "FR QI/5=²"])
def test_a_malformed_pick_is_a_usage_error_before_anything_is_read(tmp_path, monkeypatch, pick):
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path))
    result = CliRunner().invoke(cli.app, ["adopt", "--from", "2026-10-01", "--pick", pick])
    # A UsageError (exit 2 with its hint, by the one mapping of errors), never a crash.
    assert isinstance(result.exception, UsageError), result.exception
    assert result.exception.message == (
        f"--pick {pick!r}: expected the document number and the order id."
    )


def test_two_picks_of_one_document_for_two_orders_are_refused_naming_both(tmp_path, monkeypatch):
    # The last pick won without a word (and with --yes was recorded).
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path))
    args = ["adopt", "--from", "2026-10-01", "--pick", "FR QI/5=9005", "--pick", "FR QI/5=9006"]
    result = CliRunner().invoke(cli.app, [*args, "--yes"])
    assert isinstance(result.exception, UsageError), result.exception
    assert "'FR QI/5=9006'" in result.exception.message
    assert "'FR QI/5=9005'" in result.exception.message
    again = CliRunner().invoke(cli.app, [*args[:-1], "FR QI/5=9005", "--dry-run"])
    assert not isinstance(again.exception, UsageError)  # the same pick twice is one pick


def test_after_a_pick_the_other_order_is_held_by_the_document_left_and_only_named_resend_issues(
    world,
):
    """Picking FR QI/5 for 9005 left 9006 told to pick QI/5 (taken) and nothing of QI/6;
    `resend --failed` then issued 9006 a second invoice beside QI/6."""
    from dataclasses import replace

    sb, config, ledger, js, ig = world
    adopt(world, last=NOW.date(), confirm=lambda r: True)
    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))
    InvoiceRun.build(early, ledger, js, ig, now=NOW).run(since=OCTOBER[0])
    adopt(world, picks={"FR QI/5": 9005}, confirm=lambda r: True)
    held = InvoiceRun.build(early, ledger, js, ig, now=NOW).resend([], all_failed=True)
    [twin] = [o for o in held.outcomes if o.key == "9006"]
    assert twin.action == Action.FAILED
    assert twin.detail.startswith("FR QI/6 of 2026-10-27, not issued by igest-sync")
    assert "QI/5" not in twin.detail and "9005 fits" not in twin.detail
    assert "--pick 'FR QI/6=9006'" in twin.detail
    ours = [d for d in sb.igest.documents if str(d.get("external_reference")).endswith(":9006")]
    assert ours == []  # --failed is no decision about it
    named = InvoiceRun.build(early, ledger, js, ig, now=NOW).resend([9006], by_a_person=True)
    assert [o.action for o in named.outcomes if o.key == "9006"] == [Action.ISSUED]


def test_after_a_pick_the_document_left_fits_the_order_left_and_its_failure_says_so(world):
    """After `--pick 'FR QI/5=9005'`, adopt still listed FR QI/6 as "9005 or 9006" and 9006's
    failure still said to pick QI/5 (taken), until a resend: both now name what is left."""
    from dataclasses import replace

    _, config, ledger, js, ig = world
    adopt(world, last=NOW.date(), confirm=lambda r: True)
    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))
    InvoiceRun.build(early, ledger, js, ig, now=NOW).run(since=OCTOBER[0])
    assert "FR QI/5" in (ledger.work(9006, Kind.INVOICE).error or "")
    adopt(world, picks={"FR QI/5": 9005}, confirm=lambda r: True)
    left = by_number(adopt(world, dry_run=True))["FR QI/6"]
    assert (left.verdict, left.candidates) == ("ambiguous", (9006,))
    assert "order 9005 invoiced already" in left.how
    error = ledger.work(9006, Kind.INVOICE).error or ""
    assert error.startswith("FR QI/6 of 2026-10-27, not issued by igest-sync"), error
    assert "--pick 'FR QI/6=9006'" in error and "QI/5" not in error


def test_a_pick_of_a_document_recorded_for_another_order_is_refused_not_dropped(world):
    # Before: the second pick exited 0 with "0 recorded" and no word that QI/6 was taken.
    _, _, ledger, _, _ = world
    adopt(world, picks={"FR QI/6": 9006}, confirm=lambda r: True)
    with pytest.raises(UsageError, match="recorded already as the invoice of order 9006") as err:
        adopt(world, picks={"FR QI/6": 9005}, confirm=lambda r: True)
    assert "status --order 9005" in (err.value.hint or "")
    assert (
        ledger.issued_elsewhere()[9006].number == "FR QI/6"
        and 9005 not in ledger.issued_elsewhere()
    )
    # The same pick again is no conflict: nothing new, nothing refused.
    assert not adopt(world, picks={"FR QI/6": 9006}, confirm=lambda r: True).recorded


def test_a_pick_whose_total_or_day_does_not_fit_its_order_is_pointed_out(world):
    report = adopt(world, picks={"FR QI/7": 9006}, dry_run=True)
    [notice] = report.notices
    assert notice.startswith("--pick FR QI/7=9006: FR QI/7 is 45.00 EUR of 2026-10-30")
    assert "order 9006 paid 29.70 EUR on 2026-10-27" in notice
    assert adopt(world, picks={"FR QI/6": 9006}, dry_run=True).notices == []


def test_a_pick_that_cannot_be_recorded_is_refused_before_anything_is_recorded(world):
    # Before: a pick that named an order another document claims, or one with igest-sync's own
    # invoice, was shown as "ambiguous" and dropped; the other sure matches were recorded and
    # the run exited 0, as if the pick had been taken.
    from dataclasses import replace

    _, config, ledger, js, ig = world
    with pytest.raises(UsageError) as shared:
        adopt(world, picks={"FR QI/7": 9001}, confirm=lambda r: True)
    assert shared.value.message == (
        "--pick FR QI/7=9001: order 9001 is named by 2 documents (FR QI/1, FR QI/7); "
        "nothing was recorded."
    )
    assert "Order 9001 has one invoice" in (shared.value.hint or "")
    assert ledger.issued_elsewhere() == {} and reviewed_periods(ledger) == []
    with pytest.raises(UsageError, match=r"--pick FR QI/5=9005: order 9005 is named by 2"):
        adopt(world, picks={"FR QI/5": 9005, "FR QI/6": 9005}, dry_run=True)
    # An order igest-sync has invoiced: the pick would give it a second invoice.
    adopt(world, last=NOW.date(), confirm=lambda r: True)
    early = replace(config, invoice=replace(config.invoice, start_date=date(2026, 10, 1)))
    InvoiceRun.build(early, ledger, js, ig, now=NOW).resend([9006], by_a_person=True)
    assert ledger.work(9006, Kind.INVOICE).state == WorkState.FINAL
    recorded = dict(ledger.issued_elsewhere())
    with pytest.raises(UsageError) as invoiced:
        adopt(world, picks={"FR QI/5": 9006}, confirm=lambda r: True)
    assert invoiced.value.message.startswith(
        "--pick FR QI/5=9006: order 9006 has an invoice already ("
    )
    assert "credit one of them in iGEST" in (invoiced.value.hint or "")
    assert ledger.issued_elsewhere() == recorded


@contextmanager
def switched_in_review_mode(tmp_path: Path) -> Iterator[tuple[Any, RunContext]]:
    """A store in review mode, switched from the hosted app: its first days adopted."""
    with inprocess_world.world(
        tmp_path, NOW, start_date=date(2026, 11, 1), sandbox={"hosted_app": True}, review=True
    ) as w:
        context = RunContext.build(w.config, w.ledger, w.js, w.ig, now=NOW)
        AdoptRun(context).run(date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
        yield w, context


def test_in_review_mode_a_held_orders_checked_draft_does_not_stop_adopt_recording_its_invoice(
    tmp_path,
):
    """Review mode right after the switch, the hosted app still on: the run drafts an order,
    the app invoices it, `approve` holds it and says "record it: igest-sync adopt". adopt then
    called our checked draft an invoice "in progress" and refused even a --pick, sending the
    person to `invoice`, which held it again: the only way left, `resend`, invoiced the sale
    twice. Nothing of ours is final in iGEST: the app's invoice is recorded, and a draft of ours
    left there is deleted (approving could only finalize a second invoice)."""
    from igest_sandbox.hosted_app import _issue
    from igest_sync.runs.invoicing import review

    with switched_in_review_mode(tmp_path) as (w, context):
        sb, config, ledger, js, ig = w.sb, w.config, w.ledger, w.js, w.ig
        sb.store.pay_order(10015, at=NOW)
        InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
        assert ledger.work(10015, Kind.INVOICE).state == WorkState.REVIEW
        _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")
        run_ = InvoiceRun.build(config, ledger, js, ig, now=NOW)
        [held] = review.approve(run_, [10015], [])
        assert held.action == Action.FAILED and "igest-sync adopt --from 2026-11-20" in held.detail

        code = sb.credentials["jumpseller"]["login"]

        def ours() -> list[dict]:
            return [
                d
                for d in sb.igest.documents
                if d["external_reference"] == f"jumpseller:{code}:10015"
            ]

        assert all(d["status"] != "final" for d in ours())
        report = AdoptRun(context).run(NOW.date(), NOW.date(), confirm=lambda r: True)

        [match] = report.matches
        assert (match.verdict, match.order_id, match.recorded) == ("sure", 10015, True)
        assert ledger.issued_elsewhere()[10015].number == match.document.number
        assert ours() == []
        again = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
        assert all(o.key != "10015" for o in again.outcomes if o.action == Action.FAILED)


def test_a_document_the_other_integration_issues_later_on_the_day_adopt_ran_stops_the_first_run(
    world,
):
    """`adopt` over a period up to today, the hosted app still on: it invoices a sale later that
    day, with no reference. The whole day counted as reviewed, so the first run passed that
    document and issued the sale a second invoice, and reconcile called it clean. Only what
    adopt listed of a day not yet over is reviewed: the first run stops for the rest, and an
    adopt over the day again reviews it."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    seen_today = sb.store.orders[10015]
    _issue(sb.igest, seen_today, day=NOW.date().isoformat(), reference=None, named=False)
    adopt(world, date(2026, 11, 1), NOW.date(), confirm=lambda r: True)
    sb.store.pay_order(10016, at=NOW)
    _issue(sb.igest, sb.store.orders[10016], day=NOW.date().isoformat(), reference=None)
    [later] = [d for d in sb.igest.documents if d["series"] == HOSTED_SERIES][-1:]
    before = len(sb.igest.documents)

    with pytest.raises(UsageError) as stopped:
        InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert f"{later['number']} of 2026-11-20" in stopped.value.message
    assert "FR QI/" in stopped.value.message and "1 invoice not issued" in stopped.value.message
    assert "igest-sync adopt --from 2026-11-20 --to 2026-11-20" in (stopped.value.hint or "")
    assert len(sb.igest.documents) == before and ledger.checkpoint is None

    again = adopt(world, NOW.date(), NOW.date(), confirm=lambda r: True)
    assert {m.order_id for m in again.matches if m.recorded} == {10016}
    report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert all(o.key != "10016" for o in report.outcomes if o.action == Action.ISSUED)
    code = sb.credentials["jumpseller"]["login"]
    assert f"jumpseller:{code}:10016" not in sb.igest.final_documents_by_reference()


def test_the_hold_names_a_pick_that_records_an_order_placed_long_before_its_invoice(world):
    """An order placed 40 days before the hosted app invoiced it: the hold said "record it:
    igest-sync adopt --from D --to D", which read only the orders placed up to 30 days before
    D and listed the document "unmatched". The hold names the pick, which records it."""
    import re
    from datetime import timedelta

    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()  # the first run, before it
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}
    old = sb.store.add_order(lines=[line], created_at=NOW - timedelta(days=40), completed_at=NOW)
    _issue(sb.igest, sb.store.orders[old], day=NOW.date().isoformat(), reference=f"QI-{old}")
    report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    [held] = [o for o in report.outcomes if o.key == str(old)]
    assert held.action == Action.FAILED
    [(number, order)] = re.findall(r"--pick '([^=']+)=(\d+)'", held.detail)
    assert int(order) == old and f"igest-sync adopt --from {NOW.date()}" in held.detail
    recorded = adopt(world, NOW.date(), NOW.date(), picks={number: old}, confirm=lambda r: True)
    assert [m.order_id for m in recorded.matches if m.recorded] == [old]
    assert ledger.work(old, Kind.INVOICE).state == WorkState.FINAL


def test_after_a_lost_state_file_a_document_not_ours_is_not_sure_for_an_order_we_invoiced(
    world, tmp_path
):
    """The hosted app, left on, invoiced a sale igest-sync had invoiced too; then the state file
    was lost. adopt checked only the (new, empty) state file and called the app's document
    "sure" for that order, about to record a second invoice as its own; iGEST's listing it
    reads anyway holds ours, by its reference: the document is a question for a person."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 3), confirm=lambda r: True)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    sb.store.pay_order(10016, at=NOW)
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    code = sb.credentials["jumpseller"]["login"]
    [ours] = sb.igest.final_documents_by_reference()[f"jumpseller:{code}:10016"]
    _issue(sb.igest, sb.store.orders[10016], day=NOW.date().isoformat(), reference=None)

    with Ledger(tmp_path / "lost-and-new.sqlite3") as new:
        context = RunContext.build(config, new, js, ig, now=NOW)
        report = AdoptRun(context).run(NOW.date(), NOW.date(), dry_run=True)
    [match] = [m for m in report.matches if m.document.series == HOSTED_SERIES]
    assert (match.verdict, match.candidates) == ("ambiguous", (10016,)), match.how
    assert f"order 10016 has an invoice already ({ours['number']}, issued by" in match.how


def test_adopt_deletes_only_its_orders_own_draft_when_igest_filters_references_loosely(
    tmp_path, monkeypatch
):
    """``GET /documents?external_reference=`` may filter by prefix (docs/igest-api.md, open
    question 4; every other look-up keeps only the exact reference): adopt's look-up of order
    10015's drafts then also lists order 100150's (``jumpseller:<code>:10015`` is a prefix of
    its reference), and deleted that other order's checked draft, waiting for approval."""
    from igest_sandbox.hosted_app import _issue

    with switched_in_review_mode(tmp_path) as (w, context):
        sb, config, ledger, js, ig = w.sb, w.config, w.ledger, w.js, w.ig
        sb.store.pay_order(10015, at=NOW)
        line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}
        other = sb.store.add_order(order_id=100150, lines=[line], created_at=NOW, completed_at=NOW)
        InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
        assert ledger.work(10015, Kind.INVOICE).state == WorkState.REVIEW
        assert ledger.work(other, Kind.INVOICE).state == WorkState.REVIEW
        _issue(sb.igest, sb.store.orders[10015], day=NOW.date().isoformat(), reference="QI-10015")

        exact = ig.find_documents

        def by_prefix(**kwargs):
            ref = kwargs.pop("external_reference", None)
            found = exact(**kwargs)
            return (d for d in found if ref is None or (d.external_reference or "").startswith(ref))

        monkeypatch.setattr(ig, "find_documents", by_prefix)
        code = sb.credentials["jumpseller"]["login"]
        report = AdoptRun(context).run(NOW.date(), NOW.date(), confirm=lambda r: True)

        assert [m.order_id for m in report.matches if m.recorded] == [10015]
        theirs = [
            d for d in sb.igest.documents if d["external_reference"] == f"jumpseller:{code}:{other}"
        ]
        assert [d["status"] for d in theirs] == ["draft"]


def test_a_pick_is_the_document_whatever_the_case_it_is_typed_in(world):
    # 'fr qi/5=9005' was refused: "no document numbered fr qi/5 issued by another program".
    report = adopt(world, picks={"fr qi/5": 9005}, confirm=lambda r: True)
    assert by_number(report)["FR QI/5"].order_id == 9005
    assert by_number(report)["FR QI/5"].recorded


def _finals_of(sb: Any, order: int, numbers: set[str]) -> list[str]:
    """The final invoices in iGEST for ``order``: ours (its reference) and those ``numbers``."""
    return sorted(
        d["number"]
        for d in sb.igest.documents
        if d["status"] == "final"
        and d["type"] in ("FT", "FR", "FS")
        and (str(d.get("external_reference") or "").endswith(f":{order}") or d["number"] in numbers)
    )


def _paid_late(sb: Any, day: int, hour: int = 23, minute: int = 58, buyer: str = "ana") -> int:
    """An order of 19.98 EUR paid on ``day`` of November 2026 at ``hour``:``minute`` (WET: the
    same in Lisbon), to ``buyer`` (Ana has a NIF)."""
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    paid = datetime(2026, 11, day, hour, minute, tzinfo=UTC)
    return sb.store.add_order(
        lines=[line], created_at=paid.replace(minute=0), completed_at=paid, buyer=BUYERS[buyer]
    )


def test_a_document_without_the_order_number_dated_the_day_after_a_late_payment_is_no_second_sale(
    world,
):
    """An order paid at 23:58 (Lisbon) that the hosted app invoiced the next morning, its FR
    naming no order (no reference, no notes): adopt matched such a document on the payment day
    only, called it "unmatched", recorded the days reviewed, and the first `invoice` then
    issued the sale a second invoice."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 10), confirm=lambda r: True)  # the switch
    order = _paid_late(sb, 10)
    _issue(sb.igest, sb.store.orders[order], day="2026-11-11", reference=None)
    report = adopt(world, date(2026, 11, 11), NOW.date(), confirm=lambda r: True)
    [found] = [m for m in report.matches if m.document.date == date(2026, 11, 11)]
    assert (found.verdict, found.order_id, found.how) == (
        "sure",
        order,
        "total, payment day and NIF (paid 1 day before the document's date)",
    )
    assert found.recorded and ledger.issued_elsewhere()[order].number == found.document.number
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {found.document.number}) == [found.document.number]


def test_a_late_dated_document_that_fits_two_sales_is_a_question_and_one_too_late_is_unmatched(
    world,
):
    """The days before a document's date widen its candidates: the same customer paying the
    same total at 23:58 and again the next morning, one document dated that morning, is
    ambiguous (both orders held for a person, neither issued), never recorded for either; a
    document dated more than ``INVOICED_WITHIN`` days after the payment stays unmatched."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 10), confirm=lambda r: True)  # the switch
    evening, morning = _paid_late(sb, 10), _paid_late(sb, 11, hour=9, minute=30)
    _issue(sb.igest, sb.store.orders[evening], day="2026-11-11", reference=None)
    report = adopt(world, date(2026, 11, 11), NOW.date(), confirm=lambda r: True)
    [found] = report.matches
    assert (found.verdict, found.candidates) == ("ambiguous", (evening, morning)), found.how
    assert found.how == "2 orders have the same total and NIF, paid that day or the 3 days before"
    assert not found.recorded and {evening, morning}.isdisjoint(ledger.issued_elsewhere())
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    held = {o.key: o.action for o in run.outcomes if o.key in (str(evening), str(morning))}
    assert held == {str(evening): Action.FAILED, str(morning): Action.FAILED}
    assert _finals_of(sb, evening, set()) == [] and _finals_of(sb, morning, set()) == []
    from igest_sync.runs.setup.adopt import INVOICED_WITHIN

    # Past the window: Beatriz (no NIF: matched by name) paid on the 12th, invoiced on the 16th.
    late = _paid_late(sb, 12, buyer="beatriz")
    _issue(
        sb.igest, sb.store.orders[late], day=f"2026-11-{12 + INVOICED_WITHIN + 1}", reference=None
    )
    [beyond] = [
        m for m in adopt(world, date(2026, 11, 16), date(2026, 11, 16), dry_run=True).matches
    ]
    assert beyond.verdict == "unmatched" and "3 days before" in beyond.how


def test_a_document_made_as_the_order_was_placed_before_its_payment_is_no_second_sale(world):
    """The hosted app may issue the invoice as the order is placed (an FT), and the customer pay
    by Multibanco days later: adopt matched a document naming no order only to orders paid on
    its date or the days before, called it "unmatched", recorded the days reviewed, and the
    first `invoice` issued the sale a second invoice beside the hosted one."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 9), confirm=lambda r: True)  # the switch
    order = _placed_then_paid(sb, 10, 12)  # Multibanco, paid two days later
    _issue(sb.igest, sb.store.orders[order], day="2026-11-10", reference=None)
    report = adopt(world, date(2026, 11, 10), NOW.date(), confirm=lambda r: True)
    [found] = report.matches
    assert (found.verdict, found.order_id) == ("sure", order), found.how
    assert (
        found.how
        == "total, payment day and NIF (placed by the document's date, paid 2 days after it)"
    )
    assert found.recorded and ledger.issued_elsewhere()[order].number == found.document.number
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {found.document.number}) == [found.document.number]


def _placed_then_paid(sb: Any, placed: int, paid: int, buyer: str = "ana") -> int:
    """An order of 19.98 EUR placed on ``placed`` and paid on ``paid`` of November 2026 (10:00)."""
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    return sb.store.add_order(
        lines=[line],
        created_at=datetime(2026, 11, placed, 10, 0, tzinfo=UTC),
        completed_at=datetime(2026, 11, paid, 10, 0, tzinfo=UTC),
        buyer=BUYERS[buyer],
    )


def test_a_document_dated_before_a_payment_fits_only_orders_placed_by_then_and_two_are_a_question(
    world,
):
    """Dated before the payment, a document may be only the invoice of an order placed by its
    date: one placed after it is no candidate. Two orders that fit (one paid the day before
    the document, one placed by then and paid after it) are a question for a person."""
    from igest_sandbox.hosted_app import _issue

    sb = world[0]
    adopt(world, date(2026, 11, 1), date(2026, 11, 9), confirm=lambda r: True)  # the switch
    before = _placed_then_paid(sb, 10, 11)  # paid the day before the document
    waited = _placed_then_paid(sb, 11, 14)  # placed the document's day, paid 3 days after it
    after = _placed_then_paid(sb, 13, 14)  # placed after the document's date
    _issue(sb.igest, sb.store.orders[before], day="2026-11-12", reference=None)
    report = adopt(world, date(2026, 11, 12), date(2026, 11, 12), dry_run=True)
    [found] = report.matches
    assert (found.verdict, found.candidates) == ("ambiguous", (before, waited)), found.how
    assert found.how == (
        "2 orders have the same total and NIF, paid that day or the 3 days before, or placed "
        "by that day and paid since"
    )
    assert after not in found.candidates


def test_a_document_for_an_order_not_paid_yet_holds_it_once_paid(world):
    """The switch made while an order placed that day waits for its Multibanco payment, the
    hosted app's invoice of it already made: an unpaid order is no sale, so the document was
    "unmatched", the days recorded as reviewed, and once paid the order was issued a second
    invoice. It is a question for a person now (never recorded: the order may never be paid),
    and the order, once paid, waits for their decision."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 9), confirm=lambda r: True)  # the switch
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    placed = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    order = sb.store.add_order(
        lines=[line], created_at=placed, status="pending_payment", buyer=BUYERS["ana"]
    )
    _issue(sb.igest, sb.store.orders[order], day="2026-11-10", reference=None)
    report = adopt(world, date(2026, 11, 10), NOW.date(), confirm=lambda r: True)
    [found] = report.matches
    assert (found.verdict, found.candidates) == ("ambiguous", (order,)), found.how
    assert found.how == (
        f"order {order} of the document's customer, placed by that day for that total, is not "
        "paid yet"
    )
    assert not found.recorded and order not in ledger.issued_elsewhere()
    sb.store.pay_order(order, at=NOW)
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    [held] = [o for o in run.outcomes if o.key == str(order)]
    assert held.action == Action.FAILED and found.document.number in held.detail, held.detail
    assert _finals_of(sb, order, {found.document.number}) == [found.document.number]
    # Paid now, the person's pick records it; no run issues it again.
    picked = adopt(world, date(2026, 11, 10), NOW.date(), picks={found.document.number: order})
    assert by_number(picked)[found.document.number].recorded
    assert picked.notices == []  # dated after the order was placed: a date it may have
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {found.document.number}) == [found.document.number]


def test_a_repeat_customers_same_total_purchases_each_with_its_document_are_both_sure(world):
    """The same customer buying for the same total on the 10th and the 12th, each invoiced by
    the hosted app on its payment day: FR of the 12th fits both orders (the 10th is within
    the 3 days before it), so it was a question although FR of the 10th is surely the 10th's.
    An order another document surely is the invoice of is no candidate for the others; two
    documents left for one order still compete (a question, never a guess)."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 9), confirm=lambda r: True)  # the switch
    first, second = _placed_then_paid(sb, 10, 10), _placed_then_paid(sb, 12, 12)
    _issue(sb.igest, sb.store.orders[first], day="2026-11-10", reference=None)
    _issue(sb.igest, sb.store.orders[second], day="2026-11-12", reference=None)
    report = adopt(world, date(2026, 11, 10), date(2026, 11, 12), dry_run=True)
    assert [(m.verdict, m.order_id) for m in report.matches] == [
        ("sure", first),
        ("sure", second),
    ], [m.how for m in report.matches]
    [one, two] = report.matches
    assert two.how == (
        f"total, payment day and NIF; order {first} is {one.document.number}'s (sure)"
    )
    # A second document of the 12th for the same sale: the two compete for order `second`.
    _issue(sb.igest, sb.store.orders[second], day="2026-11-12", reference=None)
    report = adopt(world, date(2026, 11, 10), date(2026, 11, 12), confirm=lambda r: True)
    assert [(m.verdict, m.order_id) for m in report.matches] == [
        ("sure", first),
        ("ambiguous", None),
        ("ambiguous", None),
    ]
    assert first in ledger.issued_elsewhere() and second not in ledger.issued_elsewhere()
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    [held] = [o for o in run.outcomes if o.key == str(second)]
    assert held.action == Action.FAILED
    assert _finals_of(sb, second, set()) == []


def test_reconcile_sees_a_document_made_as_the_order_was_placed_before_the_period(world):
    """An order placed on the 8th, invoiced by the hosted app that day (no reference), paid on
    the 10th: `reconcile` from the 10th listed the documents of its period only, called the
    order missing and fixable, and `--fix` issued it a second invoice. A document dated the
    day after the period (a payment late on its last day) was always seen: the listing runs
    30 days past it."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    order = _placed_then_paid(sb, 8, 10)
    _issue(sb.igest, sb.store.orders[order], day="2026-11-08", reference=None)
    late = _paid_late(sb, 15, buyer="beatriz")
    _issue(sb.igest, sb.store.orders[late], day="2026-11-16", reference=None)
    report = reconcile(config, js, ig, ledger).run(Period(date(2026, 11, 10), date(2026, 11, 15)))
    found = {p.order_id: p for p in report.problems if p.order_id in (order, late)}
    assert "FR QI/10 of 2026-11-08" in found[order].detail and not found[order].fixable
    assert "FR QI/11 of 2026-11-16" in found[late].detail and not found[late].fixable
    reconcile(config, js, ig, ledger).run(Period(date(2026, 11, 10), date(2026, 11, 15)), fix=True)
    assert _finals_of(sb, order, {"FR QI/10"}) == ["FR QI/10"]
    assert _finals_of(sb, late, {"FR QI/11"}) == ["FR QI/11"]


def test_adopt_from_the_switch_sees_the_invoice_made_as_an_order_was_placed_the_days_before(world):
    """An order placed on 30 October, invoiced that day by another program (no reference), paid
    on 2 November: `adopt --from 2026-11-01` listed the documents of its period only, never saw
    that invoice, and the first `invoice` issued the sale a second one. The days before the
    period are read for the orders placed before it (paid in it, or not yet), and only what
    may be their invoices is shown."""
    from igest_sandbox.hosted_app import _customer, _lines

    sb, config, ledger, js, ig = world
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    order = sb.store.add_order(
        lines=[line],
        created_at=datetime(2026, 10, 30, 10, 0, tzinfo=UTC),
        completed_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        buyer=BUYERS["ana"],
    )
    # A series of its own: the hosted app's has documents dated later already.
    sb.igest.series.append(
        {"code": "MAN", "document_type": "FT", "atcud_code": "JMANFT", "active": True}
    )
    placed = sb.store.orders[order]
    sb.igest.create_document(
        {"type": "FT", "series": "MAN", "date": "2026-10-30", "external_reference": None,
         "customer": _customer(placed, named=True), "lines": _lines(placed),
         "prices_include_vat": True, "finalize": True}
    )  # fmt: skip
    report = adopt(world, date(2026, 11, 1), NOW.date(), confirm=lambda r: True)
    before = [m for m in report.matches if m.document.date and m.document.date < date(2026, 11, 1)]
    assert [(m.document.number, m.verdict, m.order_id) for m in before] == [
        ("FT MAN/1", "sure", order)
    ]
    assert ledger.issued_elsewhere()[order].number == "FT MAN/1"
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {"FT MAN/1"}) == ["FT MAN/1"]


def test_a_document_that_names_an_order_is_never_another_orders_by_elimination(world):
    """A document whose reference names an order with another total is a question (a second,
    mistaken invoice of that order, perhaps): with that order surely invoiced by another
    document, matching it again without that order read its facts alone, and it was recorded
    as the invoice of the same customer's other purchase of its total, which no run then
    invoiced. Elimination is for documents the facts left ambiguous, never one that names
    an order."""
    from igest_sandbox.hosted_app import _issue

    sb, config, ledger, js, ig = world
    adopt(world, date(2026, 11, 1), date(2026, 11, 9), confirm=lambda r: True)  # the switch
    first = _placed_then_paid(sb, 10, 10)  # 19.98 EUR
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 3, "rate": 23}
    paid = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
    other = sb.store.add_order(
        lines=[line], created_at=paid, completed_at=paid, buyer=BUYERS["ana"]
    )
    _issue(sb.igest, sb.store.orders[first], day="2026-11-10", reference=f"QI-{first}")
    # Names `first`, for the total of `other` (29.97 EUR): not `first`'s, nor surely `other`'s.
    _issue(sb.igest, sb.store.orders[other], day="2026-11-11", reference=f"QI-{first}")
    report = adopt(world, date(2026, 11, 10), date(2026, 11, 11), confirm=lambda r: True)
    assert [(m.verdict, m.order_id) for m in report.matches] == [
        ("sure", first),
        ("ambiguous", None),
    ], [m.how for m in report.matches]
    assert other not in ledger.issued_elsewhere()
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert len(_finals_of(sb, other, set())) == 1  # ours: a person credits the mistaken one


def test_a_document_of_the_days_before_recorded_since_holds_no_other_order(world):
    """An FT made on 30 October as an order was placed, its customer placing a second one for
    the same total that day, both waiting for payment at the switch: a question, kept as
    undecided. Once the first is paid, adopt over the same period records the FT for it; the
    undecided entry of that day before the period stayed, and held the second order, once
    paid, for a document recorded as the first's (its pick then refused)."""
    from igest_sandbox.hosted_app import _customer, _lines

    sb, config, ledger, js, ig = world
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    placed = datetime(2026, 10, 30, 10, 0, tzinfo=UTC)
    one, two = (
        sb.store.add_order(
            lines=[line], created_at=placed, status="pending_payment", buyer=BUYERS["ana"]
        )
        for _ in range(2)
    )
    sb.igest.series.append(
        {"code": "MAN", "document_type": "FT", "atcud_code": "JMANFT", "active": True}
    )
    sb.igest.create_document(
        {"type": "FT", "series": "MAN", "date": "2026-10-30", "external_reference": None,
         "customer": _customer(sb.store.orders[one], named=True),
         "lines": _lines(sb.store.orders[one]), "prices_include_vat": True, "finalize": True}
    )  # fmt: skip
    report = adopt(world, date(2026, 11, 1), NOW.date(), confirm=lambda r: True)
    [ft] = [m for m in report.matches if m.document.number == "FT MAN/1"]
    assert (ft.verdict, ft.candidates) == ("ambiguous", (one, two)), ft.how
    sb.store.pay_order(one, at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    report = adopt(world, date(2026, 11, 1), NOW.date(), confirm=lambda r: True)
    assert ledger.issued_elsewhere()[one].number == "FT MAN/1"
    sb.store.pay_order(two, at=datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    [issued] = [o for o in run.outcomes if o.key == str(two)]
    assert issued.action != Action.FAILED, issued.detail
    assert len(_finals_of(sb, two, set())) == 1


@pytest.fixture
def switched_off(tmp_path: Path) -> Iterator[tuple]:
    """The hosted app's store, its invoicing switched off at the start date (4 November, after
    its last document): nothing not ours on or after the start date."""
    with inprocess_world.world(
        tmp_path, NOW, start_date=date(2026, 11, 4), sandbox={"hosted_app": True}
    ) as w:
        yield w.sb, w.config, w.ledger, w.js, w.ig


def _invoiced_as_placed(
    sb: Any, placed: datetime, paid: datetime, buyer: str = "ana", customer: dict | None = None
) -> int:
    """An order placed at ``placed``, invoiced by another program that day (an FT of a series
    of its own, "MAN", naming no order; to ``customer``, else the order's), paid at ``paid``."""
    from igest_sandbox.hosted_app import _customer, _lines

    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}
    order = sb.store.add_order(
        lines=[line], created_at=placed, completed_at=paid, buyer=BUYERS[buyer]
    )
    if not any(s["code"] == "MAN" for s in sb.igest.series):
        sb.igest.series.append(
            {"code": "MAN", "document_type": "FT", "atcud_code": "JMANFT", "active": True}
        )
    sb.igest.create_document(
        {"type": "FT", "series": "MAN", "date": placed.date().isoformat(),
         "external_reference": None, "customer": customer or _customer(sb.store.orders[order], named=True),
         "lines": _lines(sb.store.orders[order]), "prices_include_vat": True, "finalize": True}
    )  # fmt: skip
    return order


def test_a_first_run_holds_an_order_invoiced_as_placed_before_the_start_date(switched_off):
    """An order placed on 1 November, invoiced that day by another program (an FT naming no
    order), paid by Multibanco on 5 November, after the start date (the 4th), when the other
    program was switched off: the first run's guard looks from the start date only and found
    nothing, and the issuer holds only for a document that names the order, so the first run
    issued the sale a second invoice beside the FT. It holds the order for a person now,
    naming the document and both ways out; nothing is recorded without one."""
    sb, config, ledger, js, ig = switched_off
    order = _invoiced_as_placed(
        sb, datetime(2026, 11, 1, 10, 0, tzinfo=UTC), datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    )
    # Its preview says so first (it reads the days before its listing, as the run does).
    would, held = _previewed_then_run(switched_off, order)
    assert would.action == Action.WOULD_FAIL and "FT MAN/1 of 2026-11-01" in would.detail
    assert _finals_of(sb, order, {"FT MAN/1"}) == ["FT MAN/1"]
    assert held.action == Action.FAILED, held.detail
    assert "FT MAN/1 of 2026-11-01" in held.detail, held.detail
    assert f"--pick 'FT MAN/1={order}'" in held.detail and f"resend {order}" in held.detail
    assert order not in ledger.issued_elsewhere()
    # A later run holds it still (no invoice, nothing recorded without a person).
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {"FT MAN/1"}) == ["FT MAN/1"]
    # The person's pick records it; no run issues it again.
    adopt(switched_off, date(2026, 11, 1), date(2026, 11, 1), picks={"FT MAN/1": order},
          confirm=lambda r: True)  # fmt: skip
    assert ledger.issued_elsewhere()[order].number == "FT MAN/1"
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert _finals_of(sb, order, {"FT MAN/1"}) == ["FT MAN/1"]


def _previewed_then_run(store: Any, order: int) -> tuple[Any, Any]:
    """``order``'s outcome in a dry run, then in the real run that follows it (``store``: the
    sandbox, config, ledger and clients of a fixture)."""
    _, config, ledger, js, ig = store
    outcomes = []
    for dry_run in (True, False):
        report = InvoiceRun.build(config, ledger, js, ig, now=NOW).run(dry_run=dry_run)
        outcomes += [o for o in report.outcomes if o.key == str(order)]
    would, did = outcomes
    return would, did


_NO_ONE = {"name": "Consumidor final"}


def test_a_document_of_the_placement_day_that_is_not_the_orders_is_the_persons_to_say(
    switched_off,
):
    """The same, the person saying the FT is not the order's invoice (`resend ORDER`): ours
    is issued, and no run holds the order for that FT again. A consumer's order (no NIF) is
    held for an FT that names no customer (it cannot tell); an FT of another customer's NIF,
    or dated before the order was placed, holds nothing."""
    sb, config, ledger, js, ig = switched_off
    placed = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    paid = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    order = _invoiced_as_placed(sb, placed, paid)
    consumer = _invoiced_as_placed(sb, placed, paid, buyer="marta", customer=_NO_ONE)
    # Placed the day after those two FTs (no candidates for it), and an FT of its day to
    # another NIF.
    other = _invoiced_as_placed(
        sb,
        placed.replace(day=2),
        paid,
        buyer="joao",
        customer={"name": "Outra", "nif": "501964843"},
    )
    run = InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    outcome = {int(o.key): o for o in run.outcomes if o.key.isdigit()}
    assert outcome[order].action == Action.FAILED
    assert outcome[consumer].action == Action.FAILED, outcome[consumer].detail
    assert "(no customer named)" in outcome[consumer].detail
    assert outcome[other].action == Action.ISSUED, outcome[other].detail
    resent = InvoiceRun.build(config, ledger, js, ig, now=NOW).resend([order], by_a_person=True)
    assert [o.action for o in resent.outcomes if o.key == str(order)] == [Action.ISSUED]
    InvoiceRun.build(config, ledger, js, ig, now=NOW).run()
    assert len(_finals_of(sb, order, set())) == 1  # ours, once
    assert _finals_of(sb, consumer, set()) == []  # still held for a person


@pytest.fixture
def ordinary(tmp_path: Path) -> Iterator[tuple]:
    """A store with no other integration, started on 4 November, that also sells at its
    counter (invoiced by hand in iGEST, to the final consumer)."""
    with inprocess_world.world(tmp_path, NOW, start_date=date(2026, 11, 4)) as w:
        yield w.sb, w.config, w.ledger, w.js, w.ig


def test_a_counter_sale_made_after_the_start_date_holds_no_order_placed_before_it(ordinary):
    """An order placed on 1 November, before the start date, paid on 10 November; the store
    made a counter sale on 8 November, by hand, to the final consumer, of the same total. The
    first run (the 5th) met nothing not ours. That FT is no invoice made as the order was
    placed, before the switch (``fits_unnamed``'s case): a document of the days the guard
    reviews, after the first run, is a sale of the store's own; the order is issued, in the
    run and its preview alike."""
    sb, config, ledger, js, ig = ordinary
    InvoiceRun.build(config, ledger, js, ig, now=datetime(2026, 11, 5, 12, 0, tzinfo=UTC)).run()
    assert ledger.meta.checkpoint is not None
    # The counter sale of the 8th (after the first run), and the order, paid on the 10th.
    order = _invoiced_as_placed(
        sb,
        datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 10, 0, tzinfo=UTC),
        customer=_NO_ONE,
    )
    [counter] = [d for d in sb.igest.documents if d["number"] == "FT MAN/1"]
    counter["date"] = "2026-11-08"
    would, issued = _previewed_then_run(ordinary, order)
    assert would.action == Action.WOULD_ISSUE, would.detail
    assert issued.action == Action.ISSUED, issued.detail
    assert len(_finals_of(sb, order, set())) == 1


@pytest.mark.parametrize(
    ("buyer", "customer"),
    [
        # A company's order with no NIF: the other program (the hosted app's way) named the
        # person who placed it, not the company the order's billing names.
        (Buyer("Rui", "Costa", "rui@example.pt", company="Tasca do Largo, Lda."), None),
        # A consumer's order with no NIF, invoiced by hand as placed with the NIF the customer
        # sent the merchant (an e-mail): the order has none to compare; its name is the same.
        (Buyer("Marta", "Silva", "marta@example.pt"), {"name": "Marta Silva", "nif": "256789010"}),
    ],
    ids=["company-order-person-named", "nif-the-order-lacks"],
)
def test_an_ft_of_the_placement_day_to_the_orders_person_or_a_nif_it_lacks_holds_it(
    switched_off, monkeypatch, buyer, customer
):
    """The FT made as the order was placed names its customer otherwise than the order's
    billing does: the person for a company's order, or a NIF the order does not have. It is
    still that customer's (same total, days, name): the order is held for a person, not
    issued an invoice beside the FT."""
    sb = switched_off[0]
    monkeypatch.setitem(BUYERS, "someone", buyer)
    order = _invoiced_as_placed(
        sb,
        datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 5, 10, 0, tzinfo=UTC),
        buyer="someone",
        customer=customer,
    )
    would, held = _previewed_then_run(switched_off, order)
    assert would.action == Action.WOULD_FAIL, would.detail
    assert held.action == Action.FAILED, held.detail
    assert "FT MAN/1 of 2026-11-01" in held.detail, held.detail
    assert _finals_of(sb, order, {"FT MAN/1"}) == ["FT MAN/1"]
