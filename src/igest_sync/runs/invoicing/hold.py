"""Why a run holds a paid order rather than issue it: a document igest-sync did not issue may
be the sale's invoice already.

A merchant who switches from another integration (the hosted "Quick Invoice" app, or by hand)
has sales invoiced under references that are not ours. Four rules keep a run from issuing
such a sale a second invoice; a person decides each case (``adopt`` records the document as
the order's invoice, a person's ``resend ORDER`` issues ours):

- ``guard_first_run``: a first run (or a backfill) stops before issuing anything when days
  since its start date hold documents not ours that nobody reviewed with ``adopt``;
- ``invoiced_elsewhere``: an order a standing invoice not ours names, for its total (another
  integration left on after the switch), is held;
- ``undecided_invoice``: an order ``adopt`` found a document for but could not tie to one order
  is held until a person picks;
- ``fits_unnamed``: an order placed before the days the first run's guard reviewed (before
  the start date) is held when a document not ours that names no order fits it (its total,
  its customer, dated from the day it was placed to its payment): an FT made as the order was
  placed, before the switch, that neither the guard nor the look-ups by reference meet.

``adopt`` (``runs/setup/adopt.py``) writes what these read: the periods reviewed and the
undecided documents, in the ledger's meta.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from igest_sync.errors import OrderRejected, UsageError
from igest_sync.fiscal.customer import normalize_nif, order_nif
from igest_sync.fiscal.mapping import expected_gross
from igest_sync.fiscal.rules import FINAL_CONSUMER_NIF
from igest_sync.models import (
    DocumentStatus,
    DocumentType,
    IssuedDocument,
    Kind,
    Order,
    WorkState,
)
from igest_sync.references import PREFIX
from igest_sync.runs.report import some_of
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import lisbon_date

SALES_TYPES = (DocumentType.FT, DocumentType.FR, DocumentType.FS)

OUR_PREFIX = PREFIX  # every store's references of igest-sync, this store's or another's

REVIEWED_KEY = "adopt_reviewed"  # meta: the periods a person reviewed with `adopt`

# meta: the days `adopt` reviewed while they were still going on (its today), each with the ids
# of the documents not ours it listed on it. The other integration may invoice later that day
# (the merchant turns it off after the switch): a first run stops for those later documents
# as for any day nobody reviewed. An `adopt` over the day once it has ended reviews it whole.
PARTLY_KEY = "adopt_reviewed_partly"

# meta: the documents not ours that `adopt` could not tie to one order, by number, with their
# day and candidate orders. Until a person decides, no run issues those orders an invoice:
# one of the documents is theirs already.
UNDECIDED_KEY = "adopt_undecided"

# meta: the documents not ours that named an order, which a person's `resend` of it said are not
# the sale's invoice (their ids, a JSON list; one bare id as versions before wrote it): no run
# holds the order for them again (a retry after that resend's lost answer), and `reconcile`
# does not call the sale invoiced twice for them.
NOT_ITS_INVOICE = "not_its_invoice:{order}"

_NUMBER = re.compile(r"(?<!\d)(\d{3,12})(?!\d)")


def numbers_in(text: str | None) -> set[int]:
    """The numbers of 3 to 12 digits in ``text`` (order ids, perhaps)."""
    return {int(n) for n in _NUMBER.findall(text or "")}


def foreign(doc: IssuedDocument) -> bool:
    """A final sales document that igest-sync did not issue (no reference of ours)."""
    return (
        doc.status == DocumentStatus.FINAL
        and doc.type in SALES_TYPES
        and not (doc.external_reference or "").startswith(OUR_PREFIX)
    )


def label(doc: IssuedDocument) -> str:
    return doc.number or f"document {doc.id}"


def numbers_named(doc: IssuedDocument) -> set[int]:
    """The numbers (order ids, perhaps) in ``doc``'s reference and notes."""
    text = f"{doc.external_reference or ''} {doc.notes or ''}"
    return numbers_in(text)


def names_the_order(doc: IssuedDocument, order: Order) -> str | None:
    """Where ``doc`` names ``order`` ("reference", or else "notes"), when its total is the
    order's to the cent: a match as sure as ``match_one``'s first rule; None otherwise."""
    for where, text in (("reference", doc.external_reference), ("notes", doc.notes)):
        if order.id in numbers_in(text):
            return where if expected_gross(order) == doc.gross_total else None
    return None


def not_its_invoices(ledger: Ledger, order_id: int) -> set[str]:
    """The documents a person's `resend` of ``order_id`` said are not its invoice."""
    raw = ledger.meta.get_meta(NOT_ITS_INVOICE.format(order=order_id)) or ""
    return set(json.loads(raw)) if raw.startswith("[") else {raw} if raw else set()


def _decided_not_its_invoice(ledger: Ledger, order_id: int, document_id: str) -> None:
    decided = sorted(not_its_invoices(ledger, order_id) | {document_id})
    ledger.meta.set_meta(NOT_ITS_INVOICE.format(order=order_id), json.dumps(decided))


def standing_foreign(documents: Iterable[IssuedDocument]) -> list[IssuedDocument]:
    """The final invoices not issued by igest-sync among a listing that their own credit notes
    (in the same listing) do not cancel in full: a cancelled invoice is no invoice of a sale,
    for the runs' hold, ``adopt`` and ``reconcile`` alike."""
    docs = list(documents)
    credited: dict[str, Decimal] = {}
    for doc in docs:
        if (
            doc.type == DocumentType.NC
            and doc.status == DocumentStatus.FINAL
            and doc.related_number
        ):
            credited[doc.related_number] = credited.get(doc.related_number, Decimal(0)) + (
                doc.gross_total
            )
    return [
        d for d in docs if foreign(d) and credited.get(d.number or "", Decimal(0)) < d.gross_total
    ]


@dataclass(frozen=True)
class ForeignInvoices:
    """The standing invoices not issued by igest-sync among a listing (``standing_foreign``),
    by each number they name (an order id, perhaps), and by their total: built once per
    listing, so that each order of a rebuild's thousands is one look-up, not a pass over the
    listing."""

    by_number: dict[int, tuple[IssuedDocument, ...]]
    by_total: dict[Decimal, tuple[IssuedDocument, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, documents: Iterable[IssuedDocument]) -> ForeignInvoices:
        by_number: dict[int, list[IssuedDocument]] = {}
        by_total: dict[Decimal, list[IssuedDocument]] = {}
        for doc in standing_foreign(documents):
            for number in numbers_named(doc):
                by_number.setdefault(number, []).append(doc)
            by_total.setdefault(doc.gross_total, []).append(doc)
        return cls(
            {n: tuple(docs) for n, docs in by_number.items()},
            {t: tuple(docs) for t, docs in by_total.items()},
        )

    def naming(self, number: int, since: date | None = None) -> list[IssuedDocument]:
        """The invoices that name ``number``, dated ``since`` or later."""
        return [
            d
            for d in self.by_number.get(number, ())
            if since is None or d.date is None or d.date >= since
        ]


def invoiced_elsewhere(
    ledger: Ledger,
    order: Order,
    documents: Iterable[IssuedDocument] | ForeignInvoices,
    *,
    since: date | None = None,
    told: str | None = None,
    cancelled: str | None = None,
) -> OrderRejected | None:
    """Why ``order`` is not issued an invoice when, among ``documents``, a final invoice not
    issued by igest-sync names it, for its total: another integration left on after the switch
    (the hosted app invoices every paid order too) or a person invoiced it already. The first
    run's guard covers only the days before the switch; without this a later run issued a
    second invoice, and `reconcile` said nothing. A person decides: ``adopt`` records it, or
    ``resend`` issues ours.

    ``since``: the first day looked at (the order's creation: an FT may be made as the order is
    placed), the same for a run and its dry run. An invoice its own credit notes cancel in full
    is no invoice of the sale. ``told``: the failure the person read before their ``resend``: a
    document it names is theirs to have decided (noted for ``reconcile``), never held again.
    ``cancelled``: the order's status now, no longer paid: that document, if it is the sale's
    invoice, must be credited, which only its record (``adopt``) lets the runs do."""
    index = documents if isinstance(documents, ForeignInvoices) else ForeignInvoices.of(documents)
    found = index.naming(order.id, since)
    if not found:
        return None
    adopted = {d.document_id for d in ledger.docs.issued_elsewhere().values()}
    decided = not_its_invoices(ledger, order.id)
    for doc in found:
        if doc.id in adopted or doc.id in decided:
            continue
        where = names_the_order(doc, order)
        if where is None:
            continue
        if told is not None and _names(told, label(doc)):
            _decided_not_its_invoice(ledger, order.id, doc.id)
            continue
        day = doc.date.isoformat() if doc.date else None
        when = f" of {day}" if day else ""
        # The pick records it whatever the order's age: adopt's own matching reads only the
        # orders placed up to 30 days before the day, and an older one read "unmatched".
        pick = f"--pick '{label(doc)}={order.id}'"
        record = f"igest-sync adopt --from {day} --to {day} {pick}" if day else "igest-sync adopt"
        seen = (
            f"{label(doc)}{when}, not issued by igest-sync, names this order in its {where}, "
            f"for its total ({doc.gross_total:.2f} EUR)"
        )
        if cancelled is not None:  # an invoice of a sale refunded: to credit, never to issue
            reason = (
                f"{seen}, and the order is {cancelled} since its payment: if that is its "
                "invoice, it must be credited"
            )
            then, otherwise = "and the next run credits it", "closes the order"
        else:
            reason = (
                f"{seen}: another integration (the hosted app, left on?) or a person invoiced "
                "it already; not issued, so as never to invoice it twice"
            )
            then, otherwise = "and turn off the other integration's invoicing", "issues ours"
        return OrderRejected(
            order.id,
            reason,
            hint=f"if it is, record it: {record}, {then}; if it is not, igest-sync resend "
            f"{order.id} {otherwise}",
        )
    return None


def _names(text: str, number: str) -> bool:
    """Whether ``text`` names the document ``number`` itself: "FR QI/1" is not named by a
    text that names "FR QI/10"."""
    return re.search(rf"(?<![\w/]){re.escape(number)}(?![\w/])", text) is not None


def fits_unnamed(
    ledger: Ledger,
    order: Order,
    documents: ForeignInvoices,
    *,
    reviewed_from: date | None,
    nif_field: str,
    told: str | None = None,
    cancelled: str | None = None,
) -> OrderRejected | None:
    """Why ``order``, placed before ``reviewed_from`` (the first day the first run's guard
    reviewed: the start date), is not issued an invoice when a standing invoice not issued by
    igest-sync fits it without naming it: its total to the cent, its customer (the NIF when
    both have one, else the name: ``may_be_its_customer``; a document that names no customer
    cannot tell), dated from the day the order was placed to its payment and before
    ``reviewed_from`` (the days after are the guard's, and hold the store's own sales made by
    hand once it switched), as ``adopt`` matches such a document (an FT made as the order is
    placed, paid days later by Multibanco). The guard looks from the start date only, and
    ``invoiced_elsewhere`` meets only a document that names the order: the first run issued
    the sale a second invoice beside the FT of its placement day.

    Never recorded without a person (a document of the same customer and total may be another
    sale's): ``adopt --pick`` records it, ``resend`` issues ours (``told``, as for
    ``invoiced_elsewhere``). An order placed on or after ``reviewed_from``: None (the guard,
    or ``adopt``, reviewed its days)."""
    first = looked_from(order)
    if reviewed_from is None or first is None or first >= reviewed_from:
        return None
    paid = order.completed_at
    last = lisbon_date(paid + CLOCKS_APART) if paid is not None else None
    due = expected_gross(order)
    # Of the days before ``reviewed_from`` only: a document of the days after (a counter sale
    # made by hand once the store invoices with igest-sync) is no FT of the placement day, and
    # those the guard reviewed were a person's to match (``adopt``).
    candidates = [
        d
        for d in documents.by_total.get(due, ())
        if d.date is not None
        and first <= d.date < reviewed_from
        and (last is None or d.date <= last)
    ]
    if not candidates:
        return None
    adopted = {d.document_id for d in ledger.docs.issued_elsewhere().values()}
    decided = not_its_invoices(ledger, order.id)
    found: list[IssuedDocument] = []
    for doc in sorted(candidates, key=lambda d: (d.date or first, label(d))):
        if doc.id in adopted or doc.id in decided:
            continue
        if not customer_unknown(doc) and not may_be_its_customer(doc, order, nif_field):
            continue
        if told is not None and _names(told, label(doc)):
            _decided_not_its_invoice(ledger, order.id, doc.id)
            continue
        found.append(doc)
    if not found:
        return None
    # Every one named: a failure that named only the first had its `resend` meet the next.
    shown = [f"{label(d)} of {d.date}" + _whose(d, order, nif_field) for d in found]
    single = len(found) == 1
    which = shown[0] if single else f"{', '.join(shown[:-1])} and {shown[-1]}"
    days = sorted({d.date for d in found if d.date is not None})
    one = "it" if single else "one of them"
    pick = (
        f"igest-sync adopt --from {days[0]} --to {days[-1]} "
        f"--pick '{label(found[0])}={order.id}'"
        + ("" if single else " (the number of the one that is)")
    )
    seen = (
        f"{which}, not issued by igest-sync, {'names' if single else 'name'} no order but "
        f"{'has' if single else 'have'} its total ({due:.2f} EUR) and {'is' if single else 'are'} "
        "dated from the day it was placed (before the start date) to its payment: "
        f"{one} may be its invoice (an FT made as the order was placed)"
    )
    if cancelled is not None:  # an invoice of a sale refunded: to credit, never to issue
        reason = (
            f"{seen}, and the order is {cancelled} since its payment: if {one} is, it must be "
            "credited"
        )
        then, otherwise = "and the next run credits it", "closes the order"
    else:
        reason = f"{seen}; not issued, so as never to invoice it twice"
        then, otherwise = "and no run invoices it again", "issues ours"
    return OrderRejected(
        order.id,
        reason,
        hint=f"if {one} is, record it: {pick}, {then}; if "
        f"{'it is not' if single else 'none is'}, igest-sync resend {order.id} {otherwise}",
    )


def _whose(doc: IssuedDocument, order: Order, nif_field: str) -> str:
    """How ``doc`` fits the order's customer, as a failure says it."""
    if customer_unknown(doc):
        return " (no customer named)"
    nif = foreign_nif(doc)
    if nif is not None and nif == nif_of(order, nif_field):
        return f" (its customer's NIF {nif})"
    return " (its customer's name)"


def may_be_its_customer(doc: IssuedDocument, order: Order, nif_field: str) -> bool:
    """Whether ``doc``'s customer may be ``order``'s, for a hold (a person decides, nothing is
    recorded): its NIF when both have one; else its name, the order's company's or its
    person's (another program names whom it will: the hosted app, the person). Wider than
    ``fits_customer``, by which ``adopt`` records a document without a person."""
    nif = foreign_nif(doc)
    if nif is not None:
        theirs = nif_of(order, nif_field)
        if theirs is not None:
            return theirs == nif
    name = name_key(doc.customer_name)
    b = order.billing
    person = " ".join(p for p in (b.name, b.surname) if p) if b is not None else ""
    return bool(name) and name in (name_key(customer_name(order)), name_key(person))


def foreign_nif(doc: IssuedDocument) -> str | None:
    """The NIF of ``doc``'s customer, None for the final consumer or none."""
    return doc.customer_nif if doc.customer_nif not in (None, "", FINAL_CONSUMER_NIF) else None


def customer_unknown(doc: IssuedDocument) -> bool:
    """Whether ``doc`` names no customer (the final consumer, without a name)."""
    return foreign_nif(doc) is None and not name_key(doc.customer_name)


def fits_customer(doc: IssuedDocument, orders: list[Order], nif_field: str) -> list[Order]:
    """The ``orders`` of ``doc``'s customer: its NIF when it has one (not the final
    consumer's), else its name; none for a document that names no customer."""
    nif = foreign_nif(doc)
    if nif is not None:
        return [o for o in orders if nif_of(o, nif_field) == nif]
    name = name_key(doc.customer_name)
    return [o for o in orders if name and name_key(customer_name(o)) == name]


def nif_of(order: Order, nif_field: str) -> str | None:
    raw = order_nif(order, nif_field)
    if raw is None:
        return None
    country = order.billing.country_code if order.billing else None
    nif, _ = normalize_nif(raw, country)
    return nif


def name_key(name: str | None) -> str:
    """A name without case, accents or extra spaces: "João  Ferreira" = "joao ferreira"."""
    if not name or name.strip().casefold() in ("consumidor final", "final consumer"):
        return ""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def customer_name(order: Order) -> str | None:
    b = order.billing
    if b is None:
        return None
    if b.company:
        return b.company
    name = " ".join(p for p in (b.name, b.surname) if p)
    return name or None


def undecided_documents(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """The undecided documents (``UNDECIDED_KEY``): number -> {date, orders}."""
    raw = ledger.meta.get_meta(UNDECIDED_KEY)
    return json.loads(raw) if raw else {}


def undecided_invoice(ledger: Ledger, order_id: int, *, cancelled: str | None = None) -> str | None:
    """Why ``order_id`` is not issued an invoice by a run: a document not ours that ``adopt``
    could not tie to one order may be its invoice already (a person decides), or None. Every
    such document is named: a pick that named only the first left the other to be taken for
    none, and ``resend`` then issued a second invoice. ``cancelled``: the order's status now,
    no longer paid (that invoice, if it is one, is to be credited)."""
    entries = [
        (number, entry)
        for number, entry in sorted(undecided_documents(ledger).items())
        if order_id in entry["orders"]
    ]
    if not entries:
        return None
    numbers = [number for number, _ in entries]
    days = sorted({entry["date"] for _, entry in entries})
    # The other orders it fits, unless they have their invoice now (a pick since, ours).
    elsewhere = ledger.docs.issued_elsewhere()
    others = sorted(
        o
        for o in {o for _, entry in entries for o in entry["orders"] if o != order_id}
        if o not in elsewhere
        and ((w := ledger.works.work(o, Kind.INVOICE)) is None or w.state != WorkState.FINAL)
    )
    single = len(numbers) == 1
    fits = ""
    if others:
        orders = ("order " if len(others) == 1 else "orders ") + ", ".join(map(str, others))
        fits = (
            f" ({orders} {'fits' if len(others) == 1 else 'fit'} {'it' if single else 'them'} too)"
        )
    which = numbers[0] if single else f"{', '.join(numbers[:-1])} or {numbers[-1]}"
    when = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    one = "it" if single else "one of them"
    pick = (
        f"igest-sync adopt --from {days[0]} --to {days[-1]} --pick '{numbers[0]}={order_id}' "
        "(the number of the one that is)"
    )
    seen = f"{which} of {when}, not issued by igest-sync, may be its invoice"
    if cancelled is not None:  # an invoice of a sale refunded: to credit, never to issue
        return (
            f"{seen}{fits}, and the order is {cancelled} since its payment: if {one} is, it must "
            f"be credited. Record it: {pick}, and the next run credits it; if none is, "
            f"`igest-sync resend {order_id}` closes the order"
        )
    return (
        f"{seen} already{fits}: not issued, so as never to invoice it twice. If {one} is, "
        f"record it: {pick}; if none is, `igest-sync resend {order_id}` issues ours"
    )


def reviewed_periods(ledger: Ledger) -> list[tuple[date, date]]:
    raw = ledger.meta.get_meta(REVIEWED_KEY)
    periods = json.loads(raw) if raw else []
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in periods]


def partly_reviewed(ledger: Ledger) -> dict[date, set[str]]:
    """The days ``adopt`` reviewed before they ended, each with the documents it saw then."""
    raw = ledger.meta.get_meta(PARTLY_KEY)
    days = json.loads(raw) if raw else {}
    return {date.fromisoformat(day): set(ids) for day, ids in days.items()}


class Reviewed:
    """Whether a person reviewed a document not ours with ``adopt``: its day was reviewed, and,
    on a day reviewed before it ended, ``adopt`` listed that very document."""

    def __init__(self, ledger: Ledger) -> None:
        self.periods = reviewed_periods(ledger)
        self.partly = partly_reviewed(ledger)

    def __contains__(self, doc: IssuedDocument) -> bool:
        day = doc.date
        if day is None or not any(a <= day <= b for a, b in self.periods):
            return False
        return day not in self.partly or doc.id in self.partly[day]


# How far Jumpseller's clock (an order's payment time) may be ahead of ours: a payment stamped
# just after midnight may have been invoiced, by our clock, on the day before.
CLOCKS_APART = timedelta(minutes=5)


def looked_from(order: Order) -> date | None:
    """The first day an invoice of ``order`` may carry, ours or another integration's: the day
    it was placed (an FT may be made then), or paid if Jumpseller says earlier, by our clock
    (Jumpseller's may be ahead of it)."""
    made = min((t for t in (order.created_at, order.completed_at) if t), default=None)
    return lisbon_date(made - CLOCKS_APART) if made else None


def guard_first_run(
    ledger: Ledger,
    documents: Iterable[IssuedDocument],
    floor: date,
    *,
    now: datetime,
    where: str | None = None,
    instead: str | None = None,
) -> None:
    """A first ``invoice`` (or a backfill, or a run that judges skipped orders again) whose
    start date falls on or before a day holding documents not ours stops before issuing
    anything: those orders may be invoiced already.

    ``documents``: iGEST's documents from ``floor`` (the first run lists them anyway). Days a
    person reviewed with ``adopt``, and documents recorded as issued elsewhere, do not count.
    ``where``: the days' first, as the message names it (the start date); ``instead``: the
    hint's other way out, when moving the start date past those documents is not one (a
    store already invoicing would skip its new sales).
    """
    adopted = {d.document_id for d in ledger.docs.issued_elsewhere().values()}
    reviewed = Reviewed(ledger)
    found = [
        d
        for d in standing_foreign(documents)
        if d.id not in adopted and d.date is not None and d.date >= floor and d not in reviewed
    ]
    if not found:
        return
    found.sort(key=lambda d: (d.date or floor, d.number or d.id))
    first, last = found[0].date, found[-1].date
    assert first is not None and last is not None
    shown = some_of([f"{label(d)} of {d.date}" for d in found], 5)
    today = lisbon_date(now)
    raise UsageError(
        f"iGEST holds {len(found)} invoice{'' if len(found) == 1 else 's'} not issued by "
        f"igest-sync on or after {where or f'the start date {floor}'} ({shown}): their "
        "orders may be invoiced already, so nothing was issued.",
        hint=f"Run `igest-sync adopt --from {first} --to {min(last, today)}` to record which "
        "orders they invoice (those are never invoiced again), "
        + (instead or f"or move [invoice] start_date to {last + timedelta(days=1)} or later."),
    )
