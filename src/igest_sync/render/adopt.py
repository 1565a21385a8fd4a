"""What ``adopt`` shows: each document not ours with the order it belongs to (sure, ambiguous,
unmatched, adopted before), asked about before anything is recorded."""

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
    emit_report_json,
)

if TYPE_CHECKING:
    from igest_sync.runs.setup.adopt import AdoptReport

_STYLE = {"sure": "green", "ambiguous": "yellow", "unmatched": "red", "adopted": None}


def adopt_matches(report: AdoptReport) -> None:
    """The matches, one row per document; always shown: a person asked for them."""
    if not report.matches:
        return
    table = _table(f"Documents not issued by igest-sync, {report.first} to {report.last}")
    wide = _layout() != "compact"
    _key_column(table, "Document")
    _key_column(table, "Date")
    _key_column(table, "Total", right=True)
    if wide:
        _text_column(table, "Customer")
    _key_column(table, "Match")
    _text_column(table, "Why")
    for m in report.matches:
        doc = m.document
        order = f"order {m.order_id}" if m.order_id is not None else ""
        if not order and m.candidates:
            order = " or ".join(str(c) for c in m.candidates)
        verdict = m.verdict + (", recorded" if m.recorded else "")
        row = [_cell(doc.number or doc.id), _cell(doc.date), _cell(_money(doc.gross_total))]
        if wide:
            row.append(_cell(doc.customer_name or ""))
        row += [_cell(f"{verdict}\n{order}" if order else verdict), _cell(m.how)]
        table.add_row(*row, style=_STYLE.get(m.verdict))
    _show(table)


def adopt_report(report: AdoptReport, *, json_out: bool = False, shown: bool = False) -> None:
    if json_out:
        emit_report_json(report)
        return
    if not shown:
        adopt_matches(report)
    if report.count("ambiguous"):
        _show(
            _cell(
                "Ambiguous documents are not recorded: check them in iGEST and choose with "
                "--pick 'NUMBER=ORDER' (e.g. --pick 'FR QI/5=9005')."
            )
        )
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()))
