"""iGEST reference data of the sandbox entity: series with ATCUD codes, warehouses, taxes and
AT's exemption reasons (from the sandbox's own ``tables``)."""

from __future__ import annotations

from typing import Any

from igest_sandbox.data import ENTITY_NIF
from igest_sandbox.tables import EXEMPTION_REASONS, PT_REGION_RATES

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
    for region, rates in PT_REGION_RATES.items():
        for kind in ("NOR", "INT", "RED"):
            rows.append({"region": region, "kind": kind, "rate": f"{rates[kind]:.2f}"})
        rows.append({"region": region, "kind": "ISE", "rate": "0.00"})
    return rows


def exemption_reasons() -> list[dict[str, Any]]:
    return [
        {"code": code, "description": text, "legal_reference": legal_reference}
        for code, (text, legal_reference) in EXEMPTION_REASONS.items()
    ]
