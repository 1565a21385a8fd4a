"""What ``serve`` prints: only what a person must see, from the workers' threads one at a time.

A sweep or a webhook batch is shown as ``invoice`` shows its report (failures, notices; every
table on a terminal), headed by the store's name when one process serves several stores. A
problem that stops a store's work (refused credentials, say) is shown once, until it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from igest_sync.errors import IgestSyncError
    from igest_sync.runs.invoice_report import InvoiceReport

# ``render`` is imported where it is used: it reads the terminal when it is imported, and a
# module holding it from import time would keep the wrong one (tests/support/forked.py).


class Printer:
    def __init__(self, *, several: bool, secrets: Iterable[str]) -> None:
        self.several = several
        self.secrets = list(secrets)
        self._lock = threading.Lock()

    def listening(self, host: str, port: int) -> None:
        from igest_sync import render

        # For the person who started it at a terminal; nothing under a service manager.
        if render.err.is_terminal:
            render.err.print(f"Listening on {host}:{port}; Ctrl-C stops.")

    def report(self, store: str, report: InvoiceReport) -> None:
        from igest_sync import render

        with self._lock:
            if self.several and (report.failed or report.notices or report.still_failed):
                render.info(f"Store {store}:")
            render.invoice_report(report)

    def problem(self, store: str, exc: IgestSyncError) -> None:
        from rich.markup import escape

        from igest_sync import render

        with self._lock:
            if self.several:
                render.err.print(f"Store {escape(store)}:")
            render.error(exc, secrets=self.secrets)
