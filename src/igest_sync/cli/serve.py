"""The real-time family: ``serve`` (the webhook receiver, ``igest_sync.serve``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from igest_sync.cli.session import make_clients, make_vies, state_of
from igest_sync.cli.signals import StopSignals

if TYPE_CHECKING:
    from igest_sync.config import Config
    from igest_sync.serve.worker import StoreSetup


def register(app: typer.Typer) -> None:
    app.command(short_help="Receive webhooks; invoice each paid order in seconds.")(serve)


def serve(
    home: Annotated[
        list[Path] | None,
        typer.Option(
            "--home",
            help="A store's folder (as IGEST_SYNC_HOME: config.toml, state, logs); repeat "
            "for several stores in one process.",
            file_okay=False,
            metavar="DIR",
        ),
    ] = None,
    homes: Annotated[
        Path | None,
        typer.Option(
            "--homes",
            help="A folder of stores: each subfolder with a config.toml is one.",
            file_okay=False,
            metavar="DIR",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default: [serve] host, else 127.0.0.1).", metavar="HOST"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on (default: [serve] port, else 8787).",
            min=1,
            max=65535,
            metavar="PORT",
        ),
    ] = None,
) -> None:
    """Receive Jumpseller's webhooks and invoice each paid order within seconds.

    Runs until stopped (SIGTERM or Ctrl-C finishes the document in flight). Each delivery is
    checked (signature, store) and recorded, then its order is read again from Jumpseller and
    handled as `invoice` would: paid -> invoice, cancelled -> credit note. Every
    [serve] sweep_minutes it also does all `invoice` does, so cron is no longer needed (a cron
    run beside it is safe: the two share iGEST's rate limit). It saves its hooks again at
    start and whenever webhooks stop arriving (a hook Jumpseller paused resumes). Quiet
    unless a person is needed; GET /healthz answers ("degraded" when webhooks stop).

    \b
    Examples:
      igest-sync serve
      igest-sync serve --home /srv/shops/a --home /srv/shops/b
      igest-sync serve --homes /srv/shops
    """
    from igest_sync import logsetup
    from igest_sync.errors import RunLocked
    from igest_sync.render.serve import Printer
    from igest_sync.serve.server import serve as run_server
    from igest_sync.serve.worker import StoreWorker

    state = state_of()
    setups = _stores(home or [], homes)
    state.secrets = [s for setup in setups for s in setup.config.secrets()]
    if len(setups) == 1 and setups[0].home is None:
        from igest_sync.cli.session import setup_logging

        setup_logging(state)
    else:
        logsetup.configure_stores(
            {s.name: s.state_path.parent / "logs" for s in setups},
            secrets=state.secrets,
            verbose=state.verbose,
        )
    listen_host, listen_port = _listen_address(setups, host, port)
    stop = threading.Event()
    signals = StopSignals().install()

    # Until the server polls the signals, a worker may wait for a run's lock to open its state
    # file: a stop signal must end that wait too (systemd kills a service that ignores it).
    def watch_signals() -> None:
        while not stop.wait(0.1):
            if signals:
                stop.set()

    threading.Thread(target=watch_signals, name="serve-signals", daemon=True).start()
    printer = Printer(several=len(setups) > 1, secrets=state.secrets)
    workers: list[StoreWorker] = []
    try:
        for setup in setups:
            try:
                worker = StoreWorker(
                    setup,
                    stop,
                    on_report=printer.report,
                    on_error=printer.problem,
                    on_degraded=printer.degraded,
                )
            except RunLocked:
                if stop.is_set():  # stopped while a run held the lock: nothing was started
                    return
                raise
            workers.append(worker)
        run_server(
            workers,
            listen_host,
            listen_port,
            stop,
            on_ready=printer.listening,
            stop_requested=signals.__bool__,
        )
    finally:
        stop.set()
        for setup in setups:
            for close in setup.closers:
                close()


# -- the stores ------------------------------------------------------------------------------


def _stores(homes: list[Path], folder: Path | None) -> list[StoreSetup]:
    """One setup per store: the global --config/--state one, or each home's."""
    from igest_sync.cli.session import config_path, load_config, state_path
    from igest_sync.config import paths
    from igest_sync.errors import UsageError

    chosen = list(homes)
    if folder is not None:
        if not folder.is_dir():
            raise UsageError(f"--homes {folder}: no such folder.")
        found = sorted(p for p in folder.iterdir() if (p / paths.CONFIG_FILE).is_file())
        if not found:
            raise UsageError(
                f"--homes {folder}: no subfolder has a {paths.CONFIG_FILE}.",
                hint="Each store is a subfolder with its own config.toml (igest-sync init "
                "with IGEST_SYNC_HOME set to that subfolder writes one).",
            )
        chosen += found
    state = state_of()
    if not chosen:
        config = load_config(state)
        return [_setup(config, state_path(state), None, config_path(state))]
    setups = []
    for home in dict.fromkeys(p.resolve() for p in chosen):
        config = _load_home(home)
        setups.append(_setup(config, home / paths.STATE_FILE, home, home / paths.CONFIG_FILE))
    _refuse_shared(setups)
    return setups


def _load_home(home: Path) -> Config:
    """A store's own config. Each store's credentials come from its own file: the process's
    IGEST_SYNC_* variables would give every store the same ones."""
    import shlex

    from igest_sync import render
    from igest_sync.config import load_config, paths
    from igest_sync.errors import ConfigError

    path = home / paths.CONFIG_FILE
    try:
        config, warnings = load_config(path, env={})
    except ConfigError as exc:
        if not path.exists():  # a bare `init` writes the default home's, not this store's
            exc.hint = f"Create it with `IGEST_SYNC_HOME={shlex.quote(str(home))} igest-sync init`."
        raise
    for warning in warnings:
        render.warn(warning)
    return config


def _setup(config: Config, state_file: Path, home: Path | None, where: Path) -> StoreSetup:
    from igest_sync.errors import ConfigError
    from igest_sync.serve.worker import StoreSetup

    if not config.jumpseller.hooks_token:
        raise ConfigError(
            f"serve cannot check webhooks for {where}: [jumpseller] hooks_token is not set.",
            hint="Copy it from Jumpseller (Admin Panel > Config > Notifications > Webhooks) "
            "into the config, or set IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN.",
        )
    js, ig = make_clients(config, state_file)
    vies = make_vies(config)
    name = config.jumpseller.store if home is None else f"{config.jumpseller.store} ({home})"
    return StoreSetup(
        name=name,
        config=config,
        state_path=state_file,
        jumpseller=js,
        igest=ig,
        home=home,
        closers=[js.close, ig.close, vies.close],
        vies=vies,
    )


def _refuse_shared(setups: list[StoreSetup]) -> None:
    """Two homes that are one store, share a state file or a hook path are refused before
    anything is opened: two workers of one store, each with its own state file, sweep the
    same orders and invoice some of them twice."""
    from igest_sync.errors import ConfigError

    paths: dict[str, StoreSetup] = {}
    stores: dict[str, StoreSetup] = {}
    logins: dict[tuple[str, str], StoreSetup] = {}
    states: dict[Path, StoreSetup] = {}
    for setup in setups:
        path = setup.config.serve.hook_path
        other = paths.setdefault(path, setup)
        if other is not setup:
            raise ConfigError(
                f"serve: {other.home} and {setup.home} would both receive webhooks on {path}.",
                hint="Give each store its own [serve] public_url path "
                "(https://host/hooks/<store>, say) and register it with `igest-sync hooks "
                "install`.",
            )
        # One store by its references' code, or by its Jumpseller login whatever code each
        # home gives it (a copy given a code of its own: two references per order, neither
        # home finding the other's invoice, every order invoiced twice).
        jumpseller = setup.config.jumpseller
        store = jumpseller.store
        login = (jumpseller.base_url.rstrip("/"), jumpseller.login.casefold())
        other = stores.setdefault(store, setup)
        if other is setup and (other := logins.setdefault(login, setup)) is not setup:
            store = f"with the login {jumpseller.login}"
        if other is not setup:
            raise ConfigError(
                f"serve: {other.home} and {setup.home} are both the Jumpseller store {store}; "
                "each would invoice its orders, some of them twice.",
                hint="Serve each store from one home: remove the copy, or give it the other "
                "store's [jumpseller] login and tokens.",
            )
        state = setup.state_path.resolve()
        other = states.setdefault(state, setup)
        if other is not setup:
            raise ConfigError(
                f"serve: {other.home} and {setup.home} would use one state file, {state}.",
                hint="Each store needs its own state file: replace the link in one home by "
                "that store's own file.",
            )


def _listen_address(
    setups: list[StoreSetup], host: str | None, port: int | None
) -> tuple[str, int]:
    from igest_sync.errors import ConfigError

    addresses = {(s.config.serve.host, s.config.serve.port) for s in setups}
    if (host is None or port is None) and len(addresses) > 1:
        listed = ", ".join(f"{s.home}: {s.config.serve.host}:{s.config.serve.port}" for s in setups)
        raise ConfigError(
            f"serve: the stores ask for different addresses ({listed}); one process listens "
            "on one.",
            hint="Give them the same [serve] host and port, or pass --host and --port.",
        )
    first = setups[0].config.serve
    return (host or first.host, port or first.port)
