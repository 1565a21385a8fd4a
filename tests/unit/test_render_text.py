"""What render prints is what the store and the merchant typed: no markup, no emoji codes."""

from __future__ import annotations

from igest_sync import render


def test_emoji_codes_in_store_data_print_as_typed() -> None:
    out = render.current().out
    with out.capture() as captured:
        out.print("BOX:cd:2 and --line SKU:-1: the quantity must be positive")
    assert captured.get().strip() == "BOX:cd:2 and --line SKU:-1: the quantity must be positive"


def test_the_footer_advises_resend_only_where_it_helps(capsys) -> None:
    """A failure a person must fix gets `resend`; one igest-sync retries by itself (shown
    because it lasted) gets "check the service", never `resend`."""
    from igest_sync.models import Action, DocumentOutcome
    from igest_sync.render.invoicing import failure_advice, invoice_report
    from igest_sync.runs.invoicing.report import InvoiceReport

    passing = DocumentOutcome("7", Action.FAILED, "could not reach iGEST: 502", transient=True)
    refused = DocumentOutcome("8", Action.FAILED, "NIF 123 is not valid", transient=False)
    [retried] = failure_advice(InvoiceReport(outcomes=[passing]))
    assert "resend" not in retried and "igest-sync check" in retried
    [fix] = failure_advice(InvoiceReport(outcomes=[refused]))
    assert "igest-sync resend ORDER_ID" in fix
    assert len(failure_advice(InvoiceReport(outcomes=[passing], still_failed=[refused]))) == 2
    assert failure_advice(InvoiceReport(quiet=[passing])) == []
    invoice_report(InvoiceReport(outcomes=[passing]))
    text = capsys.readouterr().out
    assert "Needs attention" in text and "resend" not in text


def test_only_the_failures_are_under_needs_attention(capsys) -> None:
    """A first run's old orders (skipped, or invoiced by the app before the switch) are told
    apart from the one failure, not listed with it as if each needed the person."""
    from igest_sync.models import Action, DocumentOutcome
    from igest_sync.render.invoicing import invoice_report
    from igest_sync.runs.invoicing.report import InvoiceReport

    outcomes = [
        DocumentOutcome("9001", Action.SKIPPED, "paid 2026-10-06, before the start date"),
        DocumentOutcome("10001", Action.ALREADY, "FR QI/8 was issued before; nothing issued"),
        DocumentOutcome("10105", Action.FAILED, "VIES says the VAT number is not valid"),
    ]
    invoice_report(InvoiceReport(outcomes=outcomes))
    text = capsys.readouterr().out
    attention, others = text.split("Other orders")
    assert "Needs attention" in attention and "10105" in attention
    assert "9001" not in attention and "10001" not in attention
    assert "9001" in others and "10001" in others and "10105" not in others


def test_each_call_prints_through_its_own_renderer(monkeypatch, capsys) -> None:
    """Two calls in one process, at two widths and one of them quiet: each lays out for its
    own terminal, and the quiet flag ends with its call (nothing to re-import in between)."""
    import threading

    from igest_sync.render.serve import Printer

    monkeypatch.setenv("COLUMNS", "80")
    with render.rendering() as narrow:
        narrow.quiet = True
        render.info("not shown: -q")
        assert render.current() is narrow and render.current().out.width == 80
        printer = Printer(several=True, secrets=[])
    monkeypatch.setenv("COLUMNS", "133")
    with render.rendering() as wide:
        assert wide.out.width == 133 and not wide.quiet
        render.info("shown")
    assert capsys.readouterr().out == "shown\n"
    # serve's workers print from threads that have no renderer of their own: the Printer
    # hands them the one of the call that made it (quiet here, so "Store s:" is not shown).
    worker = threading.Thread(target=lambda: printer.report("s", _report_with_notice()))
    worker.start()
    worker.join()
    assert "Store s:" not in capsys.readouterr().out


def _report_with_notice():
    from igest_sync.models import Action, DocumentOutcome
    from igest_sync.runs.invoicing.report import InvoiceReport

    return InvoiceReport(outcomes=[DocumentOutcome("7", Action.FAILED, "NIF 123 is not valid")])


def test_the_quiet_flag_is_the_calls_however_the_app_is_invoked(monkeypatch):
    """-q belongs to the call's renderer, made by the app's callback: invoked as click's test
    runner does (not through run_app), a command sees its own -q, and the next call its own."""
    from typer.testing import CliRunner

    from igest_sync.cli import app, composition
    from igest_sync.errors import ConfigError

    seen: list[bool] = []

    def stop_at_the_config(state):  # the first thing a command's session does
        seen.append(render.current().quiet)
        raise ConfigError("no config here")

    monkeypatch.setattr(composition, "load_config", stop_at_the_config)
    runner = CliRunner()
    runner.invoke(app, ["-q", "check"])
    runner.invoke(app, ["check"])
    assert seen == [True, False]


def test_a_dry_runs_totals_say_whether_the_unit_prices_include_vat(capsys) -> None:
    """The total always includes VAT: the label under it is about the unit prices above it,
    and says so ("VAT excluded" beside a total read as a total without VAT)."""
    from dataclasses import replace
    from datetime import date

    from igest_sync.fiscal.mapping import build_document
    from igest_sync.render.invoicing import invoice_report
    from igest_sync.runs.invoicing.report import InvoiceReport
    from tests.support.configs import fake_config
    from tests.support.fakes import paid_order

    settings = fake_config(start_date=date(2026, 11, 1)).invoice
    draft = build_document(
        paid_order(7), settings, reference="jumpseller:loja:7", issue_date=date(2026, 11, 20)
    )
    for include, label in ((False, "(prices without VAT)"), (True, "(prices with VAT)")):
        shown = replace(draft, prices_include_vat=include)
        invoice_report(InvoiceReport(dry_run=True, drafts=[shown]))
        text = capsys.readouterr().out
        assert f"total {draft.gross_total} EUR {label}" in text
        assert "VAT excluded" not in text and "VAT included" not in text


def test_a_rebuilds_hundreds_of_orders_found_invoiced_are_counted_not_listed(capsys) -> None:
    """A rebuild at a terminal printed one "adopted" row per order (792 rows) above the one
    failure that needed the person."""
    from igest_sync.models import Action, DocumentOutcome
    from igest_sync.render.invoicing import OTHER_ORDERS_LISTED, invoice_report
    from igest_sync.runs.invoicing.report import InvoiceReport

    found = [
        DocumentOutcome(str(n), Action.ADOPTED, f"FR A/{n} already in iGEST; adopted")
        for n in range(1, OTHER_ORDERS_LISTED + 2)
    ]
    skipped = DocumentOutcome("900", Action.SKIPPED, "paid before the start date")
    failed = DocumentOutcome("901", Action.FAILED, "NIF 123 is not valid", transient=False)
    invoice_report(InvoiceReport(outcomes=[*found, skipped, failed]), always=True)
    text = " ".join(capsys.readouterr().out.split())
    assert "Needs attention" in text and "901" in text
    assert f"Other orders: {OTHER_ORDERS_LISTED + 1} orders adopted; 1 order skipped" in text
    assert "FR A/1 " not in text
    invoice_report(InvoiceReport(outcomes=[*found[:3], failed]), always=True)
    assert "FR A/1 already in iGEST" in " ".join(capsys.readouterr().out.split())  # a few: listed


def test_at_a_terminal_the_failures_that_retry_by_themselves_are_named(capsys) -> None:
    """Kept quiet for cron until they last, they were only counted at a terminal too:
    "failed 3 (will retry by itself)", and the person could not tell which orders."""
    from igest_sync.models import Action, DocumentOutcome
    from igest_sync.render.invoicing import invoice_report
    from igest_sync.runs.invoicing.report import InvoiceReport

    passing = DocumentOutcome("7", Action.FAILED, "could not reach iGEST: 502", transient=True)
    report = InvoiceReport(quiet=[passing], retrying=1)
    invoice_report(report, always=True)
    text = " ".join(capsys.readouterr().out.split())
    assert "the next run tries again by itself" in text and "could not reach iGEST: 502" in text
    invoice_report(report)  # cron's: nothing (not a terminal)
    assert capsys.readouterr().out == ""


def test_an_internal_error_without_a_log_file_does_not_send_the_person_to_one(
    monkeypatch, capsys
) -> None:
    # init, sandbox and demo keep no log file: "the traceback is in the log file" sent the
    # person looking for a file never written.
    import logging

    logger = logging.getLogger("igest_sync")
    monkeypatch.setattr(logger, "handlers", [logging.NullHandler()])
    render.internal_error(KeyError("igest"))
    err = " ".join(capsys.readouterr().err.split())
    assert "internal error: KeyError('igest')" in err
    assert "run again with --verbose to see the traceback" in err and "log file" not in err


def test_a_long_url_beside_a_config_key_folds_and_the_key_stays_whole(monkeypatch, capsys) -> None:
    """`check` at 80 columns with `[serve] public_url` set: the webhooks row's URL and the
    exemption rows' keys could not both be whole, and the table cut the key in two
    ("([invoice.exemptions] domestic_g" / "oods)"). A URL folds at any width narrower than
    itself; the key is the one to keep."""
    from igest_sync.render.setup import check_results
    from igest_sync.runs.setup.service_checks import CheckResult

    url = "http://127.0.0.1:18787/webhooks/jumpseller"
    results = [
        CheckResult("webhooks", True, f"order_paid, order_canceled, order_updated point at {url}"),
        CheckResult(
            "Exemption code M07 ([invoice.exemptions] domestic_shipping)",
            True,
            "known to iGEST: Isento artigo 9.º do CIVA",
        ),
    ]
    monkeypatch.setenv("COLUMNS", "80")
    with render.rendering():
        check_results(results)
    text = capsys.readouterr().out
    assert "([invoice.exemptions] domestic_shipping)" in text, text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_the_digest_wraps_between_words_at_the_terminals_width(monkeypatch, capsys) -> None:
    """`digest` printed each line whole: at 80 columns the terminal cut the small-business
    turnover line (about 270 characters) and a failure's reason wherever column 80 fell."""
    from igest_sync.alerts.digest import DigestReport, digest_lines
    from igest_sync.render.alerts import digest_report

    report = DigestReport(
        start="2026-11-26T00:00:00+00:00",
        end="2026-11-27T00:00:00+00:00",
        failed=[
            {
                "order_id": 10105,
                "kind": "invoice",
                "reason": "VIES says the VAT number ESB12345674 is not valid; issue it with a "
                "corrected number: igest-sync resend 10105 --nif N",
            }
        ],
        turnover={"year": 2026, "turnover": "12178.08", "on": "2026-11-27"},
    )
    monkeypatch.setenv("COLUMNS", "80")
    with render.rendering():
        digest_report(report, sent=None, json_out=False)
    text = capsys.readouterr().out
    assert all(len(line) <= 80 for line in text.splitlines()), text
    # The same words, in the same order: wrapped, nothing cut or lost.
    assert text.split() == " ".join(digest_lines(report)).split()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  order 10105"))
    assert lines[at + 1].startswith("    "), text  # under its order, not under the headings


def test_reconciles_what_to_do_follows_a_reason_without_a_stray_full_stop(
    monkeypatch, capsys
) -> None:
    """A failed order's reason, as the state file recorded it, ends a sentence; at 80 columns
    "what to do" follows it in the same cell, and read "in Jumpseller.; what to do: ..."."""
    from datetime import date

    from igest_sync.render.credits import reconcile_report
    from igest_sync.runs.reconcile import Problem, ReconcileReport
    from igest_sync.timeutil import Period

    problem = Problem(
        "missing",
        10105,
        "paid on 2026-11-19 (132.90 EUR); iGEST has no final document; failed in igest-sync: "
        "the customer has no VAT number. Charge VAT on the order in Jumpseller.",
        hint="fix the cause, then `igest-sync resend 10105`",
        refused=True,
    )
    report = ReconcileReport(
        store="loja", period=Period(date(2026, 11, 1), date(2026, 11, 30)), problems=[problem]
    )
    monkeypatch.setenv("COLUMNS", "80")
    with render.rendering():
        reconcile_report(report)
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "in Jumpseller; what to do: fix the cause" in text, text
