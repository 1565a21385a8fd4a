"""Ctrl-C during `invoice`: exit 130, and the person and the log are told what was issued and
that the next run finishes the rest."""

from __future__ import annotations

import signal
import time

import pytest

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
        "Interrupted: 3 documents issued by this run; 2 orders left for the next run. The next "
        "`igest-sync invoice` looks each up in iGEST and finishes it; nothing is issued twice."
    )
    assert expected in err
    # Off a terminal (cron mail, a journal): one line at any width, as the README says.
    assert any(expected in line for line in captured.err.splitlines()), captured.err
    assert "2 orders left for the next run" in cli.log_text()


@pytest.mark.real_day
@pytest.mark.slow(4)
def test_sigterm_during_invoice_stops_it_as_ctrl_c_does_and_the_next_run_ends_it(sandbox, tmp_path):
    # A service manager's stop, a timeout or a shutdown: Python's default would end the run
    # at once, and the log would never say so.
    from tests.e2e.conftest import make_cli
    from tests.e2e.test_invoice_e2e import _assert_exactly_once, _finals

    # One order at a time: many seconds of work are left when the signal comes, however slow
    # or busy the machine (with four workers the run could end first on a stalled test).
    cli = make_cli(sandbox, tmp_path, invoice={"concurrency": 1})
    sandbox.igest_app.latency = 0.2  # keep the run busy while it is stopped
    sandbox.load_generated({"orders": 30})
    run = cli.start("invoice")
    deadline = time.monotonic() + 60
    while len(_finals(sandbox)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    code = run.wait(timeout=60)
    err = " ".join(run.stderr.read().split())
    assert code == 143, err
    assert "Stopped by SIGTERM: " in err and "documents issued by this run" in err
    assert (
        "The next `igest-sync invoice` looks each up in iGEST and finishes it; nothing is issued twice."
        in err
    )
    assert "Stopped by SIGTERM: " in cli.log_text()
    sandbox.igest_app.latency = 0.0
    assert cli("invoice").code == 0
    _assert_exactly_once(sandbox)


def _stopped_while_options_are_read(monkeypatch) -> None:
    """A SIGTERM that lands while click reads the options (the handler raises there)."""
    from igest_sync.cli import plumbing

    def sigterm(self, ctx, args):
        plumbing.TERMINATED.append(signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(plumbing, "TERMINATED", [])
    monkeypatch.setattr(plumbing.Group, "parse_args", sigterm)


def test_sigterm_while_the_options_are_read_is_said_and_exits_143(cli, monkeypatch, capsys):
    # Typer answers a KeyboardInterrupt outside a command with a silent 130: a service
    # manager's stop at start-up read as a Ctrl-C, with nothing said or logged.
    _stopped_while_options_are_read(monkeypatch)
    monkeypatch.setenv("IGEST_SYNC_HOME", str(cli.home))
    code = run_app(app, ["--config", str(cli.config), "invoice"])
    assert code == 143
    assert "Stopped by SIGTERM." in capsys.readouterr().err


def test_sigterm_before_run_app_can_show_errors_is_no_traceback(monkeypatch, capsys):
    # The stop came while run_app was still importing what it shows errors with: the
    # KeyboardInterrupt left main() as a traceback (mailed by cron) and exit 1.
    from igest_sync.cli import errors, plumbing

    def importing(app, args):
        plumbing.TERMINATED.append(signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(plumbing, "TERMINATED", [])
    monkeypatch.setattr(errors, "run_app", importing)
    monkeypatch.setattr(errors, "stop_on_sigterm", lambda: None)  # not in the test's process
    with pytest.raises(SystemExit) as stopped:
        errors.main(app, ["invoice"])
    assert stopped.value.code == 143
    err = capsys.readouterr().err
    assert "Stopped by SIGTERM." in err and "Traceback" not in err
