"""Named money scenarios: a Jumpseller order becomes the right iGEST document lines and totals.

Orders are written by hand with the figures Jumpseller would send; every expected figure is
worked out in a comment, not computed with the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.mapping import build_document, expected_gross
from igest_sync.fiscal.money import round2
from igest_sync.models import DocumentDraft, Order, OrderLine, Tax
from igest_sync.references import external_reference

ISSUE = date(2026, 11, 20)
PAID_AT = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)


def vat(rate: str, included: bool = True) -> tuple[Tax, ...]:
    return (Tax(f"IVA {rate}", D(rate), False, included),)


def product(
    price: str,
    qty: str = "1",
    taxes: tuple[Tax, ...] = vat("23"),
    discount: str = "0",
    sku: str | None = "SKU-1",
    name: str = "Caneca",
    product_id: int | None = 101,
    variant_id: int | None = None,
) -> OrderLine:
    return OrderLine(product_id, variant_id, sku, name, D(qty), D(price), D(discount), taxes)


def make_order(lines: list[OrderLine], total: str, **fields) -> Order:
    values = dict(
        id=10452,
        status="paid",
        created_at=PAID_AT,
        completed_at=PAID_AT,
        currency="EUR",
        subtotal=sum((x.price * x.qty for x in lines), D(0)),
        discount=sum((x.discount for x in lines), D(0)),
        shipping=D("0"),
        shipping_discount=D("0"),
        gift_cards_discount=D("0"),
        tax=D("0"),
        shipping_tax=D("0"),
        total=D(total),
        shipping_required=True,
        shipping_method_name=None,
        shipping_taxes=(),
        payment_method_name="Cartão",
        payment_method_type="card",
        customer_email="ana@example.pt",
        billing=None,
        additional_fields=(),
        lines=tuple(lines),
    )
    values.update({k: D(v) if isinstance(v, str) and k in _MONEY else v for k, v in fields.items()})
    return Order(**values)


_MONEY = {"shipping", "shipping_discount", "gift_cards_discount", "tax", "shipping_tax"}


def build(order: Order, settings: InvoiceConfig | None = None, **kw) -> DocumentDraft:
    return build_document(
        order,
        settings or InvoiceConfig(),
        reference=external_reference("mystore", order.id),
        issue_date=ISSUE,
        **kw,
    )


def totals(draft: DocumentDraft) -> tuple[D, D, D]:
    return draft.net_total, draft.vat_total, draft.gross_total


def line_value(line) -> D:
    """iGEST's line value, written out here again so the test does not trust the code."""
    return round2(line.quantity * line.unit_price * (1 - line.discount_percent / 100))


# -- the worked example and rates -----------------------------------------------------------


def test_three_at_9_99_and_23_percent_is_the_reference_example() -> None:
    draft = build(make_order([product("9.99", qty="3")], "29.97", tax="5.60"))
    assert totals(draft) == (D("24.37"), D("5.60"), D("29.97"))
    assert draft.prices_include_vat is True
    (line,) = draft.lines
    assert (line.reference, line.description, line.quantity) == ("SKU-1", "Caneca", D("3"))
    assert (line.unit_price, line.discount_percent, line.vat_rate) == (D("9.99"), 0, D("23"))
    assert line.exemption_code is None and line.is_service is False
    assert [(s.rate, s.base, s.vat) for s in draft.vat_breakdown] == [(23, D("24.37"), D("5.60"))]
    assert draft.notes == "Encomenda Jumpseller n.º 10452"
    assert (draft.type, draft.series, draft.date) == ("FR", "A", ISSUE)
    assert draft.external_reference == "jumpseller:mystore:10452"
    assert draft.order_id == 10452
    assert draft.warnings == ()


def test_mixed_23_13_and_6_percent() -> None:
    lines = [
        product("12.30", taxes=vat("23"), sku="A"),
        product("11.30", qty="2", taxes=vat("13"), sku="B"),
        product("5.30", taxes=vat("6"), sku="C"),
    ]
    # 12.30 + 22.60 + 5.30 = 40.20; VAT 2.30 + 2.60 + 0.30
    draft = build(make_order(lines, "40.20", tax="5.20"))
    assert totals(draft) == (D("35.00"), D("5.20"), D("40.20"))
    assert [(s.rate, s.base, s.vat) for s in draft.vat_breakdown] == [
        (6, D("5.00"), D("0.30")),
        (13, D("20.00"), D("2.60")),
        (23, D("10.00"), D("2.30")),
    ]
    assert [x.reference for x in draft.lines] == ["A", "B", "C"]
    assert [x.vat_rate for x in draft.lines] == [23, 13, 6]


def test_madeira_rates_are_legal_in_madeira_only() -> None:
    lines = [product("12.20", taxes=vat("22"), sku="A"), product("10.40", taxes=vat("4"), sku="B")]
    order = make_order(lines, "22.60")
    draft = build(order, InvoiceConfig(vat_region="PT-MA"))
    # 12.20 x 22/122 = 2.20; 10.40 x 4/104 = 0.40
    assert totals(draft) == (D("20.00"), D("2.60"), D("22.60"))
    with pytest.raises(OrderRejected) as caught:
        build(order)  # mainland: 22 % is not a rate
    message = str(caught.value)
    assert "22 %" in message and "PT" in message and "SKU A" in message


def test_mainland_rate_in_madeira_is_refused_naming_product_rate_and_region() -> None:
    order = make_order([product("12.30", sku="MUG-1", name="Caneca azul")], "12.30")
    with pytest.raises(OrderRejected) as caught:
        build(order, InvoiceConfig(vat_region="PT-MA"))
    message = str(caught.value)
    for part in ("MUG-1", "Caneca azul", "23 %", "PT-MA", "22 %"):
        assert part in message


def test_a_rate_that_is_legal_nowhere_is_refused() -> None:
    order = make_order([product("12.10", taxes=vat("21"))], "12.10")
    with pytest.raises(OrderRejected, match="21 %"):
        build(order)


# -- exemptions -------------------------------------------------------------------------------


def test_exempt_line_takes_the_configured_code() -> None:
    lines = [product("15.00", taxes=(), sku="BOOK", name="Livro"), product("12.30", sku="MUG")]
    draft = build(make_order(lines, "27.30"), InvoiceConfig(product_exemption_code="M10"))
    book, mug = draft.lines
    assert (book.vat_rate, book.exemption_code, book.unit_price) == (0, "M10", D("15.00"))
    assert mug.exemption_code is None
    assert [(s.rate, s.base, s.vat) for s in draft.vat_breakdown] == [
        (0, D("15.00"), D("0.00")),
        (23, D("10.00"), D("2.30")),
    ]
    assert totals(draft) == (D("25.00"), D("2.30"), D("27.30"))


def test_a_zero_rate_tax_entry_is_an_exempt_line_too() -> None:
    order = make_order([product("15.00", taxes=vat("0"))], "15.00")
    draft = build(order, InvoiceConfig(product_exemption_code="M07"))
    assert (draft.lines[0].vat_rate, draft.lines[0].exemption_code) == (0, "M07")


ART53 = InvoiceConfig(
    vat_regime="art53", exemptions={"domestic_goods": "M10", "domestic_shipping": "M10"}
)


def test_under_art53_an_order_without_vat_is_exempt_as_m10() -> None:
    order = make_order([product("15.00", taxes=())], "19.90", shipping="4.90")
    draft = build(order, ART53)
    assert [(line.vat_rate, line.exemption_code) for line in draft.lines] == [
        (0, "M10"),
        (0, "M10"),
    ]
    assert totals(draft) == (D("19.90"), D("0.00"), D("19.90"))


@pytest.mark.parametrize("taxed", ["product", "shipping"])
def test_under_art53_a_line_charging_portuguese_vat_is_refused_never_issued_with_it(
    taxed: str,
) -> None:
    # An exempt business states no VAT: VAT on its invoice would be due, out of the price.
    goods = vat("23") if taxed == "product" else ()
    shipping = vat("6") if taxed == "shipping" else ()
    order = make_order(
        [product("12.30", taxes=goods, sku="MUG")], "17.20", shipping="4.90",
        shipping_taxes=shipping,
    )  # fmt: skip
    assert build(order, InvoiceConfig(exemptions=ART53.exemptions)).gross_total == D("17.20")
    with pytest.raises(OrderRejected) as refused:
        build(order, ART53)
    what = "product MUG charges 23 %" if taxed == "product" else "shipping charges 6 %"
    assert what in refused.value.reason
    assert 'vat_regime is "art53"' in refused.value.reason
    hint = refused.value.hint or ""
    assert external_reference("mystore", 10452) in hint and "igest-sync resend 10452" in hint


def test_under_art53_the_refusal_names_every_line_that_charges_vat() -> None:
    # It named the first only: the merchant fixed that product in Jumpseller, and the next
    # order was refused for the next one.
    order = make_order(
        [product("12.30", taxes=vat("23"), sku="MUG"), product("10.60", taxes=vat("6"), sku="LIV")],
        "27.80", shipping="4.90", shipping_taxes=vat("23"),
    )  # fmt: skip
    with pytest.raises(OrderRejected) as refused:
        build(order, ART53)
    assert (
        "product MUG charges 23 % VAT, product LIV charges 6 % VAT and shipping charges 23 % VAT"
        in refused.value.reason
    ), refused.value.reason


def test_exempt_line_without_a_code_is_refused_naming_product_and_key() -> None:
    order = make_order([product("15.00", taxes=(), sku="BOOK-9", name="Livro")], "15.00")
    with pytest.raises(OrderRejected) as caught:
        build(order)
    message = str(caught.value)
    assert "BOOK-9" in message and "Livro" in message
    # The current key only (issue 18.7): not the legacy one beside it.
    assert "invoice.exemptions.domestic_goods" in message
    assert "product_exemption_code" not in message


def test_exemption_code_not_on_ats_list_is_refused() -> None:
    order = make_order([product("15.00", taxes=())], "15.00")
    with pytest.raises(OrderRejected, match="M08"):
        build(order, InvoiceConfig(product_exemption_code="M08"))  # withdrawn in 2023


def test_fixed_tax_is_refused_clearly() -> None:
    taxes = (Tax("Ecovalor", D("0.50"), True, True),)
    with pytest.raises(OrderRejected, match="fixed"):
        build(make_order([product("10.00", taxes=taxes)], "10.00"))


def test_two_percentage_taxes_on_a_line_are_refused() -> None:
    taxes = vat("23") + vat("6")
    with pytest.raises(OrderRejected, match="2 taxes"):
        build(make_order([product("10.00", taxes=taxes)], "10.00"))


# -- tax-excluded prices --------------------------------------------------------------------


def test_tax_excluded_order_goes_out_with_net_prices() -> None:
    lines = [
        product("10.00", qty="2", taxes=vat("23", False), sku="A"),
        product("5.00", taxes=vat("6", False), sku="B"),
    ]
    # 20.00 + 4.60 VAT, 5.00 + 0.30 VAT: the customer paid 29.90
    draft = build(make_order(lines, "29.90", tax="4.90"))
    assert draft.prices_include_vat is False
    assert [x.unit_price for x in draft.lines] == [D("10.00"), D("5.00")]
    assert totals(draft) == (D("25.00"), D("4.90"), D("29.90"))


def test_tax_excluded_order_whose_vat_was_rounded_per_line_falls_back_to_gross_prices() -> None:
    # Three lines of 0.02 net: Jumpseller's VAT per line is 0.00, so the customer paid 0.06;
    # iGEST with net prices would add round2(0.06 x 23 %) = 0.01 -> 0.07. Gross prices fit.
    lines = [product("0.02", taxes=vat("23", False), sku=s) for s in "ABC"]
    draft = build(make_order(lines, "0.06"))
    assert draft.prices_include_vat is True
    assert [x.unit_price for x in draft.lines] == [D("0.02")] * 3
    assert totals(draft) == (D("0.05"), D("0.01"), D("0.06"))


def test_a_total_rounded_per_rate_by_jumpseller_is_issued_with_a_warning() -> None:
    lines = [product("0.02", taxes=vat("23", False), sku=s) for s in "ABC"]
    draft = build(make_order(lines, "0.07"))  # VAT rounded on the order: what iGEST does too
    assert draft.prices_include_vat is False
    assert draft.gross_total == D("0.07")
    assert len(draft.warnings) == 1 and "0.06 EUR" in draft.warnings[0]


@pytest.mark.parametrize(
    ("lines", "shipping", "total"),
    [
        # Jumpseller rounds each line's amount to the cent, then its VAT (docs/money-model.md):
        # 3 x 3.335 = 10.005 -> 10.01 + 2.30 = 12.31; 7 x 0.333 = 2.331 -> 2.33 + 0.30 = 2.63;
        # shipping 2.00 + 0.46 = 2.46: 17.40, what was paid (unrounded, 17.396).
        (
            [
                product("3.335", qty="3", taxes=vat("23", False), sku="A"),
                product("0.333", qty="7", taxes=vat("13", False), sku="B"),
            ],
            "2.00",
            "17.40",
        ),
        # 9.999 -> 10.00 + 2.30 = 12.30 (unrounded, 12.29877).
        ([product("9.999", taxes=vat("23", False))], "0", "12.30"),
        # Two lines of 3 x 3.335: 2 x 12.31 = 24.62; their sub-cents added first would make
        # 24.61, a cent that no one paid or was charged.
        (
            [product("3.335", qty="3", taxes=vat("23", False), sku=s) for s in "AB"],
            "0",
            "24.62",
        ),
    ],
)
def test_prices_with_three_decimals_add_up_by_the_cent_without_a_warning(
    lines, shipping, total
) -> None:
    fields = {"shipping": shipping, "shipping_taxes": vat("23", False)} if shipping != "0" else {}
    draft = build(make_order(lines, total, **fields))
    assert draft.gross_total == D(total) and draft.prices_include_vat is False
    assert draft.warnings == ()


def test_tax_excluded_discounted_line_in_gross_mode_keeps_its_gross_amount() -> None:
    # 3 x 10.00 net, discount 1.00 -> 29.00 net + 6.67 VAT = 35.67; three lines of 0.02 net with
    # 0.00 VAT each: the customer paid 35.73. Net prices would give 29.06 + round2(6.6838) =
    # 35.74, so the document goes out with gross prices: 12.30 a unit, a discount that leaves
    # exactly 35.67 on the line.
    lines = [product("10.00", qty="3", discount="1.00", taxes=vat("23", False), sku="A")]
    lines += [product("0.02", taxes=vat("23", False), sku=s) for s in "BCD"]
    draft = build(make_order(lines, "35.73"))
    assert draft.prices_include_vat is True
    a = draft.lines[0]
    assert a.unit_price == D("12.30")
    assert D("3.33") <= a.discount_percent <= D("3.34")
    assert line_value(a) == D("35.67")
    assert draft.gross_total == D("35.73")


# -- discounts ------------------------------------------------------------------------------


def test_order_discount_spread_over_the_lines_becomes_discount_percents() -> None:
    lines = [
        product("20.00", qty="2", discount="4.00", sku="A"),
        product("15.00", discount="1.50", sku="B"),
    ]
    # 10 % off: 36.00 + 13.50 = 49.50; VAT 49.50 x 23/123 = 9.2561 -> 9.26
    draft = build(make_order(lines, "49.50"))
    assert [(x.unit_price, x.discount_percent) for x in draft.lines] == [
        (D("20.00"), D("10")),
        (D("15.00"), D("10")),
    ]
    assert totals(draft) == (D("40.24"), D("9.26"), D("49.50"))


def test_uneven_discount_gets_a_precise_percent_that_gives_the_exact_line() -> None:
    draft = build(make_order([product("9.99", qty="3", discount="1.00")], "28.97"))
    (line,) = draft.lines
    assert line.unit_price == D("9.99")
    assert D("3.33") <= line.discount_percent <= D("3.34")  # 1.00 of 29.97 is 3.3367 %
    assert line_value(line) == D("28.97")
    assert draft.gross_total == D("28.97")


def test_fully_discounted_line_is_a_zero_line_not_a_negative_one() -> None:
    lines = [product("10.00", sku="A"), product("5.00", discount="5.00", sku="GIFT")]
    draft = build(make_order(lines, "10.00"))
    assert draft.lines[1].discount_percent == 100
    assert line_value(draft.lines[1]) == 0
    assert draft.gross_total == D("10.00")


# -- shipping -------------------------------------------------------------------------------


def test_shipping_with_tax_is_a_service_line() -> None:
    order = make_order(
        [product("20.00")],
        "24.92",
        shipping="4.92",
        shipping_tax="0.92",
        shipping_taxes=vat("23"),
        shipping_method_name=" CTT Expresso ",
    )
    draft = build(order)
    _item, shipping = draft.lines
    assert (shipping.reference, shipping.description, shipping.is_service) == (
        "PORTES",
        "CTT Expresso",
        True,
    )
    assert (shipping.quantity, shipping.unit_price, shipping.vat_rate) == (1, D("4.92"), 23)
    # 24.92 x 23/123 = 4.6598 -> 4.66
    assert totals(draft) == (D("20.26"), D("4.66"), D("24.92"))


def test_free_shipping_has_no_line() -> None:
    order = make_order([product("20.00")], "20.00", shipping_taxes=vat("23"))
    assert [x.reference for x in build(order).lines] == ["SKU-1"]


def test_fully_discounted_shipping_has_no_line() -> None:
    order = make_order(
        [product("20.00")],
        "20.00",
        shipping="5.00",
        shipping_discount="5.00",
        shipping_taxes=vat("23"),
    )
    assert [x.reference for x in build(order).lines] == ["SKU-1"]


def test_shipping_discount_becomes_the_shipping_lines_discount() -> None:
    order = make_order(
        [product("20.00")],
        "24.50",
        shipping="6.00",
        shipping_discount="1.50",
        shipping_taxes=vat("23"),
    )
    shipping = build(order).lines[1]
    assert (shipping.description, shipping.unit_price, shipping.discount_percent) == (
        "Portes de envio",
        D("6.00"),
        D("25"),
    )
    assert build(order).gross_total == D("24.50")


def test_untaxed_shipping_needs_the_shipping_exemption_code() -> None:
    order = make_order([product("20.00")], "25.00", shipping="5.00")
    with pytest.raises(OrderRejected, match=r"invoice\.exemptions\.domestic_shipping \("):
        build(order, InvoiceConfig(product_exemption_code="M10"))
    draft = build(order, InvoiceConfig(shipping_exemption_code="M99"))
    assert (draft.lines[1].vat_rate, draft.lines[1].exemption_code) == (0, "M99")
    assert draft.gross_total == D("25.00")


def test_tax_excluded_shipping() -> None:
    order = make_order(
        [product("10.00", taxes=vat("23", False))],
        "18.45",
        shipping="5.00",
        shipping_taxes=vat("23", False),
    )
    # 10.00 + 2.30 and 5.00 + 1.15
    draft = build(order)
    assert draft.prices_include_vat is False
    assert totals(draft) == (D("15.00"), D("3.45"), D("18.45"))


# -- gift cards, digital orders, missing SKUs -----------------------------------------------


def test_gift_card_is_a_means_of_payment_not_a_discount() -> None:
    order = make_order([product("50.00")], "38.00", gift_cards_discount="12.00")
    draft = build(order)
    assert expected_gross(order) == D("50.00")
    assert totals(draft) == (D("40.65"), D("9.35"), D("50.00"))
    assert len(draft.lines) == 1 and draft.lines[0].discount_percent == 0
    assert "Pago com cartão-oferta: 12.00 EUR" in draft.notes.splitlines()


def test_order_paid_entirely_with_a_gift_card() -> None:
    order = make_order([product("12.30")], "0.00", gift_cards_discount="12.30")
    draft = build(order)
    assert draft.gross_total == D("12.30")
    assert "Pago com cartão-oferta: 12.30 EUR" in draft.notes


def test_digital_order_has_no_shipping_line() -> None:
    order = make_order(
        [product("9.99", taxes=vat("6"), sku="EBOOK")], "9.99", shipping_required=False
    )
    draft = build(order)
    assert [x.reference for x in draft.lines] == ["EBOOK"]
    assert totals(draft) == (D("9.42"), D("0.57"), D("9.99"))


def test_digital_order_that_charges_shipping_is_refused() -> None:
    order = make_order(
        [product("9.99")],
        "14.99",
        shipping="5.00",
        shipping_required=False,
        shipping_taxes=vat("23"),
    )
    with pytest.raises(OrderRejected, match="needs no shipping"):
        build(order)


def test_missing_sku_gets_the_fallback_reference_and_a_warning() -> None:
    lines = [
        product("10.00", sku=None, product_id=555, variant_id=777, name="T-shirt M"),
        product("10.00", sku="  ", product_id=556, name="Caneca"),
    ]
    draft = build(make_order(lines, "20.00"))
    assert [x.reference for x in draft.lines] == ["JS-555-777", "JS-556"]
    assert len(draft.warnings) == 2
    assert "T-shirt M" in draft.warnings[0] and "JS-555-777" in draft.warnings[0]
    custom = build(make_order(lines, "20.00"), InvoiceConfig(missing_sku_prefix="JUMP"))
    assert custom.lines[1].reference == "JUMP556"


def test_sku_and_name_are_trimmed() -> None:
    draft = build(make_order([product("1.00", sku=" A-1 ", name=" Caneca ")], "1.00"))
    assert (draft.lines[0].reference, draft.lines[0].description) == ("A-1", "Caneca")


# -- notes, payment and settings ------------------------------------------------------------


def test_payment_on_another_day_is_noted_in_lisbon_time() -> None:
    order = make_order(
        [product("1.00")], "1.00", completed_at=datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
    )
    assert build(order).notes.splitlines() == [
        "Encomenda Jumpseller n.º 10452",
        "Pago em 2026-11-18",
    ]
    # 23:30 UTC on 19 July is 00:30 on the 20th in Lisbon (summer time): the same day.
    summer = make_order(
        [product("1.00")], "1.00", completed_at=datetime(2026, 7, 19, 23, 30, tzinfo=UTC)
    )
    draft = build_document(
        summer, InvoiceConfig(), reference=f"jumpseller:s:{summer.id}", issue_date=date(2026, 7, 20)
    )
    assert "Pago em" not in draft.notes


def test_payment_method_follows_the_settings_for_an_fr_only() -> None:
    order = make_order([product("1.00")], "1.00", payment_method_type="multibanco")
    settings = InvoiceConfig(payment_methods={"multibanco": "MB", "card": "CC"})
    assert build(order, settings).payment_method == "MB"
    assert build(order).payment_method == "OU"
    assert build(order, InvoiceConfig(default_payment_method="TB")).payment_method == "TB"
    assert build(order, InvoiceConfig(document_type="FT")).payment_method is None


def test_series_warehouse_and_stock_come_from_the_settings() -> None:
    settings = InvoiceConfig(series="WEB", warehouse="ARM1", move_stock=False, document_type="FT")
    draft = build(make_order([product("1.00")], "1.00"), settings)
    assert (draft.type, draft.series, draft.warehouse, draft.move_stock) == (
        "FT",
        "WEB",
        "ARM1",
        False,
    )


def test_external_references() -> None:
    assert external_reference("mystore", 10452) == "jumpseller:mystore:10452"
    assert external_reference("mystore", 10452, "credit") == "jumpseller:mystore:10452:credit"
    with pytest.raises(ValueError):
        external_reference("mystore", 1, "refund")


def test_net_prices_with_vat_rounded_per_unit_are_issued_at_what_was_paid() -> None:
    # 3 x 9.99 + 23 % per unit is 3 x 12.29 = 36.87; per line it would be 36.86.
    order = make_order([product("9.99", qty="3", taxes=vat("23", included=False))], "36.87")
    draft = build(order)
    assert draft.gross_total == D("36.87") and draft.prices_include_vat
    [line] = draft.lines
    assert (line.unit_price, line.discount_percent) == (D("12.29"), D("0"))
    assert line_value(line) == D("36.87")
    assert sum(v.base + v.vat for v in draft.vat_breakdown) == D("36.87")
    assert draft.warnings  # the difference from the per-line rule is said, not hidden


def test_per_unit_rounding_is_not_guessed_for_discounted_lines() -> None:
    order = make_order(
        [product("9.99", qty="3", discount="1.00", taxes=vat("23", included=False))], "35.64"
    )
    with pytest.raises(OrderRejected, match="35.64"):
        build(order)


@pytest.mark.parametrize("shipping", ["4.00", "0"])
def test_a_product_with_the_shipping_lines_sku_is_refused_shipped_or_not(shipping) -> None:
    # Credit notes tell lines apart by reference: crediting the shipping credited this
    # product too (25.00 for 5.00 of shipping), and the product could not be credited by line.
    lines = [product("10.00", qty="2", sku=" PORTES "), product("3.00", sku="K1")]
    total = str(D("23.00") + D(shipping))
    order = make_order(lines, total, shipping=shipping)
    with pytest.raises(OrderRejected) as caught:
        build(order)
    message = str(caught.value)
    assert "10452" in message and "SKU PORTES" in message and "another SKU" in message
    assert "external reference jumpseller:mystore:10452" in caught.value.hint
    assert "igest-sync resend 10452" in caught.value.hint
    build(make_order([product("10.00", qty="2", sku="PORTES-2")], "20.00"))  # only that SKU
