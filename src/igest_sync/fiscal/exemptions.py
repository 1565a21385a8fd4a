"""Which AT exemption code a 0 % line takes: by destination (domestic, eu, export) and kind.

``[invoice.exemptions]`` holds one code per destination and kind (goods or shipping), the way
the better integrations keep them (pt-invoicing facts in docs/invoicing-rules.md, section 7).
The older ``product_exemption_code`` / ``shipping_exemption_code`` are the domestic pair when
``domestic_goods`` / ``domestic_shipping`` are not set, so existing configs keep working.
"""

from __future__ import annotations

from igest_sync.config import InvoiceConfig
from igest_sync.fiscal.destination import Zone

# The code an accountant usually gives for each destination, named in refusals as an example.
# Only the code: its meaning is iGEST's to say (`igest-sync check` shows iGEST's description of
# each configured code), never a text of ours. Under the small-business exemption (art. 53)
# every sale in Portugal and to the EU is exempt as M10; exports stay M05 (art. 14 CIVA).
INTRA_EU_CODE = "M16"  # art. 14.º RITI: an exempt supply of goods to a business in the EU
SMALL_BUSINESS_CODE = "M10"  # art. 53 CIVA: the small-business exemption
TYPICAL = {
    Zone.DOMESTIC: "M07",
    Zone.EU: INTRA_EU_CODE,
    Zone.EXPORT: "M05",
}
TYPICAL_ART53 = {**TYPICAL, Zone.DOMESTIC: SMALL_BUSINESS_CODE, Zone.EU: SMALL_BUSINESS_CODE}


def typical_code(settings: InvoiceConfig, zone: Zone) -> str:
    """The example code a refusal names for a 0 % line going to ``zone``."""
    return (TYPICAL_ART53 if settings.vat_regime == "art53" else TYPICAL)[zone]


def exemption_key(zone: Zone, shipping: bool) -> str:
    """The ``[invoice.exemptions]`` key: ``eu_goods``, ``export_shipping`` ..."""
    return f"{zone.value}_{'shipping' if shipping else 'goods'}"


def exemption_code(settings: InvoiceConfig, zone: Zone, shipping: bool) -> str | None:
    """The configured code for a 0 % line of this destination and kind, or None."""
    code = settings.exemptions.get(exemption_key(zone, shipping))
    if code is None and zone == Zone.DOMESTIC:
        code = settings.shipping_exemption_code if shipping else settings.product_exemption_code
    return code


def setting_to_fill(zone: Zone, shipping: bool) -> str:
    """What a refusal tells the merchant to set for this destination and kind."""
    # The current key only: the older product_/shipping_exemption_code still work, but a
    # refusal that named both would leave the merchant to choose between two spellings.
    return f"invoice.exemptions.{exemption_key(zone, shipping)}"
