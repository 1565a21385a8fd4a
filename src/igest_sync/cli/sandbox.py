"""The commands that need no credentials: ``sandbox`` (serve the emulators) and ``demo``."""

from __future__ import annotations

from typing import Annotated

import typer

from igest_sync.cli.session import (
    remember_json,
    state_of,
)


def sandbox(
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the URLs, credentials and controls as one JSON line, then serve.",
            callback=remember_json,
        ),
    ] = False,
    jumpseller_port: Annotated[
        int, typer.Option(help="0 = any free port.", metavar="PORT", min=0, max=65535)
    ] = 0,
    igest_port: Annotated[
        int, typer.Option(help="0 = any free port.", metavar="PORT", min=0, max=65535)
    ] = 0,
    latency: Annotated[
        float, typer.Option(help="Seconds added to every request.", metavar="SECONDS")
    ] = 0.0,
    hosted_app: Annotated[
        bool,
        typer.Option(
            "--hosted-app",
            help="Also the hosted Quick Invoice app's invoices before the switch: try `adopt`.",
        ),
    ] = False,
    cross_border: Annotated[
        bool,
        typer.Option(
            "--cross-border",
            help="Also orders from a Spanish business (VIES), France (OSS), the UK and more.",
        ),
    ] = False,
    small_business: Annotated[
        bool,
        typer.Option(
            "--small-business",
            help="A store under the small-business VAT exemption (art. 53, M10) instead, its "
            "year near 80 % of 15,000 EUR.",
        ),
    ] = False,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts", help="Also an SMTP sink and a chat receiver, for [alerts] (see /_alerts)."
        ),
    ] = False,
) -> None:
    """Serve emulators of Jumpseller, iGEST and VIES on 127.0.0.1 until Ctrl-C.

    Seeded with a Portuguese store; --hosted-app adds the hosted app's invoices before a switch
    (try adopt), --cross-border sales abroad and hard cases; --small-business seeds instead a
    store exempt under art. 53 (no VAT, M10) whose paid orders take the year's turnover past
    80 % of 15,000 EUR (init --sandbox writes vat_regime = "art53" for it). Use it to try the tool without
    credentials. It prints the URLs, the credentials, what it holds, how to write a config
    for it (igest-sync init --sandbox URL) and how to drive it; --json prints the same as one
    line, then serves. With --alerts it also receives alerts (email and chat), lists them at
    the URL it prints as "Alerts received" (AL; with --json, alerts.control_url), and can make
    either fail: POST AL/fail?smtp=451&webhook=500, then POST AL/fail to heal them.

    \b
    Drive it (JS = the Jumpseller URL without /v1, IG = iGEST's):
      POST JS/_sandbox/orders/10015/pay       pay an order
      POST JS/_sandbox/orders/10001/cancel    cancel an order
      POST JS/_sandbox/load {"orders": 50}    add 50 orders
      POST JS/_sandbox/orders/10015/webhook   send its order_paid
      POST IG/_sandbox/faults [rules]         lose an answer
      DELETE IG/_sandbox/faults               heal the faults

    \b
    Examples:
      igest-sync sandbox
      igest-sync sandbox --json
      igest-sync sandbox --hosted-app --cross-border
      igest-sync sandbox --small-business
      igest-sync sandbox --alerts
    """
    from igest_sandbox import start_sandbox
    from igest_sandbox.alert_sinks import AlertSinks
    from igest_sync import render
    from igest_sync.cli.signals import StopSignals
    from igest_sync.errors import UsageError

    if small_business and (hosted_app or cross_border):
        raise UsageError(
            "--small-business is a store of its own: it cannot take --hosted-app or "
            "--cross-border, whose orders charge VAT (an exempt business states none).",
            hint="Run `igest-sync sandbox --small-business` alone, or another sandbox beside it.",
        )
    try:
        sb = start_sandbox(
            seed=True,
            jumpseller_port=jumpseller_port,
            igest_port=igest_port,
            latency=latency,
            hosted_app=hosted_app,
            cross_border=cross_border,
            small_business=small_business,
        )
    except OSError as exc:  # a port taken (another sandbox, say): the person's to choose
        asked = {"--jumpseller-port": jumpseller_port, "--igest-port": igest_port}
        ports = ", ".join(f"{flag} {port}" for flag, port in asked.items() if port)
        raise UsageError(
            f"sandbox cannot listen on 127.0.0.1 ({ports or 'a free port'}): "
            f"{exc.strerror or exc}.",
            hint="Another process may use that port (another sandbox?): stop it, pick another "
            "port, or pass 0 for any free one.",
        ) from None
    sinks = AlertSinks().start() if alerts else None
    if sinks:
        sb.alerts = sinks.settings
    # SIGTERM stops it; Ctrl-C too (KeyboardInterrupt, as Python has it).
    stopping = StopSignals().install(["SIGTERM"])
    try:
        # One set of facts for both forms: URLs, credentials, and how to drive the sandbox.
        facts = sb.describe()
        if json_out:
            render.sandbox_json(facts)
        else:
            render.sandbox_info(facts)
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        if sinks:
            sinks.stop()


def demo(ctx: typer.Context) -> None:
    """Run a full cycle against the built-in sandbox: no credentials, no network.

    Starts the emulators, writes a temporary config and state, checks it, adopts what the
    hosted app invoiced, invoices the paid orders, pays a pending order and invoices again,
    syncs products and stock, shows the status, then installs the webhooks and starts serve,
    which invoices one more order from its webhook.

    \b
    Examples:
      igest-sync demo
    """
    from igest_sync.cli.errors import run_app
    from igest_sync.demo import run_demo

    # Each step is this same command line run again, in this process: the root command.
    command = ctx.find_root().command
    raise typer.Exit(run_demo(lambda args: run_app(command, args), verbose=state_of().verbose))


def register(app: typer.Typer) -> None:
    """Add this family's commands to the app, in the order ``--help`` lists them."""
    app.command(short_help="Serve emulators of Jumpseller, iGEST and VIES locally.")(sandbox)
    app.command(short_help="Run a full cycle on the built-in sandbox.")(demo)
