"""Shared HTTP plumbing for the adapters: ``HttpService``, the one error boundary (httpx errors
and HTTP statuses become our exceptions here, and nowhere else), with the retries and the time
budget; it paces with ``pacing.RateGate`` and hands the pace to the next run with ``pace_file``.

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

import email.utils
import functools
import json
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

import httpx

import igest_sync
from igest_sync import __version__
from igest_sync.adapters.http.pace_file import UNFINISHED, PaceFile
from igest_sync.adapters.http.pacing import Clock, RateGate, RateWindow, Sleep
from igest_sync.errors import (
    NETWORK_HINT,
    SERVER_HINT,
    ApiError,
    AuthError,
    BadResponse,
    Conflict,
    Misdirected,
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

# Parsed error body (or None when it was not JSON) -> (message, code, fields).
ErrorReader = Callable[[Any], tuple[str | None, str | None, dict[str, str]]]


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
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once per
    process and shared by every client (the adapters, the alerts' webhook): loading the CA
    bundle costs 20 to 30 ms of CPU, and a command opens two or three clients, ``serve`` and
    the alerts many more. A context is safe to share between clients and threads."""
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
            verify=tls_context(),
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

    def catch_up(self) -> None:
        """This process has just taken the run lock: count what another process (a cron run,
        or ``serve``) sent in the last second, as its pace file says, before sending."""
        earlier = self._pace.read() if self._pace is not None else None
        if isinstance(earlier, list):
            offset = self._clock() - self._wall_clock()
            self.gate.add_sent(t + offset for t in earlier)
        elif earlier == UNFINISHED:
            self.gate.observe(1.0, 0)  # a run killed mid-way: its second may be spent

    def share_pace(self) -> None:
        """This process is about to let the run lock go: publish its last second."""
        if self._pace is not None:
            self._pace.publish()

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
                    or not failure.transient  # a certificate refused: the same every time
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
                    # A person's command (credit, resend) is not retried by a run: said too.
                    hint=SERVER_HINT,
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
            certificate = _certificate_refused(exc)
            if isinstance(exc, httpx.TimeoutException):
                failure = self._transport_error(
                    where, f"timed out connecting to {self.host} ({timeout.connect:g} s)"
                )
            elif certificate is not None:
                # Not an outage that passes: the next run meets the same certificate.
                failure = Misdirected(
                    f"{where}: {self.host}'s TLS certificate was refused ({certificate})",
                    service=self.service,
                    hint="Check the base_url's host name. A server whose certificate comes "
                    "from an authority of its own needs it in SSL_CERT_FILE.",
                )
            elif _not_tls(exc):
                # Not an outage that passes either: https:// to a port that speaks plain HTTP
                # (the sandbox, a proxy's http port) fails the same way every run.
                failure = Misdirected(
                    f"{where}: {self.host} does not answer in TLS (https://), the base_url's "
                    "scheme",
                    service=self.service,
                    hint="Check the base_url's scheme and port: a server on this machine that "
                    "speaks plain HTTP (the sandbox) takes http://.",
                )
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
            hint=hint or NETWORK_HINT,
        )

    def _result(self, response: httpx.Response, where: str) -> Any:
        status = response.status_code
        body, is_json = self._parse_json(response)
        if 200 <= status < 300:
            if response.request.method == "DELETE":
                # Done is all a DELETE says: its body is no one's business ("Hook deleted" as
                # text, a JSON string, nothing), and refusing it failed a delete that was made.
                return body
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
        if 300 <= status < 400:
            # Never followed (it could carry our credentials elsewhere): a base_url on http://
            # that the server moves to https://, or a path that is not the API's. Not an outage
            # that passes: the next run is redirected the same way.
            raise Misdirected(
                f"{where}: unexpected status {_status_text(status)}",
                hint="The server redirects the request: check the base_url (https://, and the "
                "path up to the API's version, /v1).",
                **kwargs,
            )
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
        # Masked before it is squeezed and cut: a secret with two spaces in it, or one that
        # the cut halves, would no longer match and would show all but its tail.
        line = " ".join(self._scrub(str(text)).split())
        if len(line) > 300:
            line = line[:297] + "..."
        return line


def _host(base_url: str) -> str:
    """``api.jumpseller.com``, or ``127.0.0.1:8080`` when the port is not the scheme's own."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        return base_url
    host = url.host or base_url
    return f"{host}:{url.port}" if url.port else host


def _certificate_refused(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was refused ("self-signed certificate", "hostname
    mismatch ..."), when that is why the connection failed: a reason the person can act on,
    where the operating system gave none."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or "not trusted")
        seen = seen.__cause__ or seen.__context__
    return None


# OpenSSL's reasons for a handshake answered by something that is not TLS (an HTTP server's
# "400 Bad Request" read as a TLS record), by version.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})


def _not_tls(exc: BaseException) -> bool:
    """Whether the connection failed because the server does not speak TLS."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and getattr(seen, "reason", None) in _NOT_TLS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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

    def catch_up(self) -> None:
        """The run lock was just taken: count another process's last second (pace file)."""
        self._http.catch_up()

    def share_pace(self) -> None:
        """The run lock is about to be let go: publish this process's last second."""
        self._http.share_pace()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
