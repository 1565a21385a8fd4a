"""Fitting an NC's lines to the cent: each within what is left of its reference, and each VAT
rate so that the NCs add up to the invoice's gross (with net prices iGEST rounds VAT once per
rate and document). The rules: ``plan.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from igest_sync.fiscal.credit.models import CreditRefused
from igest_sync.fiscal.credit.per_reference import (
    Ref,
    group_gross,
    in_basis,
    limited_by_value,
    line_gross,
    net_to_gross,
    price_mode,
    qty,
    vat_group,
)
from igest_sync.fiscal.money import (
    CENT,
    ZERO,
    fit_discount_percent,
    line_value,
    unit_price_for,
)
from igest_sync.models import DocumentLine, IssuedDocument, VatSummary

# How far (in cents) the NC that finishes a rate may move one line's net value so that the
# rate's gross adds up; VAT rounding differs by a cent or two per document, never more.
_MAX_CENTS = 5
# The cents it tries, nearest first: -0.01, 0.01, -0.02, 0.02 ...
_STEPS = tuple(sign * cents * CENT for cents in range(1, _MAX_CENTS + 1) for sign in (-1, 1))


def fit(line: DocumentLine, target: Decimal) -> DocumentLine | None:
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


def vat_gaps(
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


def close_groups(
    order_id: int,
    original: IssuedDocument,
    credits: Sequence[IssuedDocument],
    refs: dict[str, Ref],
    lines: list[DocumentLine],
    finishing: dict[str, int],
    warnings: list[str],
) -> _Closed:
    """Net prices only: make each VAT group this NC finishes add up to the invoice's gross,
    crediting no line beyond what is left of it (with VAT, line by line: iGEST's measure)."""
    if original.prices_include_vat:
        return _Closed(tuple(lines), True)  # the gross is the sum of the lines: exact already
    closing = set(finishing) | {r for r, ref in refs.items() if ref.used_up}
    invoiced = group_gross(original.lines, False)
    before: dict[tuple[str, Decimal], Decimal] = {}
    for nc in credits:
        own = [ln for ln in nc.lines if ln.reference in refs]
        for g, v in group_gross(own, bool(price_mode(nc))).items():
            before[g] = before.get(g, ZERO) + v
    # Per VAT group of this NC, what its gross must leave to the NCs after it: nothing when this
    # NC credits the last of the group; else no more than its references left can carry with
    # VAT, line by line (what iGEST limits by value, and so the planner for every reference):
    # one NC rounds VAT once for the group, and may leave the group a cent more than its lines
    # are worth, which no later NC could credit. When all that is left of the group is credited
    # by value (the shipping, services), exactly what they will carry: they can take no cent of
    # the group's VAT rounding, so this NC takes it while it still holds goods.
    aims: dict[tuple[str, Decimal], _Aim] = {}
    for group in {vat_group(ln) for ln in lines}:
        members = {ln.reference for ln in original.lines if vat_group(ln) == group}
        rest = tuple(refs[r] for r in sorted(members - closing))
        exact = all(ref.by_value for ref in rest)
        aims[group] = _Aim(invoiced[group] - before.get(group, ZERO), rest, exact)
    ahead = {group for group, aim in aims.items() if aim.rest}

    net, net_failed = _fit_groups(list(lines), aims, refs, False)
    at = positions(net)
    net_fits = all(_fits(refs, net, at, i, line_value(net[i]), False) for i in _lasts(net))
    if net_fits and not net_failed:
        return _Closed(tuple(net), False)
    inclusive: list[DocumentLine] | None
    try:
        inclusive, inclusive_failed = _fit_groups(
            _as_inclusive(order_id, lines, refs), aims, refs, True
        )
    except NoPrice as error:
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
            if all(limited_by_value(refs[ln.reference], ln) for ln in out if vat_group(ln) == group)
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
    rest: tuple[Ref, ...]
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
        self.base = sum((v for ln, v in zip(lines, values) if vat_group(ln) == group), ZERO)
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
        gross = base if self.inclusive else net_to_gross(base, self.group[1])
        return self.aim.left - gross - worth, gross - self.aim.left

    def trial(self, index: int, value: Decimal) -> tuple[Decimal, Decimal]:
        """The shortfall (and the overshoot) with ``lines[index]`` worth ``value``."""
        line = self.lines[index]
        base = self.base
        if vat_group(line) == self.group:
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


def _worth(ref: Ref, own: Sequence[tuple[DocumentLine, Decimal]], inclusive: bool) -> Decimal:
    """What the NCs after one crediting ``own`` (its lines of ``ref``, each with its value)
    can still credit of ``ref`` with VAT, line by line: all that is left of it with VAT for
    goods (a later NC may fit them up to it), and for what iGEST credits by value the most that
    a line within what is left of its value carries, as the NC that credits it will."""
    gross = ref.invoiced_gross - ref.already_gross
    gross -= sum((line_gross(ln, inclusive, value) for ln, value in own), ZERO)
    if not ref.by_value:
        return max(gross, ZERO)
    amount = sum((in_basis(value, ln, inclusive, ref.inclusive) for ln, value in own), ZERO)
    left = ref.invoiced_amount - ref.already_amount - amount
    line = ref.lines[-1]
    # ``_within`` for that line alone once ``own`` is credited: within what is left of the
    # reference's value, and of its value with VAT, line by line.
    value = _largest(left, lambda v: 0 <= v <= left and line_gross(line, ref.inclusive, v) <= gross)
    return line_gross(line, ref.inclusive, value or ZERO)


def _fit_groups(
    lines: list[DocumentLine],
    aims: dict[tuple[str, Decimal], _Aim],
    refs: dict[str, Ref],
    inclusive: bool,
) -> tuple[list[DocumentLine], dict[tuple[str, Decimal], Decimal]]:
    """``lines`` with each group moved to its aim by a few cents on one reference's last line,
    the largest that can take them while staying within what is left of it; and, per group
    that no line could bring to its aim, how far it is from it."""
    out = list(lines)
    values = [line_value(ln) for ln in out]
    at = positions(out)
    failed: dict[tuple[str, Decimal], Decimal] = {}
    for group, aim in aims.items():
        shortfall = _Shortfall(group, aim, out, values, at, inclusive)
        short = shortfall.short
        if aim.met(short, shortfall.over):
            continue
        candidates = sorted(
            (i for i in _lasts(out) if vat_group(out[i]) == group),
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
                fitted = fit(out[i], value)  # None: no price gives that value
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


def positions(lines: Sequence[DocumentLine]) -> dict[str, list[int]]:
    """Reference -> the indices of its lines in ``lines``."""
    at: dict[str, list[int]] = {}
    for i, ln in enumerate(lines):
        at.setdefault(ln.reference, []).append(i)
    return at


def _fits(
    refs: dict[str, Ref],
    lines: Sequence[DocumentLine],
    at: dict[str, list[int]],
    index: int,
    value: Decimal,
    inclusive: bool,
) -> bool:
    """Whether ``lines[index]`` at ``value`` keeps its reference within what is left of it
    (``at``: ``positions(lines)``)."""
    line = lines[index]
    ref = refs[line.reference]
    others = [lines[i] for i in at[line.reference] if i != index]
    return _within(ref, others, line, value, inclusive, by_amount=limited_by_value(ref, line))


def _within(
    ref: Ref,
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
    gross = ref.already_gross + line_gross(line, inclusive, value)
    gross += sum((line_gross(ln, inclusive) for ln in others), ZERO)
    if gross > ref.invoiced_gross:
        return False
    if not by_amount:
        return True
    amount = ref.already_amount + in_basis(value, line, inclusive, ref.inclusive)
    amount += sum((in_basis(line_value(ln), ln, inclusive, ref.inclusive) for ln in others), ZERO)
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


def allowed_value(
    order_id: int,
    ref: Ref,
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
            f"{ref.invoiced_gross} EUR with VAT, so {qty(line.quantity)} more cannot be "
            f"credited at its price ({upper} EUR); credit the rest by hand in iGEST",
        )
    return value


class NoPrice(Exception):
    """No unit price of 6 decimals (nor discount) gives ``line`` the value ``value``: only with
    quantities in the tens of thousands, where a millionth of a euro a unit is over a cent."""

    def __init__(self, line: DocumentLine, value: Decimal) -> None:
        super().__init__(f"{qty(line.quantity)} of {line.reference} {value} EUR")


def priced(line: DocumentLine, value: Decimal) -> DocumentLine:
    """``line`` worth exactly ``value``; NoPrice when no price gives it. Never the line at
    another value: a net line left in a VAT-inclusive NC credits its net value as if it
    included VAT, and the customer is refunded the VAT short, silently."""
    fitted = fit(line, value)
    if fitted is None:
        raise NoPrice(line, value)
    return fitted


def _as_inclusive(
    order_id: int, lines: list[DocumentLine], refs: dict[str, Ref]
) -> list[DocumentLine]:
    """The same NC with VAT-inclusive unit prices: each line at its value with VAT, and the
    last line of a reference that this would take beyond what is left of it (units of a net
    line rounded one by one) at what is left. NoPrice when a line cannot be priced so."""

    def inclusive(line: DocumentLine, value: Decimal) -> DocumentLine:
        unit_price = unit_price_for(value, line.quantity)
        return priced(replace(line, unit_price=unit_price, discount_percent=ZERO), value)

    at, lasts = positions(lines), _lasts(lines)
    last = set(lasts)
    out = [ln if i in last else inclusive(ln, line_gross(ln, False)) for i, ln in enumerate(lines)]
    for i in lasts:
        line = lines[i]
        ref = refs[line.reference]
        others = [out[j] for j in at[line.reference] if j != i]
        value = allowed_value(
            order_id,
            ref,
            others,
            line,
            True,
            upper=line_gross(line, False),
            by_amount=limited_by_value(ref, line),
        )
        out[i] = inclusive(line, value)
    return out
