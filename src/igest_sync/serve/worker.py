"""One store's worker: a thread that works the inbox in batches and runs the sweep.

Every unit of work (a batch of hints, a sweep) runs under the store's run lock, taken for that
unit and released after it, so ``serve`` never holds the lock while idle and a cron
``invoice``, ``credit``, ``resend`` or ``reconcile --fix`` beside it runs between two units (it
waits for serve's lock, ``state/lock.py``). When a cron run holds the lock, the hints simply
wait in the inbox and the unit is tried again shortly: whoever gets there first issues, the
other finds the document final (exactly once is the issuer's, not the lock's).

The worker uses the store's one Jumpseller and one iGEST client for the webhook work and the
sweep alike, one after the other in this thread: one pacing gate per service per store, the
same as ``invoice``'s. A cron run beside it shares the same budget through the pace files
beside the state file, handed over with the run lock: each unit counts what the last holder
sent in its last second when it takes the lock (``catch_up``) and publishes its own before it
lets the lock go (``share_pace``), and so does ``invoice``.

Real time keeps itself up: the store's code (``GET /store/info.json``) is read again, with
backoff, until it is known (meanwhile the signature alone decides, and ``/healthz`` says
``"store_code": "unknown"``); the hooks are saved again at start (``hooks install``, which
turns paused ones back on) and whenever real time is degraded (``serve/watch.py``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from igest_sync.config import Config
from igest_sync.errors import ApiError, IgestSyncError, RunLocked, StateError, passes_by_itself
from igest_sync.logsetup import store_context
from igest_sync.models import WorkState
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.catch_up import CatchUp
from igest_sync.runs.invoicing.hints import RETRY_LONGEST, work_hints
from igest_sync.runs.invoicing.invoice import InvoiceRun, RunStopped
from igest_sync.runs.invoicing.report import InvoiceReport, unanswered
from igest_sync.runs.services import IgestApi, JumpsellerApi, ViesApi
from igest_sync.serve import watch
from igest_sync.state.database import Clock, Database
from igest_sync.state.inbox import (
    LAST_SWEEP,
    ORDER,
    PRODUCT,
    SERVE_STARTED,
    SERVE_STOPPED,
    STOPPED,
    Hint,
    InboxStore,
    serve_down,
)
from igest_sync.state.ledger import Ledger
from igest_sync.state.lock import held_long, run_lock, someone_waits
from igest_sync.state.meta import STORE_NAME, ready_for
from igest_sync.timeutil import utc_now

log = logging.getLogger("igest_sync.serve")

# Orders per unit of work: a burst drains in units of some seconds each (about 20 s at iGEST's
# 10 requests/s), each releasing the lock for a cron run or a person waiting for it.
BATCH = 100
LOCKED_RETRY = 2.0  # seconds before trying again when a cron run holds the lock
LISTING_REFRESH = timedelta(minutes=1)  # serve's listing of iGEST's documents, read again
FAILED_RETRY = 30.0  # seconds before trying again after a run-wide failure
MAKE_WAY = 2.0  # at most this long, a run waiting for the lock is let in first
OVERDUE = timedelta(minutes=1)  # a sweep or watch check this late goes before waiting hints
IDLE_WAKE = 5.0  # the worker looks at the inbox at least this often (hints of another process)
CODE_RETRY_FIRST = 5.0  # seconds before reading the store's code again, doubled each time ...
CODE_RETRY_LONGEST = 300.0  # ... up to this
UNSETTLED = tuple(s for s in WorkState if s != WorkState.FINAL)

OnReport = Callable[[str, InvoiceReport], None]
OnError = Callable[[str, IgestSyncError], None]


@dataclass(frozen=True)
class Done:
    """What a unit of work did: its notices, and what it heard of the services.

    An outage is counted from the first failure until a service answers: a unit that called
    none (the watch's check, the hooks saved again) or whose every call went unanswered (a
    batch whose orders could not be read) must not end it, or a service down would stay quiet
    for as long as webhooks keep coming."""

    notices: Sequence[str] = ()
    answered: bool = True  # a service answered: an outage being counted is over
    unanswered: ApiError | None = None  # what the service said instead of answering


@dataclass
class StoreSetup:
    """What one store brings to ``serve``: its config, its state file, its clients."""

    name: str  # for log lines and the person's messages: the store code, or the home
    config: Config
    state_path: Path
    jumpseller: JumpsellerApi
    igest: IgestApi
    home: Path | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    vies: ViesApi | None = None  # None: one for [vies] base_url, made with the run context


class StoreWorker:
    """The background worker of one store (``start``, ``wake``, ``join``)."""

    def __init__(
        self,
        setup: StoreSetup,
        stop: threading.Event,
        *,
        on_report: OnReport,
        on_error: OnError,
        on_degraded: watch.OnDegraded | None = None,
        clock: Clock = utc_now,
        sweep: bool = True,
    ) -> None:
        self.setup = setup
        self.stop = stop
        self.on_report = on_report
        self.on_error = on_error
        self.clock = clock
        self.sweep_enabled = sweep
        self.woken = threading.Event()
        self._locked_said = False  # "a run holds the lock" logged, until a unit gets it
        self._lock_since: datetime | None = None  # held too long since then: told, until free
        self.ledger: Ledger
        self.catch_up: CatchUp
        # A new state file, an older version's or another store's is opened (migrated,
        # checked) under the lock before anything writes to it, as every run does: serve
        # waits for a run that holds it, and listens for no store until then.
        self.opened = self._open_ledger(
            wait=not ready_for(setup.state_path, setup.config.jumpseller.store)
        )
        # The receiver's own connection: its short inbox writes never queue behind the
        # worker's statements. While a run holds the lock at start (a person's `credit` at its
        # question), deliveries are received into it all the same: a refused delivery counts
        # towards Jumpseller pausing the hook, and one store's lock would keep the others'
        # webhooks out too. The worker opens the ledger when the lock is free (``step``).
        self.inbox = InboxStore(Database(setup.state_path, clock=clock))
        jumpseller = setup.config.jumpseller
        self._configured = frozenset({jumpseller.store, jumpseller.login})
        self._reported_code: str | None = None  # what Jumpseller says (None: not read yet)
        self._code_wait = CODE_RETRY_FIRST
        # Read by the worker's first step, not here: serve listens (and /healthz answers) at
        # once even when Jumpseller is slow to answer or does not (the signature decides
        # meanwhile), instead of after the read's retries and timeout.
        self._next_code_read = self.clock()
        self.code_known = False
        self._code_failed = False
        self.keeper = watch.Keeper(
            setup.name,
            watch.hooks_saver(setup.config, setup.jumpseller),
            self.clock(),
            # Lost again within the alerts' reminder time of its heal: the same degradation,
            # told once and reminded, not once per late delivery.
            again_within=timedelta(hours=setup.config.invoice.remind_failed_hours),
        )
        self.keeper.on_degraded = on_degraded
        self.thread = threading.Thread(target=self._run, name=f"serve-{setup.name}", daemon=True)
        self._last_error: str | None = None
        self._passing_since: datetime | None = None  # a service has not answered since then
        self._outage: ApiError | None = None  # ... the last thing it said instead
        self._outage_told = False  # printed once it has lasted, until a service answers
        # Until the first sweep has run, work a kill left in flight (a finalize whose answer
        # was lost) is not yet recovered: no paid order is named late before it is.
        self._recovering = sweep

    # -- lifecycle ------------------------------------------------------------------------------

    def _open_ledger(self, *, wait: bool) -> bool:
        """Open (and migrate) the state file under the lock, as every run does; False when a
        run holds the lock and ``wait`` is False. Waiting, a stop raises ``RunLocked``."""
        while True:
            try:
                with run_lock(self.setup.state_path, serve=True):
                    ledger = Ledger(self.setup.state_path, clock=self.clock)
                    try:
                        ledger.meta.require_store(
                            self.setup.config.jumpseller.store,
                            self.setup.state_path,
                            self.setup.config.path,
                        )
                    except StateError:
                        ledger.close()
                        raise
                    self._lock_free()
                    self.ledger = ledger
                    # One listing of what iGEST issued, for all the units of this worker
                    # (runs/invoicing/catch_up.py).
                    config = self.setup.config
                    self.catch_up = CatchUp(
                        self.setup.igest,
                        ledger,
                        config.jumpseller.store,
                        config.invoice.start_date,
                        # What another integration issued since (the hosted app left on):
                        # the listing of the orders' days is read again at most this often.
                        refresh_every=LISTING_REFRESH,
                        clock=self.clock,
                    )
                    return True
            except RunLocked as exc:
                self._lock_held(exc)  # serve starts: its state file is not open yet
                if not self._locked_said:
                    self._locked_said = True
                    log.info(
                        "Store %s: a run holds the lock; opening the state when it ends (%s)",
                        self.setup.name,
                        # A new state file is created under the lock: until then nothing is
                        # received, for any store (serve does not listen yet).
                        "serve does not listen for any store until then"
                        if wait
                        else "webhooks are received meanwhile",
                    )
                if not wait:
                    return False
                if self.stop.wait(LOCKED_RETRY):
                    raise

    @property
    def store_codes(self) -> frozenset[str]:
        """The Jumpseller-Store-Code values that are this store: the configured store and
        login, and the code Jumpseller itself reports (GET /store/info.json) once read."""
        if self._reported_code is None:
            return self._configured
        return self._configured | {self._reported_code}

    def current_codes(self) -> frozenset[str] | None:
        """For the receiver: the codes, or None while Jumpseller's own is not known (the
        signature alone decides meanwhile)."""
        return self.store_codes if self.code_known else None

    def _read_store_code(self) -> bool:
        """Read the store's code from Jumpseller; True once known. A failure is tried again
        after ``CODE_RETRY_FIRST`` seconds, doubled each time up to ``CODE_RETRY_LONGEST``."""
        try:
            code = self.setup.jumpseller.store_info().get("code")
        except IgestSyncError as exc:
            log.warning(
                "Store %s: could not read the store's code (%s); deliveries are checked by "
                "their signature alone until it is read (trying again in %g s)",
                self.setup.name,
                exc,
                self._code_wait,
            )
            self._next_code_read = self.clock() + timedelta(seconds=self._code_wait)
            self._code_wait = min(self._code_wait * 2, CODE_RETRY_LONGEST)
            self._code_failed = True
            return False
        if isinstance(code, str) and code.strip():
            self._reported_code = code.strip()
        if self._code_failed:
            log.info("Store %s: the store's code is known now", self.setup.name)
        return True

    def start(self) -> None:
        # Both moments to the microsecond: a restart within the second of the stop
        # (`systemctl restart`) must read as later than it (status: running).
        try:  # status: serve runs again (a stop recorded earlier no longer says otherwise)
            self.inbox.set_meta(SERVE_STARTED, self.clock().isoformat())
        except IgestSyncError as exc:
            log.warning("Store %s: could not record serve's start: %s", self.setup.name, exc)
        self.thread.start()

    def wake(self) -> None:
        self.woken.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def close(self) -> None:
        """The state file's connections (the clients are the caller's: ``setup.closers``),
        once the stop is written: ``status`` then says serve is not running (a stop it cannot
        write, or a kill, is seen from the sweeps that stopped coming)."""
        try:
            self.inbox.set_meta(SERVE_STOPPED, self.clock().isoformat())
        except IgestSyncError as exc:
            log.warning("Store %s: could not record serve's stop: %s", self.setup.name, exc)
        self.inbox.db.close()
        if self.opened:
            self.ledger.close()

    def record(
        self, subject: str, subject_id: int, event: str, triggered: str | None, at: datetime
    ) -> None:
        """The receiver's write (its thread, this store's inbox connection)."""
        self.inbox.record_hint(subject, subject_id, event, triggered_at=triggered, received_at=at)
        self.keeper.delivered()
        if subject == ORDER:
            self.keeper.announced(subject_id, at, triggered)

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        with store_context(self.setup.name):
            # A sweep first: it finishes whatever a kill left (pending work, in-flight documents).
            next_sweep = self.clock()
            while not self.stop.is_set():
                try:
                    next_sweep = self.step(next_sweep)
                except Exception as exc:  # noqa: BLE001 - logged with its traceback (_failed)
                    # Between units too (the inbox read, the store's code, the state opened
                    # late): a thread that ended here left the receiver answering 202 and
                    # /healthz "ok" while nothing was worked again until a restart by hand.
                    self._failed(exc)

    def step(self, next_sweep: datetime) -> datetime:
        """One turn of the loop: the most urgent thing due, or a short wait; the next sweep."""
        next_sweep = self._after_a_step_back(next_sweep, self.clock())
        if not self.code_known and self.clock() >= self._next_code_read:
            # Then on to the rest of the turn: a Jumpseller that keeps failing this read must
            # not keep the sweep and the hints from their turn (nor a run's lock: the read
            # needs no state file).
            self.code_known = self._read_store_code()
        if not self.opened:  # a run held the lock at start: the deliveries wait in the inbox
            self.opened = self._open_ledger(wait=False)
            if not self.opened:
                self.stop.wait(LOCKED_RETRY)
                return next_sweep
        if someone_waits(self.setup.state_path):
            # A cron run or a person waits for the lock: let it in before going on.
            self.stop.wait(MAKE_WAY)
            return next_sweep
        now = self.clock()
        if self.keeper.reinstall_due(now):
            self._unit(lambda: Done(self.keeper.reinstall(self.ledger, self.clock()), False))
            return next_sweep
        # A retry is never further off than RETRY_LONGEST: one that is was set before the
        # clock stepped back (``_after_a_step_back``), and is due now.
        hints = self.ledger.waiting_hints(now, BATCH, latest=now + RETRY_LONGEST)
        if hints and not self._overdue(next_sweep, now):
            self._unit(functools.partial(self._batch, hints))
            return next_sweep
        # An overdue check of the watch goes before the sweep: a sweep that keeps failing is due
        # again at once and came first at every turn, so the check stayed overdue and, by
        # ``_overdue``, kept the hints out for as long as the sweep failed.
        if self.sweep_enabled and now >= next_sweep and not self._watch_overdue(now):
            if self._unit(self._sweep):
                minutes = self.setup.config.serve.sweep_minutes
                return self.clock() + timedelta(minutes=minutes)
            # Due again from now (the unit has waited its pause): a sweep that keeps failing
            # is overdue only OVERDUE later, and the hints have their turns meanwhile.
            return self.clock()
        if now >= self.keeper.next_watch:
            self._unit(lambda: Done(self.keeper.check(self.ledger, self.clock()), False))
            return next_sweep
        self._idle(next_sweep)
        return next_sweep

    def _overdue(self, next_sweep: datetime, now: datetime) -> bool:
        """Whether the sweep or the watch's check has waited ``OVERDUE`` past its time: it goes
        before the hints. Hints first is real time, but deliveries that never stop coming (a
        busy store: order_updated, product_stock_updated for each sale) always left one
        waiting when a unit ended, and kept the sweep (the backstop for what a webhook
        missed) and the watch (a paused hook) out for good, with nothing said."""
        return (self.sweep_enabled and next_sweep <= now - OVERDUE) or self._watch_overdue(now)

    def _watch_overdue(self, now: datetime) -> bool:
        return self.keeper.next_watch <= now - OVERDUE

    def _after_a_step_back(self, next_sweep: datetime, now: datetime) -> datetime:
        """``next_sweep``, due now when it is further off than one interval (and the same for
        the watch, the hooks' save, the store code's read).

        Every due time is set by the wall clock. When that clock steps back (NTP correcting a
        clock that ran ahead, a virtual machine restored), the times set before the step lie
        that much further ahead: an hour back put the sweep, the watch and every retry off by
        an hour, with nothing said."""
        if next_sweep > now + timedelta(minutes=self.setup.config.serve.sweep_minutes):
            log.warning(
                "Store %s: the clock went back (the next sweep was due at %s, it is now %s); "
                "sweeping now",
                self.setup.name,
                next_sweep.isoformat(timespec="seconds"),
                now.isoformat(timespec="seconds"),
            )
            next_sweep = now
        if self._next_code_read > now + timedelta(seconds=CODE_RETRY_LONGEST):
            self._next_code_read = now
        self.keeper.after_a_step_back(now)
        return next_sweep

    def _idle(self, next_sweep: datetime) -> None:
        now = self.clock()
        wait = IDLE_WAKE
        due_times = [*self.keeper.due_times(), self.ledger.next_hint_due()]
        if self.sweep_enabled:
            due_times.append(next_sweep)
        if not self.code_known:
            due_times.append(self._next_code_read)
        for due in due_times:
            if due is not None:
                wait = min(wait, max(0.0, (due - now).total_seconds()))
        self.woken.wait(wait)
        self.woken.clear()

    def _unit(self, work: Callable[[], Done]) -> bool:
        """``work`` under the run lock; False when it must be tried again later.

        ``work`` returns the notices of what it did and what it heard of the services. Its
        alerts ([alerts]) are recorded and sent before the lock is released, as every other
        command does (alerts/outbox.py).
        """
        try:
            with run_lock(self.setup.state_path, serve=True):
                self._lock_free()
                self._pace_turn(begins=True)
                try:
                    try:
                        done = work()
                    except RunStopped:
                        raise
                    except Exception as exc:
                        if passes_by_itself(exc):
                            self._down(exc)
                        self._alert(error=exc, answered=False)
                        raise
                    if done.unanswered is not None:
                        self._down(done.unanswered)
                    elif done.answered:
                        self._up()
                    self._alert(notices=done.notices, answered=done.answered)
                finally:
                    self._pace_turn(begins=False)
        except RunLocked as exc:
            if not self._locked_said:  # once while it lasts, not every LOCKED_RETRY
                self._locked_said = True
                log.info("A run holds the lock of %s; the hints wait", self.setup.state_path)
            self._lock_held(exc, self.ledger)
            self.stop.wait(LOCKED_RETRY)
            return False
        except RunStopped:
            return True
        except Exception as exc:  # noqa: BLE001 - logged with its traceback (_failed)
            self._failed(exc)
            return False
        self._last_error = None
        self._tell_outage()  # a batch whose reads went unanswered, or a unit that called none
        return True

    def _failed(self, exc: Exception) -> None:
        """A unit, or a step between units, failed: said as its kind asks, then a pause before
        the loop tries again (called while ``exc`` is handled: its traceback is logged)."""
        if not isinstance(exc, IgestSyncError):  # a bug must not end the worker
            log.exception("Store %s: unexpected error in serve's worker", self.setup.name)
        elif passes_by_itself(exc):
            # A service that did not answer is tried again by serve itself: the log's, until
            # it has lasted.
            text = str(exc)
            if self._outage_lasted():
                log.error("Store %s: %s", self.setup.name, text)
            else:
                log.warning(
                    "Store %s: %s; trying again in %g s", self.setup.name, text, FAILED_RETRY
                )
            self._tell_outage()
        else:
            # Refused credentials, an unusable state file, a config to fix: a person must act,
            # told once per distinct problem; the hints wait for the fix.
            text = str(exc)
            log.error("Store %s: %s", self.setup.name, text)
            if text != self._last_error:
                self._last_error = text
                self.on_error(self.setup.name, exc)
        self.stop.wait(FAILED_RETRY)

    # -- a service that does not answer ----------------------------------------------------------

    def _down(self, exc: ApiError) -> None:
        """A service did not answer: the outage is counted from its first failure."""
        if self._passing_since is None:
            self._passing_since = self.clock()
        self._outage = exc

    def _up(self) -> None:
        """A service answered: the outage, if one was counted, is over."""
        if self._outage is not None and self._outage_told:
            log.info("Store %s: %s answers again", self.setup.name, self._outage.service)
        self._passing_since, self._outage, self._outage_told = None, None, False

    def _outage_lasted(self) -> bool:
        """Whether the outage has lasted ``[alerts] unreachable_minutes``: a person's business
        from then on (printed, alerted, /healthz degraded), no longer serve's alone."""
        if self._passing_since is None:
            return False
        bound = timedelta(minutes=self.setup.config.alerts.unreachable_minutes)
        return self.clock() - self._passing_since >= bound

    def _tell_outage(self) -> None:
        """An outage that has lasted: printed once until a service answers, with its duration
        from the first failure."""
        exc, since = self._outage, self._passing_since
        if self._outage_told or exc is None or since is None or not self._outage_lasted():
            return
        from igest_sync.alerts.events import unreachable_title

        told = ApiError(
            f"{unreachable_title(exc.service, since, self.clock())} (since "
            f"{since.isoformat(timespec='seconds')}; the last failure: {exc}). serve keeps "
            "trying by itself",
            service=exc.service,
            status=exc.status,
            # The adapter's hint speaks to a run ("the next run will retry, a command you typed:
            # run it again"): serve retries by itself.
            hint=f"Check the network and {exc.service}'s status (`igest-sync check`); nothing "
            "to run: serve keeps trying and logs when it answers again.",
        )
        log.error("Store %s: %s", self.setup.name, told)
        self._outage_told = True
        self.on_error(self.setup.name, told)

    def troubles(self) -> list[str]:
        """For /healthz: what keeps this store from being invoiced, in words that name no
        store, order or customer (empty when nothing does)."""
        found = []
        exc, since = self._outage, self._passing_since
        if exc is not None and since is not None and self._outage_lasted():
            found.append(
                f"{exc.service} has not answered since {since.isoformat(timespec='seconds')}"
            )
        held = self._lock_since
        if held is not None:
            found.append(
                "another igest-sync run has held the lock since "
                f"{held.isoformat(timespec='seconds')}; nothing is invoiced until it ends"
            )
        return found

    def not_sweeping(self) -> str | None:
        """For /healthz: serve's sweeps have stopped coming (every one fails: a disk full, a bug)
        for as long as ``status`` and a cron run call serve stuck; None while it sweeps. May
        raise ``StateError`` (the caller counts the store's state file unreadable)."""
        if not self.sweep_enabled:
            return None
        minutes = self.setup.config.serve.sweep_minutes
        down = serve_down(self.inbox.get_meta, self.clock(), minutes)
        if down is None or down.public == STOPPED:
            return None
        return (
            f"no sweep since {down.since}, and serve sweeps every {minutes} minute"
            f"{'' if minutes == 1 else 's'}: its work is stuck, keeps failing or has taken that "
            "long (a first sweep's backlog; webhooks wait meanwhile): see its log"
        )

    # -- another run holds the lock ----------------------------------------------------------------

    def _lock_held(self, exc: RunLocked, ledger: Ledger | None = None) -> None:
        """Another run holds the lock: the work waits. Held past the rule a cron run follows
        (state/lock.py's held_long: a command left at its question, not an overlapping run),
        it is printed, alerted and /healthz is degraded, once until serve gets the lock."""
        minutes = self.setup.config.alerts.unreachable_minutes
        if self._lock_since is not None or not held_long(exc.held_for, minutes):
            return
        self._lock_since = self.clock() - timedelta(seconds=exc.held_for or 0.0)
        log.error("Store %s: %s", self.setup.name, exc)
        self.on_error(self.setup.name, exc)
        if self.setup.config.alerts.channels:
            from igest_sync.alerts import dispatch

            # As cron's run that meets the lock: without it, the alert goes by the spool
            # beside the state file (the next unit takes it into the ledger). The store is
            # named as in serve's other alerts once its state file is open (a read only).
            dispatch(
                None,
                self.setup.config,
                now=self.clock(),
                error=exc,
                command="serve",
                state_path=self.setup.state_path,
                store_name=ledger.get_meta(STORE_NAME) if ledger is not None else None,
            )

    def _lock_free(self) -> None:
        """serve holds the lock: a wait told to a person is over."""
        if self._lock_since is not None:
            log.info(
                "Store %s: the run that held the lock has ended; the work goes on", self.setup.name
            )
        self._lock_since = None
        self._locked_said = False

    def _pace_turn(self, *, begins: bool) -> None:
        """The run lock changes hands here: count the last holder's second of requests when
        it is taken, publish ours before it is let go (the clients' pace files)."""
        for client in (self.setup.jumpseller, self.setup.igest):
            step = getattr(client, "catch_up" if begins else "share_pace", None)
            if callable(step):
                step()

    def _alert(
        self,
        *,
        notices: Sequence[str] = (),
        error: BaseException | None = None,
        answered: bool = True,
    ) -> None:
        """The unit's alerts: the same events, once and reminded, as a cron run's (never raises,
        bounded to a few seconds whatever the channels do); real time degraded is one more.

        While a service does not answer, a unit that heard nothing from it reports the outage
        again: its alert goes out once it has lasted, with its duration from the first failure.
        """
        if error is None and not answered:
            error = self._outage
        if not self.setup.config.alerts.channels:
            return
        from igest_sync.alerts import dispatch
        from igest_sync.alerts.events import realtime_event

        state = watch.degraded(self.ledger)
        events = [realtime_event(state.since, state.reason, self.keeper.fix)] if state else []
        dispatch(
            self.ledger,
            self.setup.config,
            now=self.clock(),
            notices=notices,
            error=error,
            command="serve",
            state_path=self.setup.state_path,
            events=events,
            answered=answered,
            late=not self._recovering,
        )

    def _run_for(self) -> InvoiceRun:
        s = self.setup
        # The worker's clock, not the machine's: a unit's dates (today, the sweep's listing
        # window) are those of the clock the worker was given.
        context = RunContext.build(
            s.config, self.ledger, s.jumpseller, s.igest, vies=s.vies, now=self.clock
        )
        return InvoiceRun(context, stop=self.stop, catch_up=self.catch_up)

    def _batch(self, hints: list[Hint]) -> Done:
        now = self.clock()
        notices: Sequence[str] = []
        answered, unanswered = True, None
        orders = [h for h in hints if h.subject == ORDER]
        products = [h for h in hints if h.subject == PRODUCT]
        started = time.monotonic()
        if orders:
            outcome = work_hints(self._run_for(), orders, now=now)
            # Every report goes out, as the sweep's do: what is worth a line is the
            # printer's one rule (report.has_news).
            self.on_report(self.setup.name, outcome.report)
            notices = outcome.report.alert_notices
            # Orders postponed because Jumpseller did not answer are no answer: the outage
            # goes on being counted.
            answered, unanswered = outcome.answered, outcome.unanswered
            log.info(
                "Worked %d webhook orders in %.1f s (%d postponed)",
                outcome.finished,
                time.monotonic() - started,
                outcome.postponed,
            )
        if products:
            self._stock(products)
            answered = True
        return Done(notices, answered, unanswered)

    def _stock(self, products: list[Hint]) -> None:
        """A product's stock changed in Jumpseller: sync stock to iGEST (once per batch)."""
        from igest_sync.runs.catalogue.stock import sync_stock

        stock = self.setup.config.stock
        if stock.enabled and stock.direction == "jumpseller_to_igest":
            report = sync_stock(
                self.setup.jumpseller, self.setup.igest, stock, force=False, dry_run=False
            )
            log.info("Stock synced after %d webhooks: %s", len(products), report.summary())
        for hint in products:
            self.ledger.finish_hints(hint.row_ids)

    def _sweep(self) -> Done:
        try:
            report = self._run_for().run()
        finally:
            # The start's recovery has been tried (``_unit`` alerts after this, late orders
            # included): what is still unfinished now is late indeed.
            self._recovering = False
        self.ledger.set_meta(LAST_SWEEP, self.clock().isoformat(timespec="seconds"))
        self.on_report(self.setup.name, report)
        # The orders it recorded are in the ledger now: were they announced?
        self.keeper.check(self.ledger, self.clock())
        # Its failures kept quiet (passing by themselves) included: iGEST silent for every
        # order it met is an outage, whatever Jumpseller's listing answered.
        igest = unanswered(report.outcomes + report.quiet)
        return Done(report.alert_notices, answered=igest is None, unanswered=igest)
