"""Helpers shared by the sandbox tests (a uniquely named module, not conftest)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx

from igest_sync.sandbox import Sandbox


class FakeClock:
    """The sandbox clock, frozen at 2026-11-27 12:00 UTC unless a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def body(response: httpx.Response):
    """JSON with Decimal numbers, as the adapters parse it."""
    return json.loads(response.content, parse_float=Decimal)


def jumpseller_client(sb: Sandbox, **kwargs) -> httpx.Client:
    creds = sb.credentials["jumpseller"]
    kwargs.setdefault("auth", (creds["login"], creds["auth_token"]))
    return httpx.Client(transport=httpx.WSGITransport(app=sb.jumpseller_app),
                        base_url=creds["base_url"], **kwargs)


def igest_client(sb: Sandbox, **kwargs) -> httpx.Client:
    creds = sb.credentials["igest"]
    kwargs.setdefault("headers", {"X-Integration-Key": creds["integration_key"],
                                  "X-Security-Code": creds["security_code"]})
    return httpx.Client(transport=httpx.WSGITransport(app=sb.igest_app),
                        base_url=creds["base_url"], **kwargs)
