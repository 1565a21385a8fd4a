"""The command line: parse, build, call, render; errors become messages and exit codes.

Here: the app, its global options and the entry point. The commands live in one module per family
(``invoicing``, ``credits``, ``catalogue``, ``serve``, ``setup``, ``alerts``, ``sandbox``), each
registering its commands on the app; what they share (per-call state on ``ctx.obj``, the session
that opens config, clients, lock and ledger, the ``--json`` option, the one error handler) lives in
``session``. Only this package and ``render`` know typer and rich. Heavy imports happen inside the
commands so that ``--help`` and a quiet cron run start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from igest_sync.cli import alerts, catalogue, credits, hooks, invoicing, sandbox, serve, setup
from igest_sync.cli.session import Group, exit_codes_help, show_version, state_of

app = typer.Typer(
    name="igest-sync",
    cls=Group,
    help="Issue AT-certified iGEST invoices for paid Jumpseller orders, exactly once, and keep "
    "products and stock in sync by SKU.",
    epilog=exit_codes_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (default: $IGEST_SYNC_HOME/config.toml if that is set, else "
            "config.toml in your user config folder).",
            metavar="PATH",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="State file, the SQLite ledger (default: $IGEST_SYNC_HOME/state.sqlite3 if "
            "that is set, else in your user state folder).",
            metavar="PATH",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log to stderr too, and show tracebacks of errors."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only what needs a person (as under cron); no progress."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Show the version, Python and platform, and exit.",
            callback=show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Global options; they may also follow the command (`igest-sync status -q`)."""
    from igest_sync import render

    cli = state_of(ctx)
    cli.config_path = config
    cli.state_path = state
    cli.verbose = verbose
    cli.quiet = quiet
    # This call's renderer, until its context closes: consoles for this call's environment and
    # streams, and its -q.
    ctx.with_resource(render.rendering(render.Renderer.for_call(quiet=quiet)))


# One module per command family; the order here is the order of `--help`.
for _family in (invoicing, credits, catalogue, serve, hooks, setup, alerts, sandbox):
    _family.register(app)


# -- entry point --------------------------------------------------------------------------------


def main() -> None:
    from igest_sync.cli.session import main as run_main

    run_main(app)
