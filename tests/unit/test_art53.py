"""The small-business exemption (art. 53 CIVA): the year's turnover counted from iGEST (every
final document of the entity, every series, credit notes deducted), the notice at 80 % of
15,000 EUR, the alert past 15,000, the refusal past 18,750, each to the cent, with credit notes
that bring the year back under; ``check`` and the digest show it. Against the in-process
sandbox, on a virtual clock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from igest_sandbox.jumpseller.orders import Buyer
from igest_sync.alerts.digest import build_digest, digest_lines
from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError, OrderRejected
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action
from igest_sync.references import external_reference
from igest_sync.runs.invoicing import art53, review
from igest_sync.runs.invoicing.art53 import add_working_days, guard_for, read_turnover
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.setup.service_checks import run_checks
from igest_sync.runs.wiring import credit_run
from tests.support.hand_sales import HAND, sale_by_hand
from tests.support.inprocess_world import World, world
from tests.unit.test_mapping import build, make_order, product, vat
from tests.unit.test_mapping_xborder import SPAIN, spanish_oss_order, to

D = Decimal
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(
        tmp_path,
        NOW,
        start_date=date(2026, 11, 15),
        sandbox={"seed": False},
        vat_regime="art53",
        product_exemption_code="M10",
        shipping_exemption_code="M10",
    ) as current:
        for doc_type in ("FR", "NC"):
            current.sb.igest.series.append(
                {
                    "code": HAND,
                    "document_type": doc_type,
                    "atcud_code": "JB" + doc_type,
                    "active": True,
                }
            )
        yield current


def by_hand(w: World, amount: str, *, credit_of: str | None = None, day: str = "2026-06-01") -> str:
    """A document the merchant issued in iGEST by hand (exempt, M10), with no reference."""
    return sale_by_hand(w.sb.igest, amount, day=day, credit_of=credit_of)


def order(w: World, amount: str) -> int:
    return w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": amount, "qty": 1, "rate": None}],
        shipping=0,
    )


def run(w: World):
    return InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).run()


def outcome(report, order_id: int):
    return next(o for o in report.outcomes + report.quiet if o.key == str(order_id))


def art53_notices(report) -> list[str]:
    return [n for n in report.notices if "art. 53" in n]


def test_the_ceiling_to_the_cent_and_a_credit_note_that_makes_room(w):
    first = by_hand(w, "18700.00")
    fits = order(w, "50.00")
    report = run(w)
    assert outcome(report, fits).action == Action.ISSUED  # exactly 18,750.00: still exempt
    over = order(w, "0.01")
    before = len(w.sb.igest.documents)
    report = run(w)
    refused = outcome(report, over)
    assert refused.action == Action.FAILED and not refused.transient
    assert "18,750.00 EUR" in refused.detail and "18,750.01 EUR" in refused.detail
    assert "never issued as exempt (M10)" in refused.detail
    assert 'vat_regime = "normal"' in refused.detail
    assert "product_exemption_code" in refused.detail and f"resend {over}" in refused.detail
    assert "[invoice.exemptions] domestic_goods" in refused.detail  # the key that wins
    assert len(w.sb.igest.documents) == before  # nothing reached iGEST, not even a draft
    # A credit note (by hand, another series) brings the year back to 18,749.99: the order fits.
    by_hand(w, "0.01", credit_of=first, day="2026-12-01")
    again = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([over])
    assert outcome(again, over).action == Action.ISSUED
    assert read_turnover(w.ledger, w.ig, w.now.date()) == D("18750.00")


def test_the_refusal_past_18750_names_the_real_reference_and_resend_adopts_what_it_names(w):
    # A merchant copied the reference the refusal named ("jumpseller:<store code>:10204"):
    # resend looked up the real one, found nothing and issued a second invoice for the order.
    by_hand(w, "18750.00")
    over = order(w, "12.30")
    refused = outcome(run(w), over)
    assert refused.action == Action.FAILED
    reference = external_reference(w.config.jumpseller.store, over)  # what resend looks up
    assert reference == f"jumpseller:{w.config.jumpseller.login}:{over}"
    assert f"with the external reference {reference};" in refused.detail
    assert "<" not in refused.detail
    # Invoiced by hand as the refusal says (the VAT included in what was paid), then adopted.
    w.sb.igest.create_document(
        {
            "type": "FR",
            "series": HAND,
            "date": "2026-12-01",
            "customer": {"name": "Consumidor final"},
            "external_reference": refused.detail.split("with the external reference ")[1].split(
                ";"
            )[0],
            "lines": [
                {
                    "reference": "AZL",
                    "description": "Azulejo",
                    "quantity": "1",
                    "unit_price": "12.30",
                    "vat_rate": "23.00",
                }
            ],
            "prices_include_vat": True,
            "payment_method": "NU",
            "finalize": True,
        }
    )
    again = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([over])
    assert outcome(again, over).action == Action.ADOPTED
    assert len(w.sb.igest.final_documents_by_reference()[reference]) == 1  # never a second


def test_a_document_charging_vat_adds_its_net_total_to_the_years_turnover(w):
    # A sale taxed under OSS (Spanish VAT) counts as iGEST counts it, net: 25.00 of its 30.25.
    by_hand(w, "18700.00")
    settings = InvoiceConfig(vat_regime="art53", oss=True, exemptions={"domestic_goods": "M10"})
    guard = guard_for(settings, w.ledger, w.ig, w.now.date(), store=w.config.jumpseller.store)
    assert guard is not None and guard.turnover().total == D("18700.00")
    taxed = build(spanish_oss_order(), settings)
    assert (taxed.net_total, taxed.gross_total) == (D("25.00"), D("30.25"))
    guard.admit(1, taxed)
    exempt = build(make_order([product("25.00", taxes=())], "25.00"), settings)
    guard.admit(2, exempt)  # 18,700 + 25.00 + 25.00: exactly 18,750.00, still exempt
    with pytest.raises(OrderRejected, match=r"18,750\.01 EUR"):
        guard.admit(3, build(make_order([product("0.01", taxes=())], "0.01"), settings))


def test_an_m10_line_beside_one_charging_vat_adds_the_documents_net_total(w):
    # An OSS sale's goods at Spanish VAT with its shipping exempt (M10): the guard counted the
    # 30.25 paid, VAT and all, where iGEST counts 26.05, and refused, as past 18,750 EUR, an
    # order that stays within it (every later one of the year refused with it).
    by_hand(w, "18700.00")
    settings = InvoiceConfig(
        vat_regime="art53", oss=True, exemptions={"domestic_goods": "M10", "eu_shipping": "M10"}
    )
    guard = guard_for(settings, w.ledger, w.ig, w.now.date(), store=w.config.jumpseller.store)
    assert guard is not None
    mixed = build(
        to(
            SPAIN,
            make_order([product("12.10", qty="2", taxes=vat("21"))], "30.25", shipping="6.05"),
        ),
        settings,
    )
    assert art53.exempt_as_m10(mixed)
    assert (mixed.net_total, mixed.gross_total) == (D("26.05"), D("30.25"))
    guard.admit(1, mixed)  # 18,726.05
    exempt = build(make_order([product("23.95", taxes=())], "23.95"), settings)
    guard.admit(2, exempt)  # exactly 18,750.00: still exempt
    assert guard.turnover().total == D("18750.00")
    with pytest.raises(OrderRejected, match=r"this 0\.01 EUR would take it to 18,750\.01 EUR"):
        guard.admit(3, build(make_order([product("0.01", taxes=())], "0.01"), settings))


def test_the_order_paid_first_crosses_the_ceiling_and_every_later_one_charges_vat(w):
    # Orders were admitted in the order workers reached them: a later order was issued exempt
    # and the one that really took the year past 18,750 EUR was refused. Payment order decides;
    # from the crossing on the exemption has ended, for the rest of the run and the year.
    by_hand(w, "18700.00")

    late = paid_at(w, "10.00", 11, 30)  # the first id, paid last
    early = paid_at(w, "40.00", 9)  # 18,740.00: exempt
    crossing = paid_at(w, "20.00", 10)  # 18,760.00: the exemption ends here
    report = run(w)
    assert outcome(report, early).action == Action.ISSUED
    assert outcome(report, crossing).action == Action.FAILED
    refused = outcome(report, late)
    assert refused.action == Action.FAILED  # 10.00 would fit, but it comes after the crossing
    assert f"order {crossing} took the year's turnover past 18,750.00 EUR" in refused.detail
    assert "paid without VAT" in refused.detail and f"resend {late}" in refused.detail
    # The next run too, for an order paid since.
    after = order(w, "5.00")
    assert outcome(run(w), after).action == Action.FAILED


def test_the_notice_at_80_percent_and_the_alert_past_15000_each_once(w):
    by_hand(w, "11999.98")
    order(w, "0.01")
    assert art53_notices(run(w)) == []  # 11,999.99
    order(w, "0.01")
    [share] = art53_notices(run(w))  # 12,000.00: from 80 % of 15,000
    assert "12,000.00 EUR, 80 % of 15,000.00 EUR" in share
    # What ends the exemption is a turnover past 15,000 EUR, not the date itself.
    assert (
        "3,000.00 EUR left before 15,000.00 EUR: a turnover past it ends the exemption on " in share
    )
    assert "1 January 2027, and AT must then be told within 15 working days" in share
    assert "left before the exemption ends" not in share
    order(w, "0.01")
    assert art53_notices(run(w)) == []  # once
    by_hand(w, "2999.98", day="2026-12-01")  # 14,999.99
    order(w, "0.01")
    assert art53_notices(run(w)) == []  # exactly 15,000.00 is not past it
    order(w, "0.01")
    [over] = art53_notices(run(w))  # 15,000.01
    assert "15,000.01 EUR, past 15,000.00 EUR" in over
    assert "ends on 1 January 2027" in over
    assert "within 15 working days: by 2026-12-23" in over
    order(w, "0.01")
    assert art53_notices(run(w)) == []  # once


def test_approve_and_resend_that_pass_15000_tell_it_at_once(w):
    # The run that drafted (review mode) or failed the order had read the turnover that day:
    # the next run issued nothing and kept quiet, so the crossing went untold while AT's 15
    # working days ran from it.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    by_hand(w, "14950.00")
    drafted = order(w, "100.00")
    report = run(w)
    [share] = art53_notices(report)
    assert "80 %" in share and outcome(report, drafted).action == Action.DRAFTED
    assert art53_notices(run(w)) == []  # read today already: this run says nothing
    told: list[str] = []
    approving = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    [approved] = review.approve(approving, [drafted], told)
    assert approved.action == Action.ISSUED
    [over] = [n for n in told if "art. 53" in n]
    assert "15,050.00 EUR, past 15,000.00 EUR" in over
    assert art53_notices(run(w)) == []  # once
    # Back under with a credit note (it says so), then a failed order resent: told again.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=False))
    assert any("back to 14,950.00 EUR" in n for n in credit_all(w, drafted).notices)
    failing = order(w, "100.00")
    w.sb.faults.add("igest", "502", method="POST", path=r"/documents", times=None)
    assert outcome(run(w), failing).action == Action.FAILED
    w.sb.faults.clear()
    again = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([failing])
    assert outcome(again, failing).action == Action.ISSUED
    [resent_over] = art53_notices(again)
    assert "15,050.00 EUR, past 15,000.00 EUR" in resent_over


class Killed(BaseException):
    """A kill: nothing after it in the run happens."""


def test_a_run_killed_after_it_crossed_80_percent_tells_it_on_the_next_run(w, monkeypatch):
    """The notice is told once: a kill during the run's last follow-ups (emails, attaching
    documents) must not take it with it."""
    from igest_sync.runs.invoicing.followup import FollowUp

    by_hand(w, "11999.99")
    order(w, "0.01")
    real_finish = FollowUp.finish

    def killed(self, notices):
        raise Killed("during the follow-ups")

    monkeypatch.setattr(FollowUp, "finish", killed)
    with pytest.raises(Killed):
        run(w)
    monkeypatch.setattr(FollowUp, "finish", real_finish)
    [share] = art53_notices(run(w))  # 12,000.00, read by the killed run: told now
    assert "12,000.00 EUR, 80 % of 15,000.00 EUR" in share
    assert art53_notices(run(w)) == []  # and once


def test_credit_notes_that_bring_the_year_back_under_15000_rearm_the_alert(w):
    hand = by_hand(w, "15000.00")
    order(w, "0.01")
    # 80 % and 15,000 at once: the 15,000 notice alone (the 80 % one said "-0.01 EUR left").
    [notice] = art53_notices(run(w))
    assert "past 15,000.00 EUR" in notice and "-0.01" not in notice
    by_hand(w, "0.01", credit_of=hand, day="2026-12-01")  # back to 15,000.00
    w.clock.advance(days=1)  # a run that issues nothing reads the turnover once a day
    [under] = art53_notices(run(w))
    assert "back to 15,000.00 EUR, not past 15,000.00 EUR" in under
    order(w, "0.01")
    [over] = art53_notices(run(w))
    assert "15,000.01 EUR, past 15,000.00 EUR" in over


def credit_all(w: World, order_id: int, **kwargs: Any):
    """``igest-sync credit ORDER --reason Devolvida --yes``."""
    credits = credit_run(w.config, w.ledger, w.js, w.ig, now=w.now)
    return credits.credit(order_id, CreditRequest(everything=True), "Devolvida", **kwargs)


def test_the_credit_command_says_once_that_it_brought_the_year_back_under_15000(w):
    by_hand(w, "12115.00")
    sold = order(w, "3000.00")
    [over] = art53_notices(run(w))
    assert "15,115.00 EUR, past 15,000.00 EUR" in over
    credited = credit_all(w, sold)
    assert credited.outcome is not None and credited.outcome.action == Action.ISSUED
    [under] = art53_notices(credited)  # the credit command tells it, the same day
    assert "back to 12,115.00 EUR, not past 15,000.00 EUR" in under
    assert under in credited.alert_notices  # and an alert says it too
    assert art53_notices(run(w)) == []  # once: the next run does not repeat it
    order(w, "2885.01")
    [again] = art53_notices(run(w))  # re-armed: past 15,000 again is told again
    assert "15,000.01 EUR, past 15,000.00 EUR" in again


def test_a_credit_that_could_not_read_the_turnover_leaves_the_notice_to_the_next_run(
    w, monkeypatch
):
    by_hand(w, "12115.00")
    sold = order(w, "3000.00")
    assert len(art53_notices(run(w))) == 1  # past 15,000 EUR
    real = art53.read_turnover

    def unreadable(*args: Any, **kwargs: Any):
        raise ApiError("iGEST is unreachable", service="iGEST")

    monkeypatch.setattr(art53, "read_turnover", unreadable)
    credited = credit_all(w, sold)
    assert credited.outcome is not None and credited.outcome.action == Action.ISSUED
    assert art53_notices(credited) == []
    monkeypatch.setattr(art53, "read_turnover", real)
    [under] = art53_notices(run(w))  # the same day, a run that issues nothing: read and told
    assert "back to 12,115.00 EUR, not past 15,000.00 EUR" in under
    assert art53_notices(run(w)) == []


def test_every_series_and_every_final_document_counts_net_of_credit_notes(w):
    by_hand(w, "99.00", day="2025-12-31")  # last year: not this year's turnover
    hand = by_hand(w, "1000.00")
    by_hand(w, "250.00", credit_of=hand, day="2026-12-01")
    run_order = order(w, "10.00")
    assert outcome(run(w), run_order).action == Action.ISSUED
    assert read_turnover(w.ledger, w.ig, w.now.date()) == D("760.00")


class Recording:
    """The iGEST client, remembering the listings the turnover asks for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.listed: list[date | None] = []

    def find_documents(self, **kwargs: Any):
        self.listed.append(kwargs.get("date_from"))
        return self.inner.find_documents(**kwargs)


def test_the_count_reads_only_the_days_not_closed_yet(w):
    by_hand(w, "100.00", day="2026-06-01")
    igest = Recording(w.ig)
    day = date(2026, 12, 1)
    assert read_turnover(w.ledger, igest, day) == D("100.00")
    assert igest.listed == [date(2026, 1, 1)]  # the first count of the year reads it all
    by_hand(w, "20.00", day="2026-12-01")
    w.clock.advance(days=1)
    assert read_turnover(w.ledger, igest, date(2026, 12, 2)) == D("120.00")
    # Then only from the first day not closed (the day before yesterday is closed).
    assert igest.listed[1] == date(2026, 11, 30)
    w.clock.advance(days=1)
    assert read_turnover(w.ledger, igest, date(2026, 12, 3)) == D("120.00")
    assert igest.listed[2] == date(2026, 12, 1)
    # A document finalized now but dated on a day already counted is seen by the weekly
    # recount of the whole year.
    by_hand(w, "5.00", day="2026-12-01")
    w.clock.advance(days=6)
    assert read_turnover(w.ledger, igest, date(2026, 12, 8)) == D("125.00")
    assert igest.listed[3] == date(2026, 1, 1)


def test_check_and_the_digest_show_the_turnover_and_the_room_left(w):
    by_hand(w, "12345.67")
    results = {r.name: r for r in run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=w.now)}
    year = results["Small-business exemption (art. 53): turnover 2026"]
    assert year.ok and year.warning  # past 80 %
    assert "12,345.67 EUR invoiced in 2026" in year.detail
    assert "2,654.33 EUR left before 15,000.00 EUR" in year.detail
    assert "6,404.33 EUR before 18,750.00 EUR" in year.detail
    digest = build_digest(w.ledger, datetime(2026, 11, 30, tzinfo=UTC), w.now, now=w.now)
    assert digest.turnover == {
        "year": 2026,
        "turnover": "12345.67",
        "left_to_15000": "2654.33",
        "left_to_18750": "6404.33",
        "on": "2026-12-01",
    }
    assert any(
        "12,345.67 EUR; 2,654.33 EUR left before 15,000.00 EUR" in line
        for line in digest_lines(digest)
    )
    by_hand(w, "6404.34", day="2026-12-01")  # 18,750.01
    results = {r.name: r for r in run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=w.now)}
    year = results["Small-business exemption (art. 53): turnover 2026"]
    assert not year.ok and "VAT is due" in year.detail and "vat_regime" in (year.hint or "")


def test_check_and_the_digest_say_what_each_threshold_means_and_how_far_past_it_the_year_is(w):
    def check_detail() -> str:
        checks = run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=w.now)
        return next(r.detail for r in checks if r.name.startswith("Small-business exemption"))

    def digest_line() -> str:
        digest = build_digest(w.ledger, datetime(2026, 11, 30, tzinfo=UTC), w.now, now=w.now)
        return next(line for line in digest_lines(digest) if line.startswith("Turnover 2026"))

    assert check_detail() == (
        "0.00 EUR invoiced in 2026 (credit notes deducted): 15,000.00 EUR left before "
        "15,000.00 EUR (past it, the exemption ends on 1 January 2027) and 18,750.00 EUR before "
        "18,750.00 EUR (past it, VAT is due at once)"
    )
    by_hand(w, "18750.00", day="2026-12-01")  # within the ceiling, 3,750.00 past 15,000
    room = (
        "3,750.00 EUR over 15,000.00 EUR, so the exemption ends on 1 January 2027; "
        "0.00 EUR left before 18,750.00 EUR (past it, VAT is due at once)"
    )
    assert check_detail() == f"18,750.00 EUR invoiced in 2026 (credit notes deducted): {room}"
    assert digest_line().endswith(f"as of 2026-12-01): 18,750.00 EUR; {room}")  # not -3750.00
    by_hand(w, "1000.00", day="2026-12-01")
    past = "1,000.00 EUR over 18,750.00 EUR: VAT is due; no exempt (M10) document is issued"
    assert check_detail().endswith(
        f"19,750.00 EUR invoiced in 2026 (credit notes deducted): {past}"
    )
    assert digest_line().endswith(f"19,750.00 EUR; {past}")


def test_fifteen_working_days_skip_weekends_and_national_holidays():
    # 8 December (Tuesday) is a holiday: 15 working days from 1 December end on the 23rd.
    assert add_working_days(date(2026, 12, 1), 15) == date(2026, 12, 23)
    # From 7 December: the 8th and Christmas out, the 30th (as AT counts it).
    assert add_working_days(date(2026, 12, 7), 15) == date(2026, 12, 30)
    assert add_working_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Friday -> Monday
    # Easter 2026 is 5 April: Good Friday the 3rd; Corpus Christi 60 days later, 4 June.
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 6)
    assert add_working_days(date(2026, 6, 3), 1) == date(2026, 6, 5)
    # Across the year: 25 December, then 1 January 2027 (a Friday).
    assert add_working_days(date(2026, 12, 24), 2) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert art53.national_holidays(2027) >= {date(2027, 3, 26), date(2027, 5, 27)}


def test_a_dry_run_shows_the_refusal_and_keeps_no_count(w):
    by_hand(w, "18750.00")
    over = order(w, "0.01")
    report = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).run(dry_run=True)
    [would] = [o for o in report.outcomes if o.key == str(over)]
    assert would.action == Action.WOULD_FAIL and "18,750.01 EUR" in would.detail
    assert w.ledger.get_meta("art53_turnover:2026") is None


def paid_at(w: World, amount: str, hour: int, minute: int = 0) -> int:
    """An order of ``amount`` (0 % VAT) paid on the run's day at ``hour``:``minute``."""
    at = datetime(2026, 12, 1, hour, minute, tzinfo=UTC)
    return w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": amount, "qty": 1, "rate": None}],
        shipping=0,
        created_at=at,
        completed_at=at,
    )


def test_a_dry_run_refuses_the_orders_after_the_crossing_as_the_real_run_does(w):
    # The dry run kept the crossing nowhere (it writes no meta): the order paid after the one
    # that crossed 18,750 EUR "would issue" as exempt, and the real run refused it.
    by_hand(w, "18600.00")
    crossing = paid_at(w, "155.00", 11)  # 18,755.00: the exemption ends here
    later = paid_at(w, "50.00", 11, 30)  # 18,650.00 on its own
    dry = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).run(dry_run=True)
    assert outcome(dry, crossing).action == Action.WOULD_FAIL
    would = outcome(dry, later)
    assert would.action == Action.WOULD_FAIL
    assert f"order {crossing}" in would.detail and "must charge VAT" in would.detail
    assert w.ledger.get_meta("art53_crossed_18750:2026") is None  # the dry run wrote nothing
    real = run(w)
    assert [outcome(real, o).action for o in (crossing, later)] == [Action.FAILED] * 2
    assert outcome(real, later).detail == would.detail  # the same refusal, word for word


def test_after_credit_notes_made_room_a_later_order_says_to_resend_the_refused_one_first(w):
    # The refusal of a later order kept the figures of the day the first one was refused and
    # told the merchant to register for VAT, though no document had passed 18,750 EUR and the
    # year was back at 8,600.00 EUR.
    till = by_hand(w, "18600.00")
    crossing = paid_at(w, "155.00", 11)  # 18,755.00: refused, never issued
    later = paid_at(w, "50.00", 11, 30)
    run(w)
    by_hand(w, "10000.00", credit_of=till, day="2026-12-01")  # the year is at 8,600.00
    new = paid_at(w, "20.00", 11, 45)
    refused = outcome(run(w), new)
    again = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([new])
    for detail in (refused.detail, outcome(again, new).detail):
        assert "8,600.00 EUR" in detail and "8,755.00 EUR with order" in detail
        assert f"igest-sync resend {crossing} {new}" in detail
        assert "register for VAT" not in detail and "vat_regime" not in detail
    # As it says: the refused order first, then the later ones, all exempt.
    done = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend(
        [new, later, crossing]
    )
    assert {outcome(done, o).action for o in (crossing, later, new)} == {Action.ISSUED}


def test_a_later_order_is_still_refused_with_the_figures_of_today_while_the_first_passes(w):
    by_hand(w, "18600.00")
    crossing = paid_at(w, "155.00", 11)  # refused: 18,755.00
    run(w)
    by_hand(w, "10.00", day="2026-12-01")  # the till: 18,610.00, and 18,765.00 with it
    later = paid_at(w, "5.00", 11, 30)
    refused = outcome(run(w), later).detail
    assert f"order {crossing} took the year's turnover past 18,750.00 EUR" in refused
    assert "18,610.00 EUR" in refused and "18,765.00 EUR with the 155.00 EUR" in refused
    assert "register for VAT" in refused and f"resend {later}" in refused


@pytest.mark.parametrize("till", [False, True])
def test_in_review_mode_the_draft_paid_first_is_counted_as_a_draft_and_approved_first(w, till):
    # The refusal of the second order called the first one's draft "every final document in
    # iGEST"; then approving the first, paid earlier, was refused as "later" than the second.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    by_hand(w, "18600.00")
    first = paid_at(w, "100.00", 13)
    second = paid_at(w, "100.00", 13, 5)
    report = run(w)
    assert outcome(report, first).action == Action.DRAFTED
    refused = outcome(report, second).detail
    assert (
        "18,600.00 EUR (every final document in iGEST, credit notes deducted), 18,700.00 EUR"
        in (refused)
    )
    assert f"(order {first}: 100.00 EUR, drafted for approval)" in refused
    assert "18,800.00 EUR, past 18,750.00 EUR" in refused
    if till:
        by_hand(w, "100.00", day="2026-12-01")  # 18,700.00: the first order now crosses
    approving = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    [approved] = review.approve(approving, [first], [])
    if not till:
        assert approved.action == Action.ISSUED  # 18,700.00: within the ceiling
        return
    assert approved.action == Action.FAILED
    assert f"order {second}" not in approved.detail  # paid after it, never issued
    assert "18,700.00 EUR (every final document in iGEST, credit notes deducted) and this " in (
        approved.detail
    )
    assert "18,800.00 EUR, past 18,750.00 EUR" in approved.detail
    # The second one is refused as coming after the first, which now is the one that crossed.
    again = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([second])
    assert f"order {first} took the year's turnover past 18,750.00 EUR" in (
        outcome(again, second).detail
    )


@contextmanager
def january_2027(tmp_path: Path, now: datetime) -> Iterator[World]:
    """An art. 53 store in January 2027, with a series for documents made by hand."""
    with art53_store(tmp_path, now, date(2027, 1, 1)) as w:
        yield w


@contextmanager
def art53_store(tmp_path: Path, now: datetime, start_date: date) -> Iterator[World]:
    """An art. 53 store from ``start_date``, with a series for documents made by hand."""
    with world(
        tmp_path,
        now,
        start_date=start_date,
        sandbox={"seed": False},
        vat_regime="art53",
        product_exemption_code="M10",
        shipping_exemption_code="M10",
    ) as w:
        w.sb.igest.series.append(
            {"code": HAND, "document_type": "FR", "atcud_code": "JBFR", "active": True}
        )
        yield w


@pytest.mark.parametrize(("last_year", "refused"), [("15000.00", False), ("15000.01", True)])
def test_a_year_after_one_past_15000_issues_nothing_exempt(tmp_path, last_year, refused):
    with january_2027(tmp_path, datetime(2027, 1, 12, 10, 0, tzinfo=UTC)) as w:
        by_hand(w, last_year, day="2026-06-01")
        new = order(w, "10.00")
        result = outcome(run(w), new)
        check = {r.name: r for r in run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=w.now)}
        year = check["Small-business exemption (art. 53): turnover 2027"]
        if refused:
            assert result.action == Action.FAILED
            assert "turnover of 2026 was 15,000.01 EUR" in result.detail
            assert "ended on 1 January 2027" in result.detail and "vat_regime" in result.detail
            assert not year.ok and "ended on 1 January 2027" in year.detail
        else:
            assert result.action == Action.ISSUED
            assert year.ok


def test_the_turnover_notices_are_in_the_log_too(w, caplog):
    import logging

    by_hand(w, "12500.00")
    order(w, "10.00")
    with caplog.at_level(logging.WARNING, "igest_sync"):
        [notice] = art53_notices(run(w))
    assert notice in caplog.text  # for whoever reads the log of a cron run later


def test_a_closed_year_is_counted_again_each_day_of_january(tmp_path):
    # A till's sale of 31 December entered in iGEST on 2 January still counts in 2026: the
    # year's total read on 1 January is not kept for good, or the exemption that ended with
    # it would go on all year.
    with january_2027(tmp_path, datetime(2027, 1, 1, 10, 0, tzinfo=UTC)) as w:
        by_hand(w, "14000.00", day="2026-06-01")
        first = order(w, "10.00")
        assert outcome(run(w), first).action == Action.ISSUED
        w.clock.advance(days=1)
        by_hand(w, "1000.01", day="2026-12-31")  # entered on 2 January
        second = order(w, "10.00")
        refused = outcome(run(w), second)
        assert refused.action == Action.FAILED
        assert "turnover of 2026 was 15,000.01 EUR" in refused.detail


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_order_paid_after_midnight_of_31_december_is_judged_by_the_new_years_rule(
    tmp_path, dry_run
):
    # A run begun at 23:59:30 on 31 December dates an order paid after midnight 1 January. The
    # order of 31 December takes 2026 past 15,000 EUR, so the exemption ended on 1 January 2027:
    # the document of 1 January was issued exempt (M10) all the same, counted against 2026's
    # ceiling by the run's first day. Its dry run dated it the run's day and said "would
    # issue", and, dated right, counted 2026 without what it would issue on 31 December.
    start = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)  # Lisbon is UTC in winter
    line = [{"sku": "AZL", "name": "Azulejo", "price": "10.00", "qty": 1, "rate": None}]
    with art53_store(tmp_path, start, date(2026, 12, 1)) as w:
        by_hand(w, "14995.00", day="2026-06-01")
        before = w.sb.store.add_order(
            lines=line, shipping=0, created_at=start - timedelta(minutes=5), completed_at=start
        )
        after = w.sb.store.add_order(
            lines=line,
            shipping=0,
            created_at=start,
            completed_at=datetime(2027, 1, 1, 0, 0, 10, tzinfo=UTC),
        )
        invoice_run = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.clock.wall)
        w.clock.advance(minutes=1)  # the listing's minute: midnight passes
        report = invoice_run.run(dry_run=dry_run)
        issued = Action.WOULD_ISSUE if dry_run else Action.ISSUED
        assert outcome(report, before).action == issued  # 2026: 15,005.00, within 18,750
        refused = outcome(report, after)
        assert refused.action == (Action.WOULD_FAIL if dry_run else Action.FAILED)
        assert "turnover of 2026 was 15,005.00 EUR" in refused.detail
        assert "ended on 1 January 2027" in refused.detail
        finals = w.sb.igest.final_documents_by_reference()
        assert external_reference(w.config.jumpseller.store, after) not in finals


def test_a_version_still_running_beside_this_one_reads_its_own_year_total(tmp_path):
    # After an upgrade, an older serve not yet restarted keeps reading the bare number it wrote
    # under its own key; this version keeps its listing and day under another (the JSON there
    # made the older one fail: InvalidOperation, exit 70, every exempt order left uninvoiced).
    with january_2027(tmp_path, datetime(2027, 1, 5, 10, 0, tzinfo=UTC)) as w:
        w.ledger.set_meta("art53_year_total:2026", "14000.00")  # the older version's
        by_hand(w, "16000.00", day="2026-06-01")
        paid = order(w, "10.00")
        refused = outcome(run(w), paid)
        assert "turnover of 2026 was 16,000.00 EUR" in refused.detail  # listed, not the old key
        assert w.ledger.get_meta("art53_year_total:2026") == "14000.00"  # left as it was


def dry_run(w: World):
    return InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).run(dry_run=True)


def state_rows(w: World) -> list[str]:
    """The state file's every row, as SQL."""
    with closing(sqlite3.connect(f"file:{w.ledger.path}?mode=ro", uri=True)) as db:
        return list(db.iterdump())


def test_a_dry_run_that_would_reach_80_percent_says_so_and_writes_nothing(w):
    # The dry run counted its documents against the ceiling but never told the notices: a
    # merchant who looked before issuing learnt only afterwards that the run crossed 80 %.
    by_hand(w, "11999.98")
    order(w, "0.01")
    before = state_rows(w)
    assert art53_notices(dry_run(w)) == []  # 11,999.99
    order(w, "0.01")
    [would] = art53_notices(dry_run(w))  # 12,000.00 once the run issued both orders
    assert "would reach 12,000.00 EUR with what this run would issue, 80 % of 15,000.00" in would
    assert "3,000.00 EUR would be left before 15,000.00 EUR" in would
    assert "has reached" not in would
    assert state_rows(w) == before  # nothing written: neither the notice nor the count
    [share] = art53_notices(run(w))  # the real run still tells it, in its own words, once
    assert "has reached 12,000.00 EUR, 80 % of 15,000.00 EUR" in share and "would" not in share
    assert art53_notices(dry_run(w)) == []  # told: a dry run has nothing more to say
    assert art53_notices(run(w)) == []


def test_a_dry_run_that_would_pass_15000_says_the_exemption_would_end(w):
    by_hand(w, "14990.00")
    order(w, "10.01")
    # Past 15,000 EUR at once: the one notice says all, as the real run's does.
    [would] = art53_notices(dry_run(w))
    assert "would pass 15,000.00 EUR: 15,000.01 EUR with what this run would issue" in would
    assert "The exemption would end on 1 January 2027" in would
    assert "AT would have to be told within 15 working days: by 2026-12-23" in would
    assert w.ledger.get_meta("art53_over_15000:2026") is None
    assert w.ledger.get_meta("art53_share_notice:2026") is None
    [over] = art53_notices(run(w))
    assert "is 15,000.01 EUR, past 15,000.00 EUR. The exemption ends on 1 January 2027" in over


def test_a_dry_run_tells_what_documents_made_elsewhere_took_past_80_percent(w):
    # Nothing to issue, but a day not read yet: the real run reads the turnover once a day
    # and would tell it; so does the dry run, without "with what this run would issue".
    by_hand(w, "12500.00")
    [would] = art53_notices(dry_run(w))
    assert "would reach 12,500.00 EUR, 80 % of 15,000.00 EUR" in would
    assert "this run" not in would
    assert len(art53_notices(run(w))) == 1


def test_a_dry_run_in_review_mode_counts_no_draft_left_for_approval(w):
    # A draft waiting for approval is not final: the real run's notices do not count it.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    by_hand(w, "11999.00")
    drafted = order(w, "1000.00")
    dry = dry_run(w)
    assert outcome(dry, drafted).action == Action.WOULD_DRAFT
    assert art53_notices(dry) == []
    real = run(w)
    assert outcome(real, drafted).action == Action.DRAFTED
    assert art53_notices(real) == []


def test_a_dry_runs_notices_count_a_document_charging_vat_by_its_net_total(w):
    by_hand(w, "11950.00")
    settings = InvoiceConfig(vat_regime="art53", oss=True, exemptions={"domestic_goods": "M10"})
    guard = guard_for(settings, w.ledger, w.ig, w.now.date(), store="s", keep=False)
    assert guard is not None
    taxed = build(spanish_oss_order(), settings)  # 25.00 net of its 30.25
    exempt = build(make_order([product("25.00", taxes=())], "25.00"), settings)
    [would] = guard.would_notices([taxed, exempt])
    assert "would reach 12,000.00 EUR with what this run would issue" in would
    assert w.ledger.get_meta("art53_share_notice:2026") is None


@pytest.mark.parametrize("mode", ["dry run", "review"])
def test_an_export_issued_first_counts_before_the_exempt_order_after_it(w, mode):
    # An export (M05, not M10) admitted before the turnover was read was left out of the
    # count, on the ground that the reading would see it final in iGEST: a dry run's never
    # is, nor is a draft left for approval. The dry run said "would issue" of the order its
    # real run refuses, and review mode drafted it as if it fitted.
    exemptions = {
        "domestic_goods": "M10",
        "domestic_shipping": "M10",
        "export_goods": "M05",
        "export_shipping": "M05",
    }
    settings = replace(w.config.invoice, exemptions=exemptions, review=mode == "review")
    w.config = replace(w.config, invoice=settings)
    by_hand(w, "18700.00")
    uk = Buyer("John", "Smith", "john@example.co.uk", city="London", postal="SW1A 1AA",
               region="London", region_code=None, municipality=None, country="United Kingdom",
               country_code="GB")  # fmt: skip
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    export = w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": "40.00", "qty": 1, "rate": None}],
        shipping=0,
        created_at=at,
        completed_at=at,
        buyer=uk,
    )
    crossing = paid_at(w, "20.00", 10)  # 18,760.00 with the export's 40.00
    invoice_run = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    report = invoice_run.run(dry_run=mode == "dry run")
    assert outcome(report, export).action in (Action.WOULD_ISSUE, Action.DRAFTED)
    refused = outcome(report, crossing)
    assert refused.action in (Action.WOULD_FAIL, Action.FAILED)
    assert f"order {export}: 40.00 EUR" in refused.detail
    assert "18,760.00 EUR, past 18,750.00 EUR" in refused.detail


def test_a_dry_run_under_the_normal_vat_regime_tells_nothing_of_the_exemption(tmp_path):
    with world(tmp_path, NOW, start_date=date(2026, 11, 15), sandbox={"seed": False}) as normal:
        big = order(normal, "15000.01")
        report = dry_run(normal)
        assert outcome(report, big).action == Action.WOULD_ISSUE
        assert report.notices == []


def _switched_to_vat(w: World) -> None:
    """The exemption ended: the regime and the codes changed as the config now demands."""
    normal = replace(
        w.config.invoice,
        vat_regime="normal",
        product_exemption_code="M07",
        shipping_exemption_code="M07",
    )
    w.config = replace(w.config, invoice=normal)


def _final_codes(w: World, order_id: int) -> set[str | None]:
    reference = external_reference(w.config.jumpseller.store, order_id)
    final = [d for d in w.ig.find_documents(external_reference=reference) if d.status == "final"]
    return {ln.exemption_code for d in final for ln in w.ig.get_document(d.id).lines}


@pytest.mark.parametrize("listed_with_lines", [True, False])
def test_a_draft_made_under_art53_is_made_again_not_finalized_with_m10_after_the_switch(
    w, monkeypatch, listed_with_lines
):
    # Found in review: a draft drafted under art. 53 (M10) waited for approval; the merchant's
    # exemption ended and they set vat_regime = "normal" with M07, as the config demands. The
    # draft, of the same total for the same customer, was finalized as it was: with M10.
    # Whether or not iGEST's listing carries a document's lines.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    drafted = order(w, "40.00")
    assert outcome(run(w), drafted).action == Action.DRAFTED
    _switched_to_vat(w)
    if not listed_with_lines:
        listing = w.ig.find_documents

        def without_lines(**query: Any):
            return [replace(d, lines=()) for d in listing(**query)]

        monkeypatch.setattr(w.ig, "find_documents", without_lines)
    issuing = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    [looked] = review.approve(issuing, [drafted], [])
    # Made again with the codes of today's config, and left for a person's look of its own.
    assert looked.action != Action.ISSUED, looked
    monkeypatch.undo()
    [approved] = review.approve(
        InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now), [drafted], []
    )
    assert approved.action == Action.ISSUED, approved
    assert _final_codes(w, drafted) == {"M07"}


def test_a_draft_finalized_by_the_automatic_hour_in_the_run_that_made_it_is_counted_once(w):
    # Found in review: from auto_finalize_hour, the run drafts an order (admitted, counted as
    # drafted for approval) and its sweep finalizes it at once (admitted again): counted twice,
    # the order was refused as taking the year past 18,750 EUR by its own draft, and recorded
    # as the one that ended the exemption, so every later order was refused too.
    w.config = replace(
        w.config, invoice=replace(w.config.invoice, review=True, auto_finalize_hour=0)
    )
    by_hand(w, "18700.00")
    drafted = paid_at(w, "40.00", 9)  # 18,740.00: exempt
    report = run(w)
    assert [o.action for o in report.outcomes if o.key == str(drafted)] == [
        Action.DRAFTED,
        Action.ISSUED,
    ]
    assert w.ledger.get_meta("art53_crossed_18750:2026") in (None, "")
    later = paid_at(w, "10.00", 10)  # 18,750.00: still exempt
    assert [o.action for o in run(w).outcomes if o.key == str(later)][-1] == Action.ISSUED


def test_a_crossing_order_cancelled_before_its_invoice_no_longer_ends_the_exemption(w):
    # Found in review: the order refused for taking the year past 18,750 EUR was cancelled
    # (refunded, never invoiced: no sale, no turnover), yet every later exempt order of the
    # year was refused "with the 200.00 EUR of order <it>, paid before this one", and told to
    # charge VAT while the year stood at 18,650.00 EUR.
    by_hand(w, "18600.00")
    crossing = paid_at(w, "200.00", 11)  # 18,800.00: refused
    assert outcome(run(w), crossing).action == Action.FAILED
    w.sb.store.cancel_order(crossing)
    run(w)  # the run sees the cancellation
    later = paid_at(w, "50.00", 11, 30)  # 18,650.00: within the ceiling
    assert outcome(run(w), later).action == Action.ISSUED
    assert read_turnover(w.ledger, w.ig, w.now.date()) == D("18650.00")


@pytest.mark.parametrize("lapses", ["cancelled", "credit notes made room"])
def test_an_order_refused_after_a_crossing_that_lapsed_is_judged_again(w, lapses):
    # The order paid after the one refused for taking the year past 18,750 EUR was refused with
    # it. The crossing one was then cancelled before its invoice (no sale), or issued exempt
    # once credit notes made room, yet the later one stayed failed for good, telling the
    # merchant to charge VAT on it: a paid order left without its invoice.
    first = by_hand(w, "18600.00")
    crossing = paid_at(w, "200.00", 11)  # 18,800.00: refused
    later = paid_at(w, "50.00", 11, 30)  # refused: it comes after the crossing
    report = run(w)
    assert outcome(report, crossing).action == Action.FAILED
    assert outcome(report, later).action == Action.FAILED
    if lapses == "cancelled":
        w.sb.store.cancel_order(crossing)
        assert outcome(run(w), crossing).action == Action.SKIPPED  # no sale: 18,600.00
    else:
        by_hand(w, "300.00", credit_of=first, day="2026-12-01")  # 18,300.00
        resend = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([crossing])
        assert outcome(resend, crossing).action == Action.ISSUED  # 18,500.00, exempt
    assert outcome(run(w), later).action == Action.ISSUED  # 18,650.00 or 18,550.00: exempt


def test_an_approval_left_waiting_for_the_turnover_is_no_success(w, monkeypatch):
    # Found in review: iGEST did not list the year's documents while a person approved an
    # exempt draft; the draft was deleted and the order left for the next run, yet approve
    # said "Finalized 0, rejected 0, failed 0" and exited 0, as if there had been nothing to do.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    drafted = paid_at(w, "10.00", 9)
    assert outcome(run(w), drafted).action == Action.DRAFTED

    def unlisted(*_args: Any, **_kwargs: Any) -> D:
        raise ApiError("iGEST answered 503", service="iGEST", status=503)

    monkeypatch.setattr(art53, "read_turnover", unlisted)
    report = review.ApproveReport()
    approving = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    report.outcomes = review.approve(approving, [drafted], report.notices)
    [waiting] = report.outcomes
    assert waiting.action == Action.WAITING and "turnover" in waiting.detail
    assert report.exit_code == 1
    assert "waiting 1" in report.summary()
    assert "next run drafts it again" in waiting.detail
    assert not [d for d in w.sb.igest.documents if d["status"] == "draft"]  # as it says
    assert f"igest-sync approve {drafted}" in waiting.detail
    monkeypatch.undo()
    # As it says: the next run drafts it again, and approving it then finalizes it.
    assert outcome(run(w), drafted).action == Action.DRAFTED
    approving = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now)
    assert [o.action for o in review.approve(approving, [drafted], [])] == [Action.ISSUED]


@pytest.mark.parametrize("paid_later", ["a new order", "a draft of a lower id"])
def test_drafts_finalized_without_a_person_are_taken_in_payment_order(w, paid_later):
    # Found in review: with review turned off (or the automatic hour), the run issued its new
    # orders first and then finalized the drafts that waited, each by order id: the order paid
    # later was issued exempt and the one paid first, which fitted, was refused for crossing
    # 18,750 EUR and recorded as the one that ended the exemption.
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    by_hand(w, "18700.00")
    if paid_later == "a new order":
        first = paid_at(w, "40.00", 9)
        assert outcome(run(w), first).action == Action.DRAFTED
        w.config = replace(w.config, invoice=replace(w.config.invoice, review=False))
        later = paid_at(w, "20.00", 10)
    else:  # placed first, paid by Multibanco after the other: drafted by a later run
        placed = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        later = w.sb.store.add_order(
            lines=[{"sku": "AZL", "name": "Azulejo", "price": "20.00", "qty": 1, "rate": None}],
            shipping=0,
            created_at=placed,
            status="pending_payment",
        )
        first = paid_at(w, "40.00", 9)
        assert outcome(run(w), first).action == Action.DRAFTED
        w.sb.store.pay_order(later, at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
        assert outcome(run(w), later).action == Action.DRAFTED
        w.config = replace(w.config, invoice=replace(w.config.invoice, review=False))
    report = run(w)
    assert outcome(report, first).action == Action.ISSUED  # 18,740.00: exempt
    refused = outcome(report, later)  # 18,760.00: the exemption ends with it
    assert refused.action == Action.FAILED and "18,760.00 EUR" in refused.detail
    assert json.loads(w.ledger.get_meta("art53_crossed_18750:2026") or "{}")["order"] == later
    # (the dry run before it says the same: test_a_dry_run_finalizes_in_payment_order_too)


def test_a_dry_run_finalizes_in_payment_order_too(w):
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=True))
    by_hand(w, "18700.00")
    first = paid_at(w, "40.00", 9)
    assert outcome(run(w), first).action == Action.DRAFTED
    w.config = replace(w.config, invoice=replace(w.config.invoice, review=False))
    later = paid_at(w, "20.00", 10)
    dry = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).run(dry_run=True)
    assert outcome(dry, first).action == Action.WOULD_FINALIZE
    assert outcome(dry, later).action == Action.WOULD_FAIL
    assert "18,760.00 EUR" in outcome(dry, later).detail


def test_an_order_invoiced_by_hand_after_its_refusal_is_not_issued_again_when_the_crossing_lapses(
    w,
):
    # The refusal told the merchant to issue the later order by hand, with VAT and its
    # reference. The crossing then lapsed (cancelled before its invoice) and the later order
    # is judged again: it must find the document the merchant issued, never a second one.
    by_hand(w, "18600.00")
    crossing = paid_at(w, "200.00", 11)
    later = paid_at(w, "50.00", 11, 30)
    run(w)
    w.sb.igest.create_document(
        {
            "type": "FR",
            "series": HAND,
            "date": "2026-12-01",
            "customer": {"name": "Consumidor final"},
            "external_reference": external_reference(w.config.jumpseller.store, later),
            "lines": [
                {
                    "reference": "AZL",
                    "description": "Azulejo",
                    "quantity": "1",
                    "unit_price": "50.00",
                    "vat_rate": "23.00",
                }
            ],
            "prices_include_vat": True,
            "payment_method": "NU",
            "finalize": True,
        }
    )
    w.sb.store.cancel_order(crossing)
    run(w)
    report = run(w)
    assert outcome(report, later).action != Action.ISSUED
    finals = w.sb.igest.final_documents_by_reference()
    assert len(finals[external_reference(w.config.jumpseller.store, later)]) == 1


class _Killed(BaseException):
    """The process killed (not an error any layer catches)."""


@pytest.mark.parametrize("lapses", ["cancelled", "credit notes made room"])
def test_a_kill_as_the_crossing_lapses_still_leaves_the_later_order_to_be_judged_again(
    w, monkeypatch, lapses
):
    # The crossing's record (with the orders refused after it) was cleared before those orders
    # were set to be retried: killed between the two, the list was gone and no later run or
    # resend retried them: failed for good, told to charge VAT on an exempt sale.
    first = by_hand(w, "18600.00")
    crossing = paid_at(w, "200.00", 11)  # 18,800.00: refused
    later = paid_at(w, "50.00", 11, 30)  # refused: it comes after the crossing
    run(w)
    real_fail = w.ledger.works.fail

    def killed(order_id: int, *args: Any, **kwargs: Any) -> None:
        if order_id == later:
            raise _Killed
        real_fail(order_id, *args, **kwargs)

    monkeypatch.setattr(w.ledger.works, "fail", killed)

    def lapse() -> None:
        if lapses == "cancelled":
            run(w)
        else:
            InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=w.now).resend([crossing])

    if lapses == "cancelled":
        w.sb.store.cancel_order(crossing)
    else:
        by_hand(w, "300.00", credit_of=first, day="2026-12-01")  # 18,300.00
    with pytest.raises(_Killed):
        lapse()
    monkeypatch.setattr(w.ledger.works, "fail", real_fail)
    lapse()  # started again: the run, or the person's resend
    assert outcome(run(w), later).action == Action.ISSUED
