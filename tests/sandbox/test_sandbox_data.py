"""Seed and generated data follow the money model; the seed can be invoiced to the cent."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from stdnum.pt import nif

from igest_sandbox import Sandbox
from igest_sandbox.data import generate_catalogue, generate_orders, make_order, seed_orders
from igest_sandbox.money import spread
from tests.support.order_money import money_problems
from tests.support.sandbox_clients import body, igest_client, jumpseller_client


def test_seed_orders_are_self_consistent() -> None:
    orders = seed_orders()
    assert [o["id"] for o in orders] == list(range(10001, 10017))
    for order in orders:
        assert money_problems(order) == []


def test_seed_covers_the_cases_the_brief_lists() -> None:
    by_id = {o["id"]: o for o in seed_orders()}
    statuses = [o["status_enum"] for o in by_id.values()]
    assert statuses.count("pending_payment") == 2 and "abandoned" in statuses
    assert by_id[10013]["status_enum"] == "canceled" and by_id[10013]["completed_at"] is None
    assert by_id[10012]["status_enum"] == "canceled" and by_id[10012]["completed_at"]
    assert by_id[10004]["products"][0]["taxes"][0]["tax_on_product_price"] is False
    assert Decimal(by_id[10004]["total"]) == Decimal("182.15")
    assert Decimal(by_id[10003]["discount"]) == Decimal("14.05")
    assert all(Decimal(i["discount"]) > 0 for i in by_id[10003]["products"])
    assert Decimal(by_id[10005]["shipping"]) == 0 and by_id[10005]["shipping_taxes"] == []
    assert Decimal(by_id[10006]["shipping_discount"]) == Decimal("2.00")
    assert Decimal(by_id[10007]["gift_cards_discount"]) == Decimal("12.00")
    assert by_id[10008]["additional_fields"][0]["label"] == "NIF"
    assert by_id[10008]["billing_address"]["taxid"] is None
    assert by_id[10009]["shipping_required"] is False
    assert by_id[10010]["products"][0]["taxes"] == []  # the exempt book
    assert by_id[10003]["billing_information"]["company_name"]
    assert (Decimal(by_id[10011]["total"]), Decimal(by_id[10011]["tax"])) == (
        Decimal("29.97"),
        Decimal("5.60"),
    )
    taxids = [
        o["billing_address"]["taxid"] for o in by_id.values() if o["billing_address"]["taxid"]
    ]
    assert taxids and all(nif.is_valid(t) for t in taxids)
    rates = {Decimal(t["rate"]) for o in by_id.values() for i in o["products"] for t in i["taxes"]}
    assert {Decimal(23), Decimal(13), Decimal(6)} <= rates


def test_every_paid_seed_order_can_be_invoiced_to_the_cent(sb: Sandbox) -> None:
    """Send each paid order as an iGEST draft (unit price = line amount / qty, 6 decimals):
    the gross total must equal total + gift card, per the invoicing rule."""
    with jumpseller_client(sb) as js, igest_client(sb) as ig:
        paid = body(js.get("/orders/status/paid.json"))
        assert len(paid) == 11
        for wrapped in paid:
            order = wrapped["order"]
            inclusive = all(
                t["tax_on_product_price"] for i in order["products"] for t in i["taxes"]
            )
            lines = []
            for item in order["products"]:
                amount = Decimal(item["price"]) * item["qty"] - Decimal(item["discount"])
                rate = Decimal(item["taxes"][0]["rate"]) if item["taxes"] else Decimal(0)
                lines.append(
                    {
                        "reference": item["sku"],
                        "description": item["name"],
                        "quantity": str(item["qty"]),
                        "unit_price": str((amount / item["qty"]).quantize(Decimal("1e-6"))),
                        "vat_rate": f"{rate:.2f}",
                        "exemption_code": None if rate else "M07",
                    }
                )
            shipping = Decimal(order["shipping"]) - Decimal(order["shipping_discount"])
            if shipping:
                rate = Decimal(order["shipping_taxes"][0]["rate"])
                lines.append(
                    {
                        "reference": "PORTES",
                        "description": "Portes",
                        "quantity": "1",
                        "unit_price": f"{shipping:.2f}",
                        "vat_rate": f"{rate:.2f}",
                    }
                )
            doc = body(
                ig.post(
                    "/documents",
                    json={
                        "type": "FR",
                        "series": "A",
                        "date": "2026-11-27",
                        "lines": lines,
                        "prices_include_vat": inclusive,
                        "payment_method": "CC",
                    },
                )
            )
            expected = Decimal(order["total"]) + Decimal(order["gift_cards_discount"])
            assert Decimal(doc["gross_total"]) == expected, order["id"]


def test_make_order_spreads_an_order_discount_exactly() -> None:
    order = make_order(
        1,
        [
            {"name": "a", "price": "10.00", "qty": 1},
            {"name": "b", "price": "10.00", "qty": 1},
            {"name": "c", "price": "10.00", "qty": 1},
        ],
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        order_discount="1.00",
    )
    assert sorted(Decimal(i["discount"]) for i in order["products"]) == [
        Decimal("0.33"),
        Decimal("0.33"),
        Decimal("0.34"),
    ]
    assert Decimal(order["total"]) == Decimal("29.00") and money_problems(order) == []
    assert spread(Decimal("0.05"), [Decimal(1), Decimal(0)]) == [Decimal("0.05"), Decimal("0.00")]
    with pytest.raises(ValueError):
        make_order(
            2,
            [{"name": "a", "price": "1.00"}],
            created_at=datetime(2026, 11, 1, tzinfo=UTC),
            gift_card="5.00",
        )


def test_generated_orders_are_deterministic_and_consistent() -> None:
    first = list(generate_orders(300, seed=7, start_id=50001))
    again = list(generate_orders(300, seed=7, start_id=50001))
    assert first == again and [o["id"] for o in first] == list(range(50001, 50301))
    assert list(generate_orders(5, seed=8)) != list(generate_orders(5, seed=7))
    for order in first:
        assert money_problems(order) == []
    assert {o["status_enum"] for o in first} >= {"paid", "pending_payment"}


def test_large_generation_is_lazy_and_sized() -> None:
    tracemalloc.start()
    count = sum(1 for _ in generate_orders(1000, seed=1))
    items = sum(len(p.variants) or 1 for p in generate_catalogue(20_000, seed=1))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (count, items) == (1000, 20_000)
    assert peak < 20_000_000  # generators: nothing like the whole data set at once


def test_load_generated_fills_both_sides(sb: Sandbox) -> None:
    before = len(sb.igest.products)
    loaded = sb.load_generated({"orders": 20, "variants": 500, "seed": 2})
    assert loaded == {"orders": 20, "variants": 500}
    assert 400 < len(sb.igest.products) - before < 500  # about 90 % have an iGEST article
