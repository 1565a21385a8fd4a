"""Invoice dates when a run crosses Lisbon's midnight, against the in-process sandbox, whose iGEST
refuses to finalize a document dated before the last final one of its series."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import pytest

from igest_sync.models import Action
from igest_sync.runs import parallel
from igest_sync.runs.invoicing.invoice import InvoiceRun
from tests.support.inprocess_world import World, world

# 23:59:30 in Lisbon (summer time, UTC+1) on 15 July.
START = datetime(2026, 7, 15, 22, 59, 30, tzinfo=UTC)
LINE = [{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}]


class LastFirst:
    """A pool that works its steps one at a time, the last first, and gives the results in the
    steps' order: the order parallel workers finish in when the last step is the quickest."""

    def __init__(self, max_workers: int) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def map(self, fn: Callable[[Any], Any], steps: Iterable[Any]) -> Iterator[Any]:
        return iter([fn(step) for step in reversed(list(steps))][::-1])


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(
        tmp_path, START, start_date=date(2026, 7, 1), sandbox={"seed": False}, concurrency=4
    ) as current:
        yield current


def test_an_order_paid_after_midnight_is_issued_after_those_of_the_day_the_run_began(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run began at 23:59:30; while it listed, midnight passed and one more order was paid.
    # That one is dated the 16th, its payment day. Its document, finalized before the 15th's
    # that were still on their way, made iGEST refuse those for good: "2026-07-15 is earlier
    # than the last finalized FR of series A (2026-07-16)", sales left failed until a person
    # resent them, with their drafts behind.
    before = [
        w.sb.store.add_order(
            lines=LINE, created_at=START - timedelta(minutes=20 - i), completed_at=START
        )
        for i in range(3)
    ]
    after = w.sb.store.add_order(
        lines=LINE,
        created_at=START,
        completed_at=datetime(2026, 7, 15, 23, 0, 10, tzinfo=UTC),
    )
    run = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall)
    w.clock.advance(minutes=1)  # the listing's minute
    monkeypatch.setattr(parallel, "ThreadPoolExecutor", LastFirst)
    report = run.run()
    assert {o.key: o.action for o in report.outcomes} == {
        str(order): Action.ISSUED for order in [*before, after]
    }
    finals = w.sb.igest.final_documents_by_reference()
    dated = {ref.rsplit(":", 1)[1]: [d["date"] for d in docs] for ref, docs in finals.items()}
    assert dated == {
        **{str(order): ["2026-07-15"] for order in before},
        str(after): ["2026-07-16"],
    }
    assert [d for d in w.sb.igest.documents if d["status"] == "draft"] == []
