"""Review mode against in-memory fakes: invoices stop at a checked draft that waits for a
person; approve finalizes it through the exactly-once path, reject deletes it, and neither a
rerun, a crash nor a lost state file ever makes a second draft for an order.

Every moment is fixed (payment 2026-11-20 14:03 Lisbon, which is UTC in November).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.alerts.digest import build_digest
from igest_sync.config import Config
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.models import Action, Address, ExemptionReason, OrderLine, Tax, WorkState
from igest_sync.references import external_reference
from igest_sync.runs.invoicing import review
from igest_sync.runs.invoicing.exemption_texts import ExemptionTexts
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.setup.status import build_status
from igest_sync.state.ledger import Ledger
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

RUN_AT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # an hour after the payment
REF = external_reference("loja", 7)
WRITES = {"create_document", "finalize_document", "delete_document"}


def config(**invoice: object) -> Config:
    settings = {"start_date": date(2026, 11, 1), "concurrency": 1, "review": True} | invoice
    return fake_config(**settings)


class Killed(BaseException):
    """Stands for SIGKILL at a step of the issuer."""


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as ledger:
        yield ledger


def writes(ig: FakeIgest) -> list[str]:
    return [name for name in ig.calls if name in WRITES]


def drafts(ig: FakeIgest) -> list:
    return [d for d in ig.documents.values() if d.status == "draft"]


def run(ledger, js, ig, at=RUN_AT, **settings):
    return InvoiceRun.build(config(**settings), ledger, js, ig, now=at).run()


def test_review_mode_stops_at_a_checked_draft_and_a_rerun_keeps_it_waiting(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    report = run(ledger, js, ig)
    assert [(o.key, o.action) for o in report.outcomes] == [("7", Action.DRAFTED)]
    assert "igest-sync approve 7" in report.outcomes[0].detail
    assert report.exit_code == 0 and report.to_json()["drafted"] == 1
    assert writes(ig) == ["create_document"]
    assert [d.gross_total for d in drafts(ig)] == [Decimal("12.30")] and not ig.finals()
    work = ledger.work(7)
    assert (work.state, work.phase) == (WorkState.REVIEW, "draft")
    assert js.documents == {}  # nothing attached to the order: nothing was issued
    before = list(ig.calls)
    again = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10))
    assert again.outcomes == []  # the waiting draft is no run's work
    assert [c for c in ig.calls[len(before) :] if c in WRITES] == []
    assert len(drafts(ig)) == 1


@pytest.mark.parametrize("step", ["request", "drafted"])
def test_a_crash_around_the_draft_never_makes_a_second_one(ledger, step):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()

    def kill(name: str) -> None:
        if name == step:
            raise Killed

    with pytest.raises(Killed):
        InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT, crash_hook=kill).run()
    report = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10))
    assert [o.action for o in report.outcomes] == [Action.DRAFTED]
    assert len(drafts(ig)) == 1 and not ig.finals()
    assert ledger.work(7).state == WorkState.REVIEW


def test_a_lost_state_file_finds_the_waiting_draft_instead_of_making_another(ledger, tmp_path):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    with Ledger(tmp_path / "new.sqlite3") as fresh:
        report = run(fresh, js, ig, at=RUN_AT + timedelta(hours=1))
        assert [o.action for o in report.outcomes] == [Action.DRAFTED]
        assert fresh.work(7).state == WorkState.REVIEW
        assert writes(ig) == ["create_document"]  # the first run's only
        # ...and approving from the new state file finalizes that very draft.
        draft_id = drafts(ig)[0].id
        run_ = InvoiceRun.build(config(), fresh, js, ig, now=RUN_AT + timedelta(hours=1))
        [outcome] = review.approve(run_, [7], [])
        assert outcome.action == Action.ISSUED
        assert [d.id for d in ig.finals(REF)] == [draft_id]


def test_approve_finalizes_the_draft_and_attaches_it(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    draft_id = drafts(ig)[0].id
    notices: list[str] = []
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], notices)
    assert (outcome.action, outcome.number) == (Action.ISSUED, "FR A/1")
    assert [d.id for d in ig.finals(REF)] == [draft_id]
    assert ledger.work(7).state == WorkState.FINAL
    assert [d["public_id"] for d in js.documents[7]] == ["FR A/1"]
    assert review.waiting_drafts(ledger) == []


def test_a_draft_deleted_by_hand_is_noticed_then_made_again_when_approved(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    del ig.documents[drafts(ig)[0].id]  # a person deleted it in iGEST
    [listed] = review.waiting_drafts(ledger, ig)
    assert listed.igest == review.DELETED
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.ISSUED
    assert len(ig.finals(REF)) == 1 and drafts(ig) == []
    assert ig.calls.count("create_document") == 2


def test_a_draft_finalized_by_hand_in_igest_is_adopted_by_approve(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    ig.finalize_document(drafts(ig)[0].id)  # finalized in iGEST's own screens
    [listed] = review.waiting_drafts(ledger, ig)
    assert (listed.igest, listed.number) == (review.FINALIZED, "FR A/1")
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.ADOPTED
    assert len(ig.finals(REF)) == 1


def test_approving_on_a_later_day_dates_the_invoice_that_day(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    next_day = RUN_AT + timedelta(days=1)
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=next_day), [7], [])
    assert outcome.action == Action.ISSUED
    [final] = ig.finals(REF)
    assert final.date == date(2026, 11, 21)
    assert drafts(ig) == []  # the draft dated the 20th was replaced, not left behind


def test_an_order_changed_since_its_draft_gets_a_new_draft_that_waits_again(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    js.add(paid_order(7, "15.00"))  # edited in Jumpseller after the draft was made
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.DRAFTED and "changed" in outcome.detail
    assert not ig.finals() and [d.gross_total for d in drafts(ig)] == [Decimal("15.00")]
    assert ledger.work(7).state == WorkState.REVIEW


def test_reject_deletes_the_draft_and_leaves_the_order_failed_until_resend(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    outcome = review.reject(ledger, ig, 7, now=RUN_AT, reason="preço errado")
    assert outcome.action == Action.REJECTED
    assert drafts(ig) == [] and not ig.finals()
    work = ledger.work(7)
    assert (work.state, work.transient, work.phase) == (WorkState.FAILED, False, None)
    assert work.error.startswith("rejected by a person on 2026-11-20 (preço errado)")
    assert "igest-sync resend 7" in work.error
    # The runs never retry it by themselves...
    later = run(ledger, js, ig, at=RUN_AT + timedelta(hours=1))
    assert writes(ig).count("create_document") == 1 and later.still_failed == []
    # Approving it now: told what its rejection said, once ("issue it later with `igest-sync
    # resend 7`; issue it with `igest-sync resend 7`").
    told = review.not_waiting(ledger, 7)
    assert told is not None and told.detail.count("igest-sync resend 7") == 1
    # ...resend does (in review mode, as a new draft that waits for approval).
    again = InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT + timedelta(hours=2)).resend([7])
    assert [o.action for o in again.outcomes] == [Action.DRAFTED]
    assert len(drafts(ig)) == 1


def test_a_backfill_over_its_day_does_not_draft_a_rejected_order_again(ledger):
    # `invoice --since` lists the order again: a rejection waits for `resend` all the same
    # (the backfill drafted it again, and finalized it once review was off).
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    review.reject(ledger, ig, 7, now=RUN_AT)
    later = RUN_AT + timedelta(hours=1)
    InvoiceRun.build(config(review=False), ledger, js, ig, now=later).run(since=date(2026, 11, 20))
    assert writes(ig).count("create_document") == 1 and not ig.finals()
    assert ledger.work(7).error.startswith("rejected by a person")


def test_a_rejected_order_then_cancelled_is_settled_and_if_paid_again_invoiced_once(ledger):
    # The tester's path: 7's draft rejected, then the order cancelled before anything was
    # invoiced (so no cancellation pass has a watch yet). Nothing is due for a cancelled sale
    # never invoiced: the next run settles the rejection's failure, as it deletes the draft of
    # a cancelled order that still waits. Before, it stayed failed for good: exit 1 on every
    # run, "paid" and late in `status`, open in the digest.
    earlier = paid_order(6, "20.00", paid_at=datetime(2026, 11, 19, 10, 0, tzinfo=UTC))
    js, ig = FakeJumpseller(orders=[earlier, paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    review.reject(ledger, ig, 7, now=RUN_AT, reason="x")
    js.add(replace(paid_order(7), status="canceled"))
    at = RUN_AT + timedelta(minutes=10)
    settled = run(ledger, js, ig, at=at)
    [outcome] = [o for o in settled.outcomes if o.key == "7"]
    assert outcome.action == Action.SKIPPED and "cancelled" in outcome.detail
    assert settled.exit_code == 0 and settled.quiet == [] and ledger.work(7) is None
    assert ledger.order(7).status == "canceled"  # what `status --order 7` says
    status = build_status(ledger, now=at + timedelta(days=2))
    assert status.failed == [] and 7 not in [late[0] for late in status.late]
    assert build_digest(ledger, RUN_AT, at + timedelta(days=1), now=at).failed == []
    # The other draft approved, the runs are clean from then on.
    review.approve(InvoiceRun.build(config(), ledger, js, ig, now=at), [6], [])
    assert run(ledger, js, ig, at=at + timedelta(minutes=10)).exit_code == 0
    # Paid again: a new payment the rejection never judged. Found by the cancellation pass,
    # drafted by the next run (review mode), approved: one invoice, as any paid order.
    js.add(paid_order(7))
    run(ledger, js, ig, at=at + timedelta(minutes=20))
    drafted = run(ledger, js, ig, at=at + timedelta(minutes=30))
    assert [o.action for o in drafted.outcomes if o.key == "7"] == [Action.DRAFTED]
    review.approve(InvoiceRun.build(config(), ledger, js, ig, now=at), [7], [])
    run(ledger, js, ig, at=at + timedelta(minutes=40))
    assert len(ig.finals(REF)) == 1 and ledger.work(7).state == WorkState.FINAL


def test_resend_of_a_rejected_order_since_cancelled_settles_it(ledger):
    # A person who resends it is told nothing is due, and its failure goes with it (it said
    # "nothing to invoice" and left the order failed).
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    review.reject(ledger, ig, 7, now=RUN_AT)
    js.add(replace(paid_order(7), status="canceled"))
    before = writes(ig)
    report = InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT).resend([7])
    [outcome] = report.outcomes
    assert outcome.action == Action.SKIPPED and "cancelled" in outcome.detail
    assert report.exit_code == 0 and ledger.work(7) is None
    assert ledger.order(7).status == "canceled" and writes(ig) == before  # nothing issued


def test_approve_and_reject_refuse_an_order_without_a_waiting_draft(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig, review=False)
    # Approving an invoice that is final already asks for what is there: not a failure.
    done = review.not_waiting(ledger, 7)
    assert done is not None and done.action == Action.ALREADY
    assert done.detail == f"{done.number} is final already; nothing to approve"
    assert done.number is not None and done.number.startswith("FR ")
    # Rejecting it cannot be done: an issued invoice is offset by a credit note.
    refused = review.not_waiting(ledger, 7, rejecting=True)
    assert refused is not None and refused.action == Action.FAILED
    assert "final already" in refused.detail and "igest-sync credit 7" in refused.detail
    unknown = review.not_waiting(ledger, 99)
    assert unknown is not None and unknown.action == Action.FAILED
    assert "knows no invoice work" in unknown.detail


def test_a_draft_still_waiting_at_the_deadline_hour_is_a_notice_once_then_reminded(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    before = run(ledger, js, ig, at=datetime(2026, 11, 20, 17, 59, tzinfo=UTC))
    assert before.notices == []
    at_deadline = run(ledger, js, ig, at=datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    [notice] = at_deadline.notices
    assert "Order 7" in notice and "igest-sync approve 7" in notice and "18:00" in notice
    quiet = run(ledger, js, ig, at=datetime(2026, 11, 20, 18, 30, tzinfo=UTC))
    assert (quiet.notices, quiet.quiet_notices) == ([], [notice])
    reminder = run(ledger, js, ig, at=datetime(2026, 11, 21, 18, 0, tzinfo=UTC))
    assert reminder.notices == [notice]
    assert not ig.finals()  # nothing is ever finalized without a person


def test_a_backlog_of_drafts_past_the_deadline_is_one_notice_not_a_page_each(ledger):
    # The first cron run in review mode on a store with 134 paid orders printed 134 notes.
    orders = [paid_order(i) for i in range(1, 9)]
    js, ig = FakeJumpseller(orders=orders), FakeIgest()
    run(ledger, js, ig)
    [notice] = run(ledger, js, ig, at=datetime(2026, 11, 20, 18, 0, tzinfo=UTC)).notices
    assert notice.startswith("8 invoice drafts still wait for approval after 18:00 of their")
    assert "(orders 1, 2, 3, 4, 5 and 3 more, paid on 2026-11-20)" in notice
    assert "`igest-sync approve --all`" in notice
    # Told once while the same drafts wait; again when they change.
    assert run(ledger, js, ig, at=datetime(2026, 11, 20, 18, 30, tzinfo=UTC)).notices == []
    at = datetime(2026, 11, 20, 18, 40, tzinfo=UTC)
    review.approve(InvoiceRun.build(config(), ledger, js, ig, now=at), [1, 2, 3], [])
    fewer = run(ledger, js, ig, at=at).notices
    assert [n.split(" ", 2)[:2] for n in fewer] == [["Order", str(i)] for i in range(4, 9)]


def test_the_deadline_is_lisbon_time_in_summer_too(ledger):
    paid = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    js = FakeJumpseller(orders=[paid_order(7, paid_at=paid)])
    ig = FakeIgest()
    run(ledger, js, ig, at=paid + timedelta(minutes=5), start_date=date(2026, 6, 1))
    # 17:00 UTC is 18:00 in Lisbon in July.
    early = run(ledger, js, ig, at=datetime(2026, 7, 1, 16, 59, tzinfo=UTC))
    late = run(ledger, js, ig, at=datetime(2026, 7, 1, 17, 0, tzinfo=UTC))
    assert (early.notices, len(late.notices)) == ([], 1)


def test_the_automatic_hour_finalizes_what_waits_from_that_hour_of_its_payment_day(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig, auto_finalize_hour=19)
    before = run(
        ledger, js, ig, at=datetime(2026, 11, 20, 18, 59, tzinfo=UTC), auto_finalize_hour=19
    )
    assert not ig.finals() and before.outcomes == []
    at_hour = run(
        ledger, js, ig, at=datetime(2026, 11, 20, 19, 0, tzinfo=UTC), auto_finalize_hour=19
    )
    assert [o.action for o in at_hour.outcomes] == [Action.ISSUED]
    assert len(ig.finals(REF)) == 1 and ledger.work(7).state == WorkState.FINAL


def test_turning_review_off_finalizes_what_still_waits(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    report = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10), review=False)
    assert [o.action for o in report.outcomes] == [Action.ISSUED]
    assert len(ig.finals(REF)) == 1 and drafts(ig) == []


@pytest.mark.parametrize("by", ["approve", "the next run"])
def test_a_waiting_draft_of_an_order_cancelled_meanwhile_is_deleted_not_finalized(ledger, by):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    js.add(replace(paid_order(7), status="canceled"))
    if by == "approve":
        [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    else:
        [outcome] = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10)).outcomes
    assert outcome.action == Action.SKIPPED
    assert drafts(ig) == [] and not ig.finals()
    assert review.waiting_drafts(ledger) == [] and ledger.work(7) is None


def test_the_list_shows_vat_by_rate_and_igests_own_exemption_texts(ledger):
    exempt = OrderLine(
        101,
        None,
        "LIVRO",
        "Livro",
        Decimal(1),
        Decimal("10.00"),
        Decimal(0),
        (Tax("Isento", Decimal(0), False, True),),
    )
    js = FakeJumpseller(orders=[paid_order(7, "10.00", lines=(exempt,))])
    said = "Texto do iGEST para M10"
    ig = FakeIgest(exemption_reasons=[ExemptionReason("M10", said, "Artigo 53.º do CIVA")])
    run(ledger, js, ig, product_exemption_code="M10")
    [listed] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert listed.igest == review.WAITING
    assert listed.gross_total == Decimal("10.00")
    assert [(v.rate, v.vat) for v in listed.vat] == [(Decimal(0), Decimal(0))]
    assert listed.exemptions == (("M10", f"M10: {said} (Artigo 53.º do CIVA)"),)
    data = listed.to_json()
    assert data["exemptions"] == [
        {"code": "M10", "description": f"M10: {said} (Artigo 53.º do CIVA)"}
    ]


def test_a_gift_card_orders_draft_is_listed_at_the_value_of_the_sale_without_a_false_alarm(
    ledger, capsys
):
    # 12.30 sold, 3.00 of it paid with a gift card: Jumpseller's total is 9.30, the invoice
    # 12.30. The list and the deadline notice must not present that as a mismatch.
    from igest_sync.render.review import waiting_drafts as shown

    order = replace(
        paid_order(7, "12.30"), total=Decimal("9.30"), gift_cards_discount=Decimal("3.00")
    )
    js, ig = FakeJumpseller(orders=[order]), FakeIgest()
    run(ledger, js, ig)
    [listed] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert (listed.gross_total, listed.total) == (Decimal("12.30"), Decimal("9.30"))
    shown([listed])
    text = capsys.readouterr().out
    assert "12.30" in text and "9.30" not in text
    late = run(ledger, js, ig, at=datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    [notice] = late.notices
    assert notice.startswith("Order 7 (order total 9.30 EUR): its invoice draft still waits")


def test_an_exemption_code_igest_does_not_describe_is_shown_as_such_never_with_our_text():
    ig = FakeIgest(exemption_reasons=[ExemptionReason("M10", "Regime de isenção")])
    texts = ExemptionTexts(ig)
    assert texts.label("M45") == "M45 (not on iGEST's list)"
    assert texts.label("M10") == "M10: Regime de isenção"
    assert ig.calls.count("exemption_reasons") == 1  # asked once per command
    down = FakeIgest()
    down.faults.add("exemption_reasons", "5xx", times=None)
    assert ExemptionTexts(down).label("M44") == "M44 (iGEST's description could not be read)"


def test_status_and_the_digest_show_the_drafts_that_wait(ledger):
    from igest_sync.alerts.digest import build_digest, digest_lines
    from igest_sync.runs.setup.status import build_status

    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    status = build_status(ledger, now=RUN_AT + timedelta(days=2))
    assert [d.order_id for d in status.review] == [7]
    assert status.to_json()["review"][0]["total"] == "12.30"
    assert [i for i, _, _ in status.late] == [7]  # a draft is not an invoice: it is late
    digest = build_digest(ledger, RUN_AT - timedelta(days=1), RUN_AT, now=RUN_AT)
    assert digest.awaiting_approval[0]["order_id"] == 7
    assert any("Drafts waiting for approval" in line for line in digest_lines(digest))


def test_a_dry_run_in_review_mode_says_it_would_stop_at_a_draft(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    report = InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT).run(dry_run=True)
    [outcome] = report.outcomes
    assert outcome.detail == "would draft FR 12.30 EUR for approval (review mode)"
    assert report.summary().startswith("Dry run: would draft 1 for approval (review mode)")
    assert writes(ig) == []


def test_a_held_exempt_draft_names_its_code_with_igests_text(ledger):
    exempt = OrderLine(
        101, None, "LIVRO", "Livro", Decimal(1), Decimal("10.00"), Decimal(0),
        (Tax("Isento", Decimal(0), False, True),),
    )  # fmt: skip
    js = FakeJumpseller(orders=[paid_order(7, "10.00", lines=(exempt,))])
    ig = FakeIgest(exemption_reasons=[ExemptionReason("M07", "Texto do iGEST")])
    [outcome] = run(ledger, js, ig, product_exemption_code="M07").outcomes
    assert outcome.action == Action.DRAFTED
    assert outcome.detail.endswith("; exempt lines: M07: Texto do iGEST")


def test_the_deadline_is_one_alert_then_the_reminder_and_a_rejection_alerts_no_one(tmp_path, chat):
    from igest_sync.alerts import dispatch
    from igest_sync.config import AlertsConfig

    alerting = replace(config(), alerts=AlertsConfig(webhook_url=chat.url, webhook_format="json"))
    js = FakeJumpseller(orders=[paid_order(7), paid_order(8)])
    ig = FakeIgest()

    def run_and_alert(at: datetime) -> None:
        report = InvoiceRun.build(alerting, ledger, js, ig, now=at).run()
        dispatch(ledger, alerting, now=at, notices=report.notices + report.quiet_notices)

    def alerted() -> list[tuple[int, str, str]]:
        return [
            (e["order_id"], e["kind"], e["fix"])
            for post in chat.posts
            for e in post.json()["events"]
        ]

    with Ledger(tmp_path / "state.sqlite3") as ledger:
        run_and_alert(RUN_AT)
        review.reject(ledger, ig, 8, now=RUN_AT)
        run_and_alert(RUN_AT + timedelta(minutes=10))
        assert alerted() == []  # a draft waiting before the deadline, a rejection: no alert
        run_and_alert(datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
        assert alerted() == [(7, "notice", "igest-sync approve 7 (or approve --reject 7)")]
        run_and_alert(datetime(2026, 11, 20, 20, 0, tzinfo=UTC))
        assert len(alerted()) == 1
        run_and_alert(datetime(2026, 11, 21, 18, 0, tzinfo=UTC))  # remind_failed_hours later
        assert [e[0] for e in alerted() if e[1] == "notice"] == [7, 7]
        assert not ig.finals()


def test_a_lost_finalize_answer_then_approve_again_then_a_run_make_one_invoice(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    ig.faults.add("finalize_document", "timeout", after=True)  # finalized; the answer is lost
    [lost] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert lost.action == Action.FAILED and "tries again by itself" not in lost.detail
    assert "igest-sync approve 7" in lost.detail and ledger.work(7).error == lost.detail
    # The person approves again at once: looked up, adopted, attached; nothing finalized twice.
    assert review.not_waiting(ledger, 7) is None
    later = RUN_AT + timedelta(minutes=5)
    [again] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=later), [7], [])
    assert (again.action, again.number) == (Action.ADOPTED, "FR A/1")
    report = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10))
    assert report.outcomes == [] and report.exit_code == 0
    assert len(ig.finals(REF)) == 1 and drafts(ig) == []
    assert ig.calls.count("finalize_document") == 1
    assert [d["public_id"] for d in js.documents[7]] == ["FR A/1"]


def test_a_rejection_after_a_lost_finalize_answer_adopts_the_invoice_it_cannot_undo(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    ig.faults.add("finalize_document", "timeout", after=True)
    review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert review.not_waiting(ledger, 7) is None
    outcome = review.reject(ledger, ig, 7, now=RUN_AT)
    assert outcome.action == Action.ADOPTED and "credit" in outcome.detail
    assert ledger.work(7).state == WorkState.FINAL and len(ig.finals(REF)) == 1


def test_a_finalize_that_never_reached_igest_waits_for_approval_again_as_it_said(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    ig.faults.add("finalize_document", "timeout")  # not carried out
    [lost] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert "waits for approval again" in lost.detail
    report = run(ledger, js, ig, at=RUN_AT + timedelta(minutes=10))
    assert [o.action for o in report.outcomes] == [Action.DRAFTED]
    assert not ig.finals() and len(drafts(ig)) == 1


def test_the_approval_table_names_each_invoice_once(capsys):
    from igest_sync.models import DocumentFacts, DocumentOutcome
    from igest_sync.render.review import approve_report

    issued = DocumentOutcome(
        "7", Action.ISSUED, "FR A/61", document=DocumentFacts("FR A/61", Decimal("12.30"))
    )
    failed = DocumentOutcome("8", Action.FAILED, "no draft waits for approval")
    approve_report(review.ApproveReport(outcomes=[issued, failed]), listed=True)
    text = capsys.readouterr().out
    assert text.count("FR A/61") == 1
    assert "no draft waits for approval" in text


# -- the NIF a person approves is the NIF the invoice carries ---------------------------------

RITA = Address(name="Rita", surname="Lopes", taxid="123456789", country_code="PT")


def test_resend_with_a_nif_while_a_draft_waits_drafts_it_for_that_nif_and_approve_issues_it(
    ledger,
):
    js, ig = FakeJumpseller(orders=[paid_order(7, billing=RITA)]), FakeIgest()
    run(ledger, js, ig)
    [listed] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert listed.nif == "123456789" and listed.to_json()["nif"] == "123456789"
    later = RUN_AT + timedelta(minutes=5)
    resent = InvoiceRun.build(config(), ledger, js, ig, now=later).resend(
        [7], override=CustomerOverride(nif="501964843")
    )
    # Not "its draft waits": the draft is made again for the person's NIF, and waits as such.
    [outcome] = resent.outcomes
    assert outcome.action == Action.DRAFTED and "NIF 501964843" in outcome.detail
    assert [d.customer_nif for d in drafts(ig)] == ["501964843"] and not ig.finals()
    assert ledger.work(7).state == WorkState.REVIEW
    [shown] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert shown.nif == "501964843"
    [done] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=later), [7], [])
    assert done.action == Action.ISSUED
    assert [d.customer_nif for d in ig.finals(REF)] == [shown.nif]


def test_a_mistyped_resend_nif_leaves_the_waiting_draft_and_the_order_as_they_were(ledger):
    # Before: the typo deleted the draft the person had looked at and failed the order.
    js, ig = FakeJumpseller(orders=[paid_order(7, billing=RITA)]), FakeIgest()
    run(ledger, js, ig)
    before = (dict(ig.documents), ledger.work(7))
    resent = InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT).resend(
        [7], override=CustomerOverride(nif="123456780")
    )
    [outcome] = resent.outcomes
    assert outcome.action == Action.FAILED and resent.exit_code == 1  # refused, never a success
    assert (
        "not a valid Portuguese NIF" in outcome.detail and "nothing was changed" in outcome.detail
    )
    assert (dict(ig.documents), ledger.work(7)) == before  # the draft still waits, unchanged
    assert ledger.work(7).state == WorkState.REVIEW
    [listed] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert listed.nif == "123456789"


def test_approve_never_finalizes_a_nif_other_than_its_drafts_it_drafts_again(ledger):
    js, ig = FakeJumpseller(orders=[paid_order(7, billing=RITA)]), FakeIgest()
    run(ledger, js, ig)
    [listed] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    # The customer's NIF edited in Jumpseller after the draft was made; the total is the same.
    js.add(paid_order(7, billing=replace(RITA, taxid="501964843")))
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.DRAFTED and "changed" in outcome.detail
    assert "NIF 501964843" in outcome.detail
    assert not ig.finals() and [d.customer_nif for d in drafts(ig)] == ["501964843"]
    assert listed.nif == "123456789"  # what the person saw was not finalized
    [shown] = review.waiting_drafts(ledger, ig, ExemptionTexts(ig))
    assert shown.nif == "501964843"
    [again] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert again.action == Action.ISSUED
    assert [d.customer_nif for d in ig.finals(REF)] == [shown.nif]


def test_the_approval_list_shows_the_nif_of_each_draft(capsys):
    from igest_sync.render.review import waiting_drafts as shown

    waiting = [
        review.WaitingDraft(7, "Rita Lopes", Decimal("12.30"), None, "", "1", nif="123456789"),
        review.WaitingDraft(8, "Ana", Decimal("5.00"), None, "", "2", nif="999999990"),
        review.WaitingDraft(9, "Rui", Decimal("7.00"), None, "", None, igest=review.DELETED),
    ]
    shown(waiting)
    text = capsys.readouterr().out
    assert "NIF" in text and "123456789" in text and "999999990" in text


def test_under_120_columns_each_draft_is_a_block_with_nothing_cut(monkeypatch, capsys):
    # What iGEST says of a draft a person changed by hand, a long description, another Member
    # State's VAT: at 80 columns every line fits, each fact wraps between words only.
    from igest_sync import render
    from igest_sync.models import VatSummary
    from igest_sync.render.review import waiting_drafts as shown

    said = "M16: Isento artigo 14.º do RITI (transmissões intracomunitárias de bens) " * 2
    waiting = [
        review.WaitingDraft(
            7,
            "Atelier Oliveira, Unipessoal Lda.",
            Decimal("182.15"),
            "2026-11-06T11:37:00+00:00",
            "",
            "1",
            igest=review.FINALIZED,
            number="FR A/12",
            gross_total=Decimal("182.15"),
            vat=(
                VatSummary(Decimal("21.00"), Decimal("105.00"), Decimal("22.05"), "ES"),
                VatSummary(Decimal("0.00"), Decimal("50.00"), Decimal("0.00")),
            ),
            exemptions=(("M16", said.strip()),),
            nif="508123453",
        ),
        review.WaitingDraft(9, "Rui", Decimal("7.00"), None, "", None, igest=review.DELETED),
        review.WaitingDraft(10, "Ana", None, None, "", "3", igest=review.UNKNOWN),
    ]
    monkeypatch.setenv("COLUMNS", "80")
    with render.rendering():
        shown(waiting)
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert all(len(line) < 80 for line in lines), text
    assert "Order 7, paid 2026-11-06 11:37\n" in text
    assert "In iGEST       finalized as FR A/12: approving adopts it" in text
    assert "Atelier Oliveira, Unipessoal Lda. (NIF 508123453)" in text
    assert "182.15 EUR" in text
    assert "21.00% ES: 22.05 on 105.00" in text and "0.00%: 0.00 on 50.00" in text
    assert " ".join(text.split()).count(said.strip()) == 1  # wrapped between words only
    assert "Order 9\n  In iGEST       deleted: approving makes it again" in text
    assert "Rui (NIF -)" in text
    assert "Order 10\n  In iGEST       could not be read\n  Customer       Ana (NIF -)\n" in text


# -- a dry run shows the drafts the real run would finalize -----------------------------------


def dry_run(ledger, js, ig, monkeypatch, at=RUN_AT, **settings):
    """A dry run that must write nothing: no iGEST write, no ledger write."""

    def no_write(*statements: object) -> None:
        raise AssertionError(f"a dry run wrote to the ledger: {statements}")

    calls = len(ig.calls)
    with monkeypatch.context() as patched:
        patched.setattr(ledger.db, "write_many", no_write)
        report = InvoiceRun.build(config(**settings), ledger, js, ig, now=at).run(dry_run=True)
    assert [c for c in ig.calls[calls:] if c in WRITES] == []
    return report


def test_a_dry_run_while_drafts_wait_without_an_automatic_hour_lists_the_new_orders(
    ledger, monkeypatch
):
    # The default review mode (no auto_finalize_hour) ended a dry run with an internal error
    # (exit 70) as soon as a draft waited: its reason was formatted with the missing hour.
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig, auto_finalize_hour=None)  # order 7's draft waits for a person
    js.add(paid_order(8, "20.00"))
    later = RUN_AT + timedelta(minutes=10)
    dry = dry_run(ledger, js, ig, monkeypatch, at=later, auto_finalize_hour=None)
    assert [(o.key, o.action) for o in dry.outcomes] == [("8", "would draft")]
    assert dry.finalizing == [] and dry.summary().startswith("Dry run: would draft 1 for approval")
    # As the real run will say it: drafted, not issued (its JSON said "would issue").
    counts = {k: dry.to_json()[k] for k in ("would_issue", "would_draft", "would_draft_again")}
    assert counts == {"would_issue": 0, "would_draft": 1, "would_draft_again": 0}
    real = run(ledger, js, ig, at=later, auto_finalize_hour=None)
    assert [(o.key, o.action) for o in real.outcomes] == [("8", "drafted")]


def test_a_dry_run_after_review_is_turned_off_lists_the_drafts_the_run_will_finalize(
    ledger, monkeypatch
):
    js = FakeJumpseller(orders=[paid_order(7, billing=RITA), paid_order(8, "20.00")])
    ig = FakeIgest()
    run(ledger, js, ig)  # two drafts wait for approval
    later = RUN_AT + timedelta(minutes=10)
    dry = dry_run(ledger, js, ig, monkeypatch, at=later, review=False)
    assert [(o.key, o.action) for o in dry.outcomes] == [
        ("7", "would finalize"),
        ("8", "would finalize"),
    ]
    seven, eight = dry.outcomes
    assert "would finalize" in seven.detail and "12.30 EUR" in seven.detail
    assert "Rita Lopes" in seven.detail and "NIF 123456789" in seven.detail
    assert "review is off" in seven.detail
    assert eight.gross_total == Decimal("20.00")
    assert [d.order_id for d in dry.finalizing] == [7, 8] and dry.drafts == []
    assert "would finalize 2" in dry.summary() and dry.summary().endswith("nothing was written.")
    assert dry.to_json()["would_finalize"] == 2
    assert [o["action"] for o in dry.to_json()["orders"]] == ["would finalize"] * 2
    assert ledger.work(7).state == WorkState.REVIEW and not ig.finals()
    # The real run does what the dry run said.
    real = run(ledger, js, ig, at=later, review=False)
    assert [(o.key, o.action) for o in real.outcomes] == [
        ("7", Action.ISSUED),
        ("8", Action.ISSUED),
    ]


def test_a_dry_run_lists_a_draft_from_its_automatic_hour_on(ledger, monkeypatch):
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig, auto_finalize_hour=19)
    before = datetime(2026, 11, 20, 18, 59, tzinfo=UTC)
    assert dry_run(ledger, js, ig, monkeypatch, at=before, auto_finalize_hour=19).outcomes == []
    at_hour = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
    dry = dry_run(ledger, js, ig, monkeypatch, at=at_hour, auto_finalize_hour=19)
    [outcome] = dry.outcomes
    assert outcome.action == "would finalize" and "19:00" in outcome.detail
    assert dry.to_json()["would_finalize"] == 1
    real = run(ledger, js, ig, at=at_hour, auto_finalize_hour=19)
    assert [o.action for o in real.outcomes] == [Action.ISSUED]


def test_a_dry_run_says_what_the_run_does_with_a_waiting_draft_it_would_not_finalize(
    ledger, monkeypatch
):
    js = FakeJumpseller(orders=[paid_order(7, billing=RITA), paid_order(8), paid_order(9)])
    ig = FakeIgest()
    run(ledger, js, ig)
    js.add(paid_order(7, billing=replace(RITA, taxid="501964843")))  # another NIF since
    js.add(replace(paid_order(8), status="canceled"))
    ig.finalize_document(next(d.id for d in drafts(ig) if d.external_reference.endswith(":9")))
    later = RUN_AT + timedelta(minutes=10)
    dry = dry_run(ledger, js, ig, monkeypatch, at=later, review=False)
    actions = {o.key: (o.action, o.detail) for o in dry.outcomes}
    assert actions["7"][0] == "would draft" and "NIF 501964843" in actions["7"][1]
    assert actions["8"][0] == Action.WOULD_SKIP and "would be deleted" in actions["8"][1]
    assert actions["9"][0] == Action.WOULD_ADOPT
    assert dry.to_json()["would_finalize"] == 0 and "would draft 1 again" in dry.summary()
    real = {o.key: o.action for o in run(ledger, js, ig, at=later, review=False).outcomes}
    assert real == {"7": Action.DRAFTED, "8": Action.SKIPPED, "9": Action.ADOPTED}


def test_many_orders_waiting_for_a_person_cost_one_listing_of_the_cancelled_ones(ledger):
    # Six rejected drafts wait for days: every run listed every order created since the oldest
    # of them (growing with each day they wait), to learn whether one was cancelled.
    orders = [paid_order(n) for n in range(1, 7)]
    js, ig = FakeJumpseller(orders=orders), FakeIgest()
    run(ledger, js, ig)
    for order in orders:
        review.reject(ledger, ig, order.id, now=RUN_AT, reason="x")
    js.add(replace(orders[2], status="canceled"))
    js.calls.clear()
    mark = len(js.log)
    later = run(ledger, js, ig, at=RUN_AT + timedelta(days=3))
    listed = [args for name, args in js.log[mark:] if name == "orders_created_between"]
    assert (date(2026, 11, 19), date(2026, 11, 24), "canceled") in listed
    assert all(status is not None for _, _, status in listed)  # never every order of the days
    assert "order" not in js.calls  # nor a GET each
    [settled] = [o for o in later.outcomes if o.key == "3"]
    assert settled.action == Action.SKIPPED and ledger.work(3) is None
    assert all(ledger.work(n).state == WorkState.FAILED for n in (1, 2, 4, 5, 6))


def test_a_draft_deleted_by_hand_of_an_order_changed_since_waits_for_another_look(ledger):
    # Found in review: `approve` listed the deleted draft with the total the state file knew
    # (12.30 EUR); the order was edited in Jumpseller meanwhile, and approving made and
    # finalized an invoice of 15.00 EUR that no one had been shown.
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    del ig.documents[drafts(ig)[0].id]  # a person deleted it in iGEST
    js.add(paid_order(7, "15.00"))  # and the order was edited
    [listed] = review.waiting_drafts(ledger, ig)
    assert (listed.igest, listed.total) == (review.DELETED, Decimal("12.30"))
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.DRAFTED and "changed" in outcome.detail
    assert not ig.finals() and [d.gross_total for d in drafts(ig)] == [Decimal("15.00")]
    [listed] = review.waiting_drafts(ledger, ig)  # what the person now looks at
    assert listed.gross_total == Decimal("15.00")
    [outcome] = review.approve(InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT), [7], [])
    assert outcome.action == Action.ISSUED and len(ig.finals(REF)) == 1


def test_approving_again_after_a_kill_during_the_approval_says_what_finishes_it(ledger):
    # Found in review: after a kill between iGEST's finalize and the state file's record,
    # `approve 7` said only "its invoice is finalizing, not a draft waiting for approval",
    # and `approve` listed nothing: no word of what finishes it.
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)

    def kill(step: str) -> None:
        if step == "record":
            raise Killed

    approving = InvoiceRun.build(config(), ledger, js, ig, now=RUN_AT, crash_hook=kill)
    with pytest.raises(Killed):
        review.approve(approving, [7], [])
    refused = review.not_waiting(ledger, 7)
    assert refused is not None and refused.action == Action.FAILED
    assert "igest-sync invoice" in refused.detail and "looks it up in iGEST" in refused.detail
    # As it says: the run adopts the invoice iGEST finalized; nothing is finalized twice.
    run(ledger, js, ig, at=RUN_AT + timedelta(minutes=5))
    assert len(ig.finals(REF)) == 1 and ig.calls.count("finalize_document") == 1
    assert ledger.work(7).state == WorkState.FINAL


def test_a_dry_run_says_a_deleted_draft_of_an_order_changed_since_would_wait_again(
    ledger, monkeypatch
):
    # The real run's sweep (review turned off here) makes the deleted draft of an order whose
    # total changed since again and holds it for another look; the dry run, which changes
    # with it, said it would "make its draft again (deleted in iGEST) and finalize it".
    js, ig = FakeJumpseller(orders=[paid_order(7)]), FakeIgest()
    run(ledger, js, ig)
    del ig.documents[drafts(ig)[0].id]  # a person deleted it in iGEST
    js.add(paid_order(7, "15.00"))  # and the order was edited
    later = RUN_AT + timedelta(minutes=10)
    dry = dry_run(ledger, js, ig, monkeypatch, at=later, review=False)
    real = run(ledger, js, ig, at=later, review=False)
    assert [(o.key, o.action) for o in real.outcomes] == [("7", Action.DRAFTED)]
    assert [(o.key, o.action) for o in dry.outcomes] == [("7", Action.WOULD_DRAFT)]
    assert dry.finalizing == [] and not ig.finals()


def test_waiting_drafts_go_in_payment_order_as_moments_not_as_text(tmp_path):
    # The state file keeps a payment time as Jumpseller gave it, offset and all: as text,
    # 10:30+01:00 (09:30 UTC) came after 10:00+00:00, and an order without one came first.
    from datetime import timezone

    from igest_sync.models import Kind
    from igest_sync.runs.invoicing.review import in_payment_order
    from igest_sync.state.ledger import Ledger

    with Ledger(tmp_path / "state.sqlite3") as ledger:
        paid = {
            1: datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
            2: datetime(2026, 7, 1, 10, 30, tzinfo=timezone(timedelta(hours=1))),
            3: None,
        }
        for order_id, at in paid.items():
            ledger.works.record_order(
                order_id, "paid", created_at=None, paid_at=at, total=None, customer=None
            )
            ledger.works.ensure_work(order_id, Kind.INVOICE, f"ref-{order_id}")
        works = [ledger.works.work(i, Kind.INVOICE) for i in (3, 1, 2)]
        ordered = in_payment_order(ledger, [w for w in works if w is not None])
        assert [w.order_id for w in ordered] == [2, 1, 3]
