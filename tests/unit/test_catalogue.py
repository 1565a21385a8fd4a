"""The pure catalogue logic: SKU matching, net prices, product and stock plans, the brake."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from igest_sync.config import ProductsConfig, StockConfig
from igest_sync.errors import ConfigError
from igest_sync.models import CatalogueItem, CatalogueOutcome, IgestProduct, StockLevel
from igest_sync.runs.catalogue.plan import (
    CatalogueReport,
    brake_reason,
    index_catalogue,
    jumpseller_quantity,
    net_price,
    normalize_sku,
    plan_products,
    plan_stock,
)

D = Decimal


def item(
    sku: str | None,
    *,
    pid: int = 1,
    vid: int | None = None,
    name: str = "Caneca",
    price: str = "12.30",
    barcode: str | None = None,
    digital: bool = False,
    stock: int = 0,
    unlimited: bool = False,
) -> CatalogueItem:
    return CatalogueItem(
        product_id=pid,
        variant_id=vid,
        sku=sku,
        name=name,
        price=D(price),
        barcode=barcode,
        digital=digital,
        stock=stock,
        stock_unlimited=unlimited,
    )


def product(
    reference: str,
    *,
    id: str = "p1",
    description: str = "Caneca",
    price: str = "10.000000",
    vat_rate: str = "23",
    barcode: str | None = None,
    type: str = "P",
    exemption_code: str | None = None,
) -> IgestProduct:
    return IgestProduct(
        id=id,
        reference=reference,
        description=description,
        type=type,
        unit="UN",
        price=D(price),
        vat_rate=D(vat_rate),
        exemption_code=exemption_code,
        barcode=barcode,
        active=True,
    )


def by_key(outcomes: list[CatalogueOutcome]) -> dict[str, CatalogueOutcome]:
    return {o.key: o for o in outcomes}


# --- SKUs and prices -------------------------------------------------------------------------


def test_sku_is_trimmed_and_case_kept() -> None:
    assert normalize_sku("  Ab-1 ") == "Ab-1"
    assert normalize_sku("   ") is None
    assert normalize_sku(None) is None


@pytest.mark.parametrize(
    ("price", "rate", "net"),
    [
        ("12.30", "23", "10.000000"),
        ("10.00", "23", "8.130081"),
        ("10.60", "6", "10.000000"),
        ("1.00", "13", "0.884956"),
        ("5.00", "0", "5.000000"),
    ],
)
def test_net_price_takes_vat_out_to_six_decimals(price: str, rate: str, net: str) -> None:
    result = net_price(D(price), D(rate), True)
    assert result == D(net)
    assert result.as_tuple().exponent == -6


def test_net_price_is_the_store_price_when_prices_exclude_vat() -> None:
    assert net_price(D("8.13"), D("23"), False) == D("8.13")


def test_net_price_rounds_half_up() -> None:
    # 0.000000615 * 100 / 123 is exactly 0.0000005: half-up gives a millionth, half-even 0.
    assert net_price(D("0.000000615"), D("23"), True) == D("0.000001")


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
    rate=st.sampled_from([D(0), D(4), D(5), D(6), D(9), D(12), D(13), D(16), D(18), D(22), D(23)]),
)
def test_net_price_gives_back_the_store_price(price: Decimal, rate: Decimal) -> None:
    net = net_price(price, rate, True)
    # Rounding to 6 places loses at most half a millionth of net value.
    assert abs(net * (100 + rate) / 100 - price) <= D("0.0000005") * (100 + rate) / 100
    assert (net * (100 + rate) / 100).quantize(D("0.01")) == price


# --- the Jumpseller index ----------------------------------------------------------------------


def test_items_without_sku_are_skipped_with_the_reason() -> None:
    index = index_catalogue([item(None, pid=1), item("  ", pid=2, vid=7), item("A", pid=3)])
    assert list(index.by_sku) == ["A"]
    skipped = by_key(index.skipped)
    assert set(skipped) == {"product 1", "product 2 variant 7"}
    assert all(o.action == "skipped" and "No SKU" in o.detail for o in skipped.values())
    assert index.seen == 3


def test_a_sku_on_several_items_is_skipped_for_all_of_them() -> None:
    index = index_catalogue(
        [item("A", pid=1), item("B", pid=2), item(" A", pid=3, vid=4), item("A", pid=5)]
    )
    assert list(index.by_sku) == ["B"]
    (dup,) = index.skipped
    assert dup.key == "A" and dup.action == "skipped"
    assert "3 Jumpseller items" in dup.detail
    for label in ("product 1", "product 3 variant 4", "product 5"):
        assert label in dup.detail
    assert index.duplicate_skus == {"A"}


def test_a_duplicate_made_by_spaces_shows_the_skus_as_typed() -> None:
    # In Jumpseller "A" and "A " look like two SKUs: the message shows the space that joins them.
    index = index_catalogue([item("A", pid=1), item("A ", pid=2)])
    (dup,) = index.skipped
    assert "product 1 as 'A'" in dup.detail and "product 2 as 'A '" in dup.detail
    assert "spaces around a SKU are ignored" in dup.detail
    (plain,) = index_catalogue([item("B", pid=1), item("B", pid=2)]).skipped
    assert " as '" not in plain.detail and "spaces" not in plain.detail


def test_skus_differing_in_case_are_different_items() -> None:
    index = index_catalogue([item("abc", pid=1), item("ABC", pid=2)])
    assert set(index.by_sku) == {"abc", "ABC"}
    assert index.skipped == []


# --- product plans -------------------------------------------------------------------------------


def test_plan_creates_only_the_skus_missing_in_igest() -> None:
    plan = plan_products(
        [
            item("A", name="Caneca", price="12.30", barcode=" 5601 "),
            item("B", pid=2, name="E-book", price="10.00", digital=True),
            item("C", pid=3),
        ],
        [product("C"), product("ONLY-IGEST", id="p9")],
        ProductsConfig(),
        update=False,
    )
    creates = {a.sku: a.draft for a in plan.writes}
    assert set(creates) == {"A", "B"}
    assert all(a.action == "created" for a in plan.writes)
    a, b = creates["A"], creates["B"]
    assert (
        a.reference,
        a.description,
        a.type,
        a.price,
        a.vat_rate,
        a.exemption_code,
        a.barcode,
    ) == ("A", "Caneca", "P", D("10.000000"), D("23"), None, "5601")
    assert (b.type, b.price, b.barcode) == ("S", D("8.130081"), None)
    steps = {a.sku: a for a in plan.writes}
    assert steps["A"].summary == "type P, net 10.000000 (12.30 with VAT), VAT 23 %"
    assert [o.key for o in plan.outcomes] == ["C"]
    assert plan.outcomes[0].action == "unchanged"


def test_zero_rate_products_carry_the_exemption_code() -> None:
    settings = ProductsConfig(vat_rate=D(0), exemption_code="M10")
    (step,) = plan_products([item("A", price="7.50")], [], settings, update=False).writes
    assert (step.draft.vat_rate, step.draft.exemption_code, step.draft.price) == (
        D(0),
        "M10",
        D("7.500000"),
    )


def test_zero_rate_without_exemption_code_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        plan_products([item("A")], [], ProductsConfig(vat_rate=D(0)), update=False)
    assert "exemption_code" in str(err.value) and err.value.hint


def test_differences_are_reported_but_not_written_without_update() -> None:
    plan = plan_products([item("A", price="24.60")], [product("A")], ProductsConfig(), update=False)
    assert plan.writes == []
    (outcome,) = plan.outcomes
    assert outcome.action == "unchanged" and "price" in outcome.detail
    assert outcome.facts()["differs"] == ["price"]


def test_update_changes_only_the_fields_that_differ() -> None:
    plan = plan_products(
        [
            item("A", name="Caneca azul", price="12.30", barcode="5601"),
            item("B", pid=2, name="Prato", price="24.60"),
            item("C", pid=3, name="Copo", price="12.30"),
        ],
        [
            product("A", id="pa", description="Caneca", barcode="5601"),
            product("B", id="pb", description="Prato", vat_rate="13", price="20.000000"),
            product("C", id="pc", description="Copo", price="10"),
        ],
        ProductsConfig(),
        update=True,
    )
    steps = {s.sku: s for s in plan.writes}
    assert set(steps) == {"A", "B"}
    assert steps["A"].product_id == "pa"
    assert steps["A"].changes == {"description": "Caneca azul"}
    # B keeps its 13 % rate, and its net price is the store price without 13 %.
    assert steps["B"].changes == {"price": D("21.769912")}
    # Said with the shop's price too: a 6-decimal net price alone is no price a person knows.
    assert steps["B"].summary == ("net price 20.000000 -> 21.769912 (22.60 -> 24.60 with 13 % VAT)")
    # 10 and 10.000000 are the same price: C is unchanged.
    assert [(o.key, o.action) for o in plan.outcomes] == [("C", "unchanged")]


def test_existing_products_keep_their_own_vat_rate_and_exemption() -> None:
    plan = plan_products(
        [item("OIL", price="8.75"), item("BOOK", pid=2, price="18.00")],
        [
            product("OIL", price="8.254717", vat_rate="6"),
            product("BOOK", id="p2", price="18", vat_rate="0", exemption_code="M07"),
        ],
        ProductsConfig(),
        update=True,
    )
    assert plan.writes == []
    moved = plan_products(
        [item("OIL", price="9.54")],
        [product("OIL", price="8.254717", vat_rate="6")],
        ProductsConfig(),
        update=True,
    )
    (step,) = moved.writes
    assert step.changes == {"price": D("9.000000")}


def test_a_missing_store_barcode_does_not_erase_igest_s() -> None:
    plan = plan_products(
        [item("A", barcode=None)], [product("A", barcode="5601")], ProductsConfig(), update=True
    )
    assert plan.writes == []


def test_long_names_are_cut_to_the_saft_limit_and_then_stable() -> None:
    long_name = "x" * 250
    (step,) = plan_products([item("A", name=long_name)], [], ProductsConfig(), update=False).writes
    assert step.draft.description == "x" * 200
    again = plan_products(
        [item("A", name=long_name)],
        [product("A", description="x" * 200)],
        ProductsConfig(),
        update=True,
    )
    assert again.writes == []


def test_product_plan_lists_skipped_items() -> None:
    plan = plan_products(
        [item(None), item("D", pid=2), item("D", pid=3)], [], ProductsConfig(), update=False
    )
    assert plan.writes == []
    assert {o.key: o.facts()["reason"] for o in plan.outcomes} == {
        "product 1": "no_sku",
        "D": "duplicate_sku",
    }


# --- stock plans ---------------------------------------------------------------------------------


def levels(**quantities: str) -> list[StockLevel]:
    return [StockLevel(reference=k, quantity=D(v)) for k, v in quantities.items()]


TO_JS = StockConfig(enabled=True)
TO_IGEST = StockConfig(enabled=True, direction="jumpseller_to_igest")


def test_stock_to_jumpseller_writes_only_differences() -> None:
    index = index_catalogue(
        [item("A", stock=3), item("B", pid=2, stock=5), item("C", pid=3, stock=1)]
    )
    plan = plan_stock(index, levels(A="3", B="7.000", C="0"), TO_JS)
    assert [(c.sku, c.current, c.new) for c in plan.changes] == [("B", 5, 7), ("C", 1, 0)]
    assert plan.changes[0].item.product_id == 2
    assert [(o.key, o.action) for o in plan.outcomes] == [("A", "unchanged")]
    assert plan.matched == 3 and plan.zero_writes == 1 and plan.source_count == 3


def test_stock_to_igest_writes_only_differences() -> None:
    index = index_catalogue([item("A", stock=3), item("B", pid=2, stock=5)])
    plan = plan_stock(index, levels(A="3.000", B="2.5"), TO_IGEST)
    assert [(c.sku, c.current, c.new) for c in plan.changes] == [("B", D("2.5"), D(5))]
    assert plan.source_count == 2


def test_fractional_igest_stock_is_floored_and_said() -> None:
    assert jumpseller_quantity(D("2.75")) == (D(2), jumpseller_quantity(D("2.75"))[1])
    assert "2.75" in jumpseller_quantity(D("2.75"))[1]
    assert jumpseller_quantity(D("4.000")) == (D(4), "")
    assert jumpseller_quantity(D("-1.5"))[0] == 0
    index = index_catalogue([item("A", stock=5), item("B", pid=2, stock=2)])
    plan = plan_stock(index, levels(A="3.9", B="2.4"), TO_JS)
    (change,) = plan.changes
    assert (change.sku, change.new) == ("A", 3) and "3.9" in change.note
    (same,) = plan.outcomes
    assert same.key == "B" and same.action == "unchanged" and "2.4" in same.detail


def test_unlimited_and_one_sided_skus_are_reported_not_written() -> None:
    index = index_catalogue(
        [
            item("U", stock=0, unlimited=True),
            item("J", pid=2, stock=4),
            item("DUP", pid=3),
            item("DUP", pid=4),
        ]
    )
    plan = plan_stock(index, levels(U="9", I="2", DUP="1"), TO_JS)
    assert plan.changes == [] and plan.matched == 0
    reasons = {o.key: o.facts()["reason"] for o in plan.outcomes}
    assert reasons == {
        "U": "unlimited",
        "J": "only_in_jumpseller",
        "I": "only_in_igest",
        "DUP": "duplicate_sku",
    }
    # A SKU only the shop has: the person is pointed at what creates it in iGEST.
    only_here = next(o for o in plan.outcomes if o.key == "J")
    assert "`igest-sync sync-products` creates a missing one" in only_here.detail


def test_a_reference_listed_twice_by_igest_is_not_guessed() -> None:
    index = index_catalogue([item("A", stock=1)])
    plan = plan_stock(index, levels(A="1") + levels(A="4"), TO_JS)
    assert plan.changes == []
    assert plan.outcomes[0].facts()["reason"] == "duplicate_in_igest"
    assert "keep one product of this reference in iGEST" in plan.outcomes[0].detail  # the fix


def test_a_twin_deactivated_in_igest_as_the_advice_says_is_set_aside() -> None:
    # "keep one in iGEST (rename or deactivate the others), then run again": iGEST still
    # lists a deactivated product, and the SKU stayed "held twice" however often it ran.
    old = replace(product("PRATO-1 ", id="p1", description="Prato antigo"), active=False)
    kept = product("PRATO-1", id="p2", description="Prato")
    plan = plan_products([item("PRATO-1")], [old, kept], ProductsConfig(), update=True)
    assert [(w.sku, w.product_id) for w in plan.writes] == [("PRATO-1", "p2")]
    # Both active, or both set aside: still not guessed.
    for pair in ([replace(old, active=True), kept], [old, replace(kept, active=False)]):
        again = plan_products([item("PRATO-1")], pair, ProductsConfig(), update=True)
        assert again.writes == [] and again.outcomes[0].facts()["reason"] == "duplicate_in_igest"


def test_location_stock_replaces_product_stock() -> None:
    index = index_catalogue(
        [item("A", pid=1, stock=50), item("B", pid=2, vid=9, stock=50), item("C", pid=3, stock=50)]
    )
    location = {(1, None): 4, (2, 9): 6, (3, None): 0}  # C has nothing at the location
    to_js = plan_stock(index, levels(A="4", B="7", C="2"), TO_JS, location)
    assert [(c.sku, c.current, c.new) for c in to_js.changes] == [("B", 6, 7), ("C", 0, 2)]
    to_igest = plan_stock(index, levels(A="4", B="7", C="2"), TO_IGEST, location)
    assert [(c.sku, c.new) for c in to_igest.changes] == [("B", 6), ("C", 0)]
    assert to_igest.source_count == 3


@pytest.mark.parametrize("settings", [TO_JS, TO_IGEST], ids=["to_jumpseller", "to_igest"])
def test_a_location_stock_not_read_is_left_alone_never_taken_as_zero(settings) -> None:
    # B: no row for it in Jumpseller's answer; C: a row whose stock cannot be read. Neither is
    # known to be 0 there: writing 0 into iGEST (or comparing against 0) would be a guess.
    index = index_catalogue(
        [item("A", pid=1, stock=50), item("B", pid=2, vid=9, stock=50), item("C", pid=3)]
    )
    location = {(1, None): 4}
    unread = {(3, None): "Jumpseller's stock at location 7 is 'x', not a whole number"}
    settings = replace(settings, jumpseller_location_id=7)
    plan = plan_stock(index, levels(A="3", B="7", C="2"), settings, location, unread)
    skipped = {o.key: o for o in plan.outcomes if o.action == "skipped"}
    assert skipped["C"].facts()["reason"] == "unreadable"
    assert skipped["C"].detail == f"{unread[(3, None)]}; left alone"
    if settings.direction == "igest_to_jumpseller":
        # Written there is iGEST's count, whatever the location held: an item the answer
        # leaves out (never stocked there) takes it as any other.
        assert [(c.sku, c.new) for c in plan.changes] == [("A", 3), ("B", 7)]
        assert set(skipped) == {"C"} and plan.matched == 2
        return
    assert [c.sku for c in plan.changes] == ["A"]
    assert skipped["B"].facts()["reason"] == "unreadable"
    assert "no stock for it" in skipped["B"].detail and "location 7" in skipped["B"].detail
    assert "product 2 variant 9" in skipped["B"].detail
    assert plan.matched == 1  # nor do they count for the brake's share


def test_unknown_direction_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        plan_stock(index_catalogue([]), [], StockConfig(enabled=True, direction="both"))


# --- the brake ---------------------------------------------------------------------------------


def test_brake_on_an_empty_source() -> None:
    plan = plan_stock(index_catalogue([item("A", stock=3)]), [], TO_JS)
    reason = brake_reason(plan, D("0.2"), source_name="iGEST")
    assert reason is not None and "iGEST" in reason and "no stock" in reason


def test_brake_when_more_than_the_share_would_go_to_zero() -> None:
    items = [item(f"S{i}", pid=i, stock=5) for i in range(10)]
    two_zeros = levels(**{f"S{i}": ("0" if i < 2 else "5") for i in range(10)})
    three_zeros = levels(**{f"S{i}": ("0" if i < 3 else "5") for i in range(10)})
    at_share = plan_stock(index_catalogue(items), two_zeros, TO_JS)
    assert brake_reason(at_share, D("0.2"), source_name="iGEST") is None
    over = plan_stock(index_catalogue(items), three_zeros, TO_JS)
    reason = brake_reason(over, D("0.2"), source_name="iGEST")
    assert reason is not None and "3 of 10" in reason


def test_the_brake_names_the_skus_it_would_zero_the_first_ten_then_a_count() -> None:
    items = [item(f"S{i:02}", pid=i, stock=5) for i in range(20)]
    every = plan_stock(
        index_catalogue(items), levels(**{f"S{i:02}": "0" for i in range(20)}), TO_JS
    )
    reason = brake_reason(every, D("0.2"), source_name="iGEST")
    assert reason is not None and "20 of 20" in reason
    assert ", ".join(f"S{i:02}" for i in range(10)) + " and 10 more" in reason
    assert "S10" not in reason
    five = levels(**{f"S{i:02}": ("0" if i < 5 else "5") for i in range(20)})
    plan = plan_stock(index_catalogue(items), five, TO_JS)
    reason = brake_reason(plan, D("0.2"), source_name="iGEST")
    assert reason is not None and reason.endswith("S00, S01, S02, S03, S04")


def test_items_already_at_zero_do_not_count_towards_the_brake() -> None:
    items = [item(f"S{i}", pid=i, stock=0) for i in range(10)]
    plan = plan_stock(index_catalogue(items), levels(**{f"S{i}": "0" for i in range(10)}), TO_JS)
    assert plan.changes == []
    assert brake_reason(plan, D("0"), source_name="iGEST") is None


# --- the report ----------------------------------------------------------------------------------


def test_report_counts_and_json() -> None:
    report = CatalogueReport("stock", dry_run=False, info={"warehouse": None})
    report.add(CatalogueOutcome("A", "updated", "Set", quantity_from=D(1), quantity_to=D("2")))
    report.add(CatalogueOutcome("B", "failed", "boom"))
    report.add(CatalogueOutcome("C", "failed", "boom"))
    report.add(CatalogueOutcome("D", "skipped", "why"))
    assert report.counts == {"created": 0, "updated": 1, "unchanged": 0, "skipped": 1, "failed": 2}
    assert report.failed == 2 and report.writes == 1
    data = json.loads(json.dumps(report.to_json()))
    assert data["items"][0] == {
        "key": "A",
        "action": "updated",
        "detail": "Set",
        "from": "1",
        "to": "2",
    }
    assert data["failed"] == 2 and data["run"] == "stock" and data["dry_run"] is False


def test_a_dry_run_report_counts_no_writes() -> None:
    report = CatalogueReport("products", dry_run=True)
    report.add(CatalogueOutcome("A", "created", "Would create"))
    assert report.writes == 0 and report.counts["created"] == 1


# --- what Jumpseller sent that cannot be read, and what iGEST cannot hold ----------------------


def test_an_item_whose_price_cannot_be_read_is_skipped_naming_it_and_the_fix() -> None:
    unread = replace(item("NOPRICE", pid=2000), price_unread="its price is None")
    long_sku = "X" * 61
    plan = plan_products(
        [unread, item(long_sku, pid=7), item("OK", pid=8)], [], ProductsConfig(), update=True
    )
    assert [w.sku for w in plan.writes] == ["OK"]
    skipped = by_key(plan.outcomes)
    assert skipped["NOPRICE"].action == "skipped"
    assert "product 2000: its price is None; give it a price" in skipped["NOPRICE"].detail
    assert "61 characters" in skipped[long_sku].detail and "shorter SKU" in skipped[long_sku].detail
    # Nor is an existing product updated from a price that cannot be read.
    again = plan_products([unread], [product("NOPRICE")], ProductsConfig(), update=True)
    assert again.writes == [] and by_key(again.outcomes)["NOPRICE"].action == "skipped"


@pytest.mark.parametrize("update", [False, True])
def test_an_igest_product_that_cannot_be_read_is_left_alone_and_named(update) -> None:
    unread = replace(product("BAD"), unread="iGEST sent product p1 price = None, not a decimal")
    plan = plan_products([item("BAD"), item("NEW")], [unread], ProductsConfig(), update=update)
    assert [(w.sku, w.action) for w in plan.writes] == [("NEW", "created")]  # never a 409
    bad = by_key(plan.outcomes)["BAD"]
    assert bad.action == "skipped" and bad.facts().get("reason") == "unreadable"
    assert "price = None" in bad.detail and "in iGEST" in bad.detail


def test_a_sku_with_a_control_character_is_left_for_a_person_not_failed_each_run() -> None:
    # iGEST refuses a reference holding a tab (422): the create failed on every run (exit 1),
    # its SKU cut in two in the table, nothing saying the fix is in Jumpseller.
    plan = plan_products([item("TAB\tX"), item("A  B")], [], ProductsConfig(), update=False)
    assert [w.sku for w in plan.writes] == ["A  B"]  # spaces inside are iGEST's to take
    [left] = plan.outcomes
    assert left.action == "skipped" and left.facts()["reason"] == "unreadable"
    assert "'TAB\\tX'" in left.detail and "control character" in left.detail
    assert "in Jumpseller" in left.detail


def test_control_characters_in_a_name_never_reach_igest() -> None:
    plan = plan_products([item("TAB", name="Caneca\tazul\n")], [], ProductsConfig(), update=False)
    assert plan.writes[0].draft.description == "Caneca azul"


def test_jumpseller_stock_oversold_or_unread_never_goes_to_igest_as_is() -> None:
    unread = replace(item("NULL", pid=3, stock=0), stock_unread="Jumpseller gives no stock")
    index = index_catalogue([item("NEG", stock=-3), unread])
    plan = plan_stock(index, levels(NEG="1", NULL="4"), TO_IGEST)
    [change] = plan.changes
    assert (change.sku, change.current, change.new) == ("NEG", D(1), D(0))
    assert "sold beyond its stock" in change.note
    null = by_key(plan.outcomes)["NULL"]
    assert null.action == "skipped" and "no stock" in null.detail  # never 0 over iGEST's 4
    # The other way, Jumpseller's unreadable stock is simply overwritten with iGEST's.
    assert [(c.sku, c.new) for c in plan_stock(index, levels(NULL="4"), TO_JS).changes] == [
        ("NULL", D(4))
    ]


def test_jumpseller_stock_unread_is_overwritten_with_igests_zero_too() -> None:
    # Read as 0 for want of a number, it compared equal to iGEST's 0 (or 0.5, or -2: 0 in
    # Jumpseller), and "Same quantity on both sides" left the shop selling what iGEST says
    # is gone.
    unread = replace(item("NULL", pid=3, stock=0), stock_unread="Jumpseller gives no stock")
    index = index_catalogue([unread])
    for igest_has in ("0", "0.5", "-2"):
        plan = plan_stock(index, levels(NULL=igest_has), TO_JS)
        assert [(c.sku, c.new) for c in plan.changes] == [("NULL", D(0))], igest_has
        assert "Jumpseller gives no stock" in plan.changes[0].note


@pytest.mark.parametrize("settings", [TO_JS, TO_IGEST])
def test_an_igest_quantity_that_cannot_be_read_leaves_that_sku_alone(settings) -> None:
    unread = StockLevel("BAD", D(0), quantity_unread="iGEST gives its quantity as None")
    index = index_catalogue([item("BAD", pid=1, stock=5), item("OK", pid=2, stock=5)])
    plan = plan_stock(index, [unread, *levels(OK="2")], settings)
    assert [c.sku for c in plan.changes] == ["OK"]
    bad = by_key(plan.outcomes)["BAD"]
    assert bad.action == "skipped" and bad.facts().get("reason") == "unreadable"
    assert "iGEST gives its quantity as None" in bad.detail and "in iGEST" in bad.detail


def test_a_skip_says_why_sync_products_will_not_create_it() -> None:
    unread = replace(item("NOPRICE", pid=2), price_unread="price None")
    index = index_catalogue([item("SVC", digital=True), unread, item("NEW", pid=3)])
    outcomes = by_key(plan_stock(index, levels(), TO_JS).outcomes)
    assert "A service in iGEST" in outcomes["SVC"].detail
    assert "give it a price" in outcomes["NOPRICE"].detail
    assert "sync-products` creates a missing one" in outcomes["NEW"].detail
