"""The real CLI in the test's own process, against a sandbox through httpx's ``WSGITransport``:
for the e2e and fault tests that neither kill nor signal the CLI.

A call is ``run_app`` (what ``python -m igest_sync`` runs) with the call's environment, empty
stdin and captured stdout/stderr. What a new process would start afresh is made fresh here:

* its renderer (``render.rendering``, entered by the app's callback) is made from the call's
  environment and streams; the modules that read them when imported (``forked.UNWARMED``:
  typer's rich help) are imported again by the call;
* the package's logging is set up by the call as in a new process, and put back as it was
  after it (``logsetup.separate``);
* ``igest_sync.PROCESS_START`` is the call's start.

The clients are the CLI's own (``cli/composition.make_clients``), with two things a test supplies:
the transport to the sandbox's emulators (only for a base URL that is the sandbox's: a config that
names another host still goes over the network), and the clock and sleep their pacing uses, the
sandbox's virtual clock when it has one (``sb.virtual_clock``), so that pacing and Retry-After waits
cost no wall time. A run's worker threads call the emulators directly, so the sandbox's rate
limiters read the same clock at the moment of each request.

The CLI's wall clock (``cli/composition.wall_clock``: what its ledger stamps, what "today" is to its
runs) is the sandbox's (``sb.clock``), so that the two agree on the day whatever day the sandbox
lives in: the real one by default, a fixed one on the e2e tests' virtual clock.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.support import forked


def run(
    args: Sequence[str], *, env: Mapping[str, str], sandbox: Any, clock: Any = None
) -> forked.Finished:
    """``igest-sync *args`` in this process; ``clock`` (a ``VirtualClock``) paces its clients."""
    import igest_sync
    from igest_sync import logsetup
    from igest_sync.cli import composition, errors

    _forget(forked.UNWARMED)
    stdout, stderr = io.StringIO(), io.StringIO()
    real_make_clients, real_wall_clock = composition.make_clients, composition.wall_clock
    composition.make_clients = _make_clients(real_make_clients, sandbox, clock)  # type: ignore
    composition.wall_clock = sandbox.clock
    igest_sync.PROCESS_START = time.monotonic()
    try:
        # The call sets up its own logging, as a new process would (whatever a test before
        # it in this worker left set up), and leaves the worker's as it was.
        with logsetup.separate(), _environment(env), _streams(stdout, stderr):
            code = errors.run_app(_command(), list(args))
    finally:
        composition.make_clients = real_make_clients  # type: ignore[assignment]
        composition.wall_clock = real_wall_clock
        _forget(forked.UNWARMED)  # no console bound to this call's streams stays behind
    return forked.Finished(code, stdout.getvalue(), stderr.getvalue())


@functools.cache
def _command() -> Any:
    """The app's click command, built once: typer builds it from the commands' signatures on
    every call (what ``app(...)`` does first), the same every time."""
    import typer.main

    from igest_sync.cli import app

    return typer.main.get_command(app)


def _make_clients(real: Any, sandbox: Any, clock: Any) -> Any:
    """The CLI's own ``make_clients`` (``real``), with what a test supplies: a transport to the
    sandbox's emulators (only for a base URL that is the sandbox's), and the pacing clock."""

    def make_clients(config: Any, state_file: Path) -> tuple[Any, Any]:
        pacing = (
            {}
            if clock is None
            else {"clock": clock, "sleep": clock.sleep, "wall_clock": clock.time}
        )

        def options(app: Any, base_url: str, own_url: str) -> dict[str, Any]:
            if base_url != own_url:
                return dict(pacing)  # another host: over the network, as configured
            return {**pacing, "transport": httpx.WSGITransport(app=app)}

        return real(
            config,
            state_file,
            jumpseller_options=options(
                sandbox.jumpseller_app, config.jumpseller.base_url, sandbox.jumpseller_base_url
            ),
            igest_options=options(sandbox.igest_app, config.igest.base_url, sandbox.igest_base_url),
        )

    return make_clients


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _streams(stdout: io.StringIO, stderr: io.StringIO) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def _forget(names: Sequence[str]) -> None:
    """Drop the modules (and their submodules) so that the next import runs them again."""
    for name in names:
        for each in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
            module = sys.modules.pop(each)
            parent, _, child = each.rpartition(".")
            holder = sys.modules.get(parent)
            if holder is not None and getattr(holder, child, None) is module:
                delattr(holder, child)
