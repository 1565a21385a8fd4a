"""The one error handler: every error of a command ends here, shown once (as JSON with
``--json``), and becomes its exit code (``errors.ExitCode``); ``finish`` ends a command with its
report's exit code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from igest_sync.cli.plumbing import (
    STOP_SAID,
    ClickException,
    ClickUsageError,
    CliState,
    interrupted,
    stop_on_sigterm,
)
from igest_sync.errors import ExitCode

if TYPE_CHECKING:
    from igest_sync.errors import IgestSyncError
    from igest_sync.runs.report import Report

log = logging.getLogger("igest_sync.cli")


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

    code = int(exc.exit_code)
    as_json = wants_json(state, args)
    if state.quiet_stop and not as_json and not render.current().out.is_terminal:
        # Overlapping cron runs, a service down for a few minutes: the next run gets past it by
        # itself; cron is told only once it has lasted [alerts] unreachable_minutes (the exit
        # code still says the run did not finish). The log says so.
        log.warning("%s (the next run tries again)", exc)
        return code
    render.error(exc, secrets=state.secrets, verbose=state.verbose, as_json=as_json)
    return code


def run_app(app: Any, args: Sequence[str]) -> int:
    """Run the Typer app on ``args`` with a fresh state; every error ends here, shown once."""
    from igest_sync import render
    from igest_sync.errors import IgestSyncError, UsageError

    state = CliState()
    args = list(args)
    STOP_SAID.clear()  # this call's own (the tests run many in one process)
    # Commands that set up no log file (init, sandbox ...) must not have logging's last-resort
    # handler print every error a second time on stderr.
    logging.getLogger("igest_sync").addHandler(logging.NullHandler())
    try:
        # Not standalone: usage errors come out here too, so that --json can answer them.
        result = app(args=args, obj=state, standalone_mode=False, prog_name="igest-sync")
        if result == 130 and not STOP_SAID:
            # Typer's own answer to a Ctrl-C or SIGTERM outside a command (its options being
            # read): a silent 130, even for SIGTERM. Said, logged and counted as the rest.
            return interrupted(KeyboardInterrupt())
        return result if isinstance(result, int) else 0
    except IgestSyncError as exc:
        return handle_error(exc, state, args)
    except typer.Abort:
        render.current().err.print("Aborted.")
        return 1
    except KeyboardInterrupt as exc:  # before or after a command (Group.invoke has the rest)
        return interrupted(exc)
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
    # A stop said before run_app sets up logging must not be said twice by logging's
    # last-resort handler (run_app does the same for the errors it shows).
    logging.getLogger("igest_sync").addHandler(logging.NullHandler())
    stop_on_sigterm()
    try:
        code = run_app(app, sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt as exc:
        # A SIGTERM (or Ctrl-C) while run_app itself was still importing what it shows
        # errors with: said as any other stop, not a traceback that cron would mail.
        code = interrupted(exc)
    sys.exit(code)
