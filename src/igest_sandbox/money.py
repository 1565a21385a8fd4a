"""Money arithmetic of the sandbox, written independently of the client's mapping.

Two rules live here, each exactly as its reference states it:

* the Jumpseller order money model (``docs/money-model.md``), used to build orders whose
  every figure is consistent (``order_figures``);
* iGEST's document totals rule (``igest-api.md``, "Totals"), used by the iGEST emulator
  (``document_totals``).

The sandbox is an independent check of the client's arithmetic, so this module imports nothing
from the client side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def round2(value: Decimal) -> Decimal:
    """Half-up to the cent, the rounding both references prescribe."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """Decimal from a str/int/Decimal (floats go through ``str`` so 9.99 stays 9.99)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value)  # type: ignore[arg-type]


def vat_of(amount: Decimal, rate: Decimal, included: bool) -> Decimal:
    """VAT of one amount: the part at rate/(100+rate) when included, else rate/100 on top."""
    if rate == 0:
        return ZERO.quantize(CENT)
    if included:
        return round2(amount * rate / (HUNDRED + rate))
    return round2(amount * rate / HUNDRED)


def spread(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` (cents) over ``weights`` proportionally, shares summing exactly to it.

    Largest-remainder method in whole cents, ties to the earliest line, so an order-level
    discount becomes per-line discounts whose sum is the order's ``discount`` to the cent.
    """
    total_weight = sum(weights, ZERO)
    if not weights:
        return []
    if total_weight == 0:
        return [amount] + [ZERO.quantize(CENT)] * (len(weights) - 1)
    cents = int((amount / CENT).to_integral_value(rounding=ROUND_HALF_UP))
    exact = [Decimal(cents) * w / total_weight for w in weights]
    floors = [int(x) for x in exact]
    left = cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [(Decimal(c) * CENT).quantize(CENT) for c in floors]


@dataclass(frozen=True)
class LineMoney:
    """One order line in the money model: amount a_i = p_i*q_i - d_i and its VAT v_i."""

    price: Decimal
    qty: Decimal
    discount: Decimal
    rate: Decimal  # 0 when the line has no tax entry
    included: bool

    @property
    def amount(self) -> Decimal:
        return round2(self.price * self.qty - self.discount)

    @property
    def vat(self) -> Decimal:
        return vat_of(self.amount, self.rate, self.included)


@dataclass(frozen=True)
class OrderFigures:
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    shipping_discount: Decimal
    shipping_tax: Decimal
    tax: Decimal
    sale_value: Decimal  # V: what the document must total
    gift_cards_discount: Decimal
    total: Decimal  # V - gift card: what the payment method charged


def order_figures(
    lines: Iterable[LineMoney],
    *,
    shipping: Decimal,
    shipping_rate: Decimal,
    shipping_included: bool,
    shipping_discount: Decimal,
    gift_cards_discount: Decimal,
) -> OrderFigures:
    """Every order-level money field from its lines, per the money model."""
    lines = list(lines)
    subtotal = round2(sum((ln.price * ln.qty for ln in lines), ZERO))
    discount = round2(sum((ln.discount for ln in lines), ZERO))
    shipping_amount = round2(shipping - shipping_discount)
    shipping_tax = vat_of(shipping_amount, shipping_rate, shipping_included)
    tax = sum((ln.vat for ln in lines), ZERO) + shipping_tax
    value = sum((ln.amount for ln in lines), ZERO) + shipping_amount
    value += sum((ln.vat for ln in lines if not ln.included), ZERO)
    if not shipping_included:
        value += shipping_tax
    return OrderFigures(
        subtotal=subtotal,
        discount=discount,
        shipping=round2(shipping),
        shipping_discount=round2(shipping_discount),
        shipping_tax=shipping_tax,
        tax=round2(tax),
        sale_value=round2(value),
        gift_cards_discount=round2(gift_cards_discount),
        total=round2(value - gift_cards_discount),
    )


# --------------------------------------------------------------------------------------------
# iGEST's totals rule


@dataclass(frozen=True)
class RateTotals:
    rate: Decimal
    base: Decimal
    vat: Decimal
    tax_country: str = "PT"

    @property
    def gross(self) -> Decimal:
        return self.base + self.vat


@dataclass(frozen=True)
class DocumentTotals:
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    breakdown: tuple[RateTotals, ...]  # highest rate first


def line_value(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal) -> Decimal:
    """round2(quantity x unit_price x (1 - discount_percent/100)): net or gross by mode."""
    return round2(quantity * unit_price * (1 - discount_percent / HUNDRED))


def document_totals(
    lines: Iterable[tuple[Decimal, ...] | tuple[Decimal, Decimal, Decimal, Decimal, str]],
    prices_include_vat: bool,
) -> DocumentTotals:
    """iGEST totals from (quantity, unit_price, discount_percent, vat_rate[, tax_country])
    lines (the country defaults to PT).

    Exclusive: per rate, base = sum of line nets, vat = round2(base x rate/100).
    Inclusive: per rate, gross = sum of line grosses, vat = round2(gross x rate/(100+rate)),
    base = gross - vat. VAT is rounded once per rate, never per line. A rate is a rate of one
    country: ES 21 % and PT 21 % would be two entries. Portugal's rates come first, highest
    first, then each other country's (alphabetical), highest first.
    """
    sums: dict[tuple[str, Decimal], Decimal] = {}
    for quantity, unit_price, discount_percent, rate, *country in lines:
        key = (str(country[0]) if country else "PT", rate.normalize() if rate else ZERO)
        sums[key] = sums.get(key, ZERO) + line_value(quantity, unit_price, discount_percent)
    breakdown = []
    for key in sorted(sums, key=lambda k: (k[0] != "PT", k[0], -k[1])):
        tax_country, rate = key
        amount = sums[key]
        if prices_include_vat:
            vat = round2(amount * rate / (HUNDRED + rate))
            base = amount - vat
        else:
            base = amount
            vat = round2(base * rate / HUNDRED)
        breakdown.append(
            RateTotals(rate=rate, base=round2(base), vat=round2(vat), tax_country=tax_country)
        )
    net = sum((r.base for r in breakdown), ZERO)
    vat_total = sum((r.vat for r in breakdown), ZERO)
    return DocumentTotals(
        net_total=round2(net),
        vat_total=round2(vat_total),
        gross_total=round2(net + vat_total),
        breakdown=tuple(breakdown),
    )
