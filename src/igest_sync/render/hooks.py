"""What ``hooks install``, ``hooks list`` and ``hooks remove`` show (always: a person asked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from igest_sync.render.console import (
    _cell,
    _key_column,
    _show,
    _table,
    current,
    emit_json,
)
from igest_sync.runs.report import counted

if TYPE_CHECKING:
    from igest_sync.runs.setup.hooks import HooksReport

_SAID = {
    "install": "{changed}; the hooks are in place{kept}.",
    "remove": "{changed} of ours deleted; the others were left alone.",
}
_NOUN = {"install": "change", "remove": "hook"}


def hooks_report(report: HooksReport, *, json_out: bool = False) -> None:
    if json_out:
        emit_json(report.to_json())
        return
    from igest_sync.runs.setup.hooks import shown_url

    if not report.lines:
        _show(_cell("The store has no webhooks."))
    else:
        # `list` changes nothing: no "Done" column to say "kept".
        changing = report.command != "list"
        urls = list(dict.fromkeys(shown_url(line.url) for line in report.lines))
        # A URL is never cut: when the table cannot hold the longest one on a line, the table
        # names it (URL 1 ...) and it is printed whole below.
        below = max(map(len, urls)) + (46 if changing else 38) > current().out.width
        table = _table("Jumpseller webhooks")
        _key_column(table, "Id", right=True)
        _key_column(table, "Event")
        _key_column(table, "Ours")
        if changing:
            _key_column(table, "Done")
        _key_column(table, "URL")
        for line in report.lines:
            url = shown_url(line.url)
            row = [_cell(line.id), _cell(line.event), "yes" if line.ours else "no"]
            if changing:
                row.append(_cell("" if line.action == "other" else line.action))
            row.append(f"URL {urls.index(url) + 1}" if below else _cell(url))
            table.add_row(*row)
        _show(table)
        if below:
            for number, url in enumerate(urls, start=1):
                _show(_cell(f"URL {number}: {url}"), soft_wrap=True)
    said = _SAID.get(report.command)
    if said:
        changed = counted(report.changed, _NOUN[report.command])
        # Only a hook that was there already is saved again (a paused one resumes so): a first
        # install creates them all.
        kept = any(line.action == "kept" for line in report.lines)
        again = " (those already there saved again: a paused one resumes)" if kept else ""
        _show(_cell(said.format(changed=changed, kept=again)))
    elif report.target is None:
        ours = list(dict.fromkeys(shown_url(line.url) for line in report.lines if line.ours))
        if ours:  # installed with --url: set it in the config too, so that serve checks them
            _show(
                _cell(
                    f"Our hooks point at {', '.join(ours)}, but [serve] public_url is not set: "
                    "set it to that URL, so that `hooks list` and serve can check and heal them."
                )
            )
        else:
            _show(
                _cell(
                    "[serve] public_url is not set: `hooks install --url https://...` sets them up."
                )
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
