"""Rounding and iGEST's document totals rule (igest-api.md "Totals", pt-invoicing.md §7)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from igest_sync.fiscal.money import (
    document_totals,
    fit_discount_percent,
    line_value,
    round2,
    tidy,
    unit_price_for,
)
from igest_sync.models import DocumentLine


def doc_line(qty: str, unit: str, rate: str, pct: str = "0", ref: str = "X") -> DocumentLine:
    return DocumentLine(
        reference=ref,
        description=ref,
        quantity=D(qty),
        unit_price=D(unit),
        discount_percent=D(pct),
        vat_rate=D(rate),
        exemption_code="M10" if D(rate) == 0 else None,
    )


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("2.675", "2.68"),  # half-up, where binary floats would give 2.67
        ("2.665", "2.67"),  # half-up, not banker's rounding (2.66)
        ("2.6649", "2.66"),
        ("-2.675", "-2.68"),  # away from zero on the half
        ("10", "10.00"),
        ("0.005", "0.01"),
        ("0.0049999", "0.00"),
    ],
)
def test_round2_is_half_up_to_the_cent(value: str, rounded: str) -> None:
    result = round2(D(value))
    assert result == D(rounded)
    assert result.as_tuple().exponent == -2


def test_worked_example_vat_inclusive_line_gives_the_paid_total() -> None:
    # pt-invoicing.md §7: 3 x 9.99 at 23 %, VAT on the line gross.
    net, vat, gross, breakdown = document_totals([doc_line("3", "9.99", "23")], True)
    assert (net, vat, gross) == (D("24.37"), D("5.60"), D("29.97"))
    assert len(breakdown) == 1
    summary = breakdown[0]
    assert (summary.rate, summary.base, summary.vat) == (D("23"), D("24.37"), D("5.60"))


def test_worked_example_with_a_unit_price_rounded_first_loses_a_cent() -> None:
    # The table's second row: net unit 8.12 -> 24.36 net, 5.60 VAT, 29.96: why we never round
    # unit prices to the cent.
    net, vat, gross, _ = document_totals([doc_line("3", "8.12", "23")], False)
    assert (net, vat, gross) == (D("24.36"), D("5.60"), D("29.96"))


def test_worked_example_net_unit_price_with_six_decimals_gives_the_paid_total() -> None:
    net, vat, gross, _ = document_totals([doc_line("3", "8.123333", "23")], False)
    assert (net, vat, gross) == (D("24.37"), D("5.61"), D("29.98"))  # §7 third row: VAT on net
    # ... which is why a VAT-inclusive store's order goes out with VAT-inclusive prices.


def test_vat_is_rounded_once_per_rate_not_per_line() -> None:
    lines = [doc_line("1", "0.02", "23", ref=f"L{i}") for i in range(3)]
    net, vat, gross, breakdown = document_totals(lines, False)
    # Per line: 0.02 x 23 % = 0.0046 -> 0.00 each; per rate: 0.06 x 23 % = 0.0138 -> 0.01.
    assert (net, vat, gross) == (D("0.06"), D("0.01"), D("0.07"))
    assert [(s.rate, s.base, s.vat) for s in breakdown] == [(D("23"), D("0.06"), D("0.01"))]


def test_breakdown_groups_equal_rates_and_is_sorted_by_rate() -> None:
    lines = [
        doc_line("1", "12.30", "23"),
        doc_line("1", "5.30", "6"),
        doc_line("2", "11.30", "13.00"),
        doc_line("1", "12.30", "23.00"),
        doc_line("1", "7.00", "0"),
    ]
    net, vat, gross, breakdown = document_totals(lines, True)
    assert [(s.rate, s.base, s.vat) for s in breakdown] == [
        (D("0"), D("7.00"), D("0.00")),
        (D("6"), D("5.00"), D("0.30")),
        (D("13"), D("20.00"), D("2.60")),
        (D("23"), D("20.00"), D("4.60")),
    ]
    assert (net, vat, gross) == (D("52.00"), D("7.50"), D("59.50"))
    # Same lines in another order: same breakdown, representation included.
    assert document_totals(list(reversed(lines)), True)[3] == breakdown
    assert [str(s.rate) for s in breakdown] == ["0.00", "6.00", "13.00", "23.00"]


def test_discount_percent_applies_to_the_line_before_rounding() -> None:
    line = doc_line("3", "9.99", "23", pct="3.3367")
    # 29.97 x (1 - 0.033367) = 28.969991... -> 28.97
    assert line_value(line) == D("28.97")
    net, vat, gross, _ = document_totals([line], True)
    assert gross == D("28.97")
    assert vat == round2(D("28.97") * 23 / 123) == D("5.42")
    assert net == D("23.55")


def test_totals_of_no_lines_are_zero() -> None:
    assert document_totals([], True) == (D("0.00"), D("0.00"), D("0.00"), ())


@pytest.mark.parametrize(
    ("total", "qty", "unit"),
    [
        ("24.37", "3", "8.123333"),
        ("36.90", "3", "12.30"),
        ("10", "4", "2.50"),
        ("0", "2", "0.00"),
        ("1.00", "3", "0.333333"),
    ],
)
def test_unit_price_for_reproduces_the_line_total(total: str, qty: str, unit: str) -> None:
    price = unit_price_for(D(total), D(qty))
    assert price == D(unit)
    assert round2(D(qty) * price) == D(total)


def test_tidy_keeps_cents_and_drops_meaningless_zeros() -> None:
    assert str(tidy(D("12.300000"))) == "12.30"
    assert str(tidy(D("8.123300"))) == "8.1233"
    assert str(tidy(D("100"))) == "100.00"


@pytest.mark.parametrize(
    ("qty", "unit", "target", "pct"),
    [
        ("2", "20.00", "36.00", "10"),  # a round percent when one fits
        ("1", "6.00", "4.50", "25"),
        ("1", "10.00", "0.00", "100"),  # a free line: 100 %, never a negative line
        ("2", "5.00", "10.00", "0"),
    ],
)
def test_fit_discount_percent_exact_cases(qty: str, unit: str, target: str, pct: str) -> None:
    assert fit_discount_percent(D(qty), D(unit), D(target)) == D(pct)


def test_fit_discount_percent_uses_more_decimals_only_when_needed() -> None:
    pct = fit_discount_percent(D("3"), D("9.99"), D("28.97"))
    assert round2(D("29.97") * (1 - pct / 100)) == D("28.97")
    assert -pct.as_tuple().exponent <= 6
    assert D("3.3") < pct < D("3.4")


@given(
    qty=st.integers(1, 50),
    unit_cents=st.integers(1, 200_000),
    share=st.fractions(min_value=0, max_value=1),
)
def test_fit_discount_percent_reproduces_any_reachable_target(qty, unit_cents, share) -> None:
    unit = D(unit_cents) / 100
    listed = unit * qty
    target = round2(listed * D(share.numerator) / D(share.denominator))
    pct = fit_discount_percent(D(qty), unit, target)
    assert D(0) <= pct <= D(100)
    assert -pct.as_tuple().exponent <= 6
    assert round2(D(qty) * unit * (1 - pct / 100)) == target


rates = st.sampled_from(["0", "6", "13", "23", "4", "22"])


@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.integers(0, 100_000), rates, st.integers(0, 100)),
        min_size=0,
        max_size=8,
    ),
    st.booleans(),
)
def test_totals_reconcile_for_any_lines(raw_lines, inclusive) -> None:
    lines = [doc_line(str(q), str(D(c) / 100), r, str(p)) for q, c, r, p in raw_lines]
    net, vat, gross, breakdown = document_totals(lines, inclusive)
    # GrossTotal = NetTotal + TaxPayable, and the breakdown is what the totals are made of.
    assert gross == net + vat
    assert net == sum((s.base for s in breakdown), D(0))
    assert vat == sum((s.vat for s in breakdown), D(0))
    assert len({s.rate for s in breakdown}) == len(breakdown)
    for summary in breakdown:
        values = sum((line_value(x) for x in lines if x.vat_rate == summary.rate), D(0))
        if inclusive:
            assert summary.base + summary.vat == values
            assert summary.vat == round2(values * summary.rate / (100 + summary.rate))
        else:
            assert summary.base == values
            assert summary.vat == round2(values * summary.rate / 100)
        if summary.rate == 0:
            assert summary.vat == 0
