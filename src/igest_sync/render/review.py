"""What ``approve`` shows: the drafts that wait for approval, and what was done with them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from igest_sync.render.console import (
    _cell,
    _key_column,
    _layout,
    _money,
    _show,
    _table,
    _text_column,
    emit_json,
    local_time,
)

if TYPE_CHECKING:
    from igest_sync.runs.invoicing.review import ApproveReport
    from igest_sync.runs.invoicing.review_list import WaitingDraft

_IGEST_STATE = {
    "waiting": "draft in iGEST",
    "deleted": "deleted in iGEST: approving makes it again",
    "finalized": "finalized in iGEST: approving adopts it",
    "unknown": "iGEST could not be read",
}


def waiting_drafts(drafts: list[WaitingDraft], *, title: str | None = None) -> None:
    """The drafts as iGEST holds them: order, customer and the NIF the draft carries (the one
    approving finalizes), total, VAT by rate, exemptions."""
    if not drafts:
        _show("No invoice draft waits for approval.")
        return
    table = _table(title or "Invoice drafts waiting for approval")
    # The NIF the draft carries (999999990: the final consumer; "-": no draft to read it
    # from) is the one approving finalizes: its own column when there is room, else under
    # the order's number; never cut either way.
    apart = _layout() != "compact"
    _key_column(table, "Order" if apart else "Order / NIF")
    _key_column(table, "Paid at")
    _text_column(table, "Customer")
    if apart:
        _key_column(table, "NIF")
    _key_column(table, "Invoice total (EUR)", right=True)  # gift cards included (the sale)
    _text_column(table, "VAT by rate")
    _text_column(table, "Exemption")
    _text_column(table, "In iGEST")
    for d in drafts:
        vat = "; ".join(
            f"{v.rate}%{' ' + v.tax_country if v.tax_country else ''}: {v.vat} on {v.base}"
            for v in d.vat
        )
        state = _IGEST_STATE.get(d.igest, d.igest)
        if d.igest == "finalized" and d.number:
            state = f"finalized in iGEST as {d.number}: approving adopts it"
        # The draft's own total when iGEST was read: the value of the sale, gift cards
        # included, which Jumpseller's order total is not. No comparison between the two here:
        # `approve` reads the order again and remakes a draft that no longer matches it.
        total = d.gross_total if d.gross_total is not None else d.total
        nif = _cell(d.nif or "-")
        table.add_row(
            str(d.order_id) if apart else f"{d.order_id}\n{nif}",
            local_time(d.paid_at),
            *([_cell(d.customer), nif] if apart else [_cell(d.customer)]),
            _money(total),
            _cell(vat or "-"),
            _cell("; ".join(text for _, text in d.exemptions) or "-"),
            _cell(state),
        )
    _show(table)


def approve_report(report: ApproveReport, *, json_out: bool = False, listed: bool) -> None:
    """The outcome of ``approve``; ``listed``: the waiting drafts were shown already."""
    if json_out:
        emit_json(report.to_json())
        return
    if report.listed_only:
        if not listed:
            waiting_drafts(report.waiting)
        if report.waiting:
            _show(
                _cell(
                    "Finalize with `igest-sync approve ORDER...` or `approve --all`; reject one "
                    "with `igest-sync approve --reject ORDER`."
                )
            )
        return
    if report.outcomes:
        table = _table("Approval")
        _key_column(table, "Order")
        _key_column(table, "Result")
        _key_column(table, "Document")
        _text_column(table, "Detail")
        for o in report.outcomes:
            style = "red" if o.action == "failed" else None
            number = o.number or ""
            # An issued invoice's detail is its number: said once, in its own column.
            detail = "" if number and o.detail == number else o.detail
            table.add_row(_cell(o.key), _cell(o.action), _cell(number), _cell(detail), style=style)
        _show(table)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()))
