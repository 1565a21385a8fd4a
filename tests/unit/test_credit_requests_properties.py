"""Property test: any sequence of credit requests, retries, ``--again``, kills, lost answers,
lost state files and credit passes never issues two NCs for one request nor credits more than
the invoice; once the faults stop, repeating each request names its NC and issues nothing.

Against the in-memory fakes (tests/support/fakes.py): milliseconds per sequence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from igest_sync.config import Config
from igest_sync.errors import UsageError
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.models import Action, OrderLine, Tax
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.issuer import Issuer
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.wiring import credit_run
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

D = Decimal
STORE = "loja"
ORDER = 10452
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VAT = (Tax("IVA 23", D(23), False, True),)
# What a person asks: (--line, reason); some alike but for their spelling.
REQUESTS = [
    ("SKU-1:1", "Partiu"),
    ("SKU-2", "Devolução"),
    ("SKU-1:1", "devolução."),
    ("SKU-1:2", "x"),
]
STEPS = ["request", "drafted", "finalize", "record"]


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the runs catches it."""


def order(status: str = "paid"):
    lines = (
        OrderLine(101, None, "SKU-1", "Caneca", D(3), D("10.00"), D(0), VAT),
        OrderLine(102, None, "SKU-2", "Prato", D(1), D("5.00"), D(0), VAT),
    )
    return replace(paid_order(ORDER, "35.00", status=status), lines=lines)


@dataclass(frozen=True)
class Op:
    what: str  # credit | again | pass | lose_ledger
    request: int
    fault: str | None  # lost:create | lost:finalize | blind (lookups fail too) | kill:<step>


ops = st.lists(
    st.builds(
        Op,
        st.sampled_from(["credit", "credit", "credit", "again", "pass", "lose_ledger"]),
        st.integers(0, len(REQUESTS) - 1),
        st.sampled_from(
            [None, None, "lost:create", "lost:finalize", "blind", *(f"kill:{s}" for s in STEPS)]
        ),
    ),
    min_size=1,
    max_size=8,
)


def config() -> Config:
    return fake_config(store=STORE, login="login", link_documents=False)


def final_ncs(igest: FakeIgest) -> list:
    return [d for d in igest.finals() if d.type == "NC"]


@given(ops)
def test_no_sequence_credits_a_request_twice_or_beyond_the_invoice(sequence):
    cfg = config()
    igest, js = FakeIgest(), FakeJumpseller(orders=[order()])
    ledgers = [Ledger(Path(":memory:"))]
    try:
        assert (
            Issuer(RunContext.build(cfg, ledgers[0], FakeJumpseller(), igest), today=NOW.date())
            .issue(order())
            .action
            == "issued"
        )
        agains: Counter[str] = Counter()  # --again asked, per request identity
        for op in sequence:
            ledger = ledgers[-1]
            spec, reason = REQUESTS[op.request]
            identity = RequestIdentity.of(ORDER, CreditRequest.parse([spec]), reason)

            def hook(step: str, op: Op = op) -> None:
                if op.fault == "kill:" + step:
                    raise Killed(step)
                if op.fault and op.fault.startswith("lost:") and step in ("request", "finalize"):
                    method = "create_document" if step == "request" else "finalize_document"
                    if op.fault.endswith(method.split("_")[0]):
                        igest.faults.add(method, "timeout", after=True)
                if op.fault == "blind" and step == "request":
                    igest.faults.add("create_document", "timeout", after=True)
                    igest.faults.add("find_documents", "5xx", times=3)

            credits = credit_run(cfg, ledger, js, igest, now=NOW, crash_hook=hook)
            try:
                if op.what in ("credit", "again"):
                    agains[identity.what + identity.reason] += op.what == "again"
                    credits.credit(
                        ORDER,
                        CreditRequest.parse([spec]),
                        reason,
                        again=op.what == "again",
                        confirm=lambda plan: True,
                    )
                elif op.what == "pass":
                    js.add(order("canceled"))
                    credits.credit_cancelled(InvoiceReport())
                else:
                    ledgers.append(Ledger(Path(":memory:")))
            except (Killed, UsageError):
                pass  # killed midway / another request is unfinished: a person retries
            igest.faults.clear()
            _check(igest, agains)
        # The faults stop: the next runs finish what is unfinished, and a person repeating
        # any request that has an NC is told so; nothing more is issued (but an interrupted
        # --again of it, which this finishes: within the bound that _check keeps).
        final = credit_run(cfg, ledgers[-1], js, igest, now=NOW)
        final.credit_cancelled(InvoiceReport())
        for spec, reason in REQUESTS:
            identity = RequestIdentity.of(ORDER, CreditRequest.parse([spec]), reason)
            own = [n for n in final_ncs(igest) if _of(n, identity)]
            before = len(final_ncs(igest))
            try:
                report = final.credit(
                    ORDER, CreditRequest.parse([spec]), reason, confirm=lambda plan: True
                )
            except UsageError:
                continue  # another request is unfinished (refused by iGEST for a person)
            key = identity.what + identity.reason
            if own and not agains[key]:
                assert report.outcome.action in (Action.ALREADY, Action.ADOPTED), report
                # Reported, or (an earlier run's attempt left unfinished) finished by this one.
                detail = report.outcome.detail
                assert detail.startswith("already issued: ") or (
                    detail.startswith("finished ") and detail.endswith("nothing issued twice")
                ), detail
                assert len(final_ncs(igest)) == before
            _check(igest, agains)
        assert [d for d in igest.documents.values() if d.status == "draft"] == []
    finally:
        for ledger in ledgers:
            ledger.close()


def _of(note, identity: RequestIdentity) -> bool:
    return any(note.external_reference == identity.reference(STORE, n) for n in range(1, 9))


def _check(igest: FakeIgest, agains: Counter[str]) -> None:
    notes = final_ncs(igest)
    refs = Counter(n.external_reference for n in notes)
    assert all(count == 1 for count in refs.values()), refs  # one NC per reference
    credited: Counter[str] = Counter()
    for note in notes:
        for line in note.lines:
            credited[line.reference] += line.quantity
    assert credited["SKU-1"] <= 3 and credited["SKU-2"] <= 1, credited  # never beyond it
    for spec, reason in REQUESTS:
        identity = RequestIdentity.of(ORDER, CreditRequest.parse([spec]), reason)
        own = [n for n in notes if _of(n, identity)]
        # One NC per request, and at most one more per --again asked.
        assert len(own) <= 1 + agains[identity.what + identity.reason], (spec, reason, own)
