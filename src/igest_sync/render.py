"""Everything a person sees: rich tables, progress bars, JSON, one-line errors.

Quiet by default for cron: a report prints when stdout is a terminal, when something failed
(a person must act), or when asked (--json). Errors and warnings go to stderr.

Tables fit the terminal: under ~100 columns a compact layout with fewer columns, from ~120 the
wide one. Dates, document numbers and config keys are never cut in two (see ``_cell``); free
text such as a failure reason wraps between words. Every ``--json`` output goes through
``emit_json``: it carries ``"schema": "igest-sync/1"`` and integer order ids.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from igest_sync.redact import redact

if TYPE_CHECKING:
    from igest_sync.fiscal.credit import CreditPlan
    from igest_sync.models import DocumentDraft
    from igest_sync.runs.catalogue import CatalogueReport
    from igest_sync.runs.checks import CheckResult
    from igest_sync.runs.credit import CreditReport
    from igest_sync.runs.invoice import InvoiceReport
    from igest_sync.runs.reconcile import ReconcileReport
    from igest_sync.runs.report import Report
    from igest_sync.runs.status import StatusReport

SCHEMA = "igest-sync/1"  # the JSON contract; a breaking change gets a new number
COMPACT_BELOW = 100  # columns: fewer table columns under this width
WIDE_FROM = 120  # columns: every table column from this width


# emoji=False: a SKU or reason like "BOX:cd:2" must print as typed, not as an emoji.
out = Console(highlight=False, soft_wrap=False, emoji=False)
# soft_wrap: off a terminal (cron mail) an error keeps its paths on one line.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

_quiet = False


def set_quiet(quiet: bool) -> None:
    """-q: print only what needs a person, as under cron, even on a terminal."""
    global _quiet
    _quiet = quiet


def _interactive() -> bool:
    return out.is_terminal and not _quiet


# -- text that must stay whole ---------------------------------------------------------------

# Rich wraps at any space; these spans must never be split: a document number ("FR A/12"),
# a config key ("[invoice] start_date"), a local time ("2026-11-13 15:07").
_KEEP_WHOLE = re.compile(
    r"\b(?:FT|FR|FS|NC)\s\S+/\d+"
    r"|\[[a-z_]+\]\s[a-z_]+"
    r"|\b\d{4}-\d{2}-\d{2}\s\d{2}:\d{2}"
)
_GLUE = "\ue000"  # a private-use character, one cell wide, that rich does not break at


def _cell(text: object) -> str:
    """Markup-escaped text whose numbers, keys and times rich cannot break."""
    value = "" if text is None else str(text)
    value = _KEEP_WHOLE.sub(lambda m: m.group(0).replace(" ", _GLUE), value)
    return escape(value)


def _show(renderable: RenderableType, **kwargs: Any) -> None:
    """Print through the glue: lay out with it, then turn it back into spaces."""
    with out.capture() as captured:
        out.print(renderable, **kwargs)
    sys.stdout.write(captured.get().replace(_GLUE, " "))
    sys.stdout.flush()


def _layout() -> str:
    width = out.width
    return "compact" if width < COMPACT_BELOW else ("wide" if width >= WIDE_FROM else "medium")


def local_time(value: str | None) -> str:
    """A stored ISO moment as a short Lisbon time: 2026-11-13 15:07."""
    if not value:
        return ""
    from igest_sync.timeutil import LISBON

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LISBON).strftime("%Y-%m-%d %H:%M")


def _money(value: object) -> str:
    if value is None:
        return ""
    try:
        return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"
    except InvalidOperation:
        return str(value)


# -- messages -------------------------------------------------------------------------------


def info(text: str) -> None:
    if not _quiet:
        _show(_cell(text))


def warn(text: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(text)}")


def error(
    exc: Exception, *, secrets: Iterable[str] = (), verbose: bool = False, as_json: bool = False
) -> None:
    """One of our errors, shown once: on stderr, or as JSON on stdout with --json."""
    secrets = list(secrets)
    hint = getattr(exc, "hint", None)
    message = redact(str(exc), secrets)
    # Marked as shown: the --verbose stderr log handler must not print it a second time.
    logging.getLogger("igest_sync").error(
        "%s%s",
        exc,
        f" ({hint})" if hint else "",
        exc_info=exc if verbose else None,
        extra={"shown": True},
    )
    if as_json:
        code = int(getattr(exc, "exit_code", 2))
        hint_text = redact(hint, secrets) if hint else None
        emit_json({"error": {"message": message, "hint": hint_text, "exit_code": code}})
        return
    err.print(f"[red]error:[/red] {escape(message)}")
    if hint:
        err.print(f"  {escape(redact(hint, secrets))}")
    if verbose:
        import traceback

        err.print(escape(redact("".join(traceback.format_exception(exc)), secrets)))


def internal_error(
    exc: Exception, *, secrets: Iterable[str] = (), verbose: bool = False, as_json: bool = False
) -> None:
    secrets = list(secrets)
    logging.getLogger("igest_sync").error(
        "Internal error: %r", exc, exc_info=exc, extra={"shown": True}
    )
    if as_json:
        emit_json(
            {
                "error": {
                    "message": f"internal error: {redact(repr(exc), secrets)}",
                    "hint": "A bug in igest-sync; the traceback is in the log file.",
                    "exit_code": 70,
                }
            }
        )
        return
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


# -- JSON -----------------------------------------------------------------------------------


def _ids_as_int(value: Any) -> Any:
    """Order ids are integers in every output (some reports key their items by text)."""
    if isinstance(value, Mapping):
        return {
            k: (
                int(v) if k == "order_id" and isinstance(v, str) and v.isdigit() else _ids_as_int(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_ids_as_int(v) for v in value]
    return value


def json_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` under the contract: the schema first, order ids as integers."""
    return {"schema": SCHEMA, **_ids_as_int(dict(data))}


def emit_json(data: Mapping[str, Any], *, indent: int | None = 2) -> None:
    text = json.dumps(json_document(data), indent=indent, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_report_json(report: Report) -> None:
    emit_json(report.to_json())


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on a terminal (stderr), nothing under cron or with -q."""
    if not err.is_terminal or _quiet:
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


class FitTable(Table):
    """A table whose wrapping columns keep every word whole (a key, a number, a time).

    Rich shrinks the widest wrapping column first and may cut a word such as a config key in
    two. Here, when the rows are known, each wrapping column gets at least its longest word and
    the width left over is shared in proportion to what each would use. When even the longest
    words do not fit, rich decides as usual.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        self._pending.append((cells, kwargs))

    def __rich_console__(self, console: Any, options: Any) -> Any:
        if self._pending:
            self._fit([[_plain(c) for c in cells] for cells, _ in self._pending], options.max_width)
            for cells, kwargs in self._pending:
                super().add_row(*cells, **kwargs)
            self._pending = []
        yield from super().__rich_console__(console, options)

    def _fit(self, cells: list[list[str]], width: int) -> None:
        columns = self.columns

        def longest(index: int, words: bool) -> int:
            texts = [_plain(columns[index].header)] + [row[index] for row in cells]
            pieces = [p for t in texts for p in (t.split() if words else t.splitlines())]
            return max((cell_len(p) for p in pieces), default=1)

        wrapping = [i for i, c in enumerate(columns) if not c.no_wrap and c.width is None]
        if not wrapping:
            return
        fixed = sum(longest(i, False) for i, c in enumerate(columns) if i not in wrapping)
        available = width - (len(columns) * 3 + 1) - fixed  # cell padding and borders
        wants = {i: longest(i, False) for i in wrapping}
        mins = {i: longest(i, True) for i in wrapping}
        if sum(mins.values()) > available or sum(wants.values()) <= available:
            return  # nothing to do, or nothing we can do
        spare = available - sum(mins.values())
        extra = {i: wants[i] - mins[i] for i in wrapping}
        total_extra = sum(extra.values()) or 1
        given = {i: mins[i] + spare * extra[i] // total_extra for i in wrapping}
        left = available - sum(given.values())
        for i in wrapping:  # what integer division left over
            grow = min(left, wants[i] - given[i])
            given[i] += max(grow, 0)
            left -= max(grow, 0)
        for i in wrapping:
            columns[i].width = given[i]


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(str(cell)).plain if isinstance(cell, str) else str(cell)


def _table(title: str | None = None, **kwargs: Any) -> Table:
    return FitTable(title=_cell(title) if title else None, **kwargs)


def _key_column(table: Table, name: str, *, right: bool = False) -> None:
    """A column whose values (ids, numbers, dates, money) are never wrapped or cut."""
    table.add_column(name, no_wrap=True, justify="right" if right else "left")


def _text_column(table: Table, name: str, *, min_width: int | None = None) -> None:
    """Free text: wraps between words; only a word longer than the column is folded."""
    table.add_column(name, overflow="fold", min_width=min_width)


# -- invoice / resend / credit ----------------------------------------------------------------


def invoice_report(report: InvoiceReport, *, json_out: bool = False, always: bool = False) -> None:
    if json_out:
        data = report.to_json()
        if report.dry_run:
            data["documents"] = [_draft_json(d) for d in report.drafts]
        emit_json(data)
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
        or _interactive()
        or _reports_forced()
        or report.still_failed
    )
    if not show:
        return
    if issued and (_interactive() or always or _reports_forced()):
        table = _table("Issued")
        _key_column(table, "Order")
        _key_column(table, "Document")
        _key_column(table, "Total (EUR)", right=True)
        for o in issued:
            table.add_row(_cell(o.key), _cell(o.number or o.detail), _money(o.gross_total))
        _show(table)
    if interesting:
        table = _table("Needs attention" if report.failed else "Other orders")
        _key_column(table, "Order")
        _key_column(table, "Result")
        _text_column(table, "Detail")
        for o in interesting:
            style = "red" if o.action == "failed" else None
            table.add_row(_cell(o.key), _cell(o.action), _cell(o.detail), style=style)
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
    if report.failed or report.still_failed:
        _show(
            _cell(
                "Failed orders stay failed in the ledger: fix the cause, then "
                "`igest-sync resend ORDER_ID` (or `resend --failed`). See `igest-sync status`."
            )
        )


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


def _draft_table(draft: DocumentDraft) -> None:
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
    rates = ", ".join(
        f"{v.rate}%{' ' + v.tax_country if v.tax_country else ''}: base {v.base} VAT {v.vat}"
        for v in draft.vat_breakdown
    )
    mode = "VAT included" if draft.prices_include_vat else "VAT excluded"
    _show(
        f"  {_cell(rates)}  |  net {draft.net_total}  VAT {draft.vat_total}  "
        f"[bold]total {draft.gross_total} EUR[/bold] ({mode})"
    )
    for warning in draft.warnings:
        _show(f"  [yellow]warning:[/yellow] {_cell(warning)}")


# -- status -----------------------------------------------------------------------------------


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
    _show(_documents_table(report, f"Documents issued{store} (newest first)", layout))
    if report.documents_not_listed:
        _show(
            _cell(
                f"... and {report.documents_not_listed} older documents "
                "(--all, --since DATE or --order ID to list them)."
            )
        )
    late = {order_id: hours for order_id, _, hours in report.late}
    if report.failed:
        table = _table("Failed orders", title_style="red")
        _key_column(table, "Order")
        _key_column(table, "Paid at")
        if layout == "wide":
            _key_column(table, "Attempts", right=True)
        _key_column(table, "Retry")
        _text_column(table, "Reason")
        for work, order in report.failed:
            style = "bold red" if late.get(work.order_id, 0) > 24 else None
            row = [str(work.order_id), local_time(order.paid_at if order else None)]
            if layout == "wide":
                row.append(str(work.attempts))
            row += ["next run" if work.transient else "resend", _cell(work.error or "")]
            table.add_row(*row, style=style)
        _show(table)
    if report.waiting:
        table = _table("Paid, document in progress")
        _key_column(table, "Order")
        _key_column(table, "Paid at")
        for o in report.waiting:
            table.add_row(str(o.order_id), local_time(o.paid_at))
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
        _key_column(table, "Credited by")
    else:
        _text_column(table, "Note")
    for d in report.documents:
        credited = report.credited_by.get(d.order_id, "") if d.kind == "invoice" else ""
        if credited and report.credit_state.get(d.order_id) != "credited":
            credited += " (partly)"
        linked = "yes" if d.linked else ("failed" if d.link_error else "no")
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
            if d.status != "final":
                notes.append(d.status)
            if not d.linked:
                notes.append("not on the order" if d.link_error else "not on the order yet")
            row.append(_cell("; ".join(notes)))
        table.add_row(*row)
    return table


# -- catalogue ----------------------------------------------------------------------------------


def catalogue_report(report: CatalogueReport, title: str, *, json_out: bool = False) -> None:
    if json_out:
        emit_json(report.to_json())
        return
    if _quiet and not report.failed:
        return  # -q: nothing here needs a person
    outcomes = list(report.outcomes)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    shown = [o for o in outcomes if o.action != "unchanged"]
    if shown and (out.is_terminal or report.failed or len(shown) <= 200):
        table = _table(title)
        table.add_column("SKU", overflow="fold")
        _key_column(table, "Action")
        _text_column(table, "Detail")
        for o in shown[:500]:
            table.add_row(
                _cell(o.key),
                _cell(o.action),
                _cell(o.detail),
                style="red" if o.action == "failed" else None,
            )
        _show(table)
        if len(shown) > 500:
            _show(f"... and {len(shown) - 500} more (use --json for all)")
    summary = _table(f"{title} summary")
    for action in sorted(counts):
        summary.add_column(_cell(action), justify="right")
    summary.add_row(*(str(counts[a]) for a in sorted(counts)))
    _show(summary)


# -- check, sandbox -----------------------------------------------------------------------------


def check_json(results: Iterable[CheckResult]) -> dict[str, Any]:
    results = list(results)
    return {
        "ok": all(r.ok for r in results),
        "checks": [
            {
                "name": r.name,
                "ok": r.ok,
                "warning": bool(getattr(r, "warning", False)),
                "detail": r.detail,
                "hint": r.hint,
            }
            for r in results
        ],
    }


def check_results(results: Iterable[CheckResult], *, json_out: bool = False) -> None:
    if json_out:
        emit_json(check_json(results))
        return
    table = _table("Checks")
    table.add_column("Check", overflow="fold")
    _key_column(table, "Result")
    _text_column(table, "Detail")
    for r in results:
        detail = r.detail + (f" ({r.hint})" if r.hint and not r.ok else "")
        result = (
            "[red]FAILED[/red]"
            if not r.ok
            else (
                "[yellow]warning[/yellow]" if getattr(r, "warning", False) else "[green]ok[/green]"
            )
        )
        table.add_row(_cell(r.name), result, _cell(detail))
    _show(table)


def sandbox_json(credentials: Mapping[str, Any]) -> None:
    """One line (a script reads it with readline), then the sandbox serves."""
    emit_json(credentials, indent=None)


def sandbox_info(credentials: Mapping[str, Any]) -> None:
    js, ig = credentials["jumpseller"], credentials["igest"]
    _show("[bold]Sandbox running[/bold] (Ctrl-C to stop)")
    _show(f"  Jumpseller: {js['base_url']}")
    _show(f"  iGEST:      {ig['base_url']}")
    _show("\nA config for it (save as config.toml, then\nigest-sync --config config.toml ...):\n")
    snippet = (
        "[jumpseller]\n"
        f'base_url = "{js["base_url"]}"\nlogin = "{js["login"]}"\n'
        f'auth_token = "{js["auth_token"]}"\n\n'
        "[igest]\n"
        f'base_url = "{ig["base_url"]}"\nintegration_key = "{ig["integration_key"]}"\n'
        f'security_code = "{ig["security_code"]}"\n\n'
        '[invoice]\nstart_date = 2026-11-01\nproduct_exemption_code = "M07"\n'
    )
    alerts = credentials.get("alerts")
    if alerts:
        snippet += "\n[alerts]\n" + "".join(
            f"{key} = {json.dumps(value)}\n"
            for key, value in alerts.items()
            if key != "control_url"
        )
    _show(escape(snippet), soft_wrap=True)
    if alerts:
        _show(f"Alerts received: {alerts['control_url']}", soft_wrap=True)


# -- reconcile --------------------------------------------------------------------------------


def reconcile_report(report: ReconcileReport, *, json_out: bool = False) -> None:
    """The problems found (and what --fix did); always shown: a person asked for it."""
    if json_out:
        emit_report_json(report)
        return
    wide = _layout() != "compact"
    if report.problems:
        table = _table(f"Reconciliation {report.period.first} to {report.period.last}")
        _text_column(table, "Problem")
        _key_column(table, "Order")
        _key_column(table, "Documents")
        _text_column(table, "Detail")
        if wide:
            _text_column(table, "What to do")
        for p in report.problems:
            fixed = report.fixed(p)
            hint = "" if fixed else (p.hint or "")
            detail = p.detail if wide or not hint else f"{p.detail} What to do: {hint}"
            row = [
                _cell(p.kind.replace("_", " ") + (" (fixed)" if fixed else "")),
                str(p.order_id) if p.order_id is not None else "?",
                "\n".join(_cell(d) for d in p.documents),
                _cell(detail),
            ]
            if wide:
                row.append(_cell(hint))
            table.add_row(*row, style=None if fixed else "red")
        _show(table)
    if report.fixes:
        table = _table("Issued by --fix")
        _key_column(table, "Order")
        _key_column(table, "Result")
        _text_column(table, "Detail")
        for o in report.fixes:
            table.add_row(
                _cell(o.key),
                _cell(o.action),
                _cell(o.detail),
                style="red" if o.action == "failed" else None,
            )
        _show(table)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()))


# -- credit -----------------------------------------------------------------------------------


def credit_plan(plan: CreditPlan, *, order_id: int) -> None:
    """The original, each of its lines (invoiced, already credited, this credit, left), the
    amount of this credit note and what remains: what a person confirms before it is issued."""
    customer = plan.customer_name or "consumidor final"
    if plan.customer_nif:
        customer += f" (NIF {plan.customer_nif})"
    when = plan.original_date.isoformat() if plan.original_date else "no date"
    _show(
        _cell(
            f"Order {order_id}: credit note for {plan.original_number} of {when}, {customer}, "
            f"{_money(plan.invoiced_total)} EUR"
        )
    )
    if plan.credit_numbers:
        numbers = ", ".join(plan.credit_numbers)
        _show(_cell(f"  Already credited: {_money(plan.already_total)} EUR by {numbers}"))
    table = _table()
    _text_column(table, "Line")
    for name in ("Invoiced", "Credited", "This credit", "Left", "Amount (EUR)"):
        _key_column(table, name, right=True)
    for line in plan.summary:
        table.add_row(
            _cell("shipping" if line.shipping else line.reference),
            _qty(line.invoiced),
            _qty(line.already),
            _qty(line.now),
            _qty(line.remaining),
            _money(line.now_amount) if line.now else "",
            style="bold" if line.now else None,
        )
    _show(table)
    mode = "VAT included" if plan.prices_include_vat else "VAT excluded"
    _show(
        f"  This credit note: [bold]{_money(plan.gross_total)} EUR[/bold] "
        f"(net {_money(plan.net_total)}, VAT {_money(plan.vat_total)}, {mode}); "
        f"left to credit after it: {_money(plan.remaining_total)} EUR"
    )
    for warning in plan.warnings:
        _show(f"  [yellow]warning:[/yellow] {_cell(warning)}")


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def credit_report(
    report: CreditReport, *, json_out: bool = False, plan_shown: bool = False
) -> None:
    """``credit``'s result, always shown (a person asked); the plan too, unless the question
    showed it already."""
    if json_out:
        emit_report_json(report)
        return
    if report.plan is not None and not plan_shown:
        credit_plan(report.plan, order_id=report.order_id)
    for notice in report.notices:
        _show(f"[yellow]note:[/yellow] {_cell(notice)}")
    _show(_cell(report.summary()), style="red" if report.exit_code else None)
