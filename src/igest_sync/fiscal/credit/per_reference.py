"""The original's lines per reference and what the NCs issued already credited of each (``Ref``,
``refs_of``); a document's price mode; what a line is worth with VAT, or in the other price
basis. The rules: ``plan.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from igest_sync.fiscal.mapping import SHIPPING_REFERENCE
from igest_sync.fiscal.money import CENT, HUNDRED, ZERO, document_totals, line_value, round2
from igest_sync.models import DocumentLine, IssuedDocument


@dataclass
class Ref:
    """The original's lines of one reference, and what the NCs credited of it."""

    reference: str
    lines: tuple[DocumentLine, ...]
    inclusive: bool = True  # the original's price basis (of ``invoiced_amount``)
    already: Decimal = ZERO
    already_amount: Decimal = ZERO  # in the original's basis
    already_gross: Decimal = ZERO  # with VAT, line by line: what iGEST limits by value
    numbers: tuple[str, ...] = ()
    credited_lines: int = 0  # how many NC lines credited some of it (each rounds on its own)
    # Per VAT group of its lines, the gross of the original not yet credited by any NC, VAT
    # rounded once per group and document (the shipping's only: see ``used_up``).
    group_left: tuple[Decimal, ...] = ()

    @property
    def shipping(self) -> bool:
        return self.reference == SHIPPING_REFERENCE

    @property
    def by_value(self) -> bool:
        """Whether iGEST limits what NCs credit of every line of it by value
        (``limited_by_value``): what later NCs can credit of it is counted so (``fitting``'s
        ``_worth``, ``_Aim.exact``). A reference whose lines mix services and goods (iGEST holds
        one article per reference) is not, though each of its lines is priced by its own kind
        (``fitting``'s ``_fits``, ``_as_inclusive``)."""
        return all(limited_by_value(self, line) for line in self.lines)

    # The lines never change once ``refs_of`` has gathered them: their totals are counted once
    # (the planner asks for them in every check of what is left of a reference).
    @cached_property
    def invoiced(self) -> Decimal:
        return sum((line.quantity for line in self.lines), ZERO)

    @cached_property
    def invoiced_amount(self) -> Decimal:
        return sum((line_value(line) for line in self.lines), ZERO)

    @cached_property
    def invoiced_gross(self) -> Decimal:
        return sum((line_gross(line, self.inclusive) for line in self.lines), ZERO)

    @property
    def used_up(self) -> bool:
        if self.shipping:
            # Limited by its value, not its quantity: an NC made by hand that refunds part of
            # it (1 x 2.00 of 4.95) leaves the rest, credited whole by the next NC.
            if (
                self.already_amount >= self.invoiced_amount
                or self.already_gross >= self.invoiced_gross
            ):
                return True
            # Credited whole by its quantity, its rate credited in full by the NCs: used up,
            # though a cent or more short of its value. The NC that finished its rate may have
            # moved its value by the cents of VAT rounded once per document (``close_groups``):
            # crediting what it lacks would take the rate beyond the invoice (a 0.00 NC once
            # fitted). An NC made by hand that refunds part of it (1 x 4.94 of 4.95) leaves the
            # rest, credited whole by the next NC.
            return self.already >= self.invoiced and all(left <= 0 for left in self.group_left)
        return self.already >= self.invoiced

    def state(self) -> str:
        """ "SKU-1: 3 invoiced, 3 already credited (NC A/2, NC A/3)"."""
        if self.shipping:
            text = (
                f"shipping: {self.invoiced_amount} EUR invoiced, {self.already_amount} EUR "
                "already credited"
            )
        else:
            text = f"{self.reference}: {qty(self.invoiced)} invoiced, {qty(self.already)} "
            text += "already credited"
        return text + (f" ({', '.join(self.numbers)})" if self.numbers else "")


def vat_group(line: DocumentLine) -> tuple[str, Decimal]:
    # VAT is totalled per rate and, for OSS lines, per Member State.
    return (line.tax_country or "PT", line.vat_rate.quantize(CENT))


def group_gross(
    lines: Iterable[DocumentLine], inclusive: bool
) -> dict[tuple[str, Decimal], Decimal]:
    """Per VAT group, the gross iGEST computes for these lines (VAT rounded once per group)."""
    values: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        values[vat_group(line)] = values.get(vat_group(line), ZERO) + line_value(line)
    return {g: v if inclusive else net_to_gross(v, g[1]) for g, v in values.items()}


def qty(q: Decimal) -> str:
    return f"{q.normalize():f}"


def net_to_gross(base: Decimal, rate: Decimal) -> Decimal:
    return base + round2(base * rate / HUNDRED)


def line_gross(line: DocumentLine, inclusive: bool, value: Decimal | None = None) -> Decimal:
    """What ``line`` (or the same line at ``value``) is worth with VAT on its own: the measure
    by which iGEST limits a line credited by its value (the sandbox: anything but an article
    of type P). With net prices it is rounded line by line, so three units of 0.50 at 23 %
    are worth 0.62 each and the line of three 1.85, not 1.86."""
    value = line_value(line) if value is None else value
    return value if inclusive else net_to_gross(value, line.vat_rate.quantize(CENT))


def in_basis(value: Decimal, line: DocumentLine, inclusive: bool, basis: bool) -> Decimal:
    """``value`` of ``line`` (VAT-inclusive or not) in the other ``basis``, line by line."""
    if inclusive == basis:
        return value
    rate = line.vat_rate.quantize(CENT)
    if basis:
        return net_to_gross(value, rate)
    return value - round2(value * rate / (HUNDRED + rate))


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


def refs_of(original: IssuedDocument, credits: Sequence[IssuedDocument]) -> dict[str, Ref]:
    inclusive = price_mode(original) is not False
    lines: dict[str, list[DocumentLine]] = {}
    for line in original.lines:
        lines.setdefault(line.reference, []).append(line)
    refs = {r: Ref(r, tuple(own), inclusive) for r, own in lines.items()}
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
            ref.already_amount += in_basis(line_value(line), line, nc_inclusive, inclusive)
            ref.already_gross += line_gross(line, nc_inclusive)
            ref.credited_lines += 1
            number = nc.number or nc.id
            if number not in ref.numbers:
                ref.numbers += (number,)
    shipping = refs.get(SHIPPING_REFERENCE)
    if shipping is not None:
        left = group_gross(original.lines, inclusive)
        for nc in credits:
            nc_inclusive = price_mode(nc)
            own = [line for line in nc.lines if line.reference in refs]
            credited = group_gross(own, inclusive if nc_inclusive is None else nc_inclusive)
            for group, value in credited.items():
                left[group] = left.get(group, ZERO) - value
        shipping.group_left = tuple(
            left[group] for group in {vat_group(ln) for ln in shipping.lines}
        )
    return refs


def limited_by_value(ref: Ref, line: DocumentLine) -> bool:
    """Whether iGEST limits what its NCs credit of this line by value (the shipping line,
    services), not by quantity (goods)."""
    return ref.shipping or line.is_service
