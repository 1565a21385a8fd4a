"""Credit notes exactly once per request, under lost answers, kills and overlapping runs.

iGEST processes a draft or a finalize (of an invoice or of an NC) and the answer is lost on the way
back (``after=True``: a proxy's 502, a timeout); commands are SIGKILLed at a random request;
``invoice`` (with its credit pass), ``credit`` and ``reconcile --fix`` are started side by side (the
run lock lets one through, the others exit 3). Every request is retried as a person would: the same
command again until it ends with exit 0. At the end each request has exactly one NC (two for the one
asked ``--again``), no line is credited beyond the invoice, no draft is left behind, and every
invoice is issued once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sandbox import Sandbox
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.timeutil import lisbon_date

from .conftest import DRAFT_POST, FINALIZE_POST, add_paid_orders, make_cli, soak

LOCKED = 3


@dataclass
class Ask:
    """One request a person makes with ``credit``, and what became of it."""

    order_id: int
    spec: str  # --line SKU:QTY
    reason: str
    again: bool = False
    done: bool = False

    def args(self) -> list[str]:
        args = ["credit", str(self.order_id), "--reason", self.reason, "--line", self.spec]
        return args + (["--again"] if self.again else []) + ["--yes"]

    def reference(self, store: str, occurrence: int) -> str:
        request = CreditRequest.parse([self.spec])
        return RequestIdentity.of(self.order_id, request, self.reason).reference(store, occurrence)


def _lose_answers(sb: Sandbox, rng: random.Random) -> None:
    """Answers lost after iGEST processed the request, for drafts and finalizes alike."""
    for path in (DRAFT_POST, FINALIZE_POST):
        for nth in sorted(rng.sample(range(1, 7), 4)):
            kind = rng.choice(["502", "reset"])
            sb.faults.add(service="igest", kind=kind, method="POST", path=path, nth=nth, after=True)


def _round(cli, sb: Sandbox, commands: list[list[str]], kill_at: int | None) -> list[int | None]:
    """Start the commands together (forked, so within milliseconds); with ``kill_at``, kill
    every one still running when the sandbox has seen ``kill_at`` requests since the start.
    The run lock lets one command work at a time, so that is the ``kill_at``-th request of the
    one that works: the kill lands mid-run, at the same point on a fast and a busy machine.
    None: killed."""
    seen = len(sb.requests())
    processes = [cli.start(*args) for args in commands]
    killed = set()
    if kill_at is not None:
        deadline = time.monotonic() + 60
        while (
            len(sb.requests()) - seen < kill_at
            and any(p.poll() is None for p in processes)
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        for i, p in enumerate(processes):
            if p.poll() is None:
                p.kill()
                killed.add(i)
    codes: list[int | None] = []
    for i, p in enumerate(processes):
        code = p.wait(timeout=60)
        p.communicate()
        codes.append(None if i in killed and code < 0 else code)
    return codes


@pytest.mark.slow(15)
@pytest.mark.real_day
def test_lost_answers_kills_and_overlaps_never_credit_a_request_twice(sb: Sandbox, tmp_path: Path):
    rng = random.Random(18)
    cli = make_cli(sb, tmp_path, invoice={"concurrency": 1})
    orders = add_paid_orders(sb, 4)  # CAN-AZU x1, x2, x3, x4
    assert cli("invoice").code == 0
    _lose_answers(sb, rng)
    asks = [
        Ask(orders[1], "CAN-AZU:1", "Devolução"),
        Ask(orders[2], "CAN-AZU:1", "Partiu no transporte"),
        Ask(orders[2], "CAN-AZU:2", "Devolução"),
        Ask(orders[3], "CAN-AZU:1", "Devolução"),
    ]
    again = Ask(orders[3], "CAN-AZU:1", "Devolução", again=True)
    sb.store.cancel_order(orders[0])  # the credit pass credits it
    add_paid_orders(sb, 1)  # an invoice issued under the same lost answers
    # Real processes on real time: the day is Lisbon's, as the runs date what they issue (in
    # summer, UTC's day is still yesterday for an hour after Lisbon's midnight).
    today = lisbon_date(datetime.now(UTC)).isoformat()
    others = [["invoice"], ["reconcile", "--from", today, "--to", today, "--fix"]]
    killed = 0
    # Rounds until every request is done: each lets one command through the lock, so how
    # many it takes depends on which one wins; the bound only stops a run that never ends.
    for round_ in range(60):
        pending = [a for a in asks if not a.done]
        if not pending:
            break
        # Within one order a person asks one thing at a time; the --again after the first.
        one_each = list({a.order_id: a for a in reversed(pending)}.values())
        # A kill in the first two rounds, then in 40 % of them: at the 1st to 4th request.
        kill_at = rng.randint(1, 4) if round_ < 2 or rng.random() < 0.4 else None
        codes = _round(cli, sb, [a.args() for a in one_each] + others, kill_at)
        killed += codes.count(None)
        for ask, code in zip(one_each, codes, strict=False):
            ask.done = code == 0
            assert code in (0, 1, LOCKED, None), (ask, code)
            if ask.done and ask is asks[3] and again not in asks:
                asks.append(again)  # another unit came back, for the same reason
    assert all(a.done for a in asks), [a for a in asks if not a.done]
    assert killed >= 2  # the kills did land
    lost = sum(rule.fired for rule in sb.faults.rules)
    assert lost >= 3, lost  # and so did the lost answers, drafts and finalizes
    # Let everything unfinished settle: the runs that would follow under cron.
    sb.faults.clear()
    for _ in range(3):
        assert cli("invoice").code in (0, 1)
    # A person unsure of the outcome asks each again: its NC is named, nothing is issued.
    before = len([d for d in sb.igest.documents if d["type"] == "NC"])
    for ask in asks:
        ask.again = False
        result = cli(*ask.args())
        assert result.code == 0 and "already issued: NC A/" in result.stdout, result
    assert len([d for d in sb.igest.documents if d["type"] == "NC"]) == before

    store = sb.credentials["jumpseller"]["login"]
    finals = sb.igest.final_documents_by_reference()
    per_ref = Counter({ref: len(docs) for ref, docs in finals.items() if ":credit" in ref})
    assert all(n == 1 for n in per_ref.values()), per_ref  # never two NCs for one reference
    # One NC per request, and one for the cancelled order: nothing under another reference.
    assert sum(per_ref.values()) == len(asks) + 1, per_ref
    for ask in asks[:4]:
        assert per_ref[ask.reference(store, 1)] == 1, ask
    assert per_ref[again.reference(store, 2)] == 1 and again.reference(store, 3) not in per_ref
    # The cancelled order is credited in full, once.
    cancelled = [
        d
        for ref, docs in finals.items()
        if ref.startswith(f"jumpseller:{store}:{orders[0]}:credit")
        for d in docs
    ]
    [invoice0] = finals[f"jumpseller:{store}:{orders[0]}"]
    assert sum(Decimal(str(d["gross_total"])) for d in cancelled) == Decimal(
        str(invoice0["gross_total"])
    )
    # No line is credited beyond its invoice.
    for order_id in orders:
        [invoice] = finals[f"jumpseller:{store}:{order_id}"]
        invoiced = Counter()
        for line in invoice["lines"]:
            invoiced[line["reference"]] += Decimal(str(line["quantity"]))
        credited = Counter()
        for ref, docs in finals.items():
            if ref.startswith(f"jumpseller:{store}:{order_id}:credit"):
                for d in docs:
                    for line in d["lines"]:
                        credited[line["reference"]] += Decimal(str(line["quantity"]))
        assert all(credited[r] <= invoiced[r] for r in credited), (order_id, credited)
    assert [d for d in sb.igest.documents if d["status"] == "draft"] == []
    audit = soak.audit(sb)  # the invoices: once each (the cancelled order's is "unexpected")
    assert audit.duplicates == [] and audit.missing == [] and audit.stray_drafts == []
    assert audit.wrong_totals == []
    assert audit.unexpected == [f"jumpseller:{store}:{orders[0]}"], audit.unexpected
    failed = cli.status()["failed"]
    assert failed == [], failed
