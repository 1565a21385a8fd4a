"""The forked CLI runner (tests/support/forked.py) behaves as `python -m igest_sync` does.

The e2e and fault tests run the CLI through it; if it drifted from a real interpreter (an
environment read too early, output lost at exit, another exit code), they would test something
else than what a merchant runs. Each case runs both ways and compares.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import igest_sync
from tests.support import forked

pytestmark = pytest.mark.skipif(
    not forked.available(), reason="the forked runner is Linux-only and may be turned off"
)


def _both(
    args: list[str], env: dict[str, str]
) -> tuple[forked.Finished, subprocess.CompletedProcess]:
    fork = forked.run(args, env=env, timeout=60)
    real = subprocess.run(
        [sys.executable, "-m", "igest_sync", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return fork, real


@pytest.mark.parametrize(
    ("args", "columns"),
    [
        (["--version"], "80"),
        (["--help"], "80"),
        (["status", "--help"], "60"),  # the width comes from this call's COLUMNS
        (["status"], "80"),  # "nothing issued yet" on a fresh home
        (["status", "--json"], "200"),
        (["no-such-command"], "80"),  # a usage error: exit 2 and its message on stderr
        (["--config", "missing.toml", "invoice"], "80"),  # an error of ours, with its exit code
    ],
)
def test_the_forked_run_prints_and_exits_as_a_new_interpreter(tmp_path, args, columns):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path), "COLUMNS": columns}
    fork, real = _both(args, env)
    assert (fork.returncode, fork.stdout, fork.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_each_call_has_its_own_environment_and_process(tmp_path):
    first = forked.run(["status"], env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path / "a")})
    narrow = forked.run(["--help"], env={**os.environ, "COLUMNS": "50"})
    wide = forked.run(["--help"], env={**os.environ, "COLUMNS": "120"})
    assert first.returncode == 0 and (tmp_path / "a").is_dir()  # this call's home
    # Each call's help is wrapped to its own COLUMNS, not to the first call's.
    assert "  Issue AT-certified iGEST invoices for paid\n" in narrow.stdout
    assert "  Issue AT-certified iGEST invoices for paid Jumpseller orders" in wide.stdout


def test_a_call_that_runs_too_long_is_killed(tmp_path):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    with pytest.raises(subprocess.TimeoutExpired):
        # The sandbox serves until it is stopped.
        forked.run(["sandbox"], env=env, timeout=1.5)
    assert forked.run(["--version"], env=env).returncode == 0  # the next call still runs


def test_a_forked_process_counts_its_own_start():
    # igest_sync.PROCESS_START bounds how much of iGEST's rate window an earlier run used; in
    # a forked child (the runner's calls) everything the parent sent came before the fork.
    before = igest_sync.PROCESS_START
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.write(write, repr(igest_sync.PROCESS_START).encode())
        os._exit(0)
    os.close(write)
    child_start = float(os.read(read, 100))
    os.close(read)
    os.waitpid(pid, 0)
    assert child_start > before == igest_sync.PROCESS_START


def _server_side(code: str) -> subprocess.CompletedProcess:
    # As the fork server runs: a fresh interpreter at the repository's root.
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=forked.ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_the_server_forgets_the_modules_that_read_the_terminal_at_import():
    done = _server_side(
        "import sys\n"
        "from tests.support import forked\n"
        "forked._warm()\n"
        "print(sorted(n for n in sys.modules if n.startswith(forked.UNWARMED)))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_the_server_refuses_a_module_that_kept_a_function_of_a_forgotten_one():
    done = _server_side(
        "import importlib\n"
        "import igest_sync.models\n"
        "from tests.support import forked\n"
        "family = importlib.import_module('igest_sync.render.invoicing')\n"
        "igest_sync.models.kept = family.invoice_report\n"
        "del family\n"
        "forked._forget(('igest_sync.render',))\n"
    )
    assert done.returncode != 0
    assert "igest_sync.models.kept keeps igest_sync.render.invoicing" in done.stderr


def test_started_calls_run_side_by_side_and_one_can_be_killed(tmp_path):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    serving = forked.start(["sandbox"], env=env)  # serves until it is stopped
    quick = forked.start(["--version"], env=env)
    assert quick.wait(timeout=60) == 0  # ended while the other still runs
    assert "igest-sync" in quick.stdout.read()
    assert serving.poll() is None
    serving.kill()
    assert serving.wait(timeout=10) == -9
    assert forked.run(["--version"], env=env).returncode == 0  # the server goes on


def test_a_kill_after_the_call_ended_unreported_is_a_no_op(tmp_path, monkeypatch):
    """The server may reap a call before its report reaches the test: a kill in between finds
    no process, which ``subprocess.Popen.kill`` takes in its stride; so must ours."""
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    quick = forked.start(["--version"], env=env)
    server = quick._server
    code = server.ended(quick.pid, 60)  # reaped: its pid no longer names a process
    monkeypatch.setattr(server, "ended", lambda pid, timeout: None)  # the report still unread
    quick.kill()
    monkeypatch.undo()
    assert code == 0
