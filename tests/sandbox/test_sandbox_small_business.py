"""The small-business store (art. 53 CIVA, M10): opt-in, no tax anywhere, and a year's turnover
in iGEST that its paid orders take past 80 % of 15,000 EUR, in the sandbox clock's year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from igest_sandbox import Sandbox, small_business
from tests.support.clock import WALL_START
from tests.support.order_money import money_problems

IDS = [10201, 10202, 10203, 10204, 10205, 10206]
SHARE = Decimal("12000.00")  # 80 % of 15,000 EUR


def _sandbox(now: datetime = WALL_START) -> Sandbox:
    return Sandbox(small_business=True, clock=lambda: now)


def test_it_is_opt_in_and_leaves_the_seed_as_it_was() -> None:
    plain = Sandbox(clock=lambda: WALL_START)
    assert sorted(plain.store.orders) == list(range(10001, 10017))
    assert len(plain.igest.documents) == 0
    assert "invoice" not in plain.describe()
    assert {p.vat_rate for p in plain.store.products.values()} == {
        Decimal(r) for r in ("23", "13", "6", "0")
    }
    assert plain.describe()["control"][0]["url"].endswith("/orders/10015/pay")


def test_its_orders_charge_no_tax_and_their_money_is_consistent() -> None:
    sb = _sandbox()
    assert sorted(sb.store.orders) == IDS  # in place of the seed's, every one of which charges VAT
    assert {p.vat_rate for p in sb.store.products.values()} == {Decimal(0)}
    for order_id, order in sb.store.orders.items():
        assert money_problems(order) == [], order_id
        assert order["tax"] == 0 and order["shipping_taxes"] == [], order_id
        assert all(p["taxes"] == [] and p["tax"] == 0 for p in order["products"]), order_id
        created = datetime.fromisoformat(str(order["created_at"]).replace(" UTC", "+00:00"))
        assert date(2026, 11, 1) <= created.date() and created < WALL_START, order_id
    statuses = {i: sb.store.orders[i]["status_enum"] for i in IDS}
    assert statuses == {**dict.fromkeys(IDS[:-1], "paid"), 10206: "pending_payment"}
    assert {a["vat_rate"] for a in sb.igest.products.values()} == {Decimal(0)}
    assert {a["exemption_code"] for a in sb.igest.products.values()} == {"M10"}


def test_igest_holds_the_years_earlier_exempt_invoices_just_under_80_percent() -> None:
    sb = _sandbox()
    docs = sb.igest.documents
    assert docs and all(d["status"] == "final" and d["type"] == "FR" for d in docs)
    assert all(d["external_reference"] is None for d in docs)  # by hand, not ours
    assert {line["exemption_code"] for d in docs for line in d["lines"]} == {"M10"}
    days = [date.fromisoformat(d["date"]) for d in docs]
    # This year's, before the day the orders start (a first run's start date: nothing of
    # another's to adopt on or after it).
    assert min(days) == date(2026, 1, 1) and max(days) < date(2026, 11, 1)
    earlier = sum((d["gross_total"] for d in docs), Decimal(0))
    assert earlier == small_business.EARLIER_TOTAL < SHARE
    paid = sum(
        (Decimal(o["total"]) for o in sb.store.orders.values() if o["status_enum"] == "paid"),
        Decimal(0),
    )
    assert SHARE <= earlier + paid < Decimal("15000.00")


def test_it_tells_init_its_settings_and_its_controls_name_its_orders() -> None:
    facts = _sandbox().describe()
    assert facts["invoice"] == {
        "vat_regime": "art53",
        "start_date": "2026-11-01",
        "exemptions": {
            "domestic_goods": "M10",
            "domestic_shipping": "M10",
            "eu_goods": "M10",
            "eu_shipping": "M10",
        },
    }
    assert "small-business VAT exemption" in " ".join(facts["seeded"])
    urls = [row["url"] for row in facts["control"]]
    assert any(u.endswith("/orders/10206/pay") for u in urls)
    assert any(u.endswith("/orders/10201/cancel") for u in urls)
    assert not any("/10015/" in u or "/10001/" in u for u in urls)


def test_its_year_is_the_sandbox_clocks() -> None:
    # In January there is no earlier month: the orders start on the clock's day, the earlier
    # invoices are dated from 1 January to the day before.
    now = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)
    sb = _sandbox(now)
    days = [date.fromisoformat(d["date"]) for d in sb.igest.documents]
    assert min(days) == date(2027, 1, 1) and max(days) == date(2027, 1, 19)
    assert sb.describe()["invoice"]["start_date"] == "2027-01-20"
    for order in sb.store.orders.values():
        assert str(order["created_at"]).startswith("2027-01-20"), order["id"]


def test_its_loaded_orders_charge_no_tax_either() -> None:
    sb = _sandbox()
    sb.load_generated({"orders": 30, "seed": 3})
    added = [o for i, o in sb.store.orders.items() if i not in IDS]
    assert len(added) == 30
    assert all(o["tax"] == 0 and o["shipping_taxes"] == [] for o in added)


@pytest.mark.parametrize("other", ["cross_border", "hosted_app"])
def test_it_is_a_store_of_its_own(other: str) -> None:
    with pytest.raises(ValueError, match="small_business"):
        Sandbox(small_business=True, **{other: True})
