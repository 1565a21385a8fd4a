"""What ``hooks install``, ``hooks list`` and ``hooks remove`` show (always: a person asked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from igest_sync.render.console import _cell, _key_column, _show, _table, _text_column, emit_json

if TYPE_CHECKING:
    from igest_sync.runs.setup.hooks import HooksReport

_SAID = {
    "install": "{changed} change(s); the hooks are in place (each saved again: a paused one resumes).",
    "remove": "{changed} hook(s) of ours deleted; the others were left alone.",
}


def hooks_report(report: HooksReport, *, json_out: bool = False) -> None:
    if json_out:
        emit_json(report.to_json())
        return
    from igest_sync.runs.setup.hooks import shown_url

    if not report.lines:
        _show(_cell("The store has no webhooks."))
    else:
        table = _table("Jumpseller webhooks")
        _key_column(table, "Id", right=True)
        _key_column(table, "Event")
        _key_column(table, "Ours")
        _key_column(table, "Done")
        _text_column(table, "URL")
        for line in report.lines:
            table.add_row(
                _cell(line.id),
                _cell(line.event),
                "yes" if line.ours else "no",
                _cell("" if line.action == "other" else line.action),
                _cell(shown_url(line.url)),
            )
        _show(table)
    said = _SAID.get(report.command)
    if said:
        _show(_cell(said.format(changed=report.changed)))
    elif report.target is None:
        _show(
            _cell("[serve] public_url is not set: `hooks install --url https://...` sets them up.")
        )
    elif report.missing:
        _show(
            _cell(
                f"Missing at {shown_url(report.target)}: {', '.join(report.missing)}. "
                "Run `igest-sync hooks install`."
            )
        )
    else:
        _show(_cell(f"Every event serve needs goes to {shown_url(report.target)}."))
