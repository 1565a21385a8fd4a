"""Suite-wide hooks."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# Each property test tries Hypothesis's usual 100 examples in the suite (no deadline: a busy
# machine must not fail a test); HYPOTHESIS_PROFILE=thorough tries 2,000 of each, for a change to
# the money, credit or mapping rules (README, "Run the tests").
PROFILES = {"suite": 100, "thorough": 2000}
for _name, _examples in PROFILES.items():
    settings.register_profile(_name, max_examples=_examples, deadline=None)


def pytest_configure(config: pytest.Config) -> None:
    """Load the Hypothesis profile; then compile the project's sources once, before the
    workers start.

    The suite starts many interpreters: the workers, a forked-CLI server in each, the real
    processes of the kill, serve and demo tests. Where PYTHONDONTWRITEBYTECODE is set (as on
    many CI images) none of them keeps what it compiled, so each compiled the package again:
    a quarter of the suite's CPU. The session compiles ``src/`` and the tests' helpers once,
    into the usual ``__pycache__`` folders (git ignores them), which every later interpreter
    reads, and has pytest rewrite the test modules' asserts once (``_rewrite_test_modules``);
    where bytecode is written anyway this only does early what the first import would do.
    """
    profile = os.environ.get("HYPOTHESIS_PROFILE", "suite")
    if profile not in PROFILES:
        raise pytest.UsageError(
            f"HYPOTHESIS_PROFILE={profile}: use one of {', '.join(PROFILES)} (or leave it unset)"
        )
    settings.load_profile(profile)
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller has done it
        return
    _temporary_files_in_memory(config)
    import compileall

    root = Path(__file__).resolve().parents[1]
    compileall.compile_dir(root / "src", quiet=2, workers=1)  # a read-only tree: nothing written
    # The tests' helpers (support, simulation); the test modules get pytest's own bytecode.
    compileall.compile_dir(root / "tests", quiet=2, workers=1, rx=_TEST_MODULE)
    _on_both_cores(lambda share: _rewrite_test_modules(config, share), _test_modules(config))


# Where Linux keeps files in memory (tmpfs), and how much room the suite wants there.
MEMORY_FOLDER = Path("/dev/shm")
ROOM_NEEDED = 512 * 2**20


def _temporary_files_in_memory(config: pytest.Config) -> None:
    """Put the session's temporary files (``tmp_path``, and the ``TMPDIR`` of every worker and
    every process the tests start) in memory where the machine offers it, unless the person
    running the suite chose a place (``TMPDIR``, ``--basetemp``).

    The ledger is SQLite with ``synchronous=FULL``: each commit waits for the disk's flush,
    which survives a power cut. No test can cut the power: the kills the tests make are a
    process's death, which loses nothing a commit wrote whether or not the disk flushed. On a
    virtual disk those flushes were 7 s of the suite's time with both cores idle. The product
    is unchanged: the ledger still asks for every flush; in memory, the kernel has none to do.
    """
    if os.environ.get("TMPDIR") or config.option.basetemp:
        return
    try:
        room = os.statvfs(MEMORY_FOLDER)
        usable = os.access(MEMORY_FOLDER, os.W_OK | os.X_OK)
    except (OSError, AttributeError):  # no such folder (macOS, Windows)
        return
    if usable and room.f_bavail * room.f_frsize >= ROOM_NEEDED:
        import tempfile

        os.environ["TMPDIR"] = str(MEMORY_FOLDER)  # inherited by the workers and their processes
        tempfile.tempdir = None  # read TMPDIR again, should anything have asked already


# A module pytest rewrites the asserts of (python_files' default, and the conftests).
_TEST_MODULE = re.compile(r"(^|[\\/])(test_[^\\/]*|conftest)\.py$")


def _test_modules(config: pytest.Config) -> list[Path]:
    """The test modules this session may collect: those named by, or under, its arguments
    (``tests`` when none is given)."""
    found: set[Path] = set()
    for argument in config.args:
        path = config.invocation_params.dir / argument.split("::")[0]
        found.update(path.rglob("*.py") if path.is_dir() else [path] if path.is_file() else [])
    return sorted(path.resolve() for path in found if _TEST_MODULE.search(str(path)))


def _on_both_cores(work: Callable[[list[Path]], None], paths: list[Path]) -> None:
    """``work`` on every other path in a forked child, and on the rest here, at once.

    Rewriting the test modules of a fresh clone is about 5 s of CPU, done before any worker
    starts: on one core, the other would idle through it. Where there is no fork (Windows),
    or nothing to share, all of it is done here. The child shares no state it could corrupt:
    each path is written to a file of its own, atomically, and the child leaves at once.
    """
    if not hasattr(os, "fork") or len(paths) < 2 or (os.cpu_count() or 1) < 2:
        work(paths)
        return
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's share; its files are what it leaves)
        try:
            work(paths[1::2])
        finally:
            os._exit(0)
    work(paths[::2])
    os.waitpid(child, 0)


def _rewrite_test_modules(config: pytest.Config, modules: list[Path]) -> None:
    """Write pytest's cached, assert-rewritten bytecode of ``modules``, as a worker's
    collection would if it could write bytecode.

    Without it, each worker rewrote all the test modules itself at every run of a fresh clone
    or under PYTHONDONTWRITEBYTECODE: about 2.5 s of CPU per worker, while the cores were
    needed elsewhere. This uses pytest's own rewriting, which is internal: if its shape
    changes, the workers simply rewrite as before.
    """
    try:
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for module in modules:
            cache = rewrite.get_cache_dir(module)
            pyc = cache / (module.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(module, pyc) is not None or not rewrite.try_makedirs(cache):
                continue
            source_hash, code = rewrite._rewrite_test(module, config)
            rewrite._write_pyc(state, code, source_hash, pyc)
    except Exception:  # noqa: BLE001 (an optimisation: never a reason to fail the session)
        return


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the tests that mostly wait among those that compute, on every worker.

    The tests marked ``slow(seconds)`` mostly wait (a real server, real kills, real time), so
    each should overlap quick tests that keep the CPU busy. pytest-xdist's ``worksteal``
    (pyproject.toml) hands each worker one contiguous share of this list and lets idle workers
    take from the others' tails. In each share the slow tests come longest first, spread
    through the first half of the share, and each worker's first slow test comes a little
    later than the previous worker's: were all of them at the heads of the shares, every
    worker would wait at once at the start while the cores idled. None is at a tail, where an
    idle worker could take it last. The order only depends on the collection, so every worker
    computes the same one (xdist checks that).
    """

    def seconds(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return float(slow.args[0]) if slow is not None and slow.args else 0.0

    slow = sorted((item for item in items if seconds(item)), key=seconds, reverse=True)
    quick = [item for item in items if not seconds(item)]
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for share in range(workers):
        size = remaining // (workers - share)  # as worksteal splits the list
        waits = slow[share::workers]
        mine = quick[: size - len(waits)]
        del quick[: size - len(waits)]
        # Slow test i of this share goes before quick test at ``start + i * gap``.
        gap = max(1, len(mine) // (2 * max(1, len(waits))))
        start = gap * share // workers
        spot = {start + i * gap: test for i, test in enumerate(waits)}
        for index, test in enumerate(mine):
            if index in spot:
                ordered.append(spot.pop(index))
            ordered.append(test)
        ordered += spot.values()  # a share with (almost) no quick tests
        remaining -= size
    items[:] = ordered + quick


@pytest.fixture(autouse=True)
def _logging_as_a_new_process_has_it():
    """Each test starts with the package's logging not set up, and leaves it so.

    A command run in the test's own process (a CliRunner call, ``run_app``) sets up the log
    file of its home once per process and turns propagation off: without this, the next test
    of the same worker logged into that earlier test's file, and ``caplog`` saw nothing, so a
    test passed or failed by what its worker happened to run before it."""
    from igest_sync import logsetup

    with logsetup.separate():
        yield


@pytest.fixture
def smtp():
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it takes."""
    from tests.support.alert_receivers import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def chat():
    """A real HTTP receiver on loopback for the alerts' chat webhooks."""
    from tests.support.alert_receivers import ChatReceiver

    receiver = ChatReceiver().start()
    yield receiver
    receiver.stop()
