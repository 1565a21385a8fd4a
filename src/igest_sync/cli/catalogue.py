"""The catalogue commands: ``sync-products`` and ``sync-stock``."""

from __future__ import annotations

from typing import Annotated

import typer

from igest_sync.cli.session import (
    JsonOption,
    finish,
    session,
)

# -- catalogue ----------------------------------------------------------------------------------


def sync_products_command(
    update: Annotated[
        bool, typer.Option("--update", help="Also update iGEST products whose fields differ.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Create in iGEST every Jumpseller product or variant whose SKU is missing there.

    Same SKU on both sides = same product. Items without SKU, and SKUs used twice in
    Jumpseller, are reported and never guessed.

    \b
    Examples:
      igest-sync sync-products --dry-run
      igest-sync sync-products --update
    """
    from igest_sync.runs.catalogue.products import sync_products

    _catalogue_command(
        "Products",
        json_out,
        lambda config, js, ig, progress: sync_products(
            js,
            ig,
            config.products,
            update=update,
            dry_run=dry_run,
            progress=progress,
            stock_from_igest=config.stock.enabled
            and config.stock.direction == "igest_to_jumpseller",
        ),
    )


def sync_stock_command(
    force: Annotated[
        bool, typer.Option("--force", help="Run even when the safety brake would stop it.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Make stock equal on both sides, by SKU, in the direction the config names.

    Off until `[stock] enabled = true`; --dry-run works before that, to look first. Only
    quantities that differ are written. Stops (exit 6) when the source reports no products or
    would zero too many items, unless --force (--dry-run shows its plan and the warning, exit
    6 too). A store that keeps stock in several Jumpseller locations must name one in [stock]
    jumpseller_location_id (exit 2 until it does).

    \b
    Examples:
      igest-sync sync-stock --dry-run
    """
    from igest_sync import render
    from igest_sync.runs.catalogue.stock import sync_stock

    def run(config, js, ig, progress):
        if dry_run and not json_out:
            render.info("Dry run: nothing is written; each change listed is one it would make.")
            if not config.stock.enabled:
                render.info(
                    "Stock sync is still off ([stock] enabled = false): this shows what it "
                    "would do once turned on."
                )
        return sync_stock(js, ig, config.stock, force=force, dry_run=dry_run, progress=progress)

    _catalogue_command("Stock", json_out, run)


def _catalogue_command(title: str, json_out: bool, run) -> None:
    """Run one catalogue sync under the run lock with a progress bar; render; exit 1 on failures."""
    from igest_sync import render

    with (
        session(ledger=False) as s,
        render.progress(f"Syncing {title.lower()}") as progress,
    ):
        report = run(s.config, s.jumpseller, s.igest, progress)
    render.catalogue_report(report, title, json_out=json_out)
    finish(report)


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app, in the order ``--help`` lists them."""
    app.command("sync-products", short_help="Create in iGEST the products missing there, by SKU.")(
        sync_products_command
    )
    app.command("sync-stock", short_help="Make stock equal on both sides, by SKU.")(
        sync_stock_command
    )
