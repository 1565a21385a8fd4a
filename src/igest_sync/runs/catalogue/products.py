"""``sync-products``: create in iGEST every Jumpseller SKU it lacks (and, on request, update).

Plan, then act: both catalogues are read in full (streamed into per-SKU maps) before the first
write, so a failure while reading writes nothing. A failure on one product is recorded and the
run goes on with the next, unless every later write would meet it too (``runs.parallel.
write_all``: a rate limit that outlasted the client's retries, credentials refused): the writes
stop there, the rest are reported not attempted, and the run exits 5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from igest_sync.errors import ApiError, Conflict, RateLimited
from igest_sync.models import Action, ApiFailure, CatalogueOutcome, IgestProduct
from igest_sync.runs.catalogue.plan import CatalogueReport, ProductAction, counting, plan_products
from igest_sync.runs.parallel import write_all

if TYPE_CHECKING:
    from igest_sync.config import ProductsConfig
    from igest_sync.runs.services import IgestApi, JumpsellerApi

Progress = Callable[[int, int | None], None]

# The reason a created product's line carries when it says STOCK_NOTE (`-q` still shows it).
NO_STOCK_YET = "no_stock_in_igest"
STOCK_NOTE = (
    "; no stock in iGEST yet: enter it there before the next sync-stock, which copies "
    "iGEST's stock to the shop (0 until then)"
)


def sync_products(
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    settings: ProductsConfig,
    *,
    update: bool,
    dry_run: bool,
    progress: Progress | None = None,
    stock_from_igest: bool = False,
) -> CatalogueReport:
    """Bring iGEST's products in line with the Jumpseller catalogue, matched by SKU.

    ``stock_from_igest``: ``sync-stock`` copies iGEST's stock to Jumpseller. A product created
    here has none in iGEST, so each one created that the shop has in stock says so: the next
    ``sync-stock`` would show it sold out until its stock is entered in iGEST.

    ``progress(done, total)`` is called with ``(items read, None)`` while the Jumpseller
    catalogue is read, then with ``(writes done, writes planned)`` while writing.
    Raises ``ConfigError`` for unusable settings and ``ApiError`` when a catalogue cannot be
    read; per-product write failures are in the report instead.
    """
    plan = plan_products(
        counting(jumpseller.catalogue(), progress), igest.products(), settings, update
    )
    report = CatalogueReport(
        "products",
        dry_run,
        info={
            "update": update,
            "jumpseller_items": plan.jumpseller_items,
            "igest_products": plan.igest_products,
            "vat_rate": settings.vat_rate,
            "prices_include_vat": settings.prices_include_vat,
        },
    )

    def note(step: ProductAction) -> str:
        return STOCK_NOTE if stock_from_igest and step.in_stock else ""

    write_all(
        report,
        plan.writes,
        lambda step: _carry_out(igest, step, note(step)),
        lambda step: _preview(step, note(step)),
        dry_run=dry_run,
        progress=progress,
    )
    for outcome in plan.outcomes:
        report.add(outcome)
    return report


def _preview(step: ProductAction, note: str) -> CatalogueOutcome:
    if step.action == Action.CREATED:
        return CatalogueOutcome(
            step.sku, step.action, f"Would create in iGEST: {step.summary}{note}"
        )
    return CatalogueOutcome(step.sku, step.action, f"Would update: {step.summary}")


def _carry_out(igest: IgestApi, step: ProductAction, note: str) -> CatalogueOutcome:
    try:
        if step.draft is not None:
            product = igest.create_product(step.draft)
            return CatalogueOutcome(
                step.sku,
                Action.CREATED,
                f"Created in iGEST: {step.summary}{note}",
                igest_id=product.id if product is not None else None,
                reason=NO_STOCK_YET if note else None,
            )
        igest.update_product(str(step.product_id), dict(step.changes))
        return CatalogueOutcome(
            step.sku,
            Action.UPDATED,
            f"Updated: {step.summary}",
            igest_id=step.product_id,
            changed=tuple(sorted(step.changes)),
        )
    except ApiError as exc:
        verb = "create" if step.action == Action.CREATED else "update"
        # A 429 is a refusal (nothing was made), and a look-up would meet the same limit.
        lost = exc.transient and not isinstance(exc, RateLimited)
        if step.draft is not None and (lost or isinstance(exc, Conflict)):
            found = _look_up(igest, step.sku)
            if found is not None and isinstance(exc, Conflict):  # another run made it meanwhile
                return CatalogueOutcome(
                    step.sku, Action.UNCHANGED, "In iGEST already (made meanwhile)"
                )
            if found is not None:
                return CatalogueOutcome(
                    step.sku,
                    Action.CREATED,
                    f"Created in iGEST (its answer was lost; found by its reference): "
                    f"{step.summary}{note}",
                    igest_id=found.id,
                    reason=NO_STOCK_YET if note else None,
                )
        return CatalogueOutcome(
            step.sku,
            Action.FAILED,
            f"Could not {verb} in iGEST: {exc.with_fields()}",
            failure=ApiFailure(type(exc).__name__, exc.status),
            fields=exc.fields,
            transient=exc.transient,
            error=exc,
        )


def _look_up(igest: IgestApi, sku: str) -> IgestProduct | None:
    """Whether iGEST holds ``sku`` after a create whose answer did not come back (the
    reference is unique, so a second create is never sent blind); None when it cannot tell."""
    try:
        return igest.product_by_reference(sku)
    except ApiError:
        return None
