"""Every run's report keeps the one contract, and an outcome's typed facts give today's JSON."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from igest_sync.models import (
    Action,
    ApiFailure,
    CatalogueOutcome,
    DocumentFacts,
    DocumentOutcome,
    Kind,
)
from igest_sync.runs.catalogue.plan import CatalogueReport
from igest_sync.runs.credits.credit import CreditReport
from igest_sync.runs.invoicing.invoice import InvoiceReport
from igest_sync.runs.reconcile import Period, ReconcileReport
from igest_sync.runs.report import Report
from igest_sync.runs.setup.status import StatusReport


def _status() -> StatusReport:
    return StatusReport([], [], [], [], None, None, None)


@pytest.mark.parametrize(
    "report",
    [
        InvoiceReport(),
        CatalogueReport("products", dry_run=False),
        _status(),
        ReconcileReport(store="shop", period=Period(date(2026, 11, 1), date(2026, 11, 30))),
        CreditReport(10452),
    ],
    ids=["invoice", "catalogue", "status", "reconcile", "credit"],
)
def test_every_report_keeps_the_report_protocol(report):
    assert isinstance(report, Report)
    assert report.exit_code in (0, 1)
    assert isinstance(report.summary(), str) and report.summary()


def test_invoice_report_exit_code_follows_failures():
    report = InvoiceReport(outcomes=[DocumentOutcome("1", Action.ISSUED, "FR A/1")])
    assert report.exit_code == 0
    report.outcomes.append(DocumentOutcome("2", Action.FAILED, "no NIF"))
    assert report.exit_code == 1


def test_an_invoice_waiting_for_vies_is_unissued_for_the_exit_code():
    # README: a run exits 1 while it leaves any paid order without its invoice; one waiting
    # for VIES exited 0, where one a 502 left exits 1.
    waiting = DocumentOutcome(
        "3", Action.WAITING, "VIES did not answer", kind=Kind.INVOICE, transient=True
    )
    assert InvoiceReport(outcomes=[waiting]).exit_code == 1
    assert InvoiceReport(quiet=[waiting]).exit_code == 1
    issued = DocumentOutcome("1", Action.ISSUED, "FR A/1", kind=Kind.INVOICE)
    assert InvoiceReport(outcomes=[issued]).exit_code == 0


def test_catalogue_report_exit_code_and_summary():
    report = CatalogueReport("stock", dry_run=True)
    report.add(DocumentOutcome("A", Action.UPDATED, "Would set"))
    assert report.exit_code == 0
    assert report.summary().startswith("Dry run:") and "updated 1" in report.summary()
    report.add(DocumentOutcome("B", Action.FAILED, "boom"))
    assert report.exit_code == 1


def test_issued_outcome_json_is_as_before():
    outcome = DocumentOutcome(
        "10452",
        Action.ISSUED,
        "FR A/1",
        kind=Kind.INVOICE,
        document=DocumentFacts("FR A/1", Decimal("12.30")),
        warnings=("note",),
    )
    assert InvoiceReport(outcomes=[outcome]).to_json()["orders"] == [
        {
            "order_id": "10452",
            "action": "issued",
            "detail": "FR A/1",
            "number": "FR A/1",
            "gross_total": "12.30",
            "kind": "invoice",
            "warnings": ["note"],
        }
    ]


REAL_COUNTS = ("issued", "adopted", "already", "failed", "skipped", "waiting", "drafted")
DRY_COUNTS = ("would_issue", "would_adopt", "failed", "would_skip", "would_finalize")
DRY_COUNTS += ("would_draft_again", "would_credit")


@pytest.mark.parametrize(
    ("dry_run", "actions", "counts"),
    [
        (
            False,
            ["issued", "adopted", "already", "failed", "skipped", "waiting", "drafted"],
            REAL_COUNTS,
        ),
        (
            True,
            [
                "would issue",
                "would adopt",
                "would fail",
                "would skip",
                "would finalize",
                "would draft",
                "would credit",
            ],
            DRY_COUNTS,
        ),
    ],
    ids=["real", "dry"],
)
def test_invoice_json_counts_every_listed_order_once(dry_run, actions, counts):
    # A resend's "already" and a dry run's "would issue" were in orders but in no count: a
    # script adding the counts up (or reading what a dry run would issue) came up short.
    outcomes = [DocumentOutcome(str(n), Action(a), "x") for n, a in enumerate(actions, 10001)]
    report = InvoiceReport(outcomes=outcomes, dry_run=dry_run).to_json()
    assert [report[key] for key in counts] == [1] * len(actions)
    assert sum(report[key] for key in counts) == len(report["orders"])


def test_already_outcome_without_document_keeps_null_keys():
    outcome = DocumentOutcome(
        "7", Action.ALREADY, "x", kind=Kind.CREDIT, document=DocumentFacts(None, None)
    )
    assert outcome.facts() == {"number": None, "gross_total": None, "kind": "credit"}


def test_failed_outcomes_name_only_their_facts():
    invoice = DocumentOutcome("7", Action.FAILED, "x", kind=Kind.INVOICE, transient=True)
    assert invoice.facts() == {"kind": "invoice", "transient": True}
    product = CatalogueOutcome(
        "SKU", Action.FAILED, "x", failure=ApiFailure("Timeout", None), fields={}, transient=True
    )
    assert product.facts() == {"error": "Timeout", "status": None, "fields": {}, "transient": True}
    stock = CatalogueOutcome(
        "SKU",
        Action.UPDATED,
        "Set",
        quantity_from=Decimal(1),
        quantity_to=Decimal(2),
    )
    assert stock.facts() == {"from": Decimal(1), "to": Decimal(2)}
    # Typed outcomes: an order's line has no stock quantities, a SKU's no document.
    with pytest.raises(TypeError):
        DocumentOutcome("7", Action.UPDATED, "Set", quantity_to=Decimal(2))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        CatalogueOutcome("SKU", Action.ISSUED, "x", kind=Kind.INVOICE)  # type: ignore[call-arg]


def test_each_report_with_notices_says_which_a_person_hears_of_by_the_alerts():
    from igest_sync.runs.invoicing.review import ApproveReport
    from igest_sync.runs.report import Attended

    invoice = InvoiceReport(notices=["shown now"], quiet_notices=["reminder not due"])
    # Kept off the terminal until its reminder, a notice still goes to the alerts, which
    # record it once and remind by their own rule.
    assert invoice.alert_notices == ["shown now", "reminder not due"]
    credit = CreditReport(order_id=7, notices=["NC not e-mailed"])
    approve = ApproveReport(notices=["draft deleted in iGEST"])
    fixed = ReconcileReport(
        store="s",
        period=Period(date(2026, 11, 1), date(2026, 11, 30)),
        notices=["FR A/3 not attached to order 7"],
    )
    for report in (invoice, credit, approve, fixed):
        assert isinstance(report, Attended)
    assert fixed.alert_notices == ["FR A/3 not attached to order 7"]
    assert (credit.alert_notices, approve.alert_notices) == (
        ["NC not e-mailed"],
        ["draft deleted in iGEST"],
    )


def test_one_rule_says_what_a_person_is_told_of_a_run():
    """``invoice``, ``resend`` and ``serve`` print by the same two answers of the report."""
    nothing = InvoiceReport()
    issued = InvoiceReport(outcomes=[DocumentOutcome("1", Action.ISSUED, "FR A/1")])
    failed = InvoiceReport(outcomes=[DocumentOutcome("2", Action.FAILED, "no NIF")])
    noticed = InvoiceReport(notices=["FR A/1 not attached to order 1"])
    earlier = InvoiceReport(still_failed=[DocumentOutcome("3", Action.FAILED, "no NIF")])
    # Told before, its reminder not due: kept quiet, yet the run is not done (exit 1).
    quiet = InvoiceReport(
        quiet=[DocumentOutcome("4", Action.FAILED, "no NIF")], quiet_notices=["told before"]
    )
    assert [r.needs_a_person for r in (nothing, issued, failed, noticed, earlier, quiet)] == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]
    assert [r.has_news for r in (nothing, issued, failed, noticed, earlier, quiet)] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert quiet.exit_code == 1 and issued.exit_code == 0


def test_the_summaries_count_one_in_the_singular():
    one_draft = InvoiceReport(outcomes=[DocumentOutcome("7", Action.DRAFTED, "waits")])
    assert "1 draft waiting for approval" in one_draft.summary()
    two = InvoiceReport(outcomes=[DocumentOutcome(k, Action.DRAFTED, "waits") for k in "78"])
    assert "2 drafts waiting for approval" in two.summary()
    from igest_sync.runs.reconcile import UNCREDITED, Problem

    report = ReconcileReport(store="shop", period=Period(date(2026, 11, 1), date(2026, 11, 30)))
    report.problems.append(Problem(UNCREDITED, 7, "cancelled, but FR A/3 has no credit note"))
    assert report.summary().startswith("Found 1 problem (1 uncredited)")
