"""A store that invoiced with the hosted "iGEST – Quick Invoice" app before switching, OPT-IN
(``Sandbox(hosted_app=True)``) so that the seed's counts stay as the existing tests know them.

The hosted app numbers its documents in a series of its own (``QI``) and writes its own
reference style, ``QI-<order id>``, or none at all: some documents name the order only in their
notes ("Encomenda #9003"), some not even there. What this adds:

* orders 9001-9006, created and paid in October 2026, every one invoiced by the app:
  9001 and 9002 under ``QI-9001``/``QI-9002``; 9003 named in the notes only; 9004 with no
  reference at all (its customer's NIF, total and day identify it); 9005 and 9006, two
  consumers without a NIF who paid the same amount on the same day, invoiced to the final
  consumer without a name (no one can tell which document is whose);
* a document sold at a fair, with no order behind it (``HOSTED_FAIR_TOTAL``);
* in November, the app's invoices of the seed orders 10001 and 10002 (the day the merchant
  switched, ``HOSTED_LAST_DAY``): a first ``invoice`` with an earlier start date must stop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from igest_sandbox.data import BUYERS, seed_line, seed_orders
from igest_sandbox.igest.state import IgestState
from igest_sandbox.jumpseller.orders import Buyer, make_order

HOSTED_SERIES = "QI"
HOSTED_ORDERS = (9001, 9002, 9003, 9004, 9005, 9006)
HOSTED_SEED_ORDERS = (10001, 10002)  # seed orders the app invoiced before the switch
HOSTED_FAIR_TOTAL = Decimal("45.00")
HOSTED_LAST_DAY = "2026-11-03"

_NO_NIF_TWINS = (
    Buyer("Rui", "Alves", "rui.alves@example.pt"),
    Buyer("Carla", "Nunes", "carla.nunes@example.pt"),
)


def _october(day: int, hour: int) -> datetime:
    return datetime(2026, 10, day, hour, 5, 0, tzinfo=UTC)


def hosted_orders() -> list[dict[str, Any]]:
    """Orders 9001-9006 (paid in October 2026, before the switch)."""
    b = BUYERS
    return [
        make_order(9001, [seed_line("CAN-AZU", 2)], created_at=_october(6, 10), buyer=b["marta"],
                   shipping="3.90"),
        make_order(9002, [seed_line("AZL-LIS", 3)], created_at=_october(9, 15), buyer=b["joao"],
                   shipping="4.90"),
        make_order(9003, [seed_line("SAC-LIS")], created_at=_october(14, 11), buyer=b["ines"],
                   shipping="3.90"),
        make_order(9004, [seed_line("TSH-M"), seed_line("CAN-AZU")], created_at=_october(20, 9),
                   buyer=b["sofia"], shipping="3.90"),
        make_order(9005, [seed_line("AZL-POR", 2)], created_at=_october(27, 10),
                   buyer=_NO_NIF_TWINS[0], shipping="3.90"),
        make_order(9006, [seed_line("AZL-POR", 2)], created_at=_october(27, 16),
                   buyer=_NO_NIF_TWINS[1], shipping="3.90"),
    ]  # fmt: skip


def _lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's lines as the app writes them (VAT-inclusive prices, shipping last)."""
    lines = [
        {
            "reference": p["sku"],
            "description": p["name"],
            "quantity": str(p["qty"]),
            "unit_price": f"{Decimal(p['price']):.2f}",
            "vat_rate": f"{Decimal(p['taxes'][0]['rate']):.2f}",
        }
        for p in order["products"]
    ]
    if Decimal(order["shipping"]):
        rate = Decimal(order["shipping_taxes"][0]["rate"])
        lines.append(
            {
                "reference": "PORTES",
                "description": order["shipping_method_name"] or "Portes",
                "quantity": "1",
                "unit_price": f"{Decimal(order['shipping']):.2f}",
                "vat_rate": f"{rate:.2f}",
            }
        )
    return lines


def _customer(order: dict[str, Any], *, named: bool = True) -> dict[str, Any]:
    billing = order["billing_address"]
    if not named:
        return {"name": "Consumidor final"}
    customer = {"name": f"{billing['name']} {billing['surname']}", "country": "PT"}
    if billing.get("taxid"):
        customer["nif"] = billing["taxid"]
    return customer


def _issue(
    igest: IgestState, order: dict[str, Any] | None, *, day: str, reference: str | None,
    notes: str | None = None, named: bool = True, lines: list[dict[str, Any]] | None = None,
) -> None:  # fmt: skip
    body = {
        "type": "FR",
        "series": HOSTED_SERIES,
        "date": day,
        "external_reference": reference,
        "customer": _customer(order, named=named) if order else {"name": "Consumidor final"},
        "lines": lines if lines is not None else _lines(order or {}),
        "prices_include_vat": True,
        "payment_method": "MB",
        "notes": notes,
        "finalize": True,
    }
    igest.create_document(body)


def load_hosted_app(store: Any, igest: IgestState) -> None:
    """Add the app's orders to the store and its documents to iGEST (see the module doc)."""
    store.add_orders(hosted_orders())
    for doc_type in ("FR", "NC"):
        igest.series.append(
            {"code": HOSTED_SERIES, "document_type": doc_type, "atcud_code": "JQI" + doc_type,
             "active": True}
        )  # fmt: skip
    orders = {o["id"]: o for o in hosted_orders()}
    orders.update({o["id"]: o for o in seed_orders() if o["id"] in HOSTED_SEED_ORDERS})

    def paid_day(order_id: int) -> str:
        return str(orders[order_id]["completed_at"])[:10]

    _issue(igest, orders[9001], day=paid_day(9001), reference="QI-9001")
    _issue(igest, orders[9002], day=paid_day(9002), reference="QI-9002")
    _issue(igest, orders[9003], day=paid_day(9003), reference=None, notes="Encomenda #9003")
    _issue(igest, orders[9004], day=paid_day(9004), reference=None)
    _issue(igest, orders[9005], day=paid_day(9005), reference=None, named=False)
    _issue(igest, orders[9006], day=paid_day(9006), reference=None, named=False)
    fair = [
        {"reference": "AZL-FEIRA", "description": "Azulejos (feira de Santos)", "quantity": "1",
         "unit_price": f"{HOSTED_FAIR_TOTAL:.2f}", "vat_rate": "23.00"}
    ]  # fmt: skip
    _issue(igest, None, day="2026-10-30", reference=None, notes="Feira", lines=fair)
    for order_id in HOSTED_SEED_ORDERS:
        _issue(igest, orders[order_id], day=paid_day(order_id), reference=f"QI-{order_id}")
