"""A run's world against the in-process sandbox (no sockets): a config for it, the two real
adapters over ``httpx.WSGITransport``, and a ledger in ``tmp_path``; the sandbox's clock is a
``FakeClock`` the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from igest_sandbox import Sandbox
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.state.ledger import Ledger
from tests.support.clock import FakeClock
from tests.support.sandbox_clients import FAST_LIMITS


@dataclass
class World:
    sb: Sandbox
    clock: FakeClock
    config: Config
    ledger: Ledger
    js: JumpsellerClient
    ig: IgestClient

    @property
    def now(self) -> datetime:
        return self.clock.wall()


@contextmanager
def world(
    tmp_path: Path, now: datetime, *, start_date: date, sandbox: dict[str, Any] | None = None,
    **invoice: Any,
) -> Iterator[World]:  # fmt: skip
    clock = FakeClock(wall=now)
    sb = Sandbox(clock=clock.wall, **FAST_LIMITS, **(sandbox or {}))
    js_creds, ig_creds = sb.credentials["jumpseller"], sb.credentials["igest"]
    settings: dict[str, Any] = {
        "link_documents": False,
        "product_exemption_code": "M07",
        "shipping_exemption_code": "M07",
        **invoice,
    }
    config = Config(
        path=tmp_path / "config.toml",
        jumpseller=JumpsellerConfig(
            js_creds["base_url"], js_creds["login"], js_creds["auth_token"], js_creds["login"]
        ),
        igest=IgestConfig(
            ig_creds["base_url"], ig_creds["integration_key"], ig_creds["security_code"]
        ),
        invoice=InvoiceConfig(start_date=start_date, **settings),
    )
    js = JumpsellerClient(
        js_creds["base_url"],
        js_creds["login"],
        js_creds["auth_token"],
        transport=httpx.WSGITransport(app=sb.jumpseller_app),
        per_second=2000,
        per_minute=200_000,
    )
    ig = IgestClient(
        ig_creds["base_url"],
        ig_creds["integration_key"],
        ig_creds["security_code"],
        transport=httpx.WSGITransport(app=sb.igest_app),
    )
    with Ledger(tmp_path / "state.sqlite3") as ledger, js, ig:
        yield World(sb, clock, config, ledger, js, ig)
