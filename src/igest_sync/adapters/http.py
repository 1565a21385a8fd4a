"""Shared HTTP plumbing for the two adapters: pacing, retries and the one error boundary.

Nothing here knows Jumpseller's or iGEST's wire format. An adapter builds one ``HttpService``
and tells it what differs: the service name, auth, default headers, how to read an error body,
which config keys hold the credentials, and a hook that reads rate-limit headers.

Retry policy (why): a request is repeated only when repeating it cannot do a thing twice.
GET/PUT/DELETE are idempotent, so transport errors, 5xx and 429 are retried. A POST or PATCH
is retried only when the server surely did not process it: a 429 (refused) or a connect
failure (never sent). A read timeout or a 5xx after a POST may hide a created document; the
caller recovers by looking it up, never by sending it again.

Time budget (why): ``timeout`` (30 s by default) bounds the WHOLE logical request, every attempt
and every pause between failed attempts together, so a server that accepts the connection and
never answers stops a cron run within 30 s, not after four 30 s read timeouts and their
back-offs. Each attempt gets what is left of the budget as its httpx timeout, and no retry is
started with less than ``MIN_ATTEMPT`` seconds left. Waiting for our own rate pace and for a
server's 429 (which did answer) is not network time and has its own bound (``max_total_wait``).

Every network error names the host ("could not connect to api.jumpseller.com: connection
refused"), so a person knows which of the two services to look at.
"""

from __future__ import annotations

import bisect
import collections
import email.utils
import functools
import json
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

import httpx

import igest_sync
from igest_sync import __version__
from igest_sync.errors import (
    ApiError,
    AuthError,
    BadResponse,
    Conflict,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
    TransportError,
)
from igest_sync.redact import redact

USER_AGENT = f"igest-sync/{__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures that prove the request never reached the server: safe to repeat even a POST.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MIN_ATTEMPT = 1.0  # seconds: a retry with less of the budget left could not get an answer
# "[Errno 111] Connection refused", "[WinError 10061] No connection could be made ...": the
# operating system's reason, safe to show (it never holds the request or its headers).
_OS_REASON = re.compile(r"\[(?:Errno|WinError) -?\d+\] ([^\[\]\n]{1,120})$")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
# Parsed error body (or None when it was not JSON) -> (message, code, fields).
ErrorReader = Callable[[Any], tuple[str | None, str | None, dict[str, str]]]


@dataclass(frozen=True)
class RateWindow:
    """At most ``limit`` requests in any ``seconds``-long sliding window."""

    limit: int
    seconds: float


# A send later than its reserved slot by more than this is counted from when it really left.
LATE_SEND = 0.005


class RateGate:
    """Thread-safe pacing over several sliding windows at once (e.g. 20/s and 800/min).

    Each ``acquire`` reserves the earliest send time that keeps every window under its limit
    and sleeps until then; reservations are handed out in order, so worker threads share the
    budget fairly. ``slack`` widens every window a little so that network jitter between our
    clock and the server's does not turn a full window into a 429.
    """

    def __init__(
        self,
        windows: Sequence[RateWindow],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        slack: float = 0.05,
    ) -> None:
        self.windows = tuple(windows)
        self._clock = clock
        self._sleep = sleep
        self._slack = slack
        self._sent: list[float] = []  # send times (past and reserved), ascending
        # Sends the server counted and we did not (other clients, an earlier process), per
        # window: a minute window's extra count must not also fill the one-second window.
        self._phantoms: list[list[float]] = [[] for _ in self.windows]
        self._hold_until = float("-inf")
        self._lock = threading.Lock()
        self._longest = max((w.seconds for w in self.windows), default=0.0) + slack

    def acquire(self) -> float:
        """Wait for a free slot; return the (clock) time the slot was reserved for."""
        with self._lock:
            now = self._clock()
            self._forget_before(now)
            start = max(now, self._hold_until, self._sent[-1] if self._sent else now)
            start = self._earliest_slot(start)
            self._sent.append(start)  # start >= every entry, so the list stays sorted
        if start > now:
            self._sleep(start - now)
        return start

    def left(self, reserved: float) -> None:
        """The request whose slot was ``reserved`` leaves now: if that is late (a thread that
        woke late on a busy machine), it occupies the windows from now, as the server will
        count it, so the requests after it keep their distance from its real send."""
        with self._lock:
            now = self._clock()
            if now - reserved <= LATE_SEND:
                return
            index = bisect.bisect_left(self._sent, reserved)
            if index < len(self._sent) and self._sent[index] == reserved:
                del self._sent[index]
                bisect.insort(self._sent, now)

    def add_sent(self, times: Iterable[float]) -> None:
        """Count sends made before this gate existed (clock times), in every window."""
        with self._lock:
            for when in times:
                bisect.insort(self._sent, when)

    def hold_until(self, when: float) -> None:
        """Send nothing before clock time ``when`` (a Retry-After applies to every thread)."""
        with self._lock:
            self._hold_until = max(self._hold_until, when)

    def follow_limit(self, seconds: float, limit: int) -> None:
        """The server advertises ``limit`` requests per ``seconds`` window: pace to that.

        Jumpseller advertises the very figures we start from (20/s, 800/min), so against it
        nothing changes; a server with other limits (a plan with more, a stricter one, or the
        sandbox that the fast tests run with high limits) is paced to what it says, not to our
        guess. A window we do not keep is ignored.
        """
        if limit < 1:
            return
        with self._lock:
            self.windows = tuple(
                RateWindow(limit, w.seconds) if w.seconds == seconds else w for w in self.windows
            )

    def observe(self, seconds: float, remaining: int, *, at: float | None = None) -> None:
        """The server says only ``remaining`` requests are left in its ``seconds`` window.

        When the server has counted more than we have (other clients of the same store, or
        clocks that disagree) we add the difference as sends made now, so our own count never
        lets more through than the server will accept.
        """
        index = next((i for i, w in enumerate(self.windows) if w.seconds == seconds), None)
        if index is None:
            return
        window = self.windows[index]
        with self._lock:
            now = self._clock() if at is None else at
            span = window.seconds + self._slack
            times = self._times(index)
            active = len(times) - self._first_active(now, span, times)
            missing = window.limit - max(remaining, 0) - active
            for _ in range(max(missing, 0)):
                bisect.insort(self._phantoms[index], now)

    def _times(self, index: int) -> list[float]:
        phantoms = self._phantoms[index]
        return sorted(self._sent + phantoms) if phantoms else self._sent

    def _first_active(self, at: float, span: float, times: list[float] | None = None) -> int:
        # A send at time x occupies the window until x + span (exclusive). Comparing x + span
        # with ``at`` (rather than x with at - span) keeps the float arithmetic consistent
        # with the way _earliest_slot computes the next free time.
        times = self._sent if times is None else times
        return bisect.bisect_right(times, at, key=lambda x: x + span)

    def _earliest_slot(self, start: float) -> float:
        moved = True
        while moved:
            moved = False
            for index, window in enumerate(self.windows):
                span = window.seconds + self._slack
                times = self._times(index)
                first = self._first_active(start, span, times)
                active = len(times) - first
                if active >= window.limit:
                    start = times[first + active - window.limit] + span
                    moved = True
        return start

    def _forget_before(self, now: float) -> None:
        for times in (self._sent, *self._phantoms):
            cut = bisect.bisect_right(times, now, key=lambda x: x + self._longest)
            if cut:
                del times[:cut]


UNFINISHED = "unfinished"  # PaceFile.read(): a run that is still going or was killed


class PaceFile:
    """When one service's latest requests reached it, in a file next to the state file.

    A new process cannot learn from the server how much of the current second an earlier run
    spent (iGEST sends no rate-limit headers; Jumpseller's come with its first answer). A run
    marks the file unfinished before its first request, and on closing writes when each of its
    requests still inside the window was answered (the server had counted it by then). A run
    started right after (a cron chain, ``invoice && sync-stock``) counts exactly those; after a
    run that was killed, or is still going, it assumes the worst. Two writes per process, none
    between a request's pacing and its sending. Pacing advice only: a file that cannot be read
    or written is treated as absent and never fails a run.
    """

    KEEP = 1.1  # seconds: the one-second windows, with the gate's slack

    def __init__(self, path: Path, *, wall_clock: Clock = time.time) -> None:
        self.path = path
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._answered: collections.deque[float] = collections.deque()  # the window's, in order
        self._marked = False

    def read(self) -> list[float] | str | None:
        """Wall times of an earlier run's requests still in the window, ``UNFINISHED``, or
        None without a usable file."""
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
            if content.get("unfinished"):
                return UNFINISHED
            times = [float(t) for t in content["sent"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        now = self._wall_clock()
        recent = sorted(t for t in times if now - self.KEEP < t <= now + self.KEEP)
        with self._lock:  # carried into what we write, for a run that follows us at once
            self._answered.extend(recent)
        return recent

    def sending(self) -> None:
        """A request is about to go out: before the first, mark the file unfinished."""
        with self._lock:
            if not self._marked:
                self._marked = True
                self._write({"unfinished": True})

    def answered(self) -> None:
        """A request's answer (or failure) is in: the server counted it by now."""
        with self._lock:
            now = self._wall_clock()
            self._answered.append(now)
            while self._answered and self._answered[0] <= now - self.KEEP:
                self._answered.popleft()

    def close(self) -> None:
        """Write when this run's (and any earlier run's) requests in the window were answered."""
        with self._lock:
            if not self._marked:
                return  # sent nothing: the file still says what it said
            cut = self._wall_clock() - self.KEEP
            self._write({"sent": sorted(round(t, 3) for t in self._answered if t > cut)})

    def _write(self, content: dict[str, object]) -> None:
        partial = self.path.with_name(self.path.name + ".tmp")
        try:
            partial.write_text(json.dumps(content), encoding="utf-8")
            os.replace(partial, self.path)  # a reader never sees half a file
        except OSError:
            pass


def default_error_reader(body: Any) -> tuple[str | None, str | None, dict[str, str]]:
    """Read ``{"message": ...}`` / ``{"error": ...}`` / ``{"errors": {...}}`` shaped bodies."""
    if not isinstance(body, dict):
        return None, None, {}
    message = body.get("message")
    error = body.get("error")
    if isinstance(error, str) and not message:
        message = error
    fields: dict[str, str] = {}
    errors = body.get("errors")
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            fields[str(key)] = str(value)
    elif isinstance(errors, list) and not message:
        message = "; ".join(str(e) for e in errors)
    return (str(message) if message else None), None, fields


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx's default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once per process:
    # loading the CA bundle costs about 30 ms, and every command opens two or three clients.
    return httpx.create_ssl_context()


class HttpService:
    """One ``httpx.Client`` for one service, with pacing, safe retries and error mapping.

    ``request`` returns the parsed JSON body (``Decimal`` for every non-integer number, None
    for an empty body) or raises an ``ApiError`` subclass; no httpx exception escapes.
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        windows: Sequence[RateWindow],
        credential_keys: str,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        error_reader: ErrorReader = default_error_reader,
        on_response: Callable[[httpx.Response], None] | None = None,
        secrets: Iterable[str] = (),
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: Clock = time.time,
        max_attempts: int = 4,
        max_total_wait: float = 60.0,
        rng: random.Random | None = None,
        pace_file: Path | None = None,
        busy_without_pace: bool = False,
    ) -> None:
        self.service = service
        self.host = _host(base_url)
        self.gate = RateGate(windows, clock=clock, sleep=sleep)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._credential_keys = credential_keys
        self._error_reader = error_reader
        self._on_response = on_response
        # Short strings would be "found" everywhere; real tokens are long.
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._max_attempts = max(1, max_attempts)
        self._max_total_wait = max_total_wait
        self._rng = rng or random.Random()
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._pace = PaceFile(pace_file, wall_clock=wall_clock) if pace_file is not None else None
        self._count_earlier_run(busy_without_pace)
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            verify=_tls_context(),
            follow_redirects=False,
        )

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._request_count

    def _count_earlier_run(self, busy_without_pace: bool) -> None:
        """Count what an earlier run used of the current second: exactly, from its pace file;
        else (``busy_without_pace``, or that run is unfinished: killed, or still going) all of
        it, as of when this process started, since that run's requests all came before."""
        earlier = self._pace.read() if self._pace is not None else None
        if isinstance(earlier, list):
            offset = self._clock() - self._wall_clock()  # wall time -> our clock
            self.gate.add_sent(t + offset for t in earlier)
        elif earlier == UNFINISHED or busy_without_pace:
            started = igest_sync.PROCESS_START if self._clock is time.monotonic else None
            self.gate.observe(1.0, 0, at=started)

    def close(self) -> None:
        self._client.close()
        if self._pace is not None:
            self._pace.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json_body: object = None,
    ) -> Any:
        """Send one logical request (retrying where safe) and return the parsed JSON body.

        ``path`` is relative to the base URL and appears in error messages; the query string
        (``params``) never does.
        """
        method = method.upper()
        where = f"{self.service} {method} {path}"
        idempotent = method in IDEMPOTENT_METHODS
        headers = {}
        content = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        if self._client.is_closed:  # httpx would raise a bare RuntimeError
            raise self._transport_error(where, "the client is already closed")
        waited = 0.0
        spent = 0.0  # of the request's time budget: attempts and pauses after failures
        refusals = 0
        attempt = 0
        while True:
            attempt += 1
            slot = self.gate.acquire()
            if self._pace is not None:
                self._pace.sending()
            with self._count_lock:
                self._request_count += 1
            self.gate.left(slot)
            started = self._clock()
            try:
                response, failure, sent_for_sure = self._send(
                    method, path, query, headers, content, where, budget=self._timeout - spent
                )
            finally:
                if self._pace is not None:
                    self._pace.answered()
            spent += max(self._clock() - started, 0.0)
            if failure is not None:
                retry = idempotent or not sent_for_sure
                delay = self._backoff(attempt)
                if (
                    not retry
                    or not self._may_wait(attempt, waited, delay)
                    or not self._budget_allows(spent + delay)
                ):
                    raise failure
                self._sleep(delay)
                waited += delay
                spent += delay
                continue
            assert response is not None
            if self._on_response is not None:
                self._on_response(response)  # may raise (e.g. a rate-limit ban)
            status = response.status_code
            if status == 429:
                refusals += 1
                asked = self._retry_after(response)
                # Without Retry-After: 1 s, 2 s, 4 s ...
                delay = asked if asked is not None else float(2 ** (refusals - 1))
                if not self._may_wait(attempt, waited, delay):
                    raise self._rate_limited(where, attempt, delay)
                # Everyone sharing this client waits: the server refused the whole pace.
                self.gate.hold_until(self._clock() + delay)
                waited += delay
                continue
            if status >= 500:
                asked = self._retry_after(response)
                delay = asked if asked is not None else self._backoff(attempt)
                if (
                    idempotent
                    and self._may_wait(attempt, waited, delay)
                    and self._budget_allows(spent + delay)
                ):
                    self._sleep(delay)
                    waited += delay
                    spent += delay
                    continue
                raise ServerError(
                    self._one_line(f"{where}: server error {_status_text(status)}"),
                    service=self.service,
                    status=status,
                    hint="The service had a problem; the next run will retry.",
                )
            return self._result(response, where)

    # ----------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        content: bytes | None,
        where: str,
        *,
        budget: float,
    ) -> tuple[httpx.Response | None, ApiError | None, bool]:
        """One attempt: (response, None, _) or (None, failure, whether it may have been sent).

        The ApiError is built here but raised by the caller outside any ``except`` block, so
        the httpx exception (whose request holds our auth headers) is not even chained as
        ``__context__``.
        """
        failure: ApiError | None = None
        maybe_sent = True
        budget = max(budget, 0.001)
        timeout = httpx.Timeout(budget, connect=min(self._connect_timeout, budget))
        try:
            return (
                self._client.request(
                    method,
                    path,
                    params=query or None,
                    headers=headers,
                    content=content,
                    timeout=timeout,
                ),
                None,
                True,
            )
        except NEVER_SENT as exc:
            maybe_sent = False
            if isinstance(exc, httpx.TimeoutException):
                what = f"timed out connecting to {self.host} ({timeout.connect:g} s)"
            else:
                what = f"could not connect to {self.host}"
                reason = _os_reason(exc)
                if reason:
                    what += f": {reason}"
            failure = self._transport_error(where, what)
        except httpx.TimeoutException:
            failure = self._transport_error(
                where, f"timed out waiting for the response from {self.host} ({self._timeout:g} s)"
            )
        except (httpx.NetworkError, httpx.ProtocolError) as exc:
            failure = self._transport_error(
                where, f"connection failed with {self.host} ({type(exc).__name__})"
            )
        except httpx.UnsupportedProtocol:
            failure = self._transport_error(
                where, "the base URL is not http(s)", hint="Check the base_url in the config file."
            )
            maybe_sent = False
        except (httpx.DecodingError, httpx.TooManyRedirects):
            failure = BadResponse(
                f"{where}: the response could not be decoded", service=self.service
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            failure = self._transport_error(where, f"request failed ({type(exc).__name__})")
        return None, failure, maybe_sent

    def _transport_error(self, where: str, what: str, *, hint: str | None = None) -> ApiError:
        return TransportError(
            f"{where}: {what}",
            service=self.service,
            hint=hint or "Check the network and the base_url; the next run will retry.",
        )

    def _result(self, response: httpx.Response, where: str) -> Any:
        status = response.status_code
        body, is_json = self._parse_json(response)
        if 200 <= status < 300:
            if body is None and not is_json and response.content.strip():
                raise BadResponse(
                    f"{where}: the response is not valid JSON (or was cut short)",
                    service=self.service,
                    status=status,
                )
            return body
        message, code, fields = self._error_reader(body) if is_json else (None, None, {})
        detail = self._one_line(message) if message else _status_text(status)
        fields = {self._scrub(k): self._one_line(v) for k, v in fields.items()}
        text = f"{where}: {detail} ({status})" if message else f"{where}: {detail}"
        kwargs: dict[str, Any] = {
            "service": self.service,
            "status": status,
            "code": code,
            "fields": fields,
        }
        if status in (401, 403):
            raise AuthError(
                text,
                hint=f"The {self.service} credentials were refused; check {self._credential_keys}.",
                **kwargs,
            )
        if status == 404:
            raise NotFound(text, **kwargs)
        if status == 409:
            raise Conflict(text, **kwargs)
        if 400 <= status < 500:
            raise Rejected(text, **kwargs)
        raise BadResponse(f"{where}: unexpected status {_status_text(status)}", **kwargs)

    @staticmethod
    def _parse_json(response: httpx.Response) -> tuple[Any, bool]:
        """(body, True) when the body is JSON; (None, False) when it is empty or not JSON."""
        if not response.content.strip():
            return None, False
        try:
            return json.loads(response.text, parse_float=Decimal, parse_constant=Decimal), True
        except ValueError:
            return None, False

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - self._wall_clock())

    def _backoff(self, attempt: int) -> float:
        # 0.5 s, 1 s, 2 s ... capped, times a jitter in [0.5, 1) so threads do not retry in step.
        return min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + self._rng.random() / 2)

    def _may_wait(self, attempt: int, waited: float, delay: float) -> bool:
        return attempt < self._max_attempts and waited + delay <= self._max_total_wait

    def _budget_allows(self, spent_after_pause: float) -> bool:
        return self._timeout - spent_after_pause >= MIN_ATTEMPT

    def _rate_limited(self, where: str, attempt: int, delay: float) -> RateLimited:
        return RateLimited(
            f"{where}: too many requests (429) after {attempt} "
            f"{'try' if attempt == 1 else 'tries'}; the service asks to wait {delay:g} s",
            service=self.service,
            status=429,
            # Every request is paced to the service's limits, whatever invoice.concurrency:
            # a 429 that keeps coming means someone else spends the same allowance.
            hint="Wait a minute and run again. If it keeps happening, another program uses "
            f"the same {self.service} credentials at the same time: give it its own, or run "
            "them one after the other.",
        )

    def _scrub(self, text: str) -> str:
        return redact(text, self._secrets)

    def _one_line(self, text: object) -> str:
        line = " ".join(str(text).split())
        if len(line) > 300:
            line = line[:297] + "..."
        return self._scrub(line)


def _host(base_url: str) -> str:
    """``api.jumpseller.com``, or ``127.0.0.1:8080`` when the port is not the scheme's own."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        return base_url
    host = url.host or base_url
    return f"{host}:{url.port}" if url.port else host


def _os_reason(exc: BaseException) -> str | None:
    """The operating system's reason for a failed connect, in lower case, when it gave one."""
    match = _OS_REASON.search(str(exc).strip())
    if not match:
        return None
    reason = match.group(1).strip().rstrip(".")
    return reason[:1].lower() + reason[1:]


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class ServiceClient:
    """What every API client shares: its one ``HttpService``, counted and closed with it."""

    _http: HttpService

    @property
    def request_count(self) -> int:
        """HTTP requests this client sent so far, retries included."""
        return self._http.request_count

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
