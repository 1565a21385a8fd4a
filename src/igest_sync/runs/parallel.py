"""The one parallel helper: keep a service busy up to its rate limit despite round-trip time.

One write at a time reaches only 1/latency writes per second (5 per second at 200 ms), far
under Jumpseller's 800/min or iGEST's 10/s; a few workers reach the limit, and the clients'
shared pacing gate keeps them under it. Used by ``invoice``/``resend`` (one order per step) and
by ``sync-products``/``sync-stock`` (one write per step).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from igest_sync.models import CatalogueOutcome
    from igest_sync.runs.catalogue.plan import CatalogueReport

T = TypeVar("T")
R = TypeVar("R")

WRITE_WORKERS = 4
Progress = Callable[[int, int], None]


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


def write_all(
    report: CatalogueReport,
    steps: Sequence[T],
    act: Callable[[T], CatalogueOutcome],
    preview: Callable[[T], CatalogueOutcome],
    *,
    dry_run: bool,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    """Carry out (or, in a dry run, describe) every planned write into ``report``, in order."""
    total = len(steps)
    if progress is not None:
        progress(0, total)
    if dry_run:
        for done, step in enumerate(steps, start=1):
            report.add(preview(step))
            if progress is not None:
                progress(done, total)
        return
    for outcome in in_parallel(steps, act, progress=progress):
        report.add(outcome)
