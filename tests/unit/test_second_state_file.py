"""Two state files issuing for one store (cron as one user, serve as another; a different
IGEST_SYNC_HOME): each run looks up what the other issued, and a person is told of the other.

A state file put back from an older copy is behind once (the rebuild that follows learns what
it missed); new documents of ours that it did not issue, met again on a later run, can only
come from another igest-sync."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from igest_sync.models import Action
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.state.ledger import Ledger
from tests.support.inprocess_world import world

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LINE = [{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}]


def test_a_second_state_file_issuing_for_the_store_is_pointed_out(tmp_path: Path) -> None:
    with world(tmp_path, NOW, start_date=date(2026, 11, 27), sandbox={"seed": False}) as w:
        with Ledger(tmp_path / "other.sqlite3") as other:

            def run(ledger: Ledger):
                return InvoiceRun.build(w.config, ledger, w.js, w.ig, now=NOW).run()

            def paid() -> int:
                return w.sb.store.add_order(lines=LINE, status="paid")

            paid()
            assert run(w.ledger).count(Action.ISSUED) == 1
            assert run(other).count(Action.ADOPTED) == 1  # a first run looks everything up
            for turn in range(3):
                order = paid()
                assert (
                    run(w.ledger).count(Action.ISSUED) == 1
                )  # the other state file's turn first ...
                report = run(other)  # ... then this one meets what it issued
                [outcome] = [o for o in report.outcomes if o.key == str(order)]
                assert outcome.action == Action.ADOPTED
                # Its first run learned what iGEST held: any later one is another issuer's.
                # Told once, then held back until its reminder like every notice (one text).
                shown = [n for n in report.notices if "another igest-sync issues" in n]
                held = [n for n in report.quiet_notices if "another igest-sync issues" in n]
                assert (len(shown), len(held)) == ((1, 0) if turn == 0 else (0, 1)), turn
        finals = w.sb.igest.final_documents_by_reference()
        assert len(finals) == 4 and all(len(docs) == 1 for docs in finals.values())


def test_a_state_file_put_back_from_an_older_copy_is_not_taken_for_another(tmp_path: Path) -> None:
    import sqlite3

    with world(tmp_path, NOW, start_date=date(2026, 11, 27), sandbox={"seed": False}) as w:

        def run(ledger: Ledger):
            return InvoiceRun.build(w.config, ledger, w.js, w.ig, now=NOW).run()

        def paid() -> int:
            return w.sb.store.add_order(lines=LINE, status="paid")

        paid()
        run(w.ledger)
        copy = tmp_path / "copy.sqlite3"
        with sqlite3.connect(w.ledger.path) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)  # last night's copy
        paid()
        run(w.ledger)  # issued after the copy was taken
        with Ledger(copy) as restored:
            notices = []
            for _ in range(3):
                paid()
                report = run(restored)
                notices += [n for n in report.notices if "another igest-sync" in n]
                assert report.count(Action.FAILED) == 0
            assert notices == []
        finals = w.sb.igest.final_documents_by_reference()
        assert len(finals) == 5 and all(len(docs) == 1 for docs in finals.values())


def test_the_listings_of_one_run_are_not_taken_for_another_issuer(tmp_path: Path) -> None:
    # A state file put back from a copy: one run looks up an order paid on the 22nd, then one
    # paid on the 20th (its workers in any order; a payment just after midnight looks from the
    # day before). The second listing meets documents the first did not list: the same run's
    # finding, not another issuer's.
    from igest_sync.references import external_reference
    from igest_sync.runs.invoicing.catch_up import UNKNOWN_KEY, CatchUp
    from tests.support.fakes import FakeIgest

    igest = FakeIgest()
    for order, day in ((1, 20), (2, 22)):
        igest.hold(external_reference("loja", order), day=date(2026, 11, day))
    with Ledger(tmp_path / "s.sqlite3", clock=lambda: NOW) as ledger:
        listing = CatchUp(igest, ledger, "loja", date(2026, 11, 1))
        listing.cover(date(2026, 11, 22))
        listing.cover(date(2026, 11, 20))
        assert listing.take_notices() == []
        assert ledger.get_meta(UNKNOWN_KEY)  # kept for the next runs to compare with
        igest.hold(external_reference("loja", 3), day=date(2026, 11, 23))
        later = CatchUp(igest, ledger, "loja", date(2026, 11, 1))  # the next run
        later.cover(date(2026, 11, 20))
        assert [n for n in later.take_notices() if "another igest-sync" in n]


def test_workers_looking_up_at_once_list_each_document_once(tmp_path: Path) -> None:
    # The run's workers cover the same days at the same moment: one lists, the other waits for
    # that listing. Both listing, each document counted twice made "iGEST holds 2 final
    # documents" of an order with one (an error in the log, an alarming outcome).
    import threading

    from igest_sync.references import external_reference
    from igest_sync.runs.invoicing.catch_up import CatchUp
    from tests.support.fakes import FakeIgest

    igest = FakeIgest()
    igest.hold(external_reference("loja", 1), day=date(2026, 11, 20))
    listing = igest.find_documents
    calls = []
    with Ledger(tmp_path / "s.sqlite3", clock=lambda: NOW) as ledger:
        catch_up = CatchUp(igest, ledger, "loja", date(2026, 11, 1))
        started = threading.Event()
        second = threading.Thread(
            target=lambda: (started.set(), catch_up.cover(date(2026, 11, 20)))
        )

        def listed_while_another_worker_comes(**query):
            calls.append(query)
            if len(calls) == 1:  # the first listing is under way: a second worker arrives
                second.start()
                started.wait(10)
                second.join(0.2)  # without the one listing, it lists now, beside this one
            return listing(**query)

        igest.find_documents = listed_while_another_worker_comes  # type: ignore[method-assign]
        catch_up.cover(date(2026, 11, 20))
        second.join(10)
        assert len(calls) == 1  # the second worker took the first one's listing
        assert len(catch_up.known[external_reference("loja", 1)]) == 1


def test_a_listing_that_failed_on_a_later_page_is_listed_again_without_doubles(
    tmp_path: Path,
) -> None:
    from igest_sync.errors import ServerError
    from igest_sync.references import external_reference
    from igest_sync.runs.invoicing.catch_up import CatchUp
    from tests.support.fakes import FakeIgest

    igest = FakeIgest()
    for order in (1, 2):
        igest.hold(external_reference("loja", order), day=date(2026, 11, 20))
    listing = igest.find_documents
    calls = []

    def cut_short(**query):
        calls.append(query)
        pages = listing(**query)
        if len(calls) == 1:  # the first page, then the service fails
            yield next(iter(pages))
            raise ServerError("iGEST GET /documents: server error", service="iGEST")
        yield from pages

    igest.find_documents = cut_short  # type: ignore[method-assign]
    with Ledger(tmp_path / "s.sqlite3", clock=lambda: NOW) as ledger:
        catch_up = CatchUp(igest, ledger, "loja", date(2026, 11, 1))
        with pytest.raises(ServerError):
            catch_up.cover(date(2026, 11, 20))
        known = catch_up.cover(date(2026, 11, 20))  # the next look-up lists those days again
    assert sorted(len(docs) for docs in known.values()) == [1, 1]


def test_documents_that_stay_unknown_are_not_new_to_a_later_wider_listing(tmp_path: Path) -> None:
    # A first listing meets old documents of ours that no run will learn (an earlier install's,
    # paid before the start date); a later one meets one of them alone; a third, reaching as far
    # back as the first, meets them all again: none is new, no other issuer is named.
    from igest_sync.references import external_reference
    from igest_sync.runs.invoicing.catch_up import CatchUp
    from tests.support.fakes import FakeIgest

    igest = FakeIgest()
    for order, day in ((1, 10), (2, 10), (3, 21)):
        igest.hold(external_reference("loja", order), day=date(2026, 11, day))
    with Ledger(tmp_path / "s.sqlite3", clock=lambda: NOW) as ledger:
        CatchUp(igest, ledger, "loja", date(2026, 11, 1)).cover(date(2026, 11, 10))
        CatchUp(igest, ledger, "loja", date(2026, 11, 1)).cover(date(2026, 11, 21))
        wide = CatchUp(igest, ledger, "loja", date(2026, 11, 1))
        wide.cover(date(2026, 11, 10))
        assert wide.take_notices() == []
