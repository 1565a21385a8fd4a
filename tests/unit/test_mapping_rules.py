"""Mapping rules beyond the money: customer, document type, refusals (credit notes: test_credit)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.fiscal.mapping import build_document
from igest_sync.models import Address, DocumentDraft, Order, OrderLine, Tax
from igest_sync.references import external_reference

ISSUE = date(2026, 11, 20)
PAID_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
VAT23 = (Tax("IVA", D("23"), False, True),)
PERSON_NIF = "123456789"
COMPANY_NIF = "501964843"


def product(
    price: str,
    qty: str = "1",
    discount: str = "0",
    sku: str | None = "SKU-1",
    name: str = "Caneca",
    taxes=VAT23,
) -> OrderLine:
    return OrderLine(101, None, sku, name, D(qty), D(price), D(discount), taxes)


def make_order(total: str, lines: tuple[OrderLine, ...] | None = None, **fields) -> Order:
    lines = lines if lines is not None else (product(total),)
    values = dict(
        id=31,
        status="paid",
        created_at=PAID_AT,
        completed_at=PAID_AT,
        currency="EUR",
        subtotal=D(total),
        discount=D("0"),
        shipping=D("0"),
        shipping_discount=D("0"),
        gift_cards_discount=D("0"),
        tax=D("0"),
        shipping_tax=D("0"),
        total=D(total),
        shipping_required=True,
        shipping_method_name=None,
        shipping_taxes=(),
        payment_method_name=None,
        payment_method_type=None,
        customer_email="c@example.pt",
        billing=Address(
            name="Rui",
            surname="Costa",
            address="Rua Nova 2",
            city="Porto",
            postal="4000-001",
            country_code="PT",
        ),
        additional_fields=(),
        lines=lines,
    )
    values.update(fields)
    return Order(**values)


def build(order: Order, settings: InvoiceConfig | None = None, **kw) -> DocumentDraft:
    return build_document(
        order,
        settings or InvoiceConfig(),
        reference=external_reference("loja", order.id),
        issue_date=ISSUE,
        **kw,
    )


def with_nif(order: Order, nif: str) -> Order:
    return replace(order, billing=replace(order.billing, taxid=nif))


# -- customer on the document ---------------------------------------------------------------


def test_company_customer_with_formatted_nif() -> None:
    order = make_order("10.00")
    order = replace(
        order, billing=replace(order.billing, company="Costa & Filhos, Lda", taxid="PT 501 964 843")
    )
    customer = build(order).customer
    assert (customer.nif, customer.name, customer.city) == (
        COMPANY_NIF,
        "Costa & Filhos, Lda",
        "Porto",
    )
    assert customer.email == "c@example.pt"


def test_nif_in_the_checkout_custom_field() -> None:
    order = make_order("10.00", additional_fields=(("Observações", "x"), ("NIF", "136695973")))
    assert build(order).customer.nif == "136695973"


def test_invalid_nif_refuses_the_order_by_default() -> None:
    order = with_nif(make_order("10.00"), "123456780")
    with pytest.raises(OrderRejected) as caught:
        build(order)
    assert "123456780" in str(caught.value)
    assert "igest-sync resend 31 --nif" in str(caught.value)
    assert "--as-consumer" in str(caught.value)


def test_invalid_nif_under_the_consumer_policy_is_issued_with_a_warning() -> None:
    order = with_nif(make_order("10.00"), "123456780")
    draft = build(order, InvoiceConfig(invalid_nif="consumer"))
    assert draft.customer.nif is None
    assert any("123456780" in w for w in draft.warnings)


def test_overrides_win_over_the_order() -> None:
    order = with_nif(make_order("10.00"), "123456780")
    assert build(order, override=CustomerOverride(nif=COMPANY_NIF)).customer.nif == COMPANY_NIF
    draft = build(order, override=CustomerOverride(as_consumer=True))
    assert draft.customer.nif is None and draft.warnings == ()


def test_foreign_eu_vat_number() -> None:
    order = make_order(
        "10.00",
        billing=Address(company="Tienda SL", taxid="ESB12345674", city="Madrid", country_code="ES"),
    )
    customer = build(order).customer
    assert (customer.nif, customer.country) == ("ESB12345674", "ES")


# -- document type --------------------------------------------------------------------------

FS = InvoiceConfig(document_type="FS")


def test_fs_for_goods_to_a_consumer_up_to_1000() -> None:
    draft = build(make_order("1000.00"), FS)
    assert (draft.type, draft.payment_method) == ("FS", None)
    assert build(with_nif(make_order("999.99"), PERSON_NIF), FS).type == "FS"
    assert build(with_nif(make_order("500.00"), "450000001"), FS).type == "FS"  # non-resident


def test_fs_above_1000_for_a_consumer_falls_back_with_a_warning() -> None:
    draft = build(make_order("1000.01"), FS)
    assert (draft.type, draft.payment_method) == ("FR", "OU")
    assert any("1000.00 EUR" in w and "FR" in w for w in draft.warnings)
    assert build(make_order("1000.01"), replace(FS, fs_fallback="FT")).type == "FT"


def test_fs_for_a_company_only_up_to_100() -> None:
    assert build(with_nif(make_order("100.00"), COMPANY_NIF), FS).type == "FS"
    assert build(with_nif(make_order("100.01"), COMPANY_NIF), FS).type == "FR"


def test_fs_for_a_digital_order_only_up_to_100() -> None:
    assert build(make_order("100.01", shipping_required=False), FS).type == "FR"
    assert build(make_order("100.00", shipping_required=False), FS).type == "FS"


def test_fs_above_the_limit_with_fallback_fail_is_refused() -> None:
    with pytest.raises(OrderRejected) as caught:
        build(with_nif(make_order("150.00"), COMPANY_NIF), replace(FS, fs_fallback="fail"))
    assert "100.00 EUR" in str(caught.value) and "150.00 EUR" in str(caught.value)
    assert "invoice.fs_fallback" in str(caught.value)


def test_fs_limit_counts_the_gift_card() -> None:
    # The document carries 1010.00 (total 900.00 + gift card 110.00): above the FS limit.
    order = make_order("900.00", lines=(product("1010.00"),), gift_cards_discount=D("110.00"))
    assert build(order, FS).type == "FR"


# -- refusals -------------------------------------------------------------------------------


def test_non_euro_order_is_refused() -> None:
    with pytest.raises(OrderRejected) as caught:
        build(make_order("10.00", currency="USD"))
    assert "USD" in str(caught.value) and "EUR" in str(caught.value)


def test_the_document_and_a_refusal_carry_the_reference_they_are_given() -> None:
    # The reference is the order's work's (state/work.py): the mapping is given it, it does
    # not make one of its own, and a refusal's "invoice it by hand" names the same.
    order = make_order("10.00")
    assert build_document(order, InvoiceConfig(), reference="r:1", issue_date=ISSUE) == replace(
        build(order), external_reference="r:1"
    )
    with pytest.raises(OrderRejected) as caught:
        build_document(
            replace(order, currency="USD"), InvoiceConfig(), reference="r:1", issue_date=ISSUE
        )
    assert caught.value.hint is not None and "external reference r:1 " in caught.value.hint


def test_defects_are_listed() -> None:
    defects = ("products[1].qty is 'abc', not a number", "total is missing")
    with pytest.raises(OrderRejected) as caught:
        build(make_order("10.00", defects=defects))
    assert all(d in str(caught.value) for d in defects)


def test_order_without_products_is_refused() -> None:
    with pytest.raises(OrderRejected, match="no products"):
        build(make_order("0.00", lines=()))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (product("10.00", qty="0", sku="Q0", name="Zero"), "quantity"),
        (product("10.00", qty="-1", sku="Q0", name="Zero"), "quantity"),
        (product("-10.00", sku="Q0", name="Zero"), "price"),
        (product("10.00", discount="-1.00", sku="Q0", name="Zero"), "discount"),
        (product("10.00", discount="10.01", sku="Q0", name="Zero"), "discount"),
    ],
)
def test_bad_lines_are_refused_naming_the_product(line: OrderLine, words: str) -> None:
    with pytest.raises(OrderRejected) as caught:
        build(make_order("10.00", lines=(product("10.00", sku="OK"), line)))
    message = str(caught.value)
    assert "Q0" in message and "Zero" in message and words in message


def test_an_order_that_does_not_add_up_is_refused_with_both_figures() -> None:
    order = make_order("29.96", lines=(product("9.99", qty="3"),))
    with pytest.raises(OrderRejected) as caught:
        build(order)
    message = str(caught.value)
    assert "document total 29.97 EUR would differ from the 29.96 EUR the customer paid" in message
    assert caught.value.order_id == 31


# -- determinism ----------------------------------------------------------------------------


def test_building_twice_gives_equal_drafts() -> None:
    lines = (product("9.99", qty="3", discount="1.00"), product("5.00", sku=None))
    order = make_order(
        "33.97",
        lines=lines,
        shipping=D("5.00"),
        shipping_taxes=VAT23,
        gift_cards_discount=D("5.00"),
    )
    settings = InvoiceConfig(payment_methods={"b": "MB", "a": "CC"})
    assert build(order, settings) == build(order, settings)
