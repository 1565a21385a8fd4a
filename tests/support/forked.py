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

Linux only (message-preserving Unix sockets, fork); elsewhere, or with
``IGEST_SYNC_TEST_SUBPROCESS=1``, callers run a new interpreter per call instead.
"""

from __future__ import annotations

import atexit
import io
import json
import locale
import os
import pkgutil
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

ROOT = Path(__file__).resolve().parents[2]

# Read COLUMNS, TERM, NO_COLOR or the terminal when imported: a call imports them itself. A
# package is forgotten with every module in it (render's family modules hold its consoles).
UNWARMED = ("igest_sync.render", "igest_sync.demo", "typer.rich_utils")

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


# -- the test side ------------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self._lock = threading.Lock()
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
        with (
            self._lock,
            open(os.devnull, "rb") as stdin,
            tempfile.TemporaryFile() as stdout,
            tempfile.TemporaryFile() as stderr,
        ):
            request = json.dumps({"args": args, "env": env, "cwd": cwd}).encode()
            fds = [stdin.fileno(), stdout.fileno(), stderr.fileno()]
            socket.send_fds(self._socket, [request], fds)
            pid = self._receive(None)["pid"]
            try:
                code = self._receive(timeout)["code"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._receive(None)
                raise subprocess.TimeoutExpired(["igest_sync", *args], timeout) from None
            return Finished(code, _text(stdout), _text(stderr))

    def _receive(self, timeout: float | None) -> dict:
        self._socket.settimeout(timeout)
        message = self._socket.recv(_MESSAGE)
        if not message:
            self._errors.seek(0)
            raise RuntimeError(
                "the CLI fork server stopped:\n" + self._errors.read().decode(errors="replace")
            )
        return json.loads(message)

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
    """Import everything a call needs, then, one request at a time until the test side closes
    the socket (it waits for each call to end), fork the call's child and report its pid, then
    its exit status."""
    _warm()
    requests = socket.socket(fileno=fd)
    while True:
        message, fds, _, _ = socket.recv_fds(requests, _MESSAGE, 3)
        if not message:
            return
        pid = os.fork()
        if pid == 0:
            requests.close()
            _child(json.loads(message), fds)
        for received in fds:
            os.close(received)
        requests.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)  # a timed-out call is killed by the test side
        requests.send(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode())


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

    http._tls_context()

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
