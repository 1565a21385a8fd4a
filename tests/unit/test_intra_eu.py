"""Intra-EU supplies: which VAT number VIES must confirm, and what each VIES answer decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import OrderRejected
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.fiscal.intra_eu import source_skip_reason, vat_number_to_check, vies_verdict
from igest_sync.models import Address, ViesCheck, ViesStatus
from tests.unit.test_mapping import build, make_order, product
from tests.unit.test_mapping_xborder import ALL_CODES, SPAIN, USA, exempt_order, spanish_oss_order

DAY = date(2026, 11, 20)
BUSINESS = replace(SPAIN, company="Empresa SL", taxid="ESB12345674")


def test_an_exempt_sale_to_a_spanish_business_needs_its_number_checked() -> None:
    order = replace(exempt_order(SPAIN), billing=BUSINESS)
    assert vat_number_to_check(order, build(order, ALL_CODES), ALL_CODES) == "ESB12345674"


def test_an_exempt_sale_to_a_spanish_consumer_is_refused_with_the_fix() -> None:
    order = exempt_order(SPAIN)
    with pytest.raises(OrderRejected, match=r"resend 10452 --nif ES") as caught:
        vat_number_to_check(order, build(order, ALL_CODES), ALL_CODES)
    assert "VIES" in caught.value.reason
    # Plain words: no "VAT number is none", and "an ES" as the letters are said.
    assert "the customer has no VAT number" in caught.value.reason
    assert "with an ES VAT number" in caught.value.reason and "is none" not in caught.value.reason


def test_a_portuguese_nif_is_not_a_spanish_vat_number() -> None:
    order = replace(exempt_order(SPAIN), billing=replace(SPAIN, taxid="PT501964843"))
    with pytest.raises(OrderRejected, match="VAT number 501964843 is not an ES number"):
        vat_number_to_check(order, build(order, ALL_CODES), ALL_CODES)


def test_resend_nif_decides_the_number_to_check() -> None:
    order = exempt_order(SPAIN)
    draft = build(order, ALL_CODES, override=CustomerOverride(nif="ESB12345674"))
    assert vat_number_to_check(order, draft, ALL_CODES) == "ESB12345674"


@pytest.mark.parametrize("order_fn", [lambda: exempt_order(USA), spanish_oss_order])
def test_no_check_for_exports_or_taxed_sales(order_fn) -> None:
    order = order_fn()
    settings = replace(ALL_CODES, oss=True)
    assert vat_number_to_check(order, build(order, settings), settings) is None


def test_greece_is_checked_with_el() -> None:
    greece = Address(country_code="GR", postal="10552", city="Athens", taxid="EL094259216")
    order = replace(exempt_order(greece), billing=greece)
    assert vat_number_to_check(order, build(order, ALL_CODES), ALL_CODES) == "EL094259216"


ART53 = InvoiceConfig(
    vat_regime="art53",
    exemptions={
        "domestic_goods": "M10",
        "domestic_shipping": "M10",
        "eu_goods": "M10",
        "eu_shipping": "M10",
        "export_goods": "M05",
        "export_shipping": "M05",
    },
)


@pytest.mark.parametrize("billing", [SPAIN, BUSINESS])
def test_under_art53_a_sale_to_the_eu_is_exempt_as_m10_without_vies(billing) -> None:
    # An exempt small business makes no intra-EU supplies (art. 139 of the VAT Directive): a
    # consumer or a business in Spain is sold to under art. 53, and no VAT number is needed.
    order = replace(exempt_order(SPAIN), billing=billing)
    draft = build(order, ART53)
    assert [line.exemption_code for line in draft.lines] == ["M10", "M10"]
    assert vat_number_to_check(order, draft, ART53) is None
    # M10 is the small-business exemption only: without it, the sale is checked as intra-EU.
    normal = replace(ART53, vat_regime="normal")
    if billing is SPAIN:
        with pytest.raises(OrderRejected, match=r"VIES"):
            vat_number_to_check(order, build(order, normal), normal)
    else:
        assert vat_number_to_check(order, build(order, normal), normal) == "ESB12345674"


def test_a_zero_line_to_the_eu_without_a_code_names_the_code_of_the_regime() -> None:
    codes = {k: v for k, v in ART53.exemptions.items() if k != "eu_goods"}
    with pytest.raises(OrderRejected, match=r"eu_goods \(often M10;"):
        build(exempt_order(SPAIN), replace(ART53, exemptions=codes))
    normal = replace(ART53, vat_regime="normal", exemptions=codes)
    with pytest.raises(OrderRejected, match=r"eu_goods \(often M16;"):
        build(exempt_order(SPAIN), normal)


def test_valid_goes_invalid_fails_unavailable_waits() -> None:
    valid = ViesCheck("ES", "B12345674", ViesStatus.VALID, DAY, "W1")
    assert vies_verdict(10452, valid) is None
    invalid = replace(valid, status=ViesStatus.INVALID)
    with pytest.raises(OrderRejected, match=r"not valid .*--nif N.*") as caught:
        vies_verdict(10452, invalid)
    assert "ESB12345674" in caught.value.reason
    down = replace(valid, status=ViesStatus.UNAVAILABLE, consultation=None, detail="MS_UNAVAILABLE")
    wait = vies_verdict(10452, down)
    assert wait is not None and "MS_UNAVAILABLE" in wait and "next run" in wait


@pytest.mark.parametrize(
    ("source", "sources", "skipped"),
    [
        ("checkout", None, False),
        ("admin", None, False),
        (None, None, False),
        ("pos", None, True),
        ("pos", ("checkout", "pos"), False),
        ("api", ("checkout",), True),
        (None, ("checkout",), False),
    ],
)
def test_sources(source, sources, skipped) -> None:
    order = replace(make_order([product("1.00")], "1.00"), source=source)
    reason = source_skip_reason(order, InvoiceConfig(sources=sources))
    assert (reason is not None) == skipped
    if skipped:
        assert source in reason and "invoice.sources" in reason
