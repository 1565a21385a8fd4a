"""What ``invoice``, ``resend`` and ``status`` show: the documents issued, the failures, the drafts
of a dry run."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.table import Table

from igest_sync.models import Action, status_words
from igest_sync.render.console import (
    _GLUE,
    _cell,
    _key_column,
    _layout,
    _money,
    _reports_forced,
    _show,
    _table,
    _text_column,
    current,
    emit_json,
    local_time,
)
from igest_sync.runs.report import counted

if TYPE_CHECKING:
    from igest_sync.models import DocumentDraft
    from igest_sync.runs.invoicing.invoice import InvoiceReport
    from igest_sync.runs.setup.status import StatusReport
    from igest_sync.state.work import OrderRecord, WorkRecord


# -- invoice / resend / credit ----------------------------------------------------------------


def invoice_report(report: InvoiceReport, *, json_out: bool = False, always: bool = False) -> None:
    if json_out:
        data = report.to_json()
        if report.dry_run:
            # Every document the run would issue: new ones, and the waiting drafts it would
            # finalize (their orders' action: "would finalize").
            data["documents"] = [_draft_json(d) for d in report.drafts + report.finalizing]
        emit_json(data)
        return
    if report.dry_run:
        for draft in report.drafts:
            _draft_table(draft)
        # The drafts waiting for approval that the run would finalize: each document in full,
        # with what the run would do (a document shown is not listed again below).
        would = {o.key: o.detail for o in report.outcomes if o.action == Action.WOULD_FINALIZE}
        for draft in report.finalizing:
            _draft_table(draft, note=would.get(str(draft.order_id)))
    shown = (Action.ISSUED, Action.WOULD_ISSUE, Action.WOULD_FINALIZE)
    # Review mode: a new order's "would draft" is its draft, shown in full above; a draft
    # made again only has its row below.
    again = report.drafted_again
    interesting = [
        o
        for o in report.outcomes
        if o.action not in shown and (o.action != Action.WOULD_DRAFT or o in again)
    ]
    issued = [o for o in report.outcomes if o.action == "issued"]
    if not (
        always
        or report.dry_run
        or report.needs_a_person
        or current().interactive
        or _reports_forced()
    ):
        return
    if issued and (current().interactive or always or _reports_forced()):
        table = _table("Issued")
        _key_column(table, "Order")
        _key_column(table, "Document")
        _key_column(table, "Total (EUR)", right=True)
        for o in issued:
            table.add_row(_cell(o.key), _cell(o.number or o.detail), _money(o.gross_total))
        _show(table)
    # Only the failures need the person; an order skipped or found already invoiced is told
    # once, apart, so that a first run's old orders do not bury the one that needs them.
    failing = (Action.FAILED, Action.WOULD_FAIL)
    for title, rows in (
        ("Needs attention", [o for o in interesting if o.action in failing]),
        ("Other orders", [o for o in interesting if o.action not in failing]),
    ):
        if not rows:
            continue
        if title == "Other orders" and len(rows) > OTHER_ORDERS_LISTED:
            # A rebuild finds hundreds of its documents: a row each buried the rest.
            counts = Counter(str(o.action) for o in rows)
            each = "; ".join(f"{counted(n, 'order')} {action}" for action, n in counts.items())
            _show(
                _cell(
                    f"Other orders: {each} (the log names each one, with why; `igest-sync "
                    "status --order N` tells one)."
                )
            )
            continue
        table = _table(title)
        _key_column(table, "Order")
        _key_column(table, "Result")
        _text_column(table, "Detail")
        for o in rows:
            style = "red" if o.action in failing else None
            table.add_row(_cell(o.key), _cell(o.action), _cell(o.detail), style=style)
        _show(table)
    retrying = [o for o in report.quiet if o.action == Action.FAILED and o.transient]
    if retrying and (current().interactive or always or _reports_forced()):
        # Cron keeps them quiet until they last; a person at a terminal sees which and why
        # (the summary only counted them: "failed 3 (will retry by itself)").
        table = _table("Not issued yet: the next run tries again by itself", title_style="yellow")
        _key_column(table, "Order")
        _text_column(table, "Why")
        for o in retrying:
            table.add_row(_cell(o.key), _cell(o.detail))
        _show(table)
    if report.still_failed:
        table = _table("Still failed from earlier runs (waiting for you)", title_style="red")
        _key_column(table, "Order")
        _text_column(table, "Reason")
        for o in report.still_failed:
            table.add_row(_cell(o.key), _cell(o.detail))
        _show(table)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()))
    if report.dry_run and report.failed:
        # A dry run writes nothing: no order is failed in the ledger by it.
        _show(
            _cell(
                "Nothing was written. A real run records these orders as failed; fix the "
                "cause first (then `igest-sync invoice`)."
            )
        )
        return
    for advice in failure_advice(report):
        _show(_cell(advice))


# Past this many, the orders skipped or found already invoiced are counted, not listed.
OTHER_ORDERS_LISTED = 20


def failure_advice(report: InvoiceReport) -> list[str]:
    """The footer under the failures shown, matching them: ``resend`` only for a failure a
    person must fix; a failure that passes by itself is retried by igest-sync, and is shown
    only because it has lasted (``[alerts] unreachable_minutes``)."""
    failures = [
        o for o in report.outcomes if o.action == "failed" and o.recorded
    ] + report.still_failed
    advice = []
    if any(not o.transient for o in failures):
        advice.append(
            "Failed orders stay failed in the ledger: fix the cause, then "
            "`igest-sync resend ORDER_ID` (or `resend --failed`). See `igest-sync status`."
        )
    if any(o.transient for o in failures):
        advice.append(
            'Orders that "try again by itself" are retried by every run (and by serve within '
            "seconds): nothing to do for them but a service that answers. They are shown "
            "once the failure has lasted [alerts] unreachable_minutes (0: at once); "
            "`igest-sync check` tells which service does not."
        )
    return advice


def _draft_json(draft: DocumentDraft) -> dict[str, Any]:
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
                "tax_country": line.tax_country,
            }
            for line in draft.lines
        ],
        "net_total": str(draft.net_total),
        "vat_total": str(draft.vat_total),
        "gross_total": str(draft.gross_total),
        "warnings": list(draft.warnings),
    }


def _draft_table(draft: DocumentDraft, *, note: str | None = None) -> None:
    """A document a dry run would issue, line by line; ``note``: what the run would do with
    it, when it is not a new document (a waiting draft it would finalize)."""
    customer = draft.customer.nif or "consumidor final"
    table = _table(
        f"Order {draft.order_id}: {draft.type} {draft.series}, {draft.customer.name} ({customer})"
    )
    wide = _layout() == "wide"
    discounts = wide or any(line.discount_percent for line in draft.lines)
    table.add_column("Reference", overflow="fold")
    _text_column(table, "Description")
    _key_column(table, "Qty", right=True)
    _key_column(table, "Unit price", right=True)
    if discounts:
        _key_column(table, "Disc. %", right=True)
    _key_column(table, "VAT %", right=True)
    if wide:
        _key_column(table, "Exempt.")
    for line in draft.lines:
        vat = str(line.vat_rate)
        if line.tax_country:  # another Member State's VAT, charged under OSS
            vat += f" {line.tax_country}"
        if not wide and line.exemption_code:
            vat += f" {line.exemption_code}"  # the compact layout shows the code beside 0 %
        row = [_cell(line.reference), _cell(line.description), str(line.quantity)]
        row.append(str(line.unit_price))
        if discounts:
            row.append(str(line.discount_percent))
        row.append(vat)
        if wide:
            row.append(line.exemption_code or "")
        table.add_row(*row)
    _show(table)
    # A label stays with its amount ("VAT" / "7.34" on two lines reads as two facts): glued.
    g = _GLUE
    rates = ", ".join(
        f"{v.rate}%{g + v.tax_country if v.tax_country else ''}: base{g}{v.base} VAT{g}{v.vat}"
        for v in draft.vat_breakdown
    )
    # About the unit prices above: the total always includes VAT.
    mode = "prices with VAT" if draft.prices_include_vat else "prices without VAT"
    _show(f"  {_cell(rates)}")
    _show(
        f"  net{g}{draft.net_total}  VAT{g}{draft.vat_total}  "
        f"[bold]total{g}{draft.gross_total}{g}EUR[/bold] {_cell(f'({mode})')}"
    )
    if note:
        _show(f"  {_cell(note)}")
    for warning in draft.warnings:
        _show(f"  [yellow]warning:[/yellow] {_cell(warning)}")


# -- status -----------------------------------------------------------------------------------


def _no_document(order_id: int, order: OrderRecord | None, failed: bool) -> str:
    """``status --order N`` for an order without a document: what the runs know of it (an
    order the state file knows nothing of never gets here: ``status.unknown_order``).
    ``failed``: its failure follows, in the failed orders' table."""
    below = ": it failed, why and what to do below" if failed else ""
    if order is None:  # its work is recorded, not the order itself
        return f"Order {order_id}: no document{below}."
    why = below or (f": {order.note}" if order.note else "")
    return f"Order {order_id} ({status_words(order.status)}): no document{why}."


def _failed_table(
    title: str, rows: list[tuple[WorkRecord, OrderRecord | None]], report: StatusReport, layout: str
) -> Table:
    late = {order_id: hours for order_id, _, hours in report.late}
    table = _table(title, title_style="red" if "resend" in title else "yellow")
    _key_column(table, "Order")
    _key_column(table, "Paid at")
    if layout == "wide":
        _key_column(table, "Attempts", right=True)
    _text_column(table, "Reason")
    for work, order in rows:
        style = "bold red" if late.get(work.order_id, 0) > 24 else None
        row = [str(work.order_id), local_time(order.paid_at if order else None)]
        if layout == "wide":
            row.append(str(work.attempts))
        row.append(_cell(work.error or ""))
        table.add_row(*row, style=style)
    return table


def status_report(report: StatusReport, *, json_out: bool = False) -> None:
    if json_out:
        emit_json(report.to_json())
        return
    store = f" by {report.store}" if report.store else ""
    if not report.issued_yet:
        _show(
            _cell(
                f"{f'Store {report.store}' if report.store else 'Status'}: nothing issued yet; "
                "the first `igest-sync invoice` creates the state file."
            )
        )
        return
    layout = _layout()
    if report.failed_only:
        if not report.failed:
            # Not an empty table: say it.
            _show("No failed orders.")
    elif report.asked_order is not None and not report.documents:
        failed = any(w.order_id == report.asked_order for w, _ in report.failed)
        _show(_cell(_no_document(report.asked_order, report.order, failed)))
    elif not report.documents and not report.documents_not_listed:
        # A first run stopped before its first document (killed, a service down): not an
        # empty table.
        when = f" since {report.since}" if report.since else " yet"
        _show(_cell(f"No documents issued{store}{when}."))
    else:
        _show(_documents_table(report, f"Documents issued{store} (newest first)", layout))
    if report.paid_again:
        _show(f"[yellow]note:[/yellow] {_cell(report.paid_again)}")
    if report.documents_not_listed:
        _show(
            _cell(
                f"... and {report.documents_not_listed} older documents "
                "(--all, --since DATE or --order ID to list them)."
            )
        )
    # What needs a person apart from what the next run retries by itself (VIES or a service
    # that did not answer): one "Failed orders" table for both made a passing wait look like
    # work for the merchant.
    for transient, title in (
        (False, "Failed orders (fix the cause, then igest-sync resend)"),
        (True, "Waiting to retry (the next run tries again by itself)"),
    ):
        rows = [(w, o) for w, o in report.failed if w.transient is transient]
        if rows:
            _show(_failed_table(title, rows, report, layout))
    if report.waiting:
        table = _table("Paid, document in progress")
        _key_column(table, "Order")
        _key_column(table, "Paid at")
        for o in report.waiting:
            table.add_row(str(o.order_id), local_time(o.paid_at))
        _show(table)
    if report.review:
        table = _table("Drafts waiting for approval (igest-sync approve)", title_style="yellow")
        _key_column(table, "Order")
        _key_column(table, "Paid at")
        _text_column(table, "Customer")
        # Jumpseller's total, as the notices say it: a gift card's share is not in it, which the
        # invoice (approve's figure) carries; each named for what it is.
        _key_column(table, "Order total (EUR)", right=True)
        for d in report.review:
            table.add_row(
                str(d.order_id), local_time(d.paid_at), _cell(d.customer), _money(d.total)
            )
        _show(table)
    if report.open_orders:
        table = _table("Waiting for payment")
        _key_column(table, "Order")
        _key_column(table, "Created")
        _text_column(table, "Customer")
        _key_column(table, "Total (EUR)", right=True)
        for o in report.open_orders:
            table.add_row(
                str(o.order_id), local_time(o.created_at), _cell(o.customer), _money(o.total)
            )
        _show(table)
    overdue = report.late_beyond(24)
    if overdue:
        ids = ", ".join(str(i) for i, _, _ in overdue)
        _show(
            f"[bold red]Late:[/bold red] paid more than a day ago and still without a "
            f"document: {ids}. The invoice of a paid order is due on the payment day."
        )
    _show(
        _cell(
            f"Checkpoint: last order seen {report.checkpoint or 'none yet'}; "
            f"last run {local_time(report.last_run_at) or 'never'}; "
            f"last run without failures {local_time(report.last_success_at) or 'never'}"
        )
    )
    if report.last_webhook_at or report.last_sweep_at:
        waiting = f"; {report.hints_waiting} webhooks waiting" if report.hints_waiting else ""
        _show(
            _cell(
                f"serve: last webhook {local_time(report.last_webhook_at) or 'never'}; "
                f"last sweep {local_time(report.last_sweep_at) or 'never'}{waiting}"
            )
        )
    if report.serve_down is not None:
        _show(
            f"[bold yellow]serve is not running[/bold yellow]: {_cell(report.serve_down.reason)}."
        )
    elif report.realtime is not None:
        _show(
            f"[bold yellow]Real time degraded[/bold yellow] since "
            f"{_cell(local_time(report.realtime.since))}: {_cell(report.realtime.reason)}. "
            "The sweep still invoices every paid order. serve saves its hooks again by itself; "
            "`igest-sync hooks install` does the same (a hook Jumpseller paused resumes). If "
            "webhooks still do not arrive, check that [serve] public_url reaches serve."
        )


def _documents_table(report: StatusReport, title: str, layout: str) -> Table:
    table = _table(title)
    _key_column(table, "Order")
    _key_column(table, "Document")
    if layout != "compact":
        _key_column(table, "Type")
    _key_column(table, "Date")
    if layout != "compact":
        _text_column(table, "Customer")
    _key_column(table, "Total (EUR)", right=True)
    if layout == "wide":
        _key_column(table, "iGEST state")
        _key_column(table, "On order")
        _text_column(table, "Credited by")  # a list of credit notes wraps between them
    else:
        _text_column(table, "Note")
    for d in report.documents:
        credited = report.credited_by.get(d.order_id, "") if d.kind == "invoice" else ""
        if credited and report.credit_state.get(d.order_id) != "credited":
            credited += " (partly)"
        linked = "yes" if d.linked else ("failed" if d.link_error else "no")
        if d.document_id in report.elsewhere:
            linked = "issued elsewhere"  # adopt: another integration's document, left as it is
        row = [str(d.order_id), _cell(d.number or d.document_id)]
        if layout != "compact":
            row.append(d.type)
        row.append(d.date or "")
        if layout != "compact":
            row.append(_cell(d.customer))
        row.append(_money(d.gross_total))
        if layout == "wide":
            row += [d.status, linked, _cell(credited)]
        else:
            notes = [f"credited by {credited}"] if credited else []
            if d.document_id in report.elsewhere:
                notes.append("issued elsewhere")
            if d.status != "final":
                notes.append(d.status)
            if not d.linked:
                notes.append("not on the order" if d.link_error else "not on the order yet")
            row.append(_cell("; ".join(notes)))
        table.add_row(*row)
    return table
