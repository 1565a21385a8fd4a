"""Everything a person sees: rich tables, progress bars, JSON, one-line errors.

Quiet by default for cron: a report prints when stdout is a terminal, when something failed
(a person must act), or when asked (--json). Errors and warnings go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from igest_sync.redact import redact

out = Console(highlight=False, soft_wrap=False)
# soft_wrap: off a terminal (cron mail) an error keeps its paths on one line.
err = Console(stderr=True, highlight=False, soft_wrap=True)


def info(text: str) -> None:
    out.print(escape(text))


def warn(text: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(text)}")


def error(exc: Exception, *, secrets: Iterable[str] = (), verbose: bool = False) -> None:
    secrets = list(secrets)
    hint = getattr(exc, "hint", None)
    err.print(f"[red]error:[/red] {escape(redact(str(exc), secrets))}")
    if hint:
        err.print(f"  {escape(redact(hint, secrets))}")
    logging.getLogger("igest_sync").error(
        "%s%s", exc, f" ({hint})" if hint else "", exc_info=verbose
    )
    if verbose:
        import traceback

        err.print(escape(redact("".join(traceback.format_exception(exc)), secrets)))


def internal_error(exc: Exception, *, secrets: Iterable[str] = (), verbose: bool = False) -> None:
    secrets = list(secrets)
    logging.getLogger("igest_sync").error("Internal error: %r", exc, exc_info=True)
    err.print(f"[red]internal error:[/red] {escape(redact(repr(exc), secrets))}")
    err.print(
        "  This is a bug in igest-sync; the traceback is in the log file "
        "(or run again with --verbose). No document was left half-issued: the next run "
        "looks every unfinished order up in iGEST first."
    )
    if verbose:
        import traceback

        err.print(escape(redact("".join(traceback.format_exception(exc)), secrets)))


def _reports_forced() -> bool:
    # The demo runs the CLI without a terminal but wants every table shown.
    import os

    return os.environ.get("IGEST_SYNC_REPORTS") == "always"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on a terminal (stderr), nothing under cron."""
    if not err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(label, total=None)
    state = {"last": 0.0}

    def update(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - state["last"] > 0.1 or (total and done >= total):
            bar.update(task, completed=done, total=total)
            state["last"] = now

    with bar:
        yield update


def _money(value: Any) -> str:
    from decimal import Decimal, InvalidOperation

    if value is None:
        return ""
    try:
        return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"
    except InvalidOperation:
        return str(value)


# -- invoice / resend ---------------------------------------------------------------------------


def invoice_report(report: Any, *, json_out: bool = False, always: bool = False) -> None:
    if json_out:
        data = report.to_json()
        if report.dry_run:
            data["documents"] = [_draft_json(d) for d in report.drafts]
        _print_json(data)
        return
    if report.dry_run:
        for draft in report.drafts:
            _draft_table(draft)
    interesting = [o for o in report.outcomes if o.action not in ("issued", "would issue")]
    issued = [o for o in report.outcomes if o.action == "issued"]
    show = (
        always
        or report.dry_run
        or report.failed
        or report.notices
        or out.is_terminal
        or _reports_forced()
        or report.still_failed
    )
    if not show:
        return
    if issued and (out.is_terminal or always or _reports_forced()):
        table = Table(title="Issued")
        for col in ("Order", "Document", "Total (EUR)"):
            table.add_column(col, justify="right" if col.startswith("Total") else "left")
        for o in issued:
            table.add_row(
                o.key, o.extra.get("number") or o.detail, _money(o.extra.get("gross_total"))
            )
        out.print(table)
    if interesting:
        table = Table(title="Needs attention" if report.failed else "Other orders")
        table.add_column("Order")
        table.add_column("Result")
        table.add_column("Detail", overflow="fold")
        for o in interesting:
            style = "red" if o.action == "failed" else None
            table.add_row(o.key, o.action, escape(o.detail), style=style)
        out.print(table)
    if report.still_failed:
        table = Table(title="Still failed from earlier runs (waiting for you)", title_style="red")
        table.add_column("Order")
        table.add_column("Reason", overflow="fold")
        for o in report.still_failed:
            table.add_row(o.key, escape(o.detail))
        out.print(table)
    for notice in report.notices:
        out.print(f"[yellow]note:[/yellow] {escape(notice)}")
    out.print(report.summary())
    if report.failed or report.still_failed:
        out.print(
            "Failed orders stay failed in the ledger: fix the cause, then "
            "`igest-sync resend ORDER_ID` (or `resend --failed`). See `igest-sync status`."
        )


def _draft_json(draft: Any) -> dict:
    return {
        "order_id": draft.order_id,
        "type": draft.type,
        "series": draft.series,
        "external_reference": draft.external_reference,
        "customer": {"nif": draft.customer.nif, "name": draft.customer.name},
        "prices_include_vat": draft.prices_include_vat,
        "lines": [
            {
                "reference": line.reference,
                "description": line.description,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "discount_percent": str(line.discount_percent),
                "vat_rate": str(line.vat_rate),
                "exemption_code": line.exemption_code,
            }
            for line in draft.lines
        ],
        "net_total": str(draft.net_total),
        "vat_total": str(draft.vat_total),
        "gross_total": str(draft.gross_total),
        "warnings": list(draft.warnings),
    }


def _draft_table(draft: Any) -> None:
    customer = draft.customer.nif or "consumidor final"
    table = Table(
        title=f"Order {draft.order_id}: {draft.type} {draft.series}, "
        f"{escape(draft.customer.name)} ({customer})"
    )
    for col in ("Reference", "Description", "Qty", "Unit price", "Disc. %", "VAT %", "Exempt."):
        table.add_column(
            col, justify="right" if col in ("Qty", "Unit price", "Disc. %", "VAT %") else "left"
        )
    for line in draft.lines:
        table.add_row(
            escape(line.reference),
            escape(line.description),
            str(line.quantity),
            str(line.unit_price),
            str(line.discount_percent),
            str(line.vat_rate),
            line.exemption_code or "",
        )
    out.print(table)
    rates = ", ".join(f"{v.rate}%: base {v.base} VAT {v.vat}" for v in draft.vat_breakdown)
    mode = "VAT included" if draft.prices_include_vat else "VAT excluded"
    out.print(
        f"  {rates}  |  net {draft.net_total}  VAT {draft.vat_total}  "
        f"[bold]total {draft.gross_total} EUR[/bold] ({mode})"
    )
    for warning in draft.warnings:
        out.print(f"  [yellow]warning:[/yellow] {escape(warning)}")


# -- status -----------------------------------------------------------------------------------


def status_report(report: Any, *, json_out: bool = False) -> None:
    if json_out:
        _print_json(report.to_json())
        return
    table = Table(title="Documents issued (newest first)")
    for col in (
        "Order",
        "Document",
        "Type",
        "Date",
        "Customer",
        "Total (EUR)",
        "iGEST state",
        "On order",
        "Credited by",
    ):
        table.add_column(col, justify="right" if col.startswith("Total") else "left")
    for d in report.documents:
        credited = report.credited_by.get(d.order_id, "") if d.kind == "invoice" else ""
        table.add_row(
            str(d.order_id),
            d.number or d.document_id,
            d.type,
            d.date or "",
            escape(d.customer or ""),
            _money(d.gross_total),
            d.status,
            "yes" if d.linked else ("failed" if d.link_error else "no"),
            credited,
        )
    out.print(table)
    late = {order_id: hours for order_id, _, hours in report.late}
    if report.failed:
        table = Table(title="Failed orders", title_style="red")
        for col in ("Order", "Paid at", "Attempts", "Retry", "Reason"):
            table.add_column(col, overflow="fold" if col == "Reason" else None)
        for work, order in report.failed:
            style = "bold red" if late.get(work.order_id, 0) > 24 else None
            table.add_row(
                str(work.order_id),
                order.paid_at if order else "",
                str(work.attempts),
                "next run" if work.transient else "resend",
                escape(work.error or ""),
                style=style,
            )
        out.print(table)
    if report.waiting:
        table = Table(title="Paid, document in progress")
        table.add_column("Order")
        table.add_column("Paid at")
        for o in report.waiting:
            table.add_row(str(o.order_id), o.paid_at or "")
        out.print(table)
    if report.open_orders:
        table = Table(title="Waiting for payment")
        for col in ("Order", "Created", "Customer", "Total (EUR)"):
            table.add_column(col)
        for o in report.open_orders:
            table.add_row(
                str(o.order_id), o.created_at or "", escape(o.customer or ""), _money(o.total)
            )
        out.print(table)
    overdue = report.late_beyond(24)
    if overdue:
        ids = ", ".join(str(i) for i, _, _ in overdue)
        out.print(
            f"[bold red]Late:[/bold red] paid more than a day ago and still without a "
            f"document: {ids}. The invoice of a paid order is due on the payment day."
        )
    out.print(
        f"Checkpoint: last order seen {report.checkpoint or 'none yet'}; "
        f"last run {report.last_run_at or 'never'}; "
        f"last run without failures {report.last_success_at or 'never'}"
    )


# -- catalogue ----------------------------------------------------------------------------------


def catalogue_report(report: Any, title: str, *, json_out: bool = False) -> None:
    if json_out:
        _print_json(report.to_json())
        return
    outcomes = list(report.outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    shown = [o for o in outcomes if o.action != "unchanged"]
    if shown and (out.is_terminal or report.failed or len(shown) <= 200):
        table = Table(title=title)
        table.add_column("SKU")
        table.add_column("Action")
        table.add_column("Detail", overflow="fold")
        for o in shown[:500]:
            table.add_row(
                escape(o.key),
                o.action,
                escape(o.detail),
                style="red" if o.action == "failed" else None,
            )
        out.print(table)
        if len(shown) > 500:
            out.print(f"... and {len(shown) - 500} more (use --json for all)")
    summary = Table(title=f"{title} summary")
    for action in sorted(counts):
        summary.add_column(action, justify="right")
    summary.add_row(*(str(counts[a]) for a in sorted(counts)))
    out.print(summary)


# -- check, sandbox -----------------------------------------------------------------------------


def check_results(results: Iterable[Any]) -> None:
    table = Table(title="Checks")
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Detail", overflow="fold")
    for r in results:
        detail = r.detail + (f" ({r.hint})" if r.hint and not r.ok else "")
        result = (
            "[red]FAILED[/red]"
            if not r.ok
            else (
                "[yellow]warning[/yellow]" if getattr(r, "warning", False) else "[green]ok[/green]"
            )
        )
        table.add_row(escape(r.name), result, escape(detail))
    out.print(table)


def sandbox_info(credentials: dict) -> None:
    js, ig = credentials["jumpseller"], credentials["igest"]
    out.print("[bold]Sandbox running[/bold] (Ctrl-C to stop)")
    out.print(f"  Jumpseller: {js['base_url']}")
    out.print(f"  iGEST:      {ig['base_url']}")
    out.print(
        "\nA config for it (save as config.toml, then igest-sync --config config.toml ...):\n"
    )
    snippet = (
        "[jumpseller]\n"
        f'base_url = "{js["base_url"]}"\nlogin = "{js["login"]}"\n'
        f'auth_token = "{js["auth_token"]}"\n\n'
        "[igest]\n"
        f'base_url = "{ig["base_url"]}"\nintegration_key = "{ig["integration_key"]}"\n'
        f'security_code = "{ig["security_code"]}"\n\n'
        '[invoice]\nstart_date = 2026-11-01\nproduct_exemption_code = "M07"\n'
    )
    out.print(escape(snippet), soft_wrap=True)


# -- reconcile --------------------------------------------------------------------------------


def reconcile_report(report: Any, *, json_out: bool = False) -> None:
    """The problems found (and what --fix did); always shown: a person asked for it."""
    if json_out:
        _print_json(report.to_json())
        return
    if report.problems:
        table = Table(title=f"Reconciliation {report.period.first} to {report.period.last}")
        for col in ("Problem", "Order", "Documents", "Detail", "What to do"):
            table.add_column(col, overflow="fold" if col in ("Detail", "What to do") else None)
        for p in report.problems:
            fixed = report.fixed(p)
            table.add_row(
                p.kind.replace("_", " ") + (" (fixed)" if fixed else ""),
                str(p.order_id) if p.order_id is not None else "?",
                escape(", ".join(p.documents)),
                escape(p.detail),
                "" if fixed else escape(p.hint or ""),
                style=None if fixed else "red",
            )
        out.print(table)
    if report.fixes:
        table = Table(title="Issued by --fix")
        for col in ("Order", "Result", "Detail"):
            table.add_column(col, overflow="fold" if col == "Detail" else None)
        for o in report.fixes:
            table.add_row(
                o.key, o.action, escape(o.detail), style="red" if o.action == "failed" else None
            )
        out.print(table)
    for notice in report.notices:
        out.print(f"[yellow]note:[/yellow] {escape(notice)}")
    out.print(escape(report.summary()))
