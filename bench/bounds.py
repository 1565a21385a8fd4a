"""The time that rate limits and latency make unavoidable: lower bounds, no guesses.

Each service accepts requests in sliding windows (Jumpseller: 20 in any 1 s and 800 in any
60 s; iGEST: 10 in any 1 s). ``earliest_sends`` computes the earliest time each of ``n``
requests may be sent when every request goes out as soon as every window allows it (a greedy
schedule, which is optimal for sliding windows: sending any request later can only delay the
ones after it). The answer to the last request arrives at least one latency after it is sent.

A run's unavoidable time is the largest of its lower bounds (each one alone is a bound, so
their maximum is one too): one per service, and the latency-bound critical path of the work's
own dependencies at the configured concurrency. docs/performance.md explains the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Window = tuple[int, float]  # (limit, seconds)

JUMPSELLER_WINDOWS: tuple[Window, ...] = ((20, 1.0), (800, 60.0))
IGEST_WINDOWS: tuple[Window, ...] = ((10, 1.0),)


def earliest_sends(
    n: int, windows: Sequence[Window], *, start: float = 0.0, history: Sequence[float] = ()
) -> list[float]:
    """Earliest send times of ``n`` more requests, none before ``start``, after ``history``
    (earlier sends, ascending, that still count in the windows). Returns the new times only."""
    sent = list(history)
    new: list[float] = []
    for _ in range(n):
        at = max(start, sent[-1] if sent else start)
        for limit, seconds in windows:
            if len(sent) >= limit:
                at = max(at, sent[-limit] + seconds)
        sent.append(at)
        new.append(at)
    return new


def rate_bound(n: int, windows: Sequence[Window], latency: float) -> float:
    """Seconds from the first send until the answer to the ``n``-th request, at best."""
    if n <= 0:
        return 0.0
    return earliest_sends(n, windows)[-1] + latency


@dataclass(frozen=True)
class Bound:
    """The unavoidable time and the bound that set it (for the report)."""

    seconds: float
    limited_by: str
    parts: dict[str, float]


def _largest(parts: dict[str, float]) -> Bound:
    name = max(parts, key=lambda k: parts[k])
    return Bound(parts[name], name, dict(parts))


def backlog_bound(
    *, igest_requests: int, jumpseller_requests: int, orders: int, concurrency: int, latency: float
) -> Bound:
    """Invoicing a backlog: the larger of the two rate bounds and the latency path.

    Latency path: an order's draft must be answered before it can be finalized, so each
    worker spends at least two round trips per order; with ``concurrency`` workers that is
    ``2 * ceil(orders / concurrency)`` round trips, plus one to list the orders before and one
    to attach the last document after.
    """
    workers = max(1, concurrency)
    path = latency * (2 * math.ceil(orders / workers) + 2)
    return _largest(
        {
            "iGEST 10/s": rate_bound(igest_requests, IGEST_WINDOWS, latency),
            "Jumpseller 20/s+800/min": rate_bound(jumpseller_requests, JUMPSELLER_WINDOWS, latency),
            "latency path": path,
        }
    )


def plan_then_write_bound(
    *,
    jumpseller_reads: int,
    igest_reads: int,
    jumpseller_writes: int,
    igest_writes: int,
    latency: float,
) -> Bound:
    """A catalogue run: read both sides in full, then write (the product's plan-before-act
    rule, which protects the catalogue from a half-read plan, so the bound respects it).

    Reads of the two services may overlap; writes start once the last read is answered, and
    a service's reads still count in its windows while its writes go out.
    """
    js_reads = earliest_sends(jumpseller_reads, JUMPSELLER_WINDOWS)
    ig_reads = earliest_sends(igest_reads, IGEST_WINDOWS)
    reads_done = max(
        (js_reads[-1] + latency) if js_reads else 0.0, (ig_reads[-1] + latency) if ig_reads else 0.0
    )
    ends = {"reads": reads_done}
    if jumpseller_writes:
        sends = earliest_sends(
            jumpseller_writes, JUMPSELLER_WINDOWS, start=reads_done, history=js_reads
        )
        ends["reads, then Jumpseller 20/s+800/min writes"] = sends[-1] + latency
    if igest_writes:
        sends = earliest_sends(igest_writes, IGEST_WINDOWS, start=reads_done, history=ig_reads)
        ends["reads, then iGEST 10/s writes"] = sends[-1] + latency
    return _largest(ends)
