"""``sync-stock``: copy stock quantities between iGEST and Jumpseller, matched by SKU.

Plan, brake, act: both sides are read in full and compared before the first write; a plan that
looks like a mistake (an empty source, too many items going to zero) stops the run before it
writes anything, unless forced. Only quantities that differ are written, so a second run with
nothing changed writes nothing. A failure on one item is recorded and the run goes on, unless
every later write would meet it too (``runs.parallel.write_all``: a rate limit that outlasted
the client's retries, credentials refused): the writes stop there, the rest are reported not
attempted, and the run exits 5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from igest_sync.errors import ApiError, BadResponse, ConfigError, NotFound, Rejected, SafetyBrake
from igest_sync.models import (
    Action,
    ApiFailure,
    CatalogueItem,
    CatalogueOutcome,
    StockLevel,
    StoreLocation,
)
from igest_sync.runs.catalogue.plan import (
    CatalogueReport,
    StockChange,
    StockPlan,
    brake_reason,
    check_stock_settings,
    counting,
    index_catalogue,
    index_igest_stock,
    normalize_sku,
    plan_stock,
    set_aside_in_stock,
)
from igest_sync.runs.parallel import write_all

if TYPE_CHECKING:
    from igest_sync.config import StockConfig
    from igest_sync.runs.services import IgestApi, JumpsellerApi

Progress = Callable[[int, int | None], None]


def sync_stock(
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    settings: StockConfig,
    *,
    force: bool,
    dry_run: bool,
    progress: Progress | None = None,
) -> CatalogueReport:
    """Make the target side's stock equal the source side's for every SKU on both sides.

    The direction is ``settings.direction``. The iGEST side is ``settings.warehouse`` or, when
    None, the sum of all warehouses; the Jumpseller side is the product/variant stock or, with
    ``settings.jumpseller_location_id``, the stock at that location.

    ``progress(done, total)`` gets ``(items read, None)`` while the Jumpseller catalogue is read,
    then ``(writes done, writes planned)``. Raises ``ConfigError`` when stock sync is off,
    ``SafetyBrake`` (before any write) when the plan looks wrong and ``force`` is false (a dry
    run returns its plan with ``report.brake`` instead), ``ApiError`` when a side cannot be
    read.
    """
    if not settings.enabled and not dry_run:
        # A dry run writes nothing, so it may look before stock sync is turned on.
        raise ConfigError(
            "Stock sync is turned off in the configuration",
            hint="Set [stock] enabled = true to use sync-stock "
            "(sync-stock --dry-run shows what it would do first)",
        )
    check_stock_settings(settings)
    to_jumpseller = settings.direction == "igest_to_jumpseller"
    if to_jumpseller and settings.jumpseller_location_id is None:
        ambiguous = locations_to_choose_from(jumpseller.locations(), settings)
        if ambiguous:
            raise several_locations_error(ambiguous)
    elif to_jumpseller and settings.warehouse is None and igest.entity().stock_by_warehouse:
        refused = total_into_one_location(jumpseller.locations(), settings)
        if refused is not None:
            raise ConfigError(f"{refused.message}; nothing was written", hint=refused.hint)
    if (
        not to_jumpseller
        and (settings.warehouse is None or settings.jumpseller_location_id is None)
        and igest.entity().stock_by_warehouse
    ):
        if settings.warehouse is None:
            # The sum over warehouses cannot be written back: setting the default warehouse to
            # the store's total would leave the sum above it, and every run would write again.
            raise ConfigError(
                "stock.warehouse is not set, but iGEST keeps stock per warehouse",
                hint="Set [stock] warehouse to the iGEST warehouse that takes Jumpseller's stock",
            )
        refused = total_into_one_warehouse(jumpseller.locations(), settings)
        if refused is not None:
            raise ConfigError(f"{refused.message}; nothing was written", hint=refused.hint)
    location_id = settings.jumpseller_location_id
    index = index_catalogue(counting(jumpseller.catalogue(), progress))
    igest_levels = _igest_stock(igest, settings)
    if index_igest_stock(igest_levels).duplicates:
        # Rare, so the products' listing (which says which are active) is read only then.
        igest_levels = set_aside_in_stock(igest_levels, igest.products())
    location: dict[tuple[int, int | None], int] | None = None
    location_unread: dict[tuple[int, int | None], str] = {}
    if location_id is not None:
        # Ask only about items that can be synced: the location endpoint costs a request per
        # 50 products, and unlimited or iGEST-less items are left alone anyway.
        in_igest = {normalize_sku(level.reference) for level in igest_levels}
        wanted = [
            item
            for sku, item in index.by_sku.items()
            if not item.stock_unlimited and sku in in_igest
        ]
        # Nothing to ask (none of the shop's SKUs is in iGEST's stock): the location is not
        # asked, so it cannot have "reported no stock at all" (the brake said so, exit 6, on
        # a run with nothing to write). Without rows no item reads them, and the source
        # counted is the catalogue, as without a location.
        if wanted:
            location, location_unread = _read_location(jumpseller, wanted, location_id)
    plan = plan_stock(index, igest_levels, settings, location, location_unread)
    del igest_levels

    report = CatalogueReport(
        "stock",
        dry_run,
        info={
            "enabled": settings.enabled,
            "direction": settings.direction,
            "warehouse": settings.warehouse,
            "jumpseller_location_id": location_id,
            "matched": plan.matched,
            "zero_writes": plan.zero_writes,
        },
    )
    reason = brake_reason(
        plan, settings.max_zero_share, source_name=_source_name(settings, to_jumpseller)
    )
    if reason is not None and force:
        report.info["brake_overridden"] = reason
    elif reason is not None:
        brake = SafetyBrake(
            f"sync-stock {'would stop' if dry_run else 'stopped'} before writing anything: "
            f"{reason}",
            hint="Check the source side and the [stock] settings; `sync-stock --force` applies "
            "this plan anyway",
        )
        if not dry_run:
            raise brake
        # A dry run is there to look first: its plan, with the warning it would stop on.
        report.info["brake"] = reason
        report.brake = brake

    write_all(
        report,
        plan.changes,
        lambda change: _carry_out(jumpseller, igest, settings, plan, change),
        lambda change: _preview(plan, change),
        dry_run=dry_run,
        progress=progress,
    )
    for outcome in plan.outcomes:
        report.add(outcome)
    return report


def _read_location(
    jumpseller: JumpsellerApi, wanted: list[CatalogueItem], location_id: int
) -> tuple[dict[tuple[int, int | None], int], dict[tuple[int, int | None], str]]:
    """The stock of ``wanted`` at the location, and why a row's could not be read."""
    read: dict[tuple[int, int | None], int] = {}
    unread: dict[tuple[int, int | None], str] = {}
    try:
        for entry in jumpseller.location_stock(wanted, location_id):
            if entry.location_id != location_id:
                continue
            key = (entry.product_id, entry.variant_id)
            if entry.stock_unread is None:
                read[key] = entry.stock
            else:
                unread[key] = entry.stock_unread
    except NotFound as exc:
        raise _unknown_location(jumpseller, location_id) or exc from exc
    return read, unread


def _unknown_location(jumpseller: JumpsellerApi, location_id: int) -> ConfigError | None:
    """The config's error when the store has no location ``location_id`` (Jumpseller's 404
    read as a service failure, exit 5 "the next run will retry", which no run ever fixes);
    None when it has one, and the 404 is something else."""
    locations = jumpseller.locations()
    if any(loc.id == location_id for loc in locations):
        return None
    found = ", ".join(f"{loc.id} {loc.name}" for loc in locations) or "none"
    return ConfigError(
        f"[stock] jumpseller_location_id is {location_id}, but the store has no such location "
        f"(found: {found}); nothing was written",
        hint="Set [stock] jumpseller_location_id to one of the ids listed",
    )


def _igest_stock(igest: IgestApi, settings: StockConfig) -> list[StockLevel]:
    """iGEST's stock listing of the configured warehouse (or all of them).

    A warehouse iGEST does not know is the config's to fix: refused (422) it read as a service
    failure (exit 5, "the next run will retry"), which no run ever fixes.

    A row whose quantity cannot be read is that SKU's alone (the plan leaves it); a listing
    none of whose rows can be read is an answer that cannot be read (a changed field, a
    service mid-deploy), a failure as before rows were read one by one: every SKU "left
    alone", exit 0, on every run, hid it.
    """
    try:
        levels = list(igest.stock(settings.warehouse))
    except Rejected as exc:
        if settings.warehouse is None or "warehouse" not in exc.fields:
            raise
        raise ConfigError(
            f"[stock] warehouse is {settings.warehouse!r}, which iGEST refuses "
            f"({exc.with_fields()}); nothing was written",
            hint="Set [stock] warehouse to one of iGEST's warehouse codes "
            "(`igest-sync check` lists them)",
        ) from exc
    if levels and all(level.quantity_unread is not None for level in levels):
        first = levels[0]
        raise BadResponse(
            f"iGEST sent GET /stock with no quantity that can be read ({len(levels)} rows; "
            f"{first.reference!r}: {first.quantity_unread}); nothing was written",
            service="iGEST",
        )
    return levels


def locations_to_choose_from(
    locations: Iterable[StoreLocation], settings: StockConfig
) -> list[StoreLocation]:
    """The store's stock locations when there are several and the config names none of them.

    Only the iGEST-to-Jumpseller direction always needs one: an item's stock is the sum over
    the locations, and Jumpseller refuses a total below what the other locations hold, item by
    item. Reading Jumpseller's total into iGEST is well defined while iGEST keeps one count per
    item; into one of its warehouses it is not (``total_into_one_warehouse``).
    """
    if settings.direction != "igest_to_jumpseller" or settings.jumpseller_location_id is not None:
        return []
    holding = [location for location in locations if location.holds_stock]
    return holding if len(holding) > 1 else []


def total_into_one_location(
    locations: Iterable[StoreLocation], settings: StockConfig
) -> ConfigError | None:
    """iGEST's total over its warehouses (it keeps stock per warehouse: the callers ask only
    then, as it costs the locations' listing) written into one Jumpseller location while
    others hold stock of their own: the shop would show both (42 units where iGEST holds 36)
    and oversell. A warehouse must be named, as the other direction requires."""
    if (
        settings.direction != "igest_to_jumpseller"
        or settings.jumpseller_location_id is None
        or settings.warehouse is not None
    ):
        return None
    others = [
        loc for loc in locations if loc.holds_stock and loc.id != settings.jumpseller_location_id
    ]
    if not others:
        return None  # the one location that holds stock: iGEST's total is the shop's
    names = ", ".join(f"{loc.id} {loc.name}" for loc in others)
    return ConfigError(
        "[stock] warehouse is not set, but iGEST keeps stock per warehouse: the total of all "
        f"its warehouses would go into Jumpseller location {settings.jumpseller_location_id} "
        f"alone, while location(s) {names} keep their own stock",
        hint="Set [stock] warehouse to the iGEST warehouse whose stock location "
        f"{settings.jumpseller_location_id} sells",
    )


def total_into_one_warehouse(
    locations: Iterable[StoreLocation], settings: StockConfig
) -> ConfigError | None:
    """Jumpseller's stock of an item, no location named, is its total over the store's
    locations; written into one iGEST warehouse (iGEST keeps stock per warehouse: the callers
    ask only then, as it costs the locations' listing) while other locations hold stock of
    their own, iGEST counts their stock twice: AZL-POR's 25, Porto's 5 in it, went into ARM1
    while ARM2 kept Porto's 5 (30 in iGEST). A location must be named, as the other direction's
    ``total_into_one_location`` asks for a warehouse."""
    if (
        settings.direction != "jumpseller_to_igest"
        or settings.jumpseller_location_id is not None
        or settings.warehouse is None
    ):
        return None
    holding = [loc for loc in locations if loc.holds_stock]
    if len(holding) < 2:
        return None  # one location holds stock: the store's total is that location's
    names = ", ".join(f"{loc.id} {loc.name}" for loc in holding)
    example = next((loc.id for loc in holding if loc.main), holding[0].id)
    return ConfigError(
        "[stock] jumpseller_location_id is not set, but the Jumpseller store keeps stock in "
        f"{len(holding)} locations ({names}) and iGEST per warehouse: each item's total over "
        f"them would go into iGEST warehouse {settings.warehouse} alone, counting again the "
        "stock iGEST keeps for the other locations in its other warehouses",
        hint="Set [stock] jumpseller_location_id to the location whose stock iGEST warehouse "
        f"{settings.warehouse} holds (for example jumpseller_location_id = {example})",
    )


def several_locations_error(locations: list[StoreLocation]) -> ConfigError:
    listed = [f"location {loc.id}: {loc.name}{' (main)' if loc.main else ''}" for loc in locations]
    example = next((loc.id for loc in locations if loc.main), locations[0].id)
    return ConfigError(
        f"The Jumpseller store keeps stock in {len(locations)} locations and "
        "[stock] jumpseller_location_id is not set; nothing was written",
        problems=listed,
        hint="Set [stock] jumpseller_location_id to the location that takes iGEST's stock "
        f"(for example jumpseller_location_id = {example}) in the config file",
    )


def _source_name(settings: StockConfig, to_jumpseller: bool) -> str:
    if to_jumpseller:
        return f"iGEST warehouse {settings.warehouse}" if settings.warehouse else "iGEST"
    if settings.jumpseller_location_id is not None:
        return f"Jumpseller location {settings.jumpseller_location_id}"
    return "Jumpseller"


def _target(plan: StockPlan) -> str:
    return "Jumpseller" if plan.direction == "igest_to_jumpseller" else "iGEST"


def _describe(plan: StockPlan, change: StockChange) -> str:
    text = f"{_target(plan)} {change.current} -> {change.new}"
    return f"{text} ({change.note})" if change.note else text


def _preview(plan: StockPlan, change: StockChange) -> CatalogueOutcome:
    return CatalogueOutcome(
        change.sku,
        Action.UPDATED,
        f"Would set {_describe(plan, change)}",
        quantity_from=change.current,
        quantity_to=change.new,
    )


def _carry_out(
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    settings: StockConfig,
    plan: StockPlan,
    change: StockChange,
) -> CatalogueOutcome:
    try:
        if plan.direction == "jumpseller_to_igest":
            igest.set_stock(change.igest_reference, settings.warehouse, change.new)
        elif settings.jumpseller_location_id is not None:
            jumpseller.set_location_stock(
                settings.jumpseller_location_id, change.item, int(change.new)
            )
        else:
            jumpseller.set_stock(change.item, int(change.new))
    except ApiError as exc:
        return CatalogueOutcome(
            change.sku,
            Action.FAILED,
            f"Could not set {_describe(plan, change)}: {exc.with_fields()}",
            quantity_from=change.current,
            quantity_to=change.new,
            failure=ApiFailure(type(exc).__name__, exc.status),
            transient=exc.transient,
            error=exc,
        )
    return CatalogueOutcome(
        change.sku,
        Action.UPDATED,
        f"Set {_describe(plan, change)}",
        quantity_from=change.current,
        quantity_to=change.new,
    )
