"""`sync-products` and `sync-stock` runs with the real adapters against the sandbox (in-process,
on a virtual clock).

The expectations are computed from the sandbox's own state, not from our plan: what Jumpseller
sells must be in iGEST, field by field; after a stock run both sides agree for every SKU.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import pytest

from igest_sandbox import Sandbox
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.config import ProductsConfig, StockConfig
from igest_sync.errors import BadResponse, ConfigError, ExitCode, SafetyBrake
from igest_sync.models import CatalogueItem
from igest_sync.runs.catalogue.products import sync_products
from igest_sync.runs.catalogue.stock import sync_stock
from tests.support.clock import VirtualClock, one_worker
from tests.support.sandbox_clients import adapters, on_clock

PORTO_LOCATION, PORTO_WAREHOUSE = 2, "ARM2"


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    one_worker(monkeypatch)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The real rate limits: every run here must also see no 429 (a pacing check), on a
    virtual clock that the sandbox's limiters and the clients' pacing share."""
    clock = VirtualClock()
    with Sandbox(seed=True, **on_clock(clock)) as sb:
        sb.virtual_clock = clock  # type: ignore[attr-defined]
        yield sb


@pytest.fixture
def clients(sandbox) -> Iterator[tuple[JumpsellerClient, IgestClient]]:
    """The adapters, in-process (the emulators' WSGI apps), paced on the sandbox's clock."""
    with adapters(sandbox, sandbox.virtual_clock) as both:
        yield both


@pytest.fixture
def one_location(sandbox):
    """A store that keeps stock in its main location only: the product stock is the stock."""
    sandbox.store.locations[:] = [loc for loc in sandbox.store.locations if loc["main"]]
    return sandbox


def writes(sb) -> dict[str, int]:
    """Write requests the sandbox answered, by service and route."""
    return {
        f"{service} {route}": n
        for service, stats in sb.stats().items()
        for route, n in stats["by_route"].items()
        if route.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")
    }


def no_429(sb) -> bool:
    return all(stats["429"] == 0 for stats in sb.stats().values())


def store_items(jumpseller: JumpsellerClient) -> dict[str, CatalogueItem]:
    return {i.sku: i for i in jumpseller.catalogue() if i.sku}


def vat_included(net: Decimal, rate: Decimal) -> Decimal:
    return (net * (100 + rate) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_products_missing_in_igest_are_created_as_the_store_has_them(sandbox, clients):
    jumpseller, igest = clients
    before = {p.reference: p for p in igest.products()}
    items = store_items(jumpseller)
    missing = set(items) - set(before)
    assert missing  # the seed leaves some SKUs out of iGEST

    report = sync_products(jumpseller, igest, ProductsConfig(), update=False, dry_run=False)

    assert report.failed == 0
    assert {o.key for o in report.outcomes if o.action == "created"} == missing
    after = {p.reference: p for p in igest.products()}
    for sku in missing:
        item, product = items[sku], after.get(sku)
        assert product is not None, sku
        assert product.description == item.name
        assert product.type == ("S" if item.digital else "P")
        assert product.vat_rate == Decimal(23) and product.exemption_code is None
        assert vat_included(product.price, product.vat_rate) == item.price, sku
        assert product.barcode == item.barcode
    # Without --update, what iGEST had is untouched.
    for reference, old in before.items():
        assert after[reference] == old

    sandbox.reset_stats()
    again = sync_products(jumpseller, igest, ProductsConfig(), update=False, dry_run=False)
    assert writes(sandbox) == {}
    assert again.writes == 0 and again.counts["created"] == 0
    assert no_429(sandbox)


def test_update_brings_stale_prices_in_line_and_keeps_each_products_rate(sandbox, clients):
    jumpseller, igest = clients
    before = {p.reference: p for p in igest.products()}
    report = sync_products(jumpseller, igest, ProductsConfig(), update=True, dry_run=False)
    assert report.failed == 0
    items = store_items(jumpseller)
    after = {p.reference: p for p in igest.products()}
    for sku, item in items.items():
        product = after.get(sku)
        assert product is not None, sku
        if sku in before:
            assert product.vat_rate == before[sku].vat_rate  # 6 %, 13 %, 0 % kept
        assert vat_included(product.price, product.vat_rate) == item.price, sku
        assert product.description == item.name
    assert any(o.action == "updated" for o in report.outcomes)  # the seed has a stale price

    sandbox.reset_stats()
    sync_products(jumpseller, igest, ProductsConfig(), update=True, dry_run=False)
    assert writes(sandbox) == {}
    assert no_429(sandbox)


def test_dry_run_writes_nothing(sandbox, clients, one_location):
    jumpseller, igest = clients
    sandbox.igest.set_stock("AZT-500", "ARM1", Decimal(3))
    products = sync_products(jumpseller, igest, ProductsConfig(), update=True, dry_run=True)
    stock = sync_stock(jumpseller, igest, StockConfig(enabled=True), force=False, dry_run=True)
    assert products.counts["created"] > 0 and stock.counts["updated"] > 0
    assert writes(sandbox) == {}


def both_sides(jumpseller, igest, warehouse=None, location=None):
    items = {sku: i for sku, i in store_items(jumpseller).items() if not i.stock_unlimited}
    js = {sku: i.stock for sku, i in items.items()}
    if location is not None:
        by_id = {
            (e.product_id, e.variant_id): e.stock
            for e in jumpseller.location_stock(items.values(), location)
        }
        js = {sku: by_id.get((i.product_id, i.variant_id), 0) for sku, i in items.items()}
    ig = {level.reference: level.quantity for level in igest.stock(warehouse)}
    common = set(js) & set(ig)
    return {sku: (js[sku], ig[sku]) for sku in common}


def test_stock_from_igest_makes_both_sides_equal_and_a_second_run_writes_nothing(
    sandbox, clients, one_location
):
    jumpseller, igest = clients
    pairs = both_sides(jumpseller, igest)
    assert any(a != b for a, b in pairs.values())  # the seed has differences

    report = sync_stock(jumpseller, igest, StockConfig(enabled=True), force=False, dry_run=False)

    assert report.failed == 0
    pairs = both_sides(jumpseller, igest)
    assert pairs and all(Decimal(a) == b for a, b in pairs.values()), pairs
    unlimited = {o.key for o in report.outcomes if o.facts().get("reason") == "unlimited"}
    assert unlimited == {sku for sku, i in store_items(jumpseller).items() if i.stock_unlimited}

    sandbox.reset_stats()
    again = sync_stock(jumpseller, igest, StockConfig(enabled=True), force=False, dry_run=False)
    assert writes(sandbox) == {} and again.writes == 0
    assert no_429(sandbox)


def test_stock_written_to_jumpseller_keeps_a_price_and_name_changed_during_the_run(
    sandbox, clients, one_location
):
    """Jumpseller's spec requires a product's name and price beside its stock: they are the
    ones the product holds as it is written, never those the run read minutes before."""
    jumpseller, igest = clients
    olive_oil = sandbox.store.product(1005)  # AZT-500: 80 in the shop, 72 in iGEST
    changed: list[int] = []

    def merchant_edits_it(done: int, total: int | None) -> None:
        # The catalogue and iGEST's stock are read; no write has started yet.
        if total is not None and not changed:
            with sandbox.store.lock:
                olive_oil.price, olive_oil.name = Decimal("9.50"), "Azeite novo 500 ml"
            changed.append(done)

    report = sync_stock(
        jumpseller,
        igest,
        StockConfig(enabled=True),
        force=False,
        dry_run=False,
        progress=merchant_edits_it,
    )
    assert changed and report.failed == 0
    assert {o.key: o.action for o in report.outcomes}["AZT-500"] == "updated"
    assert (olive_oil.stock, olive_oil.price, olive_oil.name) == (
        72,
        Decimal("9.50"),
        "Azeite novo 500 ml",
    )
    # One read of each product just before its write: a variant's write needs none.
    by_route = sandbox.stats()["jumpseller"]["by_route"]
    assert by_route["GET /v1/products/{id}.json"] == by_route["PUT /v1/products/{id}.json"] > 0
    assert no_429(sandbox)


def test_stock_from_jumpseller_into_one_warehouse(sandbox, clients, one_location):
    jumpseller, igest = clients
    settings = StockConfig(enabled=True, direction="jumpseller_to_igest", warehouse="ARM1")
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert report.failed == 0 and report.writes > 0
    pairs = both_sides(jumpseller, igest, warehouse="ARM1")
    assert pairs and all(Decimal(a) == b for a, b in pairs.values()), pairs
    sandbox.reset_stats()
    sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert writes(sandbox) == {}
    assert no_429(sandbox)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_store_with_two_stock_locations_must_name_the_one_to_write(sandbox, clients, dry_run):
    jumpseller, igest = clients
    sandbox.reset_stats()
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, StockConfig(enabled=True), force=True, dry_run=dry_run)
    assert err.value.problems == ["location 1: Armazém Lisboa (main)", "location 2: Loja Porto"]
    assert "[stock] jumpseller_location_id" in err.value.hint
    assert writes(sandbox) == {}
    # Asked before the catalogue was read: one request for the list of locations.
    assert sandbox.stats()["jumpseller"]["by_route"] == {"GET /v1/locations.json": 1}


@pytest.mark.parametrize("dry_run", [False, True])
def test_jumpsellers_total_over_two_locations_is_not_written_into_one_warehouse(
    sandbox, clients, dry_run
):
    # AZL-POR: 25 in the store, Porto's 5 among them; ARM2 keeps Porto's 5. Written into ARM1,
    # iGEST counted 30, exit 0 and no word. The location must be named, before any write.
    jumpseller, igest = clients
    settings = StockConfig(enabled=True, direction="jumpseller_to_igest", warehouse="ARM1")
    sandbox.reset_stats()
    with pytest.raises(ConfigError) as err:
        sync_stock(jumpseller, igest, settings, force=True, dry_run=dry_run)
    assert err.value.exit_code == ExitCode.USAGE
    assert "1 Armazém Lisboa, 2 Loja Porto" in err.value.message
    assert "jumpseller_location_id = 1" in err.value.hint
    assert writes(sandbox) == {}
    assert "GET /v1/products.json" not in sandbox.stats()["jumpseller"]["by_route"]


@pytest.mark.parametrize("direction", ["igest_to_jumpseller", "jumpseller_to_igest"])
def test_a_location_and_its_warehouse_kept_equal(sandbox, clients, direction):
    jumpseller, igest = clients
    # A sale in the Porto shop and a miscount in the Porto warehouse since the last sync.
    sandbox.store.set_stock("AZL-POR", 3, location_id=PORTO_LOCATION)
    sandbox.igest.set_stock("CAN-AZU", PORTO_WAREHOUSE, Decimal(2))
    settings = StockConfig(
        enabled=True,
        direction=direction,
        warehouse=PORTO_WAREHOUSE,
        jumpseller_location_id=PORTO_LOCATION,
    )
    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert report.failed == 0
    assert {o.key for o in report.outcomes if o.action == "updated"} == {"AZL-POR", "CAN-AZU"}
    pairs = both_sides(jumpseller, igest, PORTO_WAREHOUSE, PORTO_LOCATION)
    assert pairs and all(Decimal(a) == b for a, b in pairs.values()), pairs
    # The source side's figures won: the shop's 3 and 6, or the warehouse's 5 and 2.
    expected = (
        {"AZL-POR": 3, "CAN-AZU": 6}
        if direction == "jumpseller_to_igest"
        else {"AZL-POR": 5, "CAN-AZU": 2}
    )
    assert {sku: pairs[sku][0] for sku in expected} == expected
    sandbox.reset_stats()
    sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert writes(sandbox) == {}
    assert no_429(sandbox)


@pytest.mark.slow(2)
@pytest.mark.parametrize("kind", ["bad_shape", "truncated"])
def test_a_location_answer_that_cannot_be_read_writes_no_stock_into_igest(sandbox, clients, kind):
    # One batch of 50 answered with the wrong shape used to read as "none at the location":
    # 49 iGEST stocks set to 0, exit 0, under the brake's share. Like a cut answer, it now
    # fails the read before anything is written (exit 5); the next run asks again.
    jumpseller, igest = clients
    sandbox.load_generated({"variants": 1000})
    sandbox.faults.add(
        service="jumpseller", kind=kind, method="GET", path="products_locations", nth=3
    )
    settings = StockConfig(
        enabled=True, direction="jumpseller_to_igest", warehouse="ARM1", jumpseller_location_id=1
    )
    sandbox.reset_stats()
    with pytest.raises(BadResponse) as err:
        sync_stock(jumpseller, igest, settings, force=False, dry_run=False)
    assert err.value.exit_code == ExitCode.SERVICE and "products_locations" in str(err.value)
    assert writes(sandbox) == {}


def test_a_429_that_never_stops_stops_the_stock_writes_at_the_first_item_it_fails(sandbox, clients):
    """The acceptance pass's case: 300 generated variants, 60 of them with another stock in
    iGEST, and Jumpseller refusing every location write from the second on. The client's
    retries (4 tries) give up on that one; no other write is tried: each would cost 4 more
    429s and end the same way."""
    jumpseller, igest = clients
    sandbox.load_generated({"variants": 300, "seed": 5})
    generated = [r for r in sandbox.igest.stock_references() if r.startswith("GEN-")]
    for quantity, reference in enumerate(generated[::5][:60], start=1):
        sandbox.igest.set_stock(reference, "ARM1", Decimal(quantity + 200))
    settings = StockConfig(enabled=True, warehouse="ARM1", jumpseller_location_id=1)
    planned = sync_stock(jumpseller, igest, settings, force=False, dry_run=True).counts["updated"]
    assert planned >= 60
    sandbox.reset_stats()
    sandbox.faults.add(
        service="jumpseller", kind="429", method="PUT", path="products_locations", nth=2, times=None
    )
    start = sandbox.virtual_clock()

    report = sync_stock(jumpseller, igest, settings, force=False, dry_run=False)

    counts = report.counts
    assert (counts["updated"], counts["failed"]) == (1, 1)
    assert counts["skipped"] >= planned - 2
    left = [o for o in report.outcomes if o.reason == "not_attempted"]
    assert len(left) == planned - 2
    [failed] = [o for o in report.outcomes if o.action == "failed"]
    assert "too many requests (429) after 4 tries" in failed.detail
    assert all(f"the run stopped at {failed.key}" in o.detail for o in left)
    assert report.exit_code == 5
    jumpseller_stats = sandbox.stats()["jumpseller"]
    assert jumpseller_stats["by_route"]["PUT /v1/products_locations"] == 1 + 4
    assert jumpseller_stats["429"] == 4 and not sandbox.jumpseller_limiter.banned
    # Three 1 s waits as told by Retry-After, not 62 items' worth of them.
    assert sandbox.virtual_clock() - start < 10


def test_the_brake_stops_a_run_that_would_empty_the_store(sandbox, clients, one_location):
    jumpseller, igest = clients
    for reference in sandbox.igest.stock_references():
        for warehouse in ("ARM1", "ARM2"):
            sandbox.igest.set_stock(reference, warehouse, Decimal(0))
    sandbox.reset_stats()
    with pytest.raises(SafetyBrake):
        sync_stock(jumpseller, igest, StockConfig(enabled=True), force=False, dry_run=False)
    assert writes(sandbox) == {}
    report = sync_stock(jumpseller, igest, StockConfig(enabled=True), force=True, dry_run=False)
    assert report.failed == 0 and "brake_overridden" in report.info
    assert all(a == 0 for a, _ in both_sides(jumpseller, igest).values())


@pytest.mark.slow(4)
def test_a_large_catalogue_streams_through_both_runs_without_a_429(sandbox, clients, one_location):
    jumpseller, igest = clients
    sandbox.load_generated({"variants": 1200, "seed": 7})
    read: list[int] = []
    stock = sync_stock(
        jumpseller,
        igest,
        StockConfig(enabled=True),
        force=False,
        dry_run=False,
        progress=lambda done, total: read.append(done),
    )
    assert stock.failed == 0
    pairs = both_sides(jumpseller, igest)
    assert len(pairs) > 1000 and all(Decimal(a) == b for a, b in pairs.values())
    assert max(read) >= 1200  # progress saw every item read
    products = sync_products(jumpseller, igest, ProductsConfig(), update=False, dry_run=True)
    assert products.counts["created"] > 60  # the share iGEST lacks, planned from a stream
    assert no_429(sandbox)
