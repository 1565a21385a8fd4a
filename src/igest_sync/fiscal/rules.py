"""Portuguese invoicing facts the tool relies on (sources and reasoning: docs/invoicing-rules.md).

Plain data, no logic beyond look-ups: the mapping, the config validation and ``check`` all read
these tables, so a change in the law is a change here only.
"""

from __future__ import annotations

from decimal import Decimal

from igest_sync.models import DocumentType

# AT's TaxExemptionCode list as of the 2025 table (M03 and M08 were withdrawn; M26 expired on
# 2024-01-04 but stays valid for documents about earlier supplies, so we keep accepting it).
EXEMPTION_CODES: dict[str, str] = {
    "M01": "Artigo 16.º, n.º 6 do CIVA",
    "M02": "Artigo 6.º do Decreto-Lei n.º 198/90",
    "M04": "Isento artigo 13.º do CIVA",
    "M05": "Isento artigo 14.º do CIVA",
    "M06": "Isento artigo 15.º do CIVA",
    "M07": "Isento artigo 9.º do CIVA",
    "M09": "IVA - não confere direito a dedução",
    "M10": "IVA – regime de isenção",
    "M11": "Regime particular do tabaco",
    "M12": "Regime da margem de lucro – Agências de viagens",
    "M13": "Regime da margem de lucro – Bens em segunda mão",
    "M14": "Regime da margem de lucro – Objetos de arte",
    "M15": "Regime da margem de lucro – Objetos de coleção e antiguidades",
    "M16": "Isento artigo 14.º do RITI",
    "M19": "Outras isenções",
    "M20": "IVA - regime forfetário",
    "M21": "IVA – não confere direito à dedução (ou expressão similar)",
    "M25": "Mercadorias à consignação",
    "M26": "Isenção de IVA com direito à dedução no cabaz alimentar",
    "M30": "IVA - autoliquidação (artigo 2.º, n.º 1, alínea i) do CIVA)",
    "M31": "IVA - autoliquidação (artigo 2.º, n.º 1, alínea j) do CIVA)",
    "M32": "IVA - autoliquidação (artigo 2.º, n.º 1, alínea l) do CIVA)",
    "M33": "IVA - autoliquidação (artigo 2.º, n.º 1, alínea m) do CIVA)",
    "M34": "IVA - autoliquidação (artigo 2.º, n.º 1, alínea n) do CIVA)",
    "M40": "IVA - autoliquidação (artigo 6.º, n.º 6, alínea a) do CIVA, a contrário)",
    "M41": "IVA - autoliquidação (artigo 8.º, n.º 3 do RITI)",
    "M42": "IVA - autoliquidação (Decreto-Lei n.º 21/2007)",
    "M43": "IVA - autoliquidação (Decreto-Lei n.º 362/99)",
    "M44": "IVA - regras específicas - artigo 6.º do CIVA",
    "M45": "IVA – regime transfronteiriço de isenção",
    "M46": "Decreto-Lei n.º 19/2017",
    "M99": "Não sujeito ou não tributado",
}

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
