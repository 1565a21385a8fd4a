"""sync_products against the in-memory fakes, which hold state and record every write."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from igest_sync.config import ProductsConfig
from igest_sync.errors import ConfigError, Conflict, ExitCode, RateLimited, ServerError
from igest_sync.models import Action, CatalogueItem, IgestProduct
from igest_sync.runs.catalogue.products import sync_products
from tests.support.clock import one_worker
from tests.support.fakes import FakeIgest, FakeJumpseller

D = Decimal


def item(
    sku: str | None,
    pid: int,
    *,
    vid: int | None = None,
    name: str = "Caneca",
    price: str = "12.30",
    barcode: str | None = None,
    digital: bool = False,
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
        stock=1,
        stock_unlimited=unlimited,
    )


def store_of(items: list[CatalogueItem]) -> FakeJumpseller:
    return FakeJumpseller(items=items)


def make_igest(
    products: list[IgestProduct] = (), fail: dict[str, BaseException] | None = None
) -> FakeIgest:
    """iGEST holding ``products``; ``fail`` maps a reference to the error its write raises."""
    fake = FakeIgest(products=products)
    for reference, error in (fail or {}).items():
        fake.faults.add("create_product", error, match=reference, times=None)
        fake.faults.add("update_product", error, match=reference, times=None)
    return fake


def existing(
    reference: str,
    pid: str,
    *,
    description: str = "Caneca",
    price: str = "10",
    barcode: str | None = None,
) -> IgestProduct:
    return IgestProduct(
        id=pid,
        reference=reference,
        description=description,
        type="P",
        unit="UN",
        price=D(price),
        vat_rate=D(23),
        exemption_code=None,
        barcode=barcode,
        active=True,
    )


STORE = [
    item("MUG-1", 1, name="Caneca", price="12.30", barcode="5601234567890"),
    item("TEE-S", 2, vid=21, name="T-shirt - S", price="20.00"),
    item("TEE-M", 2, vid=22, name="T-shirt - M", price="20.00"),
    item("EBOOK", 3, name="Guia PDF", price="6.15", digital=True),
    item("OLD", 4, name="Prato", price="24.60"),
]


def test_creates_only_the_missing_skus_with_their_fields() -> None:
    igest = make_igest([existing("OLD", "p-old", description="Prato antigo", price="1")])
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=False, dry_run=False)
    assert sorted(w[1] for w in igest.writes) == ["EBOOK", "MUG-1", "TEE-M", "TEE-S"]
    assert all(w[0] == "create" for w in igest.writes)
    mug, ebook = igest.by_reference("MUG-1"), igest.by_reference("EBOOK")
    assert (mug.description, mug.type, mug.price, mug.vat_rate, mug.barcode) == (
        "Caneca",
        "P",
        D("10.000000"),
        D(23),
        "5601234567890",
    )
    assert (ebook.type, ebook.price) == ("S", D("5.000000"))
    assert igest.by_reference("TEE-M").description == "T-shirt - M"
    # Without update the existing product is left alone, and the report says it differs.
    assert igest.by_reference("OLD").description == "Prato antigo"
    counts = report.counts
    assert (counts["created"], counts["unchanged"], counts["failed"]) == (4, 1, 0)
    old = next(o for o in report.outcomes if o.key == "OLD")
    assert "description" in old.detail and "price" in old.detail
    assert report.writes == 4 and not report.failed


def test_second_run_writes_nothing() -> None:
    igest = make_igest()
    sync_products(store_of(STORE), igest, ProductsConfig(), update=True, dry_run=False)
    igest.writes.clear()
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == []
    assert report.counts["unchanged"] == len(STORE) and report.writes == 0


def test_update_writes_only_the_differing_fields() -> None:
    igest = make_igest(
        [
            existing(
                "MUG-1", "a", description="Caneca", price="10.000000", barcode="5601234567890"
            ),
            existing("OLD", "b", description="Prato antigo", price="20.000000"),
            existing("TEE-S", "c", description="T-shirt - S", price="1", barcode="999"),
        ]
    )
    jumpseller = store_of(STORE[:2] + STORE[4:])
    report = sync_products(jumpseller, igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == [  # in catalogue order
        ("update", "TEE-S", {"price": D("16.260163")}),
        ("update", "OLD", {"description": "Prato"}),
    ]
    assert igest.by_reference("TEE-S").barcode == "999"  # no barcode in the store: kept
    outcomes = {o.key: o for o in report.outcomes}
    assert outcomes["OLD"].action == "updated" and outcomes["OLD"].facts()["changed"] == [
        "description"
    ]
    assert outcomes["MUG-1"].action == "unchanged"


def test_no_sku_and_duplicate_skus_are_skipped_with_reasons_and_never_written() -> None:
    store = [item(None, 7, name="Sem SKU"), item("DUP", 8), item("DUP ", 9, vid=90), item("OK", 10)]
    igest = make_igest()
    report = sync_products(store_of(store), igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == [("create", "OK")]
    skipped = {o.key: o.detail for o in report.outcomes if o.action == "skipped"}
    assert set(skipped) == {"product 7", "DUP"}
    assert "No SKU" in skipped["product 7"]
    assert "product 8" in skipped["DUP"] and "product 9 variant 90" in skipped["DUP"]


def test_a_product_with_the_shipping_lines_sku_is_never_created() -> None:
    # Its invoices are refused (fiscal/mapping.py): an iGEST product PORTES would share the
    # shipping line's reference.
    igest = make_igest()
    store = [item("PORTES", 11, name="Portes grátis (cartão)"), item("OK", 12)]
    report = sync_products(store_of(store), igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == [("create", "OK")]
    skipped = {o.key: o.detail for o in report.outcomes if o.action == "skipped"}
    assert "shipping line" in skipped["PORTES"] and "another SKU" in skipped["PORTES"]


def test_a_sku_igest_holds_twice_is_left_alone_not_guessed() -> None:
    # "NEW-1 " and "NEW-1" are one SKU once spaces are ignored: updating the first listed
    # overwrote another article's description and price.
    igest = make_igest(
        [
            existing("NEW-1 ", "p-1", description="Prato antigo (outro artigo)", price="1"),
            existing("NEW-1", "p-2", description="Prato", price="1"),
        ]
    )
    store = [item("NEW-1", 13, name="Prato novo", price="20.00"), item("OK", 14)]
    report = sync_products(store_of(store), igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == [("create", "OK")]
    assert igest.by_reference("NEW-1 ").description == "Prato antigo (outro artigo)"
    skipped = {o.key: o.detail for o in report.outcomes if o.action == "skipped"}
    assert "2 products" in skipped["NEW-1"] and "'NEW-1 '" in skipped["NEW-1"]
    assert "keep one in iGEST" in skipped["NEW-1"]


def test_a_net_price_that_gives_the_same_shelf_price_is_not_a_change() -> None:
    # 19.92 net at 23 % is 24.50 in the shop, as the 19.918699 the shop's 24.50 gives: it read
    # as "differs" on every run, and --update rewrote it for nothing a customer pays.
    same = existing("AVL-001", "p-1", description="Caneca", price="19.92")
    other = existing("AVL-002", "p-2", description="Caneca", price="19.93")  # 24.51
    igest = make_igest([same, other])
    store = [item("AVL-001", 15, price="24.50"), item("AVL-002", 16, price="24.50")]
    report = sync_products(store_of(store), igest, ProductsConfig(), update=True, dry_run=False)
    assert [w[:2] for w in igest.writes] == [("update", "AVL-002")]
    detail = {o.key: o.detail for o in report.outcomes}
    assert detail["AVL-001"] == "In iGEST, same fields"
    assert "24.51 -> 24.50" in detail["AVL-002"]


def test_an_item_without_a_name_is_not_created_and_never_empties_igests() -> None:
    # iGEST requires a description: the create was refused on every run, without a fix.
    igest = make_igest([existing("OLD", "p-old", description="Prato", price="20.00")])
    store = [item("NEW", 17, name="  "), item("OLD", 18, name="", price="24.60")]
    report = sync_products(store_of(store), igest, ProductsConfig(), update=True, dry_run=False)
    assert igest.writes == []
    detail = {o.key: o.detail for o in report.outcomes}
    assert detail["NEW"] == "product 17: no name in Jumpseller; give it one"
    assert igest.by_reference("OLD").description == "Prato"


def test_a_product_igest_holds_as_the_other_type_is_named_with_the_fix() -> None:
    # A service (S) in iGEST, goods in the shop: "same fields" here, and sync-stock called it
    # missing in iGEST, pointing back here. iGEST's API cannot change a type.
    service = existing("SRD-120", "p-1", description="Caneca", price="10")
    service = dataclasses.replace(service, type="S")
    igest = make_igest([service])
    report = sync_products(
        store_of([item("SRD-120", 19, price="12.30")]),
        igest,
        ProductsConfig(),
        update=True,
        dry_run=False,
    )
    assert igest.writes == []
    [outcome] = report.outcomes
    assert outcome.facts()["reason"] == "type_differs"
    assert "iGEST has it as a service (S) while the shop sells goods" in outcome.detail
    assert "change its type in iGEST" in outcome.detail
    assert report.differing == 0  # not one --update could bring in line


def test_dry_run_plans_but_writes_nothing() -> None:
    igest = make_igest([existing("OLD", "b", description="Prato antigo", price="20")])
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=True, dry_run=True)
    assert igest.writes == []
    assert report.dry_run and report.writes == 0
    assert (report.counts["created"], report.counts["updated"]) == (4, 1)
    assert all(
        o.detail.startswith("Would") for o in report.outcomes if o.action in ("created", "updated")
    )


def test_one_failure_is_recorded_and_the_run_goes_on() -> None:
    igest = make_igest(
        [existing("OLD", "b", description="x")],
        fail={
            "TEE-S": Conflict("A product with this reference exists", service="iGEST", status=409),
            "OLD": ServerError("iGEST answered 503", service="iGEST", status=503),
        },
    )
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=True, dry_run=False)
    assert [w[1] for w in igest.writes] == ["MUG-1", "TEE-S", "TEE-M", "EBOOK", "OLD"]
    failed = {o.key: o for o in report.outcomes if o.action == "failed"}
    assert set(failed) == {"TEE-S", "OLD"} and report.failed == 2
    assert "exists" in failed["TEE-S"].detail and failed["TEE-S"].facts()["status"] == 409
    assert failed["OLD"].facts()["transient"] is True
    assert report.counts["created"] == 3
    json.dumps(report.to_json())  # the CLI prints it as JSON


def test_a_rate_limit_that_outlasts_the_retries_stops_the_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every later create would meet the same 429, each after its own retries: the run stops
    at the first, reports the rest as not attempted, and exits 5. A 429 is a refusal (nothing
    was made), so the reference is not looked up either: that would meet the limit again."""
    one_worker(monkeypatch)
    limited = RateLimited(
        "iGEST POST /products: too many requests (429) after 4 tries; the service asks to wait 1 s",
        service="iGEST",
        status=429,
    )
    igest = make_igest([existing("OLD", "b", description="x")], fail={"TEE-S": limited})
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=True, dry_run=False)
    assert [w[1] for w in igest.writes] == ["MUG-1", "TEE-S"]
    assert "product_by_reference" not in igest.calls
    lines = {o.key: o for o in report.outcomes}
    assert lines["MUG-1"].action == Action.CREATED and lines["TEE-S"].action == Action.FAILED
    left = [o for o in report.outcomes if o.reason == "not_attempted"]
    assert [o.key for o in left] == ["TEE-M", "EBOOK", "OLD"]
    assert all(o.detail.startswith("Not attempted: the run stopped at TEE-S") for o in left)
    assert report.exit_code == ExitCode.SERVICE
    assert report.to_json()["stopped"]["message"] == str(limited)


def test_zero_rate_needs_an_exemption_code_before_anything_is_read_or_written() -> None:
    igest = make_igest()
    with pytest.raises(ConfigError):
        sync_products(
            store_of(STORE), igest, ProductsConfig(vat_rate=D(0)), update=False, dry_run=False
        )
    assert igest.writes == []


def test_prices_without_vat_are_sent_as_they_are() -> None:
    igest = make_igest()
    sync_products(
        store_of([item("A", 1, price="8.13")]),
        igest,
        ProductsConfig(prices_include_vat=False),
        update=False,
        dry_run=False,
    )
    assert igest.by_reference("A").price == D("8.13")


def test_progress_reports_reading_then_writes_with_total() -> None:
    calls: list[tuple[int, int | None]] = []
    sync_products(
        store_of(STORE),
        FakeIgest(),
        ProductsConfig(),
        update=False,
        dry_run=False,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert (len(STORE), None) in calls
    writes = [c for c in calls if c[1] is not None]
    assert writes == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_a_product_created_while_stock_comes_from_igest_says_it_has_none_there() -> None:
    """With sync-stock copying iGEST's stock to the shop, a new iGEST product (at 0) would
    show sold out at the next sync-stock: each one created says so; a service has no stock."""
    igest = make_igest([existing("OLD", "p-old")])
    store = [*STORE, item("PRINT", 5, name="Postal a pedido", price="2.50", unlimited=True)]
    report = sync_products(
        store_of(store), igest, ProductsConfig(), update=False, dry_run=False, stock_from_igest=True
    )
    detail = {o.key: o.detail for o in report.outcomes}
    assert "no stock in iGEST yet" in detail["MUG-1"] and "sync-stock" in detail["MUG-1"]
    assert "stock" not in detail["EBOOK"]  # a service
    assert "stock" not in detail["PRINT"]  # stock not counted in Jumpseller: sync-stock skips it
    plain = sync_products(
        store_of(STORE), make_igest([]), ProductsConfig(), update=False, dry_run=True
    )
    assert not any("stock" in o.detail for o in plain.outcomes)  # stock not from iGEST


def test_a_create_whose_answer_is_lost_is_looked_up_not_reported_as_failed() -> None:
    """Behind a proxy that loses answers: iGEST made the product, the run is told nothing.
    It looks the reference up (never a second POST) and says what happened."""
    igest = make_igest([existing("OLD", "p-old")])
    igest.faults.add("create_product", "timeout", after=True, match="MUG-1")
    report = sync_products(store_of(STORE), igest, ProductsConfig(), update=False, dry_run=False)
    mug = next(o for o in report.outcomes if o.key == "MUG-1")
    assert mug.action == Action.CREATED and "its answer was lost" in mug.detail
    assert [w[1] for w in igest.writes].count("MUG-1") == 1 and report.failed == 0
    # A create refused as a duplicate (another run made it meanwhile): in iGEST already.
    other = make_igest([existing("OLD", "p-old")])
    other.faults.add(
        "create_product", Conflict("exists", service="iGEST", status=409), match="TEE-S"
    )
    made_meanwhile = existing("TEE-S", "p-tee")
    other.products_by_id[made_meanwhile.id] = made_meanwhile
    report = sync_products(store_of(STORE), other, ProductsConfig(), update=False, dry_run=False)
    tee = next(o for o in report.outcomes if o.key == "TEE-S")
    assert (tee.action, report.failed) == (Action.UNCHANGED, 0)
