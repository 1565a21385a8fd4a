"""What a person asks to credit (``CreditRequest``) and what the planner answers: the NC
planned (``CreditPlan``, one ``CreditLine`` per reference of the original) or why not
(``CreditRefused``). The rules: ``plan.py``'s docstring.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from igest_sync.errors import OrderRejected
from igest_sync.models import Customer, DocumentLine, VatSummary


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
        if self.shipping:  # limited by its value: a part refunded by hand is one unit too
            return self.invoiced if self.remaining_amount > 0 else Decimal(0)
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
