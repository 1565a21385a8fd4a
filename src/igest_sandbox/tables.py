"""The sandbox's own tax tables: PT rates by region, EU Member States' rates, AT's exemption
codes with their legal references, SAF-T payment mechanisms.

Written from the reference texts, not copied from the client (``igest_sync.fiscal``): the
sandbox is an independent check, so a wrong table on one side makes the end-to-end tests fail
instead of passing on both sides.

Sources: PT rates and exemption codes from pt-invoicing.md §2 and §3 (AT's 2025 table, GOBL's
PT regime; M03 and M08 withdrawn, M26 expired but still valid for earlier supplies). EU rates
from the European Commission's "VAT rates applied in the Member States" (taxation_customs,
edition of 2025-07-01), with the changes announced for 2025-2026 noted per country.
"""

from __future__ import annotations

from decimal import Decimal


def _rates(*values: str) -> frozenset[Decimal]:
    return frozenset(Decimal(v) for v in values)


# Portugal by SAF-T region (pt-invoicing.md §3, rates of 2025/2026): normal, intermediate,
# reduced. Madeira's reduced rate is 4 % since 2024-10-01.
PT_REGION_RATES: dict[str, dict[str, Decimal]] = {
    "PT": {"NOR": Decimal(23), "INT": Decimal(13), "RED": Decimal(6)},
    "PT-AC": {"NOR": Decimal(16), "INT": Decimal(9), "RED": Decimal(4)},
    "PT-MA": {"NOR": Decimal(22), "INT": Decimal(12), "RED": Decimal(4)},
}

# Standard and reduced rates of the 27 Member States (ISO 3166-1 alpha-2, so Greece is GR
# here, as in SAF-T's TaxCountryRegion; VIES alone calls it EL). Parking and zero rates are
# left out: an OSS line at 0 % is not a sale this tool makes.
EU_RATES: dict[str, frozenset[Decimal]] = {
    "AT": _rates("20", "13", "10"),
    "BE": _rates("21", "12", "6"),
    "BG": _rates("20", "9"),
    "CY": _rates("19", "9", "5", "3"),  # 3 % super-reduced since 2025
    "CZ": _rates("21", "12"),  # 10 % and 15 % merged into 12 % on 2024-01-01
    "DE": _rates("19", "7"),
    "DK": _rates("25"),
    "EE": _rates("24", "13", "9"),  # 22 % -> 24 % on 2025-07-01
    "ES": _rates("21", "10", "4"),
    "FI": _rates("25.5", "14", "13.5", "10"),  # 24 % -> 25.5 % on 2024-09-01; 14 -> 13.5 in 2026
    "FR": _rates("20", "10", "5.5", "2.1"),
    "GR": _rates("24", "13", "6"),
    "HR": _rates("25", "13", "5"),
    "HU": _rates("27", "18", "5"),
    "IE": _rates("23", "13.5", "9", "4.8"),
    "IT": _rates("22", "10", "5", "4"),
    "LT": _rates("21", "9", "5"),
    "LU": _rates("17", "14", "8", "3"),
    "LV": _rates("21", "12", "5"),
    "MT": _rates("18", "7", "5"),
    "NL": _rates("21", "9"),
    "PL": _rates("23", "8", "5"),
    "PT": frozenset(PT_REGION_RATES["PT"].values()),
    "RO": _rates("21", "11"),  # 19 % -> 21 %, 5 % and 9 % -> 11 % on 2025-08-01
    "SE": _rates("25", "12", "6"),
    "SI": _rates("22", "9.5", "5"),
    "SK": _rates("23", "19", "5"),  # 20 % -> 23 % on 2025-01-01
}

EU_STANDARD_RATES: dict[str, Decimal] = {country: max(rates) for country, rates in EU_RATES.items()}

# AT's TaxExemptionCode list: code -> (mention text printed on the document, legal reference).
EXEMPTION_REASONS: dict[str, tuple[str, str]] = {
    "M01": ("Artigo 16.º, n.º 6 do CIVA", "Artigo 16.º, n.º 6, alíneas a) a d) do CIVA"),
    "M02": ("Artigo 6.º do Decreto-Lei n.º 198/90", "Artigo 6.º do DL 198/90"),
    "M04": ("Isento artigo 13.º do CIVA", "Artigo 13.º do CIVA"),
    "M05": ("Isento artigo 14.º do CIVA", "Artigo 14.º do CIVA"),
    "M06": ("Isento artigo 15.º do CIVA", "Artigo 15.º do CIVA"),
    "M07": ("Isento artigo 9.º do CIVA", "Artigo 9.º do CIVA"),
    "M09": ("IVA - não confere direito a dedução", "Artigo 62.º, alínea b) do CIVA"),
    "M10": ("IVA - regime de isenção", "Artigo 57.º do CIVA"),
    "M11": ("Regime particular do tabaco", "DL 346/85"),
    "M12": ("Regime da margem de lucro - Agências de viagens", "DL 221/85"),
    "M13": ("Regime da margem de lucro - Bens em segunda mão", "DL 199/96"),
    "M14": ("Regime da margem de lucro - Objetos de arte", "DL 199/96"),
    "M15": ("Regime da margem de lucro - Objetos de coleção e antiguidades", "DL 199/96"),
    "M16": ("Isento artigo 14.º do RITI", "Artigo 14.º do RITI"),
    "M19": ("Outras isenções", "Legislação específica"),
    "M20": ("IVA - regime forfetário", "Artigo 59.º-D, n.º 2 do CIVA"),
    "M21": ("IVA - não confere direito à dedução", "Artigo 72.º, n.º 4 do CIVA"),
    "M25": ("Mercadorias à consignação", "Artigo 38.º, n.º 1, alínea a) do CIVA"),
    "M26": ("Isenção de IVA com direito à dedução no cabaz alimentar", "Lei 17/2023"),
    "M30": ("IVA - autoliquidação", "Artigo 2.º, n.º 1, alínea i) do CIVA"),
    "M31": ("IVA - autoliquidação", "Artigo 2.º, n.º 1, alínea j) do CIVA"),
    "M32": ("IVA - autoliquidação", "Artigo 2.º, n.º 1, alínea l) do CIVA"),
    "M33": ("IVA - autoliquidação", "Artigo 2.º, n.º 1, alínea m) do CIVA"),
    "M34": ("IVA - autoliquidação", "Artigo 2.º, n.º 1, alínea n) do CIVA"),
    "M40": ("IVA - autoliquidação", "Artigo 6.º, n.º 6, alínea a) do CIVA, a contrario"),
    "M41": ("IVA - autoliquidação", "Artigo 8.º, n.º 3 do RITI"),
    "M42": ("IVA - autoliquidação", "DL 21/2007"),
    "M43": ("IVA - autoliquidação", "DL 362/99"),
    "M44": ("IVA - regras específicas", "Artigo 6.º do CIVA"),
    "M45": ("IVA - regime transfronteiriço de isenção", "Artigo 58.º-A do CIVA"),
    "M46": ("Vendas com isenção a viajantes de fora da UE", "DL 19/2017"),
    "M99": ("Não sujeito ou não tributado", "Artigos 2.º, 3.º e 4.º do CIVA"),
}

# SAF-T PaymentMechanism codes.
PAYMENT_MECHANISMS: frozenset[str] = frozenset(
    ("CC", "CD", "CH", "CI", "CO", "CS", "DE", "LC", "MB", "NU", "OU", "PR", "TB", "TR")
)


def country_rates(country: str) -> frozenset[Decimal]:
    """Rates a line taxed in ``country`` may carry (empty for a country outside the EU)."""
    return EU_RATES.get(country, frozenset())
