"""The Jumpseller money model checked from an order's own fields, written apart from the
sandbox's money code (docs/money-model.md): what each seed or generated order must satisfy."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

C = Decimal("0.01")


def r2(x: Decimal) -> Decimal:
    return x.quantize(C, rounding=ROUND_HALF_UP)


def money_problems(order: dict) -> list[str]:
    """Recompute every figure from the lines, written apart from the sandbox's own code."""
    problems = []
    amounts, vats, added = [], [], Decimal(0)
    for item in order["products"]:
        price, qty = Decimal(item["price"]), Decimal(item["qty"])
        discount = Decimal(item["discount"])
        amount = price * qty - discount
        tax = item["taxes"][0] if item["taxes"] else None
        rate = Decimal(tax["rate"]) if tax else Decimal(0)
        inc = tax["tax_on_product_price"] if tax else True
        vat = r2(amount * rate / (100 + rate)) if inc else r2(amount * rate / 100)
        if not inc:
            added += vat
        amounts.append(amount)
        vats.append(vat)
        if Decimal(item["tax"]) != vat:
            problems.append(f"line tax {item['tax']} != {vat}")
    shipping_amount = Decimal(order["shipping"]) - Decimal(order["shipping_discount"])
    ship_tax = Decimal(0)
    if order["shipping_taxes"]:
        entry = order["shipping_taxes"][0]
        rate = Decimal(entry["rate"])
        if entry["tax_on_shipping_price"]:
            ship_tax = r2(shipping_amount * rate / (100 + rate))
        else:
            ship_tax = r2(shipping_amount * rate / 100)
            added += ship_tax
    value = sum(amounts) + shipping_amount + added
    expected = {
        "subtotal": sum(Decimal(i["price"]) * i["qty"] for i in order["products"]),
        "discount": sum(Decimal(i["discount"]) for i in order["products"]),
        "shipping_tax": ship_tax,
        "tax": sum(vats) + ship_tax,
        "total": value - Decimal(order["gift_cards_discount"]),
    }
    for key, want in expected.items():
        if Decimal(order[key]) != want:
            problems.append(f"{order['id']} {key}: {order[key]} != {want}")
    for key in (
        "subtotal",
        "tax",
        "shipping_tax",
        "shipping",
        "total",
        "discount",
        "shipping_discount",
        "gift_cards_discount",
    ):
        if Decimal(order[key]) != Decimal(order[key]).quantize(C):
            problems.append(f"{key} has more than 2 decimals")
    return problems
