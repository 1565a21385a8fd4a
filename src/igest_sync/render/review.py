"""What ``approve`` shows: the drafts that wait for approval, and what was done with them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from igest_sync.models import VatSummary
from igest_sync.render.console import (
    _cell,
    _key_column,
    _layout,
    _money,
    _show,
    _table,
    _text_column,
    current,
    emit_json,
    local_time,
    wrap_words,
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
    approving finalizes), total, VAT by rate, exemptions. A table from about 120 columns;
    narrower, one block per draft, so that nothing is cut in two."""
    if not drafts:
        _show("No invoice draft waits for approval.")
        return
    title = title or "Invoice drafts waiting for approval"
    if _layout() == "wide":
        _drafts_table(drafts, title)
        return
    _show(f"[bold]{_cell(title)}[/bold]")
    for d in drafts:
        _draft_block(d)


def _state(d: WaitingDraft) -> str:
    if d.igest == "finalized" and d.number:
        return f"finalized in iGEST as {d.number}: approving adopts it"
    return _IGEST_STATE.get(d.igest, d.igest)


def _vat(v: VatSummary) -> str:
    return f"{v.rate}%{' ' + v.tax_country if v.tax_country else ''}: {v.vat} on {v.base}"


def _total(d: WaitingDraft) -> str:
    # The draft's own total when iGEST was read: the value of the sale, gift cards included,
    # which Jumpseller's order total is not. No comparison between the two here: `approve`
    # reads the order again and remakes a draft that no longer matches it.
    return _money(d.gross_total if d.gross_total is not None else d.total)


def _draft_block(d: WaitingDraft) -> None:
    """One draft under about 120 columns: its order and payment time on a line, then one
    labelled line per fact (a line per VAT rate, per exemption), wrapped between words."""
    width = current().out.width - 1
    paid = local_time(d.paid_at)
    head = f"Order {d.order_id}{f', paid {paid}' if paid else ''}"
    # The usual state on the order's line; one to act on (deleted, finalized by hand, not
    # read) on a line of its own, where it has room.
    usual = d.igest == "waiting"
    _show(f"[bold]{_cell(head + (': draft in iGEST' if usual else ''))}[/bold]")
    # The NIF the draft carries (999999990: the final consumer; "-": no draft to read it
    # from) is the one approving finalizes.
    total = _total(d)
    state = "could not be read" if d.igest == "unknown" else _state(d).replace(" in iGEST", "", 1)
    facts = [
        ("In iGEST", [] if usual else [state]),
        ("Customer", [f"{d.customer or '-'} (NIF {d.nif or '-'})"]),
        ("Invoice total", [f"{total} EUR" if total else "-"]),  # gift cards included
        ("VAT by rate", [_vat(v) for v in d.vat]),
        ("Exemption", [text for _, text in d.exemptions]),
    ]
    label = max(len(name) for name, _ in facts) + 2
    for name, values in facts:
        for number, value in enumerate(values):
            first = f"  {name if number == 0 else '':<{label}}"
            text = wrap_words(value, width, first=first, rest=" " * len(first))
            _show(escape(text), soft_wrap=True)


def _drafts_table(drafts: list[WaitingDraft], title: str) -> None:
    table = _table(title)
    _key_column(table, "Order")
    _key_column(table, "Paid at")
    _text_column(table, "Customer")
    _key_column(table, "NIF")
    _key_column(table, "Invoice total (EUR)", right=True)  # gift cards included (the sale)
    _text_column(table, "VAT by rate")
    _text_column(table, "Exemption")
    _text_column(table, "In iGEST")
    for d in drafts:
        table.add_row(
            str(d.order_id),
            local_time(d.paid_at),
            _cell(d.customer),
            _cell(d.nif or "-"),
            _total(d),
            _cell("; ".join(_vat(v) for v in d.vat) or "-"),
            _cell("; ".join(text for _, text in d.exemptions) or "-"),
            _cell(_state(d)),
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
