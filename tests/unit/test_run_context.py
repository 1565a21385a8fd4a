"""The run context: built in one place, one clock read once per run, the wiring written once,
the VIES client from the context (opened at its first check)."""

from __future__ import annotations

import ast
import functools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from igest_sync.adapters import vies as vies_adapter
from igest_sync.cli.composition import make_vies
from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig, ViesConfig
from igest_sync.models import ViesCheck, ViesStatus
from igest_sync.runs.context import RunContext, ViesOnDemand
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.clock import FakeClock
from tests.support.fakes import FakeIgest, FakeJumpseller

SRC = Path(__file__).resolve().parents[2] / "src" / "igest_sync"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def config(**invoice: object) -> Config:
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("https://js.test/v1", "shop", "token", "loja"),
        igest=IgestConfig("https://ig.test", "key", "code"),
        invoice=InvoiceConfig(start_date=date(2026, 11, 1), **invoice),  # type: ignore[arg-type]
        vies=ViesConfig("https://vies.test/rest-api"),
    )


class RecordingVies:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def check(self, vat_number: str, *, requester: str, today: date) -> ViesCheck:
        self.asked.append(vat_number)
        return ViesCheck(vat_number[:2], vat_number[2:], ViesStatus.VALID, today)


def test_the_context_carries_the_sections_a_run_needs_not_the_config(tmp_path):
    with Ledger(tmp_path / "s.db") as ledger:
        vies = RecordingVies()
        ctx = RunContext.build(
            config(concurrency=3), ledger, FakeJumpseller(), FakeIgest(), vies=vies, now=NOW
        )
    assert ctx.settings.concurrency == ctx.workers == 3
    assert ctx.store == "loja"
    assert ctx.vies is vies
    assert ctx.now() == NOW
    assert not any(isinstance(getattr(ctx, f), Config) for f in ctx.__dataclass_fields__)
    with pytest.raises(AttributeError):
        ctx.store = "other"  # type: ignore[misc]  # frozen


def test_a_run_reads_the_context_clock_once_as_it_starts(tmp_path):
    clock = FakeClock(wall=NOW)
    with Ledger(tmp_path / "s.db") as ledger:
        run = InvoiceRun.build(config(), ledger, FakeJumpseller(), FakeIgest(), now=clock.wall)
        clock.advance(hours=1)
        assert run.now == NOW
        assert run.followup.now == NOW
        assert run.issuer.today == NOW.date()
        # One issuer, shared by the credit pass: the wiring is one object graph.
        assert run.credits.issuer is run.issuer
        assert run.credits.followup is run.followup
        assert run.context.now() == NOW + timedelta(hours=1)


def test_the_issuer_asks_the_context_vies_client(tmp_path):
    vies = RecordingVies()
    with Ledger(tmp_path / "s.db") as ledger:
        run = InvoiceRun.build(config(), ledger, FakeJumpseller(), FakeIgest(), vies=vies, now=NOW)
    assert run.issuer.intra_eu.vies is vies


def test_vies_is_opened_at_its_first_check_only(monkeypatch):
    opened: list[str] = []

    class FakeClient(RecordingVies):
        def __init__(self, base_url: str) -> None:
            super().__init__()
            opened.append(base_url)
            self.closed = False

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(vies_adapter, "ViesClient", FakeClient)
    with make_vies(config()) as lazy:
        assert isinstance(lazy, ViesOnDemand)
        assert opened == []  # a run without an intra-EU order opens no VIES client
        check = lazy.check("ESB12345674", requester="PT123", today=NOW.date())
        lazy.check("ESB12345674", requester="PT123", today=NOW.date())
        client = lazy._client
    assert check.status == ViesStatus.VALID
    assert opened == ["https://vies.test/rest-api"]  # one client for the run
    assert isinstance(client, FakeClient) and client.closed


@functools.cache
def _calls() -> dict[str, frozenset[str]]:
    """Each module of the client, and the names its code calls (parsed once for all tests)."""
    calls = {}
    for path in SRC.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", None))
        calls[path.relative_to(SRC).as_posix()] = frozenset(n for n in names if n)
    return calls


def _constructions(name: str) -> list[str]:
    """The modules of the client whose code calls ``name(...)``."""
    return sorted(module for module, names in _calls().items() if name in names)


def test_the_wiring_is_written_once():
    assert _constructions("Issuer") == ["runs/wiring.py"]
    assert _constructions("FollowUp") == ["runs/wiring.py"]
    assert _constructions("Credits") == ["runs/wiring.py"]


def test_only_the_composition_root_makes_the_vies_client():
    assert _constructions("ViesClient") == ["runs/context.py"]
    assert _constructions("ViesOnDemand") == ["cli/composition.py", "runs/context.py"]
    assert _constructions("IntraEuCheck") == ["runs/invoicing/issuer.py"]
