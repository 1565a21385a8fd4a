"""The one parallel helper: keep a service busy up to its rate limit despite round-trip time.

One write at a time reaches only 1/latency writes per second (5 per second at 200 ms), far
under Jumpseller's 800/min or iGEST's 10/s; a few workers reach the limit, and the clients'
shared pacing gate keeps them under it. Used by ``invoice``/``resend`` (one order per step) and
by ``sync-products``/``sync-stock`` (one write per step).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, TypeVar

from igest_sync.errors import ApiError, AuthError, RateLimited
from igest_sync.models import Action, CatalogueOutcome

if TYPE_CHECKING:
    from igest_sync.runs.catalogue.plan import CatalogueReport

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

WRITE_WORKERS = 4
Progress = Callable[[int, int], None]

# A write's failure that every later write would meet too, each after its own retries: a 429
# the client's retries could not wait out (the other writes share the same allowance), or
# credentials refused. The catalogue runs stop their writes there, through ``in_parallel``'s
# ``stop_on`` (as ``invoice`` stops on refused credentials), and exit 5: 60 writes tried four
# times each would only spend a minute and the allowance before failing the same way.
STOPS_THE_WRITES = (RateLimited, AuthError)
# The reason of a write not attempted because the run stopped before it.
NOT_ATTEMPTED = "not_attempted"


class _NotAttempted:
    """A step skipped because the run was stopping."""


_NOT_ATTEMPTED = _NotAttempted()


def in_parallel(
    steps: Sequence[T],
    act: Callable[[T], R],
    *,
    workers: int = WRITE_WORKERS,
    progress: Progress | None = None,
    stop_on: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> Generator[R, None, None]:
    """``act`` on every step with up to ``workers`` threads; results in the steps' order.

    ``progress(done, total)`` follows each finished step. An exception of a ``stop_on`` type
    stops the whole run (refused credentials: every step would fail the same way): steps not
    started yet are not attempted (they yield nothing), and the first such exception is raised
    once the started ones are done. Any other exception propagates as it comes.
    """
    total = len(steps)
    stop: list[BaseException] = []

    def guarded(step: T) -> R | _NotAttempted:
        if stop:
            return _NOT_ATTEMPTED
        try:
            return act(step)
        except stop_on as exc:
            stop.append(exc)
            return _NOT_ATTEMPTED

    # Each step runs in the caller's context (serve's log lines name their store that way).
    context = contextvars.copy_context()

    def in_context(step: T) -> R | _NotAttempted:
        return context.copy().run(guarded, step)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, total))) as pool:
        try:
            for done, result in enumerate(pool.map(in_context, steps), start=1):
                if not isinstance(result, _NotAttempted):
                    yield result
                if progress is not None:
                    progress(done, total)
        except BaseException as exc:  # Ctrl-C, or the caller closed us
            # The pool waits for every step it was given: the queued ones must see the stop
            # and return at once, so only the steps in flight finish.
            stop.append(exc)
            raise
    if stop:
        raise stop[0]


class Keyed(Protocol):
    """A planned write, named by its SKU."""

    @property
    def sku(self) -> str: ...


W = TypeVar("W", bound=Keyed)


class _WritesStopped(Exception):
    """The write of ``key`` failed as every later one would (``STOPS_THE_WRITES``)."""

    def __init__(self, key: str, error: ApiError) -> None:
        super().__init__(str(error))
        self.key = key
        self.error = error


def write_all(
    report: CatalogueReport,
    steps: Sequence[W],
    act: Callable[[W], CatalogueOutcome],
    preview: Callable[[W], CatalogueOutcome],
    *,
    dry_run: bool,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    """Carry out (or, in a dry run, describe) every planned write into ``report``, in order.

    ``act`` returns a failed write's outcome with its ``error``. One in ``STOPS_THE_WRITES``
    stops the run: the writes in flight finish, no other starts, each one left is reported
    skipped (``NOT_ATTEMPTED``, naming the SKU it stopped at and why), and ``report.stopped``
    holds the error, whose exit code (5) the run ends with.
    """
    total = len(steps)
    if progress is not None:
        progress(0, total)
    if dry_run:
        for done, step in enumerate(steps, start=1):
            report.add(preview(step))
            if progress is not None:
                progress(done, total)
        return
    outcomes: dict[int, CatalogueOutcome] = {}

    def attempt(index: int) -> None:
        outcome = outcomes[index] = act(steps[index])
        if isinstance(outcome.error, STOPS_THE_WRITES):
            raise _WritesStopped(outcome.key, outcome.error)

    stop: _WritesStopped | None = None
    try:
        for _ in in_parallel(range(total), attempt, progress=progress, stop_on=_WritesStopped):
            pass
    except _WritesStopped as stopped:
        stop = stopped
        report.stopped = stop.error
        log.warning(
            "Writes stopped at %s after %d of %d: %s", stop.key, len(outcomes), total, stop.error
        )
    for index, step in enumerate(steps):
        outcome = outcomes.get(index)
        if outcome is None and stop is not None:
            outcome = _not_attempted(step.sku, stop)
        if outcome is not None:
            report.add(outcome)


def _not_attempted(sku: str, stop: _WritesStopped) -> CatalogueOutcome:
    error = stop.error
    if isinstance(error, RateLimited):
        why = f"{error.service}'s rate limit outlasted the client's retries"
        then = "the next run writes it"
    else:
        why = f"{error.service} refused the credentials"
        then = "once they are fixed, the next run writes it"
    return CatalogueOutcome(
        sku,
        Action.SKIPPED,
        f"Not attempted: the run stopped at {stop.key}, where {why}; {then}",
        reason=NOT_ATTEMPTED,
        transient=error.transient,
    )
