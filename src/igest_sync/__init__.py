"""igest-sync: AT-certified iGEST invoices for paid Jumpseller orders, exactly once."""

__version__ = "0.1.0"

import os as _os
import time as _time

# When this process started (monotonic clock): every request of an earlier run that ran
# before us was sent before this moment, which bounds how much of iGEST's rate window it used.
# Read it as ``igest_sync.PROCESS_START`` when needed: a forked child starts it again.
PROCESS_START = _time.monotonic()


def _started_now() -> None:
    global PROCESS_START
    PROCESS_START = _time.monotonic()


# A process forked from this one is a process of its own: whatever its parent sent came before
# the fork, so the fork is its start.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_started_now)
