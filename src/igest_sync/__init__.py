"""igest-sync: AT-certified iGEST invoices for paid Jumpseller orders, exactly once."""

__version__ = "0.1.0"

import time as _time

# When this process started (monotonic clock): every request of an earlier run that ran
# before us was sent before this moment, which bounds how much of iGEST's rate window it used.
PROCESS_START = _time.monotonic()
