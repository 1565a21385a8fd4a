"""``reconcile``: do Jumpseller's orders and iGEST's documents agree for a period?

The ledger does not decide what is a problem: both services are compared again, by
``external_reference``, so a lost or stale state file cannot hide one (the vdirsyncer lesson). It
is read, when there is one, for what the runs know that the services do not say: the invoices
``adopt`` recorded, an order noted paid again, a draft waiting in review mode, a failure and the
reason recorded for it (so that the advice is the runs' own). ``compare`` is pure;
``ReconcileRun`` fetches what it needs and, with ``fix``, issues the missing invoices through
the ``resend`` it is given: the exactly-once path of ``InvoiceRun.resend`` (which looks each
reference up in iGEST first), composed by the caller, not built here from another run's parts.
No document is ever deleted or credited here: those need a person's decision; nor is a second
invoice issued for an order paid again after its invoice was credited in full (one order has
one invoice, its reference): a person issues that sale's invoice by hand. A draft is not a
document yet: a draft invoice of an order that already has its final invoice (a write whose
answer was lost and that iGEST applied after the run had moved on) could only ever become a
second invoice, so it is named, and ``--fix`` deletes it.

A problem belongs to the period in which its order was paid (``completed_at``, a Lisbon date),
so reconciling consecutive months reports each problem once. Only a document whose order
Jumpseller does not know has no payment day; it belongs to the period of its own date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError, NotFound, UsageError
from igest_sync.fiscal.credit import CreditRequest, over_credited
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.fiscal.intra_eu import source_skip_reason
from igest_sync.fiscal.mapping import known_gross
from igest_sync.models import (
    Action,
    DocumentOutcome,
    DocumentStatus,
    DocumentType,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    WorkState,
)
from igest_sync.references import external_reference, parse_reference
from igest_sync.runs.credits.cancellations import BY_HAND, credits_by_itself, noted_paid_again
from igest_sync.runs.invoicing.due import waits_for_a_person
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.report import counted
from igest_sync.runs.services import IgestApi, JumpsellerApi
from igest_sync.state.database import moment
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import Period, lisbon_date, lisbon_moment

# ``--fix``: issue the missing invoices of these orders (``InvoiceRun.resend``).
Resend = Callable[[list[int]], InvoiceReport]

log = logging.getLogger("igest_sync.reconcile")

# An order created this long before the period and paid in it is still one of its sales.
ORDER_LOOKBACK = timedelta(days=30)
# Older ones the ledger last saw open (waiting for payment, an abandoned checkout) are read back
# this far before the period: a cart completed from a recovery email weeks later is a sale of
# the month it is paid in, and the listing by creation day does not reach it.
OPEN_LOOKBACK = timedelta(days=365)
# An order paid on the last day may be invoiced later (a failure fixed by hand, a holiday).
INVOICE_LAG = timedelta(days=30)
# Above this many documents to look up by reference, one listing is cheaper (10 requests/s).
LOOKUP_LIMIT = 50

MISSING = "missing"
DUPLICATE = "duplicate"
WRONG_TOTAL = "wrong_total"
UNCREDITED = "uncredited"
UNKNOWN_ORDER = "unknown_order"
# Paid, but its invoice credited in full for a cancellation since undone: a sale without an
# invoice that `--fix` cannot issue (one order, one invoice reference).
PAID_AGAIN = "paid_again"
KINDS = (MISSING, DUPLICATE, WRONG_TOTAL, UNCREDITED, PAID_AGAIN, UNKNOWN_ORDER)
RESOLVED_BY_FIX = (Action.ISSUED, Action.ADOPTED)


@dataclass(frozen=True)
class Problem:
    """One disagreement between the two services, with what a person can do about it."""

    kind: str  # one of KINDS
    order_id: int | None  # None: a reference of this store that names no order id
    detail: str
    documents: tuple[str, ...] = ()  # numbers of the documents involved
    reference: str | None = None
    # missing, wrong_total, paid_again: what the order says (None: its total cannot be read)
    expected: Decimal | None = None
    # wrong_total: what the document carries; paid_again: invoiced net of credit notes
    found: Decimal | None = None
    hint: str | None = None
    # A missing invoice that a document not ours (another integration's) may be: never
    # issued by ``--fix`` (it would be a second invoice); ``adopt`` records it.
    elsewhere: bool = False
    # Review mode: the invoice waits as a checked draft for a person's ``approve``; ``--fix``
    # leaves it to them.
    awaiting_approval: bool = False
    # The runs failed it for a cause a person must fix (the state file's reason, in
    # ``detail``): ``--fix`` would only be refused again, so it leaves it to ``resend``.
    refused: bool = False

    @property
    def fixable(self) -> bool:
        """Only a missing invoice is issued by ``--fix``; the rest needs a person."""
        return (
            self.kind == MISSING
            and not self.elsewhere
            and not self.awaiting_approval
            and not self.refused
        )


@dataclass
class ReconcileReport:
    store: str
    period: Period
    problems: list[Problem] = field(default_factory=list)
    orders_checked: int = 0  # orders paid in the period (later cancelled ones included)
    documents_checked: int = 0  # final documents of this store that were compared
    # Of them, apart: an order with a credit note and one without an invoice are not "12
    # orders, 12 documents".
    invoices_checked: int = 0
    credit_notes_checked: int = 0
    notices: list[str] = field(default_factory=list)
    fixes: list[DocumentOutcome] = field(default_factory=list)
    fix_requested: bool = False
    # Invoices another integration issued that `adopt` recorded for orders of the period:
    # compared as those orders' invoices.
    issued_elsewhere: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)

    @property
    def alert_notices(self) -> list[str]:
        """With ``--fix``, what issuing the missing invoices noted, as ``invoice``'s would be."""
        return list(self.notices)

    def fixed(self, problem: Problem) -> bool:
        return problem.fixable and any(
            o.key == str(problem.order_id) and o.action in RESOLVED_BY_FIX for o in self.fixes
        )

    def hint(self, problem: Problem) -> str | None:
        """What to do about ``problem``. A missing invoice that ``--fix`` tried and could not
        issue (VIES refused the number, iGEST refused the document ...) is not sent back to
        ``--fix``: its own outcome says why, and ``resend`` follows once that is settled."""
        tried = [o for o in self.fixes if problem.fixable and o.key == str(problem.order_id)]
        if tried and tried[-1].action == Action.DRAFTED:
            # Review mode: the checked draft waits for a person, as the runs' drafts do.
            return (
                "--fix drafted it; the draft waits for approval (review mode): `igest-sync "
                f"approve {problem.order_id}` finalizes it (or `--reject`)"
            )
        if tried and not self.fixed(problem):
            return (
                f"--fix tried it ({tried[-1].action}: why, under 'What --fix did'); once "
                f"that is settled: igest-sync resend {problem.order_id}"
            )
        return problem.hint

    @property
    def remaining(self) -> list[Problem]:
        """The problems still there after ``--fix`` (all of them without it)."""
        return [p for p in self.problems if not self.fixed(p)]

    @property
    def exit_code(self) -> int:
        return 1 if self.remaining else 0

    def summary(self) -> str:
        notes = self.credit_notes_checked
        scope = (
            f"{counted(self.orders_checked, 'order')} paid from {self.period.first} to "
            f"{self.period.last}, {counted(self.invoices_checked, 'invoice')} and "
            f"{counted(notes, 'credit note')}"
        )
        if not self.problems:
            return f"Clean: {scope}; Jumpseller and iGEST agree."
        found = ", ".join(f"{self.count(k)} {k.replace('_', ' ')}" for k in KINDS if self.count(k))
        text = f"Found {counted(len(self.problems), 'problem')} ({found}) in {scope}."
        if self.fix_requested:
            fixed = len(self.problems) - len(self.remaining)
            # Not all of those left need a person: a cancellation the next run credits says so.
            text += f" Fixed {fixed}; {len(self.remaining)} left, each saying what comes next."
        return text

    def to_json(self) -> dict:
        return {
            "store": self.store,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "clean": not self.remaining,
            "orders_checked": self.orders_checked,
            "documents_checked": self.documents_checked,
            "issued_elsewhere": self.issued_elsewhere,
            "invoices_checked": self.invoices_checked,
            "credit_notes_checked": self.credit_notes_checked,
            "counts": {k: self.count(k) for k in KINDS},
            "problems": [
                {
                    "kind": p.kind,
                    "order_id": p.order_id,
                    "detail": p.detail,
                    "documents": list(p.documents),
                    "reference": p.reference,
                    "expected": _str(p.expected),
                    "found": _str(p.found),
                    "hint": self.hint(p),
                    "fixable": p.fixable,
                    "fixed": self.fixed(p),
                }
                for p in self.problems
            ],
            "fixes": [
                {"order_id": o.key, "action": o.action, "detail": o.detail, **o.facts()}
                for o in self.fixes
            ],
            "notices": list(self.notices),
        }


def _str(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _eur(value: Decimal) -> str:
    return f"{value:.2f} EUR"


def _number(doc: IssuedDocument) -> str:
    return doc.number or f"document {doc.id}"


def _value(order: Order, expected: Decimal | None) -> str:
    """What the customer paid, as a detail says it; never the 0 of an unreadable total."""
    return (
        _eur(expected)
        if expected is not None
        else f"its total cannot be read: {order.total_unread}"
    )


def _said(
    problem: Problem,
    what: str,
    hint: str,
    *,
    awaiting_approval: bool = False,
    refused: bool = False,
) -> Problem:
    """``problem`` with what the state file says of it added to its detail, and the hint
    that follows from that."""
    return replace(
        problem,
        detail=f"{problem.detail}; {what}",
        hint=hint,
        awaiting_approval=problem.awaiting_approval or awaiting_approval,
        refused=problem.refused or refused,
    )


def _paid_on(order: Order) -> date | None:
    return lisbon_date(order.completed_at) if order.completed_at is not None else None


def _credits_not_ours(
    finals: dict[tuple[int, str], list[IssuedDocument]], notes: list[IssuedDocument]
) -> None:
    """The credit notes without a reference of ours that name an invoice of an order (the
    other integration's NC of an invoice ``adopt`` recorded, one made by hand in iGEST) are
    that order's: ``credit`` and the runs plan from every NC of an invoice, and a reconcile
    that left them out called a sale credited in full "uncredited", for ever."""
    order_of = {
        d.number: order_id
        for (order_id, kind), docs in finals.items()
        if kind == Kind.INVOICE
        for d in docs
        if d.number
    }
    for note in notes:
        if note.related_number in order_of:
            finals.setdefault((order_of[note.related_number], Kind.CREDIT), []).append(note)


def compare(
    orders: Iterable[Order],
    documents: Iterable[IssuedDocument],
    store: str,
    period: Period,
    *,
    invoice_from: date | None = None,
    elsewhere: Mapping[str, int] | None = None,
    not_invoiced: Callable[[Order], str | None] | None = None,
    paid_again: Callable[[Order, list[IssuedDocument]], bool] | None = None,
) -> ReconcileReport:
    """What disagrees between the orders and the documents, for orders paid in ``period``.

    ``orders``: every order the caller could find (an order id a document names that is not
    among them is unknown to Jumpseller). ``documents``: iGEST's documents; only final ones with
    this store's references count, each once. ``invoice_from``: the configured start date;
    an order paid before it is never invoiced, so it is not missing its invoice.
    ``elsewhere``: document id -> order id of the invoices ``adopt`` recorded as issued by
    another integration (the ledger's; their references are not ours). ``not_invoiced``: why
    igest-sync does not invoice an order at all (a sale at the till, by ``[invoice] sources``),
    or None: such an order is not missing an invoice of ours, and ``--fix`` must never issue a
    second one beside the till's. ``paid_again``: whether a paid order whose invoice its credit
    notes (given) credit in full was cancelled and then paid again (a refund undone), rather
    than returned while Jumpseller keeps it paid (a ``credit --all`` for a return: no sale
    left to invoice); None: never asked.
    """
    report = ReconcileReport(store=store, period=period)
    known = {o.id: o for o in orders}
    finals: dict[tuple[int, str], list[IssuedDocument]] = {}
    seen: set[str] = set()
    notes_not_ours: list[IssuedDocument] = []
    for doc in documents:
        if doc.status != DocumentStatus.FINAL or doc.id in seen:
            continue
        seen.add(doc.id)
        parsed = parse_reference(doc.external_reference, store)
        if parsed is None and elsewhere and doc.id in elsewhere:
            parsed = (elsewhere[doc.id], Kind.INVOICE)
            if parsed[0] in known and _paid_on(known[parsed[0]]) in period:
                report.issued_elsewhere += 1
        if parsed is None:
            if doc.type == DocumentType.NC and doc.related_number:
                notes_not_ours.append(doc)
            continue  # another store's, or issued by hand without a reference
        order_id, kind = parsed
        if order_id is not None and order_id in known:
            finals.setdefault((order_id, kind), []).append(doc)
            continue
        if doc.date in period:
            report.documents_checked += 1
            if kind == Kind.CREDIT:
                report.credit_notes_checked += 1
            else:
                report.invoices_checked += 1
            report.problems.append(_unknown(doc, order_id))

    _credits_not_ours(finals, notes_not_ours)
    by_source: list[int] = []
    before_start: list[int] = []  # paid before the start date, with no invoice of ours
    for order in sorted(known.values(), key=lambda o: o.id):
        paid_on = _paid_on(order)
        if paid_on is None:
            created_on = lisbon_date(order.created_at) if order.created_at else None
            if order.status == OrderStatus.PAID and created_on in period:
                report.notices.append(
                    f"Order {order.id} is paid but Jumpseller gives no payment time; it was not "
                    "checked (its invoice is refused until Jumpseller has one)."
                )
            continue
        if paid_on not in period or order.status not in (OrderStatus.PAID, OrderStatus.CANCELED):
            continue
        invoices = finals.get((order.id, Kind.INVOICE), [])
        if not invoices and not_invoiced is not None and not_invoiced(order) is not None:
            by_source.append(order.id)
            continue
        if not invoices and invoice_from is not None and paid_on < invoice_from:
            before_start.append(order.id)
        report.orders_checked += 1
        credits = finals.get((order.id, Kind.CREDIT), [])
        report.documents_checked += len(invoices) + len(credits)
        report.invoices_checked += len(invoices)
        report.credit_notes_checked += len(credits)
        report.problems += _order_problems(
            order, paid_on, invoices, credits, store, invoice_from, paid_again
        )
        if invoices and order.total_unread:
            # No total to compare them with: saying "wrong" (or right) would be a guess.
            numbers = ", ".join(_number(d) for d in invoices)
            report.notices.append(
                f"Order {order.id}: its total cannot be read ({order.total_unread}); {numbers} "
                "not compared with it: check the order in Jumpseller."
            )
    if by_source:
        # A till sells all day: the first few name the kind, the count says how many.
        ids = ", ".join(map(str, by_source[:10])) + (", ..." if len(by_source) > 10 else "")
        report.notices.append(
            f"Not checked: {counted(len(by_source), 'order')} ({ids}) from a source "
            "igest-sync does not invoice ([invoice] sources; by default the till's sales, "
            "invoiced there)."
        )
    if before_start:
        # "Clean" alone would read as "invoiced": these are the program's before igest-sync.
        ids = ", ".join(map(str, before_start[:10])) + (", ..." if len(before_start) > 10 else "")
        report.notices.append(
            f"Not checked for a missing invoice: {counted(len(before_start), 'order')} ({ids}) "
            f"paid before the start date {invoice_from} ([invoice] start_date), invoiced "
            "before igest-sync (`igest-sync adopt` records those invoices)."
        )
    report.problems.sort(key=lambda p: (KINDS.index(p.kind), p.order_id or 0, p.documents))
    return report


def stray_drafts(
    documents: Iterable[IssuedDocument], store: str
) -> list[tuple[IssuedDocument, IssuedDocument]]:
    """(draft, final invoice) for each draft invoice of this store whose reference already has a
    final invoice: it can only ever be finalized as a second one."""
    finals: dict[str, IssuedDocument] = {}
    drafts: dict[str, IssuedDocument] = {}
    for doc in documents:
        parsed = parse_reference(doc.external_reference, store)
        if parsed is None or parsed[1] != Kind.INVOICE or doc.external_reference is None:
            continue
        if doc.status == DocumentStatus.FINAL:
            finals.setdefault(doc.external_reference, doc)
        elif doc.status == DocumentStatus.DRAFT:
            drafts.setdefault(doc.id, doc)
    return [
        (draft, finals[draft.external_reference])
        for draft in sorted(drafts.values(), key=lambda d: d.id)
        if draft.external_reference in finals
    ]


def _order_problems(
    order: Order,
    paid_on: date,
    invoices: list[IssuedDocument],
    credits: list[IssuedDocument],
    store: str,
    invoice_from: date | None,
    paid_again: Callable[[Order, list[IssuedDocument]], bool] | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    ref = external_reference(store, order.id)
    credit_ref = external_reference(store, order.id, Kind.CREDIT)
    expected = known_gross(order)  # None: Jumpseller's total cannot be read
    before_start = invoice_from is not None and paid_on < invoice_from
    if order.status == OrderStatus.PAID and not invoices and not before_start:
        problems.append(
            Problem(
                MISSING,
                order.id,
                f"paid on {paid_on} ({_value(order, expected)}); iGEST has no final document "
                f"for {ref}",
                reference=ref,
                expected=expected,
                hint=f"igest-sync reconcile --fix, or igest-sync resend {order.id}",
            )
        )
    by_reference: dict[str, list[IssuedDocument]] = {ref: invoices}
    for note in credits:  # partial credit notes: several, each with a reference of its own
        # (one not ours, the other integration's, is itself: its reference, if any, is in
        # a style of theirs that several of its documents may share)
        ours = parse_reference(note.external_reference, store) is not None
        key = note.external_reference if ours and note.external_reference else note.id
        by_reference.setdefault(key, []).append(note)
    for reference, docs in by_reference.items():
        what = "invoices" if reference == ref else "credit notes"
        if len(docs) > 1:
            numbers = tuple(_number(d) for d in docs)
            problems.append(
                Problem(
                    DUPLICATE,
                    order.id,
                    f"{len(docs)} final {what} for {reference}: {', '.join(numbers)}",
                    documents=numbers,
                    reference=reference,
                    hint="keep one; offset each extra one with a credit note in iGEST",
                )
            )
    for doc in invoices:
        # Credit notes are not compared here: a whole-invoice NC carries the invoice's total,
        # and a wrong invoice is reported once, as itself. Without a total: ``compare``'s
        # notice.
        if expected is not None and doc.gross_total != expected:
            if len(invoices) > 1:
                # `credit` credits the invoice the ledger recorded, which may be the right one.
                hint = (
                    f"offset {_number(doc)} with a credit note in iGEST (igest-sync credit "
                    "credits the invoice it recorded, maybe the other one)"
                )
            else:
                hint = (
                    f"credit it (igest-sync credit {order.id} --reason TEXT) and invoice the "
                    "order by hand"
                )
            problems.append(
                Problem(
                    WRONG_TOTAL,
                    order.id,
                    f"{_number(doc)} carries {_eur(doc.gross_total)}; the "
                    f"order says {_eur(expected)}",
                    documents=(_number(doc),),
                    reference=ref,
                    expected=expected,
                    found=doc.gross_total,
                    hint=hint,
                )
            )
    for doc in invoices:
        # Partial credit notes are fine; together they must not credit more than the invoice.
        mine = [c for c in credits if c.related_number in (None, doc.number)]
        for excess in over_credited(doc, mine):
            notes = tuple(_number(c) for c in mine)
            problems.append(
                Problem(
                    WRONG_TOTAL,
                    order.id,
                    f"the credit notes of {_number(doc)} ({', '.join(notes)}) credit more than "
                    f"it invoiced: {excess}",
                    documents=(_number(doc), *notes),
                    reference=credit_ref,
                    hint="check the credit notes in iGEST; offset the excess with a document "
                    "by hand",
                )
            )
    credited = sum((c.gross_total for c in credits), Decimal(0))
    invoiced = sum((d.gross_total for d in invoices), Decimal(0))
    if order.status == OrderStatus.CANCELED and invoices and credited < invoiced:
        numbers = tuple(_number(d) for d in invoices)
        if credits:
            what = (
                f"is credited only {_eur(credited)} of {_eur(invoiced)} (by "
                f"{', '.join(_number(c) for c in credits)})"
            )
        else:
            what = f"has no final credit note ({credit_ref})"
        problems.append(
            Problem(
                UNCREDITED,
                order.id,
                f"cancelled, but {', '.join(numbers)} {what}",
                documents=numbers,
                reference=credit_ref,
                hint=f"igest-sync credit {order.id} --reason TEXT --all",
            )
        )
    if (
        order.status == OrderStatus.PAID
        and invoices
        and credited >= invoiced
        and paid_again is not None
        and paid_again(order, credits)
    ):
        # The customer paid; what iGEST holds for the sale nets to nothing. Not ``missing``:
        # the order has its invoice (credited), and ``resend`` would only find it again.
        numbers = tuple(_number(d) for d in invoices)
        notes = tuple(_number(c) for c in credits)
        problems.append(
            Problem(
                PAID_AGAIN,
                order.id,
                f"paid ({_value(order, expected)}) again after its cancellation, but "
                f"{', '.join(numbers)} credited in full by {', '.join(notes)}: "
                f"{_eur(invoiced - credited)} invoiced net",
                documents=(*numbers, *notes),
                reference=ref,
                expected=expected,
                found=invoiced - credited,
                hint=f"{BY_HAND}; `reconcile --fix` does not issue it",
            )
        )
    return problems


def _unknown(doc: IssuedDocument, order_id: int | None) -> Problem:
    what = (
        f"order {order_id}, which Jumpseller does not know"
        if order_id is not None
        else "no order id"
    )
    return Problem(
        UNKNOWN_ORDER,
        order_id,
        f"{_number(doc)} ({_eur(doc.gross_total)}, {doc.date}) refers to {what}",
        documents=(_number(doc),),
        reference=doc.external_reference,
        hint="check the document in iGEST; credit it if it was issued in error",
    )


class ReconcileRun:
    """Fetch both sides for a period, ``compare`` them and, on request, issue what is missing.

    ``ledger`` is needed only to fix (issuing records intent and outcome there).
    """

    def __init__(
        self,
        settings: InvoiceConfig,
        store: str,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        *,
        ledger: Ledger | None = None,
        resend: Resend | None = None,
        now: datetime | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.resend = resend
        self.jumpseller = jumpseller
        self.igest = igest
        self.ledger = ledger
        self.now = now or datetime.now(UTC)
        # The invoices `adopt` recorded as issued elsewhere: the one thing read from the
        # ledger (when there is one), since their references do not name their orders.
        self._elsewhere = (
            {d.document_id: order_id for order_id, d in ledger.issued_elsewhere().items()}
            if ledger is not None
            else {}
        )

    def run(self, period: Period, *, fix: bool = False) -> ReconcileReport:
        if fix and (self.ledger is None or self.resend is None):
            raise UsageError("reconcile --fix needs the state file (the ledger) to issue.")
        orders = {
            o.id: o
            for o in self.jumpseller.orders_created_between(
                period.first - ORDER_LOOKBACK, period.last
            )
        }
        orders.update(self._created_before_the_window(period, orders))
        documents = list(
            self.igest.find_documents(date_from=period.first, date_to=period.last + INVOICE_LAG)
        )
        orders.update(self._orders_of(documents, orders, period))
        report = self._compare(orders, documents, period)
        # Before calling a document missing, look its reference up without the date window
        # (an invoice dated long after the payment, a credit note issued months later).
        found = self._by_reference(
            [p.reference for p in report.problems if p.kind in (MISSING, UNCREDITED)], period
        )
        # Partial credit notes have references of their own: ask iGEST for every NC of an
        # invoice that looks uncredited (listed by related document).
        for problem in report.problems:
            if problem.kind == UNCREDITED:
                for number in problem.documents:
                    found += [
                        n
                        for n in self.igest.credit_notes_of(number)
                        if all(n.id != d.id for d in documents + found)
                    ]
        if found:
            report = self._compare(orders, documents + found, period)
        self._invoiced_elsewhere(report, orders, documents, period)
        self._invoiced_twice(report, orders, documents + found, period)
        self._credited_by_the_runs(report, orders)
        self._cancelled_elsewhere(report, orders, documents + found, period)
        self._awaiting_approval(report)
        self._failed_in_the_runs(report)
        strays = stray_drafts(documents + found, self.store)
        if fix:
            report.fix_requested = True
            self._fix(report)
        self._tell_strays(report, strays, delete=fix)
        log.info("Reconciled %s to %s: %s", period.first, period.last, report.summary())
        return report

    def _missing_with_work(
        self, report: ReconcileReport
    ) -> Iterator[tuple[int, Problem, WorkRecord]]:
        """The missing invoices the runs have worked on: (index, problem, its invoice work)."""
        if self.ledger is None:
            return
        for index, problem in enumerate(report.problems):
            if problem.kind != MISSING or problem.order_id is None:
                continue
            work = self.ledger.work(problem.order_id)
            if work is not None:
                yield index, problem, work

    def _awaiting_approval(self, report: ReconcileReport) -> None:
        """A missing invoice whose checked draft waits for a person (review mode) says so and
        names ``approve``: ``--fix`` would only find the same draft waiting again."""
        for index, problem, work in self._missing_with_work(report):
            if work.state != WorkState.REVIEW:
                continue
            report.problems[index] = _said(
                problem,
                "its draft waits for approval (review mode)",
                f"`igest-sync approve {problem.order_id}` finalizes it (or `--reject`)",
                awaiting_approval=True,
            )

    def _failed_in_the_runs(self, report: ReconcileReport) -> None:
        """A missing invoice the runs already tried says why, as the state file recorded it.
        A failure that waits for a person (the order refused, iGEST refused the document, a
        draft rejected) names ``resend`` once the cause is fixed: ``--fix`` would only be
        refused again. One that passes by itself (a service that did not answer, VIES down) is
        the next run's to retry, as ``status`` says, and stays fixable: ``--fix`` retries it
        now through the same look-up first, exactly once either way."""
        for index, problem, work in self._missing_with_work(report):
            if not problem.fixable or work.state != WorkState.FAILED or not work.error:
                continue
            if not waits_for_a_person(work):
                report.problems[index] = _said(
                    problem,
                    f"not issued yet: {work.error}",
                    f"the next `igest-sync invoice` tries again by itself; or now: {problem.hint}",
                )
                continue
            report.problems[index] = _said(
                problem,
                f"failed in igest-sync: {work.error}",
                f"fix the cause, then `igest-sync resend {problem.order_id}`",
                refused=True,
            )

    def _credited_by_the_runs(self, report: ReconcileReport, orders: dict[int, Order]) -> None:
        """An uncredited cancelled order that the next ``invoice`` (or serve's sweep) credits
        by itself, by the credit pass's rules, says so beside the command that credits it now
        (exactly once either way)."""
        today = lisbon_date(self.now)
        for index, problem in enumerate(report.problems):
            order = orders.get(problem.order_id) if problem.order_id is not None else None
            created = order.created_at if order is not None else None
            if (
                problem.kind != UNCREDITED
                or order is None
                or created is None
                or not credits_by_itself(
                    self.settings, self.ledger, order.id, lisbon_date(created), today
                )
            ):
                continue
            report.problems[index] = replace(
                problem,
                hint=f"the next `igest-sync invoice` credits it (credit_cancelled); or now: "
                f"{problem.hint}",
            )

    def _cancelled_elsewhere(
        self,
        report: ReconcileReport,
        orders: dict[int, Order],
        documents: list[IssuedDocument],
        period: Period,
    ) -> None:
        """A sale paid in the period, then cancelled, that no invoice of ours or adopted covers,
        but that a document not ours (the hosted app's, one made by hand) is surely the invoice
        of, with no credit note: an invoice of a refunded sale. Uncredited; ``adopt`` records
        it and the next run credits it (the runs hold that order failed till then)."""
        from igest_sync.runs.invoicing.hold import label, not_its_invoices, standing_foreign
        from igest_sync.runs.setup.adopt import SURE, match_one

        covered = set(self._elsewhere.values())
        for doc in documents:
            parsed = parse_reference(doc.external_reference, self.store)
            if parsed is not None and parsed[1] == Kind.INVOICE and parsed[0] is not None:
                covered.add(parsed[0])
        cancelled = {
            i: o
            for i, o in orders.items()
            if o.status == OrderStatus.CANCELED
            and i not in covered
            and (paid := _paid_on(o)) is not None
            and paid in period
        }
        if not cancelled:
            return
        for doc in standing_foreign(documents):
            if doc.id in self._elsewhere:
                continue
            match = match_one(doc, cancelled, self.settings.nif_field)
            order_id = match.order_id
            if match.verdict != SURE or order_id is None:
                continue
            if self.ledger is not None and doc.id in not_its_invoices(self.ledger, order_id):
                continue  # a person's resend said it is not this sale's invoice
            day = doc.date.isoformat() if doc.date else None
            record = f"igest-sync adopt --from {day} --to {day}" if day else "igest-sync adopt"
            report.problems.append(
                Problem(
                    UNCREDITED,
                    order_id,
                    f"cancelled after its payment, but {label(doc)} of {day or '?'}, not issued "
                    f"by igest-sync, is its invoice ({match.how}) and has no credit note",
                    documents=(label(doc),),
                    reference=external_reference(self.store, order_id, Kind.CREDIT),
                    hint=f"record it: {record}, and the next `igest-sync invoice` credits it "
                    "(or credit it in iGEST by hand)",
                )
            )
        report.problems.sort(key=lambda p: (KINDS.index(p.kind), p.order_id or 0, p.documents))

    def _invoiced_elsewhere(
        self,
        report: ReconcileReport,
        orders: dict[int, Order],
        documents: list[IssuedDocument],
        period: Period,
    ) -> None:
        """A missing invoice that a document not ours of the period may be (the hosted app's,
        one made by hand: same order number, or same total, day and customer) is pointed at,
        and left to ``adopt``: ``--fix`` would issue a second invoice. An order paid again is
        looked for the same way: the invoice a person issued by hand, as told to (its notes
        name the order, its total is the order's), settles it."""
        from igest_sync.runs.invoicing.hold import label, standing_foreign
        from igest_sync.runs.setup.adopt import AMBIGUOUS, SURE, Match, match_one

        missing = {
            p.order_id: i for i, p in enumerate(report.problems) if p.kind in (MISSING, PAID_AGAIN)
        }
        if not missing:
            return
        sales = {
            i: o
            for i, o in orders.items()
            if o.completed_at is not None and o.status in (OrderStatus.PAID, OrderStatus.CANCELED)
        }
        nif_field = self.settings.nif_field
        found: dict[int, list[tuple[IssuedDocument, Match]]] = {}
        placed = [orders[o] for o in missing if o in orders]
        for doc in standing_foreign(documents + self._placed_before(placed, period)):
            if doc.id in self._elsewhere:
                continue
            match = match_one(doc, sales, nif_field)
            if match.verdict not in (SURE, AMBIGUOUS):
                continue
            for order_id in (match.order_id,) if match.order_id else match.candidates:
                if order_id in missing:
                    found.setdefault(order_id, []).append((doc, match))
        # One sentence per order, however many documents may be its invoice.
        settled: set[int] = set()
        for order_id, pairs in found.items():
            index = missing[order_id]
            problem = report.problems[index]
            days = sorted({d.date.isoformat() for d, _ in pairs if d.date}) or [""]
            named = ", ".join(
                f"{label(d)} of {d.date.isoformat() if d.date else '?'}" for d, _ in pairs
            )
            how = "; ".join(dict.fromkeys(m.how for _, m in pairs))
            one = len(pairs) == 1
            if problem.kind == PAID_AGAIN:
                if one and pairs[0][1].verdict == SURE:
                    settled.add(index)
                    report.notices.append(
                        f"Order {order_id}: paid again after its invoice was credited in full; "
                        f"{named}, not issued by igest-sync, is taken as this sale's invoice "
                        f"issued by hand ({how})."
                    )
                else:
                    report.problems[index] = replace(
                        problem,
                        detail=f"{problem.detail}; {named}, not issued by igest-sync, may be "
                        f"the invoice issued by hand ({how}): its notes should name the order, "
                        "its total be the order's",
                        documents=(*problem.documents, *(label(d) for d, _ in pairs)),
                    )
                continue
            # A sure match is recorded by adopt itself; any other needs the person's pick.
            pick = (
                ""
                if one and pairs[0][1].verdict == SURE
                else (f" --pick '{label(pairs[0][0])}={order_id}'")
            )
            report.problems[index] = replace(
                problem,
                detail=f"{problem.detail}; but {named}, not issued by igest-sync, may be its "
                f"invoice ({how})",
                documents=(*problem.documents, *(label(d) for d, _ in pairs)),
                hint=f"if {'it is' if one else 'one of them is'}, record it: igest-sync adopt "
                f"--from {days[0]} --to {days[-1]}{pick}; else igest-sync resend {order_id}",
                elsewhere=True,
            )
        report.problems = [p for i, p in enumerate(report.problems) if i not in settled]

    def _placed_before(self, missing: list[Order], period: Period) -> list[IssuedDocument]:
        """The documents dated from the day the first of the ``missing`` orders was placed to
        the day before the period: an FT may be made as the order is placed, paid days later
        (Multibanco). Unseen, an order paid early in the period was called missing, fixable,
        and `--fix` issued it a second invoice. One listing, only when such an order is
        missing."""
        days = [lisbon_date(o.created_at) for o in missing if o.created_at is not None]
        first = min(days, default=period.first)
        if first >= period.first:
            return []
        return list(
            self.igest.find_documents(date_from=first, date_to=period.first - timedelta(days=1))
        )

    def _invoiced_twice(
        self,
        report: ReconcileReport,
        orders: dict[int, Order],
        documents: list[IssuedDocument],
        period: Period,
    ) -> None:
        """A sale invoiced by igest-sync and by a document not ours that names it, for its
        total: another integration left on after the switch (the hosted app) that invoiced
        the payment after igest-sync did (before, the run holds the order: adopt's
        ``invoiced_elsewhere``), or a person by hand. Two invoices for one sale, which the
        period was called clean with. Ours credited in full is not counted: the other is then
        the sale's invoice (paid again, issued by hand as told)."""
        from igest_sync.runs.invoicing.hold import (
            ForeignInvoices,
            label,
            names_the_order,
            not_its_invoices,
        )

        ours: dict[int, list[IssuedDocument]] = {}
        credited: dict[int, Decimal] = {}
        seen: set[str] = set()
        for doc in documents:
            if doc.status != DocumentStatus.FINAL or doc.id in seen:
                continue
            seen.add(doc.id)
            parsed = parse_reference(doc.external_reference, self.store)
            order_id, kind = parsed or (None, None)
            if order_id is None:
                continue
            if kind == Kind.INVOICE:
                ours.setdefault(order_id, []).append(doc)
            else:
                credited[order_id] = credited.get(order_id, Decimal(0)) + doc.gross_total
        # The documents not ours, by the order they name, less those their own credit notes
        # cancel: the index the runs' hold reads (adopt's ``invoiced_elsewhere``).
        index = ForeignInvoices.of(d for d in documents if d.id in seen)
        for order_id in sorted(index.by_number.keys() & ours.keys()):
            order = orders.get(order_id)
            if order is None or _paid_on(order) not in period:
                continue
            invoices = ours[order_id]
            if sum(d.gross_total for d in invoices) <= credited.get(order_id, Decimal(0)):
                continue  # ours credited in full: the other is the sale's invoice now
            for doc in index.naming(order_id):
                if doc.id in self._elsewhere:
                    continue
                if self.ledger is not None and doc.id in not_its_invoices(self.ledger, order_id):
                    continue  # a person's resend said it is not this sale's invoice
                where = names_the_order(doc, order)
                if where is None:
                    continue
                mine = ", ".join(_number(d) for d in invoices)
                day = doc.date.isoformat() if doc.date else "?"
                report.problems.append(
                    Problem(
                        DUPLICATE,
                        order_id,
                        f"invoiced twice: {mine} by igest-sync, and {label(doc)} of {day}, not "
                        f"issued by igest-sync, which names the order in its {where}, for its "
                        f"total ({_eur(doc.gross_total)})",
                        documents=(*(_number(d) for d in invoices), label(doc)),
                        hint=f"keep one and offset the other with a credit note ({label(doc)} "
                        f"in iGEST, or ours: igest-sync credit {order_id} --all --reason "
                        "TEXT); turn off the other integration's invoicing",
                    )
                )
        report.problems.sort(key=lambda p: (KINDS.index(p.kind), p.order_id or 0, p.documents))

    def _compare(
        self, orders: dict[int, Order], documents: list[IssuedDocument], period: Period
    ) -> ReconcileReport:
        return compare(
            orders.values(),
            documents,
            self.store,
            period,
            invoice_from=self.settings.start_date,
            elsewhere=self._elsewhere,
            not_invoiced=lambda order: source_skip_reason(order, self.settings),
            paid_again=self._paid_again,
        )

    def _paid_again(self, order: Order, credits: list[IssuedDocument]) -> bool:
        """A paid order credited in full was cancelled and set back to paid, not returned: the
        state file noted it paid again (as ``invoice`` and ``serve`` tell it), or a credit note
        is the cancellation's own (what is left, for ``[invoice] credit_reason``: the credit
        pass's request, whichever occurrence), so iGEST alone says it with a lost state file."""
        if self.ledger is not None and noted_paid_again(self.ledger, order.id):
            return True
        identity = RequestIdentity.of(
            order.id, CreditRequest(everything=True), self.settings.credit_reason
        )
        cancellation = {identity.reference(self.store, n) for n in range(1, len(credits) + 1)}
        return any(c.external_reference in cancellation for c in credits)

    def _created_before_the_window(
        self, period: Period, listed: dict[int, Order]
    ) -> dict[int, Order]:
        """The orders created before the listing's window (``ORDER_LOOKBACK``) that may be
        sales of the period all the same: those the ledger last saw open (an abandoned
        checkout, its customer may complete weeks later behind the checkpoint, past what the
        runs read back; an order waiting for payment) or paid in the period (its invoice not
        issued yet). Without them, a paid order without its invoice was called clean in the
        month it was paid and in the month it was created. Within ``OPEN_LOOKBACK``: one GET
        each when few, else one listing of the paid orders created since the oldest."""
        if self.ledger is None:
            return {}
        older = self._paid_before_the_window(period, listed) if self.ledger.rebuilding else None
        found = {
            i: o
            for i, o in (older or {}).items()
            if o.completed_at is not None and lisbon_date(o.completed_at) in period
        }
        window = period.first - ORDER_LOOKBACK
        records = [
            r
            for r in self.ledger.unsettled_created_between(
                lisbon_moment(period.first - OPEN_LOOKBACK),
                lisbon_moment(window),
                lisbon_moment(period.first),
                lisbon_moment(period.last + timedelta(days=1)),
            )
            if r.order_id not in listed and r.order_id not in found
        ]
        if not records:
            return found
        if len(records) > LOOKUP_LIMIT:
            # The listing goes by the store's days, which need not be Lisbon's: a day more.
            days = [lisbon_date(when) for r in records if (when := moment(r.created_at))]
            oldest = min(days, default=window)
            first = oldest - timedelta(days=1)
            if older is not None:  # the year's paid orders, listed above: not listed again
                return found | {
                    i: o
                    for i, o in older.items()
                    if o.created_at is None or lisbon_date(o.created_at) >= first
                }
            return found | {
                o.id: o
                for o in self.jumpseller.orders_created_between(
                    first, window, status=OrderStatus.PAID
                )
                if o.id not in listed
            }
        for record in records:
            try:
                found[record.order_id] = self.jumpseller.order(record.order_id)
            except NotFound:
                log.warning("Order %s is gone from Jumpseller", record.order_id)
        return found

    def _paid_before_the_window(self, period: Period, listed: dict[int, Order]) -> dict[int, Order]:
        """A state file no listing has completed (new, lost, its first run killed) may not
        know the orders created before the window, so the paid ones created within
        ``OPEN_LOOKBACK`` before it are listed (as a first run reads them): those paid in the
        period are kept (by the caller, which reads the others too). Without them, an order
        placed months before and paid in the period by a late transfer, not invoiced yet, was
        not seen and the period called clean."""
        window = period.first - ORDER_LOOKBACK
        # The listing goes by the store's days, which need not be Lisbon's: a day more.
        older = self.jumpseller.orders_created_between(
            period.first - OPEN_LOOKBACK - timedelta(days=1), window, status=OrderStatus.PAID
        )
        return {o.id: o for o in older if o.id not in listed}

    def _orders_of(
        self, documents: list[IssuedDocument], listed: dict[int, Order], period: Period
    ) -> dict[int, Order]:
        """The orders that documents name and the listing did not return, or that Jumpseller
        does not know (left out: ``compare`` then reports their documents as unknown)."""
        newest = max(listed, default=None)
        wanted: set[int] = set()
        for doc in documents:
            parsed = parse_reference(doc.external_reference, self.store)
            if doc.status != DocumentStatus.FINAL or parsed is None or parsed[0] is None:
                continue
            order_id = parsed[0]
            # Ids grow with time: a newer order than every listed one was created after the
            # period, so it cannot have been paid in it; only its document's date matters.
            if order_id not in listed and (
                doc.date in period or newest is None or order_id < newest
            ):
                wanted.add(order_id)
        found: dict[int, Order] = {}
        for order_id in sorted(wanted):
            try:
                found[order_id] = self.jumpseller.order(order_id)
            except NotFound:
                log.warning(
                    "A document refers to order %s, which Jumpseller does not know", order_id
                )
        return found

    def _by_reference(self, references: list[str | None], period: Period) -> list[IssuedDocument]:
        wanted = list(dict.fromkeys(r for r in references if r))
        if len(wanted) > LOOKUP_LIMIT:
            # A period never invoiced (an outage): one listing of everything dated after the
            # window costs fewer requests than a look-up per order. A document is never dated
            # before the payment it is for, so nothing earlier is missed.
            later = self.igest.find_documents(
                date_from=period.last + INVOICE_LAG + timedelta(days=1)
            )
            keep = set(wanted)
            return [d for d in later if d.external_reference in keep]
        found: list[IssuedDocument] = []
        for reference in wanted:
            found += [
                d
                for d in self.igest.find_documents(external_reference=reference)
                if d.external_reference == reference
            ]
        return found

    def _tell_strays(
        self,
        report: ReconcileReport,
        strays: list[tuple[IssuedDocument, IssuedDocument]],
        *,
        delete: bool,
    ) -> None:
        for draft, final in strays:
            order = parse_reference(draft.external_reference, self.store)
            what = (
                f"iGEST holds a draft invoice (document {draft.id}, {_eur(draft.gross_total)}) "
                f"for order {order[0] if order else '?'}, which already has its invoice "
                f"{_number(final)}"
            )
            if not delete:
                report.notices.append(
                    f"{what}: never finalize it (it would be a second invoice); "
                    "`igest-sync reconcile --fix` deletes it, or delete it in iGEST."
                )
                continue
            try:
                self.igest.delete_document(draft.id)
            except NotFound:
                pass  # gone already
            except ApiError as exc:
                # An answer lost after iGEST deleted it says nothing either way: look again.
                then = (
                    "its answer was lost, so it may be gone: `igest-sync reconcile --fix` looks "
                    "again"
                    if exc.transient
                    else "delete it in iGEST"
                )
                report.notices.append(f"{what}; deleting it failed ({exc}): {then}.")
                continue
            log.info("Deleted draft %s (%s)", draft.id, draft.external_reference)
            report.notices.append(f"{what}: deleted (it could only have been a second invoice).")

    def _fix(self, report: ReconcileReport) -> None:
        ids = [p.order_id for p in report.problems if p.fixable and p.order_id is not None]
        if not ids:
            return
        assert self.resend is not None  # checked in run()
        issued = self.resend(ids)
        report.fixes = issued.outcomes
        report.notices += issued.notices
