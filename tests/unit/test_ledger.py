from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.errors import RunLocked, StateError
from igest_sync.models import IssuedDocument
from igest_sync.state.ledger import Ledger
from igest_sync.state.schema import SCHEMA_VERSION


def _doc(doc_id: str = "d1", number: str = "FR A/1", total: str = "12.30") -> IssuedDocument:
    return IssuedDocument(
        id=doc_id,
        type="FR",
        series="A",
        number=number,
        atcud="X-1",
        status="final",
        date=date(2026, 11, 27),
        external_reference="jumpseller:s:1",
        customer_nif=None,
        customer_name="Ana",
        net_total=Decimal("10.00"),
        vat_total=Decimal("2.30"),
        gross_total=Decimal(total),
    )


def test_new_state_file_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite3"
    with Ledger(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_checkpoint_only_moves_forward(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.checkpoint is None
        ledger.advance_checkpoint(10)
        ledger.advance_checkpoint(7)
        assert ledger.checkpoint == 10
    with Ledger(tmp_path / "s.db") as ledger:  # survives reopening
        assert ledger.checkpoint == 10


def test_work_lifecycle_keeps_phase_until_cleared(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        work = ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        assert (work.state, work.phase, work.attempts) == ("pending", None, 0)
        ledger.mark(1, "invoice", "requested")
        ledger.mark(1, "invoice", "draft", document_id="d1")
        ledger.fail(1, "invoice", "iGEST 502", transient=True)
        work = ledger.work(1)
        assert (work.state, work.phase, work.document_id) == ("failed", "draft", "d1")
        assert work.transient and work.attempts == 1 and work.error == "iGEST 502"
        ledger.mark(1, "invoice", "requested")
        assert ledger.work(1).attempts == 2
        ledger.clear_phase(1, "invoice")
        assert ledger.work(1).phase is None
        # ensure_work never resets existing work
        assert ledger.ensure_work(1, "invoice", "jumpseller:s:1").attempts == 2


def test_work_a_run_recorded_is_found_not_written_again(tmp_path: Path) -> None:
    # Discovery records each paid order's work; the issuer then asks for it again: one write,
    # the one that made it (every write is a transaction on the state file).
    with Ledger(tmp_path / "s.db") as ledger:
        statements: list[str] = []
        ledger.db._db.set_trace_callback(statements.append)
        first = ledger.ensure_work(1, "invoice", "jumpseller:s:1", unverified=True)
        again = ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert len(writes) == 1 and "INTO work" in writes[0], statements
        assert again == first and again.phase == "unverified"


def test_record_final_stores_document_and_closes_work(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        ledger.fail(1, "invoice", "boom", transient=True)
        ledger.record_final(1, "invoice", _doc(), email=True)
        work = ledger.work(1)
        assert (work.state, work.error, work.document_id) == ("final", None, "d1")
        [doc] = ledger.documents()
        assert doc.number == "FR A/1" and doc.gross_total == Decimal("12.30")
        assert doc.emailed == 0 and not doc.linked
        assert ledger.unemailed_documents()[0].document_id == "d1"
        assert ledger.work_in_states("failed") == []


def test_links_are_tried_a_bounded_number_of_times(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure_work(1, "invoice", "r")
        ledger.record_final(1, "invoice", _doc(), email=False)
        ledger.begin_link("d1")
        ledger.mark_linked("d1", error="503")
        [doc] = ledger.unlinked_documents(2)
        assert (doc.link_attempts, doc.link_error, doc.linked) == (1, "503", False)
        ledger.begin_link("d1")
        ledger.mark_linked("d1", error="503")
        assert ledger.unlinked_documents(2) == []
        ledger.mark_linked("d1")
        assert ledger.documents()[0].linked


def test_open_orders_are_the_pending_payment_ones(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.record_order(
            2, "pending_payment", created_at=now, paid_at=None, total=Decimal("5"), customer="A"
        )
        ledger.record_order(
            1,
            "paid",
            created_at=now,
            paid_at=now,
            total=Decimal("5"),
            customer="B",
            email="b@example.pt",
        )
        assert [o.order_id for o in ledger.open_orders()] == [2]
        ledger.record_order(
            2, "paid", created_at=now, paid_at=now, total=Decimal("5"), customer="A"
        )
        assert ledger.open_orders() == []
        assert ledger.order(1).email == "b@example.pt"


def test_an_order_total_reads_with_its_cents(tmp_path: Path) -> None:
    # Jumpseller sends 83.3; a notice or a table says 83.30 EUR, as on the invoice.
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.record_order(
            1, "paid", created_at=now, paid_at=now, total=Decimal("83.3"), customer="A"
        )
        assert str(ledger.order(1).total) == "83.30"


def test_corrupt_state_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database, but somebody's data" * 100)
    before = path.read_bytes()
    with pytest.raises(StateError, match="cannot be read") as info:
        Ledger(path)
    assert "Move it away" in info.value.hint
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE future(x)")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer igest-sync"):
        Ledger(path)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE somebody_else(x)")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="no igest-sync schema"):
        Ledger(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unwritable_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Ledger(path).close()
    path.chmod(0o400)
    with pytest.raises(StateError, match="not readable and writable"):
        Ledger(path)


def test_a_state_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"is a directory, not a file") as caught:
        Ledger(tmp_path)
    assert caught.value.hint and "--state" in caught.value.hint
    assert list(tmp_path.iterdir()) == []  # nothing created in it


def test_unwritable_state_directory_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot be opened"):
        Ledger(blocker / "state.sqlite3")


def test_second_lock_holder_is_refused_at_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as first, Ledger(tmp_path / "s.db") as second:
        with (
            first.run_lock(),
            pytest.raises(RunLocked, match=f"pid {os.getpid()}"),
            second.run_lock(),
        ):
            pass
        with second.run_lock():  # released when the first run ended
            pass


def _hold_lock_and_die(path: str) -> None:
    ledger = Ledger(Path(path))
    ledger.run_lock().__enter__()
    os._exit(0)  # dies holding the lock, as a SIGKILLed run would


def test_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Ledger(path).close()
    proc = multiprocessing.get_context("fork").Process(target=_hold_lock_and_die, args=(str(path),))
    proc.start()
    proc.join()
    assert (tmp_path / "s.db.lock").read_text().strip() == str(proc.pid)
    with Ledger(path) as ledger, ledger.run_lock():
        assert (tmp_path / "s.db.lock").read_text().strip() == str(os.getpid())


def test_memory_ledger_for_dry_runs_writes_no_file(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    with Ledger(Path(":memory:")) as ledger:
        assert ledger.checkpoint is None
    assert list(tmp_path.iterdir()) == []


def test_a_version_1_state_file_is_migrated_keeping_its_work(tmp_path: Path) -> None:
    import sqlite3

    from igest_sync.state import schema

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in schema.statements(1):
        db.execute(statement)
    db.execute("PRAGMA user_version=1")
    db.execute(
        "INSERT INTO work VALUES (5, 'credit', 'failed', 'draft', 'jumpseller:s:5:credit', 'd1',"
        " 'refused', 0, 2, '2026-11-01T10:00:00+00:00')"
    )
    db.close()
    with Ledger(path) as ledger:
        work = ledger.work(5, "credit")
    assert work is not None
    assert (work.state, work.phase, work.document_id, work.attempts) == ("failed", "draft", "d1", 2)
    assert work.external_reference == "jumpseller:s:5:credit"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT seq, reported_at FROM work").fetchall() == [(1, None)]


def test_vies_checks_keep_a_clear_answer_for_the_day(tmp_path: Path) -> None:
    from datetime import date

    from igest_sync.models import ViesCheck, ViesStatus

    day = date(2026, 11, 20)
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.vies_answer("ES", "B12345674", day) is None
        down = ViesCheck("ES", "B12345674", ViesStatus.UNAVAILABLE, day, detail="MS_UNAVAILABLE")
        ledger.record_vies_check(down)
        assert ledger.vies_answer("ES", "B12345674", day) is None  # asked again next run
        valid = ViesCheck("ES", "B12345674", ViesStatus.VALID, day, consultation="W1")
        ledger.record_vies_check(valid)
        assert ledger.vies_answer("ES", "B12345674", day) == valid
        ledger.record_vies_check(down)  # never replaces a clear answer
        assert ledger.vies_answer("ES", "B12345674", day) == valid
        assert ledger.vies_answer("ES", "B12345674", date(2026, 11, 21)) is None


def test_the_webhook_inbox_groups_hints_by_order_and_forgets_them_when_done(
    tmp_path: Path,
) -> None:
    from igest_sync.state.inbox import ORDER

    at = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    with Ledger(tmp_path / "state.sqlite3") as ledger:
        for order_id, event in ((5, "order_paid"), (6, "order_paid"), (5, "order_updated")):
            ledger.record_hint(ORDER, order_id, event, triggered_at=None, received_at=at)
        first, second = ledger.waiting_hints(at, 10)
        assert (first.subject_id, first.events, len(first.row_ids)) == (
            5,
            ("order_paid", "order_updated"),
            2,
        )
        assert second.subject_id == 6
        assert [h.subject_id for h in ledger.waiting_hints(at, 1)] == [5]  # the oldest first
        ledger.postpone_hints(second.row_ids, at + timedelta(minutes=1))
        assert [h.subject_id for h in ledger.waiting_hints(at, 10)] == [5]
        assert ledger.next_hint_due() == at + timedelta(minutes=1)
        ledger.finish_hints(first.row_ids)
        assert ledger.hints_count() == 1
    with Ledger(tmp_path / "state.sqlite3") as reopened:  # survives the process
        [left] = reopened.waiting_hints(at + timedelta(minutes=2), 10)
        assert (left.subject_id, left.attempts) == (6, 1)


def test_documents_issued_between_lisbon_bounds_match_their_utc_moments(tmp_path: Path) -> None:
    # The digest asks for Lisbon periods (a day from midnight, from 08:00 ...); the ledger
    # stamps in UTC. In summer Lisbon is UTC+1: a document issued at 00:30 Lisbon on 15 July
    # (23:30 UTC on the 14th) belongs to the 15th, and one at 08:30 Lisbon to the period
    # that starts at 08:00 Lisbon, not to the one that ended then.
    from zoneinfo import ZoneInfo

    lisbon = ZoneInfo("Europe/Lisbon")
    moments = [datetime(2026, 7, 14, 23, 30, tzinfo=UTC), datetime(2026, 7, 15, 7, 30, tzinfo=UTC)]
    now = [moments[0]]
    with Ledger(tmp_path / "s.db", clock=lambda: now[0]) as ledger:
        for n, moment in enumerate(moments, start=1):
            now[0] = moment
            ledger.ensure_work(n, "invoice", f"jumpseller:s:{n}")
            ledger.record_final(n, "invoice", _doc(f"d{n}", f"FR A/{n}"), email=False)

        def between(*bounds: datetime) -> list[str]:
            return [r["document_id"] for r in ledger.alerts.documents_issued_between(*bounds)]

        day = datetime(2026, 7, 15, tzinfo=lisbon)
        eight = datetime(2026, 7, 15, 8, tzinfo=lisbon)
        assert between(day, day + timedelta(days=1)) == ["d1", "d2"]
        assert between(eight - timedelta(days=1), eight) == ["d1"]
        assert between(eight, eight + timedelta(days=1)) == ["d2"]


def test_a_damaged_page_met_after_opening_says_how_to_recover(tmp_path: Path) -> None:
    # The header is sound (the file opens); a page of its documents is not.
    path = tmp_path / "s.db"
    with Ledger(path) as ledger:
        for n in range(1, 400):
            ledger.ensure_work(n, "invoice", f"jumpseller:s:{n}")
            ledger.record_final(n, "invoice", _doc(f"d{n}", f"FR A/{n}"), email=False)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[3 * page : 6 * page] = b"\xff" * (3 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(StateError) as info, Ledger(path) as ledger:
        ledger.documents()
        ledger.work_in_states("final")
    assert "malformed" in str(info.value)
    assert "damaged" in (info.value.hint or "") and "move it away" in (info.value.hint or "")


def test_a_value_sqlite_refuses_is_a_bug_not_a_damaged_file_to_move_away(tmp_path: Path) -> None:
    # A function passed where an order id belongs (a slip in a command's code) was told to the
    # merchant as "The file is damaged ... move it away": a sound ledger, failures and credit
    # requests with it, thrown away for a bug. It stays the bug it is (exit 70, the traceback
    # in the log), and the file stays usable.
    import sqlite3

    with Ledger(tmp_path / "s.db") as ledger:
        with pytest.raises(sqlite3.ProgrammingError):
            ledger.ensure_work(print, "invoice", "jumpseller:s:1")  # type: ignore[arg-type]
        ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        assert [w.order_id for w in ledger.work_in_states("new", "failed", "pending")] == [1]


def test_a_state_file_held_by_another_process_says_so(tmp_path: Path) -> None:
    # A backup tool or an sqlite3 shell holding the write lock past SQLite's busy timeout.
    path = tmp_path / "s.db"
    with Ledger(path) as ledger:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        ledger.db._db.execute("PRAGMA busy_timeout = 50")  # not 10 s in a test
        try:
            with pytest.raises(StateError, match="database is locked") as info:
                ledger.set_meta("x", "1")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert "Another process held the state file" in (info.value.hint or "")


def test_a_state_file_with_two_names_is_refused(tmp_path: Path) -> None:
    # Hard links: one lock and one journal per name, so two runs through two names worked on
    # the file at once and damaged it ("database disk image is malformed" from then on).
    first = tmp_path / "a" / "state.sqlite3"
    with Ledger(first):
        pass
    second = tmp_path / "b.sqlite3"
    os.link(first, second)
    with pytest.raises(StateError, match="has 2 names") as info:
        Ledger(second)
    assert "remove the other hard links" in (info.value.hint or "")
    second.unlink()
    with Ledger(first):  # one name again: fine
        pass


def test_runs_given_a_link_share_the_pace_files_of_the_file_itself(tmp_path: Path) -> None:
    from igest_sync.cli.composition import pace_file

    state = tmp_path / "real" / "state.sqlite3"
    state.parent.mkdir()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(state)
    assert pace_file(link, "igest") == pace_file(state, "igest")
    assert pace_file(link, "igest").parent == state.parent
