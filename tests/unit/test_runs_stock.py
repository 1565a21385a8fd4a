"""sync_stock against the shared in-memory fakes, which hold stock and record every write."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from igest_sync.config import StockConfig
from igest_sync.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    ExitCode,
    NotFound,
    RateLimited,
    Rejected,
    SafetyBrake,
    TransportError,
)
from igest_sync.models import CatalogueItem, IgestProduct, StockLevel, StoreLocation
from igest_sync.runs.catalogue.stock import sync_stock
from tests.support.clock import one_worker
from tests.support.fakes import FakeIgest, FakeJumpseller

D = Decimal
LOC = 77


def item(
    sku: str | None, pid: int, stock: int = 0, *, vid: int | None = None, unlimited: bool = False
) -> CatalogueItem:
    return CatalogueItem(
        product_id=pid,
        variant_id=vid,
        sku=sku,
        name=f"Item {pid}",
        price=D("10.00"),
        barcode=None,
        digital=False,
        stock=stock,
        stock_unlimited=unlimited,
    )


def shop(
    items: Iterable[CatalogueItem],
    location: dict | None = None,
    fail: set[str] = frozenset(),
    locations: Iterable[StoreLocation] | None = None,
) -> FakeJumpseller:
    """Stock per (product, variant), and per location; a write of a SKU in ``fail`` times out."""
    jumpseller = FakeJumpseller(items=items, location=location, locations=locations)
    for sku in fail:
        timeout = TransportError("Jumpseller timed out", service="Jumpseller")
        jumpseller.faults.add("set_stock", timeout, match=sku, times=None)
    return jumpseller


def warehouses(levels: dict[str, dict[str, str]], fail: set[str] = frozenset()) -> FakeIgest:
    """Stock per warehouse (``stock(None)`` sums them); a write of a reference in ``fail`` is
    refused."""
    igest = FakeIgest(stock=levels)
    for reference in fail:
        refused = Rejected("iGEST refused the quantity", service="iGEST", status=422)
        igest.faults.add("set_stock", refused, match=reference, times=None)
    return igest


TO_JS = StockConfig(enabled=True)
TO_IGEST = StockConfig(enabled=True, direction="jumpseller_to_igest", warehouse="ARM1")


def outcomes(report) -> dict[str, tuple[str, str]]:
    return {o.key: (o.action, o.detail) for o in report.outcomes}


def test_refuses_when_stock_sync_is_off() -> None:
    jumpseller, igest = shop([item("A", 1, 3)]), warehouses({"ARM1": {"A": "5"}})
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, StockConfig(), force=True, dry_run=False)
    assert "enabled = true" in err.value.hint
    assert jumpseller.writes == [] and igest.writes == []


def test_igest_to_jumpseller_sums_warehouses_and_writes_only_differences() -> None:
    jumpseller = shop([item("A", 1, 3), item("B", 2, 8), item("V1", 3, 1, vid=31)])
    igest = warehouses({"ARM1": {"A": "1", "B": "8", "V1": "2"}, "ARM2": {"A": "2", "V1": "2"}})
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert jumpseller.writes == [("stock", "V1", 4)]
    assert igest.writes == []
    assert jumpseller.stock[(3, 31)] == 4
    assert outcomes(report)["V1"] == ("updated", "Set Jumpseller 1 -> 4")
    assert report.counts["unchanged"] == 2 and report.writes == 1


def test_a_configured_warehouse_is_the_igest_side() -> None:
    jumpseller = shop([item("A", 1, 3)])
    igest = warehouses({"ARM1": {"A": "1"}, "ARM2": {"A": "2"}})
    sync_stock(jumpseller, igest, replace(TO_JS, warehouse="ARM2"), force=False, dry_run=False)
    assert jumpseller.writes == [("stock", "A", 2)]


def test_jumpseller_to_igest_writes_the_configured_warehouse() -> None:
    jumpseller = shop([item("A", 1, 3), item("B", 2, 0), item("C", 3, 9)])
    igest = warehouses({"ARM1": {"A": "3.000", "B": "1.5", "C": "4"}, "ARM2": {"A": "7"}})
    report = sync_stock(jumpseller, igest, TO_IGEST, force=True, dry_run=False)
    assert igest.writes == [("B", "ARM1", D(0)), ("C", "ARM1", D(9))]
    assert jumpseller.writes == []
    assert outcomes(report)["C"] == ("updated", "Set iGEST 4 -> 9")


def test_jumpseller_totals_go_to_igest_without_warehouses_but_never_into_a_sum() -> None:
    jumpseller = shop([item("A", 1, 3)])
    single = warehouses({"MAIN": {"A": "1"}})
    settings = replace(TO_IGEST, warehouse=None)
    sync_stock(jumpseller, single, settings, force=False, dry_run=False)
    assert single.writes == [("A", None, D(3))]
    several = warehouses({"ARM1": {"A": "1"}, "ARM2": {"A": "1"}})
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, several, settings, force=False, dry_run=False)
    assert "warehouse" in err.value.hint and several.writes == []


@pytest.mark.parametrize("settings", [TO_JS, TO_IGEST])
def test_a_second_run_writes_nothing(settings: StockConfig) -> None:
    jumpseller = shop([item("A", 1, 3), item("B", 2, 6), item("C", 3, 2)])
    igest = warehouses({"ARM1": {"A": "5", "B": "6", "C": "2.5"}})
    first = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert first.writes > 0
    jumpseller.writes.clear()
    igest.writes.clear()
    second = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert jumpseller.writes == [] and igest.writes == []
    assert second.writes == 0 and second.counts["unchanged"] == 3


def test_stock_goes_to_the_reference_as_igest_holds_it_spaces_and_all() -> None:
    # "SP-1 " in iGEST is the shop's "SP-1" (spaces around a reference are ignored): its
    # stock must be written to "SP-1 ", which iGEST knows, not to "SP-1", which it does not
    # (the sandbox answered 404 on every run while the dry run promised the write).
    jumpseller = shop([item("SP-1", 1, 9)])
    igest = warehouses({"ARM1": {"SP-1 ": "4"}})
    report = sync_stock(jumpseller, igest, TO_IGEST, force=False, dry_run=False)
    assert igest.writes == [("SP-1 ", "ARM1", D(9))]
    assert outcomes(report)["SP-1"][0] == "updated"


@pytest.mark.parametrize("settings", [TO_JS, TO_IGEST])
def test_a_twin_deactivated_in_igest_leaves_the_active_ones_stock(settings) -> None:
    # GET /stock lists the deactivated "SP-1 " beside "SP-1" (it says nothing of active):
    # "Listed twice ... (rename or deactivate the other)" stayed, however often it ran.
    jumpseller = shop([item("SP-1", 1, 9)])
    igest = warehouses({"ARM1": {"SP-1 ": "4", "SP-1": "2"}})
    twin = IgestProduct("p1", "SP-1 ", "Old", "P", "UN", D(1), D(23), None, None, active=False)
    igest.products_by_id = {"p1": twin, "p2": replace(twin, id="p2", reference="SP-1", active=True)}
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert outcomes(report)["SP-1"][0] == "updated"
    if settings is TO_JS:
        assert jumpseller.writes == [("stock", "SP-1", 2)]
    else:
        assert igest.writes == [("SP-1", "ARM1", D(9))]


def test_fractional_igest_stock_is_floored_and_reported() -> None:
    jumpseller = shop([item("A", 1, 0), item("B", 2, 5)])
    igest = warehouses({"ARM1": {"A": "2.75", "B": "-1"}})
    report = sync_stock(jumpseller, igest, TO_JS, force=True, dry_run=False)
    assert jumpseller.writes == [("stock", "A", 2), ("stock", "B", 0)]
    assert "2.75" in outcomes(report)["A"][1]
    assert "negative" in outcomes(report)["B"][1]


def test_unlimited_stock_and_one_sided_skus_are_left_alone() -> None:
    jumpseller = shop(
        [item("U", 1, 0, unlimited=True), item("JS-ONLY", 2, 4), item("A", 3, 1), item(None, 4, 2)]
    )
    igest = warehouses({"ARM1": {"U": "3", "IG-ONLY": "9", "A": "2"}})
    for settings in (TO_JS, TO_IGEST):
        report = sync_stock(jumpseller, igest, settings, force=True, dry_run=False)
        reasons = {o.key: o.facts().get("reason") for o in report.outcomes if o.action == "skipped"}
        assert reasons == {
            "U": "unlimited",
            "JS-ONLY": "only_in_jumpseller",
            "IG-ONLY": "only_in_igest",
            "product 4": "no_sku",
        }
    written = {w[1] for w in jumpseller.writes} | {w[0] for w in igest.writes}
    assert written == {"A"}


def test_location_stock_is_read_and_written_per_location() -> None:
    jumpseller = shop(
        [
            item("A", 1, 50),
            item("B", 2, 50, vid=21),
            item("C", 3, 50),
            item("U", 4, 0, unlimited=True),
            item("NOT-IN-IGEST", 5, 1),
        ],
        location={(1, None): 4, (2, 21): 1},
    )
    igest = warehouses({"ARM1": {"A": "4", "B": "3", "C": "2", "U": "1"}})
    settings = replace(TO_JS, jumpseller_location_id=LOC)
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    # Only items that can be synced are looked up at the location.
    assert jumpseller.called("location_stock") == ["A", "B", "C"]
    assert {at for at, _ in jumpseller.called("set_location_stock")} == {LOC}
    assert jumpseller.writes == [("location", "B", 3), ("location", "C", 2)]
    assert jumpseller.stock[(2, 21)] == 50  # the product's own stock is not touched
    assert report.info["jumpseller_location_id"] == LOC


def test_location_stock_as_the_source_for_igest() -> None:
    jumpseller = shop([item("A", 1, 50), item("B", 2, 50)], location={(1, None): 4, (2, None): 2})
    igest = warehouses({"ARM1": {"A": "4", "B": "3"}})
    settings = replace(TO_IGEST, jumpseller_location_id=LOC)
    sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert igest.writes == [("B", "ARM1", D(2))]


def test_an_item_the_location_answer_leaves_out_is_not_written_into_igest() -> None:
    # None: Jumpseller's answer has no row for B (the fake answers 0 for an item not listed).
    jumpseller = shop(
        [item("A", 1, 50), item("B", 2, 50)], location={(1, None): 4, (2, None): None}
    )
    igest = warehouses({"ARM1": {"A": "3", "B": "56"}})
    settings = replace(TO_IGEST, jumpseller_location_id=LOC)
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert igest.writes == [("A", "ARM1", D(4))]
    reasons = {o.key: o.facts().get("reason") for o in report.outcomes if o.action == "skipped"}
    assert reasons == {"B": "unreadable"} and report.exit_code == 0


def test_a_location_never_asked_is_not_reported_empty() -> None:
    # None of the shop's SKUs is in iGEST's warehouse: nothing is asked at the location, so
    # nothing is to be written, and "Jumpseller location 77 reported no stock at all" (the
    # brake, exit 3) was not true; the same store without a location exits 0.
    jumpseller = shop([item("A", 1, 50), item("B", 2, 5)], location={(1, None): 4, (2, None): 2})
    igest = warehouses({"ARM1": {"X": "4"}})
    settings = replace(TO_IGEST, jumpseller_location_id=LOC)
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert jumpseller.called("location_stock") == [] and igest.writes == []
    assert report.exit_code == 0 and report.brake is None
    assert "brake_overridden" not in report.info


@pytest.mark.parametrize(
    "settings", [replace(TO_JS, warehouse="ARMX"), replace(TO_IGEST, warehouse="ARMX")]
)
def test_a_warehouse_igest_does_not_know_is_a_config_error_naming_it(settings) -> None:
    # iGEST refuses the listing (422, fields {"warehouse": ...}): it read as a service failure
    # (exit 5, "the next run will retry"), without the setting to fix; no retry fixes it.
    jumpseller, igest = shop([item("A", 1, 3)]), warehouses({"ARM1": {"A": "5"}})
    unknown = Rejected(
        "iGEST GET /stock: Unknown warehouse",
        service="iGEST",
        status=422,
        fields={"warehouse": "unknown warehouse 'ARMX'"},
    )
    igest.faults.add("stock", unknown)
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert "ARMX" in err.value.message and "[stock] warehouse" in (err.value.hint or "")
    assert err.value.exit_code == ExitCode.USAGE
    assert jumpseller.writes == [] and igest.writes == []


@pytest.mark.parametrize("direction", ["igest_to_jumpseller", "jumpseller_to_igest"])
def test_a_location_the_store_does_not_have_is_a_config_error_naming_it(direction) -> None:
    # Jumpseller answers 404 "Location not found": it read as a service failure (exit 5, "the
    # next run will retry") without the setting to fix; no retry fixes it.
    places = [StoreLocation(1, "Armazém", main=True, holds_stock=True)]
    jumpseller = shop([item("A", 1, 3)], locations=places)
    jumpseller.faults.add(
        "location_stock",
        NotFound("Jumpseller GET /products_locations: Location not found", service="Jumpseller"),
    )
    igest = warehouses({"ARM1": {"A": "5"}})
    settings = replace(TO_IGEST, direction=direction, jumpseller_location_id=999)
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert "999" in err.value.message and "1 Armazém" in err.value.message
    assert "jumpseller_location_id" in (err.value.hint or "")
    assert jumpseller.writes == [] and igest.writes == []


def test_brake_when_igest_reports_nothing() -> None:
    jumpseller = shop([item("A", 1, 3)])
    igest = warehouses({"ARM1": {}})
    with pytest.raises(SafetyBrake) as err:
        sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert "iGEST" in str(err.value) and "--force" in err.value.hint
    assert jumpseller.writes == []
    # A dry run is there to look first: its plan, with the brake it would stop on.
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=True)
    assert report.brake is not None and "iGEST" in str(report.brake)
    assert report.exit_code == ExitCode.SAFETY_BRAKE and report.outcomes
    assert jumpseller.writes == []


def test_brake_when_jumpseller_reports_nothing() -> None:
    igest = warehouses({"ARM1": {"A": "3"}})
    with pytest.raises(SafetyBrake) as err:
        sync_stock(shop([]), igest, TO_IGEST, force=False, dry_run=False)
    assert "Jumpseller" in str(err.value)
    assert igest.writes == []


def store_of(n: int, zeros: int) -> tuple[FakeJumpseller, FakeIgest]:
    jumpseller = shop([item(f"S{i}", i, 5) for i in range(n)])
    igest = warehouses({"ARM1": {f"S{i}": ("0" if i < zeros else "5") for i in range(n)}})
    return jumpseller, igest


def test_brake_when_too_many_items_would_go_to_zero_and_force_overrides_it() -> None:
    jumpseller, igest = store_of(10, zeros=3)
    with pytest.raises(SafetyBrake) as err:
        sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert "3 of 10" in str(err.value)
    assert jumpseller.writes == []
    report = sync_stock(jumpseller, igest, TO_JS, force=True, dry_run=False)
    assert sorted(w[1] for w in jumpseller.writes) == ["S0", "S1", "S2"]
    assert "3 of 10" in report.info["brake_overridden"]


def test_a_dry_run_shows_the_plan_the_brake_would_stop_with_its_exit_code() -> None:
    jumpseller, igest = store_of(10, zeros=3)
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=True)
    assert report.exit_code == ExitCode.SAFETY_BRAKE and report.writes == 0
    assert sorted(o.key for o in report.outcomes if o.action == "updated") == ["S0", "S1", "S2"]
    assert report.brake is not None and "3 of 10" in str(report.brake)
    assert "--force" in (report.brake.hint or "")
    assert "3 of 10" in report.to_json()["info"]["brake"]
    assert jumpseller.writes == []
    forced = sync_stock(jumpseller, igest, TO_JS, force=True, dry_run=True)
    assert forced.brake is None and forced.exit_code == 0 and jumpseller.writes == []


def test_zeros_within_the_share_pass_the_brake() -> None:
    jumpseller, igest = store_of(10, zeros=2)
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert len(jumpseller.writes) == 2 and "brake_overridden" not in report.info


def test_dry_run_writes_nothing() -> None:
    jumpseller = shop([item("A", 1, 3), item("B", 2, 3)])
    igest = warehouses({"ARM1": {"A": "4", "B": "3"}})
    for settings in (TO_JS, TO_IGEST):
        report = sync_stock(jumpseller, igest, settings, force=False, dry_run=True)
        assert report.counts["updated"] == 1 and report.writes == 0
        assert outcomes(report)["A"][1].startswith("Would set")
    assert jumpseller.writes == [] and igest.writes == []


def test_a_failed_item_is_recorded_and_the_run_goes_on() -> None:
    jumpseller = shop([item("A", 1, 0), item("B", 2, 0), item("C", 3, 0)], fail={"B"})
    igest = warehouses({"ARM1": {"A": "1", "B": "2", "C": "3"}})
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert [w[1] for w in jumpseller.writes] == ["A", "B", "C"]
    assert report.failed == 1
    action, detail = outcomes(report)["B"]
    assert action == "failed" and "timed out" in detail
    assert outcomes(report)["C"][0] == "updated"

    jumpseller = shop([item("A", 1, 5), item("B", 2, 6)])
    igest = warehouses({"ARM1": {"A": "1", "B": "2"}}, fail={"A"})
    report = sync_stock(jumpseller, igest, TO_IGEST, force=False, dry_run=False)
    assert [w[0] for w in igest.writes] == ["A", "B"]
    assert outcomes(report)["A"][0] == "failed" and outcomes(report)["B"][0] == "updated"
    assert report.to_json()["items"][0]["error"] == "Rejected"


TOO_MANY = RateLimited(
    "Jumpseller PUT /products/3.json: too many requests (429) after 4 tries; the service asks "
    "to wait 1 s",
    service="Jumpseller",
    status=429,
    hint="Wait a minute and run again.",
)
REFUSED = AuthError("Jumpseller refused the credentials (401)", service="Jumpseller", status=401)


@pytest.mark.parametrize("error", [TOO_MANY, REFUSED], ids=["429", "401"])
def test_a_failure_every_later_write_would_meet_stops_the_writes_at_once(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """A 429 that outlasted the client's retries (or refused credentials): the other writes
    would meet it too, each after its own retries. The run stops there, says which writes it
    did not attempt, and exits as for a service problem (5), not 1."""
    one_worker(monkeypatch)
    skus = [f"S{i}" for i in range(1, 7)]
    jumpseller = shop([item(sku, i, 0) for i, sku in enumerate(skus, start=1)])
    jumpseller.faults.add("set_stock", error, match="S3", times=None)
    igest = warehouses({"ARM1": dict.fromkeys(skus, "5")})
    report = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert [w[1] for w in jumpseller.writes] == ["S1", "S2", "S3"]
    lines = outcomes(report)
    assert [lines[sku][0] for sku in skus] == ["updated", "updated", "failed", *["skipped"] * 3]
    assert str(error) in lines["S3"][1]
    for sku in ("S4", "S5", "S6"):
        assert lines[sku][1].startswith("Not attempted: the run stopped at S3"), lines[sku]
    assert report.failed == 1 and report.exit_code == ExitCode.SERVICE
    data = report.to_json()
    assert data["stopped"] == {"message": str(error), "hint": error.hint}
    assert [i["reason"] for i in data["items"] if i["action"] == "skipped"] == ["not_attempted"] * 3
    # The next run has nothing left over: it plans the same writes again.
    jumpseller.faults.clear()
    again = sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert again.exit_code == 0 and again.counts["updated"] == 4


def test_progress_counts_reading_then_writes() -> None:
    calls: list[tuple[int, int | None]] = []
    jumpseller, igest = store_of(250, zeros=0)
    igest.warehouse_stock["ARM1"].update({"S1": D(7), "S2": D(8)})
    sync_stock(
        jumpseller,
        igest,
        TO_JS,
        force=False,
        dry_run=False,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [c for c in calls if c[1] is None] == [(100, None), (200, None), (250, None)]
    assert [c for c in calls if c[1] is not None] == [(0, 2), (1, 2), (2, 2)]


class StreamingJumpseller(FakeJumpseller):
    """A large store generated on the fly, as the real adapter streams pages."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def catalogue(self) -> Iterator[CatalogueItem]:
        for i in range(self.n):
            yield item(f"SKU-{i:06d}", i // 10, i % 7, vid=i)


class StreamingIgest(FakeIgest):
    def __init__(self, n: int) -> None:
        super().__init__(stock={})
        self.n = n

    def stock(self, warehouse: str | None) -> Iterator[StockLevel]:
        for i in range(self.n):
            yield StockLevel(f"SKU-{i:06d}", D(i % 5))


def test_twenty_thousand_variants_in_small_memory() -> None:
    n = 20_000
    jumpseller, igest = StreamingJumpseller(n), StreamingIgest(n)
    tracemalloc.start()
    try:
        report = sync_stock(jumpseller, igest, TO_JS, force=True, dry_run=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.counts["updated"] + report.counts["unchanged"] == n
    # Per-SKU maps of small values and one outcome per item: a couple of KB per item at most.
    assert peak / n < 2048, f"{peak / n:.0f} bytes per item"


# -- several locations, and a look before stock sync is turned on ------------------------------

TWO_SHOPS = [
    StoreLocation(1, "Armazém Lisboa", main=True, holds_stock=True),
    StoreLocation(LOC, "Loja Porto", main=False, holds_stock=True),
    StoreLocation(9, "Ponto de recolha", main=False, holds_stock=False),
]


@pytest.mark.parametrize("dry_run", [False, True])
def test_several_stock_locations_and_none_configured_is_refused_before_reading(dry_run) -> None:
    jumpseller = shop([item("A", 1, 3)], locations=TWO_SHOPS)
    igest = warehouses({"ARM1": {"A": "0"}})
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, TO_JS, force=True, dry_run=dry_run)
    assert err.value.exit_code == 2
    assert "2 locations" in err.value.message and "nothing was written" in err.value.message
    # Both stock locations listed with id and name; the pickup point holds no stock.
    assert err.value.problems == [
        "location 1: Armazém Lisboa (main)",
        f"location {LOC}: Loja Porto",
    ]
    assert "jumpseller_location_id = 1" in err.value.hint
    assert jumpseller.writes == [] and igest.writes == []


def test_with_the_location_configured_the_same_store_syncs_that_location() -> None:
    jumpseller = shop([item("A", 1, 3)], location={(1, None): 1}, locations=TWO_SHOPS)
    igest = warehouses({"ARM1": {"A": "4"}})
    report = sync_stock(
        jumpseller, igest, replace(TO_JS, jumpseller_location_id=LOC), force=False, dry_run=False
    )
    assert report.failed == 0 and jumpseller.writes == [("location", "A", 4)]


@pytest.mark.parametrize("dry_run", [False, True])
def test_igests_total_is_not_written_into_one_of_several_locations(dry_run) -> None:
    """No warehouse named while iGEST keeps stock per warehouse: ARM1 + ARM2 (36) went into
    location LOC while the other shop kept its own 6, and the store showed 42 to sell."""
    jumpseller = shop([item("A", 1, 9)], location={(1, None): 3}, locations=TWO_SHOPS)
    igest = warehouses({"ARM1": {"A": "30"}, "ARM2": {"A": "6"}})
    settings = replace(TO_JS, jumpseller_location_id=LOC)
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, settings, force=True, dry_run=dry_run)
    assert "would go into Jumpseller location" in err.value.message
    assert "1 Armazém Lisboa" in err.value.message and "[stock] warehouse" in err.value.hint
    assert jumpseller.writes == []
    named = replace(settings, warehouse="ARM2")  # the Porto shop's warehouse
    sync_stock(jumpseller, igest, named, force=False, dry_run=False)
    assert jumpseller.writes == [("location", "A", 6)]


def test_one_stock_location_and_a_pickup_point_need_no_choice() -> None:
    jumpseller = shop([item("A", 1, 3)], locations=[TWO_SHOPS[0], TWO_SHOPS[2]])
    igest = warehouses({"ARM1": {"A": "4"}})
    sync_stock(jumpseller, igest, TO_JS, force=False, dry_run=False)
    assert jumpseller.writes == [("stock", "A", 4)]


@pytest.mark.parametrize("dry_run", [False, True])
def test_jumpsellers_total_is_not_written_into_one_of_several_warehouses(dry_run) -> None:
    """No location named while the store keeps stock in two: A's total 25 (Porto's 5 in it)
    went into ARM1 while ARM2 kept its 5, and iGEST counted 30."""
    jumpseller = shop([item("A", 1, 25)], location={(1, None): 20}, locations=TWO_SHOPS)
    igest = warehouses({"ARM1": {"A": "20"}, "ARM2": {"A": "5"}})
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, TO_IGEST, force=True, dry_run=dry_run)
    assert err.value.exit_code == ExitCode.USAGE
    message = err.value.message
    assert "1 Armazém Lisboa" in message and f"{LOC} Loja Porto" in message
    assert "Ponto de recolha" not in message  # a pickup point holds no stock
    assert "warehouse ARM1" in message and "nothing was written" in message
    assert "[stock] jumpseller_location_id" in err.value.hint
    assert "jumpseller_location_id = 1" in err.value.hint
    # Refused before the catalogue was read.
    assert jumpseller.called("catalogue") == [] and igest.writes == []
    named = replace(TO_IGEST, jumpseller_location_id=1)  # Lisboa's stock, ARM1's
    sync_stock(jumpseller, igest, named, force=False, dry_run=False)
    assert igest.writes == []  # 20 on both sides


def test_stock_read_from_jumpseller_needs_no_location() -> None:
    # Jumpseller's total over its locations is well defined as a source for an iGEST that
    # keeps one count per item (not per warehouse).
    jumpseller = shop([item("A", 1, 3)], locations=TWO_SHOPS)
    igest = warehouses({"ARM1": {"A": "4"}})
    sync_stock(jumpseller, igest, TO_IGEST, force=False, dry_run=False)
    assert igest.writes == [("A", "ARM1", D(3))]


def test_a_dry_run_plans_while_stock_sync_is_still_off() -> None:
    jumpseller, igest = shop([item("A", 1, 3)]), warehouses({"ARM1": {"A": "5"}})
    report = sync_stock(jumpseller, igest, StockConfig(), force=False, dry_run=True)
    assert report.info["enabled"] is False
    assert [(o.key, o.detail) for o in report.outcomes] == [("A", "Would set Jumpseller 3 -> 5")]
    assert jumpseller.writes == [] and igest.writes == []


@pytest.mark.parametrize("settings", [TO_JS, TO_IGEST])
def test_an_igest_listing_with_no_quantity_read_at_all_is_a_failure_not_a_quiet_run(
    settings,
) -> None:
    # One row whose quantity cannot be read is that SKU's alone; a listing none of whose rows
    # can be read is iGEST's answer that cannot be read (a changed field, a service mid-deploy),
    # as before rows were read one by one: exit 5, not every SKU "left alone" and exit 0 on
    # every run while no stock is synced.
    jumpseller = shop([item("A", 1, 3), item("B", 2, 8)])
    igest = warehouses({"ARM1": {}})
    why = "iGEST gives its quantity as None, not a number"
    rows = [StockLevel(r, D(0), quantity_unread=why) for r in ("A", "B")]
    igest.stock = lambda warehouse: iter(rows)  # type: ignore[method-assign]
    with pytest.raises(BadResponse) as err:
        sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert err.value.exit_code == ExitCode.SERVICE and "'A'" in err.value.message
    assert jumpseller.writes == [] and igest.writes == []
