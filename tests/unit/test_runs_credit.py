"""runs/credits/credit.py against in-memory fakes: a credit note per request, planned from what
iGEST holds, asked for, recorded before any call, resumed (never repeated) after a crash."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.errors import UsageError
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action, OrderLine, Tax, WorkState
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.issuer import Issuer
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.wiring import credit_run
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

D = Decimal
STORE = "loja"
ORDER = 10452
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VAT = (Tax("IVA 23", D(23), False, True),)


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the runs catches it."""


def make_config(**invoice: object) -> Config:
    return fake_config(store=STORE, login="login", link_documents=False, **invoice)


def three_of_a_kind(status: str = "paid"):
    """3 x 10.00 (SKU-1) and 1 x 5.00 (SKU-2), VAT included: 35.00."""
    lines = (
        OrderLine(101, None, "SKU-1", "Caneca", D(3), D("10.00"), D(0), VAT),
        OrderLine(102, None, "SKU-2", "Prato", D(1), D("5.00"), D(0), VAT),
    )
    return replace(paid_order(ORDER, "35.00", status=status), lines=lines)


@pytest.fixture
def world():
    with Ledger(Path(":memory:")) as ledger:
        config = make_config()
        igest = FakeIgest()
        js = FakeJumpseller(orders=[three_of_a_kind()])
        invoice = Issuer(
            RunContext.build(config, ledger, FakeJumpseller(), igest), today=NOW.date()
        ).issue(three_of_a_kind())
        assert invoice.action == Action.ISSUED
        yield config, ledger, js, igest


def kill_at(step: str):
    """A crash hook that stands for a kill just before the issuer's step ``step``."""

    def kill(at: str) -> None:
        if at == step:
            raise Killed(at)

    return kill


def run(world, **kwargs):
    config, ledger, js, igest = world
    return credit_run(config, ledger, js, igest, now=NOW, **kwargs)


def yes(plan: object) -> bool:
    return True


def notes(igest: FakeIgest) -> list:
    return [d for d in igest.finals() if d.type == "NC"]


def test_partial_credit_is_planned_asked_and_recorded_with_its_request(world):
    _, ledger, _, igest = world
    asked = []
    report = run(world).credit(
        ORDER, CreditRequest.parse(["SKU-1:1"]), "Partiu", restock=False, confirm=asked.append
    )
    # confirm returned None (falsy): declined, nothing written
    assert report.declined and len(asked) == 1 and asked[0].gross_total == D("10.00")
    assert notes(igest) == [] and ledger.credit_works(ORDER) == []
    report = run(world).credit(
        ORDER, CreditRequest.parse(["SKU-1:1"]), "Partiu", restock=False, confirm=lambda p: True
    )
    assert report.exit_code == 0 and report.outcome.action == Action.ISSUED
    assert "25.00 EUR left" in report.outcome.detail
    [nc] = notes(igest)
    # The reference carries the request's key: iGEST itself tells what this request produced.
    assert nc.external_reference.startswith(f"jumpseller:{STORE}:{ORDER}:credit:r")
    assert len(nc.external_reference.rsplit(":", 1)[1]) == 11
    assert igest.drafts[-1].move_stock is False
    assert igest.drafts[-1].related_document == ("FR A/1", "Partiu")
    [work] = ledger.credit_works(ORDER)
    assert work.state == WorkState.FINAL and '"SKU-1", "1"' in (work.request or "")
    assert '"restock": false' in work.request and '"reason": "Partiu"' in work.request


def test_a_dry_run_plans_from_igest_and_writes_nothing(world):
    _, ledger, _, igest = world
    before = len(igest.called("create_document"))
    report = run(world).credit(ORDER, CreditRequest(everything=True), "x", dry_run=True)
    assert report.plan is not None and report.plan.gross_total == D("35.00")
    assert report.outcome is None and "nothing was written" in report.summary()
    assert notes(igest) == [] and ledger.credit_works(ORDER) == []
    assert len(igest.called("create_document")) == before


def test_credits_in_sequence_then_a_refusal_naming_them(world):
    _, ledger, _, igest = world
    for spec in (["SKU-1:1"], ["SKU-2"], ["SKU-1"]):
        report = run(world).credit(ORDER, CreditRequest.parse(spec), "x", confirm=yes)
        assert report.outcome.action == Action.ISSUED, report.outcome.detail
    assert [n.gross_total for n in notes(igest)] == [D("10.00"), D("5.00"), D("20.00")]
    assert [w.seq for w in ledger.credit_works(ORDER)] == [1, 2, 3]
    # The first request asked again: its own NC, not "nothing left"; with --again: refused.
    same = run(world).credit(ORDER, CreditRequest.parse(["SKU-1:1"]), " X.", confirm=yes)
    assert same.exit_code == 0 and same.outcome.action == Action.ALREADY
    assert same.outcome.detail.startswith("already issued: NC A/1 of 2026-11-25 for this request")
    refused = run(world).credit(
        ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes, again=True
    )
    assert refused.exit_code == 1 and refused.outcome.action == Action.FAILED
    assert "SKU-1: 3 invoiced, 3 already credited (NC A/1, NC A/3)" in refused.outcome.detail
    assert len(ledger.credit_works(ORDER)) == 3  # a refusal is not recorded as work
    full = run(world).credit(ORDER, CreditRequest(everything=True), "x", confirm=yes)
    assert full.exit_code == 0 and full.outcome.action == Action.ALREADY
    assert "credited in full already" in full.outcome.detail


@pytest.mark.parametrize("step", ["request", "drafted", "finalize", "record"])
def test_a_killed_credit_is_resumed_by_the_same_request_and_blocks_another(world, step):
    _, ledger, _, igest = world

    with pytest.raises(Killed):
        run(world, crash_hook=kill_at(step)).credit(
            ORDER, CreditRequest.parse(["SKU-1:2"]), "Devolução", confirm=yes
        )
    if step in ("drafted", "finalize"):
        with pytest.raises(UsageError) as refused:
            run(world).credit(
                ORDER, CreditRequest(shipping=False, everything=True), "x", confirm=yes
            )
        assert "--line SKU-1:2" in refused.value.hint
    again = run(world).credit(ORDER, CreditRequest.parse(["SKU-1:2"]), "Devolução", confirm=yes)
    assert again.outcome.action in (Action.ISSUED, Action.ADOPTED), again.outcome.detail
    assert again.resumed == "--line SKU-1:2"
    [nc] = notes(igest)
    assert nc.gross_total == D("20.00")
    assert [d for d in igest.documents.values() if d.status == "draft"] == []
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]


def test_a_lost_ledger_cannot_credit_twice_and_takes_a_fresh_reference(world):
    config, _, js, igest = world
    assert run(world).credit(ORDER, CreditRequest.parse(["SKU-2"]), "x", confirm=yes).exit_code == 0
    with Ledger(Path(":memory:")) as fresh:
        lost = (config, fresh, js, igest)
        # The same request, read back from iGEST by its key: its NC, adopted; nothing issued.
        again = run(lost).credit(ORDER, CreditRequest.parse(["SKU-2"]), "x", confirm=yes)
        assert again.exit_code == 0 and again.outcome.action == Action.ADOPTED
        assert again.outcome.detail.startswith("already issued: NC A/1 of 2026-11-25")
        assert [d.number for d in fresh.credit_documents(ORDER)] == ["NC A/1"]
        # Another unit for the same reason, deliberately: refused, nothing is left of SKU-2.
        more = run(lost).credit(ORDER, CreditRequest.parse(["SKU-2"]), "x", confirm=yes, again=True)
        assert (
            more.exit_code == 1 and "SKU-2: 1 invoiced, 1 already credited" in more.outcome.detail
        )
        new = run(lost).credit(ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes)
        assert new.outcome.action == Action.ISSUED
        assert [w.seq for w in fresh.credit_works(ORDER)] == [1, 2]
    assert len(notes(igest)) == 2


def test_a_cancellation_after_a_partial_credit_credits_the_remainder_once(world):
    _, ledger, js, igest = world
    run(world).credit(ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes)
    js.add(three_of_a_kind(status="canceled"))
    credits = run(world)
    for _ in range(2):
        report = InvoiceReport()
        credits.credit_cancelled(report)
    assert [n.gross_total for n in notes(igest)] == [D("10.00"), D("25.00")]
    assert ledger.invoiced_without_credit() == {}


def test_the_credit_pass_tells_what_credit_shows_before_asking():
    """Two one-mug credits of 3 x 9.99, then the order cancelled: the pass's NC carried the
    third 1.87 of VAT (5.61 against 5.60) and said nothing, where `credit` warns."""

    def mugs(status: str = "paid"):
        line = OrderLine(101, None, "CAN", "Caneca", D(3), D("9.99"), D(0), VAT)
        return replace(paid_order(ORDER, "29.97", status=status), lines=(line,))

    with Ledger(Path(":memory:")) as ledger:
        config, igest, js = make_config(), FakeIgest(), FakeJumpseller(orders=[mugs()])
        context = RunContext.build(config, ledger, FakeJumpseller(), igest)
        assert Issuer(context, today=NOW.date()).issue(mugs()).action == Action.ISSUED
        world = (config, ledger, js, igest)
        for again in (False, True):
            run(world).credit(ORDER, CreditRequest.parse(["CAN:1"]), "x", again=again, confirm=yes)
        js.add(mugs(status="canceled"))
        report = InvoiceReport()
        run(world).credit_cancelled(report)
        assert [n.gross_total for n in notes(igest)] == [D("9.99")] * 3
        [told] = [n for n in report.notices if "of VAT at 23" in n]
        assert told.startswith(f"Order {ORDER}: The credit notes of FR A/1")
        assert "credit 5.61 EUR of VAT at 23.00 %, where the invoice charged 5.60" in told


@pytest.mark.parametrize("step", ["request", "drafted", "record"])
def test_a_partial_credit_killed_then_a_cancellation_are_both_credited_in_one_pass(world, step):
    # The person's `credit --line SKU-1:1` is finished as it was asked, and what is left of the
    # cancelled order is credited by the same pass, not left for the next run.
    _, ledger, js, igest = world

    with pytest.raises(Killed):
        run(world, crash_hook=kill_at(step)).credit(
            ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes
        )
    js.add(three_of_a_kind(status="canceled"))
    report = InvoiceReport()
    run(world).credit_cancelled(report)
    assert sorted(n.gross_total for n in notes(igest)) == [D("10.00"), D("25.00")]
    assert ledger.invoiced_without_credit() == {}
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL] * 2
    again = InvoiceReport()
    run(world).credit_cancelled(again)
    assert again.outcomes == [] and len(notes(igest)) == 2


def test_a_kill_while_a_found_credit_note_is_recorded_leaves_no_work_unfinished(world, monkeypatch):
    # A lost state file: the NC of a person's partial credit is found in iGEST and recorded.
    # Killed as it is written, the ledger must hold either all of it or none: work without its
    # document looked unfinished, and was "finished" in place of the cancellation's credit.
    config, _, js, igest = world
    run(world).credit(ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes)
    js.add(three_of_a_kind(status="canceled"))
    with Ledger(Path(":memory:")) as fresh:
        record_order(fresh, three_of_a_kind(status="canceled"))
        [invoice] = [d for d in igest.finals() if d.type == "FR"]
        fresh.record_final(ORDER, "invoice", invoice, email=False, adopted=True)
        lost = (config, fresh, js, igest)
        real = fresh.db.write_many

        def killed_at_the_document(*statements):
            if any("INSERT INTO documents" in sql for sql, _ in statements):
                raise Killed("recording the found NC")
            real(*statements)

        monkeypatch.setattr(fresh.db, "write_many", killed_at_the_document)
        with pytest.raises(Killed):
            run(lost).credit_cancelled(InvoiceReport())
        monkeypatch.setattr(fresh.db, "write_many", real)
        assert fresh.unfinished_credit(ORDER) is None
        report = InvoiceReport()
        run(lost).credit_cancelled(report)
        assert fresh.invoiced_without_credit() == {}
    assert sorted(n.gross_total for n in notes(igest)) == [D("10.00"), D("25.00")]


def test_an_automatic_credit_that_cannot_be_planned_waits_as_failed_work(world):
    _, ledger, js, igest = world
    [invoice] = [d for d in igest.finals() if d.type == "FR"]
    igest.documents[invoice.id] = replace(invoice, lines=())  # iGEST sends no lines
    js.add(three_of_a_kind(status="canceled"))
    report = InvoiceReport()
    run(world).credit_cancelled(report)
    [outcome] = report.outcomes
    assert outcome.action == Action.FAILED and "without its lines" in outcome.detail
    [work] = ledger.credit_works(ORDER)
    assert work.state == WorkState.FAILED and not work.transient
    again = InvoiceReport()
    run(world).credit_cancelled(again)
    assert again.outcomes == []  # waits for a person; not retried, not a success
    assert notes(igest) == []


def test_a_failed_read_never_marks_an_issued_credit_note_failed(world):
    _, ledger, js, igest = world
    run(world).credit(ORDER, CreditRequest.parse(["SKU-1:1"]), "x", confirm=yes)
    js.add(three_of_a_kind(status="canceled"))
    igest.faults.add("credit_notes_of", "5xx")
    report = InvoiceReport()
    run(world).credit_cancelled(report)
    [outcome] = report.outcomes
    assert outcome.action == Action.FAILED and outcome.transient
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]
    later = InvoiceReport()
    run(world).credit_cancelled(later)  # the next run tries again by itself
    assert [o.action for o in later.outcomes] == [Action.ISSUED]
    assert [n.gross_total for n in notes(igest)] == [D("10.00"), D("25.00")]


def test_an_invoice_credited_in_full_elsewhere_is_looked_up_once(world):
    config, ledger, js, igest = world
    # The whole invoice was credited through another ledger (or by hand in iGEST)...
    with Ledger(Path(":memory:")) as other:
        run((config, other, js, igest)).credit(
            ORDER, CreditRequest(everything=True), "x", confirm=yes
        )
    [by_hand] = notes(igest)
    assert by_hand.gross_total == D("35.00")
    igest.documents[by_hand.id] = replace(by_hand, external_reference=None)  # made in iGEST
    # ...then the order is cancelled: this ledger finds nothing left, and remembers it.
    js.add(three_of_a_kind(status="canceled"))
    run(world).credit_cancelled(InvoiceReport())
    assert ledger.invoiced_without_credit() == {}
    reads = len(igest.log)
    run(world).credit_cancelled(InvoiceReport())
    assert len(igest.log) == reads  # not read again on every run
    assert len(notes(igest)) == 1


# -- exactly once per request (issue 18) ------------------------------------------------------


def ask(world, spec=("SKU-1:1",), reason="Devolução", *, lost=None, **kwargs):
    """``credit`` as typed; ``lost``: the step ("request", "finalize") whose answer is lost,
    after which iGEST cannot tell at once either (two lookups fail)."""
    igest = world[3]

    def lose(step: str) -> None:
        if step == lost:
            method = "create_document" if step == "request" else "finalize_document"
            igest.faults.add(method, "timeout", after=True)
            igest.faults.add("find_documents", "5xx", times=2)

    credits = run(world, crash_hook=lose)
    return credits.credit(ORDER, CreditRequest.parse(list(spec)), reason, confirm=yes, **kwargs)


@pytest.mark.parametrize("method", ["create_document", "finalize_document"])
def test_a_lost_answer_is_looked_up_at_once_and_the_one_nc_reported(world, method):
    _, ledger, _, igest = world
    igest.faults.add(method, "timeout", after=True)  # iGEST did it; the answer was lost
    report = ask(world)
    assert report.exit_code == 0 and not report.unknown, report.outcome.detail
    # This command's own NC: reported as issued by it, never as "already issued" before it.
    assert report.outcome.action == Action.ISSUED, report.outcome.detail
    assert "already issued" not in report.outcome.detail
    [nc] = notes(igest)
    assert report.outcome.document is not None and report.outcome.document.number == nc.number
    assert nc.gross_total == D("10.00")
    assert [d for d in igest.documents.values() if d.status == "draft"] == []
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]


@pytest.mark.parametrize("step", ["request", "finalize"])
def test_an_unknown_outcome_says_so_and_the_rerun_finishes_it_without_a_second_nc(world, step):
    _, ledger, _, igest = world
    report = ask(world, lost=step)
    assert report.exit_code == 1 and report.unknown
    detail = report.outcome.detail
    assert "is unknown" in detail and "iGEST may have issued it" in detail
    assert '`igest-sync credit 10452 --reason "Devolução" --line SKU-1:1`' in detail
    assert "without issuing a second one" in detail
    assert "no credit note issued" not in report.summary()  # never a refusal
    rerun = ask(world)
    assert rerun.exit_code == 0, rerun.outcome.detail
    [nc] = notes(igest)
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]
    assert [d for d in igest.documents.values() if d.status == "draft"] == []
    third = ask(world)
    assert third.outcome.action == Action.ALREADY and third.exit_code == 0
    assert third.outcome.detail.startswith(
        f"already issued: {nc.number} of 2026-11-25 for this request; nothing issued. "
    )
    assert len(notes(igest)) == 1


@pytest.mark.parametrize("step", ["request", "finalize"])
def test_another_request_after_an_unknown_outcome_says_unknown_not_failed(world, step):
    # The first request's document may be issued: calling it "failed" would have the person
    # believe no credit note exists and look no further.
    assert ask(world, lost=step).unknown
    with pytest.raises(UsageError) as refused:
        ask(world, spec=("SKU-2:1",))
    message = refused.value.message
    assert "failed" not in message and "outcome is unknown" in message, message
    assert "--line SKU-1:1" in (refused.value.hint or "")


def test_a_rerun_that_finalizes_the_earlier_runs_nc_says_it_finished_it(world):
    # The first command's draft reached iGEST (its answer lost); the rerun finalized that
    # draft, lost the answer too and found it final: it said "already issued ... nothing
    # issued", as if an earlier run had issued it.
    _, ledger, _, igest = world
    assert ask(world, lost="request").unknown
    igest.faults.add("finalize_document", "timeout", after=True)
    rerun = ask(world)
    [nc] = notes(igest)
    assert rerun.exit_code == 0, rerun.outcome.detail
    assert rerun.outcome.detail == (
        f"finished {nc.number} of 2026-11-25, the credit note an earlier run left unfinished: "
        "this run finalized it (iGEST's answer was lost; found final there); nothing issued twice"
    )
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]


def test_a_rerun_that_finds_the_earlier_runs_nc_final_says_it_finished_it(world):
    igest = world[3]
    assert ask(world, lost="finalize").unknown  # iGEST finalized it; the answer was lost
    rerun = ask(world)
    [nc] = notes(igest)
    assert rerun.exit_code == 0 and "already issued" not in rerun.outcome.detail
    assert rerun.outcome.detail.startswith(f"finished {nc.number} of 2026-11-25, the credit note")
    assert "found it final in iGEST; nothing issued twice" in rerun.outcome.detail
    assert ask(world).outcome.detail.startswith("already issued: ")  # the next one: reported


def test_finished_by_the_invoice_credit_pass_then_asked_again(world):
    _, ledger, _, igest = world
    assert ask(world, lost="finalize").unknown
    run(world).credit_cancelled(InvoiceReport())  # the next `invoice` finishes it
    assert [w.state for w in ledger.credit_works(ORDER)] == [WorkState.FINAL]
    rerun = ask(world)
    assert rerun.exit_code == 0 and rerun.outcome.detail.startswith("already issued: NC A/1")
    assert len(notes(igest)) == 1


def test_again_is_a_decision_and_a_repeated_again_never_a_third(world):
    igest = world[3]
    assert ask(world).outcome.action == Action.ISSUED
    plans = []
    # --again, interrupted with its outcome unknown, then finished by the credit pass:
    first = run(world).credit(
        ORDER, CreditRequest.parse(["SKU-1:1"]), "Devolução", again=True, confirm=plans.append
    )
    assert first.declined and plans[0].same_request == ("NC A/1 of 2026-11-25",)
    assert ask(world, again=True, lost="finalize").unknown
    run(world).credit_cancelled(InvoiceReport())
    assert len(notes(igest)) == 2
    # The person repeats the interrupted --again: answered with that NC, not a third one.
    repeated = ask(world, again=True)
    assert repeated.exit_code == 0 and repeated.outcome.detail.startswith("already issued: NC A/2")
    assert "run it with --again again" in repeated.outcome.detail
    assert len(notes(igest)) == 2
    # A further --again, now that it was answered, is another unit: a third NC.
    third = ask(world, again=True)
    assert third.outcome.action == Action.ISSUED and len(notes(igest)) == 3
    assert len({n.external_reference for n in notes(igest)}) == 3
    # Without --again the request's latest NC is reported.
    assert ask(world).outcome.detail.startswith("already issued: NC A/3")


def test_a_repeated_request_names_again_for_a_second_credit_of_the_same(world):
    # The same command twice is one NC (exactly once per request); a second unit returned
    # later for the same reason is a second NC, asked for with --again: the report says how.
    _, ledger, _, igest = world
    assert ask(world).outcome.action == Action.ISSUED
    repeated = ask(world)
    assert repeated.exit_code == 0 and repeated.outcome.action == Action.ALREADY
    assert repeated.outcome.detail == (
        "already issued: NC A/1 of 2026-11-25 for this request; nothing issued. To credit "
        "the same once more (another unit returned for the same reason), add --again: "
        '`igest-sync credit 10452 --reason "Devolução" --line SKU-1:1 --again`'
    )
    dry = ask(world, dry_run=True)
    assert dry.outcome is not None and "--line SKU-1:1 --again`" in dry.outcome.detail
    assert len(notes(igest)) == 1 and len(ledger.credit_works(ORDER)) == 1
    # Once nothing of it is left to credit, --again would be refused: not offered.
    assert ask(world, spec=("SKU-2",)).outcome.action == Action.ISSUED
    whole = ask(world, spec=("SKU-2",))
    assert whole.outcome.detail.endswith("for this request; nothing issued"), whole
    for _ in range(2):
        rest = run(world).credit(ORDER, CreditRequest(everything=True), "Cancelada", confirm=yes)
        assert rest.exit_code == 0 and "--again" not in rest.outcome.detail
    assert rest.outcome.action == Action.ALREADY
    assert "--again" not in ask(world).outcome.detail  # SKU-1 is credited in full now


def test_another_reason_is_another_request(world):
    _, _, _, igest = world
    assert ask(world, reason="Partiu").outcome.action == Action.ISSUED
    assert ask(world, reason="partiu.").outcome.action == Action.ALREADY
    assert ask(world, reason="Cor errada").outcome.action == Action.ISSUED
    assert len(notes(igest)) == 2


def test_the_nc_names_the_invoices_customer_as_igest_holds_it(world):
    from igest_sync.models import Customer

    _, _, _, igest = world
    [invoice] = [d for d in igest.finals() if d.type == "FR"]
    held = Customer(
        nif="ESB12345678",
        name="Cerámica SL",
        address="Calle Mayor 1",
        postal_code="28001",
        city="Madrid",
        country="ES",
    )
    igest.documents[invoice.id] = replace(invoice, customer=held, customer_nif="ESB12345678")
    assert ask(world).outcome.action == Action.ISSUED
    assert igest.drafts[-1].customer == held


def test_an_old_order_cancelled_later_is_pointed_out_not_left_silent(world):
    config, ledger, js, igest = world
    from datetime import timedelta

    old = replace(three_of_a_kind(status="canceled"), created_at=NOW - timedelta(days=200))
    record_order(ledger, replace(old, status="paid"))  # as discover did when it was paid
    js.add(old)
    report = InvoiceReport()
    run(world).credit_cancelled(report)
    assert notes(igest) == [] and report.outcomes == []
    [notice] = report.notices
    assert f"Order {ORDER} was cancelled after FR A/1" in notice
    assert "credit_lookback_days (90)" in notice
    assert f"`igest-sync credit {ORDER} --reason TEXT --all`" in notice
    # A longer window credits it.
    wide = (replace(config, invoice=replace(config.invoice, credit_lookback_days=365)),) + world[1:]
    later = InvoiceReport()
    run(wide).credit_cancelled(later)
    assert [o.action for o in later.outcomes] == [Action.ISSUED] and len(notes(igest)) == 1


def test_an_order_without_an_invoice_says_why_and_the_adopt_days(world):
    # Not "DAY-IT-WAS-PAID": what the runs recorded of the order says why it has no invoice.
    _, ledger, _, _ = world
    paid = datetime(2026, 10, 27, 10, 12, tzinfo=UTC)
    skipped = replace(paid_order(9005, paid_at=paid), status="paid")
    record_order(ledger, skipped, note="paid 2026-10-27, before the start date 2026-11-01")
    record_order(ledger, paid_order(9006, status="pending_payment"))

    def hint(order_id: int) -> str:
        with pytest.raises(UsageError) as refused:
            run(world).credit(order_id, CreditRequest(everything=True), "x", dry_run=True)
        assert "there is nothing to credit" in refused.value.message
        return refused.value.hint or ""

    assert hint(9005) == (
        "It was not invoiced by igest-sync (paid 2026-10-27, before the start date 2026-11-01). "
        "If another integration (the hosted app) invoiced it, record that invoice first: "
        "igest-sync adopt --from 2026-10-27 --to 2026-10-27."
    )
    assert hint(9006) == "The order is pending payment (as last seen): never invoiced."
    assert hint(99999).startswith("igest-sync has not seen this order: check the number.")


def test_a_credit_note_igest_refuses_is_a_refusal_not_an_unknown_outcome(world):
    # iGEST answered 422 to the draft: nothing was made. It was reported as "the outcome ... is
    # unknown", marked transient, sent three times again by each later run, and every other
    # credit of the order was blocked behind it.
    _, ledger, _, igest = world
    igest.faults.add("create_document", "422")
    report = ask(world)
    assert report.exit_code == 1 and not report.unknown, report.outcome.detail
    assert "iGEST refused the document" in report.outcome.detail
    assert "is unknown" not in report.outcome.detail
    [work] = ledger.credit_works(ORDER)
    assert (work.state, work.transient, work.phase) == (WorkState.FAILED, False, None)
    assert notes(igest) == []
