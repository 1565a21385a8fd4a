"""Stop signals (cli/signals.py): recorded by a handler that takes no lock, acted on by the
main thread. A handler that set a ``threading.Event`` could hang the process for good when the
signal came while the main thread held that Event's lock (``sandbox`` once ignored a SIGTERM)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from igest_sync.cli.signals import StopSignals

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")


@pytest.fixture
def usr1() -> Iterator[int]:
    saved = signal.getsignal(signal.SIGUSR1)
    yield signal.SIGUSR1
    signal.signal(signal.SIGUSR1, saved)


def test_a_signal_while_the_main_thread_holds_a_lock_is_recorded_and_nothing_waits(usr1):
    stopping = StopSignals().install(["SIGUSR1"])
    assert not stopping
    held = threading.Lock()
    with held:  # as the main thread is inside an Event's wait() or set() at that instant
        signal.raise_signal(usr1)
        assert stopping.received == [usr1]  # the handler ran, here, and returned
    assert stopping


def test_wait_returns_once_another_process_sends_the_signal(usr1):
    stopping = StopSignals().install(["SIGUSR1"])
    sender = threading.Timer(0.05, os.kill, (os.getpid(), usr1))
    sender.start()
    stopping.wait(step=0.01)  # would never return had the signal been lost
    sender.join()
    assert stopping.received == [usr1]


def test_only_the_main_thread_installs_handlers(usr1):
    before = signal.getsignal(usr1)
    installed: list[object] = []
    thread = threading.Thread(target=lambda: installed.append(StopSignals().install(["SIGUSR1"])))
    thread.start()
    thread.join()
    assert installed and signal.getsignal(usr1) is before
