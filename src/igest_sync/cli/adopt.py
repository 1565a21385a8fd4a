"""``adopt``: record the invoices another integration issued before the switch."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from igest_sync.cli.session import (
    FromOption,
    JsonOption,
    ToOption,
    finish,
    order_number,
    parse_date,
    session,
)


def adopt(
    ctx: typer.Context,
    first: FromOption,
    last: ToOption = None,
    pick: Annotated[
        list[str] | None,
        typer.Option(
            "--pick",
            help="This document is this order's invoice (a match you checked: an ambiguous "
            "or unmatched one, or the one a failed order's message names). Repeatable.",
            metavar="NUMBER=ORDER",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Record without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the matches; record nothing.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Adopt the invoices another integration issued (the hosted app, or by hand).

    Lists the period's final iGEST invoices that carry no reference of igest-sync (and those of
    the days before that may invoice an order placed before the period) and matches each to a
    Jumpseller order: by the order number the document names (in its reference or notes),
    otherwise by the total to the cent, the payment day (the document's date or one of the 3
    days before it: a late payment invoiced the next day; or after it, for an order placed by
    then: an FT made as the order is placed) and the customer's NIF or name; several orders that
    fit are ambiguous, and so is one for an order its customer placed but has not paid yet
    (held, once paid, till you decide); an order another document surely invoices is no
    candidate for the others (those that name no order), when that leaves one. Sure matches are
    recorded, after asking, as the order's invoice "issued elsewhere": the order is never
    invoiced again, `credit` credits that document, and `status`, `reconcile` and the digest
    count it. Ambiguous and unmatched documents are only listed; --pick records one you checked
    (an order placed more than 30 days before the period is not matched: pick it). Running it
    again records nothing twice.

    \b
    Examples:
      igest-sync adopt --from 2026-10-01 --to 2026-11-03 --dry-run
      igest-sync adopt --from 2026-10-01 --to 2026-11-03
      igest-sync adopt --from 2026-10-01 --pick 'FR QI/5=9005' --yes
    """
    from igest_sync import render
    from igest_sync.errors import UsageError
    from igest_sync.runs.setup.adopt import AdoptReport, AdoptRun

    first_day = parse_date(first, "--from")
    assert first_day is not None  # required
    last_day = parse_date(last, "--to")  # None: today, by the run's clock
    picks: dict[str, int] = {}
    for item in pick or []:
        number, _, typed = item.rpartition("=")
        document, order_id = number.strip(), order_number(typed)
        if not document or order_id is None:
            raise UsageError(
                f"--pick {item!r}: expected the document number and the order id.",
                hint="Example: --pick 'FR QI/5=9005'.",
            )
        earlier = picks.setdefault(document, order_id)
        if earlier != order_id:
            # One document is one order's invoice: the last pick would win without a word.
            raise UsageError(
                f"--pick {item!r} and --pick '{document}={earlier}' name two orders for "
                f"{document}.",
                hint="Check which order that document invoices and pick it once.",
            )
    asked: list[bool] = []

    def confirm(report: AdoptReport) -> bool:
        if yes:
            return True
        if json_out or not sys.stdin.isatty():
            if not json_out:  # a script's log or cron's mail says what awaits --yes
                render.adopt_matches(report)
            raise UsageError(
                "Not recording the matches without a confirmation.",
                hint="Add --yes to record them without a terminal (or with --json); "
                "--dry-run shows them first.",
            )
        render.adopt_matches(report)
        for notice in report.notices:  # a pick that does not fit its order: before the question
            render.warn(notice)
        asked.append(True)
        sure = report.count("sure")
        period = f"{report.first} to {report.last}"
        question = (
            f"Record the {sure} sure matches as invoices issued elsewhere (never invoiced "
            f"again), and {period} as reviewed?"
            if sure
            else f"Record nothing, but {period} as reviewed (a first invoice then no longer "
            "stops for these documents)?"
        )
        return typer.confirm(question, default=False)

    with session(ctx, dry_run=dry_run) as s:
        assert s.ledger is not None
        report = AdoptRun(s.context).run(
            first_day, last_day, picks=picks, dry_run=dry_run, confirm=confirm
        )
    render.adopt_report(report, json_out=json_out, shown=bool(asked))
    finish(report)
