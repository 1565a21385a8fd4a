"""Where a sale goes for VAT: domestic, the EU VAT territory, or an export (every edge)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from igest_sync.fiscal.destination import Zone, classify, order_destination
from igest_sync.models import Address
from tests.unit.test_mapping import make_order, product


def addr(country: str | None, postal: str | None = None, city: str | None = None, region=None):
    return Address(country_code=country, postal=postal, city=city, region=region)


@pytest.mark.parametrize(
    ("address", "zone", "country"),
    [
        # Portugal with its islands is domestic.
        (addr("PT", "1000-100", "Lisboa"), Zone.DOMESTIC, "PT"),
        (addr("PT", "9500-321", "Ponta Delgada"), Zone.DOMESTIC, "PT"),  # Azores
        (addr("PT", "9000-018", "Funchal"), Zone.DOMESTIC, "PT"),  # Madeira
        (addr(None), Zone.DOMESTIC, "PT"),  # no country: Portugal
        (None, Zone.DOMESTIC, "PT"),
        # The EU VAT territory.
        (addr("ES", "28001", "Madrid"), Zone.EU, "ES"),
        (addr("es", "08001", "Barcelona"), Zone.EU, "ES"),
        (addr("FR", "75001", "Paris"), Zone.EU, "FR"),
        (addr("FR", "38400", "Saint-Martin-d'Hères"), Zone.EU, "FR"),  # not Saint-Martin (MF)
        (addr("DE", "10115", "Berlin"), Zone.EU, "DE"),
        (addr("GR", "10552", "Athens"), Zone.EU, "GR"),
        (addr("EL", "10552", "Athens"), Zone.EU, "GR"),  # Greece's VAT code
        (addr("FI", "00100", "Helsinki"), Zone.EU, "FI"),
        (addr("IT", "20121", "Milano"), Zone.EU, "IT"),
        (addr("IE", "D02 X285", "Dublin"), Zone.EU, "IE"),
        (addr("MC", "98000", "Monaco"), Zone.EU, "FR"),  # Monaco counts as France
        (addr("XI", "BT1 1AA", "Belfast"), Zone.EU, "XI"),  # Northern Ireland: goods inside
        (addr("GB", "BT1 1AA", "Belfast"), Zone.EU, "XI"),
        # Parts of Member States outside the VAT territory: exports.
        (addr("ES", "35001", "Las Palmas de Gran Canaria"), Zone.EXPORT, "ES"),
        (addr("ES", "38001", "Santa Cruz de Tenerife"), Zone.EXPORT, "ES"),
        (addr("ES", "", "Arrecife", "Canarias"), Zone.EXPORT, "ES"),  # by region name
        (addr("ES", "51001", "Ceuta"), Zone.EXPORT, "ES"),
        (addr("ES", "52001", "Melilla"), Zone.EXPORT, "ES"),
        (addr("IC", "35001"), Zone.EXPORT, "IC"),
        (addr("FR", "97100", "Basse-Terre"), Zone.EXPORT, "FR"),  # Guadeloupe
        (addr("FR", "97200", "Fort-de-France"), Zone.EXPORT, "FR"),  # Martinique
        (addr("FR", "97300", "Cayenne"), Zone.EXPORT, "FR"),  # French Guiana
        (addr("FR", "97400", "Saint-Denis"), Zone.EXPORT, "FR"),  # Réunion
        (addr("FR", "97600", "Mamoudzou"), Zone.EXPORT, "FR"),  # Mayotte
        (addr("FR", "98800", "Nouméa"), Zone.EXPORT, "FR"),  # New Caledonia
        (addr("RE", "97400"), Zone.EXPORT, "RE"),
        (addr("FI", "22100", "Mariehamn"), Zone.EXPORT, "FI"),  # Åland
        (addr("AX", "22100"), Zone.EXPORT, "AX"),
        (addr("GR", "63086", "Karyes"), Zone.EXPORT, "GR"),  # Mount Athos
        (addr("GR", "", "", "Agion Oros"), Zone.EXPORT, "GR"),
        (addr("DE", "78266", "Büsingen am Hochrhein"), Zone.EXPORT, "DE"),
        (addr("DE", "", "Büsingen"), Zone.EXPORT, "DE"),
        (addr("DE", "27498", "Helgoland"), Zone.EXPORT, "DE"),
        (addr("IT", "23041", "Livigno"), Zone.EXPORT, "IT"),
        (addr("IT", "22061", "Campione d'Italia"), Zone.EXPORT, "IT"),
        (addr("IT", "6911", "Campione d'Italia"), Zone.EXPORT, "IT"),
        # Outside the EU.
        (addr("GB", "SW1A 1AA", "London"), Zone.EXPORT, "GB"),
        (addr("IM", "IM1 1AA", "Douglas"), Zone.EXPORT, "GB"),  # Isle of Man counts as UK
        (addr("CH", "8001", "Zürich"), Zone.EXPORT, "CH"),
        (addr("US", "10001", "New York"), Zone.EXPORT, "US"),
        (addr("NO", "0150", "Oslo"), Zone.EXPORT, "NO"),
        (addr("AD", "AD500"), Zone.EXPORT, "AD"),
    ],
)
def test_classify(address, zone, country) -> None:
    destination = classify(address)
    assert (destination.zone, destination.country) == (zone, country)


def test_an_export_from_a_member_state_names_the_territory() -> None:
    assert classify(addr("ES", "35001")).territory == "the Canary Islands"
    assert classify(addr("GR", "10552")).vat_prefix == "EL"


def test_the_shipping_address_decides_when_goods_are_shipped() -> None:
    order = make_order([product("10.00")], "10.00")
    order = replace(
        order, billing=addr("PT", "1000-100"), shipping_address=addr("ES", "28001", "Madrid")
    )
    assert order_destination(order).zone == Zone.EU
    # Nothing shipped (digital): the billing address decides.
    assert order_destination(replace(order, shipping_required=False)).zone == Zone.DOMESTIC
    # A shipping address without a country: billing decides.
    no_country = replace(order, shipping_address=addr(None, "28001"))
    assert order_destination(no_country).zone == Zone.DOMESTIC
    # Collected at the store: handed over in Portugal.
    pickup = replace(order, shipping_option="store_pickup")
    assert order_destination(pickup).zone == Zone.DOMESTIC


def test_billing_decides_when_there_is_no_shipping_address() -> None:
    order = replace(make_order([product("10.00")], "10.00"), billing=addr("US", "10001"))
    assert order_destination(order).zone == Zone.EXPORT
