"""The app's plumbing: per-call state, the global options (after the subcommand too), the
``--json`` option, the version and the exit-code help.

Per-call state lives on the Typer context (``ctx.obj``), never in a module global: two
invocations in one process (tests) do not see each other's options or secrets. The composition
root (config, clients, lock, ledger, the run context) is ``cli/composition.py``; the error
handler is ``cli/errors.py``; ``cli/session.py`` re-exports the three for the commands.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer 0.2x vendors click; earlier versions depend on it
    from typer._click.core import Context as _ClickContext
    from typer._click.exceptions import ClickException
    from typer._click.exceptions import UsageError as ClickUsageError
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    # mypy sees the typer that is installed (one that vendors click, so click itself is absent)
    # and both branches binding the same names: the ignores say exactly that.
    from click import (  # type: ignore[import-not-found,no-redef]
        ClickException,
        get_current_context,
    )
    from click import Context as _ClickContext  # type: ignore[no-redef]
    from click import UsageError as ClickUsageError  # type: ignore[no-redef]

from igest_sync.errors import ExitCode

__all__ = [
    "CliState",
    "ClickException",
    "ClickUsageError",
    "Group",
    "JsonOption",
    "exit_codes_help",
    "get_current_context",
    "hoist_global_options",
    "show_version",
    "state_of",
    "version_text",
]

log = logging.getLogger("igest_sync.cli")


@dataclass
class CliState:
    """What one invocation was asked for; kept on ``ctx.obj``."""

    config_path: Path | None = None
    state_path: Path | None = None
    verbose: bool = False
    quiet: bool = False
    json: bool = False
    secrets: list[str] = field(default_factory=list)
    # The run stopped for a reason the next run gets past by itself, which has not lasted
    # [alerts] unreachable_minutes: an outage, the previous cron run still holding the lock.
    # Cron is not told; a person at a terminal is.
    quiet_stop: bool = False


def state_of(ctx: typer.Context | None = None) -> CliState:
    """The invocation's state (from the current context when none is given)."""
    current: _ClickContext | None = ctx or get_current_context(silent=True)
    if current is None:
        return CliState()
    obj = current.find_object(CliState)
    if obj is None:
        # Invoked without `main()` (a test runner calling the app): keep one state on the root
        # context, so that the global options reach the command.
        root = current.find_root()
        obj = root.obj = CliState()
    return obj


# -- options --------------------------------------------------------------------------------------


def remember_json(ctx: typer.Context, value: bool) -> bool:
    # The error handler must know that errors are wanted as JSON too.
    if value:
        state_of(ctx).json = True
    return value


# The one `--json` option every command that has a report uses.
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print the result as JSON (with "schema": "igest-sync/1"); errors too.',
        callback=remember_json,
    ),
]

# The period of `reconcile` and `adopt`: Lisbon days, both included, to today by default.
FromOption = Annotated[
    str,
    typer.Option("--from", help="First day of the period (Lisbon date).", metavar="YYYY-MM-DD"),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to", help="Last day of the period, included (default: today).", metavar="YYYY-MM-DD"
    ),
]


def version_text() -> str:
    from igest_sync import __version__

    return (
        f"igest-sync {__version__} (Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {platform.machine()})"
    )


def show_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


def exit_codes_help() -> str:
    """The exit-code table of ``--help``, made from ``ExitCode`` (the README lists the same)."""
    import textwrap

    lines = ["\b", "Exit codes:"]
    for code in ExitCode:
        lines += textwrap.wrap(
            code.meaning.replace("`", ""),
            width=76,
            initial_indent=f"  {int(code):<3} ",
            subsequent_indent=" " * 6,
        )
    return "\n".join(lines)


# -- global options after the subcommand ---------------------------------------------------------

GLOBAL_VALUE_OPTIONS = ("--config", "--state")
GLOBAL_FLAGS = ("--verbose", "-v", "--quiet", "-q")


def hoist_global_options(group: TyperGroup, ctx: _ClickContext, args: Sequence[str]) -> list[str]:
    """Move global options written after the subcommand to before it.

    `igest-sync status --config x.toml` then means what `igest-sync --config x.toml status`
    means. Only tokens that are options of the subcommand's own are left alone (with their
    values), so `credit 1 --reason -v` keeps "-v" as the reason.
    """
    args = list(args)
    index = None
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return args
        if token in GLOBAL_VALUE_OPTIONS:
            i += 2
            continue
        if not token.startswith("-"):
            index = i
            break
        i += 1
    if index is None:
        return args
    command = group.get_command(ctx, args[index])
    if command is None:
        return args
    takes_value = {
        opt
        for param in command.params
        if getattr(param, "param_type_name", "") == "option" and not getattr(param, "is_flag", True)
        for opt in param.opts
    }
    hoisted: list[str] = []
    rest: list[str] = []
    j = index + 1
    while j < len(args):
        token = args[j]
        if token == "--":
            rest += args[j:]
            break
        if token in GLOBAL_FLAGS:
            hoisted.append(token)
        elif token in GLOBAL_VALUE_OPTIONS and j + 1 < len(args):
            hoisted += args[j : j + 2]
            j += 1
        elif token.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS and "=" in token:
            hoisted.append(token)
        elif token in takes_value and j + 1 < len(args):
            rest += args[j : j + 2]
            j += 1
        else:
            rest.append(token)
        j += 1
    return args[:index] + hoisted + [args[index]] + rest


def _help_wraps_between_words() -> None:
    """Help text wraps between words only, as our messages do: click's wrapper breaks after
    a hyphen ("igest-" / "sync/1") and inside a long word (a URL). Its wrapper class is the
    one hook its formatter offers; without it (another Typer) help keeps click's wrapping."""
    try:
        from typer._click import _textwrap
    except ImportError:  # pragma: no cover - a Typer that uses click itself
        return
    base = _textwrap.TextWrapper
    if getattr(base, "keeps_words_whole", False):
        return

    class KeepWordsWhole(base):  # type: ignore[misc, valid-type]
        keeps_words_whole = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.break_on_hyphens = False
            self.break_long_words = False

    _textwrap.TextWrapper = KeepWordsWhole  # type: ignore[misc]


_help_wraps_between_words()


def _plain_argument_names() -> None:
    """Arguments in help as click writes them, ``ORDER_ID`` and ``[ORDER_ID]...``, not this
    Typer's ``{ORDER_ID}`` and ``ORDER_ID <int>``: the metavar we give says it all."""
    from typer.core import TyperArgument

    if getattr(TyperArgument, "names_plain", False):
        return

    def usage_name(self: TyperArgument) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def help_type(self: TyperArgument, ctx: Any) -> str:
        return ""

    TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    TyperArgument.display_type_rich = help_type  # type: ignore[method-assign, assignment]
    TyperArgument.names_plain = True  # type: ignore[attr-defined]


_plain_argument_names()


class Group(TyperGroup):
    """The app's command group: global options are accepted after the subcommand too."""

    def parse_args(self, ctx: _ClickContext, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def invoke(self, ctx: _ClickContext) -> Any:
        # Typer turns Ctrl-C into a silent exit 130: say (and log) what happened first.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise typer.Exit(interrupted(exc)) from None


# The SIGTERM this process received, if any (appended by the handler: no lock is taken there).
TERMINATED: list[int] = []
# Whether ``interrupted`` has said (and logged) the stop: once is enough.
STOP_SAID: list[int] = []


def stop_on_sigterm() -> None:
    """SIGTERM (a service manager's stop, a timeout, a shutdown) stops a command as Ctrl-C
    does: the documents in flight finish, and what was issued is said and logged. Python's
    default would end the process at once without a word in the log. ``serve`` and
    ``sandbox`` install their own handler when they start. Only the main thread can."""
    import signal
    import threading

    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        if TERMINATED:
            return  # stopping already: the documents in flight are let finish
        TERMINATED.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def interrupted(exc: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM: an invoice run says what it issued and what the next run finishes
    (RunInterrupted); any other command just that it stopped. Returns the exit code: 130, or
    143 for SIGTERM, as a shell counts them."""
    from igest_sync import render

    message = getattr(exc, "message", None) or "Interrupted."
    if TERMINATED:
        message = "Stopped by SIGTERM" + message.removeprefix("Interrupted")
    log.warning("%s", message)
    err = render.current().err
    # Wrapped between words at a terminal; off one (cron mail, a journal) one line, as the
    # other messages (rich would cut it at its default 80 columns).
    err.print(message, soft_wrap=not err.is_terminal, markup=False, highlight=False)
    code = 143 if TERMINATED else 130
    STOP_SAID.append(code)
    return code


# -- parsing ---------------------------------------------------------------------------------


# Jumpseller's order ids are int32 (the spec's ``/orders/{id}.json``): a longer number typed
# by mistake is refused at the command line, before it reaches the state file (SQLite's
# integers stop at 64 bits) or Jumpseller.
ORDER_ID_MAX = 2**31 - 1


def order_number(text: str) -> int | None:
    """The order id ``text`` names, or None when it names none Jumpseller can have."""
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    value = int(text) if text.strip().isdecimal() else 0
    return value if 1 <= value <= ORDER_ID_MAX else None


def parse_order_id(text: str) -> int:
    """An order id as typed: refused with what to type instead (click would say only "Input
    should be a valid integer", without the value, or give a range for 0)."""
    value = order_number(text)
    if value is None:
        raise typer.BadParameter(
            f"{text!r} is not a Jumpseller order id: give the order's number as Jumpseller "
            "shows it (e.g. 10452)."
        )
    return value


def parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from igest_sync.errors import UsageError

        raise UsageError(f"{flag} expects a date like 2026-11-01, got {value!r}.") from None
