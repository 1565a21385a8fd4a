"""``invoice`` and ``resend``: every paid order gets exactly one final iGEST document.

Plan → act → record. Finding the orders (``discover``) and issuing one (``Issuer.issue``) are
separate so that ``resend`` and ``reconcile --fix`` go through the very same exactly-once path.

Exactly once, anchored in iGEST: each document carries ``external_reference`` (store + order).
Before any write the ledger records the intent; after it, the outcome. Work whose intent has no
outcome (a crash, a timeout, a lost answer) is looked up by its reference in iGEST before
anything is sent again: a final document found there is adopted, a stray draft is finalized
when its totals are right and deleted otherwise. A ledger that starts empty (first run, or the
state file was lost) lists iGEST's documents for the period once, so nothing already issued is
issued again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from igest_sync.config import Config
from igest_sync.customer import CustomerOverride
from igest_sync.errors import ApiError, Conflict, IgestSyncError, OrderRejected, UsageError
from igest_sync.igest import IgestClient
from igest_sync.jumpseller import JumpsellerClient
from igest_sync.ledger import IN_FLIGHT, Ledger, WorkRecord
from igest_sync.mapping import build_document, expected_gross, external_reference
from igest_sync.models import DocumentDraft, IssuedDocument, ItemOutcome, Order
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

Progress = Callable[[int, int], None]

# Orders created this long before the first day to invoice are scanned on a first run, so that an
# order created before start_date and paid on or after it is not missed.
FIRST_RUN_LOOKBACK = timedelta(days=30)
LINK_ATTEMPTS = 2  # the first try and one retry on a later run


@dataclass
class InvoiceReport:
    outcomes: list[ItemOutcome] = field(default_factory=list)
    drafts: list[DocumentDraft] = field(default_factory=list)  # dry run: what would be issued
    checkpoint: int | None = None
    dry_run: bool = False
    notices: list[str] = field(default_factory=list)  # link-back/email problems, duplicates

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        if self.dry_run:
            return (f"Dry run: would issue {len(self.drafts)}, would fail {self.failed}; "
                    "nothing was written.")
        issued = self.count("issued") + self.count("adopted")
        return f"Issued {issued}, failed {self.failed}, skipped {self.count('skipped')}"

    def to_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "issued": self.count("issued"),
            "adopted": self.count("adopted"),
            "failed": self.failed,
            "skipped": self.count("skipped"),
            "checkpoint": self.checkpoint,
            "orders": [
                {"order_id": o.key, "action": o.action, "detail": o.detail, **o.extra}
                for o in self.outcomes
            ],
            "notices": list(self.notices),
        }


class Issuer:
    """Issues the document for one order through the exactly-once path."""

    def __init__(self, config: Config, ledger: Ledger, igest: IgestClient, *, today: date,
                 known: dict[str, list[IssuedDocument]] | None = None) -> None:
        self.config = config
        self.settings = config.invoice
        self.store = config.jumpseller.store
        self.ledger = ledger
        self.igest = igest
        self.today = today
        # external_reference -> documents, from one listing when the ledger started empty.
        self.known = known

    def reference(self, order_id: int) -> str:
        return external_reference(self.store, order_id)

    def issue(self, order: Order, *, override: CustomerOverride | None = None,
              force_lookup: bool = False) -> ItemOutcome:
        key = str(order.id)
        ref = self.reference(order.id)
        work = self.ledger.ensure_work(order.id, "invoice", ref)
        if work.state == "final":
            return self._already(order.id, work)
        try:
            drafts = self._recover(order.id, work, ref, force_lookup)
        except _Adopted as adopted:
            return adopted.outcome
        except ApiError as exc:
            return self._failed(order.id, f"could not look up {ref} in iGEST: {exc}", exc.transient)
        try:
            draft = build_document(order, self.settings, store=self.store,
                                   issue_date=self.today, override=override)
        except OrderRejected as exc:
            self._discard(drafts)
            return self._failed(order.id, exc.reason, False, hint=exc.hint)
        try:
            document = self._draft(order.id, draft, drafts)
            if document is None:
                return ItemOutcome(key, "failed", self.ledger.work(order.id).error or "")
            final = self._finalize(order.id, document)
        except ApiError as exc:
            return self._failed(order.id, f"iGEST refused or failed: {exc}", exc.transient)
        self.ledger.record_final(order.id, "invoice", final, email=self.settings.email_customer)
        log.info("Finalized %s for order %s (%s EUR)", final.number, order.id, final.gross_total)
        return ItemOutcome(key, "issued", final.number or final.id,
                           {"number": final.number, "gross_total": str(final.gross_total),
                            "warnings": list(draft.warnings)})

    # -- steps ------------------------------------------------------------------------------

    def _recover(self, order_id: int, work: WorkRecord, ref: str,
                 force_lookup: bool) -> list[IssuedDocument]:
        """Find what iGEST already holds for this order; adopt a final document if any."""
        if self.known is not None and not work.phase and not force_lookup:
            found = list(self.known.get(ref, []))
        elif work.phase or force_lookup or work.state in IN_FLIGHT:
            found = [d for d in self.igest.find_documents(external_reference=ref)]
        else:
            return []
        found = [d for d in found if d.status != "cancelled" and d.external_reference == ref]
        finals = [d for d in found if d.status == "final"]
        if finals:
            doc = finals[0]
            self.ledger.record_final(order_id, "invoice", doc, email=False)
            detail = f"{doc.number} already in iGEST; adopted, nothing issued"
            if len(finals) > 1:
                numbers = ", ".join(d.number or d.id for d in finals)
                detail += f" (iGEST holds {len(finals)} final documents for it: {numbers})"
                log.error("Order %s has %d final documents in iGEST: %s", order_id,
                          len(finals), numbers)
            log.warning("Adopted %s for order %s", doc.number, order_id)
            raise _Adopted(ItemOutcome(str(order_id), "adopted", detail,
                                       {"number": doc.number,
                                        "gross_total": str(doc.gross_total)}))
        if not found:
            self.ledger.clear_phase(order_id, "invoice")
        return [d for d in found if d.status == "draft"]

    def _draft(self, order_id: int, draft: DocumentDraft,
               strays: list[IssuedDocument]) -> IssuedDocument | None:
        """A draft in iGEST whose totals equal the order's, or None (failure recorded)."""
        reusable = next((d for d in strays if d.gross_total == draft.gross_total), None)
        self._discard([d for d in strays if d is not reusable])
        if reusable is not None:
            log.info("Reusing draft %s left for order %s", reusable.id, order_id)
            self.ledger.mark(order_id, "invoice", "draft", document_id=reusable.id)
            return reusable
        self.ledger.mark(order_id, "invoice", "requested")
        document = self.igest.create_document(draft)
        self.ledger.mark(order_id, "invoice", "draft", document_id=document.id)
        if document.gross_total != draft.gross_total:
            reason = (f"iGEST computed {document.gross_total} EUR for the document but the "
                      f"customer paid {draft.gross_total} EUR; the draft was deleted and no "
                      "document was issued")
            self.igest.delete_document(document.id)
            self.ledger.clear_phase(order_id, "invoice")
            self.ledger.fail(order_id, "invoice", reason, transient=False)
            log.error("Order %s: %s", order_id, reason)
            return None
        return document

    def _finalize(self, order_id: int, document: IssuedDocument) -> IssuedDocument:
        self.ledger.mark(order_id, "invoice", "finalizing", document_id=document.id)
        try:
            return self.igest.finalize_document(document.id)
        except Conflict:
            # Finalized by an earlier attempt whose answer was lost: read it back.
            final = self.igest.get_document(document.id)
            if final.status != "final":
                raise
            return final

    def _discard(self, drafts: Iterable[IssuedDocument]) -> None:
        for stray in drafts:
            log.warning("Deleting stray draft %s (%s)", stray.id, stray.external_reference)
            self.igest.delete_document(stray.id)

    def _already(self, order_id: int, work: WorkRecord) -> ItemOutcome:
        docs = [d for d in self.ledger.documents_for(order_id) if d.kind == "invoice"]
        doc = docs[0] if docs else None
        number = doc.number if doc else work.document_id
        return ItemOutcome(str(order_id), "already", f"{number} was issued before; nothing issued",
                           {"number": number,
                            "gross_total": str(doc.gross_total) if doc else None})

    def _failed(self, order_id: int, reason: str, transient: bool, *,
                hint: str | None = None) -> ItemOutcome:
        text = reason if not hint else f"{reason} ({hint})"
        self.ledger.fail(order_id, "invoice", text, transient=transient)
        log.error("Order %s not invoiced: %s", order_id, text)
        return ItemOutcome(str(order_id), "failed", text, {"transient": transient})


class _Adopted(Exception):
    def __init__(self, outcome: ItemOutcome) -> None:
        self.outcome = outcome


class InvoiceRun:
    """One ``invoice`` (or ``resend``) run over a ledger and the two services."""

    def __init__(self, config: Config, ledger: Ledger, jumpseller: JumpsellerClient,
                 igest: IgestClient, *, now: datetime | None = None,
                 progress: Progress | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.jumpseller = jumpseller
        self.igest = igest
        self.now = now or datetime.now(UTC)
        self.today = lisbon_date(self.now)
        self.progress = progress

    # -- invoice ----------------------------------------------------------------------------

    def run(self, *, since: date | None = None, dry_run: bool = False) -> InvoiceReport:
        report = InvoiceReport(dry_run=dry_run)
        floor = self._floor(since)
        fresh = self.ledger.checkpoint is None
        to_issue: dict[int, Order] = {}

        for order in self._new_orders(floor, since, fresh):
            self._classify(order, floor, to_issue, report, dry_run)
        for order in self._newly_paid_open_orders():
            self._classify(order, floor, to_issue, report, dry_run)
        for order in self._unfinished_orders(to_issue):
            to_issue.setdefault(order.id, order)

        report.checkpoint = self.ledger.checkpoint
        orders = sorted(to_issue.values(), key=lambda o: (o.completed_at or self.now, o.id))
        if dry_run:
            self._dry_run(orders, report)
            return report
        known = self._igest_documents_since(floor) if fresh and orders else None
        self._issue_all(orders, report, known=known)
        self._after_issue(report)
        self.ledger.set_meta("last_run_at", self.now.isoformat(timespec="seconds"))
        if not report.failed:
            self.ledger.set_meta("last_success_at", self.now.isoformat(timespec="seconds"))
        return report

    def _floor(self, since: date | None) -> date:
        start = self.config.invoice.start_date
        if since is None and start is None and self.ledger.checkpoint is None:
            raise UsageError(
                "No checkpoint and no start date: igest-sync will not invoice the whole history "
                "of the store.",
                hint="Set [invoice] start_date = YYYY-MM-DD in the config (orders paid before it "
                "are never invoiced), or pass --since YYYY-MM-DD for a one-off backfill.",
            )
        if since and start and since < start:
            raise UsageError(
                f"--since {since} is before [invoice] start_date {start}; orders paid before the "
                "start date are never invoiced.",
                hint="Move start_date back in the config if those orders really must be invoiced.",
            )
        return since or start or date.min

    def _new_orders(self, floor: date, since: date | None, fresh: bool) -> Iterator[Order]:
        checkpoint = self.ledger.checkpoint
        if checkpoint is not None and since is None:
            source: Iterable[Order] = self.jumpseller.orders_after(checkpoint)
        else:
            first = floor - FIRST_RUN_LOOKBACK if floor != date.min else date(2000, 1, 1)
            source = self.jumpseller.orders_created_between(first, self.today)
        for order in source:
            yield order

    def _newly_paid_open_orders(self) -> Iterator[Order]:
        """Orders we saw waiting for payment that are no longer waiting (paid, cancelled)."""
        waiting = self.ledger.open_orders()
        if not waiting:
            return
        still_open = {o.id for o in self.jumpseller.orders_with_status("pending_payment")}
        for record in waiting:
            if record.order_id not in still_open:
                yield self.jumpseller.order(record.order_id)

    def _unfinished_orders(self, planned: dict[int, Order]) -> Iterator[Order]:
        """Work a crash interrupted, or that failed for a reason that may pass by itself."""
        for work in self.ledger.work_in_states("pending", *IN_FLIGHT, "failed", kind="invoice"):
            if work.order_id in planned:
                continue
            if work.state == "failed" and not work.transient:
                continue  # bad data or a refusal: waits for `resend`
            try:
                yield self.jumpseller.order(work.order_id)
            except ApiError as exc:
                self.ledger.fail(work.order_id, "invoice",
                                 f"could not read the order from Jumpseller: {exc}",
                                 transient=exc.transient)

    def _classify(self, order: Order, floor: date, to_issue: dict[int, Order],
                  report: InvoiceReport, dry_run: bool) -> None:
        paid_on = lisbon_date(order.completed_at) if order.completed_at else None
        note = None
        if order.status == "paid" and paid_on is not None and paid_on >= floor:
            to_issue[order.id] = order
        elif order.status == "paid" and paid_on is None:
            # Paid without a payment time is a defect; the mapping refuses it with that reason.
            to_issue[order.id] = order
        elif order.status == "paid":
            note = f"paid on {paid_on}, before the start date {floor}: never invoiced"
            report.outcomes.append(ItemOutcome(str(order.id), "skipped", note))
        elif order.status == "canceled" and paid_on is not None and paid_on >= floor:
            if not (w := self.ledger.work(order.id)) or w.state != "final":
                note = "paid and cancelled before it was invoiced: no document issued"
                report.outcomes.append(ItemOutcome(str(order.id), "skipped", note))
        if not dry_run:
            self.ledger.record_order(order.id, order.status, created_at=order.created_at,
                                     paid_at=order.completed_at, total=order.total,
                                     customer=_customer_name(order),
                                     email=order.customer_email, note=note)
            self.ledger.advance_checkpoint(order.id)

    def _igest_documents_since(self, floor: date) -> dict[str, list[IssuedDocument]]:
        """Everything iGEST holds since the floor, by reference: the ledger knows nothing yet."""
        known: dict[str, list[IssuedDocument]] = {}
        date_from = None if floor == date.min else floor
        for doc in self.igest.find_documents(date_from=date_from):
            if doc.external_reference:
                known.setdefault(doc.external_reference, []).append(doc)
        log.info("Ledger was empty: found %d iGEST documents since %s to check against",
                 sum(len(v) for v in known.values()), date_from or "the beginning")
        return known

    def _issue_all(self, orders: list[Order], report: InvoiceReport, *,
                   known: dict[str, list[IssuedDocument]] | None,
                   override: CustomerOverride | None = None, force_lookup: bool = False) -> None:
        issuer = Issuer(self.config, self.ledger, self.igest, today=self.today, known=known)
        total = len(orders)
        done = 0

        def one(order: Order) -> ItemOutcome:
            try:
                return issuer.issue(order, override=override, force_lookup=force_lookup)
            except IgestSyncError:
                raise
            except Exception as exc:  # a bug must not lose the rest of the batch
                log.exception("Unexpected error on order %s", order.id)
                issuer.ledger.fail(order.id, "invoice", f"internal error: {exc!r}",
                                   transient=True)
                return ItemOutcome(str(order.id), "failed", f"internal error: {exc!r}")

        workers = max(1, min(self.config.invoice.concurrency, total))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(one, orders):
                report.outcomes.append(outcome)
                done += 1
                if self.progress:
                    self.progress(done, total)

    def _dry_run(self, orders: list[Order], report: InvoiceReport) -> None:
        for order in orders:
            work = self.ledger.work(order.id)
            if work and work.state == "final":
                continue
            try:
                draft = build_document(order, self.config.invoice,
                                       store=self.config.jumpseller.store, issue_date=self.today)
            except OrderRejected as exc:
                text = exc.reason if not exc.hint else f"{exc.reason} ({exc.hint})"
                report.outcomes.append(ItemOutcome(str(order.id), "failed", text))
                continue
            report.drafts.append(draft)
            report.outcomes.append(ItemOutcome(str(order.id), "would issue",
                                               f"{draft.type} {draft.gross_total} EUR"))

    # -- after issuing: link the document on the Jumpseller order, email it ------------------

    def _after_issue(self, report: InvoiceReport) -> None:
        if self.config.invoice.link_documents:
            for doc in self.ledger.unlinked_documents(LINK_ATTEMPTS):
                try:
                    self.jumpseller.add_order_document(
                        doc.order_id, credit_note=doc.kind == "credit", external_id=doc.document_id,
                        public_id=doc.number or doc.document_id, url=doc.pdf_url)
                except ApiError as exc:
                    self.ledger.mark_linked(doc.document_id, error=str(exc))
                    report.notices.append(
                        f"Order {doc.order_id}: {doc.number} could not be attached to the "
                        f"Jumpseller order ({exc}); the document itself is fine.")
                    continue
                self.ledger.mark_linked(doc.document_id)
        if self.config.invoice.email_customer:
            self._email(report)

    def _email(self, report: InvoiceReport) -> None:
        limit = self.now - timedelta(days=self.config.invoice.email_max_age_days)
        for doc in self.ledger.unemailed_documents():
            record = self.ledger.order(doc.order_id)
            paid_at = _parse_dt(record.paid_at) if record else None
            to = record.email if record else None
            if paid_at is None or paid_at < limit:
                self.ledger.mark_emailed(doc.document_id, -1, "order too old to email")
                continue
            if not to:
                self.ledger.mark_emailed(doc.document_id, -1, "no customer email")
                continue
            try:
                self.igest.email_document(doc.document_id, to)
            except ApiError as exc:
                # Never fatal, never twice: a failed email is recorded and not retried.
                self.ledger.mark_emailed(doc.document_id, -1, str(exc))
                report.notices.append(f"Order {doc.order_id}: {doc.number} was not emailed ({exc}).")
                continue
            self.ledger.mark_emailed(doc.document_id, 1)

    # -- resend -----------------------------------------------------------------------------

    def resend(self, order_ids: list[int], *, all_failed: bool = False,
               override: CustomerOverride | None = None) -> InvoiceReport:
        report = InvoiceReport()
        ids = list(order_ids)
        if all_failed:
            ids += [w.order_id for w in self.ledger.work_in_states("failed", kind="invoice")
                    if w.order_id not in ids]
        orders: list[Order] = []
        for order_id in ids:
            work = self.ledger.work(order_id)
            if work and work.state == "final":
                report.outcomes.append(Issuer(self.config, self.ledger, self.igest,
                                              today=self.today)._already(order_id, work))
                continue
            try:
                order = self.jumpseller.order(order_id)
            except ApiError as exc:
                if work:
                    self.ledger.fail(order_id, "invoice",
                                     f"could not read the order from Jumpseller: {exc}",
                                     transient=exc.transient)
                report.outcomes.append(ItemOutcome(str(order_id), "failed",
                                                   f"could not read the order: {exc}"))
                continue
            if order.status != "paid":
                report.outcomes.append(ItemOutcome(
                    str(order_id), "skipped",
                    f"order is {order.status.replace('_', ' ')}, not paid: nothing to invoice"))
                continue
            self.ledger.record_order(order.id, order.status, created_at=order.created_at,
                                     paid_at=order.completed_at, total=order.total,
                                     customer=_customer_name(order), email=order.customer_email)
            orders.append(order)
        # By hand, always look the reference up first: the ledger may be new or stale.
        self._issue_all(orders, report, known=None, override=override, force_lookup=True)
        self._after_issue(report)
        return report


def _customer_name(order: Order) -> str | None:
    b = order.billing
    if b is None:
        return None
    if b.company:
        return b.company
    name = " ".join(p for p in (b.name, b.surname) if p)
    return name or None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
