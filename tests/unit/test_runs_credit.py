"""runs/credit.py against in-memory fakes: a credit note per request, planned from what iGEST
holds, asked for, recorded before any call, resumed (never repeated) after a crash."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.errors import UsageError
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action, OrderLine, Tax, WorkState
from igest_sync.runs.credit import credit_run
from igest_sync.runs.invoice_report import InvoiceReport
from igest_sync.runs.issuer import Issuer
from igest_sync.state.ledger import Ledger
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

D = Decimal
STORE = "loja"
ORDER = 10452
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VAT = (Tax("IVA 23", D(23), False, True),)


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the runs catches it."""


def make_config(**invoice: object) -> Config:
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("http://js", "login", "token", STORE),
        igest=IgestConfig("http://ig", "key", "code"),
        invoice=InvoiceConfig(link_documents=False, **invoice),  # type: ignore[arg-type]
    )


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
        invoice = Issuer(config, ledger, igest, today=NOW.date()).issue(three_of_a_kind())
        assert invoice.action == Action.ISSUED
        yield config, ledger, js, igest


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

    def kill(at: str) -> None:
        if at == step:
            raise Killed(at)

    with pytest.raises(Killed):
        run(world, crash_hook=kill).credit(
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
