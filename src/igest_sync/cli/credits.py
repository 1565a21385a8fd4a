"""The commands that correct and compare: ``credit`` (a credit note) and ``reconcile``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from igest_sync.cli.session import (
    FromOption,
    JsonOption,
    ToOption,
    finish,
    parse_date,
    parse_order_id,
    session,
    state_of,
)


def credit(
    ctx: typer.Context,
    order_id: Annotated[
        int,
        typer.Argument(help="Jumpseller order id.", metavar="ORDER_ID", parser=parse_order_id),
    ],
    reason: Annotated[str, typer.Option(help="Reason printed on the credit note.", metavar="TEXT")],
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
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="One more credit note for a request already credited (another unit returned "
            "for the same reason).",
        ),
    ] = False,
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

    Exactly once per request (the order, what it credits, the reason): running the same
    command again never issues a second credit note. If the first attempt was interrupted or
    its outcome is unknown, the rerun (or the next `invoice`) finishes that one ("finished NC
    A/4 ..., the credit note an earlier run left unfinished"); if it was issued, the rerun says
    "already issued: NC A/4 of 2026-12-01 for this request" (exit 0), with the --again command
    while the invoice still has what it asks for.
    For a second identical credit (another unit returned for the same reason), add --again:
    the plan lists the credit notes issued before for the same request.

    \b
    Examples:
      igest-sync credit 10452 --reason "Devolução de 1 caneca" --line CAN-AZU:1
      igest-sync credit 10452 --reason "Portes devolvidos" --shipping --yes
      igest-sync credit 10452 --reason "Encomenda cancelada" --all --dry-run
    """
    from igest_sync import render
    from igest_sync.errors import UsageError
    from igest_sync.fiscal.credit import CreditPlan, CreditRequest
    from igest_sync.runs.wiring import wire

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
        credits = wire(s.context).credits
        report = credits.credit(
            order_id,
            request,
            reason,
            restock=restock,
            again=again,
            dry_run=dry_run,
            confirm=confirm,
            acknowledge=False,
        )
        s.attend(report)
        render.credit_report(report, json_out=json_out, plan_shown=bool(asked))
        sys.stdout.flush()
        # Only once printed: a command killed before the person saw its outcome is repeated
        # as it was typed, and --again repeated then reports that NC instead of another one.
        credits.acknowledge(report)
    finish(report)


def reconcile(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Issue the missing invoices (exactly once), and delete a draft invoice left "
            "beside an order's final one; never deletes a final document, never credits.",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Compare the orders paid in a period with iGEST's documents, by external reference.

    Lists paid orders without a final document, orders with more than one, documents whose
    total differs from the order, cancelled orders whose invoice was not credited, and
    documents whose order Jumpseller does not know; names a draft invoice left beside an
    order's final one (it could only become a second invoice). A sale igest-sync does not
    invoice (the till's, by [invoice] sources) is not missing. Both services are read again;
    the state file adds what they do not say: the invoices adopt recorded, the runs' failures
    and drafts waiting for approval, and the older orders it saw open (a cart paid weeks
    later), read back. Exit 1 when anything is wrong (after --fix: anything still wrong), 0
    when all agree.

    \b
    Examples:
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30
      igest-sync reconcile --from 2026-12-01                   # this month so far
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30 --fix
      igest-sync reconcile --from 2026-11-01 --to 2026-11-30 --json | jq .problems
    """
    from igest_sync import render
    from igest_sync.cli import composition
    from igest_sync.runs.invoicing.invoice import InvoiceRun
    from igest_sync.runs.reconcile import ReconcileRun
    from igest_sync.timeutil import Period, lisbon_date

    first_day = parse_date(first, "--from")
    assert first_day is not None  # required
    # Without --to: up to today, by the command's one clock.
    period = Period(first_day, parse_date(last, "--to") or lisbon_date(composition.wall_clock()))
    # Without --fix it reads both services (and, when there is a state file, which invoices
    # `adopt` recorded as issued elsewhere): no lock.
    from igest_sync.cli.session import state_path

    ledger = fix or state_path(state_of(ctx)).exists()
    with session(ctx, lock=fix, ledger=ledger) as s:
        resend = None
        if fix:
            # --fix issues through the exactly-once path of resend, on this run's context.
            context = s.context
            resend = lambda ids: InvoiceRun(context).resend(ids)
        report = ReconcileRun(
            s.config.invoice,
            s.config.jumpseller.store,
            *s.clients,
            ledger=s.ledger,
            resend=resend,
            now=s.now(),
        ).run(period, fix=fix)
        s.attend(report)  # alerted only with --fix, a run that changes something
    render.reconcile_report(report, json_out=json_out)
    finish(report)


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app, in the order ``--help`` lists them."""
    from igest_sync.cli.adopt import adopt

    app.command(short_help="Credit note for part or all of an order's invoice.")(credit)
    app.command(short_help="Compare a period's paid orders with iGEST's documents.")(reconcile)
    app.command(short_help="Adopt the invoices another integration issued.")(adopt)
