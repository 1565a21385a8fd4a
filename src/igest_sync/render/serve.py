"""What ``serve`` prints: only what a person must see, from the workers' threads one at a time.

A sweep or a webhook batch is shown as ``invoice`` shows its report (failures, notices; every
table on a terminal), headed by the store's name when one process serves several stores. A
problem that stops a store's work (refused credentials, say) is shown once, until it changes;
so is real time degraded (webhooks no longer arrive), once per time it happens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.markup import escape

from igest_sync.render.console import Renderer, current, error, info, rendering
from igest_sync.render.invoicing import invoice_report

if TYPE_CHECKING:
    from igest_sync.errors import IgestSyncError
    from igest_sync.runs.invoicing.report import InvoiceReport
    from igest_sync.serve.watch import Degraded


class Printer:
    """The workers' reports and problems, one at a time (several threads print), through
    the renderer of the ``serve`` call that made it (a new thread has none of its own)."""

    def __init__(self, *, several: bool, secrets: Iterable[str]) -> None:
        self.several = several
        self.secrets = list(secrets)
        self.renderer: Renderer = current()
        self._lock = threading.Lock()

    def listening(self, host: str, port: int) -> None:
        # For the person who started it at a terminal; nothing under a service manager.
        if self.renderer.err.is_terminal:
            self.renderer.err.print(f"Listening on {escape(host)}:{port}; Ctrl-C stops.")

    def report(self, store: str, report: InvoiceReport) -> None:
        if not report.has_news:
            # A sweep that found nothing to do (the first one at start-up, most of them
            # after): no "Issued 0, failed 0, skipped 0" line.
            return
        with self._lock, rendering(self.renderer):
            if self.several and report.needs_a_person:
                info(f"Store {store}:")
            invoice_report(report)

    def problem(self, store: str, exc: IgestSyncError) -> None:
        with self._lock, rendering(self.renderer) as shown:
            if self.several:
                shown.err.print(f"Store {escape(store)}:")
            error(exc, secrets=self.secrets)

    def degraded(self, store: str, state: Degraded, fix: str) -> None:
        with self._lock:
            prefix = f"Store {escape(store)}: " if self.several else ""
            self.renderer.err.print(
                f"{prefix}[yellow]Real time is degraded:[/yellow] {escape(state.reason)}. "
                f"Paid orders are still invoiced by the sweep. {escape(fix)}.",
                highlight=False,
            )
