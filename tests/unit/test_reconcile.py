"""reconcile: the pure comparison, and the run's fetching, look-ups and --fix (fake clients)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from typing import Any, ClassVar

import pytest

from igest_sync.config import Config
from igest_sync.errors import UsageError
from igest_sync.models import DocumentOutcome, IssuedDocument, Order
from igest_sync.references import parse_reference
from igest_sync.runs import reconcile as rec
from igest_sync.runs.invoicing.invoice import InvoiceReport
from igest_sync.runs.reconcile import (
    DUPLICATE,
    MISSING,
    UNCREDITED,
    UNKNOWN_ORDER,
    WRONG_TOTAL,
    Period,
    ReconcileRun,
    compare,
)
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, UtcStoreDays

STORE = "shop"
NOV = Period(date(2026, 11, 1), date(2026, 11, 30))


def at(day: str, time: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}:00+00:00")


def order(
    order_id: int,
    *,
    status: str = "paid",
    paid: str | None = "2026-11-10",
    total: str = "50.00",
    gift: str = "0",
    created: str | None = None,
) -> Order:
    created_at = (
        at(created) if created else (at(paid) - timedelta(hours=1) if paid else at("2026-11-10"))
    )
    return Order(
        id=order_id,
        status=status,
        created_at=created_at,
        completed_at=at(paid) if paid else None,
        currency="EUR",
        subtotal=D(total),
        discount=D(0),
        shipping=D(0),
        shipping_discount=D(0),
        gift_cards_discount=D(gift),
        tax=D(0),
        shipping_tax=D(0),
        total=D(total),
        shipping_required=True,
        shipping_method_name=None,
        shipping_taxes=(),
        payment_method_name=None,
        payment_method_type=None,
        customer_email=None,
        billing=None,
        additional_fields=(),
        lines=(),
    )


_numbers = iter(range(1, 10_000))


def doc(
    order_id: int | str,
    gross: str = "50.00",
    *,
    kind: str = "invoice",
    status: str = "final",
    day: str = "2026-11-10",
    store: str = STORE,
    doc_id: str | None = None,
) -> IssuedDocument:
    n = next(_numbers)
    ref = order_id if isinstance(order_id, str) else f"jumpseller:{store}:{order_id}"
    if kind == "credit":
        ref += ":credit"
    doc_type = "NC" if kind == "credit" else "FR"
    return IssuedDocument(
        id=doc_id or f"d{n}",
        type=doc_type,
        series="A",
        number=f"{doc_type} A/{n}" if status == "final" else None,
        atcud=None,
        status=status,
        date=date.fromisoformat(day),
        external_reference=ref,
        customer_nif=None,
        customer_name=None,
        net_total=D(gross),
        vat_total=D(0),
        gross_total=D(gross),
    )


def kinds(report) -> list[tuple[str, int | None]]:
    return [(p.kind, p.order_id) for p in report.problems]


# -- compare --------------------------------------------------------------------------------


def test_clean_store_has_no_problems_and_exit_0():
    orders = [order(1), order(2, total="12.30"), order(3, status="canceled", paid="2026-11-12")]
    docs = [doc(1), doc(2, "12.30"), doc(3), doc(3, kind="credit")]
    report = compare(orders, docs, STORE, NOV)
    assert report.problems == []
    assert report.exit_code == 0
    assert report.orders_checked == 3
    assert report.documents_checked == 4
    assert (report.invoices_checked, report.credit_notes_checked) == (3, 1)
    assert report.summary().startswith(
        "Clean: 3 orders paid from 2026-11-01 to 2026-11-30, 3 invoices and 1 credit note;"
    )


def test_paid_order_without_final_document_is_missing():
    orders = [order(1), order(2), order(3), order(4)]
    docs = [doc(2, status="draft"), doc(3, status="cancelled"), doc(4, store="othershop"), doc(1)]
    report = compare(orders, docs, STORE, NOV)
    assert kinds(report) == [(MISSING, 2), (MISSING, 3), (MISSING, 4)]
    problem = report.problems[0]
    assert problem.reference == "jumpseller:shop:2"
    assert problem.expected == D("50.00")
    assert problem.fixable
    assert report.exit_code == 1


def test_a_credit_note_alone_is_not_the_invoice():
    report = compare([order(1)], [doc(1, kind="credit")], STORE, NOV)
    assert kinds(report) == [(MISSING, 1)]


def test_two_final_invoices_are_a_duplicate_but_one_document_listed_twice_is_not():
    first, second = doc(1), doc(1)
    report = compare(
        [order(1), order(2)], [first, second, doc(2, doc_id="x"), doc(2, doc_id="x")], STORE, NOV
    )
    assert kinds(report) == [(DUPLICATE, 1)]
    assert report.problems[0].documents == (first.number, second.number)
    assert not report.problems[0].fixable


def test_two_final_credit_notes_are_a_duplicate():
    cancelled = order(1, status="canceled")
    report = compare(
        [cancelled], [doc(1), doc(1, kind="credit"), doc(1, kind="credit")], STORE, NOV
    )
    assert kinds(report) == [(DUPLICATE, 1)]
    assert report.problems[0].reference == "jumpseller:shop:1:credit"


def test_document_total_must_equal_total_plus_gift_cards():
    orders = [order(1, total="38.00", gift="12.00"), order(2, total="38.00", gift="12.00")]
    report = compare(orders, [doc(1, "50.00"), doc(2, "38.00")], STORE, NOV)
    assert kinds(report) == [(WRONG_TOTAL, 2)]
    problem = report.problems[0]
    assert (problem.expected, problem.found) == (D("50.00"), D("38.00"))
    assert report.to_json()["problems"][0]["expected"] == "50.00"
    assert report.to_json()["problems"][0]["found"] == "38.00"


def test_each_wrong_duplicate_is_reported_once_as_wrong():
    report = compare([order(1)], [doc(1, "50.00"), doc(1, "49.99")], STORE, NOV)
    assert kinds(report) == [(DUPLICATE, 1), (WRONG_TOTAL, 1)]


def test_a_wrong_invoice_beside_another_is_offset_in_igest_not_by_credit():
    """`igest-sync credit ORDER` credits the invoice the ledger recorded: with two invoices
    under the order's reference that may be the right one, so the advice names the wrong one
    and sends the person to iGEST for it."""
    report = compare([order(1)], [doc(1, "50.00"), doc(1, "49.99")], STORE, NOV)
    wrong = next(p for p in report.problems if p.kind == WRONG_TOTAL)
    (number,) = wrong.documents
    assert "igest-sync credit 1" not in (wrong.hint or "")
    assert number in (wrong.hint or "") and "iGEST" in (wrong.hint or "")
    alone = compare([order(2)], [doc(2, "49.99")], STORE, NOV).problems[0]
    assert alone.hint is not None and "igest-sync credit 2" in alone.hint


def test_cancelled_invoiced_order_without_credit_note_is_uncredited():
    orders = [
        order(1, status="canceled"),
        order(2, status="canceled"),
        order(3, status="canceled"),
        order(4, status="canceled", paid=None),
    ]
    docs = [doc(1), doc(2), doc(2, kind="credit"), doc(1, kind="credit", status="draft")]
    report = compare(orders, docs, STORE, NOV)
    # 2 is credited, 3 was never invoiced, 4 was never paid.
    assert kinds(report) == [(UNCREDITED, 1)]
    assert report.problems[0].reference == "jumpseller:shop:1:credit"
    assert report.orders_checked == 3


def test_document_of_an_order_jumpseller_does_not_know_is_unknown():
    docs = [
        doc(1),
        doc(99),
        doc(98, kind="credit"),
        doc("jumpseller:shop:abc"),
        doc("jumpseller:shop:010"),
        doc("jumpseller:shopping:5"),
        doc("manual-1"),
        doc(97, day="2026-12-05"),
        doc(96, status="draft"),
    ]
    report = compare([order(1)], docs, STORE, NOV)
    # Dated after the period, a draft, other stores' and hand-made references: not ours to judge.
    assert kinds(report) == [
        (UNKNOWN_ORDER, None),
        (UNKNOWN_ORDER, None),
        (UNKNOWN_ORDER, 98),
        (UNKNOWN_ORDER, 99),
    ]
    assert report.exit_code == 1


def test_known_order_paid_outside_the_period_is_left_to_its_own_period():
    october = order(1, paid="2026-10-20")
    report = compare([october, order(2)], [doc(1, "1.00"), doc(1, "1.00"), doc(2)], STORE, NOV)
    assert report.problems == []
    assert report.orders_checked == 1


def test_period_is_in_lisbon_days():
    summer = Period(date(2026, 7, 1), date(2026, 7, 31))  # Lisbon is UTC+1 in summer
    orders = [
        order(1, paid="2026-06-30", created="2026-06-30"),
        order(2, paid="2026-07-31", created="2026-07-31"),
    ]
    orders = [
        replace(orders[0], completed_at=at("2026-06-30", "23:30")),
        replace(orders[1], completed_at=at("2026-07-31", "23:30")),
    ]
    report = compare(orders, [], STORE, summer)
    assert kinds(report) == [(MISSING, 1)]  # 2 was paid on 1 August in Lisbon


def test_orders_paid_before_the_start_date_are_not_missing():
    orders = [order(1, paid="2026-11-03"), order(2, paid="2026-11-20")]
    report = compare(orders, [], STORE, NOV, invoice_from=date(2026, 11, 15))
    assert kinds(report) == [(MISSING, 2)]
    # Said, so that a period before the start date does not read "Clean" as "invoiced".
    said = (
        "Not checked for a missing invoice: 1 order (1) paid before the start date 2026-11-15 "
        "([invoice] start_date), invoiced before igest-sync (`igest-sync adopt` records those "
        "invoices)."
    )
    assert report.notices == [said]
    invoiced = compare(orders, [doc(1)], STORE, NOV, invoice_from=date(2026, 11, 15))
    assert invoiced.notices == []  # its invoice is there: checked as any other


def test_a_sale_igest_sync_does_not_invoice_is_not_missing_but_said():
    # A till sale (source "pos") is invoiced at the till: without an invoice of ours it is not
    # missing one; with one (resent by hand) it is checked as any other.
    till, till_twice = replace(order(2), source="pos"), replace(order(3), source="pos")
    orders = [order(1), till, till_twice]
    report = compare(
        orders,
        [doc(3), doc(3)],
        STORE,
        NOV,
        not_invoiced=lambda o: "the till's" if o.source == "pos" else None,
    )
    assert kinds(report) == [(MISSING, 1), (DUPLICATE, 3)]
    assert report.orders_checked == 2
    [notice] = report.notices
    assert notice == (
        "Not checked: 1 order (2) from a source igest-sync does not invoice ([invoice] sources; "
        "by default the till's sales, invoiced there)."
    )


def test_paid_order_without_payment_time_is_a_notice_not_a_problem():
    report = compare([order(1, paid=None, created="2026-11-04")], [], STORE, NOV)
    assert report.problems == []
    assert "1" in report.notices[0] and "payment time" in report.notices[0]


def test_problems_are_sorted_by_kind_then_order():
    orders = [order(5), order(3), order(4, status="canceled")]
    report = compare(orders, [doc(4), doc(3, "1.00"), doc(8)], STORE, NOV)
    assert kinds(report) == [(MISSING, 5), (WRONG_TOTAL, 3), (UNCREDITED, 4), (UNKNOWN_ORDER, 8)]
    data = report.to_json()
    assert data["counts"] == {
        "missing": 1,
        "duplicate": 0,
        "wrong_total": 1,
        "uncredited": 1,
        "paid_again": 0,
        "unknown_order": 1,
    }
    assert data["clean"] is False
    assert [p["kind"] for p in data["problems"]] == [k for k, _ in kinds(report)]


def test_period_must_not_end_before_it_starts():
    with pytest.raises(UsageError):
        Period(date(2026, 11, 2), date(2026, 11, 1))


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("jumpseller:shop:10452", (10452, "invoice")),
        ("jumpseller:shop:10452:credit", (10452, "credit")),
        ("jumpseller:shop:x", (None, "invoice")),
        ("jumpseller:shop:", (None, "invoice")),
        ("jumpseller:shop:١٢", (None, "invoice")),  # non-ASCII digits
        ("jumpseller:shop2:1", None),
        ("jumpseller:sho:1", None),
        (None, None),
    ],
)
def test_parse_reference(reference, expected):
    assert parse_reference(reference, STORE) == expected


# -- the run, with fake clients -------------------------------------------------------------


def jumpseller(listed: list[Order], hidden: list[Order] = ()) -> FakeJumpseller:
    """Jumpseller holding ``listed`` (created in the period) and ``hidden`` (created before the
    listing window: found only by a look-up)."""
    return FakeJumpseller(orders=[*listed, *hidden])


def igest(documents: list[IssuedDocument]) -> FakeIgest:
    return FakeIgest(documents=documents)


def config(**invoice) -> Config:
    return fake_config(store=STORE, login="login", **invoice)


def test_run_lists_orders_30_days_back_and_documents_30_days_on():
    js, ig = jumpseller([order(1)]), igest([doc(1)])
    report = reconcile(config(), js, ig).run(NOV)
    assert report.problems == []
    assert js.called("orders_created_between") == [(date(2026, 10, 2), date(2026, 11, 30), None)]
    assert ig.called("find_documents") == [
        {"date_from": date(2026, 11, 1), "date_to": date(2026, 12, 30)}
    ]


def test_run_finds_an_older_order_paid_in_the_period_and_unknown_orders():
    old = order(5, created="2026-09-01", paid="2026-11-03", total="20.00")
    js = jumpseller([order(10), order(11)], hidden=[old])
    docs = [
        doc(10),
        doc(11),
        doc(5, "19.00", day="2026-11-03"),
        doc(7, day="2026-11-20"),
        doc(99, day="2026-11-20"),
    ]
    report = reconcile(config(), js, igest(docs)).run(NOV)
    assert kinds(report) == [(WRONG_TOTAL, 5), (UNKNOWN_ORDER, 7), (UNKNOWN_ORDER, 99)]
    assert sorted(js.called("order")) == [5, 7, 99]


def test_run_does_not_look_up_orders_created_after_the_period():
    # Documents dated in December for orders newer than any listed one: December's business.
    js = jumpseller([order(10)])
    docs = [doc(10), doc(20, day="2026-12-02"), doc(21, day="2026-12-03")]
    report = reconcile(config(), js, igest(docs)).run(NOV)
    assert report.problems == []
    assert js.called("order") == []


def test_run_looks_up_a_missing_reference_outside_the_window_before_reporting_it():
    paid = order(1, paid="2026-11-30")
    cancelled = order(2, status="canceled", paid="2026-11-05")
    never = order(3)
    docs = [
        doc(1, day="2027-01-15"),
        doc(2, day="2026-11-05"),
        doc(2, kind="credit", day="2027-02-01"),
    ]
    ig = igest(docs)
    report = reconcile(config(), jumpseller([paid, cancelled, never]), ig).run(NOV)
    assert kinds(report) == [(MISSING, 3)]
    looked_up = [
        q["external_reference"] for q in ig.called("find_documents") if "external_reference" in q
    ]
    assert sorted(looked_up) == [
        "jumpseller:shop:1",
        "jumpseller:shop:2:credit",
        "jumpseller:shop:3",
    ]


def test_run_lists_later_documents_once_instead_of_many_look_ups():
    many = rec.LOOKUP_LIMIT + 1
    orders = [order(i) for i in range(1, many + 2)]
    docs = [doc(i, day="2027-03-01") for i in range(1, many + 1)]  # all invoiced very late
    ig = igest(docs)
    report = reconcile(config(), jumpseller(orders), ig).run(NOV)
    assert kinds(report) == [(MISSING, many + 1)]
    assert ig.called("find_documents")[1:] == [{"date_from": date(2026, 12, 31)}]


def test_run_respects_the_configured_start_date():
    js = jumpseller([order(1, paid="2026-11-02"), order(2, paid="2026-11-20")])
    report = reconcile(config(start_date=date(2026, 11, 15)), js, igest([])).run(NOV)
    assert kinds(report) == [(MISSING, 2)]


class FakeInvoiceRun:
    """Stands in for InvoiceRun: records what --fix asks it to resend."""

    calls: ClassVar[list[list[int]]] = []
    results: ClassVar[dict[int, str]] = {}

    def resend(self, order_ids: list[int]) -> InvoiceReport:
        FakeInvoiceRun.calls.append(list(order_ids))
        return InvoiceReport(
            outcomes=[
                DocumentOutcome(str(i), self.results.get(i, "issued"), "FR A/9") for i in order_ids
            ],
            notices=["a notice from the invoice run"],
        )


def reconcile(cfg: Config, js: FakeJumpseller, ig: FakeIgest, **kw: Any) -> ReconcileRun:
    """A reconcile run whose ``--fix`` resends through ``FakeInvoiceRun``."""
    return ReconcileRun(
        cfg.invoice, cfg.jumpseller.store, js, ig, resend=FakeInvoiceRun().resend, **kw
    )


@pytest.fixture
def fake_invoice_run() -> type[FakeInvoiceRun]:
    FakeInvoiceRun.calls = []
    FakeInvoiceRun.results = {}
    return FakeInvoiceRun


def problem_store() -> tuple[FakeJumpseller, FakeIgest]:
    orders = [
        order(1),
        order(2),
        order(3, total="9.00"),
        order(4, status="canceled"),
        order(5),
        order(6),
    ]
    docs = [doc(2), doc(3), doc(4), doc(5), doc(5), doc(77)]
    return jumpseller(orders), igest(docs)


def test_fix_resends_only_the_missing_invoices(tmp_path, fake_invoice_run):
    js, ig = problem_store()
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(), js, ig, ledger=ledger).run(NOV, fix=True)
    assert fake_invoice_run.calls == [[1, 6]]
    assert [o.key for o in report.fixes] == ["1", "6"]
    assert [p.order_id for p in report.problems if report.fixed(p)] == [1, 6]
    assert {(p.kind, p.order_id) for p in report.remaining} == {
        (DUPLICATE, 5),
        (WRONG_TOTAL, 3),
        (UNCREDITED, 4),
        (UNKNOWN_ORDER, 77),
    }
    assert report.exit_code == 1  # the rest needs a person
    assert "a notice from the invoice run" in report.notices
    assert "Fixed 2" in report.summary()


def test_fix_that_resolves_everything_exits_0(tmp_path, fake_invoice_run):
    js, ig = jumpseller([order(1), order(2)]), igest([doc(2)])
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(), js, ig, ledger=ledger).run(NOV, fix=True)
    assert fake_invoice_run.calls == [[1]]
    assert report.remaining == []
    assert report.exit_code == 0
    assert report.to_json()["problems"][0]["fixed"] is True


def test_fix_never_issues_a_till_sale(tmp_path, fake_invoice_run):
    # The invoice run skips a sale made at the till (invoiced there); --fix issuing it would
    # be a second invoice of the same sale.
    js, ig = jumpseller([order(1), replace(order(2), source="pos")]), igest([])
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(), js, ig, ledger=ledger).run(NOV, fix=True)
    assert fake_invoice_run.calls == [[1]]
    assert kinds(report) == [(MISSING, 1)]
    assert any("Not checked: 1 order (2)" in n for n in report.notices)


def test_a_failed_fix_leaves_the_problem(tmp_path, fake_invoice_run):
    fake_invoice_run.results = {1: "failed"}
    js, ig = jumpseller([order(1)]), igest([])
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(), js, ig, ledger=ledger).run(NOV, fix=True)
    assert [p.order_id for p in report.remaining] == [1]
    assert report.exit_code == 1


def test_a_failed_fix_does_not_send_the_person_back_to_fix(tmp_path, fake_invoice_run):
    # Before: after --fix had just tried (and failed) it said "igest-sync reconcile --fix, or
    # igest-sync resend 1", a loop; now it points at what --fix met, then resend.
    fake_invoice_run.results = {1: "failed"}
    js, ig = jumpseller([order(1)]), igest([])
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(), js, ig, ledger=ledger).run(NOV, fix=True)
        untried = reconcile(config(), js, ig, ledger=ledger).run(NOV)
    [problem] = report.remaining
    hint = report.hint(problem)
    assert "reconcile --fix" not in hint and "--fix tried it (failed" in hint
    assert hint.endswith("igest-sync resend 1")
    assert report.to_json()["problems"][0]["hint"] == hint
    assert untried.hint(untried.problems[0]) == "igest-sync reconcile --fix, or igest-sync resend 1"


def test_a_fix_that_drafted_in_review_mode_names_approve_not_resend(tmp_path, fake_invoice_run):
    # Review mode: --fix drafts the missing invoice for approval. Before: "--fix tried it
    # (drafted: why, under 'What --fix did'); once that is settled: igest-sync resend 1", and
    # resend is not what finalizes a draft waiting for a person.
    fake_invoice_run.results = {1: "drafted"}
    js, ig = jumpseller([order(1)]), igest([])
    with Ledger(tmp_path / "state.db") as ledger:
        report = reconcile(config(review=True), js, ig, ledger=ledger).run(NOV, fix=True)
    [problem] = report.remaining
    hint = report.hint(problem)
    assert hint == (
        "--fix drafted it; the draft waits for approval (review mode): `igest-sync approve 1` "
        "finalizes it (or `--reject`)"
    )
    assert "resend" not in hint and report.to_json()["problems"][0]["hint"] == hint


def test_no_fix_without_the_flag_and_nothing_to_resend_on_a_clean_store(tmp_path, fake_invoice_run):
    js, ig = problem_store()
    report = reconcile(config(), js, ig).run(NOV)
    assert fake_invoice_run.calls == []
    assert report.fixes == [] and report.exit_code == 1
    with Ledger(tmp_path / "state.db") as ledger:
        clean = reconcile(config(), jumpseller([order(1)]), igest([doc(1)]), ledger=ledger).run(
            NOV, fix=True
        )
    assert fake_invoice_run.calls == []
    assert clean.exit_code == 0


def test_fix_needs_the_ledger():
    with pytest.raises(UsageError):
        reconcile(config(), jumpseller([]), igest([])).run(NOV, fix=True)


def test_a_draft_invoice_beside_the_final_one_is_named_and_fix_deletes_it(tmp_path):
    # A create whose answer was lost, applied by iGEST after the next run had issued the
    # invoice: its draft could only ever be finalized as a second invoice. A draft of an order
    # without a final invoice (review mode waiting for a person) is left alone.
    late = doc(1, status="draft", doc_id="d-late")
    waiting = doc(2, status="draft", doc_id="d-review")
    ig = igest([doc(1, doc_id="d-final"), late, waiting])
    js = jumpseller([order(1), order(2)])
    report = reconcile(config(), js, ig).run(NOV)
    assert kinds(report) == [(MISSING, 2)]  # the draft is not its invoice
    [notice] = [n for n in report.notices if "d-late" in n]
    assert "order 1, which already has its invoice FR A/" in notice
    assert "never finalize it" in notice and "reconcile --fix" in notice
    assert "d-late" in ig.documents and not ig.called("delete_document")
    with Ledger(tmp_path / "state.db") as ledger:
        fixed = ReconcileRun(
            config().invoice, STORE, js, ig, ledger=ledger, resend=lambda ids: InvoiceReport()
        ).run(NOV, fix=True)
    assert ig.called("delete_document") == ["d-late"]
    assert sorted(ig.documents) == ["d-final", "d-review"]
    assert any("d-late" in n and "deleted" in n for n in fixed.notices)


def test_a_stray_drafts_deletion_whose_answer_was_lost_says_so_and_a_rerun_looks_again(tmp_path):
    late = doc(1, status="draft", doc_id="d-late")
    ig = igest([doc(1, doc_id="d-final"), late])
    ig.faults.add("delete_document", "timeout", after=True)  # iGEST deleted it; no answer
    js = jumpseller([order(1)])

    def fix():
        with Ledger(tmp_path / "state.db") as ledger:
            return ReconcileRun(
                config().invoice, STORE, js, ig, ledger=ledger, resend=lambda ids: InvoiceReport()
            ).run(NOV, fix=True)

    [notice] = [n for n in fix().notices if "d-late" in n]
    assert "its answer was lost, so it may be gone" in notice and "delete it in iGEST" not in notice
    assert "d-late" not in ig.documents
    assert not [n for n in fix().notices if "d-late" in n]  # looked again: nothing left to say


def test_a_missing_invoice_whose_draft_waits_for_approval_names_approve_not_fix(tmp_path):
    # Review mode: the order's checked draft waits for a person. --fix would only find it
    # waiting again (and said "1 still need a person" of a problem it called fixable).
    waiting = doc(2, status="draft", doc_id="d-review")
    ig = igest([doc(1), waiting])
    js = jumpseller([order(1), order(2)])
    resent: list[list[int]] = []
    from igest_sync.models import WorkState
    from igest_sync.references import external_reference

    with Ledger(tmp_path / "state.db") as ledger:
        ledger.ensure_work(2, "invoice", external_reference(STORE, 2))
        ledger.mark(2, "invoice", WorkState.REVIEW, document_id="d-review")
        report = ReconcileRun(
            config().invoice,
            STORE,
            js,
            ig,
            ledger=ledger,
            resend=lambda ids: resent.append(ids) or InvoiceReport(),
        ).run(NOV, fix=True)
    [problem] = report.problems
    assert (problem.kind, problem.order_id) == (MISSING, 2)
    assert "waits for approval" in problem.detail and "igest-sync approve 2" in (problem.hint or "")
    assert not problem.fixable and resent == []


def _failed_work(ledger: Ledger, order_id: int, reason: str, *, transient: bool) -> None:
    from igest_sync.references import external_reference

    ledger.ensure_work(order_id, "invoice", external_reference(STORE, order_id))
    ledger.fail(order_id, "invoice", reason, transient=transient)


def test_a_missing_invoice_the_runs_refused_names_its_reason_and_resend_not_fix(tmp_path):
    # Before: "igest-sync reconcile --fix, or igest-sync resend 2", fixable, and --fix was
    # refused again for the same cause. The state file says why; a person fixes that first.
    js, ig = jumpseller([order(1), order(2)]), igest([])
    resent: list[list[int]] = []
    reason = "the order is in 'USD'; iGEST documents are issued in EUR only"
    with Ledger(tmp_path / "state.db") as ledger:
        _failed_work(ledger, 2, reason, transient=False)
        report = ReconcileRun(
            config().invoice,
            STORE,
            js,
            ig,
            ledger=ledger,
            resend=lambda ids: resent.append(ids) or InvoiceReport(),
        ).run(NOV, fix=True)
    assert resent == [[1]]  # the one the runs never tried
    refused = report.problems[1]
    assert (refused.kind, refused.order_id) == (MISSING, 2) and not refused.fixable
    assert refused.detail.endswith(f"; failed in igest-sync: {reason}")
    assert report.hint(refused) == "fix the cause, then `igest-sync resend 2`"
    assert report.to_json()["problems"][1]["fixable"] is False


def test_a_missing_invoice_a_service_failed_says_the_next_run_retries_it(tmp_path):
    # A failure that passes by itself (iGEST did not answer, VIES down) is the runs' to retry;
    # --fix may retry it now all the same (exactly once either way).
    js, ig = jumpseller([order(2)]), igest([])
    resent: list[list[int]] = []
    reason = "could not reach iGEST: 502; the next run tries again by itself"
    with Ledger(tmp_path / "state.db") as ledger:
        _failed_work(ledger, 2, reason, transient=True)
        run = ReconcileRun(
            config().invoice,
            STORE,
            js,
            ig,
            ledger=ledger,
            resend=lambda ids: resent.append(ids) or InvoiceReport(),
        )
        report = run.run(NOV)
        run.run(NOV, fix=True)
    [problem] = report.problems
    assert problem.fixable and problem.detail.endswith(f"; not issued yet: {reason}")
    assert report.hint(problem) == (
        "the next `igest-sync invoice` tries again by itself; or now: igest-sync reconcile "
        "--fix, or igest-sync resend 2"
    )
    assert resent == [[2]]


def test_an_order_whose_total_cannot_be_read_is_missing_without_an_amount():
    # Before: "paid on 2026-11-10 (0.00 EUR)", expected 0.00: the parser's neutral value.
    unreadable = replace(
        order(1, total="0"),
        total_unread="total is 'abc', not a number",
        defects=("total is 'abc', not a number",),
    )
    report = compare([unreadable], [], STORE, NOV)
    [problem] = report.problems
    assert (problem.kind, problem.expected) == (MISSING, None)
    assert problem.detail.startswith(
        "paid on 2026-11-10 (its total cannot be read: total is 'abc', not a number); "
    )
    assert report.to_json()["problems"][0]["expected"] is None


def test_an_invoice_of_an_order_whose_total_cannot_be_read_is_not_called_wrong():
    # Nothing to compare it with: a notice, not a wrong total against 0.00.
    unreadable = replace(
        order(1, total="0"), total_unread="total is missing", defects=("total is missing",)
    )
    invoice = doc(1, "50.00")
    report = compare([unreadable], [invoice], STORE, NOV)
    assert report.problems == []
    assert any(
        n.startswith(f"Order 1: its total cannot be read (total is missing); {invoice.number}")
        for n in report.notices
    ), report.notices


def _hosted_invoice_of_9001() -> IssuedDocument:
    """FR QI/1, the hosted app's invoice of order 9001 (23.88), as adopt recorded it."""
    return replace(doc("QI-9001", "23.88", doc_id="qi1"), number="FR QI/1", series="QI")


def _their_note(
    number: str, invoice: str, amount: str, *, reference: str | None = None
) -> IssuedDocument:
    """A credit note the hosted app issued of ``invoice`` (no reference of ours)."""
    return replace(
        doc("x", amount, kind="credit", doc_id=number),
        external_reference=reference,
        number=number,
        related_number=invoice,
    )


def test_a_credit_note_the_other_integration_issued_for_an_adopted_invoice_counts():
    # The hosted app credited part of FR QI/1 (its NC names the invoice, not the order), and
    # the cancellation pass credited the rest: the sale nets to nothing. Counted as ours only,
    # it read "credited only 13.89 of 23.88" and sent the person to a `credit --all` that finds
    # nothing left, and reconcile exited 1 on every run.
    invoice = _hosted_invoice_of_9001()
    theirs = _their_note("NC QI/1", "FR QI/1", "9.99")
    ours = replace(doc(9001, "13.89", kind="credit"), related_number="FR QI/1")
    orders = [order(9001, status="canceled", total="23.88")]
    report = compare(orders, [invoice, theirs, ours], STORE, NOV, elsewhere={"qi1": 9001})
    assert report.problems == []
    assert (report.invoices_checked, report.credit_notes_checked) == (1, 2)


def test_a_credit_note_not_ours_of_another_stores_invoice_is_not_counted():
    invoice = _hosted_invoice_of_9001()
    unrelated = _their_note("NC QI/2", "FR QI/7", "23.88")
    orders = [order(9001, status="canceled", total="23.88")]
    report = compare(orders, [invoice, unrelated], STORE, NOV, elsewhere={"qi1": 9001})
    assert kinds(report) == [(UNCREDITED, 9001)]


def test_two_partial_credit_notes_not_ours_under_one_reference_of_theirs_are_no_duplicate():
    # The hosted app writes its own reference style (QI-<order>) on every document: its two
    # partial credit notes of FR QI/1 share one. Only our references are one document each;
    # keyed by theirs, reconcile called them "2 final credit notes for QI-9001", a duplicate
    # to offset with a credit note, and exited 1 on every run.
    invoice = _hosted_invoice_of_9001()
    first, second = (
        _their_note(f"NC QI/{n}", "FR QI/1", amount, reference="QI-9001")
        for n, amount in ((1, "9.99"), (2, "13.89"))
    )
    orders = [order(9001, status="canceled", total="23.88")]
    report = compare(orders, [invoice, first, second], STORE, NOV, elsewhere={"qi1": 9001})
    assert report.problems == []
    assert report.credit_notes_checked == 2


def _seen_open(ledger: Ledger, o: Order, status: str) -> None:
    """The ledger as a run left it that saw ``o`` in ``status`` (open: not paid yet), its
    listing completed (a ledger still rebuilding lists the paid orders of the year instead)."""
    ledger.record_order(
        o.id, status, created_at=o.created_at, paid_at=None, total=o.total, customer=None
    )
    ledger.complete_listing(o.id)


def test_a_checkout_abandoned_long_before_the_period_and_paid_in_it_is_a_sale_of_it(tmp_path):
    # A cart abandoned in September (past the runs' 31 days) and completed in November, never
    # invoiced: the listing by creation day starts 30 days before November, so the month was
    # called clean (and so was September, where it was not paid). The ledger knows the cart.
    cart = order(5, created="2026-09-20", paid="2026-11-12", total="20.00")
    pending = order(6, created="2026-08-01", paid="2026-11-13", total="30.00")
    still_open = order(7, status="abandoned", created="2026-09-21", paid=None)
    js = jumpseller([order(10)], hidden=[cart, pending, still_open])
    with Ledger(tmp_path / "state.db") as ledger:
        _seen_open(ledger, cart, "abandoned")
        _seen_open(ledger, pending, "pending_payment")
        _seen_open(ledger, still_open, "abandoned")
        report = reconcile(config(), js, igest([doc(10)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, 5), (MISSING, 6)]
    assert report.orders_checked == 3
    assert sorted(js.called("order")) == [5, 6, 7]  # a few: one GET each


def _many_carts_and_one_paid() -> tuple[Order, FakeJumpseller]:
    """More carts of 15 September than reconcile reads back one by one, and one order of that
    day paid on 20 November, none of them in November's listing: the paid one and the store."""
    carts = [
        order(i, status="abandoned", created="2026-09-15", paid=None)
        for i in range(1, rec.LOOKUP_LIMIT + 2)
    ]
    paid = order(rec.LOOKUP_LIMIT + 2, created="2026-09-15", paid="2026-11-20")
    return paid, jumpseller([order(500)], hidden=[*carts, paid])


def _seen_open_all(ledger: Ledger, js: FakeJumpseller) -> None:
    """The ledger as a run left it that saw every order of ``js`` but November's open."""
    for o in js.orders.values():
        if o.id != 500:
            _seen_open(ledger, o, "abandoned")


def test_many_open_orders_before_the_window_are_read_back_with_one_listing(tmp_path):
    paid, js = _many_carts_and_one_paid()
    with Ledger(tmp_path / "state.db") as ledger:
        _seen_open_all(ledger, js)
        report = reconcile(config(), js, igest([doc(500)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, paid.id)]
    assert js.called("order") == []
    assert js.called("orders_created_between")[1:] == [
        (date(2026, 9, 14), date(2026, 10, 2), "paid")
    ]


def test_an_order_before_the_window_with_failed_work_is_not_called_clean(tmp_path):
    # Waited for payment since August, paid in November, its invoice failed in the runs:
    # `status` lists it failed, and reconcile called November clean.
    late = order(8, created="2026-08-01", paid="2026-11-05")
    js = jumpseller([order(10)], hidden=[late])
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.record_order(
            8,
            "paid",
            created_at=late.created_at,
            paid_at=late.completed_at,
            total=late.total,
            customer=None,
        )
        _failed_work(ledger, 8, "could not reach iGEST: 502", transient=True)
        report = reconcile(config(), js, igest([doc(10)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, 8)]


def test_a_state_file_still_rebuilding_does_not_hide_an_order_placed_months_before(tmp_path):
    # The state file lost (or its first run killed before its listing completed): it knows
    # no order. One placed in June, paid in November by a late transfer, not invoiced yet:
    # the listing by creation starts 30 days before November, and November was called clean.
    late = order(8, created="2026-06-10", paid="2026-11-05")
    paid_before = order(9, created="2026-06-11", paid="2026-10-20")  # October's business
    js = jumpseller([order(10)], hidden=[late, paid_before])
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.begin_listing(date(2026, 10, 2))  # a first run killed while listing
        report = reconcile(config(), js, igest([doc(10)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, 8)]
    assert report.exit_code != 0


def test_the_listing_of_many_open_orders_starts_a_store_day_before_the_oldest(tmp_path):
    # The oldest cart, created at 23:30 UTC on 14 September (00:30 on the 15th in Lisbon),
    # completed in November: the listing started on its Lisbon day, the 15th, and a store
    # whose days are UTC's left it out; November was called clean.
    carts = [
        order(i, status="abandoned", created="2026-09-15", paid=None)
        for i in range(1, rec.LOOKUP_LIMIT + 2)
    ]
    oldest = order(rec.LOOKUP_LIMIT + 2, paid="2026-11-20")
    oldest = replace(oldest, created_at=at("2026-09-14", "23:30"))
    js = UtcStoreDays(orders=[order(500), *carts, oldest])
    with Ledger(tmp_path / "state.db") as ledger:
        for o in [*carts, oldest]:
            _seen_open(ledger, o, "abandoned")
        report = reconcile(config(), js, igest([doc(500)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, oldest.id)]


def test_a_state_file_still_rebuilding_lists_the_years_paid_orders_once(tmp_path):
    # A backfill under way (the ledger rebuilding) and many carts it saw open: the paid orders
    # of the year before the window were listed for the rebuild, then the days from the oldest
    # cart listed again for the carts, a second read of the same orders in one run.
    paid, js = _many_carts_and_one_paid()
    with Ledger(tmp_path / "state.db") as ledger:
        _seen_open_all(ledger, js)
        ledger.begin_listing(date(2026, 9, 1))  # a backfill under way
        report = reconcile(config(), js, igest([doc(500)]), ledger=ledger).run(NOV)
    assert kinds(report) == [(MISSING, paid.id)]
    listings = [c for c in js.called("orders_created_between") if c[2] == "paid"]
    assert len(listings) == 1
