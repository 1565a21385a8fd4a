"""`igest-sync init` in-process: prompts on a terminal, none without one or with --yes, and the
example config that `init --example` prints (the package's copy of config.example.toml)."""

from __future__ import annotations

import tomllib
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from igest_sync import cli
from igest_sync.cli import setup as cli_setup
from igest_sync.config import example_config_text, load_config
from igest_sync.errors import ConfigError, UsageError
from igest_sync.timeutil import lisbon_date
from tests.support.clock import WALL_START

REPO = Path(__file__).resolve().parents[2]
FLAGS = [
    "--jumpseller-login",
    "shop",
    "--igest-base-url",
    "https://igest.example.pt/v1",
    "--igest-integration-key",
    "KEY-123",
]


# `init`'s "today" (Lisbon's) on the fake clock's day, so that no answer here depends on the
# real date (a typed date used to read as "today, the default" on the day it was typed for).
TODAY = lisbon_date(WALL_START)


class _Now(datetime):
    @classmethod
    def now(cls, tz=None) -> datetime:  # type: ignore[override]
        return WALL_START.astimezone(tz)


@pytest.fixture
def runner(monkeypatch, tmp_path) -> CliRunner:
    monkeypatch.setattr("igest_sync.config.settings.datetime", _Now)
    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path / "home"))
    for var in ("IGEST_SYNC_JUMPSELLER_AUTH_TOKEN", "IGEST_SYNC_IGEST_SECURITY_CODE"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a getpass warning would fail the test
        return runner.invoke(cli.app, list(args), input=input)


def test_on_a_terminal_the_prompts_show_defaults_and_suggest_the_environment(
    runner, monkeypatch, tmp_path
):
    monkeypatch.setattr(cli_setup, "_stdin_is_terminal", lambda: True)
    config = tmp_path / "my config.toml"
    # Enter: secrets, date, hooks token
    answers = "shop\n\nhttps://igest.example.pt/v1\nKEY-123\n\n\n\n"
    result = invoke(runner, "--config", str(config), "init", input=answers)
    assert result.exit_code == 0, result.output
    today = TODAY.isoformat()
    assert f"First day to invoice (orders paid before it are never invoiced) [{today}]:" in (
        result.output
    )
    # The secret prompts' explanation is wrapped between words, within 80 columns.
    text = " ".join(result.output.split())
    assert "Enter to keep it out of the file and set IGEST_SYNC_JUMPSELLER_AUTH_TOKEN" in text
    assert "set IGEST_SYNC_IGEST_SECURITY_CODE instead" in text
    prompts = result.output.split("Wrote ")[0].splitlines()  # before the paths of tmp_path
    assert all(len(line) <= 80 for line in prompts), result.output
    assert "Jumpseller auth token (hidden):" in result.output
    assert "set IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN instead" in text
    assert f"First day invoiced: {today} (today, the default" in result.output
    assert "is a day to come" not in result.output
    assert f"Next: igest-sync --config '{config}' check" in result.output
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert "auth_token" not in data["jumpseller"] and "security_code" not in data["igest"]
    assert data["invoice"]["start_date"] == TODAY


def test_a_date_typed_at_the_prompt_is_the_one_reported(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_setup, "_stdin_is_terminal", lambda: True)
    typed = (TODAY + timedelta(days=4)).isoformat()  # never today: the fake clock's day is fixed
    result = invoke(runner, "init", *FLAGS, input=f"tok\ncode\n{typed}\nhooks-secret\n")
    assert result.exit_code == 0, result.output
    assert f"First day invoiced: {typed} (your answer" in result.output
    assert f"Note: {typed} is a day to come: nothing paid before it" in result.output
    assert "Next: igest-sync check" in result.output
    assert "hooks-secret" not in result.output  # asked hidden
    data = tomllib.loads((tmp_path / "home" / "config.toml").read_text(encoding="utf-8"))
    assert data["jumpseller"]["hooks_token"] == "hooks-secret"


def test_a_mistyped_url_or_date_is_asked_again_at_once(runner, monkeypatch, tmp_path):
    # Found at the end, after the last question, it cost every answer typed.
    monkeypatch.setattr(cli_setup, "_stdin_is_terminal", lambda: True)
    answers = "shop\n\nKEY-123\nhttp://igest.example.pt/v1\nhttps://igest.example.pt/v1\nK\n\n"
    answers += "yesterday\n2026-12-01\n\n"
    result = invoke(runner, "init", input=answers)
    assert result.exit_code == 0, result.output
    assert "Error: expected a URL like https://host/path, got 'KEY-123'" in result.output
    assert "refusing plain http:// for igest.example.pt" in result.output
    assert "Error: expected a date like 2026-11-01, got 'yesterday'" in result.output
    data = tomllib.loads((tmp_path / "home" / "config.toml").read_text(encoding="utf-8"))
    assert data["igest"]["base_url"] == "https://igest.example.pt/v1"
    assert data["invoice"]["start_date"] == date(2026, 12, 1)


def test_yes_asks_nothing_even_on_a_terminal(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_setup, "_stdin_is_terminal", lambda: True)
    result = invoke(runner, "init", "--yes", *FLAGS, input="")
    assert result.exit_code == 0, result.output
    assert "Jumpseller auth token" not in result.output  # no question was asked
    assert "First day to invoice" not in result.output
    assert "Aborted" not in result.output
    assert "Set IGEST_SYNC_JUMPSELLER_AUTH_TOKEN for every run" in result.output
    config, _ = load_config(
        tmp_path / "home" / "config.toml",
        env={"IGEST_SYNC_JUMPSELLER_AUTH_TOKEN": "t", "IGEST_SYNC_IGEST_SECURITY_CODE": "s"},
    )
    assert config.invoice.start_date == TODAY


def test_without_a_terminal_nothing_is_asked_and_a_missing_value_is_named(runner, tmp_path):
    result = invoke(runner, "init", "--jumpseller-login", "shop")
    assert isinstance(result.exception, UsageError)  # main() prints it and exits 2
    assert result.exception.exit_code == 2
    assert "--igest-base-url, --igest-integration-key" in str(result.exception)
    assert result.output == ""  # nothing asked
    assert not (tmp_path / "home" / "config.toml").exists()


def test_an_existing_file_is_refused_before_any_question(runner, monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("# mine\n")
    monkeypatch.setattr(cli_setup, "_stdin_is_terminal", lambda: True)
    result = invoke(runner, "init", input="")
    assert isinstance(result.exception, ConfigError) and "--force" in result.exception.hint
    assert result.output == ""  # nothing asked
    assert (home / "config.toml").read_text() == "# mine\n"


# -- the example config ---------------------------------------------------------------------


def test_the_packaged_example_is_the_repository_example():
    packaged = REPO / "src" / "igest_sync" / "config.example.toml"
    assert packaged.read_bytes() == (REPO / "config.example.toml").read_bytes()
    assert example_config_text() == packaged.read_text(encoding="utf-8")


def test_init_example_prints_it_verbatim_and_it_loads(runner, tmp_path):
    result = invoke(runner, "init", "--example")
    assert result.exit_code == 0
    assert result.stdout == example_config_text()
    assert "[stock]" in result.stdout  # brackets are not taken for markup
    tomllib.loads(result.stdout)
    written = tmp_path / "example.toml"
    written.write_text(result.stdout, encoding="utf-8")
    config, problems = load_config(written, env={})
    assert config.jumpseller.login == "mystore"
    assert not [p for p in problems if "chmod" not in p]
    assert not (tmp_path / "home" / "config.toml").exists()  # printing writes nothing


def test_a_bad_flag_names_the_key_and_writes_nothing(runner, tmp_path):
    result = invoke(runner, "init", "--yes", *FLAGS, "--document-type", "XX")
    assert isinstance(result.exception, ConfigError)
    error = result.exception
    assert "nothing was written" in error.message and "--document-type" in (error.hint or "")
    assert error.problems == ["[invoice] document_type: expected one of FR, FT, FS, got 'XX'"]
    assert not (tmp_path / "home" / "config.toml").exists()


def test_a_new_store_starts_in_review_mode_and_is_told_how_to_go_automatic(runner, tmp_path):
    result = invoke(runner, "init", "--yes", *FLAGS, "--start-date", "2026-12-01")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Review mode is on" in text and "igest-sync approve" in text
    assert "set review = false (or auto_finalize_hour) to invoice automatically" in text
    path = tmp_path / "home" / "config.toml"
    assert tomllib.loads(path.read_text(encoding="utf-8"))["invoice"]["review"] is True
    off = invoke(runner, "init", "--yes", "--force", "--no-review", *FLAGS)
    assert off.exit_code == 0 and "Review mode is off" in off.output
    assert tomllib.loads(path.read_text(encoding="utf-8"))["invoice"]["review"] is False


def test_a_missing_config_named_with_config_is_told_the_init_that_writes_it(runner, tmp_path):
    # Before: "Create it with `igest-sync init`", which writes the default path, not this one.
    missing = tmp_path / "my shop.toml"
    result = invoke(runner, "--config", str(missing), "invoice")
    assert isinstance(result.exception, ConfigError)  # exit 2, as run_app maps it
    assert result.exception.hint == f"Create it with `igest-sync --config '{missing}' init`."
    written = invoke(runner, "--config", str(missing), "init", "--yes", *FLAGS)
    assert written.exit_code == 0 and missing.exists()  # the hint's command makes that file
    default = invoke(runner, "invoice")  # no --config: the default path, plain `init`
    assert isinstance(default.exception, ConfigError)
    assert default.exception.hint == "Create it with `igest-sync init`."
