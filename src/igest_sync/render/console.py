"""The consoles and what every report shares: messages, errors, JSON, progress, tables that fit.

Each CLI call prints through its own ``Renderer`` (``rendering``, entered by the app's callback in
``cli/__init__.py``): its two consoles, made from the call's environment and streams (COLUMNS, a
terminal or not), and its quiet flag (-q). Nothing is bound at import, so one process can run
many calls (the tests' in-process CLI, the demo's steps, ``serve``'s threads). Quiet by default
for cron; errors and warnings go to stderr. The reports of each command family build on these in
``render/<family>.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
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
    from igest_sync.runs.report import Report

SCHEMA = "igest-sync/1"  # the JSON contract; a breaking change gets a new number
COMPACT_BELOW = 100  # columns: fewer table columns under this width
WIDE_FROM = 120  # columns: every table column from this width


@dataclass
class Renderer:
    """What one call prints on: stdout and stderr as rich consoles, and whether it is quiet."""

    out: Console
    err: Console
    quiet: bool = False  # -q: only what needs a person, as under cron, even on a terminal

    @classmethod
    def for_call(cls, *, quiet: bool = False) -> Renderer:
        """Consoles for the environment and the streams as they are now (a console reads
        COLUMNS and the terminal when it is made, and writes to sys.stdout/stderr as they are
        when it prints)."""
        return cls(
            # emoji=False: a SKU or reason like "BOX:cd:2" must print as typed, not as an emoji.
            out=Console(highlight=False, soft_wrap=False, emoji=False),
            # soft_wrap: off a terminal (cron mail) an error keeps its paths on one line.
            err=Console(stderr=True, highlight=False, soft_wrap=True, emoji=False),
            quiet=quiet,
        )

    @property
    def interactive(self) -> bool:
        return self.out.is_terminal and not self.quiet


_current: ContextVar[Renderer | None] = ContextVar("igest_sync_renderer", default=None)


def current() -> Renderer:
    """The renderer of the call this code runs in. Outside one (a library caller, a thread
    that was not handed one): a new one for the environment as it is now, not quiet."""
    renderer = _current.get()
    return renderer if renderer is not None else Renderer.for_call()


@contextlib.contextmanager
def rendering(renderer: Renderer | None = None) -> Iterator[Renderer]:
    """Print through ``renderer`` (a new one for this call by default) until the block ends;
    a thread that prints for a call enters the call's renderer."""
    renderer = renderer if renderer is not None else Renderer.for_call()
    token = _current.set(renderer)
    try:
        yield renderer
    finally:
        _current.reset(token)


# -- text that must stay whole ---------------------------------------------------------------

# Rich wraps at any space; these spans must never be split: a document number ("FR A/12"),
# a config key ("[invoice] start_date"), a local time ("2026-11-13 15:07"), a dry run's label
# of its unit prices ("(prices with VAT)").
_KEEP_WHOLE = re.compile(
    r"\b(?:FT|FR|FS|NC)\s\S+/\d+"
    r"|\[[a-z_]+(?:\.[a-z_]+)?\]\s[a-z_]+"
    r"|\b\d{4}-\d{2}-\d{2}\s\d{2}:\d{2}"
    r"|\(VAT (?:included|excluded)\)"
    r"|\(prices with(?:out)? VAT\)"
)
_GLUE = "\ue000"  # a private-use character, one cell wide, that rich does not break at


def _cell(text: object) -> str:
    """Markup-escaped text whose numbers, keys and times rich cannot break."""
    value = "" if text is None else str(text)
    value = _KEEP_WHOLE.sub(lambda m: m.group(0).replace(" ", _GLUE), value)
    return escape(value)


def wrap_words(text: str, width: int, first: str = "", rest: str = "") -> str:
    """``text`` wrapped at ``width`` between words only: a key, a URL, a path or a name with
    a hyphen is never cut (a longer one overflows its line whole), nor the spans of
    ``_KEEP_WHOLE``. Each line keeps its indent; ``first`` starts the text, ``rest`` every
    line after it (a "- " item's continuation lines align under its text)."""
    import textwrap

    lines = []
    for number, line in enumerate(text.split("\n")):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        item = "  " if body.startswith("- ") else ""
        glued = _KEEP_WHOLE.sub(lambda m: m.group(0).replace(" ", _GLUE), body)
        lines.append(
            textwrap.fill(
                glued,
                width=max(20, width),
                initial_indent=(first if number == 0 else rest) + indent,
                subsequent_indent=rest + indent + item,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or (first if number == 0 else rest) + indent
        )
    return "\n".join(lines).replace(_GLUE, " ")


def _show(renderable: RenderableType, **kwargs: Any) -> None:
    """Print through the glue: lay out with it, then turn it back into spaces."""
    out = current().out
    with out.capture() as captured:
        out.print(renderable, **kwargs)
    sys.stdout.write(captured.get().replace(_GLUE, " "))
    sys.stdout.flush()


def _layout() -> str:
    width = current().out.width
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
    if not current().quiet:
        _show(_cell(text))


def _err_wrapped(text: str, first: str = "", rest: str = "") -> str:
    """On a terminal: wrapped between words at its width (the terminal would cut a word or
    a key at column 80). Off one (cron mail, a log collector): one line, paths whole."""
    err = current().err
    if not err.is_terminal:
        return first + text.replace("\n", "\n" + rest)
    return wrap_words(text, err.width - 1, first=first, rest=rest)


def _err_lines(label: str, style: str, text: str) -> None:
    """``label text`` on stderr, the label coloured."""
    wrapped = _err_wrapped(text, first=f"{label} ")
    current().err.print(f"[{style}]{label}[/{style}]{escape(wrapped[len(label) :])}")


def warn(text: str) -> None:
    _err_lines("warning:", "yellow", text)


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
    _err_lines("error:", "red", message)
    err = current().err
    if hint:
        err.print(escape(_err_wrapped(redact(hint, secrets), "  ", "  ")))
    if verbose:
        import traceback

        err.print(escape(redact("".join(traceback.format_exception(exc)), secrets)))


def internal_error(
    exc: Exception, *, secrets: Iterable[str] = (), verbose: bool = False, as_json: bool = False
) -> None:
    secrets = list(secrets)
    logger = logging.getLogger("igest_sync")
    logger.error("Internal error: %r", exc, exc_info=exc, extra={"shown": True})
    # Where the traceback went: init, sandbox and demo keep no log file, and a message that
    # named one sent the person looking for a file never written.
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    where = (
        f"the traceback is in the log file {files[0]} (or run again with --verbose)"
        if files
        else "run again with --verbose to see the traceback"
    )
    if as_json:
        emit_json(
            {
                "error": {
                    "message": f"internal error: {redact(repr(exc), secrets)}",
                    "hint": f"A bug in igest-sync; {where}.",
                    "exit_code": 70,
                }
            }
        )
        return
    _err_lines("internal error:", "red", redact(repr(exc), secrets))
    err = current().err
    err.print(
        _err_wrapped(
            f"This is a bug in igest-sync; {where}. No document was left half-issued: the next "
            "run looks every unfinished order up in iGEST first.",
            "  ",
            "  ",
        )
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
    renderer = current()
    if not renderer.err.is_terminal or renderer.quiet:
        yield None
        return
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=renderer.err,
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
    two. Here, when the rows are known, each wrapping column gets at least its longest word;
    the width left over goes first to the columns that need little more to hold their text on
    one line, then is shared in proportion to what the others would use. When even the longest
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

        def longest(index: int, words: bool, limit: int | None = None) -> int:
            texts = [_plain(columns[index].header)] + [row[index] for row in cells]
            pieces = [p for t in texts for p in (t.split() if words else t.splitlines())]
            sizes = [cell_len(p) for p in pieces]
            if limit is not None:  # a path or URL this long folds anyway: not a word to keep
                sizes = [size for size in sizes if size <= limit]
            return max(sizes, default=1)

        def longest_kept(index: int) -> int:
            """The longest span of ``_KEEP_WHOLE`` in the column (glued by ``_cell``)."""
            texts = [row[index] for row in cells]
            return max((cell_len(p) for t in texts for p in t.split() if _GLUE in p), default=1)

        wrapping = [i for i, c in enumerate(columns) if not c.no_wrap and c.width is None]
        if not wrapping:
            return
        fixed = sum(longest(i, False) for i, c in enumerate(columns) if i not in wrapping)
        available = width - (len(columns) * 3 + 1) - fixed  # cell padding and borders
        wants = {i: longest(i, False) for i in wrapping}
        # A word may take what leaves the other wrapping columns 12 cells each.
        limit = available - 12 * (len(wrapping) - 1)
        mins = {i: longest(i, True, limit=limit) for i in wrapping}
        over = sum(mins.values()) - available
        if over > 0:
            # The longest words do not all fit: a span that must stay whole (a key, a number,
            # a time: glued) wins over a plain word such as a URL, which folds at any width
            # narrower than itself. The column whose longest word is plain gives way first.
            keep = {i: min(mins[i], max(12, longest_kept(i))) for i in wrapping}
            for i in sorted(wrapping, key=lambda i: keep[i] - mins[i]):
                cut = min(over, mins[i] - keep[i])
                mins[i], over = mins[i] - cut, over - cut
        if sum(mins.values()) > available or sum(wants.values()) <= available:
            return  # nothing to do, or nothing we can do
        spare = available - sum(mins.values())
        extra = {i: wants[i] - mins[i] for i in wrapping}
        given = dict(mins)
        # A column that needs little more than its longest word gets all of it first, so a
        # customer's name stays on one line beside a long list; the columns that want more
        # than an equal share of what is left split it in proportion to what they want.
        pending = sorted(wrapping, key=lambda i: extra[i])
        while pending and extra[pending[0]] <= spare // len(pending):
            i = pending.pop(0)
            given[i], spare = wants[i], spare - extra[i]
        total_extra = sum(extra[i] for i in pending) or 1
        for i in pending:
            given[i] += spare * extra[i] // total_extra
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
