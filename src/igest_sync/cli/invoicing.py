"""The invoicing commands: ``invoice``, ``resend``, ``approve`` (review mode) and ``status``."""

from __future__ import annotations

import math
import sys
from typing import Annotated

import typer

from igest_sync.cli.session import (
    JsonOption,
    finish,
    load_config,
    parse_date,
    parse_order_id,
    session,
    setup_logging,
    state_of,
)
from igest_sync.cli.session import config_path as _config_path
from igest_sync.cli.session import state_path as _state_file

# -- invoicing --------------------------------------------------------------------------------


def invoice(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            help="One-off backfill: list the orders again from this day on and invoice each "
            "paid one without its document (never one paid before [invoice] start_date).",
            metavar="YYYY-MM-DD",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the documents that would be issued (and the drafts waiting for approval "
            "that would be finalized); change nothing in iGEST, Jumpseller or state.",
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
      igest-sync invoice
      igest-sync invoice --dry-run
      # cron, by the full path of the venv's command:
      */10 * * * * /opt/igest-sync/.venv/bin/igest-sync invoice
    """
    from igest_sync import render
    from igest_sync.runs.invoicing.invoice import InvoiceRun

    since_date = parse_date(since, "--since")
    with session(ctx, dry_run=dry_run) as s, render.progress("Invoicing orders") as progress:
        assert s.ledger is not None
        report = InvoiceRun(s.context, progress=progress).run(since=since_date, dry_run=dry_run)
        s.attend(report)
    render.invoice_report(report, json_out=json_out)
    finish(report)


def resend(
    ctx: typer.Context,
    order_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Jumpseller order ids to retry now.", metavar="ORDER_ID", parser=parse_order_id
        ),
    ] = None,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed",
            help="Retry every failed order, except one that a document not issued by "
            "igest-sync may have invoiced already (see adopt): name such an order to retry it.",
        ),
    ] = False,
    nif: Annotated[
        str | None,
        typer.Option(help="Use this NIF for the customer (one order only).", metavar="NIF"),
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
    from igest_sync.runs.invoicing.invoice import InvoiceRun

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
        report = InvoiceRun(s.context, progress=progress).resend(
            ids, all_failed=failed, override=override, by_a_person=True
        )
        s.attend(report)
    render.invoice_report(report, json_out=json_out, always=True)
    finish(report)


def approve(
    ctx: typer.Context,
    order_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Orders whose drafts to finalize (or reject).",
            metavar="ORDER_ID",
            parser=parse_order_id,
        ),
    ] = None,
    approve_all: Annotated[
        bool, typer.Option("--all", help="Finalize every draft that waits.")
    ] = False,
    reject: Annotated[
        bool,
        typer.Option(
            "--reject",
            help="Delete the drafts of the orders named instead; they wait for `resend`.",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(help="With --reject: why, kept with the order.", metavar="TEXT"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Finalize without asking.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Review mode: list the invoice drafts that wait, and finalize or reject them.

    With `[invoice] review = true`, `invoice` and `serve` stop each invoice at a draft whose
    totals were checked against what the customer paid. Without arguments this lists them as
    iGEST holds them: order, customer and the NIF the draft carries, total, VAT by rate and
    exemption codes (with iGEST's description). Naming orders (or --all) finalizes their
    drafts after asking; --yes skips the question (needed without a terminal, and with
    --json). A finalized invoice cannot be undone; a credit note offsets it. A draft whose
    order changed since (its total, the customer's NIF) is made again and waits instead;
    `resend ORDER --nif N` makes it again for that NIF at once.

    A draft deleted by hand in iGEST is made again, checked and finalized; one finalized there
    by hand is adopted. --reject deletes the draft: the order stays failed, "rejected by a
    person", until `igest-sync resend ORDER` issues it.

    \b
    Examples:
      igest-sync approve                 (list what waits)
      igest-sync approve 10452 10453
      igest-sync approve --all --yes
      igest-sync approve --reject 10452 --reason "preço errado"
    """
    from igest_sync.errors import UsageError
    from igest_sync.render import review as shown
    from igest_sync.runs.invoicing import review as flow
    from igest_sync.runs.invoicing.exemption_texts import ExemptionTexts
    from igest_sync.runs.invoicing.invoice import InvoiceRun
    from igest_sync.runs.report import counted

    ids = list(dict.fromkeys(order_ids or []))
    if reject and (approve_all or not ids):
        raise UsageError(
            "--reject deletes the drafts of the orders named; name them, without --all.",
            hint="Example: igest-sync approve --reject 10452",
        )
    if approve_all and ids:
        raise UsageError("Name the orders to finalize, or pass --all, not both.")
    if reason is not None and not reject:
        raise UsageError("--reason goes with --reject.")
    listed = False
    with session(ctx) as s:
        assert s.ledger is not None
        run = InvoiceRun(s.context)
        waiting_now = flow.waiting_drafts(s.ledger, s.igest, ExemptionTexts(s.igest))
        report = flow.ApproveReport(
            waiting=waiting_now,
            # --all with nothing waiting says so, not "Finalized 0, rejected 0, failed 0".
            listed_only=not ids and not (approve_all and waiting_now),
        )
        waiting = {d.order_id for d in report.waiting}
        chosen = sorted(waiting)
        if not approve_all:
            # Named orders: their drafts, and approvals whose answer was lost (looked up again).
            chosen = []
            for order_id in ids:
                refused = flow.not_waiting(s.ledger, order_id, rejecting=bool(reject))
                if refused is None:
                    chosen.append(order_id)
                else:
                    report.outcomes.append(refused)
        if reject:
            for order_id in chosen:
                report.outcomes.append(
                    flow.reject(s.ledger, s.igest, order_id, now=run.now, reason=reason)
                )
        elif chosen:
            # In payment order, as listed; the person sees exactly what is finalized.
            chosen = [d.order_id for d in report.waiting if d.order_id in chosen] + [
                i for i in chosen if i not in waiting
            ]
            if not yes:
                if json_out or not sys.stdin.isatty():
                    raise UsageError(
                        f"Not finalizing {counted(len(chosen), 'invoice draft')} without a "
                        "confirmation.",
                        hint="Add --yes to finalize without a terminal (or with --json); "
                        "`igest-sync approve` lists them first.",
                    )
                shown.waiting_drafts(
                    [d for d in report.waiting if d.order_id in chosen], title="To finalize"
                )
                listed = True
                if not typer.confirm(
                    f"Finalize {counted(len(chosen), 'invoice')}? They cannot be undone",
                    default=False,
                ):
                    raise typer.Exit(1)
            report.outcomes += flow.approve(run, chosen, report.notices)
        s.attend(report)
    shown.approve_report(report, json_out=json_out, listed=listed)
    finish(report)


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
        int | None,
        typer.Option("--order", help="Only this order.", metavar="ORDER_ID", parser=parse_order_id),
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
            help="Exit 1 when a paid order has waited longer than this for its document, or no "
            "invoice run has ended for that long.",
        ),
    ] = None,
) -> None:
    """Show the documents issued, the orders that failed and why, and what waits for payment.

    Reads only the local state file (and the config); contacts no service. The title names
    the store as Jumpseller does (remembered by `invoice` runs, asked weekly), else its login.
    Lists the newest 20 documents unless told otherwise. --order of an order the state file
    does not know (a mistyped number, or one no run has listed yet) exits 2.

    \b
    Examples:
      igest-sync status
      igest-sync status --since 2026-11-01
      igest-sync status --order 10452
      igest-sync status --json | jq '.failed'
      igest-sync status --fail-if-late 24   (for monitoring)
    """
    from igest_sync import render
    from igest_sync.cli import composition
    from igest_sync.errors import ExitCode, UsageError
    from igest_sync.runs.setup.status import (
        SWEEP_MINUTES,
        DocumentFilter,
        build_status,
        empty_status,
    )
    from igest_sync.state.ledger import Ledger

    if fail_if_late is not None and not math.isfinite(fail_if_late):
        # nan or inf would never fire: a monitoring check that can never fail.
        raise UsageError(
            f"--fail-if-late {fail_if_late} is not a number of hours.", hint="For example: 24."
        )
    cli = state_of(ctx)
    since_date = parse_date(since, "--since")
    # The store's name titles the report (an agency runs one home per store); the config is
    # optional here: status works on a bare state file too.
    store = None
    sweep_minutes = SWEEP_MINUTES
    configured = _config_path(cli).exists()
    if configured:
        config = load_config(cli)
        store, sweep_minutes = config.jumpseller.store, config.serve.sweep_minutes
    setup_logging(cli)  # errors and bugs still reach the log file, once
    state = _state_file(cli)
    selection = DocumentFilter(
        limit=None if all_documents or since_date or order is not None else 20,
        since=since_date,
        order_id=order,
        failed_only=failed_only,
    )
    if not state.exists():  # a fresh install: nothing to show, nothing late
        report = empty_status(store=store, order_id=order)
    else:
        with Ledger(state, clock=composition.wall_clock) as ledger:
            if store is not None:  # another store's state file would report its documents
                ledger.meta.require_store(store, state, _config_path(cli), record=False)
            report = build_status(
                ledger,
                now=composition.wall_clock(),
                selection=selection,
                store=store,
                sweep_minutes=sweep_minutes,
            )
    render.status_report(report, json_out=json_out)
    if not report.issued_yet and not configured and not json_out:
        # A newcomer's first look: the first `invoice` would only refuse for want of a config.
        render.info(
            f"No configuration yet ({_config_path(cli)}): `igest-sync init` writes one, and "
            "`igest-sync demo` shows the whole cycle on the built-in sandbox first."
        )
    if fail_if_late is not None:
        unlooked = report.unlooked_beyond(fail_if_late)
        if unlooked is not None:
            render.warn(unlooked)
        if unlooked is not None or report.late_beyond(fail_if_late):
            raise typer.Exit(ExitCode.ITEM_FAILED)


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app, in the order ``--help`` lists them."""
    app.command(short_help="Invoice every order paid since the last run.")(invoice)
    app.command(short_help="Retry failed orders now, exactly once.")(resend)
    app.command(short_help="Review mode: finalize or reject waiting drafts.")(approve)
    app.command(short_help="Documents issued, failures and why, what waits.")(status)
