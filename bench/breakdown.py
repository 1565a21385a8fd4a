"""Where a CLI run's wall time went, from the sandbox's request timeline and the child's rusage.

    start-up   spawn -> first request begins (interpreter, imports, config, ledger)
    in flight  time at least one request was being served (latency + sandbox work)
    gaps       time between the first and the last request with nothing in flight: our
               CPU between requests and pacing sleeps (compare with the child's CPU time)
    tail       last answer -> exit (recording, rendering, interpreter exit)

and, per route, how many requests and over which span of the run they went.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness import CliRun, RequestEvent

_ID_SEGMENT = re.compile(r"/[^/]*\d[^/]*?(?=\.json$|/|$)")


def route_of(event: RequestEvent) -> str:
    """``GET /v1/orders/{id}.json`` style: path segments holding a digit become ``{id}``."""
    prefix, _, rest = event.path.partition("/v1")
    return f"{event.method} {prefix}/v1{_ID_SEGMENT.sub('/{id}', rest)}"


@dataclass
class RouteSpan:
    service: str
    route: str
    count: int
    first: float  # seconds after spawn
    last: float
    served: float  # mean server-side seconds per request (latency included)


@dataclass
class RunProfile:
    wall: float
    startup: float
    in_flight: float
    gaps: float
    tail: float
    cpu: float
    sandbox_extra: float  # server-side seconds beyond the configured latency, summed
    routes: list[RouteSpan]

    def lines(self) -> list[str]:
        out = [
            (
                f"wall {self.wall:.2f} s = start-up {self.startup:.2f} + requests in flight "
                f"{self.in_flight:.2f} + gaps (nothing in flight) {self.gaps:.2f} + tail "
                f"{self.tail:.2f}; CLI CPU {self.cpu:.2f} s; sandbox work beyond latency "
                f"{self.sandbox_extra:.2f} s (summed over requests)"
            )
        ]
        for r in self.routes:
            out.append(
                f"  {r.service:<10} {r.route:<52} {r.count:>6}  "
                f"{r.first:8.2f} s .. {r.last:8.2f} s  served in {r.served * 1000:6.1f} ms"
            )
        return out


def profile_run(run: CliRun, events: list[RequestEvent], latency: float) -> RunProfile:
    events = sorted(events, key=lambda e: e.start)
    t0, t_end = run.started, run.started + run.wall
    if not events:
        return RunProfile(run.wall, run.wall, 0.0, 0.0, 0.0, run.cpu, 0.0, [])
    in_flight = 0.0
    cur_start, cur_end = events[0].start, events[0].end
    for e in events[1:]:
        if e.start > cur_end:
            in_flight += cur_end - cur_start
            cur_start, cur_end = e.start, e.end
        else:
            cur_end = max(cur_end, e.end)
    in_flight += cur_end - cur_start
    first, last = events[0].start, max(e.end for e in events)
    spans: dict[tuple[str, str], list[RequestEvent]] = {}
    for e in events:
        spans.setdefault((e.service, route_of(e)), []).append(e)
    routes = [
        RouteSpan(
            service,
            route,
            len(es),
            es[0].start - t0,
            max(x.end for x in es) - t0,
            sum(x.end - x.start for x in es) / len(es),
        )
        for (service, route), es in spans.items()
    ]
    routes.sort(key=lambda r: r.first)
    extra = sum(max(0.0, e.end - e.start - latency) for e in events)
    return RunProfile(
        wall=run.wall,
        startup=first - t0,
        in_flight=in_flight,
        gaps=(last - first) - in_flight,
        tail=t_end - last,
        cpu=run.cpu,
        sandbox_extra=extra,
        routes=routes,
    )
