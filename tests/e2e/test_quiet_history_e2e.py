"""The requests of a quiet ``invoice`` run, counted by the sandbox, through the real adapters:
the same on a store with years of history (its cancelled orders listed over many pages) as on
a new store. In process (httpx's WSGI transport), on a fixed clock; counts, never time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from igest_sandbox import Sandbox
from igest_sandbox.jumpseller.common import wire_time
from igest_sandbox.jumpseller.orders import make_order
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.models import Kind
from igest_sync.references import external_reference
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.fakes import FakeIgest
from tests.support.sandbox_clients import FAST_LIMITS

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
YEARS = timedelta(days=3 * 365)
LINE = [{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "rate": 23}]


def store_with_history(orders: int, tmp: Path) -> tuple[Sandbox, Ledger]:
    """``orders`` orders over three years (3 in 10 cancelled unpaid), and the ledger complete
    runs left: every order recorded, each paid one invoiced."""
    sb = Sandbox(seed=False, clock=lambda: NOW, **FAST_LIMITS)
    ledger = Ledger(tmp / f"state-{orders}.sqlite3")
    code = sb.credentials["jumpseller"]["login"]
    template = make_order(1, LINE, created_at=NOW, completed_at=NOW)
    held = FakeIgest()  # only to make the ledger's document records
    step = YEARS / orders
    for n in range(orders):
        created = NOW - YEARS + step * n
        cancelled = n % 10 in (0, 3, 6)
        raw = dict(template, id=1000 + n, created_at=wire_time(created))
        raw["completed_at"] = None if cancelled else wire_time(created + timedelta(minutes=20))
        raw["status_enum"] = "canceled" if cancelled else "paid"
        sb.store.add_order(raw)
    client = jumpseller(sb)
    for order in client.orders_created_between((NOW - YEARS).date(), NOW.date()):
        record_order(ledger, order)
        if order.status == "paid":
            reference = external_reference(code, order.id)
            ledger.ensure_work(order.id, Kind.INVOICE, reference)
            doc = held.hold(reference, day=order.created_at.date())
            ledger.record_final(order.id, Kind.INVOICE, doc, email=False)
    ledger.complete_listing(1000 + orders - 1)
    ledger.set_meta("store_name_at", NOW.isoformat())
    ledger.set_meta("gap_check_at", NOW.isoformat())
    return sb, ledger


def jumpseller(sb: Sandbox) -> JumpsellerClient:
    creds = sb.credentials["jumpseller"]
    return JumpsellerClient(
        creds["base_url"],
        creds["login"],
        creds["auth_token"],
        transport=httpx.WSGITransport(app=sb.jumpseller_app),
    )


def quiet_requests(sb: Sandbox, ledger: Ledger) -> dict[str, int]:
    creds = sb.credentials["igest"]
    igest = IgestClient(
        creds["base_url"],
        creds["integration_key"],
        creds["security_code"],
        transport=httpx.WSGITransport(app=sb.igest_app),
    )
    config = Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig(
            "https://js.test/v1", "x", "x", sb.credentials["jumpseller"]["login"]
        ),
        igest=IgestConfig(creds["base_url"], "x", "x"),
        invoice=InvoiceConfig(start_date=(NOW - YEARS).date(), link_documents=False),
    )
    sb.reset_stats()
    report = InvoiceRun.build(config, ledger, jumpseller(sb), igest, now=NOW).run()
    assert report.outcomes == [] and report.notices == [] and report.exit_code == 0
    stats = sb.stats()
    return {service: stats[service]["requests"] for service in ("jumpseller", "igest")}


@pytest.mark.slow(8)
def test_a_quiet_run_costs_three_requests_on_three_years_as_on_a_new_store(tmp_path):
    counts = []
    for orders in (10, 4000):  # 1,200 cancelled: a listing of 13 pages
        sb, ledger = store_with_history(orders, tmp_path)
        with ledger:
            counts.append(quiet_requests(sb, ledger))
            counts.append(quiet_requests(sb, ledger))
    # New orders after the checkpoint, the count of the cancelled orders, a chunk of the sweep.
    assert counts == [{"jumpseller": 3, "igest": 0}] * 4
