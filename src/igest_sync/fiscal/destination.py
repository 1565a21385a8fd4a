"""Where a sale goes for VAT: Portugal ("domestic"), the EU VAT territory ("eu") or elsewhere.

The destination is where the goods go: the shipping address, or the billing address when
nothing is shipped (a digital-only order: the customer's address decides, as for electronic
services). An order collected at the store (``shipping_option = store_pickup``) is handed over
in Portugal, so it is domestic whatever the addresses say.

The EU VAT territory is smaller than the EU (Directive 2006/112/EC art. 6-7): some parts of
Member States are outside it and a sale there is an export. Postal codes identify most of them
(docs/invoicing-rules.md, section 7): the Canary Islands (ES 35xxx, 38xxx), Ceuta (51xxx),
Melilla (52xxx), the French overseas departments and territories (97xxx, 98xxx except Monaco's
980xx), Åland (FI 22xxx), Mount Athos (GR 63086, 63087), Büsingen (DE 78266), Heligoland (DE
27498), Livigno (IT 23041) and Campione d'Italia (IT 22061, or the Swiss 6911).
The same places are recognised by name too, because postal codes are typed by hand. Monaco
counts as France; the Isle of Man as the United Kingdom (outside since 2021); Northern Ireland
(``XI``, or a GB address with a ``BT`` postcode) is inside for goods. Azores and Madeira are
Portugal.

Pure functions: an ``Order`` (or an address) in, a ``Destination`` out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from igest_sync.models import Address, Order


class Zone(StrEnum):
    """The three destinations that choose an exemption reason (``[invoice.exemptions]``)."""

    DOMESTIC = "domestic"
    EU = "eu"
    EXPORT = "export"


# The 27 Member States by ISO 3166-1 code (Greece is GR here; VIES and VAT numbers say EL).
MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# Codes that are another name for a place inside the territory: Greece's VAT prefix, Monaco
# (French VAT territory), and Northern Ireland's VAT code (inside for goods).
_ALIASES = {"EL": "GR", "MC": "FR", "UK": "GB", "IM": "GB"}


@dataclass(frozen=True)
class Destination:
    """``country``: the ISO code the sale goes to (``XI`` for Northern Ireland; Monaco is FR);
    ``zone``: domestic, eu or export; ``territory``: why an EU address is an export, if it is."""

    country: str
    zone: Zone
    territory: str | None = None

    @property
    def vat_prefix(self) -> str:
        """The country as VAT numbers and VIES spell it (Greece is EL)."""
        return "EL" if self.country == "GR" else self.country


def _plain(text: str | None) -> str:
    """Lower case without accents or punctuation: "Büsingen am Hochrhein" -> "busingen am ..."."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


def _digits(postal: str | None) -> str:
    return re.sub(r"\D", "", postal or "")


# (country, postal code prefixes, place names, what to call it) of the places outside the EU
# VAT territory. A name must equal the whole city or region (after ``_plain``): "Saint-Martin"
# is a French overseas collectivity, "Saint-Martin-d'Hères" a town near Grenoble.
_OUTSIDE: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "ES",
        ("35", "38"),
        ("canarias", "islas canarias", "canary islands", "las palmas", "santa cruz de tenerife"),
        "the Canary Islands",
    ),
    ("ES", ("51",), ("ceuta",), "Ceuta"),
    ("ES", ("52",), ("melilla",), "Melilla"),
    (
        "FR",
        # 971-976 the overseas departments (and Saint-Pierre-et-Miquelon), 977/978 Saint-
        # Barthélemy and Saint-Martin, 984-988 the Pacific territories; 980 is Monaco (inside).
        ("971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987", "988"),
        (
            "guadeloupe",
            "martinique",
            "guyane",
            "french guiana",
            "reunion",
            "la reunion",
            "mayotte",
            "saint pierre et miquelon",
            "saint barthelemy",
            "polynesie francaise",
            "french polynesia",
            "nouvelle caledonie",
            "new caledonia",
            "wallis et futuna",
        ),
        "a French overseas department or territory",
    ),
    ("FI", ("22",), ("aland", "ahvenanmaa", "mariehamn"), "Åland"),
    ("GR", ("63086", "63087"), ("agion oros", "mount athos", "agio oros"), "Mount Athos"),
    ("DE", ("78266",), ("busingen", "busingen am hochrhein"), "Büsingen"),
    ("DE", ("27498",), ("helgoland", "heligoland"), "Heligoland"),
    ("IT", ("23041",), ("livigno",), "Livigno"),
    ("IT", ("22061", "6911"), ("campione d italia",), "Campione d'Italia"),
)
# Non-EU ISO codes (and the two reserved for Spain's territories) of places in the list above.
_OVERSEAS_CODES = {
    "IC": "the Canary Islands",
    "EA": "Ceuta and Melilla",
    "AX": "Åland",
    "GP": "Guadeloupe",
    "MQ": "Martinique",
    "GF": "French Guiana",
    "RE": "Réunion",
    "YT": "Mayotte",
    "PM": "Saint-Pierre-et-Miquelon",
    "BL": "Saint-Barthélemy",
    "MF": "Saint-Martin",
}


def _outside_territory(
    country: str, postal: str | None, city: str | None, region: str | None
) -> str | None:
    """What to call the part of ``country`` outside the VAT territory the address is in."""
    digits = _digits(postal)
    names = {_plain(city), _plain(region)} - {""}
    for state, prefixes, places, label in _OUTSIDE:
        if state != country:
            continue
        if digits and any(digits.startswith(p) for p in prefixes):
            return label
        if names & set(places):
            return label
    return None


def _is_northern_ireland(code: str, postal: str | None) -> bool:
    # UK postcodes of Northern Ireland all start with BT.
    return code == "XI" or (
        code in ("GB", "UK") and (postal or "").strip().upper().startswith("BT")
    )


def classify(address: Address | None) -> Destination:
    """The destination of goods sent to ``address`` (no address or no country: Portugal)."""
    address = address or Address()
    code = (address.country_code or "").strip().upper() or "PT"
    if code in _OVERSEAS_CODES:
        return Destination(code, Zone.EXPORT, _OVERSEAS_CODES[code])
    if _is_northern_ireland(code, address.postal):
        return Destination("XI", Zone.EU, "Northern Ireland")
    country = _ALIASES.get(code, code)
    if country == "PT":
        return Destination("PT", Zone.DOMESTIC)
    if country not in MEMBER_STATES:
        return Destination(country, Zone.EXPORT)
    outside = _outside_territory(country, address.postal, address.city, address.region)
    if outside is not None:
        return Destination(country, Zone.EXPORT, outside)
    return Destination(country, Zone.EU)


def destination_address(order: Order) -> Address | None:
    """The shipping address when goods are shipped, else (or when it has no country) billing."""
    shipping = order.shipping_address
    if order.shipping_required and shipping is not None and (shipping.country_code or "").strip():
        return shipping
    return order.billing


def order_destination(order: Order) -> Destination:
    """Where ``order``'s goods go for VAT (see the module docstring)."""
    if order.shipping_option == "store_pickup":
        return Destination("PT", Zone.DOMESTIC)
    return classify(destination_address(order))
