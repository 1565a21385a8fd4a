"""In-process clients of the sandbox's emulators (httpx's ``WSGITransport``: no socket, no
thread), the fast tests' limits, a sandbox on the in-process CLI's virtual clock, and iGEST
request bodies for the sandbox tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx

from igest_sandbox import Sandbox, start_sandbox
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from tests.support.clock import WALL_START, VirtualClock

# Limits far above the real ones (20/s and 800/min for Jumpseller, 10/s for iGEST) for the
# tests that do not test pacing: the sandbox advertises them in its rate-limit headers and the
# client paces to what it is told, so these tests do not wait. Pacing tests keep the defaults.
FAST_LIMITS: dict[str, Any] = {"jumpseller_limits": (2000, 200_000), "igest_limit": 2000}


def on_clock(clock: VirtualClock, *, real_day: bool = False) -> dict[str, Any]:
    """The ``Sandbox`` options that put it on ``clock``, the one the in-process CLI paces on
    (``sb.virtual_clock``): its rate limiters and holds count on it, and it lives in the clock's
    day, as the CLI then does (it reads the sandbox's wall clock), whatever today is. With
    ``real_day`` it lives in the real day, for a test that starts the CLI as a process (which
    reads the real clock; ``Cli`` refuses to start one against a sandbox in the clock's day)."""
    day = {} if real_day else {"clock": clock.wall}
    return {**day, "monotonic": clock, "sleep": clock.sleep}


@contextlib.contextmanager
def started_sandbox(
    *, clock: VirtualClock | None = None, real_day: bool = False, **options: Any
) -> Iterator[Sandbox]:
    """``start_sandbox(**options)`` ``on_clock(clock)``: by default a clock that flows with real
    time from ``WALL_START``'s day (from now with ``real_day``), its pacing's waits skipped."""
    clock = clock or VirtualClock(flowing=True, wall=None if real_day else WALL_START)
    with start_sandbox(**options, **on_clock(clock, real_day=real_day)) as sb:
        sb.virtual_clock = clock  # type: ignore[attr-defined]  (the in-process CLI's clock)
        yield sb


def body(response: httpx.Response):
    """JSON with Decimal numbers, as the adapters parse it."""
    return json.loads(response.content, parse_float=Decimal)


def jumpseller_client(sb: Sandbox, **kwargs) -> httpx.Client:
    creds = sb.credentials["jumpseller"]
    kwargs.setdefault("auth", (creds["login"], creds["auth_token"]))
    return httpx.Client(
        transport=httpx.WSGITransport(app=sb.jumpseller_app), base_url=creds["base_url"], **kwargs
    )


def igest_client(sb: Sandbox, **kwargs) -> httpx.Client:
    creds = sb.credentials["igest"]
    kwargs.setdefault(
        "headers",
        {"X-Integration-Key": creds["integration_key"], "X-Security-Code": creds["security_code"]},
    )
    return httpx.Client(
        transport=httpx.WSGITransport(app=sb.igest_app), base_url=creds["base_url"], **kwargs
    )


@contextlib.contextmanager
def adapters(sb: Sandbox, clock: Any) -> Iterator[tuple[JumpsellerClient, IgestClient]]:
    """The real adapters, in process (the emulators' WSGI apps), paced on ``clock`` (a
    ``VirtualClock``, which the sandbox's limiters should share)."""
    js, ig = sb.credentials["jumpseller"], sb.credentials["igest"]
    pacing = {"clock": clock, "sleep": clock.sleep, "wall_clock": clock.time}
    with (
        JumpsellerClient(
            js["base_url"],
            js["login"],
            js["auth_token"],
            transport=httpx.WSGITransport(app=sb.jumpseller_app),
            **pacing,
        ) as jumpseller,
        IgestClient(
            ig["base_url"],
            ig["integration_key"],
            ig["security_code"],
            transport=httpx.WSGITransport(app=sb.igest_app),
            **pacing,
        ) as igest,
    ):
        yield jumpseller, igest


def vies_client(sb: Sandbox, **kwargs) -> httpx.Client:
    return httpx.Client(
        transport=httpx.WSGITransport(app=sb.vies_app), base_url=sb.vies_base_url, **kwargs
    )


def draft(**changes) -> dict:
    document = {
        "type": "FR",
        "series": "A",
        "date": "2026-11-27",
        "external_reference": "jumpseller:lojadoazulejo:10011",
        "customer": {"name": "Tiago Sousa", "email": "tiago@example.pt"},
        "lines": [
            {
                "reference": "CAN-AZU",
                "description": "Caneca de grés - Azul",
                "quantity": "3",
                "unit_price": "9.99",
                "discount_percent": "0",
                "vat_rate": "23.00",
                "exemption_code": None,
            }
        ],
        "currency": "EUR",
        "prices_include_vat": True,
        "payment_method": "CC",
        "warehouse": "ARM1",
        "move_stock": True,
        "notes": None,
        "related_document": None,
    }
    document.update(changes)
    return document


def line(reference="AZT-500", quantity="1", unit_price="8.75", rate="6.00", **more) -> dict:
    return {
        "reference": reference,
        "description": reference,
        "quantity": quantity,
        "unit_price": unit_price,
        "discount_percent": more.pop("discount", "0"),
        "vat_rate": rate,
        "exemption_code": more.pop("exemption_code", None),
        **more,
    }
