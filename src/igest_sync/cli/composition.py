"""The composition root: the one place where a command's config, clients, run lock, ledger
and ``RunContext`` are made and closed (``session()``), and where a run's alerts are sent as it
ends.

``make_clients`` builds the Jumpseller and iGEST clients, ``make_vies`` the VIES client; a
``Session`` carries them with the ledger, and ``Session.context`` is the run context the runs
take (``runs/context.py``), built here and nowhere else in the CLI.

``wall_clock`` is a command's one wall clock: the ledger stamps its rows by it, the run context
hands it to the runs, and the alerts, the digest, ``status``, ``reconcile`` and ``check`` read
"now" from it. The tests' in-process runner sets it to its sandbox's clock (as it extends
``make_clients``), so that the CLI and the emulators it talks to agree on the day.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from igest_sync.cli.plumbing import ClickException, CliState, get_current_context, state_of
from igest_sync.errors import RunLocked, StateError
from igest_sync.timeutil import utc_now

if TYPE_CHECKING:
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from igest_sync.config import Config
    from igest_sync.runs.context import RunContext, ViesOnDemand
    from igest_sync.runs.report import Attended
    from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.cli")

# The commands cron or a timer runs: one that finds the previous run still holding the lock
# stops quietly (a person's own command, at a terminal or from a script, says why).
SCHEDULED = frozenset({"invoice", "sync-stock", "sync-products", "digest", "reconcile"})


# The command's one wall clock (see the module's docstring): a name the tests' runner rebinds,
# for ``timeutil.utc_now``, so that reading the clock is read where the other dates are.
wall_clock: Callable[[], datetime] = utc_now


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
    from igest_sync.errors import ConfigError

    path = config_path(state)
    try:
        config, warnings = _load(path)
    except ConfigError as exc:
        if state.config_path is not None and not path.exists():
            # `init` alone writes the default path: the one to run names this file.
            import shlex

            exc.hint = f"Create it with `igest-sync --config {shlex.quote(str(path))} init`."
        # A cron run that stops here leaves its reason in the log file too, where a person
        # looks later (the values of secret keys are never in it: validation masks them).
        # The log is opened for it; the error handler writes the line, once, as it shows it.
        setup_logging(state)
        raise
    state.secrets = config.secrets()
    setup_logging(state)
    for warning in warnings:
        render.warn(warning)
    return config


def pace_file(state_file: Path, service: str) -> Path:
    """Where every run, dry runs too, notes when its requests to ``service`` were answered, so
    that a run started right after it knows how much of the current second it may still use.
    Beside the file itself, as the run lock: a run given a link to it shares the budget."""
    from igest_sync.state.lock import beside_state

    return beside_state(state_file, f".{service}-pace")


def make_clients(
    config: Config,
    state_file: Path,
    *,
    jumpseller_options: dict[str, Any] | None = None,
    igest_options: dict[str, Any] | None = None,
) -> tuple[JumpsellerClient, IgestClient]:
    """The two clients of a command. ``*_options``: more keyword arguments for a client (the
    tests' in-process runner adds a transport to the sandbox and a virtual clock)."""
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    js = JumpsellerClient(
        config.jumpseller.base_url,
        config.jumpseller.login,
        config.jumpseller.auth_token,
        pace_file=pace_file(state_file, "jumpseller"),
        credentials_where=_where(config, "jumpseller", "login", "auth_token"),
        **(jumpseller_options or {}),
    )
    ig = IgestClient(
        config.igest.base_url,
        config.igest.integration_key,
        config.igest.security_code,
        pace_file=pace_file(state_file, "igest"),
        credentials_where=_where(config, "igest", "integration_key", "security_code"),
        **(igest_options or {}),
    )
    return js, ig


def _where(config: Config, section: str, *keys: str) -> str:
    """'X and Y', each named where its value came from (a variable or the file)."""
    return " and ".join(config.where(section, key) for key in keys)


def make_vies(config: Config) -> ViesOnDemand:
    """The run's VIES client, for its context (opened at its first check)."""
    from igest_sync.runs.context import ViesOnDemand

    return ViesOnDemand(config.vies.base_url)


@dataclass
class Session:
    """What a command works with; the parts it did not ask for are None."""

    config: Config
    jumpseller: JumpsellerClient
    igest: IgestClient
    ledger: Ledger | None = None
    vies: ViesOnDemand | None = None
    # The run's notices (a document not attached ...), for the alerts sent when it ends.
    notices: list[str] = field(default_factory=list)
    _context: RunContext | None = field(default=None, repr=False)

    def now(self) -> datetime:
        """Now, by the command's one clock (``wall_clock``)."""
        return wall_clock()

    def attend(self, report: Attended) -> None:
        """What of the run's report a person hears of by [alerts] as the session ends (the
        report says which notices; ``serve`` takes the same ones from its units)."""
        self.notices = list(report.alert_notices)

    @property
    def clients(self) -> tuple[JumpsellerClient, IgestClient]:
        return self.jumpseller, self.igest

    @property
    def context(self) -> RunContext:
        """The run context of a command that opened the ledger: built once, here."""
        if self._context is None:
            from igest_sync.runs.context import RunContext

            if self.ledger is None:
                raise RuntimeError("a run context needs the ledger: session(ledger=True)")
            self._context = RunContext.build(
                self.config,
                self.ledger,
                self.jumpseller,
                self.igest,
                vies=self.vies,
                now=wall_clock,
            )
        return self._context


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
    command = _command_name(ctx)  # named in the alerts of a run that stops
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
            vies = None
            if ledger:
                ledger_path = Path(":memory:") if dry_run and not path.exists() else path
                opened = stack.enter_context(Ledger(ledger_path, clock=wall_clock))
                opened.meta.require_store(
                    config.jumpseller.store, path, config.path, record=lock and not dry_run
                )
                if lock and not dry_run:
                    _note_the_run(opened, command)
                    stack.callback(_run_ended, opened, command)
                vies = stack.enter_context(make_vies(config))
            current = Session(config, js, ig, opened, vies)
            yield current
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:
            if isinstance(exc, RunLocked):
                state.quiet_stop = command in SCHEDULED and not _held_long(exc, config)
            elif alerting and opened is not None:
                # Counted for every run (the alerts read it); kept quiet for cron's only. A
                # state file that refuses this note must not hide the run's own error.
                with contextlib.suppress(StateError):
                    passing = _passing_outage(opened, config, exc)
                    state.quiet_stop = passing and command in SCHEDULED
            if alerting and _alert_worthy(exc, config):
                send_alerts(config, opened, path, command, error=exc)
            raise
        if alerting:
            if opened is not None:
                with contextlib.suppress(StateError):  # its alerts go out all the same
                    opened.meta.outages_over()  # the run got through
            send_alerts(config, opened, path, command, notices=current.notices)


def _note_the_run(ledger: Ledger, command: str) -> None:
    """The log's start of a run that changes something, and of the one before it when that
    never ended: a run killed (SIGKILL, a machine stopped) left nothing in the log to say so."""
    import os

    earlier = ledger.meta.begin_run(command, os.getpid())
    if earlier:
        log.warning(
            "The previous %s (pid %s, started %s) did not finish: it was killed or the machine "
            "stopped. Nothing is lost: this run takes up its work, and looks up in iGEST "
            "what it may have issued.",
            earlier.get("command", "run"),
            earlier.get("pid", "?"),
            earlier.get("started_at", "?"),
        )
    log.info("%s started (pid %s)", command, os.getpid())


def _run_ended(ledger: Ledger, command: str) -> None:
    with contextlib.suppress(StateError):  # a state file that refuses it: the run's own error
        ledger.meta.end_run()
    log.info("%s ended", command)


def _command_name(ctx: typer.Context | None) -> str:
    current = ctx or get_current_context(silent=True)
    return current.info_name if current is not None and current.info_name else "igest-sync"


def _passing_outage(ledger: Ledger, config: Config, error: Exception) -> bool:
    """Whether ``error`` is an outage (a service down, 502s) that has not lasted
    ``[alerts] unreachable_minutes`` yet, counted from the first run that met it."""
    from igest_sync.errors import passes_by_itself

    if not passes_by_itself(error):
        return False
    now = wall_clock()
    since = ledger.meta.outage_since(error.service, now)
    return now - since < timedelta(minutes=config.alerts.unreachable_minutes)


def _held_long(exc: RunLocked, config: Config) -> bool:
    """Whether a person is told of the lock (state/lock.py's held_long, serve's rule too)."""
    from igest_sync.state.lock import held_long

    return held_long(exc.held_for, config.alerts.unreachable_minutes)


def _alert_worthy(exc: Exception, config: Config) -> bool:
    """A whole run stopped for a reason a person should hear of (not a mistyped command, nor
    an overlapping cron run, which is normal, unless the lock has been held that long)."""
    from igest_sync.errors import ConfigError, UsageError

    if isinstance(exc, RunLocked):
        return _held_long(exc, config)
    return not isinstance(exc, (UsageError, ConfigError, ClickException, typer.Exit, typer.Abort))


def send_alerts(
    config: Config,
    ledger: Ledger | None,
    path: Path,
    command: str,
    *,
    notices: Sequence[str] = (),
    error: BaseException | None = None,
) -> None:
    """Record and send the run's alerts ([alerts]); never raises, bounded in time."""
    if not config.alerts.channels:
        return
    from igest_sync.alerts import dispatch

    dispatch(
        ledger,
        config,
        now=wall_clock(),
        notices=notices,
        error=error,
        command=command,
        state_path=path,
    )
