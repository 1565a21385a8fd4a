"""Ctrl-C during `invoice`: exit 130, and the person and the log are told what was issued and
that the next run finishes the rest."""

from __future__ import annotations

from igest_sync.cli import app
from igest_sync.cli.session import run_app
from igest_sync.runs.invoicing import invoice as invoice_run


def test_ctrl_c_during_invoice_says_what_was_issued_and_logs_it(cli, monkeypatch, capsys):
    def interrupted(self, **_):
        raise invoice_run.RunInterrupted(3, 2)

    monkeypatch.setattr(invoice_run.InvoiceRun, "run", interrupted)
    monkeypatch.setenv("IGEST_SYNC_HOME", str(cli.home))
    monkeypatch.setenv("COLUMNS", "80")
    code = run_app(app, ["--config", str(cli.config), "invoice"])
    assert code == 130
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    expected = (
        "Interrupted: 3 documents issued by this run; 2 orders not issued yet. The next "
        "`igest-sync invoice` finishes them; nothing is issued twice."
    )
    assert expected in err
    assert "2 orders not issued yet" in cli.log_text()
