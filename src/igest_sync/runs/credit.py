"""Credit notes: the pass for orders cancelled after their invoice, and ``credit`` by hand.

An issued invoice can never be edited or deleted; a credit note (NC) offsets it. Every credit
goes through the issuer's exactly-once path and always looks its reference up in iGEST first:
credit notes are rare, and a lost ledger must never repeat one. Today a credit note is for the
whole invoice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from igest_sync.config import Config
from igest_sync.errors import ApiError, UsageError
from igest_sync.fiscal.mapping import external_reference
from igest_sync.models import (
    IN_FLIGHT,
    DocumentStatus,
    ItemOutcome,
    Kind,
    Order,
    WorkState,
)
from igest_sync.runs.discover import CANCELED, record_order
from igest_sync.runs.followup import FollowUp
from igest_sync.runs.invoice_report import InvoiceReport
from igest_sync.runs.issuer import Issuer
from igest_sync.runs.services import IgestApi, JumpsellerApi
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

# Cancellations are looked for among orders created this long ago at most; an older order
# cancelled later is found by `reconcile` (refunds come within weeks, not months).
CREDIT_LOOKBACK = timedelta(days=90)


class Credits:
    """Credit notes for one run, through the run's one ``Issuer``."""

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        issuer: Issuer,
        followup: FollowUp,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.jumpseller = jumpseller
        self.igest = igest
        self.issuer = issuer
        self.followup = followup
        self.today = issuer.today

    def credit_cancelled(self, report: InvoiceReport) -> None:
        """Credit (or, with credit_cancelled off, point out) invoiced orders since cancelled."""
        invoiced = self.ledger.invoiced_without_credit()
        if not invoiced:
            return  # nothing that could need a credit note: not one request
        # Credit work a crash or a passing failure left unfinished (a refusal waits for
        # `igest-sync credit`), for invoices this ledger holds.
        unfinished = {
            w.order_id
            for w in self.ledger.work_in_states(
                WorkState.PENDING, *IN_FLIGHT, WorkState.FAILED, kind=Kind.CREDIT
            )
            if (w.state != WorkState.FAILED or w.transient) and w.order_id in invoiced
        }
        try:
            cancelled = [
                o
                for o in self.jumpseller.orders_created_between(
                    self.today - CREDIT_LOOKBACK, self.today, status=CANCELED
                )
                if o.id in invoiced
            ]
        except ApiError as exc:
            report.notices.append(f"Could not look for cancelled orders in Jumpseller: {exc}")
            cancelled = []
        for order_id in sorted(unfinished - {o.id for o in cancelled}):
            try:
                cancelled.append(self.jumpseller.order(order_id))
            except ApiError as exc:
                self.ledger.fail(
                    order_id,
                    Kind.CREDIT,
                    f"could not read the order from Jumpseller: {exc}",
                    transient=exc.transient,
                )
        settings = self.config.invoice
        for order in cancelled:
            if order.status != CANCELED:
                continue
            record_order(self.ledger, order)
            document = invoiced[order.id]
            work = self.ledger.work(order.id, Kind.CREDIT)
            if work and work.state == WorkState.FAILED and not work.transient:
                continue  # refused before: waits for `igest-sync credit ORDER_ID`
            if not settings.credit_cancelled:
                report.notices.append(
                    f"Order {order.id} was cancelled after {document.number} was issued: credit "
                    f"it with `igest-sync credit {order.id} --reason TEXT` (credit_cancelled is "
                    "off)."
                )
                continue
            report.outcomes.append(
                self.credit_one(order, document.document_id, settings.credit_reason)
            )

    def credit_one(self, order: Order, document_id: str, reason: str) -> ItemOutcome:
        """A credit note for one invoice. Always asks iGEST first: credit notes are rare, and a
        lost ledger must never repeat one."""
        try:
            original = self.igest.get_document(document_id)
        except ApiError as exc:
            return self.issuer.failed(
                order.id,
                Kind.CREDIT,
                f"could not read the invoice to credit from iGEST: {exc}",
                exc.transient,
            )
        return self.issuer.credit(order, original, reason, force_lookup=True)

    def credit(self, order_id: int, reason: str) -> InvoiceReport:
        """``igest-sync credit``: a credit note for the whole invoice of one order, by hand."""
        report = InvoiceReport()
        done = self.ledger.work(order_id, Kind.CREDIT)
        if done is not None and done.state == WorkState.FINAL:  # nothing to ask either service
            report.outcomes.append(self.issuer.already(order_id, Kind.CREDIT, done))
            return report
        invoice = next(
            (
                d
                for d in self.ledger.documents_for(order_id)
                if d.kind == Kind.INVOICE and d.status == DocumentStatus.FINAL
            ),
            None,
        )
        document_id = invoice.document_id if invoice else None
        if document_id is None:
            ref = external_reference(self.config.jumpseller.store, order_id)
            finals = [
                d
                for d in self.igest.find_documents(external_reference=ref)
                if d.status == DocumentStatus.FINAL and d.external_reference == ref
            ]
            if not finals:
                raise UsageError(
                    f"Order {order_id} has no final invoice in iGEST: there is nothing to credit."
                )
            document_id = finals[0].id
        order = self.jumpseller.order(order_id)
        report.outcomes.append(self.credit_one(order, document_id, reason))
        self.followup.finish(report.notices)
        return report


def credit_run(
    config: Config,
    ledger: Ledger,
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    *,
    now: datetime | None = None,
) -> Credits:
    """The ``credit`` command's run: its own issuer and follow-ups."""
    now = now or datetime.now(UTC)
    issuer = Issuer(config, ledger, igest, today=lisbon_date(now))
    followup = FollowUp(config, ledger, jumpseller, igest, now=now)
    return Credits(config, ledger, jumpseller, igest, issuer, followup)
