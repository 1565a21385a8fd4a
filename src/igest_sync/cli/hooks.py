"""``igest-sync hooks install | list | remove``: the Jumpseller webhooks ``serve`` receives."""

from __future__ import annotations

from typing import Annotated

import typer

from igest_sync.cli.session import JsonOption, session

hooks_app = typer.Typer(
    name="hooks",
    help="Register, list or remove the Jumpseller webhooks that `igest-sync serve` receives."
    "\n\n\b\nExamples:\n  igest-sync hooks install\n  igest-sync hooks list\n"
    "  igest-sync hooks remove",
    short_help="Register, list or remove serve's Jumpseller webhooks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def install(
    url: Annotated[
        str | None,
        typer.Option(
            help="The URL Jumpseller posts to (default: [serve] public_url).", metavar="URL"
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Register exactly the events serve needs: order_paid, order_canceled, order_updated
    (and product_stock_updated when [stock] reads Jumpseller's stock).

    Safe to run again: it adds nothing that is there already, moves a hook of ours that
    points at an old URL (PUT), and never touches the hooks of the store's other apps.

    \b
    Examples:
      igest-sync hooks install
      igest-sync hooks install --url https://shop.example.pt/igest-hooks
    """
    from igest_sync import render
    from igest_sync.runs.setup.hooks import install_hooks

    with session(lock=False) as s:
        assert s.ledger is not None
        report = install_hooks(s.config, s.jumpseller, s.ledger, url)
    render.hooks_report(report, json_out=json_out)


def list_command(json_out: JsonOption = False) -> None:
    """Show the store's webhooks, which are ours, and what serve still lacks.

    \b
    Examples:
      igest-sync hooks list --json
    """
    from igest_sync import render
    from igest_sync.runs.setup.hooks import list_hooks

    with session(lock=False) as s:
        assert s.ledger is not None
        report = list_hooks(s.config, s.jumpseller, s.ledger)
    render.hooks_report(report, json_out=json_out)


def remove(json_out: JsonOption = False) -> None:
    """Delete our webhooks and nothing else (the store's other apps keep theirs).

    Ours: the hooks this tool registered (their ids are kept in the state file) still at the
    URL it gave them, and our events at [serve] public_url.

    \b
    Examples:
      igest-sync hooks remove
    """
    from igest_sync import render
    from igest_sync.runs.setup.hooks import remove_hooks

    with session(lock=False) as s:
        assert s.ledger is not None
        report = remove_hooks(s.config, s.jumpseller, s.ledger)
    render.hooks_report(report, json_out=json_out)


def register(app: typer.Typer) -> None:
    """Add the ``hooks`` group to the app."""
    hooks_app.command(short_help="Register the webhooks serve needs.")(install)
    hooks_app.command("list", short_help="Show the store's webhooks; which are ours.")(list_command)
    hooks_app.command(short_help="Delete our webhooks and nothing else.")(remove)
    app.add_typer(hooks_app)
