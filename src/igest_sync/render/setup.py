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
    emit_json,
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


def check_results(results: Iterable[CheckResult], *, json_out: bool = False) -> None:
    if json_out:
        emit_json(check_json(results))
        return
    table = _table("Checks")
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


def sandbox_info(credentials: Mapping[str, Any]) -> None:
    js, ig = credentials["jumpseller"], credentials["igest"]
    _show("[bold]Sandbox running[/bold] (Ctrl-C to stop)")
    _show(f"  Jumpseller: {js['base_url']}")
    _show(f"  iGEST:      {ig['base_url']}")
    _show("\nA config for it (save as config.toml, then\nigest-sync --config config.toml ...):\n")
    snippet = (
        "[jumpseller]\n"
        f'base_url = "{js["base_url"]}"\nlogin = "{js["login"]}"\n'
        f'auth_token = "{js["auth_token"]}"\n'
        + (f'hooks_token = "{js["hooks_token"]}"\n' if js.get("hooks_token") else "")
        + "\n"
        "[igest]\n"
        f'base_url = "{ig["base_url"]}"\nintegration_key = "{ig["integration_key"]}"\n'
        f'security_code = "{ig["security_code"]}"\n\n'
        '[invoice]\nstart_date = 2026-11-01\nproduct_exemption_code = "M07"\n'
    )
    alerts = credentials.get("alerts")
    if alerts:
        snippet += "\n[alerts]\n" + "".join(
            f"{key} = {json.dumps(value)}\n"
            for key, value in alerts.items()
            if key != "control_url"
        )
    _show(escape(snippet), soft_wrap=True)
    if alerts:
        _show(f"Alerts received: {alerts['control_url']}", soft_wrap=True)
