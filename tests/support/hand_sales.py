"""A sale the merchant entered in iGEST by hand (the till, a market stall): the small-business
exemption's turnover counts it, whoever issued it."""

from __future__ import annotations

from typing import Any

HAND = "B"  # a series the merchant invoices by hand


def sale_by_hand(igest: Any, amount: str, *, day: str, credit_of: str | None = None) -> str:
    """An exempt (M10) final document of ``amount`` in the sandbox's iGEST (``igest``: its
    state), with no reference; a credit note of ``credit_of`` when given. Its number."""
    body: dict[str, Any] = {
        "type": "NC" if credit_of else "FR",
        "series": HAND,
        "date": day,
        "customer": {"name": "Consumidor final"},
        "lines": [
            {
                "reference": "BALCAO",
                "description": "Venda ao balcão",
                "quantity": "1",
                "unit_price": amount,
                "vat_rate": "0.00",
                "exemption_code": "M10",
            }
        ],
        "prices_include_vat": True,
        "payment_method": "NU",
        "finalize": True,
    }
    if credit_of:
        body["related_document"] = {"number": credit_of, "reason": "Devolução"}
    return str(igest.create_document(body)["number"])
