"""``adopt``: switching from another integration (the hosted "Quick Invoice" app, or by hand).

Orders paid before the switch were invoiced under references that are not ours, or none. Such
a document is matched to its Jumpseller order and recorded as the order's invoice "issued
elsewhere": the order is never invoiced again, ``credit`` credits that document, ``status``,
``reconcile`` and the digest count it.

A match, for each final sales document (FT, FR, FS) of the period whose reference is not one
of ours (``jumpseller:...``), in this order (the days before the period are read too, from the
day the first of its orders placed before it and paid in it, or not paid yet, was placed; of
their documents only those that may be such an order's invoice are shown):

1. the order number the document names, in its reference or else in its notes (a number that
   is the id of an order of the period); sure when the totals agree to the cent;
2. otherwise the total to the cent and the payment day, with the customer's NIF (when the
   document has one) or name: sure when exactly one order fits; ambiguous when several do, or
   when orders have the total and day but the customer cannot tell them apart; unmatched when
   none does (a sale at a fair, say). The payment day is the document's date or one of the
   ``INVOICED_WITHIN`` days before it: a payment late in the evening is invoiced the next
   morning, one late on a Friday on the Monday. Or the payment came after the document, and
   the order was placed by its date: an FT may be made as the order is placed, and paid days
   later by Multibanco. Called unmatched, such a document let the first ``invoice`` issue the
   sale a second one; these days widen the candidates, and several that fit are a question
   for a person (ambiguous), never a guess. An order its customer placed by the document's
   date for its total but has not paid yet is no sale (it may never be paid), so never
   recorded; but the document may be its invoice already: it is ambiguous, and once paid the
   order waits for a person's ``--pick`` or ``resend``, never issued a second invoice.
3. an ambiguous document that names no order is matched again without the orders that have
   their invoice in another document not ours (recorded before, or the period's one document
   surely theirs: by number, facts or ``--pick``), unless that order has anything of ours in
   iGEST: the same customer's purchases for the same total on the 10th and the 12th, each
   invoiced on its day, made the 12th's fit both. Sure when exactly one order is left and no
   other document is left with only that order (two that compete for it stay ambiguous);
   repeated until nothing changes, so the documents' order does not matter. One that names
   an order is that order's or a question: without it, its facts alone made it another's.

Only sure matches (and those a person picks, ``--pick``) are recorded, after asking. A period
reviewed so is remembered: the first ``invoice`` (``runs/invoicing/hold.py``'s
``guard_first_run``) stops only for documents not ours on days nobody reviewed, and no run
issues an order a document it could not decide may invoice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from igest_sync.errors import NotFound, UsageError
from igest_sync.fiscal.mapping import expected_gross
from igest_sync.models import (
    DocumentStatus,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    Phase,
    WorkState,
)
from igest_sync.references import parse_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.hold import (
    PARTLY_KEY,
    REVIEWED_KEY,
    UNDECIDED_KEY,
    Reviewed,
    customer_unknown,
    foreign_nif,
    label,
    not_its_invoices,
    numbers_in,
    numbers_named,
    partly_reviewed,
    reviewed_periods,
    standing_foreign,
    undecided_documents,
    undecided_invoice,
)
from igest_sync.runs.invoicing.hold import fits_customer as _fits_customer
from igest_sync.runs.report import counted
from igest_sync.state.ledger import Ledger
from igest_sync.state.work import WorkRecord
from igest_sync.timeutil import Period, lisbon_date

log = logging.getLogger("igest_sync.adopt")

# Orders created this long before the period and paid in it are among its sales.
ORDER_LOOKBACK = timedelta(days=30)

# A document that names no order is matched to the orders paid on its date or this many days
# before it (a payment at 23:58 invoiced the next day; a Friday night's on the Monday), or
# placed by its date and paid after it (an FT made as the order is placed).
INVOICED_WITHIN = 3

SURE, AMBIGUOUS, UNMATCHED, ADOPTED = "sure", "ambiguous", "unmatched", "adopted"
VERDICTS = (SURE, AMBIGUOUS, UNMATCHED, ADOPTED)


@dataclass
class Match:
    """One document not ours and the order it belongs to, if any can be told."""

    document: IssuedDocument
    verdict: str  # one of VERDICTS
    order_id: int | None = None
    how: str = ""  # why this order (sure), or why it cannot be told (ambiguous, unmatched)
    candidates: tuple[int, ...] = ()
    recorded: bool = False
    # Our own checked drafts of the order (review mode, or held for this document), deleted
    # as the document is recorded: never finalized, they would be its second invoice.
    our_drafts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc = self.document
        return {
            "document": label(doc),
            "document_id": doc.id,
            "date": doc.date.isoformat() if doc.date else None,
            "total": f"{doc.gross_total:.2f}",
            "reference": doc.external_reference,
            "customer": doc.customer_name,
            "verdict": self.verdict,
            "order_id": self.order_id,
            "how": self.how,
            "candidates": list(self.candidates),
            "recorded": self.recorded,
        }


@dataclass
class AdoptReport:
    first: date
    last: date
    dry_run: bool = False
    matches: list[Match] = field(default_factory=list)
    declined: bool = False
    notices: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for m in self.matches if m.verdict == verdict)

    @property
    def recorded(self) -> list[Match]:
        return [m for m in self.matches if m.recorded]

    @property
    def exit_code(self) -> int:
        return 0

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(v)} {v}" for v in VERDICTS if self.count(v))
        head = (
            f"{counted(len(self.matches), 'document')} not issued by igest-sync from "
            f"{self.first} to "
            f"{self.last}" + (f" ({counts})" if counts else "")
        )
        if self.dry_run:
            return f"{head}; dry run: nothing recorded."
        if self.declined:
            return f"{head}; nothing recorded (not confirmed)."
        return f"{head}; {len(self.recorded)} recorded as issued elsewhere."

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "dry_run": self.dry_run,
            "declined": self.declined,
            "counts": {v: self.count(v) for v in VERDICTS},
            "recorded": len(self.recorded),
            "documents": [m.to_json() for m in self.matches],
            "notices": list(self.notices),
            "summary": self.summary(),
        }


Confirm = Callable[[AdoptReport], bool]


class AdoptRun:
    def __init__(self, context: RunContext) -> None:
        self.settings = context.settings
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.clock = context.now
        self.store = context.store
        # Our final invoices in the period's listing, by order: the state file may be new (lost)
        # and not know them, and a document not ours for such an order would be its second.
        self._ours_listed: dict[int, IssuedDocument] = {}

    def run(
        self,
        first: date,
        last: date | None = None,
        *,
        picks: dict[str, int] | None = None,
        dry_run: bool = False,
        confirm: Confirm | None = None,
    ) -> AdoptReport:
        """Match the period's documents not ours (``last``: today when None) and record the
        sure ones, after ``confirm``."""
        today = lisbon_date(self.clock())
        last = Period(first, today if last is None else last).last  # refused if it ends first
        report = AdoptReport(first, last, dry_run=dry_run)
        orders = {
            o.id: o for o in self.jumpseller.orders_created_between(first - ORDER_LOOKBACK, last)
        }
        before = _placed_before(orders, first, last)
        since = min((lisbon_date(o.created_at) for o in before if o.created_at), default=first)
        listed = list(self.igest.find_documents(date_from=min(since, first), date_to=last))
        docs = standing_foreign(listed)
        self._ours_listed = _our_invoices(listed, self.store)
        picks = _as_listed(picks or {}, docs)
        matches = self.match(docs, orders, picks)
        # The days before the period only for the invoices of its orders placed before it.
        report.matches = [m for m in matches if _of_the_period(m, first, before, picks)]
        for m in report.matches:
            # A person's pick is recorded as chosen, but a document that cannot be that
            # order's invoice by its total or its date is said first (a mistyped number).
            if label(m.document) in picks and m.order_id in orders:
                paid = orders[m.order_id]
                due = expected_gross(paid)
                day = lisbon_date(paid.completed_at) if paid.completed_at else None
                # Dated before the order was placed (an FT may be made as it is placed, before
                # its payment: no notice for that).
                placed = lisbon_date(paid.created_at) if paid.created_at else day
                if m.document.gross_total != due or (
                    placed is not None and m.document.date is not None and m.document.date < placed
                ):
                    report.notices.append(
                        f"--pick {label(m.document)}={m.order_id}: {label(m.document)} is "
                        f"{m.document.gross_total:.2f} EUR of {m.document.date}, order "
                        f"{m.order_id} paid {due:.2f} EUR on {day}: check that it is that "
                        "order's invoice (a pick is recorded as the person chose it)"
                    )
        for number in set(picks) - {label(m.document) for m in report.matches}:
            raise UsageError(
                f"--pick {number}: no document numbered {number} issued by another program "
                f"from {first} to {last}.",
                hint="Use the document numbers adopt lists (e.g. --pick 'FR QI/5=9005').",
            )
        if dry_run:
            return report
        to_record = [m for m in report.matches if m.verdict == SURE]
        reviewed = Reviewed(self.ledger)
        unreviewed = [
            m for m in report.matches if m.verdict != ADOPTED and m.document not in reviewed
        ]
        # Asked whenever something is new: recording the period as reviewed lets a first
        # `invoice` go on past its documents, matched or not.
        if (to_record or unreviewed) and confirm is not None and not confirm(report):
            report.declined = True
            return report
        # The orders an undecided document holds back, and what their failure says now: once
        # this run has recorded and remembered, a failure that said it is told what is left.
        held = {o for m in report.matches if m.verdict == AMBIGUOUS for o in m.candidates}
        held |= {o for entry in undecided_documents(self.ledger).values() for o in entry["orders"]}
        told = {o: undecided_invoice(self.ledger, o) for o in held}
        for match in to_record:
            assert match.order_id is not None
            for draft in match.our_drafts:  # first: a kill after it leaves the order held
                try:
                    self.igest.delete_document(draft)
                except NotFound:
                    pass  # deleted already (by hand, or a retried DELETE)
            record_order(self.ledger, orders[match.order_id])
            self.ledger.docs.record_issued_elsewhere(match.order_id, match.document)
            match.recorded = True
            log.info(
                "Recorded %s as the invoice of order %s, issued elsewhere",
                label(match.document),
                match.order_id,
            )
        # Days after today were not listed yet (the other integration may still issue on them):
        # only the days up to today are reviewed, or a first run would pass their documents.
        if first <= today:
            # The undecided documents first: a kill between the two writes leaves the days
            # unreviewed (the first run still stops), never reviewed without what holds back
            # the orders a document not ours may have invoiced.
            remember_undecided(self.ledger, first, min(last, today), report.matches)
            remember_reviewed(self.ledger, first, min(last, today), report.matches, today)
        self._tell_again(told)
        return report

    def _tell_again(self, told: dict[int, str | None]) -> None:
        """A failure that named the undecided documents (a pick since taken for another
        order) says what is undecided now; any other failure is left as it is."""
        for order_id, before in told.items():
            work = self.ledger.works.work(order_id, Kind.INVOICE)
            if before is None or work is None or work.state != WorkState.FAILED:
                continue
            now = undecided_invoice(self.ledger, order_id)
            if work.error == before and now is not None and now != before:
                self.ledger.works.fail(order_id, Kind.INVOICE, now, transient=False)

    # -- matching -------------------------------------------------------------------------------

    def match(
        self, docs: list[IssuedDocument], orders: dict[int, Order], picks: dict[str, int]
    ) -> list[Match]:
        adopted = self.ledger.docs.issued_elsewhere()
        adopted_ids = {d.document_id: order_id for order_id, d in adopted.items()}
        sales = {
            i: o
            for i, o in orders.items()
            if o.completed_at is not None and o.status in (OrderStatus.PAID, OrderStatus.CANCELED)
        }
        # Placed, not paid yet: no sale, but the other integration may have invoiced it already.
        waiting = {i: o for i, o in orders.items() if o.status == OrderStatus.PENDING_PAYMENT}
        matches: list[Match] = []
        for doc in sorted(docs, key=lambda d: (d.date or date.min, d.number or d.id)):
            if doc.id in adopted_ids:
                chosen = picks.get(label(doc), adopted_ids[doc.id])
                if chosen != adopted_ids[doc.id]:
                    # A document is one order's invoice: a pick for another order is said,
                    # never dropped in silence behind "0 recorded".
                    raise UsageError(
                        f"--pick {label(doc)}={chosen}: {label(doc)} is recorded already as the "
                        f"invoice of order {adopted_ids[doc.id]}; nothing was recorded.",
                        hint=f"A document is the invoice of one order: order {chosen} needs "
                        f"another (`igest-sync status --order {chosen}` says what it waits for).",
                    )
                matches.append(Match(doc, ADOPTED, adopted_ids[doc.id], "recorded before"))
            elif label(doc) in picks:
                order_id = picks[label(doc)]
                if order_id not in orders:
                    try:
                        orders[order_id] = self.jumpseller.order(order_id)
                    except NotFound:
                        raise UsageError(
                            f"--pick {label(doc)}={order_id}: Jumpseller has no order "
                            f"{order_id} (404); nothing was recorded.",
                            hint="Check the order number in Jumpseller.",
                        ) from None
                    sales[order_id] = orders[order_id]
                matches.append(Match(doc, SURE, order_id, "chosen by a person (--pick)"))
            else:
                found = match_one(doc, sales, self.settings.nif_field, waiting)
                matches.append(self._not_decided(found))
        recorded = {o: d.number or str(d.document_id) for o, d in adopted.items()}
        self._by_elimination(matches, sales, waiting, recorded)
        self._one_document_per_order(matches, picks)
        self._narrow(matches, set(adopted))
        return matches

    def _by_elimination(
        self,
        matches: list[Match],
        sales: dict[int, Order],
        waiting: dict[int, Order],
        adopted: dict[int, str],
    ) -> None:
        """An ambiguous document matched again without the orders other documents surely are
        the invoices of: the same customer's two purchases for the same total two days apart,
        each invoiced on its day, made the later document fit both orders. Sure when one order
        is left, and no other document is made sure for that order in the same round (two
        documents that compete for it stay ambiguous). Again until nothing changes: the order
        of the documents does not change the outcome."""
        while True:
            claimed = self._claimed(matches, adopted)
            left = {o: order for o, order in sales.items() if o not in claimed}
            found: dict[int, list[tuple[int, Match]]] = {}
            for i, m in enumerate(matches):
                # A document that names an order of the sales is that order's or a question:
                # matched again without it, its facts alone made it another order's.
                if m.verdict != AMBIGUOUS or numbers_named(m.document) & sales.keys():
                    continue
                again = match_one(m.document, left, self.settings.nif_field, waiting)
                again = self._not_decided(again)
                if again.verdict == SURE and again.order_id is not None:
                    found.setdefault(again.order_id, []).append((i, again))
            sure = [pair for pairs in found.values() if len(pairs) == 1 for pair in pairs]
            if not sure:
                return
            for i, again in sure:
                gone = sorted(set(matches[i].candidates) & claimed.keys())
                said = ", ".join(f"order {o} is {claimed[o]}'s" for o in gone)
                again.how += f"; {said} (sure)" if said else ""
                matches[i] = again

    def _claimed(self, matches: list[Match], adopted: dict[int, str]) -> dict[int, str]:
        """The orders that have their invoice in a document not ours (recorded before, or the
        one document of the period surely theirs: by its number, facts or a person's pick), by
        order: the document. Not an order with two such documents, or with anything of ours in
        iGEST (then a document not ours may be its second invoice, and no other order's)."""
        claims: dict[int, list[str]] = {o: [number] for o, number in adopted.items()}
        for m in matches:
            if m.verdict == SURE and m.order_id is not None and m.order_id not in adopted:
                claims.setdefault(m.order_id, []).append(label(m.document))
        return {
            o: docs[0]
            for o, docs in claims.items()
            if len(docs) == 1 and (o in adopted or not self._ours_in_igest(o))
        }

    def _ours_in_igest(self, order_id: int) -> bool:
        """Whether igest-sync's invoice of the order is there, or may be (a draft, a request
        sent): in the state file, or in the period's listing (the state file may be lost)."""
        work = self.ledger.works.work(order_id, Kind.INVOICE)
        return order_id in self._ours_listed or (work is not None and work.phase is not None)

    def _not_decided(self, match: Match) -> Match:
        """``match`` without the orders a person's ``resend ORDER`` said this document is not
        the invoice of (their decision, which the runs and ``reconcile`` keep to): a credit
        note would otherwise follow for a document they ruled out. A ``--pick`` still
        records it (a later decision)."""
        ruled_out = {
            o
            for o in ((match.order_id,) if match.order_id else match.candidates)
            if match.document.id in not_its_invoices(self.ledger, o)
        }
        if not ruled_out:
            return match
        said = ", ".join(f"`igest-sync resend {o}`" for o in sorted(ruled_out))
        left = tuple(o for o in match.candidates if o not in ruled_out)
        if match.verdict == SURE or not left:
            return Match(
                match.document,
                UNMATCHED,
                None,
                f"{match.how}, but a person's {said} said it is not that order's invoice "
                "(--pick records it anyway)",
            )
        match.candidates = left
        match.how += f"; not order {', '.join(map(str, sorted(ruled_out)))}, as {said} said"
        return match

    def _narrow(self, matches: list[Match], adopted: set[int]) -> None:
        """An ambiguous document's candidates that have their invoice (recorded before, sure
        in this period, or ours) are not offered: after `--pick 'FR QI/5=9005'`, FR QI/6 fits
        9006 alone, and offering 9005 led to a pick adopt must refuse. It stays a question for
        a person (the other integration may have invoiced 9005 twice), with one answer."""
        claimed = adopted | {
            m.order_id for m in matches if m.verdict in (SURE, ADOPTED) and m.order_id
        }
        for m in matches:
            if m.verdict != AMBIGUOUS or len(m.candidates) < 2:
                continue
            invoiced = [o for o in m.candidates if o in claimed or self._ours_final(o)]
            left = tuple(o for o in m.candidates if o not in invoiced)
            if invoiced and left:
                had = ", ".join(map(str, invoiced))
                m.how += f"; {'order' if len(invoiced) == 1 else 'orders'} {had} invoiced already"
                m.candidates = left

    def _invoice_of(self, order_id: int, work: WorkRecord | None) -> tuple[str, str] | None:
        """The order's invoice already there (its number, who issued it): the state file's
        (ours, or one recorded as issued elsewhere), else ours in the period's listing (the
        state file may be new: lost); else None."""
        if work is not None and work.state == WorkState.FINAL:
            mine = self.ledger.docs.document(work.document_id) if work.document_id else None
            number = (mine.number if mine else None) or str(work.document_id)
            elsewhere = order_id in self.ledger.docs.issued_elsewhere()
            return number, "recorded as issued elsewhere" if elsewhere else "issued by igest-sync"
        listed = self._ours_listed.get(order_id)
        return (label(listed), "issued by igest-sync") if listed is not None else None

    def _only_drafts(self, work: WorkRecord) -> tuple[str, ...] | None:
        """The ids of our drafts of ``work``'s order when that is all it has in iGEST: a checked
        draft that waits for a person (review mode) or that the run held for a document not
        ours (``approve`` holds it so, and says "record it: igest-sync adopt"). None when it
        may be more: a finalize may have been sent, or iGEST holds a final one (finalized by
        hand). Read from iGEST, not the ledger, as a lost answer would not say."""
        if work.state not in (WorkState.REVIEW, WorkState.FAILED) or work.phase != Phase.DRAFT:
            return None
        ref = work.external_reference
        # Only this very reference: a server that filters by prefix would also hand over
        # another order's (``...:1001`` is a prefix of ``...:10015``), a draft deleted here.
        ours = [
            d
            for d in self.igest.find_documents(external_reference=ref)
            if d.external_reference == ref
        ]
        if any(d.status != DocumentStatus.DRAFT for d in ours):
            return None
        return tuple(d.id for d in ours)

    def _ours_final(self, order_id: int) -> bool:
        work = self.ledger.works.work(order_id, Kind.INVOICE)
        return work is not None and work.state == WorkState.FINAL

    def _one_document_per_order(self, matches: list[Match], picks: dict[str, int]) -> None:
        """An order has one invoice: two documents for it, or an invoice it has already, make
        the match a question for a person, never a second record. A person's pick that ends so
        is refused (``UsageError``, exit 2) before anything is recorded, never listed as
        "ambiguous" beside a run that exits 0 as if it had been taken."""
        claims: dict[int, list[Match]] = {}
        for m in matches:
            if m.verdict in (SURE, ADOPTED) and m.order_id is not None:
                claims.setdefault(m.order_id, []).append(m)
        for order_id, claiming in claims.items():
            if len(claiming) > 1:
                numbers = ", ".join(label(m.document) for m in claiming)
                for m in claiming:
                    if m.verdict == SURE:
                        m.verdict = AMBIGUOUS
                        m.candidates = (order_id,)
                        m.how = (
                            f"order {order_id} is named by {len(claiming)} documents ({numbers})"
                        )
                for m in claiming:
                    _refuse_pick(
                        m,
                        picks,
                        hint=f"Order {order_id} has one invoice: check in iGEST which of "
                        f"{numbers} it is and pick only that one (a document that invoices "
                        "another order: pick that order); if two invoice the same sale, credit "
                        "one of them in iGEST, then adopt again.",
                    )
                continue
            [m] = claiming
            if m.verdict != SURE:
                continue
            work = self.ledger.works.work(order_id, Kind.INVOICE)
            invoice = self._invoice_of(order_id, work)
            if invoice is None:
                if work is None or work.phase is None:
                    continue  # nothing of ours reached iGEST for it: the document is its invoice
                drafts = self._only_drafts(work)
                if drafts is not None:
                    m.our_drafts = drafts
                    continue
            m.verdict, m.candidates = AMBIGUOUS, (order_id,)
            if invoice is not None:
                number, who = invoice
                m.how = (
                    f"order {order_id} has an invoice already ({number}, {who}); this "
                    "document would be a second one: credit one of them in iGEST"
                )
                hint = (
                    f"If {label(m.document)} invoices another order, pick that order; if it "
                    f"invoices the same sale as {number}, credit one of them in iGEST."
                )
            else:
                assert work is not None  # with no work, the document was its invoice (above)
                m.how = (
                    f"igest-sync's invoice of order {order_id} is in progress ({work.state}); "
                    "run `igest-sync invoice` first, then adopt again"
                )
                hint = (
                    f"Run `igest-sync invoice` first (`igest-sync status --order {order_id}` "
                    "says where its invoice is), then adopt again."
                )
            _refuse_pick(m, picks, hint=hint)


def _placed_before(orders: dict[int, Order], first: date, last: date) -> list[Order]:
    """The orders placed before ``first`` that are paid in the period, or not paid yet: their
    invoice may be dated the day they were placed (an FT made then), before the period.
    Unlisted, an adopt from the switch day never saw it, and the first run issued a second."""
    return [
        o
        for o in orders.values()
        if o.created_at is not None
        and lisbon_date(o.created_at) < first
        and (
            o.status == OrderStatus.PENDING_PAYMENT
            or (o.completed_at is not None and first <= lisbon_date(o.completed_at) <= last)
        )
    ]


def _of_the_period(m: Match, first: date, placed: list[Order], picks: dict[str, int]) -> bool:
    """Whether ``m`` is adopt's to show: a document of the period, or one of the days before
    it that may be the invoice of ``placed`` (or a person picked)."""
    if m.document.date is None or m.document.date >= first or label(m.document) in picks:
        return True
    ids = {o.id for o in placed}
    return m.verdict in (SURE, AMBIGUOUS) and bool(ids & {m.order_id, *m.candidates})


def _our_invoices(listed: list[IssuedDocument], store: str) -> dict[int, IssuedDocument]:
    """This store's final invoices igest-sync issued among ``listed``, by order."""
    ours: dict[int, IssuedDocument] = {}
    for doc in listed:
        parsed = parse_reference(doc.external_reference, store)
        if doc.status != DocumentStatus.FINAL or parsed is None or parsed[0] is None:
            continue
        if parsed[1] == Kind.INVOICE:
            ours.setdefault(parsed[0], doc)
    return ours


def _as_listed(picks: dict[str, int], docs: list[IssuedDocument]) -> dict[str, int]:
    """``picks`` keyed by each document's number as iGEST lists it: 'fr qi/5' is FR QI/5 (a
    number typed in another case was refused as no document of the period)."""
    numbers = {label(d).casefold(): label(d) for d in docs}
    return {numbers.get(number.casefold(), number): order for number, order in picks.items()}


def _refuse_pick(match: Match, picks: dict[str, int], *, hint: str) -> None:
    """A person picked ``match``'s document for an order it cannot be recorded for (``how``
    says why): a usage error that names the pick, the order and what to do; nothing is
    recorded (the run has only read so far)."""
    number = label(match.document)
    if number in picks:
        raise UsageError(
            f"--pick {number}={picks[number]}: {match.how}; nothing was recorded.", hint=hint
        )


def match_one(
    doc: IssuedDocument,
    sales: dict[int, Order],
    nif_field: str,
    waiting: dict[int, Order] | None = None,
) -> Match:
    """The order ``doc`` is the invoice of, among ``sales`` (paid orders of its period); an
    order of ``waiting`` (placed, not paid yet) it may be makes it a question."""
    for where, text in (("reference", doc.external_reference), ("notes", doc.notes)):
        named = sorted(numbers_in(text) & set(sales))
        if len(named) == 1:
            order = sales[named[0]]
            if expected_gross(order) == doc.gross_total:
                return Match(doc, SURE, order.id, f"order number in its {where}")
            return Match(
                doc,
                AMBIGUOUS,
                None,
                f"its {where} names order {order.id}, but the order's total is "
                f"{expected_gross(order):.2f} EUR, not {doc.gross_total:.2f}",
                (order.id,),
            )
        if len(named) > 1:
            return Match(doc, AMBIGUOUS, None, f"its {where} names several orders", tuple(named))
    same = [
        o
        for o in sales.values()
        if expected_gross(o) == doc.gross_total and _paid_for(o, doc.date) is not None
    ]
    # Orders placed by its date, not paid (yet), that the document may be the invoice of.
    unpaid = _fits_customer(doc, _placed_by(doc, waiting or {}), nif_field)
    if not same:
        if unpaid:
            return _not_paid_yet(doc, unpaid, ())
        return Match(
            doc,
            UNMATCHED,
            None,
            f"no order for that total paid that day or the {INVOICED_WITHIN} days before, "
            "nor placed by that day and paid since",
        )
    nif = foreign_nif(doc)
    fits = _fits_customer(doc, same, nif_field)
    how = f"total, payment day and {'NIF' if nif is not None else 'name'}"
    ids = tuple(sorted(o.id for o in same))
    days = {_paid_for(o, doc.date) or 0 for o in same}
    one_day = days == {0}
    when = "that day" if one_day else f"that day or the {INVOICED_WITHIN} days before"
    if min(days) < 0:
        when += ", or placed by that day and paid since"
    if len(fits) == 1:
        late = _paid_for(fits[0], doc.date) or 0
        if late > 0:  # paid before the document's date (late in the evening, say)
            how += f" (paid {counted(late, 'day')} before the document's date)"
        elif late < 0:  # made as the order was placed, paid since (Multibanco, say)
            how += f" (placed by the document's date, paid {counted(-late, 'day')} after it)"
        return Match(doc, SURE, fits[0].id, how)
    if fits:
        same_how = how if one_day else f"{how.replace(', payment day', '')}, paid {when}"
        return Match(doc, AMBIGUOUS, None, f"{len(fits)} orders have the same {same_how}", ids)
    if customer_unknown(doc):
        why = "the document names no customer (final consumer)"
    else:
        why = f"none with the document's {'NIF' if nif is not None else 'customer name'}"
    found = f"{counted(len(same), 'order')} paid {when} for that total; {why}"
    if unpaid:  # the customer's own order, placed but not paid yet, is the likelier one
        return _not_paid_yet(doc, unpaid, ids, found)
    return Match(doc, AMBIGUOUS, None, found, ids)


def _placed_by(doc: IssuedDocument, waiting: dict[int, Order]) -> list[Order]:
    """The orders of ``waiting`` (placed, not paid) with ``doc``'s total, placed by its date."""
    return [
        o
        for o in waiting.values()
        if expected_gross(o) == doc.gross_total
        and o.created_at is not None
        and doc.date is not None
        and lisbon_date(o.created_at) <= doc.date
    ]


def _not_paid_yet(
    doc: IssuedDocument, unpaid: list[Order], paid: tuple[int, ...], found: str = ""
) -> Match:
    """``doc`` may be the invoice of an order its customer placed by its date and has not paid
    (an FT made as the order is placed, a Multibanco payment still to come). Never recorded
    (only a paid order is a sale, and this one may never be): a question, whose orders no run
    issues an invoice to once paid until a person decides (``--pick`` once paid, or
    ``resend``). Called unmatched, the first run after the payment issued a second invoice."""
    waiting = sorted(o.id for o in unpaid)
    what = f"order{'s' if len(waiting) > 1 else ''} {', '.join(map(str, waiting))}"
    how = (
        f"{what} of the document's customer, placed by that day for that total, "
        f"{'are' if len(waiting) > 1 else 'is'} not paid yet"
    )
    return Match(
        doc, AMBIGUOUS, None, f"{found}; {how}" if found else how, tuple(sorted({*paid, *waiting}))
    )


def _paid_for(order: Order, day: date | None) -> int | None:
    """How many days before ``day`` (a document's date) ``order`` was paid, negative when it
    was paid after it, when ``day`` is a day its invoice may be dated: from the day the order
    was placed (an FT may be made as the order is placed, and paid days later by Multibanco)
    to ``INVOICED_WITHIN`` days after its payment; else None."""
    if order.completed_at is None or day is None:
        return None
    before = (day - lisbon_date(order.completed_at)).days
    if before < 0:  # dated before the payment: only from the day the order was placed
        placed = order.created_at
        return before if placed is not None and lisbon_date(placed) <= day else None
    return before if before <= INVOICED_WITHIN else None


# -- the periods a person reviewed, and the first run's guard -----------------------------------


def remember_reviewed(
    ledger: Ledger, first: date, last: date, matches: list[Match], today: date
) -> None:
    """``first`` to ``last`` are reviewed: whole for the days that have ended; today, which is
    not over, only for the documents listed now (the days part of this period that an earlier
    ``adopt`` saw before they ended are whole now, or seen again)."""
    partly = {day: ids for day, ids in partly_reviewed(ledger).items() if not first <= day <= last}
    if last == today:
        partly[today] = {m.document.id for m in matches if m.document.date == today}
    # The partial days first: killed between the two writes, today is not reviewed at all
    # (a first run stops for every document of it), never reviewed whole.
    ledger.meta.set_meta(
        PARTLY_KEY, json.dumps({d.isoformat(): sorted(ids) for d, ids in sorted(partly.items())})
    )
    periods = reviewed_periods(ledger) + [(first, last)]
    ledger.meta.set_meta(
        REVIEWED_KEY, json.dumps([[a.isoformat(), b.isoformat()] for a, b in periods])
    )


def remember_undecided(ledger: Ledger, first: date, last: date, matches: list[Match]) -> None:
    """Keep the period's ambiguous documents (those of earlier reviews of other days stay).
    A document of the days before the period that ``matches`` holds is decided again here:
    recorded since, it held the other orders it was kept for (their pick then refused)."""
    listed = {label(m.document) for m in matches}
    kept = {
        number: entry
        for number, entry in undecided_documents(ledger).items()
        if not first <= date.fromisoformat(entry["date"]) <= last and number not in listed
    }
    for m in matches:
        if m.verdict == AMBIGUOUS and m.document.date is not None and m.candidates:
            kept[label(m.document)] = {
                "date": m.document.date.isoformat(),
                "orders": sorted(m.candidates),
            }
    ledger.meta.set_meta(UNDECIDED_KEY, json.dumps(kept, sort_keys=True))
