"""Fault injection shared by the emulators (Jumpseller, iGEST, VIES).

    sb.faults.add(service="igest", kind="502", method="POST", path=r"^/v1/documents$",
                  nth=1, times=1, after=False, seconds=5.0, retry_after=1) -> FaultRule

``service`` is "jumpseller", "igest", "vies", "webhooks" (the deliveries the sandbox sends: see
``jumpseller/webhooks.py``) or "*" (every service but the webhooks: those have kinds of their own).
``method`` is an HTTP method or "*". ``path`` is a regular expression searched in the request path
(``^/v1/documents$``). Each rule counts the requests it matches: the ``nth`` matching request and
the ``times - 1`` after it get the fault (``times=None``: every matching request from the ``nth``
on). Rules are consulted in the order they were added; a request that fires one rule is not counted
by the rules after it.

Kinds:

* ``"500"``, ``"502"``: that status with an HTML body (what a proxy in front would send);
* ``"429"``: status 429 with ``Retry-After: <retry_after>``, or without the header when
  ``retry_after=None``;
* ``"timeout"``: hold the response ``seconds``; on a socket the connection is then closed with
  no response (``after=True``: the real response is sent late); in-process (WSGITransport) it
  raises ``httpx.ReadTimeout`` after the hold, as the client's transport would;
* ``"reset"``: close the TCP connection without a response (RST); in-process it raises
  ``httpx.RemoteProtocolError`` ("Server disconnected without sending a response.");
* ``"truncated"``: a valid status and headers, the JSON body cut in half;
* ``"bad_shape"``: 200 with JSON of the wrong shape (an object where a list is expected and
  the other way round).

``after=False`` (default): the fault replaces the request, which is not processed (except that
``truncated`` runs a GET, reads being harmless, to have a real body to cut). ``after=True``:
the request is processed fully (the draft is created, the stock moved) and THEN the fault
replaces the answer: "the POST reached iGEST but the answer was lost".

For ``service="webhooks"`` the kinds are ``dropped``, ``twice``, ``delayed`` (``seconds`` later) and
``forged`` (see ``jumpseller/webhooks.py``) and ``path`` is searched in ``"<event>/<id>"``
(``^order_paid/10015$``); ``method`` is "POST" or "*".

``POST /_sandbox/faults`` takes a JSON list of the same keyword arguments.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from igest_sandbox.messages import DropConnection, Request, Response

KINDS = ("500", "502", "429", "timeout", "reset", "truncated", "bad_shape")
WEBHOOK_KINDS = ("dropped", "twice", "delayed", "forged")
SERVICES = ("jumpseller", "igest", "vies", "webhooks", "*")

_HTML = (
    "<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}"
    "</h1></center><hr><center>nginx</center></body></html>\n"
)


@dataclass
class FaultRule:
    service: str
    kind: str
    method: str = "*"
    path: str = ".*"
    times: int | None = 1
    nth: int = 1
    after: bool = False
    seconds: float = 5.0
    retry_after: int | None = 1
    seen: int = 0  # matching requests so far
    fired: int = 0  # faults injected so far
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; one of {', '.join(SERVICES)}")
        kinds = WEBHOOK_KINDS if self.service == "webhooks" else KINDS
        if self.kind not in kinds:
            raise ValueError(
                f"unknown fault kind {self.kind!r} for {self.service}; one of {', '.join(kinds)}"
            )
        if self.nth < 1 or (self.times is not None and self.times < 1):
            raise ValueError("nth and times must be at least 1")
        self.method = self.method.upper()
        self.seconds = float(self.seconds)
        self.times = None if self.times is None else int(self.times)
        self.nth = int(self.nth)
        self.retry_after = None if self.retry_after is None else int(self.retry_after)
        self._pattern = re.compile(self.path)

    def matches(self, service: str, method: str, path: str) -> bool:
        return (
            (self.service == service or (self.service == "*" and service != "webhooks"))
            and self.method in ("*", method)
            and self._pattern is not None
            and self._pattern.search(path) is not None
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def describe(self) -> dict:
        data = asdict(self)
        data.pop("_pattern")
        return data


class Faults:
    """The rule list, thread-safe. Also owns the interruptible wait used for holds/latency."""

    def __init__(self, *, sleep: Callable[[float], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._released = threading.Event()
        # In-process holds (no socket) on a test's virtual clock: a 31 s answer then costs no
        # wall time. Holds on the loopback servers stay real: a real client is waiting.
        self._sleep = sleep

    def add(
        self,
        service: str,
        kind: str,
        *,
        method: str = "*",
        path: str = ".*",
        times: int | None = 1,
        nth: int = 1,
        after: bool = False,
        seconds: float = 5.0,
        retry_after: int | None = 1,
    ) -> FaultRule:
        rule = FaultRule(
            service=service,
            kind=str(kind),
            method=method,
            path=path,
            times=times,
            nth=nth,
            after=after,
            seconds=seconds,
            retry_after=retry_after,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def describe(self) -> list[dict]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def take(self, service: str, method: str, path: str) -> FaultRule | None:
        """Count this request against the matching rules in order, up to the first that fires
        (so two rules on one path act one after the other)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(service, method, path):
                    continue
                rule.seen += 1
                if rule.seen >= rule.nth and (
                    rule.times is None or rule.seen < rule.nth + rule.times
                ):
                    rule.fired += 1
                    return rule
        return None

    def hold(self, seconds: float, *, on_server: bool = True) -> None:
        """Sleep, but return at once when the sandbox stops (so ``stop()`` is quick)."""
        if self._sleep is not None and not on_server:
            self._sleep(seconds)
            return
        self._released.wait(seconds)

    def release(self) -> None:
        self._released.set()


def _html(status: int) -> Response:
    phrase = {500: "Internal Server Error", 502: "Bad Gateway"}[status]
    body = _HTML.format(status=status, phrase=phrase).encode()
    return Response(status, body, content_type="text/html")


def _too_many(rule: FaultRule, error_response: Callable[[int, str], Response]) -> Response:
    response = error_response(429, "Too Many Requests")
    if rule.retry_after is not None:
        response.headers.append(("Retry-After", str(rule.retry_after)))
    return response


def _cut(response: Response) -> Response:
    body = response.body or b'{"data": [{"id": 1, "status": "final"}]}'
    return Response(
        response.status if response.body else 200,
        body[: len(body) // 2],
        [h for h in response.headers if h[0].lower() != "content-type"],
        content_type="application/json; charset=utf-8",
    )


def _bad_shape(real: Response | None) -> Response:
    if real is not None and real.body.lstrip().startswith(b"["):
        return Response.json({"unexpected": ["shape"]})
    return Response.json(["unexpected", {"shape": True}])


def _lost(rule: FaultRule, request: Request, on_raise: Callable[[], None]) -> None:
    on_raise()
    if request.on_server:
        raise DropConnection(rule.kind)
    if rule.kind == "timeout":
        raise httpx.ReadTimeout("timed out (sandbox fault)")
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def apply(
    rule: FaultRule,
    request: Request,
    response: Response | None,
    faults: Faults,
    on_raise: Callable[[], None],
    error_response: Callable[[int, str], Response],
) -> Response:
    """The response a fault gives instead of the real one.

    ``response`` is the real answer of a processed request (``after`` rules), or None when the
    fault replaces the request and nothing was processed.
    """
    if rule.kind in ("500", "502"):
        return _html(int(rule.kind))
    if rule.kind == "429":
        return _too_many(rule, error_response)
    if rule.kind == "truncated":
        return _cut(response if response is not None else Response(200))
    if rule.kind == "bad_shape":
        return _bad_shape(response)
    if rule.kind == "timeout":
        faults.hold(rule.seconds, on_server=request.on_server)
        if response is not None and request.on_server:
            return response  # late: a client with a shorter timeout has given up already
    _lost(rule, request, on_raise)
    raise AssertionError("unreachable")
