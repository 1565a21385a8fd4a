"""What a run works with, in one object: its settings, the ledger, the three services and the
clock.

A ``RunContext`` is built in one place, ``RunContext.build`` (called by the CLI's composition
root, ``cli/composition.py``, by ``serve``'s worker for each unit of work, and by the tests),
and handed down: every class of a run takes the context, or the parts of it it needs, never the
whole ``Config`` and never another run's insides.

``clock`` is the run's one clock: a run reads it once as it starts (``now()``), tests pass a
virtual one. ``workers`` is the one setting that governs every command that works in parallel
(``[invoice] concurrency``): ``invoice``, ``resend`` and ``serve``'s webhook batches (the
catalogue commands work one item at a time). Every request is paced to the service's limits
whatever it is, so a rate-limit hint points at another program sharing the credentials.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Self

from igest_sync.config import Config, InvoiceConfig
from igest_sync.models import ViesCheck
from igest_sync.runs.services import IgestApi, JumpsellerApi, ViesApi
from igest_sync.state.database import Clock
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import utc_now

if TYPE_CHECKING:
    from igest_sync.adapters.vies import ViesClient

__all__ = ["Clock", "RunContext", "ViesOnDemand"]  # Clock: the type of a run's clock


@dataclass(frozen=True)
class RunContext:
    """The settings a run needs, its ledger, its three clients and its clock."""

    settings: InvoiceConfig  # [invoice]
    store: str  # [jumpseller] store: the prefix of every external reference
    unreachable_minutes: int  # [alerts]: how long a passing failure stays quiet
    ledger: Ledger
    jumpseller: JumpsellerApi
    igest: IgestApi
    vies: ViesApi
    clock: Clock = utc_now
    sweep_minutes: int = 10  # [serve]: a serve that stops sweeping is told by cron's runs

    def now(self) -> datetime:
        return self.clock()

    @property
    def workers(self) -> int:
        """How many orders a run works on at a time (``[invoice] concurrency``)."""
        return self.settings.concurrency

    @classmethod
    def build(
        cls,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        *,
        vies: ViesApi | None = None,
        now: datetime | Clock | None = None,
    ) -> RunContext:
        """The one way a context is made from a config. ``now``: a clock, or a fixed time (a
        test's); ``vies``: the VIES client (one for ``[vies] base_url``, opened at its first
        check, when none is given)."""
        if vies is None:
            vies = ViesOnDemand(config.vies.base_url)
        if now is None:
            clock: Clock = utc_now
        elif isinstance(now, datetime):
            fixed = now

            def clock() -> datetime:
                return fixed
        else:
            clock = now
        return cls(
            settings=config.invoice,
            store=config.jumpseller.store,
            unreachable_minutes=config.alerts.unreachable_minutes,
            ledger=ledger,
            jumpseller=jumpseller,
            igest=igest,
            vies=vies,
            clock=clock,
            sweep_minutes=config.serve.sweep_minutes,
        )


class ViesOnDemand:
    """The VIES client (public, no credentials), a run's third service: opened at its first
    check, since most runs have no intra-EU order to check, then kept for the run (one pacing
    gate). Thread-safe: the run's workers share it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._client: ViesClient | None = None
        self._lock = threading.Lock()

    def check(self, vat_number: str, *, requester: str, today: date) -> ViesCheck:
        with self._lock:
            if self._client is None:
                from igest_sync.adapters.vies import ViesClient

                self._client = ViesClient(self.base_url)
            client = self._client
        return client.check(vat_number, requester=requester, today=today)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
