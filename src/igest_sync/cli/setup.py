"""The set-up commands: ``init`` writes a config, ``check`` verifies it against both services."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

import typer

from igest_sync.cli.session import (
    JsonOption,
    parse_date,
    session,
    state_of,
)
from igest_sync.cli.session import config_path as _config_path

if TYPE_CHECKING:
    from igest_sync.errors import ConfigError

log = logging.getLogger("igest_sync.cli")

# -- set-up -----------------------------------------------------------------------------------


def init(
    jumpseller_login: Annotated[
        str | None, typer.Option(help="Jumpseller API login.", metavar="LOGIN")
    ] = None,
    jumpseller_auth_token: Annotated[
        str | None,
        typer.Option(
            help="Jumpseller API auth token (asked, hidden, when omitted on a terminal; "
            "better kept in IGEST_SYNC_JUMPSELLER_AUTH_TOKEN).",
            metavar="TOKEN",
        ),
    ] = None,
    jumpseller_hooks_token: Annotated[
        str | None,
        typer.Option(
            help="Jumpseller hooks token, which signs webhooks, for `serve` (asked, hidden, "
            "when omitted on a terminal; better kept in IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN).",
            metavar="TOKEN",
        ),
    ] = None,
    jumpseller_base_url: Annotated[
        str, typer.Option(help="Jumpseller API base URL (the sandbox's: --sandbox).", metavar="URL")
    ] = "https://api.jumpseller.com/v1",
    igest_base_url: Annotated[
        str | None,
        typer.Option(help="iGEST API base URL (asked when omitted on a terminal).", metavar="URL"),
    ] = None,
    igest_integration_key: Annotated[
        str | None,
        typer.Option(
            help="iGEST integration key (iGEST: Entidade > Configurar > Integrações; asked "
            "when omitted on a terminal).",
            metavar="KEY",
        ),
    ] = None,
    igest_security_code: Annotated[
        str | None,
        typer.Option(
            help="iGEST security code (asked, hidden, when omitted on a terminal; better kept "
            "in IGEST_SYNC_IGEST_SECURITY_CODE).",
            metavar="CODE",
        ),
    ] = None,
    start_date: Annotated[
        str | None,
        typer.Option(help="First day to invoice (default today).", metavar="YYYY-MM-DD"),
    ] = None,
    document_type: Annotated[
        str,
        typer.Option(
            help="The invoice's type: FR (fatura-recibo), FT (fatura) or FS (fatura simplificada).",
            metavar="TYPE",
        ),
    ] = "FR",
    series: Annotated[str, typer.Option(help="iGEST document series.", metavar="SERIES")] = "A",
    review: Annotated[
        bool | None,
        typer.Option(
            "--review/--no-review",
            help="Start in review mode: invoices wait as checked drafts for `igest-sync "
            "approve` (the default for a new store; with --sandbox, off unless given).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Ask nothing: take the defaults, leave omitted secrets to the environment.",
        ),
    ] = False,
    example: Annotated[
        bool,
        typer.Option(
            "--example", help="Print the fully commented example config (every key) and exit."
        ),
    ] = False,
    sandbox_url: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            metavar="URL",
            help="Write a config for the running `igest-sync sandbox` at URL (the Jumpseller "
            "URL it prints), asking nothing.",
        ),
    ] = None,
) -> None:
    """Write a config file (private to you) from flags, asking on a terminal for what is missing.

    Without a terminal (or with --yes) nothing is asked: the defaults are taken and omitted
    secrets are left to IGEST_SYNC_JUMPSELLER_AUTH_TOKEN and IGEST_SYNC_IGEST_SECURITY_CODE
    (and, for `serve`, IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN).

    A new store starts in review mode (--no-review to skip it): for the first days invoices
    wait as checked drafts that you finalize with `igest-sync approve`; then set
    [invoice] review = false to invoice automatically.

    \b
    Examples:
      igest-sync init
      igest-sync init --yes --jumpseller-login mystore --start-date 2026-12-01 \\
        --igest-base-url https://api.igest.pt/v1 --igest-integration-key KEY
      igest-sync init --example > config.toml
      igest-sync --config config.toml init --sandbox http://127.0.0.1:PORT
    """
    import os

    from igest_sync.config import (
        default_start_date,
        example_config_text,
        init_values,
        write_config,
    )
    from igest_sync.config.values import Invalid, normalize_url
    from igest_sync.errors import ConfigError, UsageError

    if example:
        sys.stdout.write(example_config_text())  # verbatim: no markup, no wrapping
        return
    path = _config_path(state_of())
    if path.exists() and not force:  # before asking anything
        raise ConfigError(
            f"{path} already exists; not overwriting it.",
            hint="Edit it, or add --force to the same `igest-sync init` command to replace it.",
        )
    if sandbox_url is not None:
        # The sandbox shows the whole cycle at once, so it invoices unless --review is given;
        # the document type and series are honoured as for a real store.
        _init_for_sandbox(
            path,
            sandbox_url,
            start_date,
            review=bool(review),
            document_type=document_type,
            series=series,
            force=force,
        )
        return
    review = True if review is None else review  # a real store: review mode unless refused
    # Ask only a person at a terminal: under cron, a script or a pipe there is nobody to
    # answer (and a hidden prompt would warn about echoing the secret).
    interactive = not yes and _stdin_is_terminal()
    missing = [
        flag
        for flag, value in (
            ("--jumpseller-login", jumpseller_login),
            ("--igest-base-url", igest_base_url),
            ("--igest-integration-key", igest_integration_key),
        )
        if value is None
    ]
    if missing and not interactive:
        raise UsageError(
            f"init has nobody to ask for {', '.join(missing)}: pass "
            f"{'it' if len(missing) == 1 else 'them'} as flags.",
            hint="Example: igest-sync init --yes --jumpseller-login mystore "
            "--igest-base-url https://api.igest.pt/v1 --igest-integration-key KEY",
        )

    def ask(
        value: str | None,
        prompt: str,
        default: str | None = None,
        check: Callable[[str], object] | None = None,
    ) -> str:
        if value is not None or not interactive:
            return value if value is not None else default or ""

        def checked(answer: str) -> str:
            # A typing mistake is asked again at once, not found after the last question
            # with every answer lost.
            if check is not None:
                try:
                    check(answer)
                except Invalid as exc:
                    raise typer.BadParameter(str(exc)) from None
            return answer

        return str(typer.prompt(prompt, default=default, value_proc=checked))

    def ask_secret(value: str | None, prompt: str, env_var: str) -> str | None:
        if value is not None or not interactive:
            return value or None
        # The explanation on lines of its own, wrapped between words: a terminal would cut
        # one long prompt at 80 columns in the middle of a word (or of the variable's name).
        why = (
            f"{prompt}: not shown as you type. Press Enter to keep it out of the file and "
            f"set {env_var} instead."
        )
        typer.echo(textwrap.fill(why, width=79, break_long_words=False, break_on_hyphens=False))
        answer = typer.prompt(
            # The short name only: the explanation above says where it is found.
            f"{prompt.split(' (')[0].split(',')[0]} (hidden)",
            default="",
            show_default=False,
            hide_input=True,
        )
        return answer or None

    login = ask(jumpseller_login, "Jumpseller login (Jumpseller admin: Settings > API)")
    token = ask_secret(
        jumpseller_auth_token, "Jumpseller auth token", "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN"
    )
    igest_url = ask(igest_base_url, "iGEST API base URL", check=normalize_url)
    igest_key = ask(
        igest_integration_key, "iGEST integration key (Entidade > Configurar > Integrações)"
    )
    code = ask_secret(igest_security_code, "iGEST security code", "IGEST_SYNC_IGEST_SECURITY_CODE")
    today = default_start_date().isoformat()
    first_day = ask(
        start_date,
        "First day to invoice (orders paid before it are never invoiced)",
        today,
        check=_a_date,
    )
    chosen = parse_date(first_day, "--start-date")
    assert chosen is not None
    # Optional (only `serve` needs it), so asked last and never reported missing.
    hooks_token = ask_secret(
        jumpseller_hooks_token,
        "Jumpseller hooks token, for `serve` (Admin Panel > Config > Notifications > Webhooks)",
        "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN",
    )
    try:
        values = init_values(
            jumpseller_base_url=jumpseller_base_url,
            jumpseller_login=login,
            jumpseller_auth_token=token,
            igest_base_url=igest_url,
            igest_integration_key=igest_key,
            igest_security_code=code,
            jumpseller_hooks_token=hooks_token,
            start_date=chosen,
            document_type=document_type,
            series=series,
            review=review,
        )
    except ConfigError as exc:
        raise _nothing_written(
            path,
            exc,
            "Correct the flag (or the answer) for each key listed, e.g. --document-type FR, "
            "--series A, --igest-base-url https://...",
        ) from None
    write_config(path, values, overwrite=force)
    private = " (mode 600)" if os.name == "posix" else ""
    # -q: only what needs a person (an unset secret), as for every command.
    say = (lambda _line: None) if state_of().quiet else typer.echo
    say(f"Wrote {path}{private}.")
    if start_date is not None:
        how = "from --start-date"
    elif first_day == today:
        how = "today, the default"
    else:
        how = "your answer"
    say(f"First day invoiced: {chosen.isoformat()} ({how}; [invoice] start_date).")
    if chosen.isoformat() > today:
        # Set up ahead, or a mistyped year: either way, said while it can still be changed.
        typer.echo(
            f"Note: {chosen.isoformat()} is a day to come: nothing paid before it is ever "
            "invoiced, so no run issues anything until then."
        )
    if review:
        # How a new store starts: look at the first invoices before they exist, then let go.
        say(
            "Review mode is on ([invoice] review = true): for the first days, `invoice` stops "
            "each invoice at a draft checked against what the customer paid; look with "
            "`igest-sync approve`, finalize with `igest-sync approve ORDER` (or --all). "
            "Once the drafts look right, set review = false (or auto_finalize_hour) to "
            "invoice automatically."
        )
    else:
        say("Review mode is off: `invoice` finalizes each invoice as soon as it is checked.")
    for secret, env_var in (
        (token, "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN"),
        (code, "IGEST_SYNC_IGEST_SECURITY_CODE"),
    ):
        if secret is None and not os.environ.get(env_var):
            typer.echo(f"Set {env_var} for every run (it is not in the file).")
    # typer.echo, not rich: a command to copy must not be wrapped at the terminal's width.
    given = state_of().config_path
    config_flag = f" --config {_quoted(str(given))}" if given else ""
    say(f"Next: igest-sync{config_flag} check")


def _a_date(answer: str) -> date:
    from igest_sync.config.values import Invalid

    try:
        return date.fromisoformat(answer)
    except ValueError:
        raise Invalid(f"expected a date like 2026-11-01, got {answer!r}") from None


# What a sandbox's /_sandbox/config must name for a config to be written from it.
_SANDBOX_KEYS = {
    "jumpseller": ("base_url", "login", "auth_token"),
    "igest": ("base_url", "integration_key", "security_code"),
}


def _sandbox_facts(facts: object) -> TypeGuard[dict[str, Any]]:
    """Whether ``facts`` is what an igest-sync sandbox answers: another server's JSON at that
    path (``{"jumpseller": 5}``) ended as an internal error pointing to a log never written."""
    if not isinstance(facts, dict):
        return False
    for service, keys in _SANDBOX_KEYS.items():
        part = facts.get(service)
        if not isinstance(part, dict) or not all(isinstance(part.get(k), str) for k in keys):
            return False
    return True


def _init_for_sandbox(
    path: Path,
    url: str,
    start_date: str | None,
    *,
    review: bool,
    document_type: str,
    series: str,
    force: bool,
) -> None:
    """Write the demo's config for the sandbox serving at ``url``: its URLs and credentials
    come from the sandbox itself (``GET /_sandbox/config``), so nothing is typed or asked."""
    import httpx

    from igest_sync.config import write_config
    from igest_sync.demo import demo_config
    from igest_sync.errors import ConfigError, TransportError, UsageError

    # What is typed is checked before anything is asked of the network.
    first_day = parse_date(start_date, "--start-date") if start_date else None
    root = url.strip().rstrip("/").removesuffix("/v1")
    sandbox_hint = "Pass the Jumpseller URL `igest-sync sandbox` prints, e.g. http://127.0.0.1:PORT"
    try:
        scheme_ok = httpx.URL(root).scheme in ("http", "https") and bool(httpx.URL(root).host)
    except httpx.InvalidURL:
        scheme_ok = False
    if not scheme_ok:
        raise UsageError(f"--sandbox {url!r} is not an http:// URL.", hint=sandbox_hint)
    try:
        answer = httpx.get(f"{root}/_sandbox/config", timeout=5)
        facts = answer.json() if answer.status_code == 200 else None
    except httpx.HTTPError as exc:
        raise TransportError(
            f"no sandbox answers at {root}: {exc}",
            service="sandbox",
            hint="Start it with `igest-sync sandbox` and pass the Jumpseller URL it prints.",
        ) from None
    except ValueError:
        facts = None
    if not _sandbox_facts(facts):
        raise UsageError(
            f"{root} is not an igest-sync sandbox (no /_sandbox/config there).", hint=sandbox_hint
        )
    # `sandbox --small-business`: the [invoice] settings its store needs (art. 53, M10, and
    # the day its orders start), written with the rest.
    given = facts.get("invoice")
    settings = dict(given) if isinstance(given, dict) else {}
    sandbox_start = settings.pop("start_date", None)
    try:
        values = demo_config(
            facts,
            # The sandbox's orders are from November 2026 (or the day it says): the day they
            # start.
            first_day.isoformat() if first_day else str(sandbox_start or "2026-11-01"),
            vies_base_url=(facts.get("vies") or {}).get("base_url"),
            document_type=document_type,
            series=series,
            review=review,
        )
    except ConfigError as exc:
        raise _nothing_written(
            path, exc, "Correct the flag for each key listed, e.g. --document-type FR, --series A"
        ) from None
    exemptions = settings.pop("exemptions", None)
    values["invoice"] |= settings
    if isinstance(exemptions, dict):
        values["invoice"]["exemptions"] |= exemptions
    # `serve` and `hooks` work against it too: the sandbox signs its webhooks with this key.
    values["jumpseller"]["hooks_token"] = facts["jumpseller"].get("hooks_token")
    # `sandbox --alerts`: its email and chat sinks, so `alerts test` and every alert reach them
    # (its control_url is where a person reads them, not a setting).
    sinks = facts.get("alerts")
    if isinstance(sinks, dict):
        values["alerts"] = {k: v for k, v in sinks.items() if k != "control_url"}
    write_config(path, values, overwrite=force)
    if not state_of().quiet:
        given = state_of().config_path
        config_flag = f" --config {_quoted(str(given))}" if given else ""
        typer.echo(f"Wrote {path} for the sandbox at {root}.")
        if review:
            typer.echo("Review mode is on: `invoice` stops each invoice at a checked draft.")
        typer.echo(f"Next: igest-sync{config_flag} invoice")


def _nothing_written(path: Path, exc: ConfigError, hint: str) -> ConfigError:
    """The values were checked as the file would be, but no file exists yet: the problems name
    the flags (or answers), not a file to edit."""
    from igest_sync.errors import ConfigError

    return ConfigError(
        f"init cannot write {path}: nothing was written.",
        problems=[problem.removeprefix("config.toml: ") for problem in exc.problems],
        hint=hint,
    )


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _quoted(text: str) -> str:
    """``text`` as one shell word (POSIX quoting; Windows paths with spaces get double quotes)."""
    import os
    import shlex

    if os.name == "nt":
        return f'"{text}"' if " " in text else text
    return shlex.quote(text)


def check(json_out: JsonOption = False) -> None:
    """Verify the credentials and the reference data against both services.

    Checks the series, warehouses and exemption codes the config names exist in iGEST,
    which Jumpseller location sync-stock writes, that VIES answers when exempt intra-EU
    sales (M16) are configured, and that the state file and the log can be written. Exits
    like the other commands: 0 all good, 2 the config must change, 4 the state or log cannot
    be written, 5 a service could not be reached or refused the credentials.

    \b
    Examples:
      igest-sync check
      igest-sync check --json
    """
    from igest_sync import render
    from igest_sync.alerts.probe import channel_checks
    from igest_sync.cli.composition import make_vies
    from igest_sync.cli.session import state_of, state_path
    from igest_sync.config import paths
    from igest_sync.runs.setup.local_checks import local_checks
    from igest_sync.runs.setup.service_checks import checks_exit_code, run_checks

    # The state file, when there is one, keeps the year's turnover count (art. 53) and which
    # reminders were given; check never creates it.
    with (
        session(lock=False, ledger=state_path(state_of(None)).exists()) as s,
        make_vies(s.config) as vies,
    ):
        # The alert channels too, when [alerts] has any: reachable, logged in; nothing sent.
        results = run_checks(
            s.config, s.jumpseller, s.igest, ledger=s.ledger, now=s.now(), vies=vies
        ) + channel_checks(s.config)
    # Where a run writes: a read-only home must fail here, not in the first `invoice`.
    results += local_checks(state_path(state_of()), paths.log_dir())
    render.check_results(results, json_out=json_out)
    code = checks_exit_code(results)
    # What failed stays in the log too (a check from a script or a timer, read later).
    failed = [r for r in results if not r.ok]
    for result in failed:
        log.warning("check: %s FAILED: %s", result.name, result.detail)
    log.info("check: %d passed, %d failed (exit %d)", len(results) - len(failed), len(failed), code)
    raise typer.Exit(int(code))


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app, in the order ``--help`` lists them."""
    app.command(short_help="Write a config file (asks on a terminal).")(init)
    app.command(short_help="Verify the credentials and reference data of both services.")(check)
