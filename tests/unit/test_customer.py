"""NIF / VAT number handling and the document's customer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.customer import (
    CustomerOverride,
    build_customer,
    customer_and_warnings,
    is_individual,
    normalize_nif,
    order_nif,
)
from igest_sync.models import Address, Customer, Order, OrderLine, Tax

VALID_PERSON = "123456789"  # check digit 9
VALID_COMPANY = "501964843"
INVALID = "123456780"  # wrong check digit


def make_order(
    billing: Address | None = None,
    fields: tuple[tuple[str, str], ...] = (),
    email: str | None = "ana@example.pt",
) -> Order:
    line = OrderLine(
        1, None, "SKU-1", "Caneca", D("1"), D("10.00"), D("0"), (Tax("IVA", D("23"), False, True),)
    )
    return Order(
        id=7,
        status="paid",
        created_at=None,
        completed_at=datetime(2026, 11, 20, tzinfo=UTC),
        currency="EUR",
        subtotal=D("10.00"),
        discount=D("0"),
        shipping=D("0"),
        shipping_discount=D("0"),
        gift_cards_discount=D("0"),
        tax=D("1.87"),
        shipping_tax=D("0"),
        total=D("10.00"),
        shipping_required=True,
        shipping_method_name=None,
        shipping_taxes=(),
        payment_method_name=None,
        payment_method_type=None,
        customer_email=email,
        billing=billing,
        additional_fields=fields,
        lines=(line,),
    )


ADDRESS = Address(
    name="Ana",
    surname="Silva",
    address="Rua Augusta 1",
    city="Lisboa",
    postal="1100-048",
    country_code="PT",
)


def _customer(nif: str | None, name: str) -> Customer:
    """The customer ADDRESS should become."""
    return Customer(
        nif=nif,
        name=name,
        email="ana@example.pt",
        address="Rua Augusta 1",
        postal_code="1100-048",
        city="Lisboa",
        country="PT",
    )


# -- order_nif --------------------------------------------------------------------------------


def test_order_nif_prefers_the_billing_taxid() -> None:
    order = make_order(replace(ADDRESS, taxid=" 123456789 "), fields=(("NIF", "501964843"),))
    assert order_nif(order, "NIF") == "123456789"


def test_order_nif_reads_the_custom_field_by_label_trimmed_and_case_insensitive() -> None:
    order = make_order(ADDRESS, fields=(("Empresa", "X"), ("  nif ", " 501964843 ")))
    assert order_nif(order, "NIF") == "501964843"
    assert order_nif(order, "Contribuinte") is None


def test_order_nif_skips_blank_values() -> None:
    order = make_order(replace(ADDRESS, taxid="  "), fields=(("NIF", " "), ("nif", "136695973")))
    assert order_nif(order, "nif") == "136695973"
    assert order_nif(make_order(None), "NIF") is None


# -- normalize_nif ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["PT 123 456 789", "pt123456789", "123.456.789", "123-456-789", " 123456789 "]
)
def test_portuguese_nif_formatting_is_stripped(raw: str) -> None:
    assert normalize_nif(raw, "PT") == (VALID_PERSON, None)
    assert normalize_nif(raw, None) == (VALID_PERSON, None)


@pytest.mark.parametrize("raw", [INVALID, "12345678", "1234567890", "023456789", "PT12345678X"])
def test_invalid_portuguese_nifs_are_reported(raw: str) -> None:
    number, error = normalize_nif(raw, "PT")
    assert number is None
    assert raw in error and "NIF" in error


def test_pt_prefix_means_portugal_whatever_the_billing_country() -> None:
    assert normalize_nif("PT501964843", "ES") == (VALID_COMPANY, None)


def test_eu_vat_numbers_are_checked_and_keep_their_prefix() -> None:
    assert normalize_nif("ES B12345674", "PT") == ("ESB12345674", None)
    assert normalize_nif("B-12345674", "ES") == ("ESB12345674", None)
    assert normalize_nif("136695976", "DE") == ("DE136695976", None)
    # Greece's VAT prefix is EL, whatever the customer typed or the ISO code says.
    assert normalize_nif("094259216", "GR") == ("EL094259216", None)
    assert normalize_nif("GR094259216", "PT") == ("EL094259216", None)


def test_invalid_eu_vat_number_names_the_country() -> None:
    number, error = normalize_nif("B12345675", "ES")
    assert number is None
    assert "ES" in error and "B12345675" in error


def test_a_portuguese_nif_given_from_abroad_is_accepted() -> None:
    assert normalize_nif("136695973", "FR") == ("136695973", None)


def test_a_number_outside_the_eu_is_kept_as_typed() -> None:
    assert normalize_nif(" 12-3456789 ", "US") == ("123456789", None)


def test_empty_number_is_an_error() -> None:
    assert normalize_nif("  ", "PT")[0] is None


def test_is_individual() -> None:
    assert is_individual(None)
    assert is_individual("123456789") and is_individual("299999998")
    assert is_individual("450000001")
    assert not is_individual(VALID_COMPANY)
    assert not is_individual("ESB12345674")
    assert not is_individual("1234567")  # a foreign number kept as typed is not a PT person


# -- build_customer ---------------------------------------------------------------------------


def test_customer_with_nif_takes_the_billing_details() -> None:
    order = make_order(replace(ADDRESS, taxid="PT 123 456 789"))
    assert build_customer(order, InvoiceConfig()) == _customer(VALID_PERSON, "Ana Silva")


def test_company_wins_over_the_person_name() -> None:
    order = make_order(replace(ADDRESS, company=" Loja da Ana, Lda ", taxid=VALID_COMPANY))
    assert build_customer(order, InvoiceConfig()).name == "Loja da Ana, Lda"


def test_nif_from_the_configured_custom_field() -> None:
    order = make_order(ADDRESS, fields=(("Número de contribuinte", "136 695 973"),))
    settings = InvoiceConfig(nif_field="número de contribuinte")
    assert build_customer(order, settings).nif == "136695973"
    assert build_customer(order, InvoiceConfig()).nif is None  # label "NIF" not present


def test_no_nif_with_a_name_keeps_name_and_address() -> None:
    assert build_customer(make_order(ADDRESS), InvoiceConfig()) == _customer(None, "Ana Silva")


def test_no_nif_and_no_name_is_the_anonymous_final_consumer() -> None:
    billing = Address(address="Rua Augusta 1", city="Lisboa", postal="1100-048", country_code="pt")
    customer = build_customer(make_order(billing), InvoiceConfig())
    assert customer.nif is None
    assert customer.name == "Consumidor final"
    assert (customer.address, customer.postal_code, customer.city) == (None, None, None)
    assert customer.country == "PT"
    assert customer.email == "ana@example.pt"


def test_missing_billing_defaults_to_portugal() -> None:
    customer = build_customer(make_order(None, email=None), InvoiceConfig())
    assert (customer.nif, customer.name, customer.country, customer.email) == (
        None,
        "Consumidor final",
        "PT",
        None,
    )


def test_the_generic_consumer_nif_means_no_nif() -> None:
    order = make_order(replace(ADDRESS, taxid="999999990"))
    assert build_customer(order, InvoiceConfig()).nif is None


def test_nif_without_any_name_still_gets_a_name() -> None:
    order = make_order(Address(taxid=VALID_COMPANY))
    customer = build_customer(order, InvoiceConfig())
    assert customer.nif == VALID_COMPANY
    assert VALID_COMPANY in customer.name


def test_foreign_eu_customer() -> None:
    billing = Address(
        company="Tienda SL",
        taxid="B12345674",
        address="Calle Mayor 1",
        city="Madrid",
        postal="28013",
        country_code="ES",
    )
    customer = build_customer(make_order(billing), InvoiceConfig())
    assert (customer.nif, customer.name, customer.country) == ("ESB12345674", "Tienda SL", "ES")


def test_invalid_nif_fails_by_default_naming_the_nif_and_the_fix() -> None:
    order = make_order(replace(ADDRESS, taxid=INVALID))
    with pytest.raises(OrderRejected) as caught:
        build_customer(order, InvoiceConfig())
    message = str(caught.value)
    assert INVALID in message
    assert "igest-sync resend 7 --nif" in message
    assert "igest-sync resend 7 --as-consumer" in message
    assert caught.value.order_id == 7


def test_invalid_nif_goes_to_the_final_consumer_with_a_warning_when_configured() -> None:
    order = make_order(replace(ADDRESS, taxid=INVALID))
    customer, warnings = customer_and_warnings(order, InvoiceConfig(invalid_nif="consumer"))
    assert customer.nif is None
    assert customer.name == "Ana Silva"  # a named consumer keeps the name
    assert len(warnings) == 1 and INVALID in warnings[0]


def test_override_nif_wins_over_an_invalid_order_nif() -> None:
    order = make_order(replace(ADDRESS, taxid=INVALID))
    customer, warnings = customer_and_warnings(
        order, InvoiceConfig(), CustomerOverride(nif="PT 501 964 843")
    )
    assert customer.nif == VALID_COMPANY
    assert warnings == ()


def test_invalid_override_nif_is_refused_whatever_the_policy() -> None:
    order = make_order(ADDRESS)
    with pytest.raises(OrderRejected, match=INVALID):
        build_customer(order, InvoiceConfig(invalid_nif="consumer"), CustomerOverride(nif=INVALID))


def test_as_consumer_override_drops_even_a_valid_nif() -> None:
    order = make_order(replace(ADDRESS, taxid=VALID_PERSON))
    customer = build_customer(order, InvoiceConfig(), CustomerOverride(as_consumer=True))
    assert customer.nif is None and customer.name == "Ana Silva"
    order = make_order(replace(ADDRESS, taxid=INVALID))
    assert build_customer(order, InvoiceConfig(), CustomerOverride(as_consumer=True)).nif is None


def test_both_overrides_at_once_are_refused() -> None:
    with pytest.raises(OrderRejected, match="--nif or --as-consumer"):
        build_customer(
            make_order(ADDRESS),
            InvoiceConfig(),
            CustomerOverride(nif=VALID_PERSON, as_consumer=True),
        )
