"""What ``check`` and ``sandbox`` show."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from igest_sync.render.console import (
    _cell,
    _key_column,
    _show,
    _table,
    _text_column,
    current,
    emit_json,
    wrap_words,
)

if TYPE_CHECKING:
    from igest_sync.runs.setup.service_checks import CheckResult


# -- check, sandbox -----------------------------------------------------------------------------


def check_json(results: Iterable[CheckResult]) -> dict[str, Any]:
    results = list(results)
    return {
        "ok": all(r.ok for r in results),
        "checks": [
            {
                "name": r.name,
                "ok": r.ok,
                "warning": bool(getattr(r, "warning", False)),
                "detail": r.detail,
                "hint": r.hint,
            }
            for r in results
        ],
    }


def check_results(
    results: Iterable[CheckResult], *, json_out: bool = False, title: str = "Checks"
) -> None:
    if json_out:
        emit_json(check_json(results))
        return
    table = _table(title)
    table.add_column("Check", overflow="fold")
    _key_column(table, "Result")
    _text_column(table, "Detail")
    for r in results:
        detail = r.detail + (f" ({r.hint})" if r.hint and not r.ok else "")
        result = (
            "[red]FAILED[/red]"
            if not r.ok
            else (
                "[yellow]warning[/yellow]" if getattr(r, "warning", False) else "[green]ok[/green]"
            )
        )
        table.add_row(_cell(r.name), result, _cell(detail))
    _show(table)


def sandbox_json(credentials: Mapping[str, Any]) -> None:
    """One line (a script reads it with readline), then the sandbox serves."""
    emit_json(credentials, indent=None)


def _invoice_snippet(given: Any) -> str:
    """The config's [invoice] for the sandbox: the seed's, or the settings the sandbox gives
    (``sandbox --small-business``: its start date, art. 53 and the M10 codes)."""
    settings = dict(given) if isinstance(given, dict) else {}
    exemptions = settings.pop("exemptions", None) or {
        "domestic_goods": "M07",
        "domestic_shipping": "M07",
    }
    start = settings.pop("start_date", "2026-11-01")
    lines = [f"start_date = {start}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return (
        "[invoice]\n"
        + "".join(f"{line}\n" for line in lines)
        + "\n[invoice.exemptions]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in exemptions.items())
    )


def sandbox_info(facts: Mapping[str, Any]) -> None:
    """The same facts as ``sandbox --json``, for a person: URLs, a config, how to drive it."""
    js, ig = facts["jumpseller"], facts["igest"]
    control = js["base_url"].removesuffix("/v1")
    _show("[bold]Sandbox running[/bold] (Ctrl-C to stop)")
    _show(f"  Jumpseller: {js['base_url']}", soft_wrap=True)
    _show(f"  iGEST:      {ig['base_url']}", soft_wrap=True)
    _show(f"  VIES:       {facts['vies']['base_url']}", soft_wrap=True)
    seeded = facts.get("seeded") or []
    if seeded:
        _show("\nSeeded with:")
        width = current().out.width
        for line in seeded:
            _show(escape(wrap_words(f"  - {line}", width)), soft_wrap=True)
    # Its own folder for config, state and logs, as the README does: a state file belongs to
    # one store, and the default one would be a real store's.
    _show("\nWrite a config for it in a folder of its own, then try it:")
    _show("  export IGEST_SYNC_HOME=$(mktemp -d)", soft_wrap=True)
    _show(f"  igest-sync init --sandbox {control}", soft_wrap=True)
    _show("  igest-sync invoice", soft_wrap=True)
    _show("\nOr save this as config.toml:\n")
    snippet = (
        "[jumpseller]\n"
        f'base_url = "{js["base_url"]}"\nlogin = "{js["login"]}"\n'
        f'auth_token = "{js["auth_token"]}"\n'
        + (f'hooks_token = "{js["hooks_token"]}"\n' if js.get("hooks_token") else "")
        + "\n"
        "[igest]\n"
        f'base_url = "{ig["base_url"]}"\nintegration_key = "{ig["integration_key"]}"\n'
        f'security_code = "{ig["security_code"]}"\n\n' + _invoice_snippet(facts.get("invoice"))
    )
    alerts = facts.get("alerts")
    if alerts:
        snippet += "\n[alerts]\n" + "".join(
            f"{key} = {json.dumps(value)}\n"
            for key, value in alerts.items()
            if key != "control_url"
        )
    _show(escape(snippet), soft_wrap=True)
    if alerts:
        _show(f"Alerts received: {alerts['control_url']}", soft_wrap=True)
    controls = facts.get("control") or []
    if controls:
        # Commands to copy, within 80 columns: the body on a continuation line when needed.
        _show("Drive it (one request each, no login):")
        for row in controls:
            method = "" if row["method"] == "GET" else f"-X {row['method']} "
            command = f"    curl {method}{row['url']}"
            body = f"-d {_shell_json(row['body'])}" if "body" in row else ""
            _show(f"  {escape(row['what'])}:")
            if body and len(command) + 1 + len(body) > 79:
                _show(escape(f"{command} \\\n      {body}"), soft_wrap=True)
            else:
                _show(escape(f"{command} {body}".rstrip()), soft_wrap=True)


def _shell_json(value: object) -> str:
    """``value`` as JSON in single quotes, one shell word (the bodies hold no single quote)."""
    return "'" + json.dumps(value, separators=(",", ":")) + "'"
