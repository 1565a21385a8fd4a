"""iGEST reference data of the sandbox entity: series with ATCUD codes, warehouses, taxes and
AT's exemption reasons (from ``igest_sync.fiscal.rules``)."""

from __future__ import annotations

from typing import Any

from igest_sync.fiscal.rules import EXEMPTION_CODES, VAT_RATES
from igest_sync.sandbox.data import ENTITY_NIF

# Legal basis per code (pt-invoicing.md, section 2); the description is AT's mention text.
_LEGAL_REFERENCE = {
    "M01": "Artigo 16.º, n.º 6, alíneas a) a d) do CIVA",
    "M02": "Artigo 6.º do DL 198/90",
    "M04": "Artigo 13.º do CIVA",
    "M05": "Artigo 14.º do CIVA",
    "M06": "Artigo 15.º do CIVA",
    "M07": "Artigo 9.º do CIVA",
    "M09": "Artigo 62.º, alínea b) do CIVA",
    "M10": "Artigo 57.º do CIVA",
    "M11": "DL 346/85",
    "M12": "DL 221/85",
    "M13": "DL 199/96",
    "M14": "DL 199/96",
    "M15": "DL 199/96",
    "M16": "Artigo 14.º do RITI",
    "M19": "Legislação específica",
    "M20": "Artigo 59.º-D, n.º 2 do CIVA",
    "M21": "Artigo 72.º, n.º 4 do CIVA",
    "M25": "Artigo 38.º, n.º 1, alínea a) do CIVA",
    "M26": "Lei 17/2023",
    "M30": "Artigo 2.º, n.º 1, alínea i) do CIVA",
    "M31": "Artigo 2.º, n.º 1, alínea j) do CIVA",
    "M32": "Artigo 2.º, n.º 1, alínea l) do CIVA",
    "M33": "Artigo 2.º, n.º 1, alínea m) do CIVA",
    "M34": "Artigo 2.º, n.º 1, alínea n) do CIVA",
    "M40": "Artigo 6.º, n.º 6, alínea a) do CIVA",
    "M41": "Artigo 8.º, n.º 3 do RITI",
    "M42": "DL 21/2007",
    "M43": "DL 362/99",
    "M44": "Artigo 6.º do CIVA",
    "M45": "Artigo 58.º-A do CIVA",
    "M46": "DL 19/2017",
    "M99": "Artigos 2.º, 3.º e 4.º do CIVA",
}

ATCUD_CODES = {"FT": "JFT4K7Q2", "FR": "JFR8M3X5", "FS": "JFS2P9W4", "NC": "JNC6T1Z8"}


def entity() -> dict[str, Any]:
    return {
        "nif": ENTITY_NIF,
        "name": "Loja do Azulejo, Lda.",
        "currency": "EUR",
        "stock_by_warehouse": True,
    }


def series() -> list[dict[str, Any]]:
    active = [
        {"code": "A", "document_type": t, "atcud_code": c, "active": True}
        for t, c in ATCUD_CODES.items()
    ]
    # Last year's series, closed: documents may not use it.
    return active + [
        {"code": "2025", "document_type": "FR", "atcud_code": "JFR0OLD1", "active": False}
    ]


def warehouses() -> list[dict[str, Any]]:
    return [{"code": "ARM1", "name": "Armazém Lisboa"}, {"code": "ARM2", "name": "Loja Porto"}]


def taxes() -> list[dict[str, Any]]:
    rows = []
    for region, rates in VAT_RATES.items():
        for kind in ("NOR", "INT", "RED"):
            rows.append({"region": region, "kind": kind, "rate": f"{rates[kind]:.2f}"})
        rows.append({"region": region, "kind": "ISE", "rate": "0.00"})
    return rows


def exemption_reasons() -> list[dict[str, Any]]:
    return [
        {"code": code, "description": text, "legal_reference": _LEGAL_REFERENCE.get(code)}
        for code, text in EXEMPTION_CODES.items()
    ]
