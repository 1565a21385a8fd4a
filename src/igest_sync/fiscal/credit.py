"""Pure: what a credit note (NC) for part of an invoice credits, or why it cannot.

Input: the original as iGEST holds it (its lines and price mode), the NCs already issued against
it (as iGEST lists them by ``related_document``, so a lost ledger cannot hide one) and a request
(``--line SKU[:QTY]``, ``--shipping``, ``--all``). Output: a ``CreditPlan`` (the NC's lines and
totals, and per line what was invoiced, already credited, credited now and left) or a
``CreditRefused`` naming what is already credited and by which NCs.

The rules (igest-api.md, "NC"; the reasons are accounting ones):

- Per line reference, the quantities of all NCs together never exceed the original's; the
  shipping line is limited by its value. Lines are credited at the original's unit price and
  discount, so each NC line is worth what the same units were worth on the invoice.
- No NC credits a reference beyond what is left of its value with VAT, counted line by line
  (iGEST's measure for the shipping line; the sandbox applies it to every reference that is
  not an article, and the client cannot tell which are): with net prices, units rounded one by
  one are worth more than their line (three NCs of 1 x 0.50 at 23 % are 0.62 each, the line
  1.85), so a last unit at its net value would be refused, and the invoice never credited in
  full.
- The credit that finishes a reference credits exactly what is left of its value, not
  ``round2(qty x price)`` again: rounding each partial line to the cent could otherwise leave
  the NCs a cent above or below the invoice. Its discount (or, failing that, its unit price) is
  fitted to that remainder; when, with net prices, that remainder is worth more with VAT than
  is left of the reference, the NC is issued with VAT-inclusive prices at what is left.
- With net prices iGEST rounds VAT once per rate and per document, so partial NCs can carry a
  cent more or less VAT than their share. The NC that finishes a rate fits one line's value by
  a few cents so that, for that rate, the NCs add up to the invoice's gross exactly; when no
  net value reaches it (the rounding skips some totals), that NC is issued with VAT-inclusive
  prices, where the gross is the sum of the lines, and a warning says so. An NC that leaves
  part of a rate to later NCs fits the same way so as to leave the rate no more than the lines
  left can carry with VAT, line by line (its VAT rounded once may fall a cent below theirs,
  and that cent no later NC could credit), and exactly what they will carry when all that is
  left is credited by value (the shipping, services: they cannot take a cent of the rate's
  rounding), and never takes more of the rate than is left of it (units of a few cents, each
  rounded up with its VAT, would otherwise credit the rate beyond the invoice). A line takes those cents only within what is left of its value with VAT; goods
  may end a cent above their net value (iGEST limits them by quantity), the shipping never.

Hence a full sequence of credits, in any order and any split, adds up to the invoice's gross
total to the cent (tests/unit/test_credit_properties.py), with one exception, net prices only:
the NC that closes a rate may have no line that can take the rate's last cent or two within
what is left of its value. Its only lines of that rate are the shipping or services (credited
by value), and the NC that finished the rate's goods could not keep the cent for them (none of
its lines could take it either; it keeps it for the shipping only, whose credit it can tell in
advance); its lines left are priced 0.00; or the rate's lines are worth less with VAT line by
line than the rate with VAT rounded once (0.56 + 26.74 against 27.31 at 6 %), so that every
line credited to its value still leaves a cent. The plan then carries a
warning naming the rate and the difference, and the NCs differ from the invoice by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal import rules as pt_rules
from igest_sync.fiscal.mapping import SHIPPING_REFERENCE
from igest_sync.fiscal.money import (
    CENT,
    HUNDRED,
    ZERO,
    document_totals,
    fit_discount_percent,
    line_value,
    round2,
    unit_price_for,
)
from igest_sync.models import Customer, DocumentDraft, DocumentLine, IssuedDocument, VatSummary

# How far (in cents) the NC that finishes a rate may move one line's net value so that the
# rate's gross adds up; VAT rounding differs by a cent or two per document, never more.
_MAX_CENTS = 5
# The cents it tries, nearest first: -0.01, 0.01, -0.02, 0.02 ...
_STEPS = tuple(sign * cents * CENT for cents in range(1, _MAX_CENTS + 1) for sign in (-1, 1))


class CreditRefused(OrderRejected):
    """The request would credit what is not there or no longer left to credit.

    ``nothing_left``: the original is credited in full already (``--all`` found nothing).
    ``usage``: the request names what the invoice does not have (a SKU not on it, shipping
    it did not charge): the command line must change, exit 2, as for any usage error.
    """

    def __init__(
        self,
        order_id: int | str,
        message: str,
        *,
        nothing_left: bool = False,
        usage: bool = False,
    ) -> None:
        super().__init__(order_id, message)
        self.nothing_left = nothing_left
        self.usage = usage


@dataclass(frozen=True)
class CreditRequest:
    """What a person asked to credit. ``lines``: (reference, quantity or None for all left)."""

    lines: tuple[tuple[str, Decimal | None], ...] = ()
    shipping: bool = False
    everything: bool = False  # --all: whatever is not credited yet

    @classmethod
    def parse(
        cls, line_specs: Iterable[str], *, shipping: bool = False, everything: bool = False
    ) -> CreditRequest:
        """From ``--line SKU[:QTY]`` options. A SKU may hold ``:``; only a numeric tail is a
        quantity. Raises ValueError with the bad spec."""
        lines: list[tuple[str, Decimal | None]] = []
        for spec in line_specs:
            reference, quantity = spec.strip(), None
            head, sep, tail = reference.rpartition(":")
            if sep and head:
                try:
                    quantity = Decimal(tail)
                except InvalidOperation:
                    quantity = None  # "A:B" is the SKU "A:B"
                else:
                    reference = head
                    if not quantity.is_finite() or quantity <= 0:
                        raise ValueError(f"--line {spec}: the quantity must be positive")
                    if quantity != quantity.to_integral_value():
                        # Orders sell whole units: half a mug credited is no document.
                        raise ValueError(
                            f"--line {spec}: the quantity must be a whole number of units"
                        )
            if not reference.strip(":"):
                raise ValueError(f"--line {spec!r}: no SKU")
            lines.append((reference, quantity))
        return cls(tuple(lines), shipping, everything)

    def to_json(self) -> str:
        """The canonical form recorded with the credit's work (the same request, the same text)."""
        return json.dumps(
            {
                "lines": [[ref, None if q is None else str(q)] for ref, q in self.lines],
                "shipping": self.shipping,
                "all": self.everything,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CreditRequest:
        data = json.loads(text)
        return cls(
            tuple((ref, None if q is None else Decimal(q)) for ref, q in data.get("lines", [])),
            bool(data.get("shipping")),
            bool(data.get("all")),
        )

    def describe(self) -> str:
        """As typed on the command line."""
        if self.everything:
            return "--all"
        parts = [f"--line {ref}" + ("" if q is None else f":{q}") for ref, q in self.lines]
        if self.shipping:
            parts.append("--shipping")
        return " ".join(parts)


@dataclass(frozen=True)
class CreditLine:
    """One reference of the original: quantities and amounts (in the document's price basis)."""

    reference: str
    description: str
    shipping: bool
    invoiced: Decimal
    already: Decimal
    now: Decimal
    invoiced_amount: Decimal
    already_amount: Decimal
    now_amount: Decimal
    credited_by: tuple[str, ...]  # numbers of the NCs that credited some of it

    @property
    def remaining(self) -> Decimal:
        return self.invoiced - self.already - self.now

    @property
    def remaining_amount(self) -> Decimal:
        return self.invoiced_amount - self.already_amount - self.now_amount

    def to_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "description": self.description,
            "shipping": self.shipping,
            "invoiced": str(self.invoiced),
            "already_credited": str(self.already),
            "this_credit": str(self.now),
            "remaining": str(self.remaining),
            "invoiced_amount": str(self.invoiced_amount),
            "already_credited_amount": str(self.already_amount),
            "this_credit_amount": str(self.now_amount),
            "remaining_amount": str(self.remaining_amount),
            "credited_by": list(self.credited_by),
        }


@dataclass(frozen=True)
class CreditPlan:
    """The NC to issue for one request, and the state of the original around it."""

    original_number: str
    original_date: date | None
    customer_nif: str | None
    customer_name: str | None
    summary: tuple[CreditLine, ...]  # every reference of the original
    lines: tuple[DocumentLine, ...]  # the NC's lines
    prices_include_vat: bool
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    vat_breakdown: tuple[VatSummary, ...]
    invoiced_total: Decimal  # the original's gross total
    already_total: Decimal  # the gross of the NCs issued before
    credit_numbers: tuple[str, ...]  # those NCs
    warnings: tuple[str, ...] = ()
    # NCs issued before for this very request ("NC A/2 of 2026-11-30"): a plan for ``--again``
    # shows them before the question, so a second identical credit is a decision.
    same_request: tuple[str, ...] = ()
    # The original's customer as iGEST holds it: the NC names the very same one.
    customer: Customer | None = None
    # The basis of the summary's amounts: the invoice's, whatever this NC's price mode.
    amounts_include_vat: bool = True

    @property
    def remaining_total(self) -> Decimal:
        return self.invoiced_total - self.already_total - self.gross_total

    def to_json(self) -> dict[str, object]:
        return {
            "original": {
                "number": self.original_number,
                "date": self.original_date.isoformat() if self.original_date else None,
                "customer_nif": self.customer_nif,
                "customer_name": self.customer_name,
                "gross_total": str(self.invoiced_total),
            },
            "credit_notes": list(self.credit_numbers),
            "lines": [line.to_json() for line in self.summary],
            "already_credited": str(self.already_total),
            "this_credit": str(self.gross_total),
            "remaining": str(self.remaining_total),
            "warnings": list(self.warnings),
            "same_request": list(self.same_request),
        }


# --------------------------------------------------------------------------------------------


@dataclass
class _Ref:
    """The original's lines of one reference, and what the NCs credited of it."""

    reference: str
    lines: tuple[DocumentLine, ...]
    inclusive: bool = True  # the original's price basis (of ``invoiced_amount``)
    already: Decimal = ZERO
    already_amount: Decimal = ZERO  # in the original's basis
    already_gross: Decimal = ZERO  # with VAT, line by line: what iGEST limits by value
    numbers: tuple[str, ...] = ()
    credited_lines: int = 0  # how many NC lines credited some of it (each rounds on its own)

    @property
    def shipping(self) -> bool:
        return self.reference == SHIPPING_REFERENCE

    @property
    def by_value(self) -> bool:
        """Whether iGEST limits what NCs credit of every line of it by value (``_by_value``):
        what later NCs can credit of it is counted so (``_worth``, ``_Aim.exact``). A reference
        whose lines mix services and goods (iGEST holds one article per reference) is not,
        though each of its lines is priced by its own kind (``_fits``, ``_as_inclusive``)."""
        return all(_by_value(self, line) for line in self.lines)

    # The lines never change once ``_refs`` has gathered them: their totals are counted once
    # (the planner asks for them in every check of what is left of a reference).
    @cached_property
    def invoiced(self) -> Decimal:
        return sum((line.quantity for line in self.lines), ZERO)

    @cached_property
    def invoiced_amount(self) -> Decimal:
        return sum((line_value(line) for line in self.lines), ZERO)

    @cached_property
    def invoiced_gross(self) -> Decimal:
        return sum((_gross(line, self.inclusive) for line in self.lines), ZERO)

    @property
    def used_up(self) -> bool:
        if self.shipping:  # the shipping line is limited by its value (and credited whole)
            return self.already_amount >= self.invoiced_amount or self.already >= self.invoiced
        return self.already >= self.invoiced

    def state(self) -> str:
        """ "SKU-1: 3 invoiced, 3 already credited (NC A/2, NC A/3)"."""
        if self.shipping:
            text = (
                f"shipping: {self.invoiced_amount} EUR invoiced, {self.already_amount} EUR "
                "already credited"
            )
        else:
            text = f"{self.reference}: {_qty(self.invoiced)} invoiced, {_qty(self.already)} "
            text += "already credited"
        return text + (f" ({', '.join(self.numbers)})" if self.numbers else "")


def _qty(q: Decimal) -> str:
    return f"{q.normalize():f}"


def _group(line: DocumentLine) -> tuple[str, Decimal]:
    # VAT is totalled per rate and, for OSS lines, per Member State.
    return (line.tax_country or "PT", line.vat_rate.quantize(CENT))


def _group_gross(
    lines: Iterable[DocumentLine], inclusive: bool
) -> dict[tuple[str, Decimal], Decimal]:
    """Per VAT group, the gross iGEST computes for these lines (VAT rounded once per group)."""
    values: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        values[_group(line)] = values.get(_group(line), ZERO) + line_value(line)
    return {g: v if inclusive else _net_to_gross(v, g[1]) for g, v in values.items()}


def _net_to_gross(base: Decimal, rate: Decimal) -> Decimal:
    return base + round2(base * rate / HUNDRED)


def _gross(line: DocumentLine, inclusive: bool, value: Decimal | None = None) -> Decimal:
    """What ``line`` (or the same line at ``value``) is worth with VAT on its own: the measure
    by which iGEST limits a line credited by its value (the sandbox: anything but an article
    of type P). With net prices it is rounded line by line, so three units of 0.50 at 23 %
    are worth 0.62 each and the line of three 1.85, not 1.86."""
    value = line_value(line) if value is None else value
    return value if inclusive else _net_to_gross(value, line.vat_rate.quantize(CENT))


def _in_basis(value: Decimal, line: DocumentLine, inclusive: bool, basis: bool) -> Decimal:
    """``value`` of ``line`` (VAT-inclusive or not) in the other ``basis``, line by line."""
    if inclusive == basis:
        return value
    rate = line.vat_rate.quantize(CENT)
    if basis:
        return _net_to_gross(value, rate)
    return value - round2(value * rate / (HUNDRED + rate))


def _fit(line: DocumentLine, target: Decimal) -> DocumentLine | None:
    """``line`` with the value ``target``: its own price and discount if they give it, else a
    fitted discount, else a fitted unit price; None when ``target`` is negative."""
    if target < 0:
        return None
    if line_value(line) == target:
        return line
    percent = fit_discount_percent(line.quantity, line.unit_price, target)
    candidate = replace(line, discount_percent=percent)
    if line_value(candidate) == target:
        return candidate
    candidate = replace(
        line, unit_price=unit_price_for(target, line.quantity), discount_percent=ZERO
    )
    return candidate if line_value(candidate) == target else None


def _take(ref: _Ref, quantity: Decimal) -> list[DocumentLine]:
    """The original's lines of ``ref`` for the next ``quantity`` units (earlier units went to
    earlier NCs, first line first), at their unit price and discount."""
    skip, left, taken = ref.already, quantity, []
    for line in ref.lines:
        available = line.quantity - min(skip, line.quantity)
        skip = max(ZERO, skip - line.quantity)
        if available <= 0 or left <= 0:
            continue
        part = min(available, left)
        taken.append(replace(line, quantity=part))
        left -= part
    return taken


def price_mode(document: IssuedDocument) -> bool | None:
    """Whether ``document``'s unit prices include VAT: as iGEST says, else the mode in which its
    lines give its totals (the contract's listing does not echo the flag). None: neither."""
    if document.prices_include_vat is not None:
        return document.prices_include_vat
    for inclusive in (True, False):
        net, vat, gross, _ = document_totals(document.lines, inclusive)
        if (net, vat, gross) == (document.net_total, document.vat_total, document.gross_total):
            return inclusive
    return None


def _refs(original: IssuedDocument, credits: Sequence[IssuedDocument]) -> dict[str, _Ref]:
    inclusive = price_mode(original) is not False
    lines: dict[str, list[DocumentLine]] = {}
    for line in original.lines:
        lines.setdefault(line.reference, []).append(line)
    refs = {r: _Ref(r, tuple(own), inclusive) for r, own in lines.items()}
    for nc in credits:
        nc_inclusive = price_mode(nc)
        nc_inclusive = inclusive if nc_inclusive is None else nc_inclusive
        for line in nc.lines:
            ref = refs.get(line.reference)
            if ref is None:
                continue  # not a line of the original: reconcile reports such an NC
            ref.already += line.quantity
            # An NC of a net invoice may have VAT-inclusive prices: counted in the invoice's
            # basis all the same, or what is left of a line would be off by its VAT.
            ref.already_amount += _in_basis(line_value(line), line, nc_inclusive, inclusive)
            ref.already_gross += _gross(line, nc_inclusive)
            ref.credited_lines += 1
            number = nc.number or nc.id
            if number not in ref.numbers:
                ref.numbers += (number,)
    return refs


def _wanted(
    order_id: int, original: IssuedDocument, refs: dict[str, _Ref], request: CreditRequest
) -> dict[str, Decimal]:
    """reference -> quantity to credit now; refusals name what is already credited."""
    number = original.number or original.id
    if request.everything and (request.lines or request.shipping):
        raise CreditRefused(
            order_id, "--all credits everything left; leave out --line and --shipping"
        )
    if request.everything:
        # Shipping is credited whole (its value is fitted to what is left of it).
        rest = {
            r.reference: r.invoiced if r.shipping else r.invoiced - r.already
            for r in refs.values()
            if not r.used_up
        }
        if not rest:
            states = "; ".join(r.state() for r in refs.values())
            raise CreditRefused(
                order_id, f"{number} is credited in full already: {states}", nothing_left=True
            )
        return rest
    if not request.lines and not request.shipping:
        raise CreditRefused(
            order_id, "nothing to credit: give --line SKU[:QTY], --shipping or --all", usage=True
        )
    asked: dict[str, Decimal | None] = {}
    for reference, quantity in request.lines:
        if reference not in refs or refs[reference].shipping:
            known = ", ".join(r.reference for r in refs.values() if not r.shipping)
            raise CreditRefused(
                order_id,
                f"{reference} is not a line of {number} (its lines: {known or 'none'})"
                + ("; credit the shipping with --shipping" if reference in refs else "")
                + _quantity_hint(reference, refs),
                usage=True,
            )
        before: Decimal | None = asked.get(reference, ZERO)
        asked[reference] = None if quantity is None or before is None else before + quantity
    result: dict[str, Decimal] = {}
    for reference, quantity in asked.items():
        ref = refs[reference]
        left = ref.invoiced - ref.already
        if left <= 0:
            raise CreditRefused(order_id, f"{ref.state()}: nothing left to credit")
        if quantity is not None and quantity > left:
            raise CreditRefused(
                order_id, f"{ref.state()}: at most {_qty(left)} can still be credited"
            )
        result[reference] = left if quantity is None else quantity
    if request.shipping:
        shipping = next((r for r in refs.values() if r.shipping), None)
        if shipping is None:
            raise CreditRefused(order_id, f"{number} has no shipping line to credit", usage=True)
        if shipping.used_up:
            raise CreditRefused(order_id, f"{shipping.state()}: nothing left to credit")
        result[shipping.reference] = shipping.invoiced
    return result


def _quantity_hint(spec: str, refs: dict[str, _Ref]) -> str:
    """``AZT-500=1`` (``adopt --pick``'s separator), ``AZT-500x1`` or ``azt-500`` for a line
    of the invoice: name what ``--line`` takes instead of leaving the person to guess."""
    lines = {r.reference.casefold(): r.reference for r in refs.values() if not r.shipping}
    for separator in ("=", "x", "*", " "):
        head, sep, tail = spec.rpartition(separator)
        line = lines.get(head.casefold())
        if sep and line is not None and tail.strip().isdigit():
            return f"; for {tail.strip()} of {line}, write --line {line}:{tail.strip()}"
    line = lines.get(spec.casefold())
    if line is not None:
        return f"; SKUs are matched as written: --line {line}"
    head, colon, tail = spec.rpartition(":")
    line = lines.get(head.casefold())
    if colon and line is not None:  # VPT-10:abc, VPT-10:1,5: a quantity that is no number
        return f"; the quantity after '{line}:' must be a number, e.g. --line {line}:1"
    return ""


def plan_credit(
    order_id: int,
    original: IssuedDocument,
    credits: Sequence[IssuedDocument],
    request: CreditRequest,
) -> CreditPlan:
    """The NC for ``request`` against ``original``, given the final NCs already issued."""
    if original.number is None or original.status != "final":
        raise CreditRefused(
            order_id,
            f"the document to credit is {original.status or 'unknown'}, not final; only a "
            "finalized document is credited",
        )
    if not original.lines:
        raise CreditRefused(order_id, f"iGEST sent {original.number} without its lines")
    inclusive = price_mode(original)
    if inclusive is None:
        raise CreditRefused(
            order_id,
            f"the lines iGEST holds for {original.number} do not add up to its total "
            f"{original.gross_total} EUR in either price mode; credit it by hand",
        )
    original = replace(original, prices_include_vat=inclusive)
    refs = _refs(original, credits)
    wanted = _wanted(order_id, original, refs, request)

    lines: list[DocumentLine] = []
    finishing: dict[str, int] = {}  # reference -> index of its last NC line, when it finishes
    for reference, quantity in wanted.items():
        ref = refs[reference]
        if ref.shipping:
            taken = [replace(line) for line in ref.lines]
            finishes = True
        else:
            taken = _take(ref, quantity)
            finishes = ref.already + quantity >= ref.invoiced
        if finishes:
            # What is left of the reference's value, to the cent, on its last NC line.
            target = ref.invoiced_amount - ref.already_amount
            target -= sum((line_value(line) for line in taken[:-1]), ZERO)
            fitted = _fit(taken[-1], target)
            if fitted is None:
                raise CreditRefused(
                    order_id,
                    f"{ref.state()}: the credit notes already carry "
                    f"{ref.already_amount} EUR of its {ref.invoiced_amount} EUR; credit the "
                    "rest by hand",
                )
            taken[-1] = fitted
            finishing[reference] = len(lines) + len(taken) - 1
        else:
            # Units rounded up to the cent one by one could otherwise credit more than the
            # line is worth before its last unit: never more than what is left of its value,
            # neither in the invoice's basis nor with VAT line by line (iGEST's measure).
            value = _allowed(order_id, ref, taken[:-1], taken[-1], inclusive)
            try:
                taken[-1] = _priced(taken[-1], value)
            except _NoPrice as error:
                raise CreditRefused(
                    order_id,
                    f"no unit price of 6 decimals gives {error}; credit it by hand in iGEST",
                ) from None
        lines.extend(taken)

    warnings: list[str] = []
    closed = _close_groups(order_id, original, credits, refs, lines, finishing, warnings)
    # The summary stays in the original's basis even when this NC switched to inclusive prices.
    basis = lines if closed.prices_include_vat != inclusive else closed.lines
    net, vat, gross, breakdown = document_totals(closed.lines, closed.prices_include_vat)
    at = _positions(basis)
    now = {r: [basis[i] for i in at.get(r, ())] for r in refs}
    summary = tuple(
        CreditLine(
            reference=ref.reference,
            description=ref.lines[0].description,
            shipping=ref.shipping,
            invoiced=ref.invoiced,
            already=ref.already,
            now=sum((ln.quantity for ln in now[ref.reference]), ZERO),
            invoiced_amount=ref.invoiced_amount,
            already_amount=ref.already_amount,
            now_amount=sum((line_value(ln) for ln in now[ref.reference]), ZERO),
            credited_by=ref.numbers,
        )
        for ref in refs.values()
    )
    if gross == ZERO:
        # A legal document for ever, numbered in the series: worth saying before it is asked.
        warnings.append(
            f"This credit note is 0.00 EUR: what it credits was given free on "
            f"{original.number or original.id}; it refunds nothing and only records the "
            "return (and restocks the goods, unless --no-restock)"
        )
    already = sum((nc.gross_total for nc in credits), ZERO)
    warnings += _vat_gaps(
        original, credits, breakdown, last=already + gross == original.gross_total
    )
    numbers = tuple(dict.fromkeys(nc.number or nc.id for nc in credits))
    return CreditPlan(
        original_number=original.number or original.id,
        original_date=original.date,
        customer_nif=original.customer_nif,
        customer_name=original.customer_name,
        summary=summary,
        lines=closed.lines,
        prices_include_vat=closed.prices_include_vat,
        net_total=net,
        vat_total=vat,
        gross_total=gross,
        vat_breakdown=breakdown,
        invoiced_total=original.gross_total,
        already_total=already,
        credit_numbers=numbers,
        warnings=tuple(warnings),
        customer=original.customer,
        amounts_include_vat=inclusive,
    )


def _vat_gaps(
    original: IssuedDocument,
    credits: Sequence[IssuedDocument],
    breakdown: Sequence[VatSummary],
    *,
    last: bool,
) -> list[str]:
    """Where the credit notes' VAT, this one included, parts from the invoice's at a rate:
    iGEST rounds VAT once per document, so three NCs of 9.99 at 23 % carry 1.87 each (5.61)
    against the invoice's 5.60. No price can close it (the gross is exact); it is said, with
    the amount, so that the accountant is not left to find it. ``last``: this NC credits all
    that is left (every rate must then agree); before, only VAT credited beyond the invoice's
    is said. Only from iGEST's own breakdowns: a document without one says nothing."""
    if not original.vat_breakdown or any(not nc.vat_breakdown for nc in credits):
        return []

    def key(row: VatSummary) -> tuple[str, Decimal]:
        return (row.tax_country or "PT", row.rate.quantize(CENT))

    invoiced: dict[tuple[str, Decimal], Decimal] = {}
    for row in original.vat_breakdown:
        invoiced[key(row)] = invoiced.get(key(row), ZERO) + row.vat
    credited: dict[tuple[str, Decimal], Decimal] = {}
    for row in [r for nc in credits for r in nc.vat_breakdown] + list(breakdown):
        credited[key(row)] = credited.get(key(row), ZERO) + row.vat
    gaps = []
    for group in sorted(invoiced.keys() | credited.keys()):
        had, back = invoiced.get(group, ZERO), credited.get(group, ZERO)
        if back > had or (last and back != had):
            rate = f"{group[1]} %" + ("" if group[0] == "PT" else f" ({group[0]})")
            gaps.append(
                f"The credit notes of {original.number or original.id} (this one included) "
                f"credit {back:.2f} EUR of VAT at {rate}, where the invoice charged {had:.2f} "
                "(iGEST rounds VAT once per document; the totals with VAT agree): a difference "
                f"of {abs(back - had):.2f} EUR for your accountant's VAT return"
            )
    return gaps


@dataclass(frozen=True)
class _Closed:
    lines: tuple[DocumentLine, ...]
    prices_include_vat: bool


def _close_groups(
    order_id: int,
    original: IssuedDocument,
    credits: Sequence[IssuedDocument],
    refs: dict[str, _Ref],
    lines: list[DocumentLine],
    finishing: dict[str, int],
    warnings: list[str],
) -> _Closed:
    """Net prices only: make each VAT group this NC finishes add up to the invoice's gross,
    crediting no line beyond what is left of it (with VAT, line by line: iGEST's measure)."""
    if original.prices_include_vat:
        return _Closed(tuple(lines), True)  # the gross is the sum of the lines: exact already
    closing = set(finishing) | {r for r, ref in refs.items() if ref.used_up}
    invoiced = _group_gross(original.lines, False)
    before: dict[tuple[str, Decimal], Decimal] = {}
    for nc in credits:
        own = [ln for ln in nc.lines if ln.reference in refs]
        for g, v in _group_gross(own, bool(price_mode(nc))).items():
            before[g] = before.get(g, ZERO) + v
    # Per VAT group of this NC, what its gross must leave to the NCs after it: nothing when this
    # NC credits the last of the group; else no more than its references left can carry with
    # VAT, line by line (what iGEST limits by value, and so the planner for every reference):
    # one NC rounds VAT once for the group, and may leave the group a cent more than its lines
    # are worth, which no later NC could credit. When all that is left of the group is credited
    # by value (the shipping, services), exactly what they will carry: they can take no cent of
    # the group's VAT rounding, so this NC takes it while it still holds goods.
    aims: dict[tuple[str, Decimal], _Aim] = {}
    for group in {_group(ln) for ln in lines}:
        members = {ln.reference for ln in original.lines if _group(ln) == group}
        rest = tuple(refs[r] for r in sorted(members - closing))
        exact = all(ref.by_value for ref in rest)
        aims[group] = _Aim(invoiced[group] - before.get(group, ZERO), rest, exact)
    ahead = {group for group, aim in aims.items() if aim.rest}

    net, net_failed = _fit_groups(list(lines), aims, refs, False)
    at = _positions(net)
    net_fits = all(_fits(refs, net, at, i, line_value(net[i]), False) for i in _lasts(net))
    if net_fits and not net_failed:
        return _Closed(tuple(net), False)
    inclusive: list[DocumentLine] | None
    try:
        inclusive, inclusive_failed = _fit_groups(
            _as_inclusive(order_id, lines, refs), aims, refs, True
        )
    except _NoPrice as error:
        if not net_fits:
            raise CreditRefused(
                order_id,
                "with net prices this credit note would credit a line beyond what is left of "
                "it, and no VAT-inclusive unit price of 6 decimals gives "
                f"{error} with VAT; credit that line on its own, or by hand in iGEST",
            ) from None
        inclusive, inclusive_failed = None, {}  # no such NC: the net one, whatever it misses

    def cost(failed: dict[tuple[str, Decimal], Decimal]) -> tuple[int, int]:
        return len(failed.keys() - ahead), len(failed)

    if inclusive is None or (net_fits and cost(net_failed) <= cost(inclusive_failed)):
        out, prices_include_vat, failed = net, False, net_failed
    else:
        out, prices_include_vat, failed = inclusive, True, inclusive_failed
        # Say only what is true: when a rate still differs, the warning below says by how much.
        if not failed.keys() - ahead:
            warnings.append(
                f"With net prices this credit note could not carry what is left of "
                f"{original.number} to the cent (VAT is rounded per document) without crediting "
                "a line beyond what is left of it; it has VAT-inclusive prices so that the "
                "credit notes add up to the invoice"
            )
        elif not net_fits:
            warnings.append(
                "With net prices this credit note would credit a line beyond what is left of "
                f"its value on {original.number}; it has VAT-inclusive prices"
            )
        else:
            warnings.append(
                f"With net prices more of this credit note's VAT rates would differ from "
                f"{original.number}; it has VAT-inclusive prices"
            )
    for group, gap in failed.items():
        if group in ahead:
            continue  # the NC that credits the group's last closes it, and says so
        rate = f"{group[1]} %" + ("" if group[0] == "PT" else f" ({group[0]})")
        why = (
            "this credit note credits only the shipping (or a service) at that rate, which is "
            "never credited beyond what is left of its value, and no other line of that rate "
            "is left to take the difference"
            if all(_by_value(refs[ln.reference], ln) for ln in out if _group(ln) == group)
            else "no line of that rate in this credit note can take the difference without "
            "crediting more than is left of its value"
        )
        warnings.append(
            f"The credit notes of {original.number} differ from the invoice by {abs(gap):.2f} "
            f"EUR at {rate} (VAT is rounded per document with net prices): {why}"
        )
    return _Closed(tuple(out), prices_include_vat)


@dataclass(frozen=True)
class _Aim:
    """What an NC's lines of one VAT group must leave: ``left`` is the group's gross not yet
    credited before this NC; ``rest`` its references still to credit after it."""

    left: Decimal
    rest: tuple[_Ref, ...]
    exact: bool  # leave exactly what ``rest`` will carry (else: no more than it can)

    def met(self, short: Decimal, over: Decimal) -> bool:
        """``short``: see ``_Shortfall``; ``over``: how far this NC's own gross takes the group
        beyond what is left of it. Never met when over: with what ``rest`` may carry counted
        as a bound only, units rounded up one NC at a time (0.03 + 0.01 VAT, four times a
        rate of 0.15) could otherwise credit the group more than the invoice holds."""
        return over <= 0 and (short == 0 or (short < 0 and not self.exact))


class _Shortfall:
    """How much more gross an NC's ``lines`` must carry at ``group`` to meet ``aim``
    (negative: less), and how much with one line at another value. The group's base and each
    reference's worth are counted once; a trial counts again only the changed line's reference
    (counting every reference's worth, each from all the lines, for each trial took seconds on
    an NC of 150 lines)."""

    def __init__(
        self,
        group: tuple[str, Decimal],
        aim: _Aim,
        lines: Sequence[DocumentLine],
        values: Sequence[Decimal],
        at: dict[str, list[int]],
        inclusive: bool,
    ) -> None:
        self.group, self.aim, self.inclusive = group, aim, inclusive
        self.lines, self.values, self.at = lines, values, at
        self.base = sum((v for ln, v in zip(lines, values) if _group(ln) == group), ZERO)
        self.rest = {ref.reference: ref for ref in aim.rest}
        self.worth = {
            ref.reference: _worth(
                ref, [(lines[i], values[i]) for i in at.get(ref.reference, ())], inclusive
            )
            for ref in aim.rest
        }
        self.total = sum(self.worth.values(), ZERO)
        self.short, self.over = self._short(self.base, self.total)

    def _short(self, base: Decimal, worth: Decimal) -> tuple[Decimal, Decimal]:
        """The shortfall, and how far the NC's own gross goes beyond what is left of the group."""
        gross = base if self.inclusive else _net_to_gross(base, self.group[1])
        return self.aim.left - gross - worth, gross - self.aim.left

    def trial(self, index: int, value: Decimal) -> tuple[Decimal, Decimal]:
        """The shortfall (and the overshoot) with ``lines[index]`` worth ``value``."""
        line = self.lines[index]
        base = self.base
        if _group(line) == self.group:
            base += value - self.values[index]
        worth = self.total
        ref = self.rest.get(line.reference)
        if ref is not None:
            own = [
                (self.lines[i], value if i == index else self.values[i])
                for i in self.at[line.reference]
            ]
            worth += _worth(ref, own, self.inclusive) - self.worth[line.reference]
        return self._short(base, worth)


def _worth(ref: _Ref, own: Sequence[tuple[DocumentLine, Decimal]], inclusive: bool) -> Decimal:
    """What the NCs after one crediting ``own`` (its lines of ``ref``, each with its value)
    can still credit of ``ref`` with VAT, line by line: all that is left of it with VAT for
    goods (a later NC may fit them up to it), and for what iGEST credits by value the most that
    a line within what is left of its value carries, as the NC that credits it will."""
    gross = ref.invoiced_gross - ref.already_gross
    gross -= sum((_gross(ln, inclusive, value) for ln, value in own), ZERO)
    if not ref.by_value:
        return max(gross, ZERO)
    amount = sum((_in_basis(value, ln, inclusive, ref.inclusive) for ln, value in own), ZERO)
    left = ref.invoiced_amount - ref.already_amount - amount
    line = ref.lines[-1]
    # ``_within`` for that line alone once ``own`` is credited: within what is left of the
    # reference's value, and of its value with VAT, line by line.
    value = _largest(left, lambda v: 0 <= v <= left and _gross(line, ref.inclusive, v) <= gross)
    return _gross(line, ref.inclusive, value or ZERO)


def _fit_groups(
    lines: list[DocumentLine],
    aims: dict[tuple[str, Decimal], _Aim],
    refs: dict[str, _Ref],
    inclusive: bool,
) -> tuple[list[DocumentLine], dict[tuple[str, Decimal], Decimal]]:
    """``lines`` with each group moved to its aim by a few cents on one reference's last line,
    the largest that can take them while staying within what is left of it; and, per group
    that no line could bring to its aim, how far it is from it."""
    out = list(lines)
    values = [line_value(ln) for ln in out]
    at = _positions(out)
    failed: dict[tuple[str, Decimal], Decimal] = {}
    for group, aim in aims.items():
        shortfall = _Shortfall(group, aim, out, values, at, inclusive)
        short = shortfall.short
        if aim.met(short, shortfall.over):
            continue
        candidates = sorted(
            (i for i in _lasts(out) if _group(out[i]) == group),
            key=lambda i: values[i],
            reverse=True,
        )
        # VAT-inclusive, the gross is the sum of the lines: one step reaches the aim.
        steps = [short] if inclusive else _STEPS
        fitted = None
        for step in steps:
            for i in candidates:
                value = values[i] + step
                if not _fits(refs, out, at, i, value, inclusive):
                    continue
                if not aim.met(*shortfall.trial(i, value)):
                    continue
                fitted = _fit(out[i], value)  # None: no price gives that value
                if fitted is not None:
                    out[i], values[i] = fitted, value
                    break
            if fitted is not None:
                break
        if fitted is None:
            failed[group] = short
    return out, failed


def _lasts(lines: Sequence[DocumentLine]) -> list[int]:
    """The index of each reference's last line in ``lines``."""
    return list({ln.reference: i for i, ln in enumerate(lines)}.values())


def _positions(lines: Sequence[DocumentLine]) -> dict[str, list[int]]:
    """Reference -> the indices of its lines in ``lines``."""
    at: dict[str, list[int]] = {}
    for i, ln in enumerate(lines):
        at.setdefault(ln.reference, []).append(i)
    return at


def _fits(
    refs: dict[str, _Ref],
    lines: Sequence[DocumentLine],
    at: dict[str, list[int]],
    index: int,
    value: Decimal,
    inclusive: bool,
) -> bool:
    """Whether ``lines[index]`` at ``value`` keeps its reference within what is left of it
    (``at``: ``_positions(lines)``)."""
    line = lines[index]
    ref = refs[line.reference]
    others = [lines[i] for i in at[line.reference] if i != index]
    return _within(ref, others, line, value, inclusive, by_amount=_by_value(ref, line))


def _within(
    ref: _Ref,
    others: Sequence[DocumentLine],
    line: DocumentLine,
    value: Decimal,
    inclusive: bool,
    *,
    by_amount: bool = True,
) -> bool:
    """Whether an NC (with these prices) crediting ``others`` and ``line`` at ``value`` of
    ``ref`` keeps it within what is left of its value with VAT, line by line (iGEST's measure
    for what it limits by value), and, ``by_amount``, in the invoice's basis too. Goods may take
    a cent beyond their net value when a VAT group needs it: iGEST limits them by quantity."""
    if value < 0:
        return False
    gross = ref.already_gross + _gross(line, inclusive, value)
    gross += sum((_gross(ln, inclusive) for ln in others), ZERO)
    if gross > ref.invoiced_gross:
        return False
    if not by_amount:
        return True
    amount = ref.already_amount + _in_basis(value, line, inclusive, ref.inclusive)
    amount += sum((_in_basis(line_value(ln), ln, inclusive, ref.inclusive) for ln in others), ZERO)
    return amount <= ref.invoiced_amount


def _largest(upper: Decimal, allowed: Callable[[Decimal], bool]) -> Decimal | None:
    """The largest value, to the cent and at most ``upper``, that is ``allowed``; None when
    not even 0.00 is. What is allowed only grows stricter as the value grows, so this bisects
    over cents: a few dozen checks whatever the amount, where stepping down a cent at a time
    took seconds on a large line that earlier NCs had already credited beyond its value."""
    upper = upper.quantize(CENT)
    if allowed(upper):
        return upper
    low, high = 0, int(upper / CENT)  # low is allowed, high is not
    if not allowed(ZERO):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if allowed(middle * CENT):
            low = middle
        else:
            high = middle
    return low * CENT


def _allowed(
    order_id: int,
    ref: _Ref,
    others: Sequence[DocumentLine],
    line: DocumentLine,
    inclusive: bool,
    *,
    upper: Decimal | None = None,
    by_amount: bool = True,
) -> Decimal:
    """The value at which ``line`` (worth ``upper``, by default its value) can be credited: its own, or
    less by what rounding explains, so that ``ref`` stays within what is left of it.

    Units rounded to the cent one NC at a time are worth a little more than their line (a cent
    or two per NC line, and up to ``_MAX_CENTS`` where an NC fitted a VAT group). Anything
    beyond that means earlier NCs carry more of the reference than the units they name (one
    made by hand in iGEST at a higher price): crediting these units for what happens to be
    left, down to 0.00, would hide it. A person decides, as when what is left is negative."""
    upper = line_value(line) if upper is None else upper
    value = _largest(upper, lambda v: _within(ref, others, line, v, inclusive, by_amount=by_amount))
    slack = CENT * (_MAX_CENTS + (_MAX_CENTS + 2) * ref.credited_lines)
    if value is None or upper - value > slack:
        raise CreditRefused(
            order_id,
            f"{ref.state()}: the credit notes already carry {ref.already_gross} EUR of its "
            f"{ref.invoiced_gross} EUR with VAT, so {_qty(line.quantity)} more cannot be "
            f"credited at its price ({upper} EUR); credit the rest by hand in iGEST",
        )
    return value


def _by_value(ref: _Ref, line: DocumentLine) -> bool:
    """Whether iGEST limits what its NCs credit of this line by value (the shipping line,
    services), not by quantity (goods)."""
    return ref.shipping or line.is_service


class _NoPrice(Exception):
    """No unit price of 6 decimals (nor discount) gives ``line`` the value ``value``: only with
    quantities in the tens of thousands, where a millionth of a euro a unit is over a cent."""

    def __init__(self, line: DocumentLine, value: Decimal) -> None:
        super().__init__(f"{_qty(line.quantity)} of {line.reference} {value} EUR")


def _priced(line: DocumentLine, value: Decimal) -> DocumentLine:
    """``line`` worth exactly ``value``; _NoPrice when no price gives it. Never the line at
    another value: a net line left in a VAT-inclusive NC credits its net value as if it
    included VAT, and the customer is refunded the VAT short, silently."""
    fitted = _fit(line, value)
    if fitted is None:
        raise _NoPrice(line, value)
    return fitted


def _as_inclusive(
    order_id: int, lines: list[DocumentLine], refs: dict[str, _Ref]
) -> list[DocumentLine]:
    """The same NC with VAT-inclusive unit prices: each line at its value with VAT, and the
    last line of a reference that this would take beyond what is left of it (units of a net
    line rounded one by one) at what is left. _NoPrice when a line cannot be priced so."""

    def inclusive(line: DocumentLine, value: Decimal) -> DocumentLine:
        unit_price = unit_price_for(value, line.quantity)
        return _priced(replace(line, unit_price=unit_price, discount_percent=ZERO), value)

    at, lasts = _positions(lines), _lasts(lines)
    last = set(lasts)
    out = [ln if i in last else inclusive(ln, _gross(ln, False)) for i, ln in enumerate(lines)]
    for i in lasts:
        line = lines[i]
        ref = refs[line.reference]
        others = [out[j] for j in at[line.reference] if j != i]
        value = _allowed(
            order_id,
            ref,
            others,
            line,
            True,
            upper=_gross(line, False),
            by_amount=_by_value(ref, line),
        )
        out[i] = inclusive(line, value)
    return out


def over_credited(original: IssuedDocument, credits: Sequence[IssuedDocument]) -> list[str]:
    """What the final ``credits`` of ``original`` credit beyond it, one text per reference
    ("CAN-AZU: 3 invoiced, 4 credited (NC A/2, NC A/3)"); empty when within it, or when
    iGEST sent the original without its lines (nothing to compare)."""
    if not original.lines:
        return []
    finals = [c for c in credits if c.status == "final"]
    refs = _refs(original, finals)
    out = []
    for ref in refs.values():
        numbers = f" ({', '.join(ref.numbers)})" if ref.numbers else ""
        if ref.shipping and ref.already_amount > ref.invoiced_amount:
            out.append(
                f"shipping: {ref.invoiced_amount} EUR invoiced, {ref.already_amount} EUR "
                f"credited{numbers}"
            )
        elif not ref.shipping and ref.already > ref.invoiced:
            out.append(
                f"{ref.reference}: {_qty(ref.invoiced)} invoiced, {_qty(ref.already)} "
                f"credited{numbers}"
            )
    strangers = sorted({ln.reference for c in finals for ln in c.lines} - set(refs))
    out += [
        f"{reference}: not on {original.number}, credited all the same" for reference in strangers
    ]
    return out


def credit_note_draft(
    order_id: int,
    plan: CreditPlan,
    settings: InvoiceConfig,
    *,
    reference: str,
    issue_date: date,
    reason: str,
    restock: bool,
    customer: Customer | None = None,
    warehouse: str | None = None,
) -> DocumentDraft:
    """The NC for ``plan`` under ``reference`` (its request's): the original's customer as iGEST
    holds it (a foreign VAT number keeps its country, the address stays) and its price mode, no
    payment method (an NC is not a receipt); ``restock`` returns the goods to the warehouse."""
    if plan.original_date is not None and issue_date < plan.original_date:
        raise CreditRefused(
            order_id,
            f"a credit note dated {issue_date} cannot precede {plan.original_number} "
            f"dated {plan.original_date}",
        )
    reason = reason.strip() or settings.credit_reason
    customer = customer or plan.customer
    if customer is None:  # iGEST sent the original without its customer: its NIF and name
        nif = plan.customer_nif
        consumer = nif in (None, "", pt_rules.FINAL_CONSUMER_NIF)
        customer = Customer(
            nif=None if consumer else nif, name=plan.customer_name or "Consumidor final"
        )
    full = plan.remaining_total == 0 and not plan.already_total
    what = "Anula" if full else "Credita parte de"
    return DocumentDraft(
        order_id=order_id,
        external_reference=reference,
        type=pt_rules.CREDIT_NOTE,
        series=settings.series,
        date=issue_date,
        customer=customer,
        lines=plan.lines,
        prices_include_vat=plan.prices_include_vat,
        payment_method=None,
        warehouse=warehouse if warehouse is not None else settings.warehouse,
        move_stock=restock,
        notes=f"{what} {plan.original_number} (encomenda Jumpseller n.º {order_id}): {reason}",
        net_total=plan.net_total,
        vat_total=plan.vat_total,
        gross_total=plan.gross_total,
        vat_breakdown=plan.vat_breakdown,
        related_document=(plan.original_number, reason),
        warnings=plan.warnings,
    )
