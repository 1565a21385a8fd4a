"""iGEST's partial credit-note rule (igest-api.md, "NC"): what all the NCs of one original
credit together never exceeds the original.

An NC's lines name the original's lines by ``reference``. Goods (a reference that is an iGEST
article of type ``P``) are limited by quantity: across the original's final NCs and this one,
the credited quantity of a reference is at most the original's. Anything else (the shipping
line, services, a reference with no article) is limited by value: the credited gross value is
at most the original's. Quantity, not value, for goods because a unit credited at a time
rounds each line to the cent on its own (three NCs of 1 x 3.335 are 10.02, the original line
of 3 x 3.335 is 10.01), and that is a legitimate full credit.

Only final NCs count as credited: a draft credits nothing until it is finalized, so the rule
is checked when a draft is created and again when it is finalized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from igest_sandbox.igest.rules import Problems
from igest_sandbox.money import ZERO, line_value, round2


@dataclass
class Credited:
    quantity: Decimal = ZERO
    value: Decimal = ZERO


def gross_value(line: dict[str, Any], prices_include_vat: bool) -> Decimal:
    """The line's VAT-inclusive value, whichever way the document states its prices."""
    value = line_value(line["quantity"], line["unit_price"], line["discount_percent"])
    if prices_include_vat:
        return value
    return round2(value * (1 + line["vat_rate"] / 100))


def _per_reference(doc: dict[str, Any]) -> dict[str, Credited]:
    sums: dict[str, Credited] = {}
    for line in doc["lines"]:
        entry = sums.setdefault(line["reference"], Credited())
        entry.quantity += line["quantity"]
        entry.value += gross_value(line, doc["prices_include_vat"])
    return sums


def credit_notes_of(documents: Iterable[dict[str, Any]], number: str) -> list[dict[str, Any]]:
    """Every NC (any status) whose related document is ``number``, oldest first."""
    return [
        d
        for d in documents
        if d["type"] == "NC" and (d["related_document"] or {}).get("number") == number
    ]


def already_credited(
    documents: Iterable[dict[str, Any]], number: str, *, leave_out: int | None = None
) -> dict[str, Credited]:
    """Per reference, what the final NCs of ``number`` credit (``leave_out``: a document id)."""
    total: dict[str, Credited] = {}
    for nc in credit_notes_of(documents, number):
        if nc["status"] != "final" or nc["id"] == leave_out:
            continue
        for reference, credited in _per_reference(nc).items():
            entry = total.setdefault(reference, Credited())
            entry.quantity += credited.quantity
            entry.value += credited.value
    return total


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != value.to_integral_value() else f"{value:.0f}"


def check_credit(
    nc: dict[str, Any],
    original: dict[str, Any],
    credited: dict[str, Credited],
    is_goods: Callable[[str], bool],
    problems: Problems,
) -> None:
    """Add a problem for each NC line that names no line of ``original`` or credits more of a
    reference than is left (the message says how much is left and how much was credited)."""
    invoiced = _per_reference(original)
    asked = _per_reference(nc)
    first_line: dict[str, int] = {}
    for i, line in enumerate(nc["lines"]):
        first_line.setdefault(line["reference"], i)
    number = original["number"]
    for reference, wanted in asked.items():
        path = f"lines[{first_line[reference]}]"
        if reference not in invoiced:
            problems.add(f"{path}.reference", f"{reference!r} is not a line of {number}")
            continue
        done = credited.get(reference, Credited())
        limit = invoiced[reference]
        if is_goods(reference):
            left = limit.quantity - done.quantity
            if wanted.quantity > left:
                problems.add(
                    f"{path}.quantity",
                    f"credits {_amount(wanted.quantity)} of {reference} but only "
                    f"{_amount(max(left, ZERO))} of {_amount(limit.quantity)} is left to credit "
                    f"on {number} ({_amount(done.quantity)} already credited)",
                )
        else:
            left = limit.value - done.value
            if wanted.value > left:
                problems.add(
                    path,
                    f"credits {wanted.value:.2f} of {reference} but only "
                    f"{max(left, ZERO):.2f} of {limit.value:.2f} is left to credit on {number} "
                    f"({done.value:.2f} already credited)",
                )
