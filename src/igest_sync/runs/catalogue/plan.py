"""Pure catalogue logic for ``sync-products`` and ``sync-stock``: index, diff, plan, brake.

Nothing here talks to a service. The runs (``igest_sync.runs.catalogue.products`` and ``.stock``)
feed these functions the adapters' iterators and carry out the plans they return.

Memory stays flat for large stores because every input is consumed once, as a stream, into
per-SKU maps of the adapters' small typed values (never wire JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from igest_sync.errors import ApiError, ConfigError, ExitCode, SafetyBrake
from igest_sync.fiscal import texts
from igest_sync.fiscal.mapping import SHIPPING_REFERENCE
from igest_sync.fiscal.money import round2
from igest_sync.models import (
    Action,
    CatalogueItem,
    CatalogueOutcome,
    IgestProduct,
    IgestProductDraft,
    StockLevel,
)
from igest_sync.runs.report import some_of

# The price iGEST stores is net with up to 6 decimals (see the iGEST API contract).
NET_PRICE_PLACES = Decimal("0.000001")
# SAF-T (PT) caps ProductDescription at 200 characters; iGEST would refuse or cut a longer one,
# and a cut done there would make every later run see a difference that is not there.
DESCRIPTION_MAX = 200
DIRECTIONS = ("igest_to_jumpseller", "jumpseller_to_igest")

_ACTION_ORDER = (Action.CREATED, Action.UPDATED, Action.UNCHANGED, Action.SKIPPED, Action.FAILED)

# A SKU left alone because what a service holds of it cannot be read or created as it stands:
# a person's to fix (printed even under -q).
UNREADABLE = "unreadable"
# Jumpseller items that cannot be matched by SKU (none, or one shared): never synced until a
# person fixes them in Jumpseller (printed even under -q, on stderr).
NO_SKU, DUPLICATE_SKU = "no_sku", "duplicate_sku"
# A reference iGEST holds as several products (or stock entries): which one is the shop's
# would be a guess; a person's to fix (printed even under -q).
HELD_TWICE = "duplicate_in_igest"
# A SKU iGEST holds as the other type (goods vs a service), which its API cannot change: a
# person's to fix (printed even under -q).
TYPE_DIFFERS = "type_differs"
NOT_MATCHED = (NO_SKU, DUPLICATE_SKU)


def normalize_sku(sku: str | None) -> str | None:
    """The SKU as matched: trimmed, case kept; None when there is none."""
    return _clean(sku)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    trimmed = text.strip()
    return trimmed or None


def net_price(price: Decimal, vat_rate: Decimal, prices_include_vat: bool) -> Decimal:
    """iGEST's net unit price for a store price: VAT taken out when the store price includes it."""
    if not prices_include_vat:
        return price
    return (price * 100 / (100 + vat_rate)).quantize(NET_PRICE_PLACES, rounding=ROUND_HALF_UP)


def not_creatable(sku: str, item: CatalogueItem) -> str | None:
    """Why ``sync-products`` cannot make this item's iGEST product, or None."""
    if item.price_unread:
        return f"{item_label(item)}: {item.price_unread}; give it a price in Jumpseller"
    if not texts.without_controls(item.name or "").strip():
        # iGEST requires a description: refused ("description: is required") on every run.
        return f"{item_label(item)}: no name in Jumpseller; give it one"
    if len(sku) > texts.REFERENCE:
        return (
            f"{item_label(item)}: a SKU of {len(sku)} characters; iGEST references hold at "
            f"most {texts.REFERENCE}: give it a shorter SKU in Jumpseller"
        )
    if texts.has_controls(sku):
        # iGEST refuses it (422 "contains a control character"): a create failed on every run.
        return (
            f"{item_label(item)}: its SKU {sku!r} holds a control character (a tab, a line "
            "break) that iGEST refuses in a reference; retype the SKU in Jumpseller"
        )
    if sku == SHIPPING_REFERENCE:
        # The invoices refuse such a product (fiscal/mapping.py): its iGEST twin would be
        # the shipping line's reference.
        return (
            f"{item_label(item)}: the SKU {SHIPPING_REFERENCE} is the reference of the shipping "
            "line on every invoice; give the product another SKU in Jumpseller"
        )
    return None


def item_label(item: CatalogueItem) -> str:
    """How a Jumpseller item is named in a report when it has no usable SKU."""
    if item.variant_id is None:
        return f"product {item.product_id}"
    return f"product {item.product_id} variant {item.variant_id}"


def _sharing(items: list[CatalogueItem]) -> str:
    """The items one SKU groups; as typed when spaces around it made it look like several
    (in Jumpseller "A" and "A " are two SKUs; matched, both are "A")."""
    if len({item.sku for item in items}) == 1:
        return ", ".join(item_label(item) for item in items)
    return (
        ", ".join(f"{item_label(item)} as {item.sku!r}" for item in items)
        + "; spaces around a SKU are ignored"
    )


def _json_safe(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@dataclass
class CatalogueReport:
    """What a products or stock run did (or, with ``dry_run``, would do), item by item.

    In a dry run the actions are the planned ones ("created" means "would be created") and
    every detail starts with "Would"; nothing was written.
    """

    run: str  # "products" or "stock"
    dry_run: bool
    outcomes: list[CatalogueOutcome] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)  # direction, warehouse, location ...
    # A dry run's plan that the safety brake would stop: shown all the same (a dry run is there
    # to look first), then the brake's warning, and the brake's exit code.
    brake: SafetyBrake | None = None
    # What stopped the writes (``runs.parallel.write_all``: a rate limit that outlasted the
    # retries, credentials refused): shown last, and its exit code (5).
    stopped: ApiError | None = None

    def add(self, outcome: CatalogueOutcome) -> None:
        self.outcomes.append(outcome)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(_ACTION_ORDER, 0)
        for outcome in self.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        return counts

    @property
    def failed(self) -> int:
        """How many items failed; non-zero means the run should exit 1."""
        return sum(1 for o in self.outcomes if o.action == Action.FAILED)

    @property
    def exit_code(self) -> int:
        if self.brake is not None:
            return int(ExitCode.SAFETY_BRAKE)
        if self.stopped is not None:
            return int(self.stopped.exit_code)
        return 1 if self.failed else 0

    def summary(self) -> str:
        counts = self.counts
        done = ", ".join(f"{action} {counts[action]}" for action in _ACTION_ORDER)
        return f"Dry run: {done}; nothing was written." if self.dry_run else done

    @property
    def differing(self) -> int:
        """Products left as they are in iGEST although they differ from the shop (no --update):
        counted as unchanged, since nothing was written, but a person may want them updated."""
        return sum(1 for o in self.outcomes if o.action == Action.UNCHANGED and o.differs)

    @property
    def writes(self) -> int:
        """Writes done (0 in a dry run): created plus updated items."""
        if self.dry_run:
            return 0
        return sum(1 for o in self.outcomes if o.action in (Action.CREATED, Action.UPDATED))

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "run": self.run,
            "dry_run": self.dry_run,
            "info": _json_safe(self.info),
            "counts": self.counts,
            "failed": self.failed,
            "items": [
                {
                    "key": o.key,
                    "action": o.action,
                    "detail": o.detail,
                    **{k: _json_safe(v) for k, v in o.facts().items()},
                }
                for o in self.outcomes
            ],
        }
        if self.stopped is not None:
            out["stopped"] = {"message": str(self.stopped), "hint": self.stopped.hint}
        return out


# --------------------------------------------------------------------------------------------
# Jumpseller catalogue index


@dataclass
class CatalogueIndex:
    """Jumpseller items by SKU, with the items that cannot be matched set aside."""

    by_sku: dict[str, CatalogueItem]
    skipped: list[CatalogueOutcome]  # no SKU, or a SKU shared by several items
    seen: int  # items read, with or without SKU
    duplicate_skus: frozenset[str] = frozenset()


def index_catalogue(items: Iterable[CatalogueItem]) -> CatalogueIndex:
    """Index a stream of Jumpseller items by SKU.

    A SKU carried by two or more items is never guessed at: every one of them is skipped, so a
    duplicate cannot silently pick which price or stock wins.
    """
    by_sku: dict[str, CatalogueItem] = {}
    duplicates: dict[str, list[CatalogueItem]] = {}
    no_sku: list[CatalogueOutcome] = []
    seen = 0
    for item in items:
        seen += 1
        sku = normalize_sku(item.sku)
        if sku is None:
            no_sku.append(
                CatalogueOutcome(
                    item_label(item),
                    Action.SKIPPED,
                    f"No SKU in Jumpseller ({item.name}); add one to sync it",
                    reason=NO_SKU,
                )
            )
        elif sku in duplicates:
            duplicates[sku].append(item)
        elif sku in by_sku:
            duplicates[sku] = [by_sku[sku], item]
        else:
            by_sku[sku] = item
    skipped = list(no_sku)
    for sku, sharing in duplicates.items():
        del by_sku[sku]
        skipped.append(
            CatalogueOutcome(
                sku,
                Action.SKIPPED,
                f"SKU used by {len(sharing)} Jumpseller items ({_sharing(sharing)}); give "
                "each its own SKU in Jumpseller (none of them is synced until then)",
                reason=DUPLICATE_SKU,
            )
        )
    return CatalogueIndex(by_sku, skipped, seen, frozenset(duplicates))


# --------------------------------------------------------------------------------------------
# Products


@dataclass(frozen=True)
class ProductAction:
    """One planned step: create ``draft``, or update ``product_id`` with ``changes``."""

    sku: str
    action: str  # created, updated
    draft: IgestProductDraft | None = None
    product_id: str | None = None
    changes: dict[str, object] = field(default_factory=dict)
    summary: str = ""  # what the step does, in words, without a verb
    # A new product the shop holds and counts stock of (goods, not unlimited, some units):
    # iGEST starts it at none.
    in_stock: bool = False


@dataclass
class ProductPlan:
    writes: list[ProductAction]
    outcomes: list[CatalogueOutcome]  # items needing no write: unchanged, skipped
    jumpseller_items: int
    igest_products: int


def check_products_settings(settings) -> None:
    """The products settings the plan relies on; a 0 % rate needs an AT exemption code."""
    if settings.vat_rate < 0 or settings.vat_rate >= 100:
        raise ConfigError(
            f"products.vat_rate is {settings.vat_rate}, not a VAT percentage",
            hint="Set [products] vat_rate to 23, 13, 6 or 0 (or the region's rate)",
        )
    if settings.vat_rate == 0 and not settings.exemption_code:
        raise ConfigError(
            "products.vat_rate is 0 but products.exemption_code is not set",
            hint="Set [products] exemption_code to the AT code (M10, M07 ...)",
        )


def desired_product(
    sku: str, item: CatalogueItem, settings, vat_rate: Decimal | None = None
) -> IgestProductDraft:
    """The iGEST product a Jumpseller item should be, at ``vat_rate`` (default: the settings')."""
    rate = settings.vat_rate if vat_rate is None else vat_rate
    return IgestProductDraft(
        reference=sku,
        # iGEST refuses control characters (a tab typed into a name) and names over 200.
        description=texts.without_controls(item.name)[:DESCRIPTION_MAX].rstrip(),
        type="S" if item.digital else "P",
        price=net_price(item.price, rate, settings.prices_include_vat),
        vat_rate=rate,
        exemption_code=settings.exemption_code if rate == 0 else None,
        barcode=_clean(item.barcode),
    )


def product_changes(
    draft: IgestProductDraft, product: IgestProduct, *, prices_include_vat: bool = True
) -> dict[str, object]:
    """The fields to update (description, price, barcode) that differ.

    Prices differ when the shop would show another price, to the cent, in its own basis (with
    VAT when ``prices_include_vat``): iGEST keeps net prices to 6 decimals, and a net price
    typed there as 19.92 is the shop's 24.50 at 23 % as much as 19.918699 is; rewriting it
    changed nothing a customer pays, and without --update it read as "differs" on every run.

    The VAT rate is never among them: Jumpseller's API carries no rate per product, so the
    configured rate is only a default for new products, while the rate an existing iGEST
    product has (6 % olive oil, 0 % books with their exemption) is the accountant's and is
    kept. ``draft`` must be built at the product's own rate so the net prices compare.
    A barcode missing in Jumpseller does not erase one set in iGEST: it may come from the
    supplier and nothing in the store contradicts it.
    """
    changes: dict[str, object] = {}
    # A name emptied in Jumpseller never empties iGEST's (which requires one).
    if draft.description and draft.description != (product.description or "").strip():
        changes["description"] = draft.description
    rate = draft.vat_rate if prices_include_vat else Decimal(0)
    if _with_vat(draft.price, rate) != _with_vat(product.price, rate):
        changes["price"] = draft.price
    if draft.barcode is not None and draft.barcode != _clean(product.barcode):
        changes["barcode"] = draft.barcode
    return changes


def _type_differs(product: IgestProduct, draft: IgestProductDraft) -> str | None:
    """What to do when iGEST holds the SKU as the other type (goods vs a service), which its
    API cannot change: a service keeps no stock, so ``sync-stock`` would call it missing."""
    if product.type == draft.type:
        return None
    there, here = (
        ("a service (S)", "goods (a physical product)")
        if product.type == "S"
        else ("goods (P)", "a service (a digital product)")
    )
    return (
        f"iGEST has it as {there} while the shop sells {here}: change its type in iGEST "
        "(its API cannot), or the product in the shop"
    )


def _describe_draft(draft: IgestProductDraft) -> str:
    vat = f"VAT {draft.vat_rate} %"
    if draft.exemption_code:
        vat += f" ({draft.exemption_code})"
    shop = f" ({_with_vat(draft.price, draft.vat_rate)} with VAT)" if draft.vat_rate else ""
    return f"type {draft.type}, net {draft.price}{shop}, {vat}"


def _describe_changes(changes: Mapping[str, object], product: IgestProduct) -> str:
    parts = []
    for key, new in changes.items():
        old = getattr(product, key)
        if key == "price":
            # iGEST keeps net prices to 6 decimals; the shop's price with VAT is what a
            # person recognises.
            rate = product.vat_rate
            before, after = _with_vat(old, rate), _with_vat(new, rate)
            percent = f"{rate.normalize():f}"
            parts.append(f"net price {old} -> {new} ({before} -> {after} with {percent} % VAT)")
        elif key in ("description", "barcode"):
            parts.append(f"{key} {old!r} -> {new!r}")
        else:
            parts.append(f"{key} {old} -> {new}")
    return "; ".join(parts)


def _with_vat(net: object, rate: Decimal) -> str:
    return f"{round2(Decimal(str(net)) * (100 + rate) / 100):.2f}"


def index_igest_products(
    products: Iterable[IgestProduct],
) -> tuple[dict[str, IgestProduct], dict[str, list[str]]]:
    """iGEST's products by reference, spaces around it ignored as for a SKU; and the references
    that name several products once those spaces are ignored (each as iGEST holds it).

    Of several, the one still active is the shop's: iGEST lists deactivated products too, and
    deactivating the others is what the "held twice" advice asks of a person (followed, the SKU
    stayed held twice on every run).
    """
    found: dict[str, list[IgestProduct]] = {}
    for product in products:
        reference = normalize_sku(product.reference)
        if reference is not None:
            found.setdefault(reference, []).append(product)
    by_reference: dict[str, IgestProduct] = {}
    held: dict[str, list[str]] = {}
    for reference, several in found.items():
        active = [p for p in several if p.active] if len(several) > 1 else several
        by_reference[reference] = active[0] if len(active) == 1 else several[0]
        if len(active) != 1:
            held[reference] = [p.reference for p in (active or several)]
    return by_reference, held


def set_aside_in_stock(
    levels: list[StockLevel], products: Iterable[IgestProduct]
) -> list[StockLevel]:
    """iGEST's stock listing without the products set aside (deactivated) beside an active
    one of the same reference once spaces are ignored: ``GET /stock`` lists them too, and says
    nothing of which is active."""
    by_reference, held = index_igest_products(products)
    kept = []
    for level in levels:
        reference = normalize_sku(level.reference)
        chosen = by_reference.get(reference) if reference is not None else None
        if chosen is None or reference in held or chosen.reference == level.reference:
            kept.append(level)
    return kept


def _held_twice(sku: str, names: list[str]) -> str:
    """Why a SKU iGEST holds as several products is left alone: which one is the shop's
    would be a guess, and a wrong one would be overwritten."""
    held = ", ".join(repr(name) for name in names)
    return (
        f"iGEST holds {len(names)} products under this reference ({held}; spaces around a "
        "reference are ignored); not guessed: keep one in iGEST (rename or deactivate the "
        "others), then run again"
    )


def plan_products(
    js_items: Iterable[CatalogueItem],
    igest_products: Iterable[IgestProduct],
    settings,
    update: bool,
) -> ProductPlan:
    """Decide, per Jumpseller SKU, whether iGEST needs the product created or updated.

    ``settings`` is a ``ProductsConfig``; its VAT rate (and exemption code for 0 %) is for new
    products; an existing product keeps its own rate, which also gives its net price.
    Products only in iGEST are not touched or listed: iGEST may hold products the store does
    not sell online.
    """
    check_products_settings(settings)
    index = index_catalogue(js_items)
    by_reference, held_twice = index_igest_products(igest_products)
    writes: list[ProductAction] = []
    outcomes: list[CatalogueOutcome] = []
    for sku, item in index.by_sku.items():
        if sku in held_twice:
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.SKIPPED,
                    _held_twice(sku, held_twice[sku]),
                    reason=HELD_TWICE,
                )
            )
            continue
        product = by_reference.get(sku)
        if product is not None and product.unread:
            # Never compared with, nor updated from, a price or rate never read.
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.SKIPPED,
                    f"{product.unread}; left alone: look at the product in iGEST",
                    reason=UNREADABLE,
                )
            )
            continue
        why = not_creatable(sku, item) if product is None or item.price_unread else None
        if why is not None:
            outcomes.append(CatalogueOutcome(sku, Action.SKIPPED, why, reason=UNREADABLE))
            continue
        if product is None:
            draft = desired_product(sku, item, settings)
            writes.append(
                ProductAction(
                    sku,
                    Action.CREATED,
                    draft=draft,
                    summary=_describe_draft(draft),
                    in_stock=draft.type == "P" and not item.stock_unlimited and item.stock > 0,
                )
            )
            continue
        desired = desired_product(sku, item, settings, product.vat_rate)
        changes = product_changes(desired, product, prices_include_vat=settings.prices_include_vat)
        kind = _type_differs(product, desired)
        if changes and update:
            writes.append(
                ProductAction(
                    sku,
                    Action.UPDATED,
                    product_id=product.id,
                    changes=changes,
                    summary=_describe_changes(changes, product) + (f"; {kind}" if kind else ""),
                )
            )
        elif changes or kind:
            described = (
                f"In iGEST; differs from the shop (iGEST -> shop): "
                f"{_describe_changes(changes, product)} (update not requested)"
                if changes
                else "In iGEST"
            )
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.UNCHANGED,
                    described + (f"; {kind}" if kind else ""),
                    # The type is not among them: --update cannot change it.
                    differs=tuple(sorted(changes)) if changes else None,
                    reason=TYPE_DIFFERS if kind else None,
                )
            )
        else:
            outcomes.append(CatalogueOutcome(sku, Action.UNCHANGED, "In iGEST, same fields"))
    outcomes.extend(index.skipped)
    return ProductPlan(writes, outcomes, index.seen, len(by_reference))


# --------------------------------------------------------------------------------------------
# Stock


@dataclass(frozen=True)
class StockChange:
    """One quantity to write on the target side."""

    sku: str
    item: CatalogueItem  # the Jumpseller item (the Jumpseller adapter writes by item)
    current: Decimal  # target side's quantity now
    new: Decimal  # whole units when the target is Jumpseller
    note: str = ""
    # The reference as iGEST holds it ("SP-1 " for the shop's "SP-1"): iGEST writes stock by
    # its own reference, and knows no product by the trimmed one (404 on every run).
    reference: str | None = None

    @property
    def igest_reference(self) -> str:
        return self.sku if self.reference is None else self.reference


@dataclass
class StockPlan:
    direction: str
    source_count: int  # entries the source side reported (the empty-source brake)
    matched: int  # SKUs on both sides whose stock is ours to sync (not unlimited)
    changes: list[StockChange]
    outcomes: list[CatalogueOutcome]  # unchanged and skipped

    @property
    def zero_writes(self) -> int:
        return sum(1 for c in self.changes if c.new == 0)


def jumpseller_quantity(igest_quantity: Decimal) -> tuple[Decimal, str]:
    """Jumpseller takes whole, non-negative units: floor the iGEST quantity and say why."""
    whole = igest_quantity.to_integral_value(rounding=ROUND_FLOOR)
    if whole < 0:
        return Decimal(0), f"iGEST has {igest_quantity}; Jumpseller stock cannot be negative: 0"
    if whole != igest_quantity:
        return whole, f"iGEST has {igest_quantity}; Jumpseller stock is whole units: {whole}"
    return whole, ""


@dataclass
class IgestStock:
    """iGEST's stock listing as the plan reads it, by trimmed reference."""

    quantities: dict[str, Decimal] = field(default_factory=dict)
    duplicates: set[str] = field(default_factory=set)  # listed twice
    count: int = 0  # entries listed
    held: dict[str, str] = field(default_factory=dict)  # the reference as iGEST holds it
    unread: dict[str, str] = field(default_factory=dict)  # why its quantity cannot be read


def index_igest_stock(levels: Iterable[StockLevel]) -> IgestStock:
    """iGEST quantities by reference, the references listed twice, the entry count, each
    reference as iGEST holds it (spaces around it kept), and the quantities unread."""
    stock = IgestStock()
    for level in levels:
        stock.count += 1
        reference = normalize_sku(level.reference)
        if reference is None:
            continue
        if reference in stock.quantities:
            stock.duplicates.add(reference)
        stock.quantities[reference] = level.quantity
        stock.held[reference] = level.reference
        if level.quantity_unread is not None:
            stock.unread[reference] = level.quantity_unread
    return stock


def check_stock_settings(settings) -> None:
    """The stock settings the plan relies on (``settings`` is a ``StockConfig``)."""
    if settings.direction not in DIRECTIONS:
        raise ConfigError(
            f"stock.direction is {settings.direction!r}",
            hint="Set [stock] direction to igest_to_jumpseller or jumpseller_to_igest",
        )
    if not 0 <= settings.max_zero_share <= 1:
        raise ConfigError(
            f"stock.max_zero_share is {settings.max_zero_share}, not a share",
            hint="Set [stock] max_zero_share between 0 and 1 (0.2 means 20 %)",
        )


def plan_stock(
    js_index: CatalogueIndex,
    igest_levels: Iterable[StockLevel],
    settings,
    location_stock: Mapping[tuple[int, int | None], int] | None = None,
    location_unread: Mapping[tuple[int, int | None], str] | None = None,
) -> StockPlan:
    """Compare the two sides SKU by SKU and list the quantities the target side must take.

    ``settings`` is a ``StockConfig`` (its ``direction`` decides source and target).
    ``location_stock`` maps (product id, variant id) to the stock read at the configured
    Jumpseller location, ``location_unread`` to why a row's stock could not be read. An item in
    neither was not read at all, and is left alone as unreadable, never taken for 0: the API
    answers a row per item asked, with its stock there (0 included), and says nothing of one it
    leaves out. SKUs on one side only are reported, never created; items with unlimited stock
    in Jumpseller are left alone.
    """
    check_stock_settings(settings)
    direction = settings.direction
    to_jumpseller = direction == "igest_to_jumpseller"
    listed = index_igest_stock(igest_levels)
    igest, igest_duplicates, held = listed.quantities, listed.duplicates, listed.held
    for sku in js_index.duplicate_skus:
        # Already reported as a Jumpseller duplicate; not also "only in iGEST".
        igest.pop(sku, None)
    changes: list[StockChange] = []
    outcomes: list[CatalogueOutcome] = []
    matched = 0
    for sku, item in js_index.by_sku.items():
        igest_quantity = igest.pop(sku, None)
        if item.stock_unlimited:
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.SKIPPED,
                    "Unlimited stock in Jumpseller; left alone",
                    reason="unlimited",
                )
            )
            continue
        if igest_quantity is None:
            why = not_creatable(sku, item)
            if item.digital:
                detail = "A service in iGEST (a digital product): no stock"
            elif why:
                detail = f"Not in iGEST's stock; left alone ({why})"
            else:
                detail = (
                    "Not in iGEST's stock; left alone (missing in iGEST, or a service there? "
                    "`igest-sync sync-products` creates a missing one and names one of the "
                    "wrong type)"
                )
            outcomes.append(
                CatalogueOutcome(sku, Action.SKIPPED, detail, reason="only_in_jumpseller")
            )
            continue
        if sku in igest_duplicates:
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.SKIPPED,
                    "Listed twice in iGEST stock (spaces around a reference are ignored); not "
                    "guessed: keep one product of this reference in iGEST (rename or deactivate "
                    "the other), then run again",
                    reason=HELD_TWICE,
                )
            )
            continue
        if sku in listed.unread:
            # Never written from, nor compared with, a count never read.
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.SKIPPED,
                    f"{listed.unread[sku]}; left alone: look at its stock in iGEST",
                    reason=UNREADABLE,
                )
            )
            continue
        if not to_jumpseller and location_stock is None and item.stock_unread:
            # Never written from a stock we cannot read (0 would empty iGEST's).
            outcomes.append(
                CatalogueOutcome(
                    sku, Action.SKIPPED, f"{item.stock_unread}; left alone", reason=UNREADABLE
                )
            )
            continue
        if location_stock is not None:
            key = (item.product_id, item.variant_id)
            unread = _location_unread(item, key, location_stock, location_unread, settings)
            if unread is not None:
                # Never written from, nor compared with, a stock never read (taken for 0, a
                # batch of 50 lost to one bad answer emptied 49 iGEST stocks).
                outcomes.append(CatalogueOutcome(sku, Action.SKIPPED, unread, reason=UNREADABLE))
                continue
        matched += 1
        if location_stock is None:
            js_quantity = Decimal(item.stock)
        else:
            js_quantity = Decimal(location_stock.get((item.product_id, item.variant_id), 0))
        unknown = False
        if to_jumpseller:
            current, (new, note) = js_quantity, jumpseller_quantity(igest_quantity)
            if location_stock is None and item.stock_unread:
                # Jumpseller's count is unknown (taken for 0 above): iGEST's is written, 0
                # included; compared with that 0, iGEST's 0 read "Same quantity on both sides"
                # and the shop went on selling what iGEST says is gone.
                unknown = True
                note = "; ".join(filter(None, (f"{item.stock_unread}, taken for 0", note)))
        else:
            current, new, note = igest_quantity, js_quantity, ""
            if js_quantity < 0:
                # Sold beyond its stock: a count cannot be negative (iGEST refuses it).
                new, note = Decimal(0), f"Jumpseller has {js_quantity} (sold beyond its stock): 0"
        if unknown or new != current:
            changes.append(StockChange(sku, item, current, new, note, held.get(sku)))
        else:
            detail = "Same quantity on both sides" + (f" ({note})" if note else "")
            outcomes.append(
                CatalogueOutcome(
                    sku,
                    Action.UNCHANGED,
                    detail,
                    jumpseller_quantity=js_quantity,
                    igest_quantity=igest_quantity,
                )
            )
    for reference in igest:
        outcomes.append(
            CatalogueOutcome(
                reference, Action.SKIPPED, "Not in Jumpseller; not created", reason="only_in_igest"
            )
        )
    outcomes.extend(js_index.skipped)
    if to_jumpseller:
        source_count = listed.count
    else:
        source_count = js_index.seen if location_stock is None else len(location_stock)
    return StockPlan(direction, source_count, matched, changes, outcomes)


def _location_unread(
    item: CatalogueItem,
    key: tuple[int, int | None],
    read: Mapping[tuple[int, int | None], int],
    unread: Mapping[tuple[int, int | None], str] | None,
    settings,
) -> str | None:
    """Why the item's stock at the configured location is not known, or None when it was read
    (or, from iGEST to Jumpseller, when it has no row: see below)."""
    if key in read:
        return None
    why = (unread or {}).get(key)
    if why is not None:
        return f"{why}; left alone"
    if settings.direction == "igest_to_jumpseller":
        # What is written there is iGEST's count, whatever the location held: an item the
        # answer leaves out (one the location never stocked, if the real API omits those)
        # takes it as any other. Only a count written from Jumpseller must have been read.
        return None
    return (
        f"Jumpseller's answer for location {settings.jumpseller_location_id} has no stock for it "
        f"({item_label(item)}); left alone: run again, and if it stays, look at the item's stock "
        "at that location in Jumpseller"
    )


BRAKE_NAMED = 10  # the SKUs a brake's message names; the rest are counted


def brake_reason(plan: StockPlan, max_zero_share: Decimal, *, source_name: str) -> str | None:
    """Why this stock plan looks like a mistake (wrong warehouse, failed export ...), or None.

    Two signs: the source side listed nothing at all, or the plan would set more than
    ``max_zero_share`` of the matched items to zero.
    """
    if plan.source_count == 0:
        return f"{source_name} reported no stock at all"
    if plan.matched and Decimal(plan.zero_writes) / plan.matched > max_zero_share:
        share = (Decimal(100) * plan.zero_writes / plan.matched).quantize(Decimal("0.1"))
        # Named, so that a person can look them up on the source side before any --force.
        zeroed = [c.sku for c in plan.changes if c.new == 0]
        named = some_of(zeroed, BRAKE_NAMED)
        return (
            f"the plan would set {plan.zero_writes} of {plan.matched} matched items "
            f"({share} %) to zero, more than max_zero_share {max_zero_share}: {named}"
        )
    return None


def counting(items: Iterable, progress, *, every: int = 100) -> Iterator:
    """Pass items through, telling ``progress(read, None)`` every ``every`` items and at the end."""
    read = 0
    for item in items:
        read += 1
        if progress is not None and read % every == 0:
            progress(read, None)
        yield item
    if progress is not None:
        progress(read, None)
