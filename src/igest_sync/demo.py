"""``igest-sync demo``: the whole cycle against the built-in sandbox, in a temporary directory.

It runs the real CLI commands (same code path as a merchant's cron) against emulators on
127.0.0.1, so what it shows is what the tool does, not a mock-up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.rule import Rule

from igest_sandbox import Sandbox, start_sandbox
from igest_sandbox.cross_border import cross_border_orders
from igest_sandbox.hosted_app import HOSTED_SEED_ORDERS
from igest_sync.adapters.http import tls_context
from igest_sync.config import init_values, write_config
from igest_sync.references import external_reference
from igest_sync.render import current

# Sales beyond Portugal the demo adds to the seeded store: a Spanish business whose VAT number
# VIES confirms (an exempt intra-EU supply, M16), a French consumer taxed at 20 % under OSS, and
# an export to the United Kingdom (M05).
CROSS_BORDER_DEMO = {10101, 10102, 10103}


def demo_config(
    credentials: dict,
    start_date: str = "2026-11-01",
    *,
    vies_base_url: str | None = None,
    document_type: str = "FR",
    series: str = "A",
    review: bool = False,
) -> dict:
    """A config for the sandbox's seeded store (the example config's choices); with
    ``vies_base_url``, also set up for sales to other Member States and exports. Raises
    ``ConfigError`` for a document type or series that would not load."""
    from datetime import date

    js, ig = credentials["jumpseller"], credentials["igest"]
    values = init_values(
        jumpseller_base_url=js["base_url"],
        jumpseller_login=js["login"],
        jumpseller_auth_token=js["auth_token"],
        igest_base_url=ig["base_url"],
        igest_integration_key=ig["integration_key"],
        igest_security_code=ig["security_code"],
        start_date=date.fromisoformat(start_date),
        document_type=document_type,
        series=series,
        review=review,
    )
    values.setdefault("invoice", {}).update(
        {
            "warehouse": "ARM1",
            "exemptions": {"domestic_goods": "M07", "domestic_shipping": "M07"},
            # The sandbox's iGEST stands for one whose seal is on: the demo (and the tests
            # built on its config) read the same on any date, 1 January 2027 included.
            "qualified_seal": True,
        }
    )
    if vies_base_url is not None:
        values["invoice"]["oss"] = True
        values["invoice"]["exemptions"] |= {
            "eu_goods": "M16",
            "eu_shipping": "M16",
            "export_goods": "M05",
            "export_shipping": "M05",
        }
        values["vies"] = {"base_url": vies_base_url}
    # The sandbox store keeps stock in two locations, so the one iGEST's ARM1 feeds is named:
    # its main location, Armazém Lisboa.
    values["stock"] = {
        "enabled": True,
        "direction": "igest_to_jumpseller",
        "warehouse": "ARM1",
        "jumpseller_location_id": 1,
    }
    return values


def run_demo(run_cli: Callable[[list[str]], int], *, verbose: bool = False) -> int:
    """The demo; ``run_cli(args)`` runs ``igest-sync *args`` in this process (the CLI's own
    ``run_app`` on its command, handed in by the ``demo`` command) and returns its exit code."""
    console = current().out
    with (
        tempfile.TemporaryDirectory(prefix="igest-sync-demo-") as tmp,
        start_sandbox(seed=True, hosted_app=True) as sb,
    ):
        home = Path(tmp)
        config = home / "config.toml"
        sb.store.add_orders([o for o in cross_border_orders() if o["id"] in CROSS_BORDER_DEMO])
        values = demo_config(sb.credentials, vies_base_url=sb.vies_base_url)
        write_config(config, values)
        env = {
            **os.environ,
            "IGEST_SYNC_HOME": str(home),
            # No COLUMNS here: each command sizes its tables to the terminal it prints on.
            "IGEST_SYNC_REPORTS": "always",
        }

        def cli(title: str, *args: str) -> int:
            console.print(Rule(f"[bold]igest-sync {' '.join(args)}[/bold]  {title}"))
            options = ["--config", str(config), *(["--verbose"] if verbose else [])]
            return run_step(run_cli, [*options, *args], env)

        console.print(
            f"Sandbox: Jumpseller {sb.jumpseller_base_url}, iGEST {sb.igest_base_url}, "
            f"VIES {sb.vies_base_url}"
        )
        console.print(
            "Among the paid orders: 10101, a Spanish business (VAT number checked in VIES, "
            "exempt M16); 10102, a French consumer taxed at 20 % under OSS; 10103, an export "
            "to the United Kingdom (M05)."
        )
        console.print(
            "Before the switch, the hosted Quick Invoice app invoiced October's orders and "
            f"orders {HOSTED_SEED_ORDERS[0]} and {HOSTED_SEED_ORDERS[1]} in November, under "
            "references of its own (series QI)."
        )
        # Not its path: the folder is deleted when the demo ends.
        console.print("Config and state in a temporary folder, deleted when the demo ends.\n")
        codes = [cli("verify credentials and reference data", "check")]
        codes.append(cli("the hosted app's invoices", "adopt", "--from", "2026-10-01", "--yes"))
        codes.append(cli("what would be issued", "invoice", "--dry-run"))
        codes.append(cli("issue the paid orders", "invoice", "--json"))
        pending = [
            i
            for i in sb.store.order_ids()
            if sb.store.order(i).get("status_enum") == "pending_payment"
        ]
        if pending:
            sb.store.pay_order(pending[0])
            console.print(f"\n(The customer of order {pending[0]} pays its Multibanco reference.)")
        codes.append(cli("the late-paid order is picked up", "invoice"))
        codes.append(cli("a second run finds nothing new", "invoice"))
        codes.append(cli("create missing SKUs in iGEST", "sync-products"))
        codes.append(cli("stock from iGEST to Jumpseller", "sync-stock"))
        codes.append(cli("what was issued", "status"))
        codes.append(realtime(sb, config, values, env, cli, verbose=verbose))
        worst = max(codes)
        console.print(Rule())
        stats = sb.stats()
        console.print(
            f"Requests served: Jumpseller {stats['jumpseller']['requests']}, "
            f"iGEST {stats['igest']['requests']}; "
            f"429 responses: {stats['jumpseller'].get('429', 0) + stats['igest'].get('429', 0)}"
        )
        console.print("Demo finished." if worst == 0 else f"Demo finished with exit code {worst}.")
        console.print(
            "To go on by hand: `igest-sync sandbox` serves the same store and prints how to "
            "write a config for it and how to drive it."
        )
        return worst


def run_step(run_cli: Callable[[list[str]], int], args: list[str], env: dict[str, str]) -> int:
    """One step of the demo: ``igest-sync *args`` as ``python -m igest_sync`` runs it, in this
    process (a new interpreter per step would spend half a second starting each time). The
    call gets ``env``, its own renderer, a log set up for the demo's folder, and its own start
    for the pacing's "what an earlier run sent" (the steps before it have all finished)."""
    import igest_sync
    from igest_sync import logsetup

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    igest_sync._started_now()
    try:
        # Each step sets up the log as a process of its own would: in the demo's folder.
        with logsetup.separate():
            code = run_cli(args)
        if code == 130:  # Ctrl-C in this step (shown by it): the demo stops, as it would have
            raise KeyboardInterrupt
        return code
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- real time: serve, a webhook, an invoice within seconds ---------------------------------------

SERVE_READY = 20.0  # seconds for serve to start listening
INVOICED_WITHIN = 30.0  # seconds the demo waits for the document before it says it did not come


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pending_order(sb: Sandbox) -> int:
    for order_id in sb.store.order_ids():
        if sb.store.order(order_id).get("status_enum") == "pending_payment":
            return order_id
    return sb.store.add_order(
        status="pending_payment", lines=[{"name": "Azulejo", "price": "9.90"}]
    )


def _wait_ready(proc: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + SERVE_READY
    # One client for the whole wait: each new one would load the CA bundle again (~20 ms).
    with httpx.Client(timeout=1.0, verify=tls_context()) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM (CTRL_BREAK on Windows): serve finishes what it is doing and exits."""
    if proc.poll() is None:
        if sys.platform == "win32":
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def realtime(
    sb: Sandbox,
    config: Path,
    values: dict,
    env: dict[str, str],
    cli: Callable[..., int],
    *,
    verbose: bool = False,
) -> int:
    """Start serve on a free loopback port, register the sandbox's webhooks for it, pay an
    order and show its invoice issued seconds later; then stop serve."""
    console = current().out
    port = _free_port()
    values["serve"] = {"port": port, "public_url": f"http://127.0.0.1:{port}/webhooks/jumpseller"}
    values["jumpseller"]["hooks_token"] = sb.credentials["jumpseller"]["hooks_token"]
    write_config(config, values, overwrite=True)
    code = cli("webhooks for serve", "hooks", "install")
    console.print(Rule(f"[bold]igest-sync serve[/bold]  on 127.0.0.1:{port}"))
    cmd = [sys.executable, "-m", "igest_sync", "--config", str(config), "serve"]
    if verbose:
        cmd.insert(3, "--verbose")
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if sys.platform == "win32" else 0
    proc = subprocess.Popen(cmd, env=env, creationflags=flags)
    try:
        if not _wait_ready(proc, port):
            console.print("serve did not start listening; see its log.")
            return max(code, 1)
        order_id = _pending_order(sb)
        reference = external_reference(sb.credentials["jumpseller"]["login"], order_id)
        console.print(f"(The customer of order {order_id} pays; Jumpseller sends order_paid.)")
        paid = time.monotonic()
        sb.store.pay_order(order_id)
        while time.monotonic() - paid < INVOICED_WITHIN:
            found = sb.igest.final_documents_by_reference().get(reference)
            if found:
                elapsed = time.monotonic() - paid
                number = found[0].get("number") or found[0].get("id")
                console.print(
                    f"Order {order_id} invoiced as {number}, {elapsed:.1f} s after payment."
                )
                break
            time.sleep(0.05)
        else:
            console.print(f"Order {order_id} was not invoiced within {INVOICED_WITHIN:.0f} s.")
            code = max(code, 1)
    finally:
        stopped = _stop(proc)
    console.print(f"serve stopped (exit code {stopped}).")
    return max(code, stopped)
