"""Portuguese invoicing facts the tool relies on (sources and reasoning: docs/invoicing-rules.md).

Plain data, no logic beyond look-ups: the mapping, the config validation and ``check`` all read
these tables, so a change in the law is a change here only.
"""

from __future__ import annotations

from decimal import Decimal

from igest_sync.models import DocumentType

# AT's TaxExemptionCode list as of the 2025 table (M03 and M08 were withdrawn; M26 expired on
# 2024-01-04 but stays valid for documents about earlier supplies, so we keep accepting it).
# Codes only: what a code means is shown as iGEST describes it (GET /exemption-reasons,
# runs/invoicing/exemption_texts.py), never from a text of ours; sources word some codes differently
# (M44 to M46 above all).
# fmt: off
EXEMPTION_CODES: tuple[str, ...] = (
    "M01", "M02", "M04", "M05", "M06", "M07", "M09", "M10", "M11", "M12", "M13", "M14",
    "M15", "M16", "M19", "M20", "M21", "M25", "M26", "M30", "M31", "M32", "M33", "M34",
    "M40", "M41", "M42", "M43", "M44", "M45", "M46", "M99",
)
# fmt: on

REGIONS = ("PT", "PT-AC", "PT-MA")

# Legal VAT rates by region (2025/2026): normal, intermediate, reduced.
VAT_RATES: dict[str, dict[str, Decimal]] = {
    "PT": {"NOR": Decimal("23"), "INT": Decimal("13"), "RED": Decimal("6")},
    "PT-MA": {"NOR": Decimal("22"), "INT": Decimal("12"), "RED": Decimal("4")},
    "PT-AC": {"NOR": Decimal("16"), "INT": Decimal("9"), "RED": Decimal("4")},
}

# Sales documents this tool issues; NC is only ever issued against one of these.
INVOICE_TYPES = (DocumentType.FR, DocumentType.FT, DocumentType.FS)
CREDIT_NOTE = DocumentType.NC

# Fatura simplificada limits (art. 40 CIVA), read as VAT-inclusive amounts (the safe reading).
FS_LIMIT_GOODS_TO_CONSUMERS = Decimal("1000")
FS_LIMIT_OTHER = Decimal("100")

FINAL_CONSUMER_NIF = "999999990"

# SAF-T PaymentMechanism codes accepted on an FR.
PAYMENT_MECHANISMS: dict[str, str] = {
    "CC": "Cartão de crédito",
    "CD": "Cartão de débito",
    "CH": "Cheque bancário",
    "CI": "Crédito documentário internacional",
    "CO": "Cheque ou cartão oferta",
    "CS": "Compensação de saldos em conta corrente",
    "DE": "Dinheiro eletrónico",
    "LC": "Letra comercial",
    "MB": "Referências de pagamento para Multibanco",
    "NU": "Numerário",
    "OU": "Outro",
    "PR": "Permuta de bens",
    "TB": "Transferência bancária ou débito direto autorizado",
    "TR": "Títulos de compensação extrassalarial",
}


def legal_rates(region: str) -> set[Decimal]:
    """Rates a line may carry in ``region``; 0 is legal only with an exemption code."""
    return set(VAT_RATES[region].values()) | {Decimal("0")}


# NIF prefixes of natural persons (pt-invoicing.md §4: 1, 2, 3 residents, 45 non-residents);
# the FS limit for goods sold to consumers applies to them and to customers without a NIF.
INDIVIDUAL_NIF_PREFIXES = ("1", "2", "3", "45")

# Name printed for a customer who gave neither a NIF nor a name.
FINAL_CONSUMER_NAME = "Consumidor final"
