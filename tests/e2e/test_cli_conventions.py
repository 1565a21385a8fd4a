"""What CLI users expect (issue 11, points 2 and 5): version, -h, global options anywhere,
-q, one error with -v, a fresh install's status, and a locked run that cron does not hear."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from igest_sync import __version__
from igest_sync.state.lock import run_lock
from tests.support.cli import run_cli
from tests.support.forked import Finished

from .conftest import Cli


def run(*args: str, home: Path, timeout: float = 60) -> Finished:
    env = {**os.environ, "IGEST_SYNC_HOME": str(home), "COLUMNS": "80"}
    return run_cli(*args, env=env, timeout=timeout)


def test_version_names_the_python_and_the_platform(tmp_path):
    for flag in ("--version", "-V"):
        result = run(flag, home=tmp_path)
        assert result.returncode == 0
        assert __version__ in result.stdout and platform.python_version() in result.stdout
        assert platform.system() in result.stdout


def test_dash_h_is_help_and_completion_is_offered(tmp_path):
    result = run("-h", home=tmp_path)
    assert result.returncode == 0 and "Commands:" in result.stdout
    assert "--install-completion" in result.stdout
    assert run("status", "-h", home=tmp_path).stdout.startswith("Usage: igest-sync status")


def test_status_on_a_fresh_install_is_not_an_error(tmp_path):
    result = run("status", "--fail-if-late", "24", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing issued yet" in result.stdout and result.stderr == ""


def test_status_without_a_config_says_how_to_begin(tmp_path):
    # "the first `igest-sync invoice` creates the state file" alone sent a newcomer to a
    # command that then refuses for want of a config.
    result = run("status", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "igest-sync init" in result.stdout and "igest-sync demo" in result.stdout
    from igest_sync.config import write_config
    from igest_sync.demo import demo_config

    # Status reads the config and no service: addresses that answer nothing will do.
    jumpseller = {"base_url": "http://127.0.0.1:9", "login": "minhaloja", "auth_token": "t" * 32}
    igest = {"base_url": "http://127.0.0.1:9", "integration_key": "k" * 32, "security_code": "c"}
    values = demo_config({"jumpseller": jumpseller, "igest": igest})
    write_config(tmp_path / "config.toml", values, overwrite=True)
    configured = run("status", home=tmp_path)  # no run yet, but a config: no such advice
    assert configured.returncode == 0, configured.stderr
    assert "nothing issued yet" in configured.stdout
    assert "igest-sync init" not in configured.stdout


def test_global_options_are_accepted_after_the_subcommand(tmp_path):
    from datetime import date
    from decimal import Decimal

    from igest_sync.models import IssuedDocument
    from igest_sync.state.ledger import Ledger

    config = tmp_path / "missing.toml"
    after = run("invoice", "--config", str(config), "-v", home=tmp_path)
    before = run("--config", str(config), "-v", "invoice", home=tmp_path)
    assert after.returncode == before.returncode == 2
    assert str(config) in after.stderr and "No such option" not in after.stderr
    state = tmp_path / "elsewhere" / "state.sqlite3"
    state.parent.mkdir()
    doc = IssuedDocument(
        id="d1",
        type="FR",
        series="A",
        number="FR A/77",
        atcud="X-77",
        status="final",
        date=date(2026, 11, 13),
        external_reference="jumpseller:s:5",
        customer_nif=None,
        customer_name="Ana",
        net_total=Decimal("10.00"),
        vat_total=Decimal("2.30"),
        gross_total=Decimal("12.30"),
    )
    with Ledger(state) as ledger:
        ledger.record_final(5, "invoice", doc, email=False)
    for args in (("status", "--state", str(state)), ("status", f"--state={state}")):
        result = run(*args, home=tmp_path)
        assert result.returncode == 0 and "FR A/77" in result.stdout, result.stderr


def test_quiet_prints_only_what_needs_a_person(tmp_path):
    args = ["init", "--jumpseller-login", "x", "--jumpseller-auth-token", "y"]
    args += ["--igest-base-url", "https://a.example/v1", "--igest-integration-key", "k"]
    args += ["--igest-security-code", "s", "--start-date", "2026-11-01"]
    quiet = run(*args, "-q", home=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stderr
    assert (tmp_path / "config.toml").exists()
    again = run(*args, "--quiet", home=tmp_path)  # a refusal still speaks
    assert again.returncode == 2 and "--force" in again.stderr


def test_an_error_is_printed_once_with_verbose(tmp_path):
    result = run("-v", "invoice", home=tmp_path)  # no config yet
    assert result.returncode == 2
    assert result.stderr.count("igest-sync init") == 1, result.stderr
    assert "Traceback" in result.stderr  # --verbose still shows where it came from


def test_a_locked_run_is_silent_for_cron_and_logs_why(sandbox, cli: Cli):
    with run_lock(cli.state):
        quiet = cli("invoice")
        asked = cli("invoice", "--json")
    assert quiet.code == 3 and quiet.stdout == "" and quiet.stderr == ""
    assert "Another igest-sync run" in cli.log_text()
    assert asked.code == 3 and asked.json()["error"]["exit_code"] == 3


def test_a_lock_held_for_an_hour_or_by_a_persons_command_is_not_kept_quiet(sandbox, cli: Cli):
    import os
    import time

    from igest_sync.state.lock import lock_path

    with run_lock(cli.state):
        # A person's command from a script: told why it did nothing, whoever holds the lock.
        person = cli("resend", "--failed")
        # A credit left at its question since lunch: cron's run says so (and alerts).
        hour_ago = time.time() - 61 * 60
        os.utime(lock_path(cli.state), (hour_ago, hour_ago))
        cron = cli("invoice")
    assert person.code == 3 and "Another igest-sync run" in person.stderr
    assert cron.code == 3 and "held the lock for 61 minutes" in cron.stderr


def test_a_config_error_is_in_the_log_too_and_no_secret_is(tmp_path):
    # A cron run that stops on its config left nothing in the log file a person reads later.
    config = tmp_path / "config.toml"
    config.write_text(
        "[jumpseller]\n"
        'base_url = "https://api.jumpseller.com/v1"\nlogin = "loja"\n'
        'auth_token = ["Zk29secretvalue"]\n'
        "[igest]\n"
        'base_url = "https://igest.example.pt/v1"\nintegration_key = "k"\n'
        'security_code = "Zk29secretcode"\n'
        "[invoice]\nstrat_date = 2026-11-01\n"
    )
    result = run("invoice", home=tmp_path)
    assert result.returncode == 2 and "strat_date" in result.stderr
    logs = tmp_path / "logs"
    text = "".join(p.read_text() for p in logs.glob("*")) if logs.exists() else ""
    assert "strat_date: unknown key" in text and "auth_token" in text
    assert text.count("strat_date: unknown key") == 1  # logged once, not once more by the CLI
    assert "Zk29secret" not in text + result.stderr


def test_a_run_killed_before_it_ended_is_told_by_the_next_runs_log(sandbox, cli: Cli):
    """A run killed (SIGKILL, the machine stopped) left nothing in the log to say so: its
    lines just stopped. Each run that changes something logs its start and end, and the next
    one says that the previous one did not finish."""
    from igest_sync.state.ledger import Ledger

    assert cli("invoice").code == 0
    assert cli("invoice").code == 0
    log = cli.log_text()
    assert log.count("invoice started (pid") == 2 and log.count("invoice ended") == 2
    assert "did not finish" not in log
    with Ledger(cli.state) as ledger:  # what a killed run leaves: its start, no end
        ledger.meta.begin_run("invoice", 4242)
    assert cli("invoice").code == 0
    assert "The previous invoice (pid 4242, started " in cli.log_text()
    assert "did not finish: it was killed or the machine stopped" in cli.log_text()
    assert cli("invoice").code == 0  # said once: the run after it ended
    assert cli.log_text().count("did not finish") == 1
