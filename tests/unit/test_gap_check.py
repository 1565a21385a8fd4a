"""The daily gap check: a paid order without a document is noticed, whatever let it through,
becomes a failure that ``status``, the alerts and the digest show, and the next run issues it
exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from igest_sync.alerts.digest import build_digest, digest_lines
from igest_sync.alerts.events import notice_events
from igest_sync.config import Config
from igest_sync.models import Action, Kind, WorkState
from igest_sync.references import external_reference
from igest_sync.runs.invoicing.gapcheck import LAST_CHECK
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.setup.status import STORE_NAME_AT
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
STORE = "loja"


def config(**invoice: object) -> Config:
    settings = {"start_date": date(2026, 11, 1), "concurrency": 1} | invoice
    return fake_config(store=STORE, login="login", link_documents=False, **settings)


def run(ledger, js, igest, now: datetime, cfg: Config | None = None):
    for fake in (js, igest):
        fake.calls.clear()
        fake.log.clear()
    return InvoiceRun.build(cfg or config(), ledger, js, igest, now=now).run()


def synced(ledger: Ledger) -> tuple[FakeJumpseller, FakeIgest]:
    """A store whose orders of the last days are invoiced by a first run."""
    js, igest = FakeJumpseller(), FakeIgest()
    for n in range(1, 6):
        at = NOW - timedelta(days=2, hours=n)
        js.add(paid_order(n, created_at=at, paid_at=at))
    run(ledger, js, igest, NOW)
    ledger.set_meta(STORE_NAME_AT, NOW.isoformat())
    return js, igest


def paid_listings(js: FakeJumpseller) -> list:
    """The gap check's listings (the cancellation sweep lists cancelled orders)."""
    return [a for a in js.called("orders_created_between") if a[2] == "paid"]


def lose_from_the_ledger(ledger: Ledger, order_id: int) -> None:
    """As if the order had never been seen (a ledger put back from an older copy)."""
    ledger.db.write("DELETE FROM work WHERE order_id=?", (order_id,))
    ledger.db.write("DELETE FROM documents WHERE order_id=?", (order_id,))
    ledger.db.write("DELETE FROM orders WHERE order_id=?", (order_id,))


def test_a_paid_order_without_a_document_is_found_shown_alerted_counted_then_issued_once():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)
        # An order the listings passed by without recording it (id below the checkpoint).
        skipped_at = NOW - timedelta(days=1)
        js.add(paid_order(35, created_at=skipped_at, paid_at=skipped_at))
        ledger.complete_listing(40)
        day = NOW + timedelta(days=1)
        report = run(ledger, js, igest, day)
        [outcome] = report.outcomes
        assert outcome.key == "35" and outcome.action == Action.FAILED
        assert "paid on 2026-11-19 but no document was found" in outcome.detail
        assert "the next run issues it" in outcome.detail
        assert report.exit_code == 1  # a run that leaves a paid order unissued is not a success
        work = ledger.work(35)
        assert work is not None and work.state == WorkState.FAILED and work.transient
        assert igest.finals(external_reference(STORE, 35)) == []
        # The alert: the run's notice names the order (sent once through the alerts outbox).
        [notice] = report.notices
        [event] = notice_events([notice])
        assert event.order_id == 35
        # The digest counts it.
        digest = build_digest(ledger, NOW, day + timedelta(hours=1), now=day)
        assert digest.gaps_found == [35]
        assert any(
            "found without a document by the gap check: 1" in line for line in digest_lines(digest)
        )
        # Cost: one page of paid orders, one page of documents.
        assert len(paid_listings(js)) == 1
        assert igest.calls.count("find_documents") == 1
        # The next run issues it, once, after looking it up.
        later = run(ledger, js, igest, day + timedelta(minutes=10))
        assert [(o.key, o.action) for o in later.outcomes] == [("35", Action.ISSUED)]
        assert igest.calls == ["find_documents", "create_document", "finalize_document"]
        # (looked up by the catch-up listing of the days since it was paid)
        assert igest.called("find_documents") == [{"date_from": date(2026, 11, 19)}]
        assert len(igest.finals(external_reference(STORE, 35))) == 1
        assert run(ledger, js, igest, day + timedelta(minutes=20)).outcomes == []
        assert len(igest.finals(external_reference(STORE, 35))) == 1


def test_a_ledger_that_lost_an_issued_order_adopts_it_without_a_failure():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)
        lose_from_the_ledger(ledger, 2)  # iGEST still holds its invoice
        report = run(ledger, js, igest, NOW + timedelta(days=1))
        assert report.outcomes == [] and report.exit_code == 0
        assert ledger.work(2) is None
        assert len(igest.finals(external_reference(STORE, 2))) == 1


def test_the_check_runs_once_a_day_and_costs_nothing_on_the_other_runs():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)  # the first run rebuilt: that counts as the day's check
        assert ledger.get_meta(LAST_CHECK) == NOW.isoformat(timespec="seconds")
        for minutes in (10, 600, 1430):
            run(ledger, js, igest, NOW + timedelta(minutes=minutes))
            assert paid_listings(js) == [] and igest.calls == []
        run(ledger, js, igest, NOW + timedelta(hours=24))
        assert len(paid_listings(js)) == 1
        # Every order has its document in the ledger and in iGEST: one listing of documents.
        assert igest.calls == ["find_documents"]


def test_orders_in_progress_before_start_or_from_the_till_are_not_gaps():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)
        day = NOW + timedelta(days=1)
        js.add(paid_order(20, created_at=day - timedelta(minutes=30), paid_at=day))  # just paid
        js.add(paid_order(21, created_at=NOW, paid_at=NOW, source="pos"))  # the till's
        js.add(paid_order(99, created_at=NOW, paid_at=NOW))  # after the checkpoint: listed next
        ledger.complete_listing(21)
        report = run(ledger, js, igest, day, cfg=config())
        assert [o for o in report.outcomes if o.action == Action.FAILED] == []
        assert ledger.work(20) is None and ledger.work(21) is None
        assert ledger.work(99) is not None and ledger.work(99).kind == Kind.INVOICE


def test_resend_issues_a_gap_once_after_looking_it_up():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)
        lose_from_the_ledger(ledger, 3)
        reference = external_reference(STORE, 3)
        [held] = igest.finals(reference)
        del igest.documents[held.id]  # and iGEST has nothing for it either: a real gap
        day = NOW + timedelta(days=1)
        assert [o.key for o in run(ledger, js, igest, day).outcomes] == ["3"]
        report = InvoiceRun.build(config(), ledger, js, igest, now=day).resend([], all_failed=True)
        assert [(o.key, o.action) for o in report.outcomes] == [("3", Action.ISSUED)]
        assert len(igest.finals(reference)) == 1
        assert run(ledger, js, igest, day + timedelta(minutes=10)).outcomes == []
        assert len(igest.finals(reference)) == 1


def test_the_gap_is_alerted_once_through_the_outbox(tmp_path, chat):
    from igest_sync.alerts import dispatch
    from igest_sync.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(
        '[jumpseller]\nbase_url = "https://api.jumpseller.com/v1"\nlogin = "loja"\n'
        'auth_token = "t"\n[igest]\nbase_url = "https://igest.example.pt/api/v1"\n'
        'integration_key = "k"\nsecurity_code = "c"\n[invoice]\nstart_date = 2026-11-01\n'
        f'[alerts]\nwebhook_url = "{chat.url}"\nwebhook_format = "json"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    alerts, _ = load_config(path, env={})
    with Ledger(tmp_path / "state.sqlite3") as ledger:
        js, igest = synced(ledger)
        lose_from_the_ledger(ledger, 4)
        del igest.documents[igest.finals(external_reference(STORE, 4))[0].id]
        day = NOW + timedelta(days=1)
        found = run(ledger, js, igest, day)
        dispatch(ledger, alerts, now=day, notices=found.notices)
        later = run(ledger, js, igest, day + timedelta(minutes=10))
        assert [o.action for o in later.outcomes] == [Action.ISSUED]
        dispatch(ledger, alerts, now=day + timedelta(minutes=10), notices=later.notices)
        dispatch(ledger, alerts, now=day + timedelta(hours=30), notices=[])
    # One message, sent once: the gap's notice (with, for an order paid over late_hours ago,
    # the late-invoice event of the same order); nothing after the next run issued it.
    [post] = chat.posts
    events = post.json()["events"]
    assert {e["order_id"] for e in events} == {4}
    [notice] = [e for e in events if e["kind"] == "notice"]
    assert "had no document (found by the daily gap check)" in notice["reason"]


def test_an_invoice_the_ledger_records_but_igest_does_not_list_is_pointed_out():
    with Ledger(Path(":memory:")) as ledger:
        js, igest = synced(ledger)
        [held] = igest.finals(external_reference(STORE, 1))
        del igest.documents[held.id]  # the ledger says issued; iGEST lists nothing for it
        report = run(ledger, js, igest, NOW + timedelta(days=1))
        assert report.outcomes == [] and ledger.work(1).state == WorkState.FINAL
        [notice] = report.notices
        assert f"Order 1: the ledger records {held.number} but iGEST lists no final" in notice
        assert "igest-sync reconcile" in notice
