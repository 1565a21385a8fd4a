"""Ready for 1 January 2027 (Lei 73-A/2025: a PDF invoice needs a qualified seal): igest-sync
never builds nor alters a PDF (it links iGEST's document and lets iGEST email it), and from
2027-01-01 ``check`` or the first run reminds the merchant, once, to confirm the seal is on in
iGEST. On a virtual clock, never today's date."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from igest_sync.models import Action
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.setup.service_checks import run_checks
from tests.support.inprocess_world import World, world

JANUARY_2027 = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
NEW_YEAR = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)  # midnight in Lisbon too (WET = UTC)
NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
SEAL = "Qualified seal in iGEST (from 2027)"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(
        tmp_path,
        JANUARY_2027,
        start_date=date(2027, 1, 1),
        sandbox={"seed": False},
        link_documents=True,
        email_customer=True,
    ) as current:
        yield current


def seal_results(w: World, now: datetime) -> list:
    """The reminder as check shows it (a warning); once given, check's quiet line is left out."""
    return [
        r
        for r in run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=now)
        if r.name == SEAL and r.warning
    ]


def test_check_reminds_once_from_the_first_of_january_2027(w):
    assert seal_results(w, NEW_YEARS_EVE) == []
    [reminder] = seal_results(w, NEW_YEAR)
    assert reminder.ok and reminder.warning  # a reminder, not a failure: exit code unchanged
    assert "Lei 73-A/2025" in reminder.detail and "qualified seal is on" in reminder.detail
    assert "attaches iGEST's own document" in reminder.detail and "email" in reminder.detail
    assert seal_results(w, JANUARY_2027) == []  # once; then a quiet line saying when
    [quiet] = [r for r in run_checks(w.config, w.js, w.ig, ledger=w.ledger, now=JANUARY_2027)
               if r.name == SEAL]  # fmt: skip
    assert quiet.ok and not quiet.warning and "reminded on 2027-01-01" in quiet.detail
    # ... and the first run of the year does not repeat it.
    report = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    assert not any("Lei 73-A/2025" in n for n in report.notices)


def test_the_first_run_of_2027_reminds_once(w):
    order_id = w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": "12.30", "qty": 1, "rate": 23}],
        buyer=None,
    )
    first = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    assert any(o.key == str(order_id) and o.action == Action.ISSUED for o in first.outcomes)
    assert sum("Lei 73-A/2025" in n for n in first.notices) == 1
    second = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    assert not any("Lei 73-A/2025" in n for n in second.notices + second.quiet_notices)
    assert seal_results(w, JANUARY_2027) == []


def test_a_first_run_of_2027_killed_during_its_follow_ups_leaves_the_reminder_to_the_next(
    w, monkeypatch
):
    """Told once: a kill while the run attaches or emails its documents must not take the
    reminder with it."""
    from igest_sync.runs.invoicing.followup import FollowUp

    class Killed(BaseException):
        pass

    def killed(self, notices):
        raise Killed

    w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": "12.30", "qty": 1, "rate": 23}],
        buyer=None,
    )
    with monkeypatch.context() as patched:
        patched.setattr(FollowUp, "finish", killed)
        with pytest.raises(Killed):
            InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    after = InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    assert sum("Lei 73-A/2025" in n for n in after.notices) == 1


def test_no_reminder_when_nothing_reaches_the_customer_through_igest_sync(tmp_path):
    with world(
        tmp_path,
        JANUARY_2027,
        start_date=date(2027, 1, 1),
        sandbox={"seed": False},
        link_documents=False,
        email_customer=False,
    ) as quiet:
        assert seal_results(quiet, JANUARY_2027) == []


def test_a_seal_confirmed_in_the_config_is_never_reminded(tmp_path):
    with world(
        tmp_path,
        JANUARY_2027,
        start_date=date(2027, 1, 1),
        sandbox={"seed": False},
        link_documents=True,
        email_customer=True,
        qualified_seal=True,
    ) as confirmed:
        assert seal_results(confirmed, NEW_YEAR) == []  # no reminder, on the day or after
        run = InvoiceRun.build(
            confirmed.config, confirmed.ledger, confirmed.js, confirmed.ig, now=JANUARY_2027
        ).run()
        assert not any("Lei 73-A/2025" in n for n in run.notices + run.quiet_notices)
        [line] = [
            r
            for r in run_checks(
                confirmed.config,
                confirmed.js,
                confirmed.ig,
                ledger=confirmed.ledger,
                now=JANUARY_2027,
            )
            if r.name == SEAL
        ]
        assert line.ok and not line.warning and "qualified_seal" in line.detail


def test_the_document_reaching_the_customer_is_igests_own(w):
    """The order gets a link to iGEST's PDF, the email is iGEST's: no PDF is fetched, built or
    changed on the way."""
    order_id = w.sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": "12.30", "qty": 1, "rate": 23}],
    )
    InvoiceRun.build(w.config, w.ledger, w.js, w.ig, now=JANUARY_2027).run()
    [doc] = [d for d in w.sb.igest.documents if d["status"] == "final"]
    [attached] = w.sb.store.documents[order_id]
    assert attached["url"] == doc["pdf_url"]  # the link, exactly as iGEST gave it
    assert [e["document_id"] for e in w.sb.igest.emails] == [doc["id"]]  # iGEST sends it
    routes = w.sb.stats()["igest"]["by_route"]
    assert not [r for r in routes if "pdf" in r.lower()], routes  # never even downloaded


PDF_LIBRARIES = re.compile(
    r"^\s*(from|import)\s+(reportlab|fpdf|pypdf|PyPDF2|pdfkit|weasyprint|fitz|pikepdf|borb|"
    r"pdfrw|xhtml2pdf|pdfminer)\b",
    re.MULTILINE,
)


def test_no_code_of_the_client_can_build_or_alter_a_pdf():
    client = ROOT / "src" / "igest_sync"
    sources = [p for p in client.rglob("*.py") if "sandbox" not in p.parts]
    assert len(sources) > 50
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not PDF_LIBRARIES.search(text), f"{path} imports a PDF library"
        assert "%PDF" not in text, f"{path} writes PDF bytes"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = " ".join(project.get("dependencies", [])).lower()
    for name in ("reportlab", "fpdf", "pypdf", "pdfkit", "weasyprint", "pymupdf", "pikepdf"):
        assert name not in wanted


def test_the_reminder_and_the_turnover_notices_are_titled_as_store_alerts():
    from igest_sync.alerts.events import notice_events

    seal, art53 = notice_events(
        [
            "From 1 January 2027 a PDF counts as an electronic invoice only with ... seal.",
            "Small-business exemption (art. 53 CIVA): the turnover of 2026 is 15,000.01 EUR ...",
        ]
    )
    assert seal.title == "1 January 2027: confirm the qualified seal in iGEST"
    assert art53.title.startswith("Small-business exemption") and art53.fix == "igest-sync check"
    assert seal.order_id is None and art53.order_id is None
