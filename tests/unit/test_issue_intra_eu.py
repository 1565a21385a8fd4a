"""An exempt intra-EU order through the exactly-once path: VIES before the document.

iGEST is the sandbox's emulator in-process; VIES is an httpx.MockTransport whose answers each
test scripts, so the requests the client sends are asserted exactly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest

from igest_sandbox import Sandbox
from igest_sandbox.igest.seed import entity
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.vies import ViesClient
from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig, ViesConfig
from igest_sync.models import Action
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.issuer import Issuer
from igest_sync.state.ledger import Ledger
from tests.support.fakes import FakeJumpseller
from tests.unit.test_mapping_xborder import SPAIN, exempt_order

TODAY = date(2026, 11, 27)
VIES_URL = "https://vies.test/rest-api"
BUSINESS = replace(SPAIN, company="Empresa SL", taxid="ESB12345674")


class ScriptedVies:
    """Answers VIES requests from a list, recording each request body."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url == f"{VIES_URL}/check-vat-number"
        self.bodies.append(json.loads(request.content))
        return self.answers.pop(0)


@pytest.fixture
def sandbox():
    return Sandbox(seed=True)


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "state.db") as led:
        yield led


def config_for(sandbox: Sandbox) -> Config:
    creds = sandbox.credentials["igest"]
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("https://js.test/v1", "shop", "token", "shop"),
        igest=IgestConfig(creds["base_url"], creds["integration_key"], creds["security_code"]),
        invoice=InvoiceConfig(
            start_date=date(2026, 11, 1),
            exemptions={"eu_goods": "M16", "eu_shipping": "M16"},
            link_documents=False,
        ),
        vies=ViesConfig(VIES_URL),
    )


def make(sandbox: Sandbox, ledger: Ledger, vies: ScriptedVies, today: date = TODAY):
    creds = sandbox.credentials["igest"]
    config = config_for(sandbox)
    igest = IgestClient(
        creds["base_url"],
        creds["integration_key"],
        creds["security_code"],
        transport=httpx.WSGITransport(app=sandbox.igest_app),
    )
    client = ViesClient(VIES_URL, transport=httpx.MockTransport(vies))
    context = RunContext.build(config, ledger, FakeJumpseller(), igest, vies=client)
    return Issuer(context, today=today), igest


def valid(identifier: str = "WAPIAAAAZ1") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "countryCode": "ES",
            "vatNumber": "B12345674",
            "valid": True,
            "requestIdentifier": identifier,
        },
    )


def unavailable() -> httpx.Response:
    return httpx.Response(200, json={"valid": False, "userError": "MS_UNAVAILABLE"})


def order():
    return replace(exempt_order(SPAIN), billing=BUSINESS, id=20001)


def test_valid_number_is_issued_with_the_consultation_on_the_notes(sandbox, ledger):
    vies = ScriptedVies(valid())
    issuer, _ = make(sandbox, ledger, vies)
    outcome = issuer.issue(order())
    assert outcome.action == Action.ISSUED, outcome.detail
    assert vies.bodies == [
        {
            "countryCode": "ES",
            "vatNumber": "B12345674",
            "requesterMemberStateCode": "PT",
            "requesterNumber": entity()["nif"],
        }
    ]
    stored = sandbox.igest_app.state.documents  # the emulator's own record of the document
    (doc,) = [d for d in stored if d["external_reference"].endswith(":20001")]
    assert "consulta n.º WAPIAAAAZ1" in doc["notes"]
    assert {line["exemption_code"] for line in doc["lines"]} == {"M16"}


def test_unavailable_waits_then_issues_when_vies_answers(sandbox, ledger):
    vies = ScriptedVies(unavailable(), valid("WAPI2"))
    issuer, _ = make(sandbox, ledger, vies)
    first = issuer.issue(order())
    assert first.action == Action.WAITING and "MS_UNAVAILABLE" in first.detail
    work = ledger.work(20001)
    assert work.state == "failed" and work.transient  # the next run takes it up again
    assert not sandbox.igest_app.state.documents  # nothing issued, not even a draft
    second = issuer.issue(order())
    assert second.action == Action.ISSUED and len(vies.bodies) == 2


def test_invalid_fails_with_the_cause_and_is_asked_once_a_day(sandbox, ledger):
    vies = ScriptedVies(httpx.Response(200, json={"valid": False, "requestIdentifier": "W9"}))
    issuer, _ = make(sandbox, ledger, vies)
    outcome = issuer.issue(order())
    assert outcome.action == Action.FAILED and "not valid" in outcome.detail
    assert not ledger.work(20001).transient
    # A second attempt the same day (resend) reads the ledger's answer, not VIES again.
    assert issuer.issue(order()).action == Action.FAILED
    assert len(vies.bodies) == 1


def test_a_consumer_in_spain_with_an_exempt_line_is_refused_before_asking(sandbox, ledger):
    vies = ScriptedVies()
    issuer, _ = make(sandbox, ledger, vies)
    outcome = issuer.issue(replace(order(), billing=SPAIN))
    assert outcome.action == Action.FAILED and "--nif ES" in outcome.detail
    assert vies.bodies == []


def test_a_taxed_order_asks_no_vies(sandbox, ledger):
    vies = ScriptedVies()
    issuer, _ = make(sandbox, ledger, vies)
    domestic = replace(order(), billing=None, shipping_address=None)
    domestic = replace(domestic, lines=(replace(domestic.lines[0], taxes=()),))
    issuer.settings = replace(
        issuer.settings, product_exemption_code="M07", shipping_exemption_code="M07"
    )
    assert issuer.issue(domestic).action == Action.ISSUED
    assert vies.bodies == []


def test_a_dry_run_says_under_the_draft_that_vies_was_not_asked(tmp_path):
    # The dry run does not ask VIES: its draft of an exempt intra-EU sale must not read as an
    # invoice that will surely be issued (VIES may refuse the number, or not answer yet).
    from datetime import UTC, datetime

    from igest_sync.runs.invoicing.invoice import InvoiceRun
    from tests.support.configs import fake_config
    from tests.support.fakes import FakeIgest

    config = fake_config(
        start_date=date(2026, 11, 1), exemptions={"eu_goods": "M16", "eu_shipping": "M16"}
    )
    sale = order()
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    with Ledger(tmp_path / "state.db") as ledger:
        report = InvoiceRun.build(
            config, ledger, FakeJumpseller(orders=[sale]), FakeIgest(), now=now
        ).run(dry_run=True)
    [draft] = report.drafts
    assert any(
        "only once VIES confirms ESB12345674" in w and "a dry run does not ask VIES" in w
        for w in draft.warnings
    ), draft.warnings


def test_resend_nif_holds_for_the_runs_after_a_vies_wait(sandbox, ledger):
    # `resend --nif` while VIES was unavailable: the order waited, and the next run asked VIES
    # about the number the order named (invalid, same day) and failed it again.
    from datetime import UTC, datetime

    from igest_sync.fiscal.customer import CustomerOverride
    from igest_sync.runs.invoicing.invoice import InvoiceRun

    named = replace(order(), billing=replace(BUSINESS, taxid="ESB00000000"))
    vies = ScriptedVies(unavailable(), valid("WAPI7"))
    _, igest = make(sandbox, ledger, vies)
    config = config_for(sandbox)
    js = FakeJumpseller(orders=[named])
    client = ViesClient(VIES_URL, transport=httpx.MockTransport(vies))
    now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)

    def run() -> InvoiceRun:
        return InvoiceRun(RunContext.build(config, ledger, js, igest, vies=client, now=now))

    waited = run().resend([20001], override=CustomerOverride(nif="ESB12345674"))
    assert [o.action for o in waited.outcomes] == [Action.WAITING]
    later = run().run()  # the next run takes the transient failure up by itself
    assert [o.action for o in later.outcomes] == [Action.ISSUED]
    assert [b["vatNumber"] for b in vies.bodies] == ["B12345674", "B12345674"]
    stored = sandbox.igest_app.state.documents
    (doc,) = [d for d in stored if d["external_reference"].endswith(":20001")]
    assert doc["customer"]["nif"] == "ESB12345674" and "consulta n.º WAPI7" in doc["notes"]


def test_orders_of_one_business_in_one_run_ask_vies_once(sandbox, ledger, monkeypatch):
    # "At most once per number and day": the run's workers invoicing three orders of the
    # same business each found no answer in the ledger and asked VIES themselves.
    import threading

    from igest_sync.runs.invoicing.intra_eu import IntraEuCheck

    vies = ScriptedVies(valid(), valid(), valid())
    issuer, _ = make(sandbox, ledger, vies)
    check = issuer.intra_eu
    asked = IntraEuCheck._ask
    others: list[threading.Thread] = []

    def ask_while_others_look(self, order_id, number):
        if not others:  # the first asker: two more orders of the business come meanwhile
            others.extend(
                threading.Thread(target=lambda: check.evidence(order(), the_draft))
                for _ in range(2)
            )
            for thread in others:
                thread.start()
            for thread in others:
                thread.join(0.2)  # they wait for this answer (they would ask VIES at once)
        return asked(self, order_id, number)

    from igest_sync.fiscal.mapping import build_document
    from igest_sync.references import external_reference

    the_draft = build_document(
        order(), issuer.settings, reference=external_reference("shop", 20001), issue_date=TODAY
    )
    monkeypatch.setattr(IntraEuCheck, "_ask", ask_while_others_look)
    assert check.evidence(order(), the_draft).status == "valid"
    for thread in others:
        thread.join()
    assert len(vies.bodies) == 1
