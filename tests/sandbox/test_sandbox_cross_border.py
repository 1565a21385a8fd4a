"""The cross-border seed orders: opt-in, consistent money, and what each one is for."""

from __future__ import annotations

from decimal import Decimal

from igest_sandbox import Sandbox
from igest_sandbox.cross_border import cross_border_orders
from tests.support.order_money import money_problems
from tests.support.sandbox_clients import body, jumpseller_client

IDS = list(range(10101, 10110))


def _orders() -> dict[int, dict]:
    return {order["id"]: order for order in cross_border_orders()}


def test_they_are_opt_in() -> None:
    plain, cross = Sandbox(), Sandbox(cross_border=True)
    assert set(cross.store.orders) - set(plain.store.orders) == set(IDS)
    assert not set(IDS) & set(plain.store.orders)


def test_every_order_is_paid_and_its_money_consistent() -> None:
    for order_id, order in _orders().items():
        assert order["status_enum"] == "paid", order_id
        assert money_problems(order) == [], order_id


def test_what_each_order_exercises() -> None:
    o = _orders()
    es = o[10101]
    assert es["billing_address"]["country_code"] == "ES"
    assert es["billing_address"]["taxid"] == "ESB87654323"
    assert es["billing_information"]["company_name"]
    # No VAT charged: no tax entries, no tax, on lines and shipping.
    assert all(p["taxes"] == [] and p["tax"] == 0 for p in es["products"])
    assert es["shipping_taxes"] == [] and es["tax"] == 0
    fr = o[10102]
    assert fr["shipping_address"]["country_code"] == "FR"
    assert {p["taxes"][0]["rate"] for p in fr["products"]} == {Decimal(20), Decimal("5.5")}
    assert fr["shipping_taxes"][0]["country"] == "FR" and fr["tax"] > 0
    assert o[10103]["shipping_address"]["country_code"] == "GB"
    assert o[10103]["tax"] == 0
    canarias = o[10104]["shipping_address"]
    assert canarias["country_code"] == "ES" and canarias["postal"].startswith("35")
    assert o[10105]["billing_address"]["taxid"] == "B12345674"
    assert o[10106]["billing_address"]["taxid"] == "ESB66123456"
    assert max(len(p["name"]) for p in o[10107]["products"]) == 300
    assert "\r\n" in o[10108]["additional_information"]
    assert o[10109]["source"]["created_from"] == "pos"
    assert {o[i]["source"]["created_from"] for i in IDS if i != 10109} == {"checkout"}


def test_the_vat_numbers_get_the_answers_the_orders_are_for() -> None:
    sb = Sandbox(cross_border=True)
    answers = {}
    for order_id in (10101, 10105, 10106):
        taxid = sb.store.orders[order_id]["billing_address"]["taxid"]
        number = taxid.removeprefix("ES")
        answers[order_id] = sb.vies.check("ES", number, consult=True)[0].answer
    assert answers == {10101: "VALID", 10105: "INVALID", 10106: "MS_UNAVAILABLE"}


def test_the_api_serves_the_note_and_source() -> None:
    sb = Sandbox(cross_border=True)
    with jumpseller_client(sb) as js:
        order = body(js.get("/orders/10108.json"))
        pos = body(js.get("/orders/10109.json"))
    assert order["order"]["additional_information"].startswith("Por favor")
    assert pos["order"]["source"]["created_from"] == "pos"
