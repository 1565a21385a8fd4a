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

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from igest_sync.fiscal.credit.fitting import (
    NoPrice,
    allowed_value,
    close_groups,
    fit,
    positions,
    priced,
    vat_gaps,
)
from igest_sync.fiscal.credit.models import CreditLine, CreditPlan, CreditRefused, CreditRequest
from igest_sync.fiscal.credit.per_reference import Ref, price_mode, qty, refs_of
from igest_sync.fiscal.money import ZERO, document_totals, line_value
from igest_sync.models import DocumentLine, IssuedDocument


def _take(ref: Ref, quantity: Decimal) -> list[DocumentLine]:
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


def _wanted(
    order_id: int, original: IssuedDocument, refs: dict[str, Ref], request: CreditRequest
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
                order_id, f"{ref.state()}: at most {qty(left)} can still be credited"
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


def _quantity_hint(spec: str, refs: dict[str, Ref]) -> str:
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
    refs = refs_of(original, credits)
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
            fitted = fit(taken[-1], target)
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
            value = allowed_value(order_id, ref, taken[:-1], taken[-1], inclusive)
            try:
                taken[-1] = priced(taken[-1], value)
            except NoPrice as error:
                raise CreditRefused(
                    order_id,
                    f"no unit price of 6 decimals gives {error}; credit it by hand in iGEST",
                ) from None
        lines.extend(taken)

    warnings: list[str] = []
    closed = close_groups(order_id, original, credits, refs, lines, finishing, warnings)
    # The summary stays in the original's basis even when this NC switched to inclusive prices.
    basis = lines if closed.prices_include_vat != inclusive else closed.lines
    net, vat, gross, breakdown = document_totals(closed.lines, closed.prices_include_vat)
    at = positions(basis)
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
    warnings += vat_gaps(original, credits, breakdown, last=already + gross == original.gross_total)
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
