"""The webhook receiver: a WSGI application that only authenticates, records and answers.

Each delivery is checked in this order, and the first failure answers at once with nothing
recorded: the path names a store (404; ``GET /healthz`` aside), POST (405), at most 1 MB (413),
``Jumpseller-Hmac-Sha256`` equal to base64(HMAC-SHA256(raw body, hooks token)) in constant time
(401), ``Jumpseller-Store-Code`` this store's (403; while the store's code could not be read
from Jumpseller yet, the signature alone decides), a JSON object (400), an event we work on
(another answers 200 and is only logged), the order (or product) id (422). Then the hint (id,
event, triggered-at, received-at) is written to the store's inbox in one short transaction,
without the run lock, and the worker is woken. A log line names what was wrong, never the
body's content or the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from igest_sync.errors import IgestSyncError
from igest_sync.logsetup import store_context
from igest_sync.state.database import Clock
from igest_sync.state.inbox import ORDER, PRODUCT
from igest_sync.timeutil import utc_now

log = logging.getLogger("igest_sync.serve")

MAX_BODY = 1024 * 1024  # Jumpseller's order JSON is a few kB; a 1 MB body is not one of them
HEALTH_PATH = "/healthz"
ORDER_EVENTS = frozenset({"order_paid", "order_canceled", "order_updated", "order_pending_payment"})
STOCK_EVENT = "product_stock_updated"

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Endpoint:
    """One store's side of the receiver."""

    name: str  # the store's label in log lines (its code)
    path: str
    hooks_token: str
    store_codes: frozenset[str]  # Jumpseller-Store-Code values that are this store
    stock_events: bool  # [stock] on, Jumpseller the source: product_stock_updated is worked
    record: Callable[[str, int, str, str | None, datetime], None]  # subject, id, event, ...
    wake: Callable[[], None]
    # The codes as the worker knows them now (None: Jumpseller's own code could not be read
    # yet); when given, it replaces ``store_codes``.
    current_codes: Callable[[], frozenset[str] | None] | None = None
    # Told of each delivery refused for its signature (real time's watch names the token),
    # and of each delivery signed with this store's token that came to another path (the
    # watch names the proxy's forwarding).
    on_bad_signature: Callable[[datetime], None] | None = None
    on_wrong_path: Callable[[str, datetime], None] | None = None

    def store_ok(self, store: str) -> bool:
        """Whether ``Jumpseller-Store-Code`` names this store. While the store's own code is
        unknown (Jumpseller did not answer ``GET /store/info.json``), a delivery whose
        signature verified is never turned away for its code: the hooks token is this
        store's, so the signature alone proves where it comes from."""
        codes = self.store_codes if self.current_codes is None else self.current_codes()
        if codes is None:
            if store not in self.store_codes:
                log.info(
                    "Accepted a signed delivery with Jumpseller-Store-Code %r: the store's own "
                    "code is not known yet, so the signature decides",
                    store[:40],
                )
            return True
        return store in codes

    def signature_ok(self, body: bytes, signature: str) -> bool:
        expected = base64.b64encode(
            hmac.new(self.hooks_token.encode(), body, hashlib.sha256).digest()
        )
        return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


class Refused(Exception):
    """A delivery answered with a 4xx; ``reason`` goes to the log, never the body."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Receiver:
    """The WSGI application of ``serve``: one hook path per store, and ``/healthz``."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        health: Callable[[], dict[str, Any]],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.endpoints = {e.path: e for e in endpoints}
        self.health = health
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and HEALTH_PATH not in self.endpoints:
            if method not in ("GET", "HEAD"):
                return _answer(start_response, "405 Method Not Allowed", {"allow": "GET"})
            return _answer(start_response, "200 OK", self.health())
        endpoint = self.endpoints.get(path) or self.endpoints.get(path.rstrip("/") or "/")
        if endpoint is None:
            log.info("Refused a request to %s %s: no webhook path there (404)", method, path[:80])
            if method == "POST":
                self._misdirected(environ, path[:80])
            return _answer(start_response, "404 Not Found", {"error": "not found"})
        with store_context(endpoint.name):
            try:
                return self._deliver(endpoint, environ, method, start_response)
            except Refused as refused:
                log.warning("Refused a webhook delivery: %s (%s)", refused.reason, refused.status)
                extra = {"allow": "POST"} if refused.status.startswith("405") else {}
                return _answer(start_response, refused.status, {"error": refused.reason}, extra)

    def _misdirected(self, environ: dict[str, Any], path: str) -> None:
        """A POST to a path no store has: when a store's hooks token signs it, it is that
        store's delivery sent where serve does not listen (a proxy that forwards another path
        than ``[serve] public_url``'s): said in the log, and told to that store's watch."""
        signature = environ.get("HTTP_JUMPSELLER_HMAC_SHA256", "")
        if not signature:
            return
        try:
            body = _body(environ)
        except Refused:
            return
        for endpoint in self.endpoints.values():
            if endpoint.signature_ok(body, signature):
                with store_context(endpoint.name):
                    log.warning(
                        "A delivery signed with this store's hooks token came to %s, not to "
                        "its path %s: check that the proxy forwards [serve] public_url's path "
                        "unchanged",
                        path,
                        endpoint.path,
                    )
                if endpoint.on_wrong_path is not None:
                    endpoint.on_wrong_path(path, self.clock())

    def _deliver(
        self,
        endpoint: Endpoint,
        environ: dict[str, Any],
        method: str,
        start_response: StartResponse,
    ) -> list[bytes]:
        if method != "POST":
            raise Refused("405 Method Not Allowed", f"method {method[:10]}, not POST")
        body = _body(environ)
        signature = environ.get("HTTP_JUMPSELLER_HMAC_SHA256", "")
        if not signature:
            raise Refused("401 Unauthorized", "no Jumpseller-Hmac-Sha256 signature")
        if not endpoint.signature_ok(body, signature):
            if endpoint.on_bad_signature is not None:
                endpoint.on_bad_signature(self.clock())
            raise Refused("401 Unauthorized", "wrong Jumpseller-Hmac-Sha256 signature")
        store = environ.get("HTTP_JUMPSELLER_STORE_CODE", "").strip()
        if not endpoint.store_ok(store):
            # A signed delivery for another store: its name is no secret, but keep it short.
            raise Refused(
                "403 Forbidden", f"Jumpseller-Store-Code {store[:40]!r} is not this store"
            )
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise Refused("400 Bad Request", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused("400 Bad Request", "the body is not a JSON object")
        event = environ.get("HTTP_JUMPSELLER_EVENT", "").strip()
        if event == STOCK_EVENT and endpoint.stock_events:
            subject, key = PRODUCT, "product"
        elif event in ORDER_EVENTS:
            subject, key = ORDER, "order"
        else:
            log.info("Webhook %r ignored: not an event igest-sync works on", event[:40])
            return _answer(start_response, "200 OK", {"ignored": True})
        # Jumpseller's reference wraps the body ({"order": {...}}) as GET /orders/{id}.json
        # does; its spec says its JSON "has no root element": take either.
        subject_id = _id_of(data.get(key)) if key in data else _id_of(data)
        if subject_id is None:
            raise Refused("422 Unprocessable Entity", f"{event}: no {key} id in the body")
        triggered = environ.get("HTTP_JUMPSELLER_TRIGGERED_AT", "").strip()[:40] or None
        try:
            endpoint.record(subject, subject_id, event, triggered, self.clock())
        except IgestSyncError as exc:
            # Not recorded, so not answered 2xx: Jumpseller sends it again (and the sweep
            # finds the order anyway).
            log.error("Webhook %s for %s %s not recorded: %s", event, key, subject_id, exc)
            return _answer(start_response, "503 Service Unavailable", {"error": "try again"})
        endpoint.wake()
        log.info("Webhook %s for %s %s recorded", event, key, subject_id)
        return _answer(start_response, "202 Accepted", {"recorded": True})


def _body(environ: dict[str, Any]) -> bytes:
    """The raw body, refused over MAX_BODY (announced or sent) before it is all read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("400 Bad Request", "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise Refused("413 Request Entity Too Large", f"a body of {length} bytes, over 1 MB")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    body = stream.read(length) if length else stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Refused("413 Request Entity Too Large", "a body over 1 MB")
    return bytes(body)


def _id_of(value: object) -> int | None:
    """A positive id from ``{"id": ...}`` (a number, or digits in a string)."""
    if not isinstance(value, dict):
        return None
    raw = value.get("id")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and 0 < raw < 2**63:
        return raw
    return None


def _answer(
    start_response: StartResponse,
    status: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *((k.title(), v) for k, v in (headers or {}).items()),
        ],
    )
    return [body]
