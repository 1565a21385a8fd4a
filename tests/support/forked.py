"""The real CLI, each call in a new process forked from a warm parent: for e2e and fault tests.

A CLI call as ``python -m igest_sync`` spends most of its CPU starting Python and importing
typer (which imports pydantic), rich, httpx and the package, about half a second; the suite
makes several hundred. Here one server process per test worker imports all that once, and each
call is a ``fork()`` of it that sets its environment, working directory, argv and standard
streams and then runs ``igest_sync`` as ``python -m`` does (``runpy``, ``atexit``, exit status).
A call is still its own process: its own pid, exit code, signals, file descriptors, module
globals and run lock, so a kill or a crash hook acts on it alone.

The server is a fresh interpreter with no threads (forking the test worker would copy the
sandbox's server threads' locks). A module that reads the environment or the terminal when it
is imported would keep the server's: ``UNWARMED`` lists those (rich consoles built at import,
typer's rich help); the server imports them, so that what they import is loaded, then forgets
them, so that each call imports them again with its own environment, and refuses to start if
another module kept a reference to one of them.

``start`` is the same call without waiting for it, for a test that runs several at once or
kills one (a ``subprocess.Popen`` look-alike): the server forks it and goes on; it reports
each call's end as it reaps it.

Linux only (message-preserving Unix sockets, fork); elsewhere, or with
``IGEST_SYNC_TEST_SUBPROCESS=1``, callers run a new interpreter per call instead.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import locale
import os
import pkgutil
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Read COLUMNS, TERM, NO_COLOR or the terminal when imported: a call imports them itself. Ours
# read nothing at import (each call makes its own renderer, render.rendering); typer's rich help
# does. A package would be forgotten with every module in it.
UNWARMED = ("typer.rich_utils",)

_MESSAGE = 1 << 20  # a request carries the whole environment: far below this


def available() -> bool:
    return sys.platform == "linux" and not os.environ.get("IGEST_SYNC_TEST_SUBPROCESS")


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run(args: Sequence[str], *, env: Mapping[str, str], timeout: float = 120) -> Finished:
    """``python -m igest_sync *args`` with ``env``, in this working directory, stdin from
    /dev/null, output captured (as ``subprocess.run(..., text=True)`` decodes it). Raises
    ``subprocess.TimeoutExpired`` after killing the call when it runs longer than ``timeout``."""
    return _server().call(list(args), dict(env), os.getcwd(), timeout)


def start(args: Sequence[str], *, env: Mapping[str, str], output: Any = None) -> Started:
    """``python -m igest_sync *args`` started and not waited for (see ``Started``); with
    ``output`` (an open binary file), its stdout and stderr both go there, as a ``Popen``
    given ``stdout=output, stderr=output`` would, and ``Started`` reads neither."""
    return _server().start(list(args), dict(env), os.getcwd(), output)


class Started:
    """A forked call still running: what tests use of ``subprocess.Popen`` (``pid``, ``poll``,
    ``wait``, ``send_signal``, ``kill``, ``terminate``, ``communicate``, and ``stdout``/``stderr``
    to read once it has ended)."""

    def __init__(self, server: _Server, pid: int, stdout: Any, stderr: Any) -> None:
        self._server = server
        self.pid = pid
        self._out, self._err = stdout, stderr
        self.returncode: int | None = None
        self.stdout: io.TextIOWrapper | None = None
        self.stderr: io.TextIOWrapper | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._ended(self._server.ended(self.pid, 0.0))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self._server.ended(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(["igest_sync"], timeout or 0.0)
            self._ended(code)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            # The call may end, and the server reap it, between the poll and the kill: the
            # signal then has no one to reach, as ``subprocess.Popen.send_signal`` allows.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        assert self.stdout is not None and self.stderr is not None
        return self.stdout.read(), self.stderr.read()

    def _ended(self, code: int | None) -> None:
        if code is None:
            return
        self.returncode = code
        if self._out is not None:
            self.stdout, self.stderr = (_reader(f) for f in (self._out, self._err))


# -- the test side ------------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the socket: one message exchange at a time
        self._calls = threading.Lock()  # ``call``: one waited-for call at a time
        self._codes: dict[int, int] = {}  # calls that ended and were not asked for yet
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from tests.support.forked import serve; serve({theirs.fileno()})",
            ],
            pass_fds=[theirs.fileno()],
            cwd=ROOT,  # `tests` is importable from here, as pytest's pythonpath makes it
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
        )
        theirs.close()
        self._socket = ours
        atexit.register(self.close)

    def call(self, args: list[str], env: dict[str, str], cwd: str, timeout: float) -> Finished:
        # One call at a time, as before ``start`` existed: tests that call from threads (cron
        # runs beside serve) rely on two calls never overlapping each other.
        with self._calls, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            pid = self._fork(args, env, cwd, stdout, stderr)
            code = self.ended(pid, timeout)
            if code is None:
                os.kill(pid, signal.SIGKILL)
                self.ended(pid, None)
                raise subprocess.TimeoutExpired(["igest_sync", *args], timeout)
            return Finished(code, _text(stdout), _text(stderr))

    def start(self, args: list[str], env: dict[str, str], cwd: str, output: Any = None) -> Started:
        if output is not None:
            return Started(self, self._fork(args, env, cwd, output, output), None, None)
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        return Started(self, self._fork(args, env, cwd, stdout, stderr), stdout, stderr)

    def _fork(
        self, args: list[str], env: dict[str, str], cwd: str, stdout: Any, stderr: Any
    ) -> int:
        with self._lock, open(os.devnull, "rb") as stdin:
            request = json.dumps({"args": args, "env": env, "cwd": cwd}).encode()
            fds = [stdin.fileno(), stdout.fileno(), stderr.fileno()]
            socket.send_fds(self._socket, [request], fds)
            while True:  # the ends of earlier calls may come first
                message = self._receive(None)
                if "started" in message:
                    return int(message["started"])

    def ended(self, pid: int, timeout: float | None) -> int | None:
        """The exit status of call ``pid``, waiting up to ``timeout``; None if still running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while pid not in self._codes:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    self._receive(left)  # 0: only what has already come
                except (TimeoutError, BlockingIOError):
                    return None
            return self._codes.pop(pid)

    def _receive(self, timeout: float | None) -> dict:
        """The server's next message; an end is also kept in ``_codes``."""
        self._socket.settimeout(timeout)
        message = self._socket.recv(_MESSAGE)
        if not message:
            self._errors.seek(0)
            raise RuntimeError(
                "the CLI fork server stopped:\n" + self._errors.read().decode(errors="replace")
            )
        content = json.loads(message)
        if "ended" in content:
            self._codes[int(content["ended"])] = int(content["code"])
        return content

    def close(self) -> None:
        self._socket.close()  # the server stops when it reads the end of its socket
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


_started: _Server | None = None
_starting = threading.Lock()


def _server() -> _Server:
    global _started
    with _starting:
        if _started is None or _started._process.poll() is not None:
            _started = _Server()
        return _started


def _reader(file: Any) -> io.TextIOWrapper:
    file.seek(0)
    return io.TextIOWrapper(file, encoding=locale.getpreferredencoding(False))


def _text(file: io.BufferedRandom) -> str:
    file.seek(0)
    # As subprocess.run(text=True): the locale's encoding, universal newlines.
    text = io.TextIOWrapper(file, encoding=locale.getpreferredencoding(False))
    try:
        return text.read()
    finally:
        text.detach()  # the file is closed by its owner


# -- the server side ------------------------------------------------------------------------------


def serve(fd: int) -> None:
    """Import everything a call needs, then, until the test side closes the socket, fork each
    call's child and report its pid (``started``), and report each child's exit status as it
    ends (``ended``). A child's end wakes the loop through SIGCHLD's wake-up pipe."""
    _warm()
    requests = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([requests, wake_read], [], [])
        if wake_read in ready:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
        if requests in ready:
            message, fds, _, _ = socket.recv_fds(requests, _MESSAGE, 3)
            if not message:
                return
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for own in (requests.fileno(), wake_read, wake_write):
                    os.close(own)
                _child(json.loads(message), fds)
            for received in fds:
                os.close(received)
            children.add(pid)
            requests.send(json.dumps({"started": pid}).encode())
        for pid in list(children):  # a killed call is killed by the test side
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                requests.send(json.dumps({"ended": pid, "code": code}).encode())


def _warm() -> None:
    """Import the package and everything it imports, then forget the modules in ``UNWARMED``
    (their own code runs again in each call, with that call's environment)."""
    import runpy  # noqa: F401 (each call runs igest_sync as __main__ through it)

    import igest_sync

    for module in pkgutil.walk_packages(igest_sync.__path__, "igest_sync."):
        if not module.name.endswith(".__main__"):
            __import__(module.name)
    for name in UNWARMED:
        __import__(name)
    # typer builds pydantic TypeAdapters for the options in each call: load that machinery.
    import pydantic.plugin._loader  # noqa: F401
    import typer._adapters  # noqa: F401
    from pydantic import TypeAdapter

    TypeAdapter(Path | None).validate_python("x")
    # The clients' TLS context (the CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR, which the
    # tests leave as the worker has them): made once per process, so here once for all calls.
    from igest_sync.adapters.http import service as http

    http.tls_context()

    _forget(UNWARMED)


def _forget(names: Sequence[str]) -> None:
    forgotten = {}
    for name in names:
        inside = sorted(n for n in sys.modules if n.startswith(name + "."))
        for each in [name, *inside]:
            module = sys.modules.pop(each)
            parent, _, child = each.rpartition(".")
            holder = sys.modules.get(parent) or forgotten[parent]
            if getattr(holder, child, None) is module:
                delattr(holder, child)  # else `from parent import child` finds it
            forgotten[each] = module
    # Nothing that stays may hold one of them, or what they define, from before a call.
    theirs = {id(module): name for name, module in forgotten.items()}
    for name, module in forgotten.items():
        for value in vars(module).values():
            if getattr(value, "__module__", None) == name:
                theirs[id(value)] = name
    for holder_name, holder in list(sys.modules.items()):
        for key, value in list(vars(holder).items()) if holder is not None else ():
            if id(value) in theirs:
                raise SystemExit(
                    f"{holder_name}.{key} keeps {theirs[id(value)]} imported before a call "
                    "set its environment: import it inside the function that needs it"
                )


def _child(request: dict, fds: list[int]) -> None:
    code = 70  # EX_SOFTWARE: the call could not even start
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.chdir(request["cwd"])
        _fresh_std_streams()
        code = _run_module(request["args"])
    finally:
        os._exit(code)


def _fresh_std_streams() -> None:
    """Standard streams as a new interpreter makes them for these descriptors and environment."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding = os.environ.get("PYTHONIOENCODING") or locale.getpreferredencoding(False)

    def stream(fd: int, mode: str, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors=errors,
            line_buffering=os.isatty(fd),
            write_through=unbuffered and mode == "w",
        )

    sys.stdin = sys.__stdin__ = stream(0, "r", "strict")
    sys.stdout = sys.__stdout__ = stream(1, "w", "strict")
    sys.stderr = sys.__stderr__ = stream(2, "w", "backslashreplace")


def _run_module(args: list[str]) -> int:
    import runpy

    sys.argv = ["-m", *args]
    try:
        runpy.run_module("igest_sync", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = _exit_status(exit_.code)
    except BaseException:  # noqa: BLE001 (printed and exit 1, as the interpreter does)
        sys.excepthook(*sys.exc_info())
        code = 1
    # What the interpreter does on its way out: join threads, atexit, flush.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    return code


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
