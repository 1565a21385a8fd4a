"""The invoice run against in-memory fakes.

Cron mails only what changed: a failure is shown by the run that first meets it, then as a reminder
at most once per ``remind_failed_hours``; the exit code is 1 while a paid order is left without its
invoice, shown or not. A dry run tells the truth: the same read-only look-ups as a real run, and
every outcome in "would".
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.errors import NotFound
from igest_sync.models import Action, Kind, OrderLine, Tax
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, UtcStoreDays, paid_order

WRITES = {"create_document", "finalize_document", "delete_document", "email_document"}
START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
BAD_RATE = OrderLine(
    101,
    None,
    "SKU-1",
    "Caneca",
    Decimal(1),
    Decimal("12.10"),
    Decimal(0),
    (Tax("IVA 21", Decimal(21), False, True),),
)


def config(**invoice: object) -> Config:
    return fake_config(**({"start_date": date(2026, 11, 1), "concurrency": 1} | invoice))


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as ledger:
        yield ledger


def shown(report) -> list[str]:
    """The failures a run prints: this run's, and earlier ones whose reminder is due."""
    return [o.key for o in report.outcomes if o.action == Action.FAILED] + [
        o.key for o in report.still_failed
    ]


def test_a_stuck_order_is_shown_once_then_reminded_once_a_day(ledger):
    js = FakeJumpseller(orders=[paid_order(7, "12.10", lines=(BAD_RATE,))])
    ig = FakeIgest()

    def run(after: timedelta):
        return InvoiceRun.build(config(), ledger, js, ig, now=START + after).run()

    first = run(timedelta(0))
    assert (shown(first), first.exit_code) == (["7"], 1)
    assert "VAT rate 21 %" in first.outcomes[0].detail
    for hours in (1, 12, 23.9):  # cron every few minutes: silence, but exit 1
        quiet = run(timedelta(hours=hours))
        assert (shown(quiet), quiet.exit_code) == ([], 1)
        assert [o.key for o in quiet.quiet] == ["7"]
    reminder = run(timedelta(hours=24))
    assert (shown(reminder), reminder.exit_code) == (["7"], 1)
    after = run(timedelta(hours=25))
    assert (shown(after), after.exit_code) == ([], 1)
    assert ledger.work(7).state == "failed"  # never recorded as a success
    # Only the first run's listing (the ledger was empty); a data failure waits for a person.
    # (Beside it, the daily credentials check of runs that issue nothing.)
    assert [c for c in ig.log if c[0] != "entity"] == [
        ("find_documents", {"date_from": date(2026, 11, 1)})
    ]


def test_a_failure_that_passes_by_itself_is_shown_only_once_it_has_lasted(ledger, caplog):
    """iGEST down: every run retries the order by itself, so it is logged, not printed, until
    the failure has lasted [alerts] unreachable_minutes (60); then shown once, with exit 1,
    and reminded like any other failure."""
    js = FakeJumpseller(orders=[paid_order(8)])
    ig = FakeIgest()
    ig.faults.add("create_document", "5xx", times=None)  # iGEST down for a while

    def run(minutes: float):
        return InvoiceRun.build(
            config(), ledger, js, ig, now=START + timedelta(minutes=minutes)
        ).run()

    with caplog.at_level("WARNING", "igest_sync"):
        first = run(0)
    assert (shown(first), first.exit_code, first.still_failed) == ([], 1, [])
    assert [o.key for o in first.quiet] == ["8"] and "Order 8 not invoiced" in caplog.text
    # Retried without a person: a warning in the log, not an error.
    assert [r.levelname for r in caplog.records if "not invoiced" in r.message] == ["WARNING"]
    second = run(12)  # retried by itself, failed again: still nothing for a person
    assert (shown(second), second.exit_code) == ([], 1)
    assert len(ig.called("create_document")) == 2
    ig.faults.clear()
    ig.faults.add("find_documents", "timeout", times=None)  # another passing failure
    changed = run(24)
    assert (shown(changed), changed.exit_code) == ([], 1)
    lasted = run(60)  # failing by itself for an hour: now a person's business
    assert (shown(lasted), lasted.exit_code) == (["8"], 1)
    assert lasted.outcomes[0].transient
    again = run(70)  # told; reminded after remind_failed_hours, like every failure
    assert (shown(again), again.exit_code) == ([], 1)
    ig.faults.clear()
    done = run(80)
    assert (done.count(Action.ISSUED), done.exit_code, shown(done)) == (1, 0, [])
    assert ledger.get_meta("retrying_since") == "{}"  # forgotten once it succeeded


def test_the_run_s_log_line_counts_the_failures_it_keeps_quiet(ledger, caplog):
    """A failure kept off the terminal (passing by itself, or told before) is still a failure
    of the run: the line the log keeps says so, not "failed 0" beside a "not invoiced"."""
    js = FakeJumpseller(orders=[paid_order(8), paid_order(7, "12.10", lines=(BAD_RATE,))])
    ig = FakeIgest()
    ig.faults.add("create_document", "5xx", times=None)

    def run(minutes: float):
        return InvoiceRun.build(
            config(), ledger, js, ig, now=START + timedelta(minutes=minutes)
        ).run()

    def done_line() -> str:
        [line] = [r.getMessage() for r in caplog.records if "Invoice run done" in r.message]
        caplog.clear()
        return line

    def done_line_of(report) -> str:
        assert shown(report) == []  # nothing printed: the log is all that tells of the run
        return done_line()

    with caplog.at_level("INFO", "igest_sync"):
        first = run(0)
        assert shown(first) == ["7"] and [o.key for o in first.quiet] == ["8"]
        assert "Issued 0, failed 2 (1 will retry by itself), skipped 0" in done_line()
        # 7 waits for a person (not tried again): no failure of these runs.
        assert "Issued 0, failed 1 (will retry by itself), skipped 0" in done_line_of(run(10))
        assert shown(run(60)) == ["8"]  # lasted: shown
        assert "failed 1, skipped 0" in done_line()
        assert "failed 1 (shown before), skipped 0" in done_line_of(run(70))
        ig.faults.clear()
        assert "Issued 1, failed 0, skipped 0" in done_line_of(run(80))


def test_remind_every_run_when_set_to_zero(ledger):
    js = FakeJumpseller(orders=[paid_order(7, "12.10", lines=(BAD_RATE,))])
    for minutes in (0, 10, 20):
        report = InvoiceRun.build(
            config(remind_failed_hours=0),
            ledger,
            js,
            FakeIgest(),
            now=START + timedelta(minutes=minutes),
        ).run()
        assert (shown(report), report.exit_code) == (["7"], 1)


# -- dry runs tell the truth ----------------------------------------------------------------


def test_a_dry_run_on_an_empty_ledger_lists_igest_and_says_what_it_would_adopt(ledger):
    from igest_sync.references import external_reference

    js = FakeJumpseller(
        orders=[paid_order(1), paid_order(2, "12.10", lines=(BAD_RATE,)), paid_order(3)]
    )
    ig = FakeIgest()
    held = ig.hold(external_reference("loja", 3), "final", "12.30")
    report = InvoiceRun.build(config(), ledger, js, ig, now=START).run(dry_run=True)
    actions = {o.key: o.action for o in report.outcomes}
    assert actions == {"1": "would issue", "2": "would fail", "3": "would adopt"}
    assert all(o.detail.startswith("would ") for o in report.outcomes if o.key != "2")
    # The action says "would fail"; its detail is the reason, not "would fail: ..." again.
    assert next(o.detail for o in report.outcomes if o.key == "2").startswith("product ")
    assert held.number in next(o.detail for o in report.outcomes if o.key == "3")
    assert ig.called("find_documents") == [
        {"date_from": date(2026, 11, 1)}
    ]  # the same listing as a real first run
    assert WRITES.isdisjoint(ig.calls)
    summary = report.summary()
    assert "would issue 1" in summary and "would adopt 1" in summary
    assert "would fail 1" in summary and "nothing was written" in summary
    assert ledger.checkpoint is None and ledger.work(1) is None  # nothing written


def test_a_dry_run_previews_skips_in_would_too(ledger):
    early = paid_order(4, paid_at=datetime(2026, 10, 20, 10, 0, tzinfo=UTC))
    report = InvoiceRun.build(
        config(), ledger, FakeJumpseller(orders=[early]), FakeIgest(), now=START
    ).run(dry_run=True)
    assert [(o.key, o.action) for o in report.outcomes] == [("4", "would skip")]
    assert "would skip 1" in report.summary()


def test_a_quiet_failure_of_this_run_still_is_no_successful_run(ledger):
    js = FakeJumpseller(orders=[paid_order(8)])
    ig = FakeIgest()
    ig.faults.add("create_document", "5xx", times=None)
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    quiet = InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(minutes=10)).run()
    assert quiet.exit_code == 1 and [o.key for o in quiet.quiet] == ["8"]
    assert ledger.get_meta("last_success_at") is None
    ig.faults.clear()
    InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(minutes=20)).run()
    assert ledger.get_meta("last_success_at") == (START + timedelta(minutes=20)).isoformat()


def test_a_notice_is_shown_once_then_reminded_once_a_day(ledger):
    # Order 7 invoiced, then cancelled, with credit_cancelled off: a person must credit it by
    # hand. The notice is printed by the first run and then once a day, not every ten minutes.
    js = FakeJumpseller(orders=[paid_order(7, "12.30", created_at=START, paid_at=START)])
    ig = FakeIgest()
    settings = config(credit_cancelled=False)
    assert InvoiceRun.build(settings, ledger, js, ig, now=START).run().count(Action.ISSUED) == 1
    js.add(paid_order(7, "12.30", created_at=START, paid_at=START, status="canceled"))

    def run(after: timedelta):
        return InvoiceRun.build(settings, ledger, js, ig, now=START + after).run()

    first = run(timedelta(minutes=10))
    assert len(first.notices) == 1 and "credit_cancelled is off" in first.notices[0]
    quiet = run(timedelta(hours=2))
    assert (quiet.notices, quiet.quiet_notices) == ([], first.notices)
    assert quiet.to_json()["quiet_notices"] == first.notices
    assert run(timedelta(hours=24, minutes=10)).notices == first.notices


def test_a_dry_run_gives_the_real_runs_notice_for_a_cancellation_left_to_a_person(ledger):
    # credit_cancelled off: the real run tells a person to credit order 7; the dry run said
    # nothing of it, as if the cancellation needed nothing.
    js = FakeJumpseller(orders=[paid_order(7, "12.30", created_at=START, paid_at=START)])
    ig = FakeIgest()
    settings = config(credit_cancelled=False)
    InvoiceRun.build(settings, ledger, js, ig, now=START).run()
    js.add(paid_order(7, "12.30", created_at=START, paid_at=START, status="canceled"))
    later = START + timedelta(minutes=10)
    preview = InvoiceRun.build(settings, ledger, js, ig, now=later).run(dry_run=True)
    real = InvoiceRun.build(settings, ledger, js, ig, now=later).run()
    assert preview.outcomes == [] and real.outcomes == []
    assert len(real.notices) == 1 and "credit_cancelled is off" in real.notices[0]
    assert preview.notices == real.notices  # and the dry run did not use up its first showing


def test_an_order_cancelled_while_its_invoice_waited_for_a_retry_gets_no_document(ledger):
    # iGEST was down when order 7 was paid; before the next run the customer cancelled it.
    from igest_sync.errors import ServerError

    js = FakeJumpseller(orders=[paid_order(7, "12.30", created_at=START, paid_at=START)])
    ig = FakeIgest()
    ig.faults.add("create_document", ServerError("503", service="iGEST", status=503))
    first = InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    assert [o.action for o in first.quiet] == [Action.FAILED]  # retried by itself: quiet
    assert ledger.work(7).transient
    js.add(paid_order(7, "12.30", created_at=START, paid_at=START, status="canceled"))
    second = InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(hours=1)).run()
    assert [(o.key, o.action) for o in second.outcomes] == [("7", Action.SKIPPED)]
    assert "cancelled before it was invoiced" in second.outcomes[0].detail
    assert ig.drafts == [] or all(d.type != "NC" for d in ig.drafts)
    assert not [d for d in ig.documents.values() if d.status == "final"]  # no invoice, no NC
    assert ledger.work(7) is None and second.exit_code == 0


def test_a_failed_second_credit_note_is_reminded_like_any_failure(ledger):
    from igest_sync.models import Kind

    js = FakeJumpseller(orders=[paid_order(7, "12.30", created_at=START, paid_at=START)])
    ig = FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    ledger.ensure_work(7, Kind.CREDIT, "jumpseller:loja:7:credit:2", seq=2)
    ledger.fail(7, Kind.CREDIT, "iGEST refused the credit note", transient=False, seq=2)

    def run(after: timedelta):
        return InvoiceRun.build(config(), ledger, js, ig, now=START + after).run()

    first = run(timedelta(minutes=10))
    assert ([o.key for o in first.still_failed], first.exit_code) == (["7"], 1)
    quiet = run(timedelta(hours=1))
    assert (quiet.still_failed, quiet.exit_code) == ([], 0)
    assert [o.key for o in quiet.quiet] == ["7"]


def test_ctrl_c_during_a_rebuild_counts_what_it_found_apart_from_what_it_issued(ledger):
    """A rebuild stopped mid-way said "302 documents issued by this run": it had issued none,
    only found them in iGEST, and a person read 302 duplicates."""
    from igest_sync.runs.invoicing.invoice import RunInterrupted

    js = FakeJumpseller(orders=[paid_order(n, "12.30") for n in range(1, 7)])
    ig = FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    assert len(ig.documents) == 6

    def ctrl_c_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with Ledger(Path(":memory:")) as lost:  # the state file was lost: a rebuild
        run = InvoiceRun.build(config(), lost, js, ig, now=START, progress=ctrl_c_after_two)
        with pytest.raises(RunInterrupted) as caught:
            run.run()
    stopped = caught.value
    assert stopped.issued == 0 and len(ig.documents) == 6
    assert stopped.adopted >= 2 and stopped.adopted + stopped.left == 6
    assert stopped.message.startswith(
        f"Interrupted: 0 documents issued by this run, {stopped.adopted} found in iGEST "
        "already (adopted, nothing issued);"
    )


def test_ctrl_c_finishes_the_order_in_flight_says_what_was_issued_and_the_next_run_ends_it(ledger):
    from igest_sync.models import DocumentStatus
    from igest_sync.runs.invoicing.invoice import RunInterrupted

    js = FakeJumpseller(orders=[paid_order(n, "12.30") for n in range(1, 7)])
    ig = FakeIgest()

    def finals() -> int:
        return sum(1 for d in ig.documents.values() if d.status == DocumentStatus.FINAL)

    started_when_interrupted: list[int] = []

    def ctrl_c_after_two(done: int, total: int) -> None:
        if done == 2:  # the progress callback runs in the main thread, as Ctrl-C lands there
            started_when_interrupted.append(len(ig.documents))
            raise KeyboardInterrupt

    run = InvoiceRun.build(config(), ledger, js, ig, now=START, progress=ctrl_c_after_two)
    with pytest.raises(RunInterrupted) as caught:
        run.run()
    # One worker (concurrency 1). On a busy machine the worker may be orders ahead of the main
    # thread that reports progress, so what counts is the moment Ctrl-C landed: every order
    # started by then is finished (in flight: finished, not abandoned), at most the one the
    # worker was taking as it landed joins them, and no other order is started.
    issued, left = caught.value.issued, caught.value.left
    started = started_when_interrupted[0]
    assert 2 <= started <= issued <= started + 1
    assert issued + left == 6 and finals() == issued == len(ig.documents)
    message = caught.value.message
    # (How many are left depends on the machine's load: 1 reads "1 order".)
    documents = f"{issued} document{'' if issued == 1 else 's'}"
    orders = f"{left} order{'' if left == 1 else 's'}"
    assert f"{documents} issued by this run; {orders} left for the next run" in message
    assert "next `igest-sync invoice` looks each up in iGEST and finishes it" in message
    report = InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(minutes=1)).run()
    assert report.count(Action.ISSUED) == left and finals() == 6


def test_a_run_with_nothing_to_issue_checks_igest_credentials_once_a_day(ledger):
    from igest_sync.errors import AuthError

    js, ig = FakeJumpseller(orders=[]), FakeIgest()

    def run(hours: float):
        return InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(hours=hours)).run()

    run(0)
    assert ig.calls.count("entity") == 1
    run(1)
    run(23)
    assert ig.calls.count("entity") == 1  # once a day, not every run
    ig.faults.add("entity", "auth", times=2)  # the security code was changed in iGEST
    with pytest.raises(AuthError):
        run(24)
    with pytest.raises(AuthError):
        run(25)  # not noted as checked: asked again until it is fixed
    run(26)
    assert ig.calls.count("entity") == 4


def test_a_run_that_issued_counts_as_the_daily_check(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(1)]), FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(hours=2)).run()
    assert "entity" not in ig.calls


def test_resend_of_an_order_jumpseller_does_not_know_says_to_check_the_number(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    report = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([70])
    [typo] = report.outcomes
    assert typo.action == Action.FAILED  # a refusal, never a success
    assert "Jumpseller has no order 70" in typo.detail and "check the number" in typo.detail
    assert ledger.work(70) is None and not ig.finals()  # nothing recorded, nothing issued


def test_a_resend_that_recorded_nothing_is_not_told_it_stays_failed_in_the_ledger(ledger):
    # Before: "nothing was recorded for it" was followed by the footer "Failed orders stay
    # failed in the ledger: ... resend", untrue of an order the ledger never held.
    from igest_sync.render.invoicing import failure_advice

    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    typo = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([70])
    assert typo.exit_code == 1 and failure_advice(typo) == []
    js.faults.add("order", "5xx")  # Jumpseller down while reading an unseen order
    down = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([7])
    [outcome] = down.outcomes
    assert outcome.action == Action.FAILED and "run the same resend again" in outcome.detail
    assert ledger.work(7) is None and failure_advice(down) == []
    # An order the ledger holds still gets the footer when it fails.
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    ledger.fail(7, Kind.INVOICE, "refused", transient=False)
    js.faults.add("order", "5xx")
    held = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([7])
    assert any("stay failed in the ledger" in line for line in failure_advice(held))


class _NothingAfterIs404(FakeJumpseller):
    """A server that answers 404 to /orders/after/{id} when no order is newer (the spec's
    404 says only "Order Not Found")."""

    def orders_after(self, order_id: int):
        newer = list(super().orders_after(order_id))
        if not newer:
            raise NotFound(f"Jumpseller: nothing after {order_id}", service="Jumpseller")
        return iter(newer)


def test_a_404_for_nothing_after_the_checkpoint_is_a_quiet_run(ledger, caplog):
    js = _NothingAfterIs404(orders=[paid_order(7, "12.10")])
    ig = FakeIgest()
    assert InvoiceRun.build(config(), ledger, js, ig, now=START).run().exit_code == 0
    js.log.clear()
    with caplog.at_level(logging.WARNING, "igest_sync"):
        quiet = InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(minutes=5)).run()
    assert quiet.exit_code == 0 and not quiet.outcomes
    # One look at the checkpoint's order, not a listing by date with "Order 7 is gone".
    listing = [  # (the cancellation pass lists cancelled orders by day: not this listing)
        c
        for c in js.log
        if c[0] in ("orders_after", "order")
        or (c[0] == "orders_created_between" and c[1][2] is None)
    ]
    assert listing == [("orders_after", 7), ("order", 7)]
    assert "gone" not in caplog.text
    # A newer order is listed as ever, and a checkpoint order really gone is still covered.
    js.orders[8] = paid_order(8, "5.00")
    del js.orders[7]
    later = InvoiceRun.build(config(), ledger, js, ig, now=START + timedelta(minutes=10)).run()
    assert [o.key for o in later.outcomes] == ["8"]
    assert sorted(d.external_reference for d in ig.documents.values() if d.status == "final") == [
        "jumpseller:loja:7",
        "jumpseller:loja:8",
    ]


def test_the_summary_counts_an_adopted_invoice_apart_from_those_issued():
    # A lost finalize answer recovered by the next run showed "adopted, nothing issued" in the
    # table and "Issued 1" in the summary.
    from igest_sync.models import DocumentOutcome
    from igest_sync.runs.invoicing.report import InvoiceReport

    report = InvoiceReport()
    report.outcomes += [
        DocumentOutcome("7", Action.ISSUED, "FR A/1"),
        DocumentOutcome("8", Action.ADOPTED, "FR A/2 already in iGEST; adopted, nothing issued"),
    ]
    assert report.summary() == "Issued 1, adopted 1 already in iGEST, failed 0, skipped 0"
    report.outcomes.pop()
    assert report.summary() == "Issued 1, failed 0, skipped 0"


def test_a_refused_resend_nif_is_not_kept_for_the_next_resend(ledger):
    # `resend --nif` is kept while its attempt waits or fails by itself; a number refused as
    # invalid was kept too, and every later `resend` said "the NIF given with --nif is invalid".
    from igest_sync.fiscal.customer import CustomerOverride

    js, ig = FakeJumpseller(orders=[paid_order(7, "12.30")]), FakeIgest()
    run = InvoiceRun.build(config(), ledger, js, ig, now=START)
    [refused] = run.resend([7], override=CustomerOverride(nif="123456780")).outcomes
    assert refused.action == Action.FAILED and "--nif" in refused.detail
    [issued] = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([7]).outcomes
    assert issued.action == Action.ISSUED, issued.detail


def test_a_resend_nif_whose_attempt_fails_for_another_reason_is_kept(ledger):
    # The person's NIF was valid; iGEST computed another total (a failure a person fixes, not
    # by itself): the next plain `resend` must still issue to the NIF they gave, not the order's.
    from igest_sync.fiscal.customer import CustomerOverride

    js, ig = FakeJumpseller(orders=[paid_order(7, "12.30")]), FakeIgest()
    ig.total_skew = Decimal("0.01")
    run = InvoiceRun.build(config(), ledger, js, ig, now=START)
    [failed] = run.resend([7], override=CustomerOverride(nif="503504564")).outcomes
    assert failed.action == Action.FAILED and not failed.transient, failed.detail
    ig.total_skew = Decimal(0)
    [issued] = InvoiceRun.build(config(), ledger, js, ig, now=START).resend([7]).outcomes
    assert issued.action == Action.ISSUED, issued.detail
    [final] = ig.finals()
    assert final.customer_nif == "503504564"


@pytest.mark.parametrize("first_run", [False, True])
def test_a_backfill_from_a_later_day_skips_no_order_paid_since_the_start_date(ledger, first_run):
    """`invoice --since` took its day for the start date: an order paid between the start date
    and that day (new past the checkpoint, or followed while it waited for payment) was noted
    "before the start date" and passed for good, though the run without --since, `serve`'s
    webhook and the gap check all invoice it. The start date decides; --since only says which
    days a backfill lists again."""
    paid = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    waiting = paid_order(3, created_at=paid - timedelta(days=3), status="pending_payment")
    js, ig = (
        FakeJumpseller(orders=[paid_order(1, paid_at=paid - timedelta(days=3)), waiting]),
        FakeIgest(),
    )
    if not first_run:
        InvoiceRun.build(config(), ledger, js, ig, now=paid - timedelta(days=3, hours=-1)).run()
        assert [o.order_id for o in ledger.open_orders()] == [3]
    js.add(paid_order(2, paid_at=paid), replace(waiting, status="paid", completed_at=paid))
    ig.log.clear()
    report = InvoiceRun.build(config(), ledger, js, ig, now=START).run(since=date(2026, 11, 19))
    # iGEST listed from the start date: the switch guard and the look-ups cover those days.
    assert ig.called("find_documents")[0] == {"date_from": date(2026, 11, 1)}
    assert not [o for o in report.outcomes if "before the start date" in o.detail]
    assert sorted(d.external_reference for d in ig.finals()) == [
        f"jumpseller:loja:{n}" for n in (1, 2, 3)
    ]


def test_a_document_found_under_the_orders_reference_with_another_total_is_said(ledger):
    """A final document made by hand under the order's reference, for 28.60 where the order
    says 32.50: adopted (never a second invoice) with a WARNING line, and nothing told until
    `reconcile`'s wrong_total. The run says it at once, with both figures."""
    from igest_sync.references import external_reference

    cfg = config()
    js = FakeJumpseller(orders=[paid_order(16, "32.50"), paid_order(17, "12.30")])
    ig = FakeIgest()
    ig.hold(external_reference(cfg.jumpseller.store, 16), "final", "28.60", day=START.date())
    ig.hold(external_reference(cfg.jumpseller.store, 17), "final", "12.30", day=START.date())
    report = InvoiceRun.build(cfg, ledger, js, ig, now=START).run()
    assert {o.key: o.action for o in report.outcomes} == {
        "16": Action.ADOPTED,
        "17": Action.ADOPTED,
    }
    [told] = [n for n in report.notices if n.startswith("Order 16:")]
    assert "carries 28.60 EUR, but the order says 32.50 EUR" in told
    assert "igest-sync credit 16 --all" in told
    assert not [n for n in report.notices if n.startswith("Order 17:")]  # its total agrees


def test_a_dry_run_shows_the_credit_notes_the_real_run_would_issue_for_cancellations(ledger):
    """`invoice --dry-run` said "would issue 0" and the real run then credited the cancelled
    order: the credit pass was not previewed."""
    from igest_sync.models import DocumentStatus

    cfg = config()
    js = FakeJumpseller(orders=[paid_order(21, "32.50"), paid_order(22, "12.30")])
    ig = FakeIgest()
    InvoiceRun.build(cfg, ledger, js, ig, now=START).run()
    js.add(paid_order(21, "32.50", status="canceled"))

    def notes() -> int:
        return sum(1 for d in ig.documents.values() if d.type == "NC")

    later = START + timedelta(hours=1)
    preview = InvoiceRun.build(cfg, ledger, js, ig, now=later).run(dry_run=True)
    assert [(o.key, o.action) for o in preview.outcomes] == [("21", Action.WOULD_CREDIT)]
    assert "would credit 1 cancelled order" in preview.summary()
    assert preview.to_json()["would_credit"] == 1
    assert notes() == 0 and ledger.work(21, Kind.CREDIT) is None  # nothing written
    real = InvoiceRun.build(cfg, ledger, js, ig, now=later).run()
    assert [(o.key, o.action, o.kind) for o in real.outcomes] == [
        ("21", Action.ISSUED, Kind.CREDIT)
    ]
    # Counted as the preview counts it: a credit note, not an invoice issued.
    assert real.summary().startswith("Issued 0, 1 credit note, failed 0")
    assert (real.to_json()["issued"], real.to_json()["credited"]) == (0, 1)
    assert notes() == 1 and all(d.status == DocumentStatus.FINAL for d in ig.documents.values())
    again = InvoiceRun.build(cfg, ledger, js, ig, now=later).run(dry_run=True)
    assert again.outcomes == []  # credited: nothing more to preview


# -- orders skipped under rules the merchant then changed -------------------------------------


def test_a_till_sale_skipped_until_its_source_is_added_is_invoiced_by_the_next_run(ledger):
    # "add it to invoice.sources to invoice such orders": done, and no run ever issued it (the
    # checkpoint had passed it), while `status` kept the old advice.
    js = FakeJumpseller(orders=[paid_order(7, source="pos"), paid_order(8)])
    ig = FakeIgest()
    first = InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    assert {o.key: o.action for o in first.outcomes} == {"7": "skipped", "8": "issued"}
    later = START + timedelta(minutes=10)
    assert InvoiceRun.build(config(), ledger, js, ig, now=later).run().outcomes == []
    settings = config(sources=("checkout", "pos"))
    preview = InvoiceRun.build(settings, ledger, js, ig, now=later).run(dry_run=True)
    assert [(o.key, o.action) for o in preview.outcomes] == [("7", "would issue")]
    real = InvoiceRun.build(settings, ledger, js, ig, now=later).run()
    assert [(o.key, o.action) for o in real.outcomes] == [("7", "issued")]
    assert ledger.order(7).note is None  # its old reason no longer stands
    # Judged once: the runs after read no skipped order again.
    js.calls.clear()
    quiet = InvoiceRun.build(settings, ledger, js, ig, now=later + timedelta(minutes=10)).run()
    assert quiet.outcomes == [] and "order" not in js.calls


def test_each_order_a_long_report_only_counts_is_named_in_the_log_with_why(ledger, caplog):
    # Past a few orders the report prints "Other orders: 123 orders skipped (the log names each
    # one ...)", and the log named none of them: only the run's counts.
    js = FakeJumpseller(orders=[paid_order(7, source="pos"), paid_order(8)])
    ig = FakeIgest()
    with caplog.at_level(logging.INFO, "igest_sync"):
        InvoiceRun.build(config(), ledger, js, ig, now=START).run(dry_run=True)
        InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    named = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Order 7 ")]
    why = (
        "created from 'pos' (a sale usually invoiced at the till): not invoiced; add it to "
        "invoice.sources to invoice such orders"
    )
    assert named == [f"Order 7 would skip: {why}", f"Order 7 skipped: {why}"]


def test_a_source_added_over_a_day_the_till_invoiced_stops_before_recording_its_sales(ledger):
    # The till's FS of that day may be the sale's invoice: judged again, it was issued beside it.
    from igest_sync.errors import UsageError
    from igest_sync.models import IssuedDocument

    js = FakeJumpseller(orders=[paid_order(7, source="pos"), paid_order(8)])
    till = IssuedDocument(
        "till-1", "FS", "T", "FS T/1", None, "final", date(2026, 11, 20), None, None, None,
        Decimal("10.00"), Decimal("2.30"), Decimal("12.30"),
    )  # fmt: skip
    ig = FakeIgest()
    first = InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    assert {o.key: o.action for o in first.outcomes} == {"7": "skipped", "8": "issued"}
    ig.documents[till.id] = till  # the till invoices its sales in iGEST too
    with pytest.raises(UsageError) as stopped:
        InvoiceRun.build(config(sources=("checkout", "pos")), ledger, js, ig, now=START).run()
    assert stopped.value.message.startswith(
        "iGEST holds 1 invoice not issued by igest-sync on or after 2026-11-20, the day of the "
        "order skipped until [invoice] changed (FS T/1 of 2026-11-20)"
    )
    assert (stopped.value.hint or "").endswith(
        "or put [invoice] back as it was (no sources): the orders it skipped stay skipped."
    )
    assert ledger.work(7) is None and sorted(d.number for d in ig.finals()) == ["FR A/1", "FS T/1"]


def test_an_order_skipped_by_a_start_date_set_too_late_is_invoiced_once_it_is_put_back(ledger):
    js = FakeJumpseller(orders=[paid_order(7)])  # paid 2026-11-20
    ig = FakeIgest()
    wrong = config(start_date=date(2026, 12, 1))
    first = InvoiceRun.build(wrong, ledger, js, ig, now=START).run()
    assert [(o.key, o.action) for o in first.outcomes] == [("7", "skipped")]
    assert "before the start date 2026-12-01" in ledger.order(7).note
    later = START + timedelta(minutes=10)
    real = InvoiceRun.build(config(), ledger, js, ig, now=later).run()
    assert [(o.key, o.action) for o in real.outcomes] == [("7", "issued")]
    assert len(ig.finals()) == 1


def test_a_skipped_order_that_could_not_be_read_is_judged_again_by_the_next_run(ledger):
    js = FakeJumpseller(orders=[paid_order(7, source="pos")])
    ig = FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    settings = config(sources=("checkout", "pos"))
    js.faults.add("order", "5xx")
    later = START + timedelta(minutes=10)
    assert InvoiceRun.build(settings, ledger, js, ig, now=later).run().outcomes == []
    again = InvoiceRun.build(settings, ledger, js, ig, now=later).run()
    assert [(o.key, o.action) for o in again.outcomes] == [("7", "issued")]


def test_a_skipped_order_deleted_in_jumpseller_does_not_keep_every_run_reading_them_again(ledger):
    # A till sale deleted since it was skipped answers 404 for ever: counted as unread, it kept
    # the new rules unapplied, and every run read every skipped order again.
    js = FakeJumpseller(orders=[paid_order(7, source="pos"), paid_order(9, source="pos")])
    ig = FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    del js.orders[7]
    settings = config(sources=("checkout", "pos"))
    later = START + timedelta(minutes=10)
    real = InvoiceRun.build(settings, ledger, js, ig, now=later).run()
    assert [(o.key, o.action) for o in real.outcomes] == [("9", "issued")]
    assert ledger.order(7).status == "deleted"  # nothing is due for a sale that is gone
    js.calls.clear()
    quiet = InvoiceRun.build(settings, ledger, js, ig, now=later + timedelta(minutes=10)).run()
    assert quiet.outcomes == [] and "order" not in js.calls


def test_refused_jumpseller_credentials_stop_the_run_before_an_unfinished_order_is_read(ledger):
    # An order whose work a crash left was read again and, the credentials refused, recorded
    # failed "could not read the order from Jumpseller: ... 401": a failure of its own, where
    # every other place stops the run (exit 5) and says it once.
    from igest_sync.errors import AuthError

    js = FakeJumpseller(orders=[paid_order(8)])
    ig = FakeIgest()
    InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    ledger.works.ensure_work(7, "invoice", "jumpseller:loja:7")
    ledger.works.fail(7, "invoice", "iGEST: 502 server error", transient=True)
    js.faults.add("order", "auth")
    later = START + timedelta(minutes=10)
    with pytest.raises(AuthError):
        InvoiceRun.build(config(), ledger, js, ig, now=later).run()
    assert ledger.work(7, "invoice").error == "iGEST: 502 server error"


def test_a_dry_run_names_an_order_already_invoiced_as_the_real_run_does(ledger):
    # A new-user pass: after adopt recorded two orders' invoices, the dry run left them out
    # ("would issue 12 ... would skip 7") and the real run then said "already 2".
    from igest_sync.references import external_reference

    js = FakeJumpseller(orders=[paid_order(7), paid_order(8)])
    ig = FakeIgest()
    held = ig.hold(external_reference("loja", 7), "final", "12.30")
    ledger.works.ensure_work(7, "invoice", held.external_reference)
    ledger.works.record_final(7, "invoice", held, email=False, adopted=True)
    preview = InvoiceRun.build(config(), ledger, js, ig, now=START).run(dry_run=True)
    real = InvoiceRun.build(config(), ledger, js, ig, now=START).run()
    assert [(o.key, o.action) for o in preview.outcomes if o.key == "7"] == [("7", "already")]
    assert [(o.key, o.action) for o in real.outcomes + real.quiet if o.key == "7"] == [
        ("7", "already")
    ]


@pytest.mark.parametrize("minutes", [-30, 30])  # 23:30 and 00:30 UTC around the window's start
def test_a_first_run_follows_an_order_waiting_for_payment_from_its_listings_first_day(
    ledger, minutes
):
    # The first run lists by the store's days from 2026-06-15 (30 days before the start date),
    # and reads the orders waiting for payment older than that, by Lisbon's day. Created at
    # 23:30 UTC on the 14th (00:30 on the 15th in Lisbon), an order was in neither: never
    # followed, its payment behind the checkpoint went unseen and got no invoice.
    now = datetime(2026, 7, 20, 12, 0, tzinfo=UTC)
    created = datetime(2026, 6, 15, tzinfo=UTC) + timedelta(minutes=minutes)
    listed = datetime(2026, 7, 16, 10, 0, tzinfo=UTC)  # a sale of the listing's days
    js = UtcStoreDays(
        orders=[
            paid_order(5, created_at=created, status="pending_payment"),
            paid_order(6, created_at=listed, paid_at=listed),
        ]
    )
    ig = FakeIgest()

    def run(at: datetime):
        return InvoiceRun.build(config(start_date=date(2026, 7, 15)), ledger, js, ig, now=at).run()

    run(now)
    assert ledger.checkpoint == 6
    js.add(replace(js.orders[5], status="paid", completed_at=now + timedelta(hours=1)))
    run(now + timedelta(hours=2))
    assert sorted(d.external_reference for d in ig.finals()) == [
        "jumpseller:loja:5",
        "jumpseller:loja:6",
    ]
