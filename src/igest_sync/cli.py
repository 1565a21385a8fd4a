"""The command line: parse, build, call, render; errors become messages and exit codes.

The commands live here; what they share (per-call state on ``ctx.obj``, the session that opens
config, clients, lock and ledger, the ``--json`` option, the one error handler) lives in
``cli_session``. Only these two and ``render`` know typer and rich. Heavy imports happen inside
the commands so that ``--help`` and a quiet cron run start fast.
"""

from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from igest_sync.cli_session import (
    Group,
    JsonOption,
    exit_codes_help,
    finish,
    load_config,
    session,
    setup_logging,
    show_version,
    state_of,
)
from igest_sync.cli_session import config_path as _config_path
from igest_sync.cli_session import state_path as _state_file

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
            help="Config file (default: platformdirs config dir, or $IGEST_SYNC_HOME).",
            metavar="PATH",
        ),
    ] = None,
    state: Annotated[
        Path | None,
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
    render.set_quiet(quiet)


# -- helpers ----------------------------------------------------------------------------------


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
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            help="One-off backfill: invoice orders paid on or after this day.", metavar="YYYY-MM-DD"
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the documents that would be issued; change nothing in iGEST, Jumpseller or state.",
        ),
    ] = False,
    json_out: JsonOption = False,
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

    since_date = _parse_date(since, "--since")
    with session(ctx, dry_run=dry_run) as s, render.progress("Invoicing orders") as progress:
        assert s.ledger is not None
        report = InvoiceRun(s.config, s.ledger, *s.clients, progress=progress).run(
            since=since_date, dry_run=dry_run
        )
    render.invoice_report(report, json_out=json_out)
    finish(report)


@app.command()
def resend(
    ctx: typer.Context,
    order_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Jumpseller order ids to retry now.", metavar="ORDER_ID..."),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Retry every failed order.")] = False,
    nif: Annotated[
        str | None, typer.Option(help="Use this NIF for the customer (one order only).")
    ] = None,
    as_consumer: Annotated[
        bool,
        typer.Option(
            "--as-consumer", help="Invoice to the final consumer, ignoring the order's NIF."
        ),
    ] = False,
    json_out: JsonOption = False,
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
    with session(ctx) as s, render.progress("Resending orders") as progress:
        assert s.ledger is not None
        report = InvoiceRun(s.config, s.ledger, *s.clients, progress=progress).resend(
            ids, all_failed=failed, override=override
        )
    render.invoice_report(report, json_out=json_out, always=True)
    finish(report)


@app.command()
def status(
    ctx: typer.Context,
    json_out: JsonOption = False,
    all_documents: Annotated[
        bool, typer.Option("--all", help="List every document (default: the newest 20).")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Only documents dated on or after this day.", metavar="YYYY-MM-DD"),
    ] = None,
    order: Annotated[
        int | None, typer.Option("--order", help="Only this order.", metavar="ORDER_ID")
    ] = None,
    failed_only: Annotated[
        bool, typer.Option("--failed", help="Only the failed orders, no documents.")
    ] = False,
    fail_if_late: Annotated[
        float | None,
        typer.Option(
            "--fail-if-late",
            min=0,
            metavar="HOURS",
            help="Exit 1 when a paid order has waited longer than this for its document.",
        ),
    ] = None,
) -> None:
    """Show the documents issued, the orders that failed and why, and what waits for payment.

    Reads only the local state file (and the config, for the store's name); contacts no
    service. Lists the newest 20 documents unless told otherwise.

    \b
    Examples:
      igest-sync status
      igest-sync status --since 2026-11-01
      igest-sync status --order 10452
      igest-sync status --json | jq '.failed'
      igest-sync status --fail-if-late 24   (for monitoring)
    """
    from igest_sync import render
    from igest_sync.errors import ExitCode, UsageError
    from igest_sync.runs.status import DocumentFilter, build_status, empty_status
    from igest_sync.state.ledger import Ledger

    if fail_if_late is not None and not math.isfinite(fail_if_late):
        # nan or inf would never fire: a monitoring check that can never fail.
        raise UsageError(
            f"--fail-if-late {fail_if_late} is not a number of hours.", hint="For example: 24."
        )
    cli = state_of(ctx)
    since_date = _parse_date(since, "--since")
    # The store's name titles the report (an agency runs one home per store); the config is
    # optional here: status works on a bare state file too.
    store = None
    if _config_path(cli).exists():
        store = load_config(cli).jumpseller.store
    setup_logging(cli)  # errors and bugs still reach the log file, once
    state = _state_file(cli)
    selection = DocumentFilter(
        limit=None if all_documents or since_date or order is not None else 20,
        since=since_date,
        order_id=order,
        failed_only=failed_only,
    )
    if not state.exists():  # a fresh install: nothing to show, nothing late
        report = empty_status(store=store)
    else:
        with Ledger(state) as ledger:
            report = build_status(ledger, selection=selection, store=store)
    render.status_report(report, json_out=json_out)
    if fail_if_late is not None and report.late_beyond(fail_if_late):
        raise typer.Exit(ExitCode.ITEM_FAILED)


@app.command()
def credit(
    ctx: typer.Context,
    order_id: Annotated[int, typer.Argument(help="Jumpseller order id.", metavar="ORDER_ID")],
    reason: Annotated[str, typer.Option(help="Reason printed on the credit note.")],
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help="Credit this SKU (all its units not yet credited, or QTY of them). Repeatable.",
            metavar="SKU[:QTY]",
        ),
    ] = None,
    shipping: Annotated[bool, typer.Option("--shipping", help="Credit the shipping.")] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="Credit everything not credited yet (the default).")
    ] = False,
    restock: Annotated[
        bool | None,
        typer.Option(
            "--restock/--no-restock",
            help="Return the goods to the iGEST warehouse (default: [invoice] move_stock).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Issue without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show it; write nothing.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Issue a credit note (NC) for part or all of the final invoice of one order.

    An issued invoice can never be edited or deleted; a credit note offsets it. It credits the
    lines you name at the invoice's prices, the shipping, or everything not credited yet
    (without --line or --shipping). What is already credited is read from iGEST: nothing is
    ever credited twice. It shows the invoice, the lines to credit and what remains, and asks
    before issuing; --yes skips the question (needed without a terminal, and with --json).
    Exactly once: a command interrupted midway is finished by running it again.

    \b
    Examples:
      igest-sync credit 10452 --reason "Devolução de 1 caneca" --line CAN-AZU:1
      igest-sync credit 10452 --reason "Portes devolvidos" --shipping --yes
      igest-sync credit 10452 --reason "Encomenda cancelada" --all --dry-run
    """
    from igest_sync import render
    from igest_sync.errors import UsageError
    from igest_sync.fiscal.credit import CreditPlan, CreditRequest
    from igest_sync.runs.credit import credit_run

    if not reason.strip():
        # The reason is printed on a document that can never be changed: never a default here.
        raise UsageError(
            "--reason is empty: a credit note must say why it is issued.",
            hint='Example: --reason "Devolução de 1 caneca".',
        )
    if everything and (line or shipping):
        raise UsageError(
            "--all credits everything not credited yet; it cannot be combined with --line or "
            "--shipping.",
            hint="Give either --all, or the lines (--line SKU[:QTY]) and/or --shipping.",
        )
    try:
        request = CreditRequest.parse(
            line or [], shipping=shipping, everything=everything or not (line or shipping)
        )
    except ValueError as exc:
        raise UsageError(str(exc), hint="Give --line SKU or --line SKU:QTY.") from None
    asked: list[bool] = []

    def confirm(plan: CreditPlan) -> bool:
        # Only when there is something to issue: a fully credited invoice is just reported.
        if yes:
            return True
        if json_out or not sys.stdin.isatty():
            raise UsageError(
                f"Not issuing the credit note for order {order_id} without a confirmation.",
                hint="Add --yes to issue it without a terminal (or with --json); "
                "--dry-run shows it first.",
            )
        render.credit_plan(plan, order_id=order_id)
        asked.append(True)
        return typer.confirm("Issue this credit note? It cannot be undone", default=False)

    with session(ctx, dry_run=dry_run) as s:
        assert s.ledger is not None
        report = credit_run(s.config, s.ledger, *s.clients).credit(
            order_id, request, reason, restock=restock, dry_run=dry_run, confirm=confirm
        )
    render.credit_report(report, json_out=json_out, plan_shown=bool(asked))
    finish(report)


@app.command()
def reconcile(
    ctx: typer.Context,
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
    json_out: JsonOption = False,
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
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30 --json | jq .problems
    """
    from igest_sync import render
    from igest_sync.runs.reconcile import Period, ReconcileRun

    first_day, last_day = _parse_date(first, "--from"), _parse_date(last, "--to")
    assert first_day is not None and last_day is not None  # both options are required
    period = Period(first_day, last_day)
    # Without --fix it reads both services only: no lock, no ledger.
    with session(ctx, lock=fix, ledger=fix) as s:
        report = ReconcileRun(s.config, *s.clients, ledger=s.ledger).run(period, fix=fix)
    render.reconcile_report(report, json_out=json_out)
    finish(report)


# -- catalogue ----------------------------------------------------------------------------------


@app.command("sync-products")
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
    json_out: JsonOption = False,
) -> None:
    """Make stock equal on both sides, by SKU, in the direction the config names.

    Off until `[stock] enabled = true`; --dry-run works before that, to look first. Only
    quantities that differ are written. Stops (exit 6) when the source reports no products or
    would zero too many items, unless --force. A store that keeps stock in several Jumpseller
    locations must name one in [stock] jumpseller_location_id (exit 2 until it does).

    \b
    Examples:
      igest-sync sync-stock --dry-run
    """
    from igest_sync import render
    from igest_sync.runs.stock import sync_stock

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


# -- set-up -----------------------------------------------------------------------------------


@app.command()
def init(
    jumpseller_login: Annotated[str | None, typer.Option(help="Jumpseller API login.")] = None,
    jumpseller_auth_token: Annotated[
        str | None,
        typer.Option(
            help="Jumpseller API auth token (asked, hidden, when omitted on a terminal; "
            "better kept in IGEST_SYNC_JUMPSELLER_AUTH_TOKEN)."
        ),
    ] = None,
    jumpseller_hooks_token: Annotated[
        str | None,
        typer.Option(
            help="Jumpseller hooks token, which signs webhooks, for `serve` (asked, hidden, "
            "when omitted on a terminal; better kept in IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN)."
        ),
    ] = None,
    jumpseller_base_url: Annotated[str, typer.Option()] = "https://api.jumpseller.com/v1",
    igest_base_url: Annotated[str | None, typer.Option(help="iGEST API base URL.")] = None,
    igest_integration_key: Annotated[str | None, typer.Option()] = None,
    igest_security_code: Annotated[
        str | None,
        typer.Option(
            help="iGEST security code (asked, hidden, when omitted on a terminal; better kept "
            "in IGEST_SYNC_IGEST_SECURITY_CODE)."
        ),
    ] = None,
    start_date: Annotated[
        str | None,
        typer.Option(help="First day to invoice (default today).", metavar="YYYY-MM-DD"),
    ] = None,
    document_type: Annotated[str, typer.Option(help="FR, FT or FS.")] = "FR",
    series: Annotated[str, typer.Option(help="iGEST document series.")] = "A",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Ask nothing: take the defaults, leave omitted secrets to the environment.",
        ),
    ] = False,
    example: Annotated[
        bool,
        typer.Option(
            "--example", help="Print the fully commented example config (every key) and exit."
        ),
    ] = False,
) -> None:
    """Write a config file (private to you) from flags, asking on a terminal for what is missing.

    Without a terminal (or with --yes) nothing is asked: the defaults are taken and omitted
    secrets are left to IGEST_SYNC_JUMPSELLER_AUTH_TOKEN and IGEST_SYNC_IGEST_SECURITY_CODE.

    \b
    Examples:
      igest-sync init
      igest-sync init --yes --jumpseller-login mystore --start-date 2026-12-01 \\
        --igest-base-url https://api.igest.pt/v1 --igest-integration-key KEY
      igest-sync init --example > config.toml
    """
    import os

    from igest_sync.config import example_config_text, init_values, write_config
    from igest_sync.errors import ConfigError, UsageError

    if example:
        sys.stdout.write(example_config_text())  # verbatim: no markup, no wrapping
        return
    path = _config_path(state_of())
    if path.exists() and not force:  # before asking anything
        raise ConfigError(
            f"{path} already exists; not overwriting it",
            hint="Edit it, or run `igest-sync init --force` to replace it.",
        )
    # Ask only a person at a terminal: under cron, a script or a pipe there is nobody to
    # answer (and a hidden prompt would warn about echoing the secret).
    interactive = not yes and _stdin_is_terminal()
    missing = [
        flag
        for flag, value in (
            ("--jumpseller-login", jumpseller_login),
            ("--igest-base-url", igest_base_url),
            ("--igest-integration-key", igest_integration_key),
        )
        if value is None
    ]
    if missing and not interactive:
        raise UsageError(
            f"init has nobody to ask for {', '.join(missing)}: pass "
            f"{'it' if len(missing) == 1 else 'them'} as flags.",
            hint="Example: igest-sync init --yes --jumpseller-login mystore "
            "--igest-base-url https://api.igest.pt/v1 --igest-integration-key KEY",
        )

    def ask(value: str | None, prompt: str, default: str | None = None) -> str:
        if value is not None or not interactive:
            return value if value is not None else default or ""
        return typer.prompt(prompt, default=default)

    def ask_secret(value: str | None, prompt: str, env_var: str) -> str | None:
        if value is not None or not interactive:
            return value or None
        answer = typer.prompt(
            f"{prompt} (hidden; Enter to keep it out of the file and set {env_var} instead)",
            default="",
            show_default=False,
            hide_input=True,
        )
        return answer or None

    login = ask(jumpseller_login, "Jumpseller login (Jumpseller admin: Settings > API)")
    token = ask_secret(
        jumpseller_auth_token, "Jumpseller auth token", "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN"
    )
    igest_url = ask(igest_base_url, "iGEST API base URL")
    igest_key = ask(
        igest_integration_key, "iGEST integration key (Entidade > Configurar > Integrações)"
    )
    code = ask_secret(igest_security_code, "iGEST security code", "IGEST_SYNC_IGEST_SECURITY_CODE")
    today = date.today().isoformat()
    first_day = ask(
        start_date, "First day to invoice (orders paid before it are never invoiced)", today
    )
    chosen = _parse_date(first_day, "--start-date")
    assert chosen is not None
    # Optional (only `serve` needs it), so asked last and never reported missing.
    hooks_token = ask_secret(
        jumpseller_hooks_token,
        "Jumpseller hooks token, for `serve` (Admin Panel > Config > Notifications > Webhooks)",
        "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN",
    )
    try:
        values = init_values(
            jumpseller_base_url=jumpseller_base_url,
            jumpseller_login=login,
            jumpseller_auth_token=token,
            igest_base_url=igest_url,
            igest_integration_key=igest_key,
            igest_security_code=code,
            jumpseller_hooks_token=hooks_token,
            start_date=chosen,
            document_type=document_type,
            series=series,
        )
    except ConfigError as exc:
        # The values were checked as the file would be, but no file exists yet: name the
        # flags (or answers), not a file to edit.
        raise ConfigError(
            f"init cannot write {path}: nothing was written.",
            problems=[problem.removeprefix("config.toml: ") for problem in exc.problems],
            hint="Correct the flag (or the answer) for each key listed, e.g. --document-type "
            "FR, --series A, --igest-base-url https://...",
        ) from None
    write_config(path, values, overwrite=force)
    private = " (mode 600)" if os.name == "posix" else ""
    # -q: only what needs a person (an unset secret), as for every command.
    say = (lambda _line: None) if state_of().quiet else typer.echo
    say(f"Wrote {path}{private}.")
    if start_date is not None:
        how = "from --start-date"
    elif first_day == today:
        how = "today, the default"
    else:
        how = "your answer"
    say(f"First day invoiced: {chosen.isoformat()} ({how}; [invoice] start_date).")
    for secret, env_var in (
        (token, "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN"),
        (code, "IGEST_SYNC_IGEST_SECURITY_CODE"),
    ):
        if secret is None and not os.environ.get(env_var):
            typer.echo(f"Set {env_var} for every run (it is not in the file).")
    # typer.echo, not rich: a command to copy must not be wrapped at the terminal's width.
    given = state_of().config_path
    config_flag = f" --config {_quoted(str(given))}" if given else ""
    say(f"Next: igest-sync{config_flag} check")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _quoted(text: str) -> str:
    """``text`` as one shell word (POSIX quoting; Windows paths with spaces get double quotes)."""
    import os
    import shlex

    if os.name == "nt":
        return f'"{text}"' if " " in text else text
    return shlex.quote(text)


@app.command()
def check(json_out: JsonOption = False) -> None:
    """Verify the credentials and the reference data against both services.

    Checks the series, warehouses and exemption codes the config names exist in iGEST, and
    which Jumpseller location sync-stock writes. Exits like the other commands: 0 all good,
    2 the config must change, 5 a service could not be reached or refused the credentials.

    \b
    Examples:
      igest-sync check
      igest-sync check --json
    """
    from igest_sync import render
    from igest_sync.runs.checks import checks_exit_code, run_checks

    with session(lock=False, ledger=False) as s:
        results = run_checks(s.config, s.jumpseller, s.igest)
    render.check_results(results, json_out=json_out)
    raise typer.Exit(int(checks_exit_code(results)))


@app.command()
def sandbox(
    json_out: JsonOption = False,
    jumpseller_port: Annotated[int, typer.Option(help="0 = any free port.")] = 0,
    igest_port: Annotated[int, typer.Option(help="0 = any free port.")] = 0,
    latency: Annotated[float, typer.Option(help="Seconds added to every request.")] = 0.0,
) -> None:
    """Serve emulators of Jumpseller, iGEST and VIES on 127.0.0.1 until Ctrl-C.

    Seeded with a Portuguese store. Use it to try the tool without credentials. With --json
    it prints one line with the URLs and credentials, then serves.

    \b
    Examples:
      igest-sync sandbox --json
    """
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
            render.sandbox_json({**sb.credentials, "vies": {"base_url": sb.vies_base_url}})
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

    raise typer.Exit(run_demo(verbose=state_of().verbose))


# -- entry point --------------------------------------------------------------------------------


def main() -> None:
    from igest_sync.cli_session import main as run_main

    run_main(app)


if __name__ == "__main__":
    main()
