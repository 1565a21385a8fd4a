"""Sales beyond Portugal in the mapping: exemption code by destination, exports, OSS, texts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.fiscal.destination import Zone
from igest_sync.fiscal.exemptions import exemption_code
from igest_sync.fiscal.mapping import with_vies_check
from igest_sync.models import Address, Order, ViesCheck, ViesStatus
from tests.unit.test_mapping import build, make_order, product, vat

SPAIN = Address(name="Ana", country_code="ES", postal="28001", city="Madrid", address="Calle 1")
CANARIES = Address(country_code="ES", postal="35001", city="Las Palmas")
USA = Address(country_code="US", postal="10001", city="New York")
LISBON = Address(country_code="PT", postal="1000-100", city="Lisboa")

ALL_CODES = InvoiceConfig(
    exemptions={
        "domestic_goods": "M07",
        "domestic_shipping": "M99",
        "eu_goods": "M16",
        "eu_shipping": "M16",
        "export_goods": "M05",
        "export_shipping": "M05",
    }
)


def to(address: Address, order: Order) -> Order:
    return replace(order, shipping_address=address, billing=address)


def exempt_order(address: Address) -> Order:
    """A 0 % product (10.00) and 0 % shipping (5.00): 15.00 paid."""
    order = make_order([product("10.00", taxes=())], "15.00", shipping="5.00")
    return to(address, order)


@pytest.mark.parametrize(
    ("address", "goods", "shipping"),
    [(LISBON, "M07", "M99"), (SPAIN, "M16", "M16"), (CANARIES, "M05", "M05"), (USA, "M05", "M05")],
)
def test_each_destination_takes_its_own_codes(address, goods, shipping) -> None:
    draft = build(exempt_order(address), ALL_CODES)
    product_line, shipping_line = draft.lines
    assert (product_line.exemption_code, shipping_line.exemption_code) == (goods, shipping)
    assert draft.gross_total == D("15.00")


@pytest.mark.parametrize("zone", list(Zone))
@pytest.mark.parametrize("shipping", [False, True])
def test_a_zero_line_without_a_code_for_its_destination_names_the_key(zone, shipping) -> None:
    address = {Zone.DOMESTIC: LISBON, Zone.EU: SPAIN, Zone.EXPORT: USA}[zone]
    key = f"{zone.value}_{'shipping' if shipping else 'goods'}"
    codes = {k: v for k, v in ALL_CODES.exemptions.items() if k != key}
    with pytest.raises(OrderRejected) as caught:
        build(exempt_order(address), InvoiceConfig(exemptions=codes))
    assert f"invoice.exemptions.{key}" in caught.value.reason
    assert ("shipping" if shipping else 'product "Caneca"') in caught.value.reason


def test_the_older_keys_are_the_domestic_pair_and_never_serve_abroad() -> None:
    old = InvoiceConfig(product_exemption_code="M10", shipping_exemption_code="M99")
    assert exemption_code(old, Zone.DOMESTIC, False) == "M10"
    assert exemption_code(old, Zone.DOMESTIC, True) == "M99"
    assert exemption_code(old, Zone.EU, False) is None
    assert exemption_code(old, Zone.EXPORT, True) is None
    newer = replace(old, exemptions={"domestic_goods": "M07"})
    assert exemption_code(newer, Zone.DOMESTIC, False) == "M07"
    with pytest.raises(OrderRejected, match=r"invoice\.exemptions\.export_goods"):
        build(exempt_order(USA), old)


def test_a_canary_islands_order_is_an_export_by_its_postal_code() -> None:
    codes = {"export_goods": "M05", "export_shipping": "M05"}
    draft = build(exempt_order(CANARIES), InvoiceConfig(exemptions=codes))
    assert {line.exemption_code for line in draft.lines} == {"M05"}


def test_the_shipping_address_wins_over_billing() -> None:
    order = replace(exempt_order(LISBON), shipping_address=USA)
    draft = build(order, ALL_CODES)
    assert draft.lines[0].exemption_code == "M05"


# -- OSS ------------------------------------------------------------------------------------


def spanish_oss_order() -> Order:
    """2 x 12.10 at ES 21 % included, shipping 6.05 at 21 % included: 30.25 paid."""
    order = make_order(
        [product("12.10", qty="2", taxes=vat("21"))],
        "30.25",
        shipping="6.05",
        shipping_taxes=vat("21"),
    )
    return to(SPAIN, order)


def test_an_oss_sale_to_spain_is_issued_at_21_percent_with_its_country() -> None:
    draft = build(spanish_oss_order(), InvoiceConfig(oss=True))
    assert [(line.vat_rate, line.tax_country) for line in draft.lines] == [
        (D("21.00"), "ES"),
        (D("21.00"), "ES"),
    ]
    # One (21 %, ES) bucket: VAT round2(30.25 x 21/121) = 5.25, base 25.00.
    (bucket,) = draft.vat_breakdown
    assert (bucket.rate, bucket.tax_country, bucket.base, bucket.vat) == (
        D("21.00"),
        "ES",
        D("25.00"),
        D("5.25"),
    )
    assert draft.gross_total == D("30.25") and draft.type == "FR"


def test_under_art53_an_oss_sale_keeps_the_customers_vat() -> None:
    # The art. 53 exemption is Portugal's; a sale taxed where the customer is (OSS) is not
    # refused by it.
    settings = replace(ALL_CODES, oss=True, vat_regime="art53")
    draft = build(spanish_oss_order(), settings)
    assert [(line.vat_rate, line.tax_country) for line in draft.lines] == [
        (D("21.00"), "ES"),
        (D("21.00"), "ES"),
    ]


def test_a_foreign_rate_is_a_bucket_of_its_own_beside_a_portuguese_line() -> None:
    # Madeira's 22 % and Italy's 22 % are two taxes; a PT 23 % line stays Portuguese.
    order = make_order(
        [product("12.20", taxes=vat("22")), product("12.30", taxes=vat("23"), sku="SKU-2")],
        "24.50",
    )
    order = to(Address(country_code="IT", postal="20121", city="Milano"), order)
    draft = build(order, InvoiceConfig(oss=True))
    assert [(s.rate, s.tax_country) for s in draft.vat_breakdown] == [
        (D("22.00"), "IT"),
        (D("23.00"), None),
    ]
    assert draft.gross_total == D("24.50")


def test_an_oss_sale_without_oss_enabled_says_what_to_enable() -> None:
    with pytest.raises(OrderRejected, match=r"oss = true") as caught:
        build(spanish_oss_order(), InvoiceConfig())
    assert "21 %" in caught.value.reason and "ES" in caught.value.reason


def test_an_oss_order_is_never_an_fs() -> None:
    settings = InvoiceConfig(oss=True, document_type="FS", fs_fallback="fail")
    with pytest.raises(OrderRejected, match=r"fatura simplificada \(FS\)"):
        build(spanish_oss_order(), settings)
    draft = build(spanish_oss_order(), replace(settings, fs_fallback="FT"))
    assert draft.type == "FT"
    assert any("OSS" in w for w in draft.warnings)


def test_an_intra_eu_supply_is_never_an_fs() -> None:
    # Its VAT is owed by the buyer in their own State: not due in Portugal (art. 40 CIVA).
    company = CustomerOverride(nif="ESB12345674")
    settings = replace(ALL_CODES, document_type="FS", fs_fallback="fail")
    with pytest.raises(OrderRejected, match=r"intra-EU supply \(M16\).*fatura simplificada"):
        build(exempt_order(SPAIN), settings, override=company)
    draft = build(exempt_order(SPAIN), replace(settings, fs_fallback="FR"), override=company)
    assert draft.type == "FR" and any("intra-EU supply" in w for w in draft.warnings)
    # An export (M05) and a domestic exemption stay within the FS rules.
    assert build(exempt_order(USA), settings).type == "FS"
    assert build(exempt_order(LISBON), settings).type == "FS"


def test_under_art53_an_fs_may_be_of_any_amount() -> None:
    order = make_order([product("1500.00", taxes=())], "1500.00")
    art53 = InvoiceConfig(
        vat_regime="art53",
        document_type="FS",
        fs_fallback="fail",
        exemptions={"domestic_goods": "M10"},
    )
    draft = build(order, art53)
    assert draft.type == "FS" and draft.gross_total == D("1500.00") and not draft.warnings
    with pytest.raises(OrderRejected, match=r"limit of a fatura simplificada"):
        build(order, replace(art53, vat_regime="normal"))


def test_a_rate_of_neither_portugal_nor_the_customers_state_is_refused() -> None:
    order = to(SPAIN, make_order([product("11.90", taxes=vat("19"))], "11.90"))
    with pytest.raises(OrderRejected, match=r"nor a rate of ES") as caught:
        build(order, InvoiceConfig(oss=True))
    assert "invoice.oss_rates" in caught.value.reason
    # A rate Spain introduced later is added by the config.
    draft = build(order, InvoiceConfig(oss=True, oss_rates={"ES": (D("19"),)}))
    assert draft.lines[0].tax_country == "ES"


def test_a_rate_a_member_state_withdrew_is_refused_for_supplies_from_that_day() -> None:
    # Romania's 19 % ended on 2025-08-01 (21 % since): a store whose tax table still charges 19 %
    # is refused, naming today's rates; a sale paid before the change is still issued at 19 %.
    bucharest = Address(country_code="RO", postal="010011", city="Bucuresti")
    order = to(bucharest, make_order([product("11.90", taxes=vat("19"))], "11.90"))
    with pytest.raises(
        OrderRejected, match=r"nor a rate of RO on 2026-11-20, where the goods go \(11 %, 21 %"
    ) as caught:
        build(order, InvoiceConfig(oss=True))
    assert "19 %" in caught.value.reason
    before = replace(order, completed_at=datetime(2025, 7, 31, 21, 0, tzinfo=UTC))
    draft = build(before, InvoiceConfig(oss=True))
    assert [(line.vat_rate, line.tax_country) for line in draft.lines] == [(D("19.00"), "RO")]
    # The supply's day is the payment's Lisbon day: 23:30 UTC on 31 July is 1 August there.
    late = replace(order, completed_at=datetime(2025, 7, 31, 23, 30, tzinfo=UTC))
    with pytest.raises(OrderRejected, match=r"nor a rate of RO"):
        build(late, InvoiceConfig(oss=True))


def test_a_rate_that_replaced_another_applies_from_its_first_day_only() -> None:
    # Finland's 14 % became 13.5 % on 2026-01-01.
    helsinki = Address(country_code="FI", postal="00100", city="Helsinki")
    order = to(helsinki, make_order([product("11.35", taxes=vat("13.5"))], "11.35"))
    assert build(order, InvoiceConfig(oss=True)).lines[0].tax_country == "FI"
    december = replace(order, completed_at=datetime(2025, 12, 15, 12, 0, tzinfo=UTC))
    with pytest.raises(OrderRejected, match=r"nor a rate of FI"):
        build(december, InvoiceConfig(oss=True))
    fourteen = to(helsinki, make_order([product("11.40", taxes=vat("14"))], "11.40"))
    with pytest.raises(OrderRejected, match=r"nor a rate of FI"):
        build(fourteen, InvoiceConfig(oss=True))
    assert build(replace(fourteen, completed_at=december.completed_at), InvoiceConfig(oss=True))


def test_portugals_vat_on_a_consumer_abroad_under_oss_is_issued_with_a_warning() -> None:
    # What was paid is issued; under OSS the consumer's State's VAT was due, so the store's
    # taxes want a look. Without OSS (below the threshold) Portugal's VAT is right: no warning.
    paris = Address(country_code="FR", postal="75001", city="Paris")
    order = to(paris, make_order([product("12.30", taxes=vat("23"))], "12.30"))
    draft = build(order, InvoiceConfig(oss=True))
    assert [(line.vat_rate, line.tax_country) for line in draft.lines] == [(D("23.00"), None)]
    [warning] = [w for w in draft.warnings if "oss is on" in w]
    assert "consumer in FR was charged Portugal's VAT (23 %)" in warning
    assert not [w for w in build(order, InvoiceConfig()).warnings if "oss" in w]
    business = CustomerOverride(nif="FR40303265045")
    assert not [
        w for w in build(order, InvoiceConfig(oss=True), override=business).warnings if "oss" in w
    ]


def test_another_states_vat_on_a_business_under_oss_is_issued_with_a_warning() -> None:
    # OSS covers sales to consumers only: a business with a VAT number of another Member State
    # buys exempt (M16, VIES) or, when VAT is charged, with Portugal's. What was paid is
    # issued (the document equals it to the cent), and the merchant is told what to check.
    business = replace(SPAIN, company="Cerámicas del Levante, S.L.", taxid="ESB87654323")
    order = to(business, make_order([product("10.00", taxes=vat("21"))], "10.00"))
    draft = build(order, InvoiceConfig(oss=True))
    assert draft.gross_total == D("10.00") and draft.customer.nif == "ESB87654323"
    assert [(line.vat_rate, line.tax_country) for line in draft.lines] == [(D("21.00"), "ES")]
    [warning] = [w for w in draft.warnings if "OSS" in w]
    assert warning.startswith("Order 10452: a business in ES (VAT number ESB87654323) was")
    assert "charged ES's VAT (21 %)" in warning and "consumers only; issued as paid" in warning
    assert "M16" in warning and "Portugal's VAT" in warning
    # A consumer there is what OSS is for: no warning, as for Portugal's VAT below the
    # threshold (no OSS) to the business, which the consumer check leaves alone too.
    consumer = replace(business, company=None, taxid=None)
    assert not [w for w in build(to(consumer, order), InvoiceConfig(oss=True)).warnings if w]
    domestic_rate = to(business, make_order([product("12.30", taxes=vat("23"))], "12.30"))
    assert not build(domestic_rate, InvoiceConfig(oss=True)).warnings


def test_a_foreign_rate_for_a_portuguese_customer_is_not_oss() -> None:
    order = to(LISBON, make_order([product("12.10", taxes=vat("21"))], "12.10"))
    with pytest.raises(OrderRejected, match="not legal in PT"):
        build(order, InvoiceConfig(oss=True))


# -- texts within iGEST's limits ---------------------------------------------------------------


def test_a_300_character_product_name_is_shortened_at_a_word_with_a_warning() -> None:
    name = " ".join(["Caneca"] * 43)  # 43 x 6 + 42 spaces = 300 characters
    assert len(name) == 300
    draft = build(make_order([product("10.00", name=name)], "10.00"))
    description = draft.lines[0].description
    assert len(description) <= 200 and description.endswith("…")
    assert description[:-1].split(" ") == ["Caneca"] * len(description[:-1].split(" "))
    assert any("300 characters" in w and "200" in w for w in draft.warnings)


def test_control_characters_are_removed_from_texts() -> None:
    order = make_order([product("10.00", name="Caneca\tazul\x00\n grande")], "10.00")
    order = replace(order, billing=Address(name="Ana\x1b", city="Lis\x07boa", country_code="PT"))
    draft = build(order)
    assert draft.lines[0].description == "Caneca azul grande"
    assert draft.customer.name == "Ana" and draft.customer.city == "Lis boa"


def test_a_sku_longer_than_60_characters_is_refused_naming_it() -> None:
    sku = "X" * 61
    with pytest.raises(OrderRejected, match=f"SKU {sku}") as caught:
        build(make_order([product("10.00", sku=sku)], "10.00"))
    assert "60" in caught.value.reason


def test_customer_fields_are_shortened_to_their_limits() -> None:
    billing = Address(
        name="N" * 50,
        surname="S" * 60,
        address="Rua " + "muito " * 30,
        city="C" * 60,
        postal="1" * 25,
        country_code="PT",
    )
    draft = build(replace(make_order([product("10.00")], "10.00"), billing=billing))
    customer = draft.customer
    assert len(customer.name) <= 100 and len(customer.address) <= 100
    assert len(customer.city) <= 50 and len(customer.postal_code) <= 20
    assert sum("shortened" in w for w in draft.warnings) == 4


# -- notes ----------------------------------------------------------------------------------


def test_the_checkout_note_is_copied_only_when_asked_and_within_500() -> None:
    order = replace(make_order([product("10.00")], "10.00"), customer_note="Deixar na porta " * 40)
    assert "Nota do cliente" not in build(order).notes
    draft = build(order, InvoiceConfig(copy_order_notes=True))
    assert "Nota do cliente: Deixar na porta" in draft.notes
    # iGEST takes the lines as one text joined by " | ": that text fits its 500 characters.
    assert len(" | ".join(draft.notes.splitlines())) <= 500
    assert draft.notes.endswith("…")
    assert draft.notes.splitlines()[0] == "Encomenda Jumpseller n.º 10452"


def test_the_vies_consultation_number_goes_on_the_notes() -> None:
    check = ViesCheck("ES", "B12345674", ViesStatus.VALID, date(2026, 11, 20), "WAPIAAAAX1")
    order = replace(exempt_order(SPAIN), billing=replace(SPAIN, taxid="ESB12345674"))
    draft = with_vies_check(build(order, ALL_CODES), order, ALL_CODES, check)
    assert "NIF ESB12345674 válido no VIES em 2026-11-20, consulta n.º WAPIAAAAX1" in (
        draft.notes.splitlines()
    )


def test_a_vies_check_changes_the_notes_alone_and_they_still_fit() -> None:
    # The issuer builds the document once, then adds the check: nothing else may differ from
    # the document as built, and the notes, now longer, still fit iGEST's 500 characters.
    check = ViesCheck("ES", "B12345674", ViesStatus.VALID, date(2026, 11, 20), "WAPIAAAAX1")
    order = replace(
        exempt_order(SPAIN),
        billing=replace(SPAIN, taxid="ESB12345674"),
        customer_note="Deixar na porta " * 40,
    )
    settings = replace(ALL_CODES, copy_order_notes=True)
    draft = build(order, settings)
    checked = with_vies_check(draft, order, settings, check)
    assert replace(checked, notes=draft.notes) == draft
    lines = checked.notes.splitlines()
    assert lines[:2] == [
        "Encomenda Jumpseller n.º 10452",
        "NIF ESB12345674 válido no VIES em 2026-11-20, consulta n.º WAPIAAAAX1",
    ]
    assert lines[2].startswith("Nota do cliente: Deixar na porta") and lines[2].endswith("…")
    assert len(" | ".join(lines)) <= 500 < len(" | ".join(lines)) + len("Deixar na porta ")
    assert sum("notes are longer" in w for w in checked.warnings) == 1


@pytest.mark.parametrize("invalid_nif", ["fail", "consumer"])
def test_an_invalid_number_on_an_exempt_eu_order_is_refused_with_the_fix_that_works(
    invalid_nif,
) -> None:
    # Its 0 % lines are exempt only for a Spanish business: the refusal offered
    # `--as-consumer` (always refused for such an order), and with invalid_nif = "consumer"
    # the order was refused as if the customer had typed no number at all.
    typed = replace(SPAIN, company="Cerámicas del Levante, S.L.", taxid="ESB87654324")
    settings = replace(ALL_CODES, invalid_nif=invalid_nif)
    with pytest.raises(OrderRejected) as caught:
        build(exempt_order(typed), settings)
    message = str(caught.value)
    assert "Order 10452: the customer's VAT number 'ESB87654324' is invalid" in message
    assert "igest-sync resend 10452 --nif ES<number>" in message
    assert "--as-consumer" not in message and "has no VAT number" not in message


def test_an_invalid_number_on_an_order_that_charged_vat_may_still_go_to_the_consumer() -> None:
    typed = replace(SPAIN, taxid="ESB87654324")
    order = to(typed, make_order([product("12.30")], "12.30"))  # Portugal's 23 % charged
    with pytest.raises(OrderRejected, match=r"--as-consumer"):
        build(order, ALL_CODES)
    draft = build(order, replace(ALL_CODES, invalid_nif="consumer"))
    assert draft.customer.nif is None  # as the setting says
