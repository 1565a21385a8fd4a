"""The plumbing every command shares, in one place: per-call state, global options, the
``--json`` option, one way to open config, clients, lock and ledger, and the error handler.

``cli/<family>.py`` hold the commands; this module holds what they have in common, so that a new
command (or a branch that edits one) does not copy it. Per-call state lives on the Typer
context (``ctx.obj``), never in a module global: two invocations in one process (tests) do not
see each other's options or secrets.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

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

if TYPE_CHECKING:
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from igest_sync.config import Config
    from igest_sync.errors import IgestSyncError
    from igest_sync.runs.report import Report
    from igest_sync.state.ledger import Ledger

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


def _remember_json(ctx: typer.Context, value: bool) -> bool:
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
        callback=_remember_json,
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
            _interrupted(exc)
            raise typer.Exit(130) from None


def _interrupted(exc: KeyboardInterrupt) -> None:
    """Ctrl-C: an invoice run says what it issued and what the next run finishes
    (RunInterrupted); any other command just that it stopped."""
    from igest_sync import render

    message = getattr(exc, "message", None) or "Interrupted."
    log.warning("%s", message)
    render.err.print(message, soft_wrap=False)


# -- parsing ---------------------------------------------------------------------------------


def _parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from igest_sync.errors import UsageError

        raise UsageError(f"{flag} expects a date like 2026-11-01, got {value!r}.") from None


# -- the session: config, clients, lock, ledger ---------------------------------------------------


def setup_logging(state: CliState) -> None:
    from igest_sync import logsetup
    from igest_sync.config import paths

    logsetup.configure(paths.log_dir(), secrets=state.secrets, verbose=state.verbose)


def config_path(state: CliState) -> Path:
    from igest_sync.config import paths

    return state.config_path or paths.config_path()


def state_path(state: CliState) -> Path:
    from igest_sync.config import paths

    return state.state_path or paths.state_path()


def load_config(state: CliState) -> Config:
    """Load and validate the config; its secrets are masked in everything printed from now on."""
    from igest_sync import render
    from igest_sync.config import load_config as _load

    config, warnings = _load(config_path(state))
    state.secrets = config.secrets()
    setup_logging(state)
    for warning in warnings:
        render.warn(warning)
    return config


def pace_file(state_file: Path, service: str) -> Path:
    """Where every run, dry runs too, notes when its requests to ``service`` were answered, so
    that a run started right after it knows how much of the current second it may still use."""
    return state_file.with_name(f"{state_file.name}.{service}-pace")


def make_clients(config: Config, state_file: Path) -> tuple[JumpsellerClient, IgestClient]:
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    js = JumpsellerClient(
        config.jumpseller.base_url,
        config.jumpseller.login,
        config.jumpseller.auth_token,
        pace_file=pace_file(state_file, "jumpseller"),
        credentials_where=_where(config, "jumpseller", "login", "auth_token"),
    )
    ig = IgestClient(
        config.igest.base_url,
        config.igest.integration_key,
        config.igest.security_code,
        pace_file=pace_file(state_file, "igest"),
        credentials_where=_where(config, "igest", "integration_key", "security_code"),
    )
    return js, ig


def _where(config: Config, section: str, *keys: str) -> str:
    """'X and Y', each named where its value came from (a variable or the file)."""
    return " and ".join(config.where(section, key) for key in keys)


@dataclass
class Session:
    """What a command works with; the parts it did not ask for are None."""

    config: Config
    jumpseller: JumpsellerClient
    igest: IgestClient
    ledger: Ledger | None = None
    # The run's notices (a document not attached ...), for the alerts sent when it ends.
    notices: list[str] = field(default_factory=list)

    @property
    def clients(self) -> tuple[JumpsellerClient, IgestClient]:
        return self.jumpseller, self.igest


@contextlib.contextmanager
def session(
    ctx: typer.Context | None = None,
    *,
    lock: bool = True,
    ledger: bool = True,
    dry_run: bool = False,
    alerts: bool | None = None,
) -> Iterator[Session]:
    """Open config, both clients, the run lock and the ledger, in that order; close them all.

    The lock is taken before the ledger is opened (two runs started together never race to
    create or migrate it). A dry run takes no lock and reads a ledger that does not exist yet
    as an empty one in memory: it writes no state (only the send times of its requests, in
    the pace files beside the state file when that folder exists, for the next run's pacing).
    A run that changes something (``alerts``: by default, one under the lock) records and
    sends its alerts as it ends, or stops, while the lock and the ledger are still held.
    """
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.lock import run_lock

    state = state_of(ctx)
    config = load_config(state)
    path = state_path(state)
    js, ig = make_clients(config, path)
    # Runs that change something (cron's) tell a person through [alerts] when they end.
    alerting = (lock and not dry_run) if alerts is None else alerts
    opened = None
    with contextlib.ExitStack() as stack:
        try:
            if lock and not dry_run:
                stack.enter_context(run_lock(path))
                # serve (or a run) may have held the lock until now: pace to its last second.
                js.catch_up()
                ig.catch_up()
            stack.enter_context(js)
            stack.enter_context(ig)
            if ledger:
                ledger_path = Path(":memory:") if dry_run and not path.exists() else path
                opened = stack.enter_context(Ledger(ledger_path))
            current = Session(config, js, ig, opened)
            yield current
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:
            if alerting and _alert_worthy(exc):
                send_alerts(config, opened, path, error=exc)
            raise
        if alerting:
            send_alerts(config, opened, path, notices=current.notices)


def _alert_worthy(exc: Exception) -> bool:
    """A whole run stopped for a reason a person should hear of (not a mistyped command, nor
    an overlapping cron run, which is normal)."""
    from igest_sync.errors import ConfigError, RunLocked, UsageError

    return not isinstance(
        exc, (UsageError, ConfigError, RunLocked, ClickException, typer.Exit, typer.Abort)
    )


def send_alerts(
    config: Config,
    ledger: Ledger | None,
    path: Path,
    *,
    notices: Sequence[str] = (),
    error: BaseException | None = None,
) -> None:
    """Record and send the run's alerts ([alerts]); never raises, bounded in time."""
    if not config.alerts.channels:
        return
    from datetime import UTC, datetime

    from igest_sync.alerts import dispatch

    current = get_current_context(silent=True)
    command = current.info_name if current is not None and current.info_name else "igest-sync"
    dispatch(
        ledger,
        config,
        now=datetime.now(UTC),
        notices=notices,
        error=error,
        command=command,
        state_path=path,
    )


def finish(report: Report) -> NoReturn:
    """End the command with the report's exit code (always an ``ExitCode``)."""
    raise typer.Exit(int(ExitCode(report.exit_code)))


# -- the one error handler ------------------------------------------------------------------------


def wants_json(state: CliState, args: Sequence[str]) -> bool:
    # An error while parsing comes before the option's callback has run.
    return state.json or "--json" in args


def handle_error(exc: IgestSyncError, state: CliState, args: Sequence[str]) -> int:
    """Show one of our errors once (as JSON with --json) and return its exit code."""
    from igest_sync import render
    from igest_sync.errors import RunLocked

    code = int(exc.exit_code)
    as_json = wants_json(state, args)
    if isinstance(exc, RunLocked) and not as_json and not render.out.is_terminal:
        # Overlapping cron runs are normal: the log says so, cron has nothing to mail.
        log.warning("%s", exc)
        return code
    render.error(exc, secrets=state.secrets, verbose=state.verbose, as_json=as_json)
    return code


def run_app(app: Any, args: Sequence[str]) -> int:
    """Run the Typer app on ``args`` with a fresh state; every error ends here, shown once."""
    from igest_sync import render
    from igest_sync.errors import IgestSyncError, UsageError

    state = CliState()
    args = list(args)
    # Commands that set up no log file (init, sandbox ...) must not have logging's last-resort
    # handler print every error a second time on stderr.
    logging.getLogger("igest_sync").addHandler(logging.NullHandler())
    try:
        # Not standalone: usage errors come out here too, so that --json can answer them.
        result = app(args=args, obj=state, standalone_mode=False, prog_name="igest-sync")
        return result if isinstance(result, int) else 0
    except IgestSyncError as exc:
        return handle_error(exc, state, args)
    except typer.Abort:
        render.err.print("Aborted.")
        return 1
    except KeyboardInterrupt as exc:  # before or after a command (Group.invoke has the rest)
        _interrupted(exc)
        return 130
    except BrokenPipeError:
        # `igest-sync status | head`: the reader left; nothing is wrong with the run.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - the last handler: a bug, or click's own error
        if isinstance(exc, ClickUsageError) and wants_json(state, args):
            return handle_error(UsageError(exc.format_message()), state, args)
        if isinstance(exc, ClickException):
            exc.show()
            return exc.exit_code
        # A bug: one line for the person, the traceback in the log.
        render.internal_error(
            exc, secrets=state.secrets, verbose=state.verbose, as_json=wants_json(state, args)
        )
        return int(ExitCode.INTERNAL)


def main(app: Any, argv: Sequence[str] | None = None) -> None:
    sys.exit(run_app(app, sys.argv[1:] if argv is None else argv))
