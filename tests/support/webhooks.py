"""Signed Jumpseller webhook deliveries, and a `serve` process to send them to (e2e tests)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import httpx

HOOKS_TOKEN = "hooks-token-for-tests-5f2a"
HOOK_PATH = "/webhooks/jumpseller"
TRIGGERED_AT = "2026-11-20 14:03:11.829 UTC"


def sign(body: bytes, token: str = HOOKS_TOKEN) -> str:
    """Jumpseller-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body, keyed with the token."""
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    order_id: int | None,
    store: str,
    event: str = "order_paid",
    *,
    token: str = HOOKS_TOKEN,
    order: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery's body and headers as Jumpseller sends them (body: the order's JSON)."""
    payload = {"order": order if order is not None else {"id": order_id, "status": "Paid"}}
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "Jumpseller-Store-Code": store,
        "Jumpseller-Event": event,
        "Jumpseller-Triggered-At": TRIGGERED_AT,
        "Jumpseller-Hmac-Sha256": sign(body, token),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.cache
def loopback() -> httpx.Client:
    """One HTTP client for every request a test sends to serve: a new client per request
    (``httpx.post``) builds a TLS context each time, 40 ms of CPU, and the waits below poll
    every 50 ms. No kept-alive connection: a test restarts serve on the same port."""
    return httpx.Client(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))


@dataclass
class Served:
    """A running `igest-sync serve` process and where it listens."""

    proc: subprocess.Popen
    base_url: str
    path: str = HOOK_PATH

    def post(self, order_id: int, store: str, event: str = "order_paid", **kw: Any):
        body, headers = delivery(order_id, store, event, **kw)
        return loopback().post(self.base_url + self.path, content=body, headers=headers, timeout=15)

    def health(self) -> dict:
        return loopback().get(self.base_url + "/healthz", timeout=5).json()

    def stop(self, timeout: float = 30) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def wait_until_serving(proc: Any, base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"serve exited {proc.returncode}: {out}\n{err}")
        try:
            if loopback().get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not answer /healthz in time")


def wait_for(predicate, timeout: float = 60, what: str = "the condition") -> None:
    """Poll until ``predicate()``: the bound only ends a test that would never pass (a busy
    machine may take several times the usual), it is not a timing claim."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_serve(cli: Any, port: int, *args: str) -> Served:
    """`igest-sync serve` as a process of its own: forked from the warm parent where it can be
    (the parent runs no thread; serve starts its own in the child), else a new interpreter."""
    proc = cli.start("serve", *args)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, base)
    return Served(proc, base)


def one_final_per_order(sb: Any) -> dict[str, int]:
    """Final documents by external reference (invoices only): each must be 1."""
    return {
        ref: len(docs)
        for ref, docs in sb.igest.final_documents_by_reference().items()
        if ":credit" not in ref
    }


def paid_order_ids(sb: Any) -> list[int]:
    with sb.store.lock:
        return [i for i, o in sb.store.orders.items() if o["status_enum"] == "paid"]


def add_order(sb: Any, qty: int = 1, status: str = "paid") -> int:
    return sb.store.add_order(
        lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": qty, "rate": 23}],
        shipping="3.90",
        status=status,
    )
