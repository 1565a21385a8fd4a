"""Money arithmetic: rounding to the cent and iGEST's document totals rule.

iGEST computes a document's totals itself (``igest-api.md``, "Totals"); this module computes the
very same figures on the client, so the mapping knows, before anything is written, whether a
document will carry exactly the amount the customer paid. Everything is ``Decimal``; rounding is
half-up to the cent, as iGEST does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from igest_sync.models import DocumentLine, VatSummary

CENT = Decimal("0.01")
HUNDRED = Decimal("100")
ZERO = Decimal("0")


def eur(amount: Decimal, *, unit: bool = True) -> str:
    """An amount as a person reads it in a message: to the cent, thousands grouped
    ("1,109.50 EUR"); ``unit=False`` leaves the " EUR" out (a table's Amount column)."""
    text = f"{amount:,.2f}"
    return f"{text} EUR" if unit else text


def round2(x: Decimal) -> Decimal:
    """Round half-up to the cent (2.675 -> 2.68, -2.675 -> -2.68): the rule iGEST and AT use."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def line_value(line: DocumentLine) -> Decimal:
    """A line's value as iGEST computes it: round2(quantity x unit_price x (1 - discount/100)).

    The value is net or VAT-inclusive according to the document's ``prices_include_vat``.
    """
    factor = 1 - line.discount_percent / HUNDRED
    return round2(line.quantity * line.unit_price * factor)


def document_totals(
    lines: Sequence[DocumentLine], prices_include_vat: bool
) -> tuple[Decimal, Decimal, Decimal, tuple[VatSummary, ...]]:
    """(net_total, vat_total, gross_total, breakdown) exactly as iGEST computes them.

    VAT is rounded once per rate on the document (not per line), which is iGEST's rule:

    - prices excluding VAT: per rate, ``base`` = sum of line values and
      ``vat = round2(base x rate/100)``; the gross total is the sum of ``base + vat``;
    - prices including VAT: per rate, ``gross`` = sum of line values,
      ``vat = round2(gross x rate/(100 + rate))`` and ``base = gross - vat``; the gross total is
      the sum of the rates' ``gross``.

    The breakdown has one entry per distinct (rate, country), sorted by rate, then country
    (Portugal first), so that the result never depends on the order of the lines. A line under
    the OSS scheme carries another Member State's VAT: its rate is a bucket of its own even when
    a Portuguese line has the same figure (Madeira's 22 % and Italy's 22 % are two taxes).
    """
    per_rate: dict[tuple[Decimal, str], Decimal] = {}
    for line in lines:
        # Decimal("23") and Decimal("23.00") are the same rate; quantizing the key makes the
        # breakdown's representation independent of which line came first.
        key = (line.vat_rate.quantize(CENT), line.tax_country or "")
        per_rate[key] = per_rate.get(key, ZERO) + line_value(line)

    breakdown: list[VatSummary] = []
    for rate, country in sorted(per_rate):
        amount = per_rate[(rate, country)]
        if prices_include_vat:
            vat = round2(amount * rate / (HUNDRED + rate))
            base = amount - vat
        else:
            base = amount
            vat = round2(base * rate / HUNDRED)
        breakdown.append(VatSummary(rate=rate, base=base, vat=vat, tax_country=country or None))

    net_total = sum((s.base for s in breakdown), ZERO)
    vat_total = sum((s.vat for s in breakdown), ZERO)
    return round2(net_total), round2(vat_total), round2(net_total + vat_total), tuple(breakdown)


MICRO = Decimal("0.000001")  # iGEST accepts unit prices with up to 6 decimals
_MAX_DISCOUNT_PLACES = 6


def tidy(x: Decimal) -> Decimal:
    """Drop trailing zeros beyond the cent (8.123300 -> 8.1233, 12.300000 -> 12.30)."""
    if x == x.quantize(CENT):
        return x.quantize(CENT)
    return x.normalize()


def unit_price_for(line_total: Decimal, quantity: Decimal) -> Decimal:
    """The unit price (6 decimals at most) whose line reproduces ``line_total``.

    Derived from the line total, never the other way round: 3 x 9.99 gross at 23 % has a net
    line total of 24.37 and a unit price of 8.123333 (3 x 8.123333 rounds to 24.37), where a
    unit price rounded to 8.12 would give 24.36 (pt-invoicing.md §7).
    """
    return tidy((line_total / quantity).quantize(MICRO, rounding=ROUND_HALF_UP))


def fit_discount_percent(quantity: Decimal, unit_price: Decimal, target: Decimal) -> Decimal:
    """A discount percent (0..100, fewest decimals first, up to 6) such that iGEST's line value
    round2(quantity x unit_price x (1 - percent/100)) equals ``target``.

    When no percent reproduces the target (only with absurd quantities), the closest 6-decimal
    percent is returned: the caller compares the document's totals with what was paid, so a
    miss is reported there with both figures, never issued.
    """
    undiscounted = quantity * unit_price
    if round2(undiscounted) == target or undiscounted == 0:
        return ZERO
    exact = (1 - target / undiscounted) * HUNDRED
    candidate = ZERO
    for places in range(_MAX_DISCOUNT_PLACES + 1):
        candidate = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        candidate = min(max(candidate, ZERO), HUNDRED)
        if round2(undiscounted * (1 - candidate / HUNDRED)) == target:
            return candidate
    return candidate


@dataclass(frozen=True)
class LineAmounts:
    """A future document line with Jumpseller's amounts, before the price mode is chosen.

    ``listed`` (price x qty, or the shipping) and ``amount`` (after the line's discount: the
    money model's a_i) are in the line's own basis: VAT-inclusive when ``included``.
    """

    reference: str
    description: str
    quantity: Decimal
    rate: Decimal
    exemption_code: str | None
    is_service: bool
    included: bool
    listed: Decimal
    amount: Decimal
    tax_country: str | None = None  # another Member State's VAT (OSS); None: Portugal's

    def vat(self, amount: Decimal) -> Decimal:
        """The VAT of a line total in this line's basis, rounded per line as Jumpseller does."""
        if self.included:
            return round2(amount * self.rate / (HUNDRED + self.rate))
        return round2(amount * self.rate / HUNDRED)

    def in_basis(self, amount: Decimal, inclusive: bool) -> Decimal:
        """``amount`` (a line total in this line's basis) as a VAT-inclusive or a net total."""
        if inclusive == self.included:
            return amount
        return amount + self.vat(amount) if inclusive else amount - self.vat(amount)

    def gross(self) -> Decimal:
        """What the customer paid for this line, VAT included, by Jumpseller's rule (the money
        model's a_i + v_i): the amount rounded to the cent first, then its VAT.

        A price may have 3 decimals (3 x 3.335 = 10.005): Jumpseller charges 10.01. Summing the
        sub-cents instead would make a figure no one paid, off by a cent from the total when
        several lines round up (2 x 10.005 = 20.01, where Jumpseller charged 20.02)."""
        return self.in_basis(round2(self.amount), True)

    def taxed_per_unit(self) -> LineAmounts:
        """This net-priced line with VAT added to each unit and rounded there; itself otherwise.

        Only for undiscounted whole quantities: a discount has no per-unit figure to round.
        """
        if (
            self.included
            or self.rate == 0
            or self.amount != self.listed
            or self.quantity != self.quantity.to_integral_value()
            or self.quantity <= 1
        ):
            return self
        unit = self.listed / self.quantity
        unit_gross = unit + round2(unit * self.rate / HUNDRED)
        total = unit_gross * self.quantity
        return replace(self, included=True, listed=total, amount=total)

    def document_line(self, inclusive: bool) -> DocumentLine:
        """The iGEST line whose value is exactly this line's amount in the chosen basis."""
        listed = self.in_basis(self.listed, inclusive)
        target = self.in_basis(self.amount, inclusive)
        unit_price = unit_price_for(listed, self.quantity)
        return DocumentLine(
            reference=self.reference,
            description=self.description,
            quantity=self.quantity,
            unit_price=unit_price,
            discount_percent=fit_discount_percent(self.quantity, unit_price, target),
            vat_rate=self.rate.quantize(CENT),
            exemption_code=self.exemption_code,
            is_service=self.is_service,
            tax_country=self.tax_country,
        )


@dataclass(frozen=True)
class PricedLines:
    """Document lines in one price mode, with the totals iGEST will compute for them."""

    lines: tuple[DocumentLine, ...]
    prices_include_vat: bool
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    vat_breakdown: tuple[VatSummary, ...]


def natural_mode_is_inclusive(items: Sequence[LineAmounts]) -> bool:
    """VAT-inclusive prices unless the taxed products (else the taxed shipping) all exclude VAT.

    Portuguese stores show VAT-inclusive prices; an order without any VAT is inclusive too
    (both modes are then the same).
    """
    taxed = [i for i in items if i.rate != 0 and not i.is_service]
    taxed = taxed or [i for i in items if i.rate != 0]
    return not taxed or any(i.included for i in taxed)


def price_lines(items: Sequence[LineAmounts], paid: Decimal) -> PricedLines:
    """The lines in the first price mode whose iGEST gross total equals ``paid``.

    The natural mode comes first, the other one second: with per-line VAT rounding (the money
    model) VAT-inclusive prices always reproduce the gross, while net prices reproduce a total
    whose VAT was rounded per rate. When neither matches, the natural mode's lines are returned
    and the caller sees ``gross_total != paid``.
    """
    natural = natural_mode_is_inclusive(items)
    first: PricedLines | None = None
    candidates = [(items, natural), (items, not natural)]
    per_unit = [item.taxed_per_unit() for item in items]
    if per_unit != list(items):
        # A store with net prices may add VAT per unit (9.99 + 23 % shown as 12.29 each)
        # rather than per line: as VAT-inclusive unit prices, that is exactly what was paid.
        candidates.append((per_unit, True))
    for lines_in, inclusive in candidates:
        lines = tuple(item.document_line(inclusive) for item in lines_in)
        net, vat, gross, breakdown = document_totals(lines, inclusive)
        priced = PricedLines(lines, inclusive, net, vat, gross, breakdown)
        if gross == paid:
            return priced
        first = first or priced
    assert first is not None
    return first
