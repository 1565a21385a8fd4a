"""The command line: parse, build, call, render, and map errors to messages and exit codes.

The only module (with ``render``) that knows typer and rich. Heavy imports happen inside the
commands so that ``--help`` and a quiet cron run start fast.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from igest_sync.config import Config

EXIT_CODES_HELP = """Exit codes: 0 all done; 1 some item failed (the rest was done) or a paid
order is late; 2 usage or configuration error; 3 another run holds the lock; 4 the state file
cannot be used; 5 a service could not be reached or refused the credentials; 6 sync-stock's
safety brake stopped the run; 70 internal error (see the log file)."""

app = typer.Typer(
    name="igest-sync",
    help="Issue AT-certified iGEST invoices for paid Jumpseller orders, exactly once, and keep "
    "products and stock in sync by SKU.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _Globals:
    config_path: Path | None = None
    state_path: Path | None = None
    verbose: bool = False
    secrets: list[str] = []


G = _Globals()


@app.callback()
def _global_options(
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config",
            help="Config file (default: platformdirs config dir, or $IGEST_SYNC_HOME).",
            metavar="PATH",
        ),
    ] = None,
    state: Annotated[
        Optional[Path],
        typer.Option(
            "--state",
            help="State file (SQLite ledger; default: platformdirs state dir).",
            metavar="PATH",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log to stderr too, and show tracebacks of errors."),
    ] = False,
) -> None:
    G.config_path = config
    G.state_path = state
    G.verbose = verbose


# -- helpers ----------------------------------------------------------------------------------


def _config() -> Config:
    from igest_sync import paths
    from igest_sync.config import load_config

    path = G.config_path or paths.config_path()
    config, warnings = load_config(path)
    G.secrets = config.secrets()
    _setup_logging()
    from igest_sync import render

    for warning in warnings:
        render.warn(warning)
    return config


def _state_path() -> Path:
    from igest_sync import paths

    return G.state_path or paths.state_path()


def _setup_logging() -> None:
    from igest_sync import logsetup, paths

    logsetup.configure(paths.log_dir(), secrets=G.secrets, verbose=G.verbose)


def _clients(config: Config, *, remember_pace: bool = True):
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller import JumpsellerClient

    state = _state_path()
    js = JumpsellerClient(
        config.jumpseller.base_url,
        config.jumpseller.login,
        config.jumpseller.auth_token,
        pace_file=state.with_name(state.name + ".jumpseller-pace") if remember_pace else None,
    )
    ig = IgestClient(
        config.igest.base_url, config.igest.integration_key, config.igest.security_code
    )
    return js, ig


def _parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from igest_sync.errors import UsageError

        raise UsageError(f"{flag} expects a date like 2026-11-01, got {value!r}.") from None


# -- invoicing --------------------------------------------------------------------------------


@app.command()
def invoice(
    since: Annotated[
        Optional[str],
        typer.Option(
            help="One-off backfill: invoice orders paid on or after this day.", metavar="YYYY-MM-DD"
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show the documents that would be issued; write nothing anywhere."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Issue one final iGEST document for every order paid since the last run.

    Safe to run every few minutes from cron: a second run at the same time exits at once,
    and an order is never invoiced twice, even after a crash or a lost state file.
    Quiet unless something needs a person (or stdout is a terminal).

    \b
    Examples:
      igest-sync invoice            (cron: */10 * * * * igest-sync invoice)
      igest-sync invoice --dry-run
    """
    from igest_sync import render
    from igest_sync.runs.invoice import InvoiceRun
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.lock import run_lock

    config = _config()
    since_date = _parse_date(since, "--since")
    js, ig = _clients(config, remember_pace=not dry_run)  # a dry run leaves no file behind
    state = _state_path()
    if dry_run and not state.exists():
        state = Path(":memory:")
    lock = run_lock(state) if not dry_run else contextlib.nullcontext()
    with lock, js, ig, Ledger(state) as ledger:
        with render.progress("Invoicing orders") as progress:
            report = InvoiceRun(config, ledger, js, ig, progress=progress).run(
                since=since_date, dry_run=dry_run
            )
    render.invoice_report(report, json_out=json_out)
    raise typer.Exit(report.exit_code)


@app.command()
def resend(
    order_ids: Annotated[
        Optional[list[int]],
        typer.Argument(help="Jumpseller order ids to retry now.", metavar="ORDER_ID..."),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Retry every failed order.")] = False,
    nif: Annotated[
        Optional[str], typer.Option(help="Use this NIF for the customer (one order only).")
    ] = None,
    as_consumer: Annotated[
        bool,
        typer.Option(
            "--as-consumer", help="Invoice to the final consumer, ignoring the order's NIF."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Retry failed orders now, through the same exactly-once path as `invoice`.

    An order that already has a final document is reported with that document; nothing is
    issued again.

    \b
    Examples:
      igest-sync resend 10452
      igest-sync resend 10452 --nif 123456789
      igest-sync resend --failed
    """
    from igest_sync import render
    from igest_sync.errors import UsageError
    from igest_sync.fiscal.customer import CustomerOverride
    from igest_sync.runs.invoice import InvoiceRun
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.lock import run_lock

    ids = list(order_ids or [])
    if not ids and not failed:
        raise UsageError(
            "Name the orders to resend, or pass --failed.", hint="Example: igest-sync resend 10452"
        )
    if (nif or as_consumer) and (len(ids) != 1 or failed):
        raise UsageError("--nif and --as-consumer apply to exactly one order.")
    if nif and as_consumer:
        raise UsageError("Use either --nif or --as-consumer, not both.")
    override = CustomerOverride(nif=nif, as_consumer=as_consumer) if nif or as_consumer else None
    config = _config()
    js, ig = _clients(config)
    with run_lock(_state_path()), js, ig, Ledger(_state_path()) as ledger:
        with render.progress("Resending orders") as progress:
            report = InvoiceRun(config, ledger, js, ig, progress=progress).resend(
                ids, all_failed=failed, override=override
            )
    render.invoice_report(report, json_out=json_out, always=True)
    raise typer.Exit(report.exit_code)


@app.command()
def status(
    json_out: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    all_documents: Annotated[
        bool, typer.Option("--all", help="List every document (default: the newest 50).")
    ] = False,
    fail_if_late: Annotated[
        Optional[float],
        typer.Option(
            "--fail-if-late",
            metavar="HOURS",
            help="Exit 1 when a paid order has waited longer than this for its document.",
        ),
    ] = None,
) -> None:
    """Show the documents issued, the orders that failed and why, and what waits for payment.

    Reads only the local state file; contacts no service.

    \b
    Examples:
      igest-sync status
      igest-sync status --json | jq '.failed'
      igest-sync status --fail-if-late 24   (for monitoring)
    """
    from igest_sync import render
    from igest_sync.errors import StateError
    from igest_sync.runs.status import build_status
    from igest_sync.state.ledger import Ledger

    _setup_logging()  # no config needed: errors and bugs still reach the log file, once
    state = _state_path()
    if not state.exists():
        raise StateError(
            f"No state file at {state} yet.",
            hint="Run `igest-sync invoice` first, or pass --state PATH.",
        )
    with Ledger(state) as ledger:
        report = build_status(ledger, limit=None if all_documents else 50)
    render.status_report(report, json_out=json_out)
    if fail_if_late is not None and report.late_beyond(fail_if_late):
        raise typer.Exit(1)


@app.command()
def credit(
    order_id: Annotated[int, typer.Argument(help="Jumpseller order id.", metavar="ORDER_ID")],
    reason: Annotated[str, typer.Option(help="Reason printed on the credit note.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Issue a credit note (NC) for the whole final invoice of one order.

    An issued invoice can never be edited or deleted; a credit note offsets it. Exactly once:
    running it again reports the credit note already issued.

    \b
    Examples:
      igest-sync credit 10452 --reason "Devolução da encomenda"
    """
    from igest_sync import render
    from igest_sync.runs.credit import credit_run
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.lock import run_lock

    config = _config()
    js, ig = _clients(config)
    with run_lock(_state_path()), js, ig, Ledger(_state_path()) as ledger:
        report = credit_run(config, ledger, js, ig).credit(order_id, reason)
    render.invoice_report(report, json_out=json_out, always=True)
    raise typer.Exit(report.exit_code)


@app.command()
def reconcile(
    first: Annotated[
        str,
        typer.Option("--from", help="First day of the period (Lisbon date).", metavar="YYYY-MM-DD"),
    ],
    last: Annotated[
        str, typer.Option("--to", help="Last day of the period, included.", metavar="YYYY-MM-DD")
    ],
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Issue the missing invoices (exactly once); never deletes or credits."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare the orders paid in a period with iGEST's documents, by external reference.

    Lists paid orders without a final document, orders with more than one, documents whose
    total differs from the order, cancelled orders whose invoice was not credited, and
    documents whose order Jumpseller does not know. Reads both services, not the state file.
    Exit 1 when anything is wrong (after --fix: anything still wrong), 0 when all agree.

    \b
    Examples:
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30 --fix
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30 --json | jq '.problems'
    """
    from igest_sync import render
    from igest_sync.runs.reconcile import Period, ReconcileRun
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.lock import run_lock

    period = Period(_parse_date(first, "--from"), _parse_date(last, "--to"))
    config = _config()
    js, ig = _clients(config)
    with js, ig:
        if fix:
            with run_lock(_state_path()), Ledger(_state_path()) as ledger:
                report = ReconcileRun(config, js, ig, ledger=ledger).run(period, fix=True)
        else:
            report = ReconcileRun(config, js, ig).run(period)
    render.reconcile_report(report, json_out=json_out)
    raise typer.Exit(report.exit_code)


# -- catalogue ----------------------------------------------------------------------------------


@app.command("sync-products")
def sync_products_command(
    update: Annotated[
        bool, typer.Option("--update", help="Also update iGEST products whose fields differ.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Create in iGEST every Jumpseller product or variant whose SKU is missing there.

    Same SKU on both sides = same product. Items without SKU, and SKUs used twice in
    Jumpseller, are reported and never guessed.

    \b
    Examples:
      igest-sync sync-products --dry-run
      igest-sync sync-products --update
    """
    from igest_sync.runs.products import sync_products

    _catalogue_command(
        "Products",
        json_out,
        lambda config, js, ig, progress: sync_products(
            js, ig, config.products, update=update, dry_run=dry_run, progress=progress
        ),
    )


@app.command("sync-stock")
def sync_stock_command(
    force: Annotated[
        bool, typer.Option("--force", help="Run even when the safety brake would stop it.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Make stock equal on both sides, by SKU, in the direction the config names.

    Off until `[stock] enabled = true`. Only quantities that differ are written. Stops (exit 6)
    when the source reports no products or would zero too many items, unless --force.

    \b
    Examples:
      igest-sync sync-stock --dry-run
    """
    from igest_sync.runs.stock import sync_stock

    _catalogue_command(
        "Stock",
        json_out,
        lambda config, js, ig, progress: sync_stock(
            js, ig, config.stock, force=force, dry_run=dry_run, progress=progress
        ),
    )


def _catalogue_command(title: str, json_out: bool, run) -> None:
    """Run one catalogue sync under the run lock with a progress bar; render; exit 1 on failures."""
    from igest_sync import render
    from igest_sync.state.lock import run_lock

    config = _config()
    js, ig = _clients(config)
    with run_lock(_state_path()), js, ig:
        with render.progress(f"Syncing {title.lower()}") as progress:
            report = run(config, js, ig, progress)
    render.catalogue_report(report, title, json_out=json_out)
    raise typer.Exit(1 if report.failed else 0)


# -- set-up -----------------------------------------------------------------------------------


@app.command()
def init(
    jumpseller_login: Annotated[Optional[str], typer.Option(help="Jumpseller API login.")] = None,
    jumpseller_auth_token: Annotated[
        Optional[str],
        typer.Option(help="Jumpseller API auth token (prompted, hidden, when omitted)."),
    ] = None,
    jumpseller_base_url: Annotated[str, typer.Option()] = "https://api.jumpseller.com/v1",
    igest_base_url: Annotated[Optional[str], typer.Option(help="iGEST API base URL.")] = None,
    igest_integration_key: Annotated[Optional[str], typer.Option()] = None,
    igest_security_code: Annotated[
        Optional[str], typer.Option(help="iGEST security code (prompted, hidden, when omitted).")
    ] = None,
    start_date: Annotated[
        Optional[str],
        typer.Option(help="First day to invoice (default today).", metavar="YYYY-MM-DD"),
    ] = None,
    document_type: Annotated[str, typer.Option(help="FR, FT or FS.")] = "FR",
    series: Annotated[str, typer.Option(help="iGEST document series.")] = "A",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a config file (mode 0600) from flags, prompting for what is missing.

    \b
    Examples:
      igest-sync init --jumpseller-login mystore --igest-base-url https://api.igest.pt/v1
    """
    from igest_sync import paths, render
    from igest_sync.config import init_values, write_config

    def ask(value: str | None, prompt: str, hide: bool = False) -> str:
        return value if value is not None else typer.prompt(prompt, hide_input=hide)

    values = init_values(
        jumpseller_base_url=jumpseller_base_url,
        jumpseller_login=ask(jumpseller_login, "Jumpseller login"),
        jumpseller_auth_token=ask(jumpseller_auth_token, "Jumpseller auth token", True),
        igest_base_url=ask(igest_base_url, "iGEST API base URL"),
        igest_integration_key=ask(igest_integration_key, "iGEST integration key"),
        igest_security_code=ask(igest_security_code, "iGEST security code", True),
        start_date=_parse_date(start_date, "--start-date") or date.today(),
        document_type=document_type,
        series=series,
    )
    path = G.config_path or paths.config_path()
    write_config(path, values, overwrite=force)
    render.info(f"Wrote {path} (mode 600). Next: igest-sync check")


@app.command()
def check() -> None:
    """Verify the credentials and the reference data against both services.

    Checks the series, warehouses and exemption codes the config names exist in iGEST.

    \b
    Examples:
      igest-sync check
    """
    from igest_sync import render
    from igest_sync.runs.checks import run_checks

    config = _config()
    js, ig = _clients(config)
    with js, ig:
        results = run_checks(config, js, ig)
    render.check_results(results)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@app.command()
def sandbox(
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON line with the URLs and credentials, then serve."
        ),
    ] = False,
    jumpseller_port: Annotated[int, typer.Option(help="0 = any free port.")] = 0,
    igest_port: Annotated[int, typer.Option(help="0 = any free port.")] = 0,
    latency: Annotated[float, typer.Option(help="Seconds added to every request.")] = 0.0,
) -> None:
    """Serve emulators of Jumpseller, iGEST and VIES on 127.0.0.1 until Ctrl-C.

    Seeded with a Portuguese store. Use it to try the tool without credentials.

    \b
    Examples:
      igest-sync sandbox --json
    """
    import json
    import signal
    import threading

    from igest_sync import render
    from igest_sync.sandbox import start_sandbox

    sb = start_sandbox(
        seed=True, jumpseller_port=jumpseller_port, igest_port=igest_port, latency=latency
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if json_out:
            print(
                json.dumps({**sb.credentials, "vies": {"base_url": sb.vies_base_url}}), flush=True
            )
        else:
            render.sandbox_info(sb.credentials)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


@app.command()
def demo() -> None:
    """Run a full cycle against the built-in sandbox: no credentials, no network.

    Starts the emulators, writes a temporary config and state, invoices the paid orders,
    pays a pending order and invoices again, syncs products and stock, and shows the status.

    \b
    Examples:
      igest-sync demo
    """
    from igest_sync.demo import run_demo

    raise typer.Exit(run_demo(verbose=G.verbose))


# -- entry point --------------------------------------------------------------------------------


def main() -> None:
    import logging

    from igest_sync.errors import IgestSyncError

    # Commands that set up no log file (init, sandbox ...) must not have logging's last-resort
    # handler print every error a second time on stderr.
    logging.getLogger("igest_sync").addHandler(logging.NullHandler())
    try:
        # Standalone mode: typer reports usage errors itself (exit 2) and turns typer.Exit
        # into SystemExit; our own errors and bugs come out here.
        app()
    except IgestSyncError as exc:
        from igest_sync import render

        render.error(exc, secrets=G.secrets, verbose=G.verbose)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the person, the traceback in the log
        from igest_sync import render

        render.internal_error(exc, secrets=G.secrets, verbose=G.verbose)
        sys.exit(70)


if __name__ == "__main__":
    main()
