"""The issuer's recovery, as a table: every phase a crash can leave × what iGEST holds × how
iGEST answers, against in-memory fakes (milliseconds, no sandbox).

For each case: the outcome, the ledger's state afterwards, the calls made to iGEST, and the one
rule above all: never a second final document for an order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from igest_sync.config import Config
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.models import Action, Kind, WorkState
from igest_sync.references import external_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.catch_up import CatchUp
from igest_sync.runs.invoicing.issuer import Issuer
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import lisbon_date
from tests.support.configs import fake_config
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order

STORE = "loja"
ORDER = 10452
REF = external_reference(STORE, ORDER)
TODAY = date(2026, 11, 20)

PHASES = ["none", "unverified", "requested", "draft", "finalizing"]
HOLDS = ["nothing", "a draft", "a final", "two finals"]
ANSWERS = ["ok", "timeout", "5xx"]
WRITES = {"create_document", "finalize_document", "delete_document"}


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the issuer catches it."""


def make_config(**invoice: object) -> Config:
    return fake_config(store=STORE, login="login", **invoice)


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as ledger:
        yield ledger


def seed(ledger: Ledger, igest: FakeIgest, phase: str, holds: str) -> None:
    """The state a crash (or a lost answer) left: the ledger's work, and iGEST's documents."""
    draft = final = None
    if holds == "a draft":
        draft = igest.hold(REF, "draft", "12.30")
    elif holds == "a final":
        final = igest.hold(REF, "final", "12.30")
    elif holds == "two finals":
        final = igest.hold(REF, "final", "12.30")
        igest.hold(REF, "final", "12.30")
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=phase == "unverified")
    document = draft or final
    if phase in ("requested", "draft", "finalizing"):
        state = WorkState(phase)
        ledger.mark(ORDER, Kind.INVOICE, state, document_id=document.id if document else None)


def issue(ledger: Ledger, igest: FakeIgest, phase: str, **kw: object):
    issuer = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY, **kw
    )  # type: ignore[arg-type]
    # A pending order (no phase) is only looked up when asked (`resend`, or the run's listing
    # after a lost ledger): the table asks, so every row meets what iGEST holds.
    return issuer.issue(paid_order(ORDER), force_lookup=phase == "none")


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("holds", HOLDS)
@pytest.mark.parametrize("phase", PHASES)
def test_recovery_table(ledger, phase: str, holds: str, answer: str):
    igest = FakeIgest()
    seed(ledger, igest, phase, holds)
    finals_before = len(igest.finals(REF))
    if answer == "timeout":
        igest.faults.add("*", "timeout", after=True)  # the first request's answer is lost
    elif answer == "5xx":
        igest.faults.add("*", "5xx")

    outcome = issue(ledger, igest, phase)
    work = ledger.work(ORDER)
    assert work is not None
    names = list(igest.calls)
    assert names[0] == "find_documents"  # every case looks the reference up first

    if answer != "ok":
        # Nothing is sent blind after a failed look-up; the next run tries again by itself.
        assert outcome.action == Action.FAILED and outcome.transient is True
        assert (work.state, work.transient) == (WorkState.FAILED, True)
        assert names == ["find_documents"]
        assert len(igest.finals(REF)) == finals_before
        if phase != "none":
            assert work.phase == ("unverified" if phase == "unverified" else phase)
        return

    finals = igest.finals(REF)
    assert work.state == WorkState.FINAL
    assert work.document_id in {d.id for d in finals}
    # Before anything is written, the run's one listing of the order's days (another
    # integration's invoice of it?): the look-up itself for unverified work, one more request
    # after a look-up by reference.
    listing = [] if phase == "unverified" else ["find_documents"]
    if holds in ("a final", "two finals"):
        assert outcome.action == Action.ADOPTED
        assert names == ["find_documents"]  # nothing written
        assert len(finals) == finals_before
        if holds == "two finals":
            assert "2 final documents" in outcome.detail
        # Our own attempt's document, its answer lost, is not called adopted: that read as if
        # another program had invoiced the order.
        ours = phase in ("requested", "draft", "finalizing")
        assert ("issued by an earlier attempt whose answer was lost" in outcome.detail) == ours
        assert ("adopted" in outcome.detail) != ours
    elif holds == "a draft":
        assert outcome.action == Action.ISSUED
        assert names == ["find_documents", *listing, "finalize_document"]  # the draft reused
        assert len(finals) == 1
    else:
        assert outcome.action == Action.ISSUED
        assert names == ["find_documents", *listing, "create_document", "finalize_document"]
        assert len(finals) == 1
    assert [d for d in igest.documents.values() if d.status == "draft"] == []


def test_pending_orders_in_a_known_ledger_cost_one_listing_per_run_not_a_lookup_each():
    # The run's cost grows with new orders: one listing of what iGEST issued since the
    # ledger's last news (a state file put back from a copy would not know it), then each
    # pending order with no phase is sent at once.
    with Ledger(Path(":memory:")) as ledger:
        igest = FakeIgest()
        issuer = Issuer(
            RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
        )
        outcomes = [issuer.issue(paid_order(ORDER)), issuer.issue(paid_order(ORDER + 1))]
        assert [o.action for o in outcomes] == [Action.ISSUED, Action.ISSUED]
        assert igest.calls == ["find_documents"] + ["create_document", "finalize_document"] * 2
        # From the day the first was paid (both were): its invoice cannot be dated before it.
        assert igest.called("find_documents") == [{"date_from": date(2026, 11, 20)}]


def test_a_state_file_put_back_from_an_older_copy_adopts_what_was_issued_after_it():
    """The order was paid on the 18th and invoiced on the 19th, after the copy was taken; since
    the copy was put back the ledger has recorded newer things (a run on the 21st, a credit
    note of the 21st), so its own news says nothing of the 19th. The run lists iGEST from the
    order's payment day and finds the invoice (the simulation, seeds 1, 378 and 1222)."""
    with Ledger(Path(":memory:")) as ledger:
        ledger.set_meta("last_run_at", "2026-11-21T10:00:00+00:00")
        ledger.complete_listing(ORDER - 1)
        igest = FakeIgest()
        held = igest.hold(REF, "final", "12.30", day=date(2026, 11, 19))
        igest.hold("jumpseller:loja:1:credit:rX", "final", "5.00", type="NC", day=TODAY)
        paid = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
        issuer = Issuer(
            RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
        )
        outcome = issuer.issue(paid_order(ORDER, paid_at=paid))
        assert outcome.action == Action.ADOPTED
        assert igest.called("create_document") == []
        assert igest.called("find_documents") == [{"date_from": date(2026, 11, 18)}]
        assert [d.id for d in igest.finals(REF)] == [held.id]
        # Behind: the next runs list the orders again from that day and look before issuing.
        assert ledger.rebuilding and ledger.rebuild_from == date(2026, 11, 18)
        # An order paid earlier still in the same run: only the days not yet listed.
        issuer.issue(paid_order(ORDER + 1, paid_at=paid - timedelta(days=2)))
        assert igest.called("find_documents")[1:] == [
            {"date_from": date(2026, 11, 16), "date_to": date(2026, 11, 17)}
        ]


def test_the_runs_listing_answers_for_unverified_work_without_a_lookup(ledger):
    igest = FakeIgest()
    held = igest.hold(REF, "final", "12.30")
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=True)
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)
    issuer.use_listing({REF: [held]})
    assert issuer.issue(paid_order(ORDER)).action == Action.ADOPTED
    assert igest.calls == []


@pytest.mark.parametrize(
    ("method", "answer", "phase_after"),
    [
        ("create_document", "timeout", "requested"),  # done; its answer lost
        ("create_document", "5xx", "requested"),  # not done
        ("finalize_document", "timeout", "finalizing"),  # final; its answer lost
        ("finalize_document", "5xx", "finalizing"),  # still a draft
    ],
)
def test_a_lost_or_refused_write_is_recovered_by_the_next_attempt(
    ledger, method: str, answer: str, phase_after: str
):
    igest = FakeIgest()
    igest.faults.add(method, answer, after=answer == "timeout")
    first = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    work = ledger.work(ORDER)
    assert first.action == Action.FAILED and first.transient is True
    assert work is not None and (work.state, work.phase) == (WorkState.FAILED, phase_after)

    igest.calls.clear()
    igest.log.clear()
    second = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    assert second.action in (Action.ISSUED, Action.ADOPTED)
    # Looked up before anything is sent; then (if anything is to be sent) the listing of the
    # order's days, for another integration's invoice of it.
    lookups = igest.called("find_documents")
    assert lookups[0] == {"external_reference": REF}
    assert all("external_reference" not in call for call in lookups[1:]) and len(lookups) <= 2
    assert len(igest.finals(REF)) == 1
    # Only a draft that never reached iGEST is sent again; any other is reused or adopted.
    resent = (method, answer) == ("create_document", "5xx")
    assert igest.called("create_document") == ([REF] if resent else [])
    assert ledger.work(ORDER).state == WorkState.FINAL


@pytest.mark.parametrize("step", ["begin", "lookup", "request", "drafted", "finalize", "record"])
def test_a_kill_at_any_step_then_a_rerun_issues_exactly_once(ledger, step: str):
    igest = FakeIgest()
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=True)  # looked up: a first run

    def kill(at: str) -> None:
        if at == step:
            raise Killed(at)

    with pytest.raises(Killed):
        Issuer(
            RunContext.build(make_config(), ledger, FakeJumpseller(), igest),
            today=TODAY,
            crash_hook=kill,
        ).issue(paid_order(ORDER))
    assert ledger.work(ORDER).state != WorkState.FINAL

    outcome = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    assert outcome.action in (Action.ISSUED, Action.ADOPTED)
    assert len(igest.finals(REF)) == 1
    assert [d for d in igest.documents.values() if d.status == "draft"] == []
    assert len(igest.called("create_document")) <= 1  # a lost draft is reused, never resent
    assert ledger.work(ORDER).state == WorkState.FINAL


def test_a_draft_whose_total_differs_is_deleted_and_nothing_is_issued(ledger):
    igest = FakeIgest()
    igest.total_skew = igest.total_skew + 1
    outcome = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    assert outcome.action == Action.FAILED and outcome.transient is False
    assert "13.30" in outcome.detail and "12.30" in outcome.detail
    assert igest.documents == {} and igest.finals() == []
    work = ledger.work(ORDER)
    assert work is not None and (work.state, work.phase) == (WorkState.FAILED, None)


def test_a_stray_draft_with_the_wrong_total_is_deleted_and_a_new_one_issued(ledger):
    igest = FakeIgest()
    stray = igest.hold(REF, "draft", "99.00")
    seed_phase = WorkState.DRAFT
    ledger.ensure_work(ORDER, Kind.INVOICE, REF)
    ledger.mark(ORDER, Kind.INVOICE, seed_phase, document_id=stray.id)
    outcome = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    assert outcome.action == Action.ISSUED
    assert igest.called("delete_document") == [stray.id]
    assert len(igest.finals(REF)) == 1 and stray.id not in igest.documents


@pytest.mark.parametrize(
    "phase,emailed", [("finalizing", True), ("draft", True), ("unverified", False)]
)
def test_an_invoice_whose_finalize_answer_was_lost_is_still_emailed_once(
    ledger, phase: str, emailed: bool
):
    # Our own attempt finalized the invoice but never heard so: the customer must still get
    # it. Work a rebuild found (unverified) may have been emailed by the lost ledger: not again.
    igest = FakeIgest()
    seed(ledger, igest, phase, "a final")
    outcome = Issuer(
        RunContext.build(make_config(email_customer=True), ledger, FakeJumpseller(), igest),
        today=TODAY,
    ).issue(paid_order(ORDER))
    assert outcome.action == Action.ADOPTED
    due = [d.order_id for d in ledger.unemailed_documents()]
    assert due == ([ORDER] if emailed else [])


def test_a_stray_draft_of_an_earlier_day_is_deleted_and_drafted_again_today(ledger):
    """iGEST refuses to finalize a draft dated before the series' last final document: a draft
    whose answer was lost yesterday, reused today after other invoices, failed the order for
    good and stayed behind (found by the simulation, seed 35)."""
    igest = FakeIgest()
    stray = igest.hold(REF, "draft", "12.30", day=date(2026, 11, 19))
    ledger.ensure_work(ORDER, Kind.INVOICE, REF)
    ledger.mark(ORDER, Kind.INVOICE, WorkState.DRAFT, document_id=stray.id)
    outcome = Issuer(
        RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY
    ).issue(paid_order(ORDER))
    assert outcome.action == Action.ISSUED
    assert igest.called("delete_document") == [stray.id]
    [final] = igest.finals(REF)
    assert final.date == TODAY and stray.id not in igest.documents


def test_unverified_work_paid_before_the_runs_listing_is_answered_from_a_wider_one(ledger):
    """A run's listing that began at a later order's payment day must not answer for work
    recorded as unverified (a rebuild) of an order paid before it: the listing is widened to
    that order's payment day, and its invoice found there is adopted."""
    igest = FakeIgest()
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)
    assert issuer.issue(paid_order(ORDER + 1)).action == Action.ISSUED  # listed from the 20th
    held = igest.hold(REF, "final", "12.30", day=date(2026, 11, 16))
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=True)
    paid = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert issuer.issue(paid_order(ORDER, paid_at=paid)).action == Action.ADOPTED
    assert igest.called("find_documents")[1:] == [
        {"date_from": date(2026, 11, 15), "date_to": date(2026, 11, 19)}
    ]
    assert [d.id for d in igest.finals(REF)] == [held.id]


def test_serve_units_sharing_one_catch_up_list_igest_once(ledger):
    """serve's worker hands one CatchUp to all its units: a trickle of webhooks costs two iGEST
    writes per order after the first listing, not a listing per unit."""
    igest = FakeIgest()
    shared = CatchUp(igest, ledger, STORE, None)
    for order_id in (ORDER, ORDER + 1, ORDER + 2):
        unit = Issuer(
            RunContext.build(make_config(), ledger, FakeJumpseller(), igest),
            today=TODAY,
            catch_up=shared,
        )
        assert unit.issue(paid_order(order_id)).action == Action.ISSUED
    assert len(igest.called("find_documents")) == 1


def test_a_rebuild_listing_does_not_answer_for_an_order_paid_before_it(ledger):
    """A rebuild (or a --since backfill) lists iGEST from its floor; work of an order paid
    before the floor (its invoice dated then) was answered by that listing as "nothing there"
    and issued a second time. One listing now: the days before the floor are looked up too."""
    igest = FakeIgest()
    held = igest.hold(REF, "final", "12.30", day=date(2026, 11, 10))
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=True)
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)
    issuer.use_listing({}, date(2026, 11, 15))  # the run's listing from its floor: empty
    paid = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    assert issuer.issue(paid_order(ORDER, paid_at=paid)).action == Action.ADOPTED
    assert igest.called("create_document") == []
    assert igest.called("find_documents") == [
        {"date_from": date(2026, 11, 10), "date_to": date(2026, 11, 14)}
    ]
    assert [d.id for d in igest.finals(REF)] == [held.id]


def test_a_listing_handed_twice_counts_each_document_once(ledger):
    igest = FakeIgest()
    held = igest.hold(REF, "final", "12.30")
    ledger.ensure_work(ORDER, Kind.INVOICE, REF, unverified=True)
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)
    issuer.use_listing({REF: [held]})
    issuer.use_listing({REF: [held]})  # serve's units share one catch-up
    outcome = issuer.issue(paid_order(ORDER))
    assert outcome.action == Action.ADOPTED and "final documents" not in outcome.detail


@pytest.mark.parametrize(
    ("held", "override", "reused"),
    [
        (None, CustomerOverride(nif="123456789"), False),  # resend --nif after a lost answer
        ("123456789", CustomerOverride(as_consumer=True), False),  # resend --as-consumer
        ("PT123456789", CustomerOverride(nif="123456789"), True),  # iGEST kept the prefix
        (None, None, True),  # the same consumer: the draft is finished
    ],
)
def test_a_draft_left_for_another_customer_is_never_finalized(ledger, held, override, reused):
    igest = FakeIgest()
    stray = igest.hold(REF, "draft", "12.30")
    igest.documents[stray.id] = replace(stray, customer_nif=held)
    ledger.ensure_work(ORDER, Kind.INVOICE, REF)
    ledger.mark(ORDER, Kind.INVOICE, WorkState.DRAFT, document_id=stray.id)
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)  # type: ignore[arg-type]
    outcome = issuer.issue(paid_order(ORDER), override=override, force_lookup=True)
    assert outcome.action == Action.ISSUED
    [final] = igest.finals(REF)
    expected = None if override is None or override.as_consumer else override.nif
    if reused:
        assert final.id == stray.id
    else:
        assert final.id != stray.id and stray.id not in igest.documents  # deleted, not issued
        assert final.customer_nif == expected


@pytest.mark.parametrize(
    ("paid", "clock", "dated"),
    [
        # The run began at 23:59:50 on the 20th; while it listed, midnight passed and the order
        # was paid: its invoice is dated the day of the payment, not the day the run began.
        (
            datetime(2026, 11, 21, 0, 0, 20, tzinfo=UTC),
            datetime(2026, 11, 21, 0, 1, tzinfo=UTC),
            date(2026, 11, 21),
        ),
        # Jumpseller's clock a few seconds ahead of ours: never a date iGEST would call future.
        (
            datetime(2026, 11, 21, 0, 0, 2, tzinfo=UTC),
            datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
            date(2026, 11, 20),
        ),
        # Paid on an earlier day (a retry): the run's day, as ever.
        (datetime(2026, 11, 18, 10, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC), TODAY),
    ],
)
def test_an_invoice_is_dated_on_the_day_of_its_payment_when_a_run_crosses_midnight(
    ledger, paid, clock, dated
):
    igest = FakeIgest()
    context = RunContext.build(make_config(), ledger, FakeJumpseller(), igest, now=clock)
    outcome = Issuer(context, today=TODAY).issue(paid_order(ORDER, paid_at=paid))
    assert outcome.action == Action.ISSUED
    [doc] = igest.finals(REF)
    assert doc.date == dated
    # A state file put back from before the run: its look-up by payment day finds the invoice
    # (adopted), never issues it again.
    with Ledger(Path(":memory:")) as fresh:
        again = Issuer(
            RunContext.build(make_config(), fresh, FakeJumpseller(), igest, now=clock),
            today=lisbon_date(clock),
        ).issue(paid_order(ORDER, paid_at=paid))
    assert again.action == Action.ADOPTED and len(igest.finals(REF)) == 1


def test_a_failed_listing_for_the_foreign_invoice_hold_fails_the_order_not_the_run(ledger):
    """A retry's listing of the order's days (another integration's invoice of it?) answered
    502: the error left the order's step, and the whole run stopped as if iGEST refused the
    credentials. It is that order's passing failure, as a failed look-up is."""
    from igest_sync.runs.invoicing.issuer import looked_from

    igest = FakeIgest()
    seed(ledger, igest, "requested", "nothing")
    order = paid_order(ORDER)
    igest.faults.add("find_documents", "5xx", match={"date_from": looked_from(order)}, times=None)
    issuer = Issuer(RunContext.build(make_config(), ledger, FakeJumpseller(), igest), today=TODAY)
    outcome = issuer.issue(order)
    assert outcome.action == Action.FAILED and outcome.transient
    assert "iGEST" in outcome.detail and igest.finals(REF) == []
    work = ledger.work(ORDER)
    assert work is not None and work.state == WorkState.FAILED and work.transient


def test_an_order_placed_days_before_its_payment_is_looked_up_in_one_listing(ledger):
    # Placed on the 18th, paid on the 20th (a Multibanco reference): the look-up listed iGEST
    # from the payment day, then the hold for another integration's invoice the days before.
    igest = FakeIgest()
    context = RunContext.build(make_config(), ledger, FakeJumpseller(), igest)
    issuer = Issuer(context, today=TODAY)
    order = paid_order(ORDER, created_at=datetime(2026, 11, 18, 10, tzinfo=UTC))
    assert issuer.issue(order).action == Action.ISSUED
    assert len(igest.called("find_documents")) == 1


def test_serves_listing_read_again_keeps_each_documents_latest_state(ledger):
    # serve re-lists the days once a minute; a document it had seen kept its first copy: a
    # draft another integration then finalized stayed "draft" to the hold (a second invoice),
    # and an invoice since annulled kept holding its order until serve restarted.
    igest = FakeIgest()
    draft = igest.hold("", "draft", day=TODAY)
    annulled = igest.hold("QI-7", "final", day=TODAY)
    now = [datetime(2026, 11, 20, 12, tzinfo=UTC)]
    catch_up = CatchUp(
        igest, ledger, STORE, None, refresh_every=timedelta(minutes=1), clock=lambda: now[0]
    )
    catch_up.cover(TODAY)
    igest.documents[draft.id] = replace(draft, status="final", number="FT QI/3")
    igest.documents[annulled.id] = replace(annulled, status="cancelled")
    now[0] += timedelta(minutes=2)
    known = catch_up.cover(TODAY)
    assert [(d.id, d.status) for d in known[""]] == [(draft.id, "final")]
    assert [(d.id, d.status) for d in known["QI-7"]] == [(annulled.id, "cancelled")]


def test_serves_listing_is_read_again_after_the_clock_stepped_back(ledger):
    # Listed at 12:00 by a clock an hour ahead, which then stepped back: the listing was "from
    # the future" and not read again for an hour (another integration's invoice unseen).
    igest = FakeIgest()
    now = [datetime(2026, 11, 20, 12, tzinfo=UTC)]
    catch_up = CatchUp(
        igest, ledger, STORE, None, refresh_every=timedelta(minutes=1), clock=lambda: now[0]
    )
    catch_up.cover(TODAY)
    now[0] -= timedelta(hours=1)
    catch_up.cover(TODAY)
    assert len(igest.called("find_documents")) == 2
