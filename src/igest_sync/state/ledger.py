"""The local state: checkpoint, what we know of each order, the documents issued, the run lock.

SQLite in the state directory, file mode 0600, one transaction per recorded step. The ledger is
a cache of intent and outcome, never the source of truth for "was this order invoiced": iGEST is
(see ``runs/invoicing/invoice.py``), so a lost ledger costs a lookup, never a second invoice.

Lifecycle of one piece of work (an invoice or a credit note for one order), ``work.state``:

    pending ──▶ requested ──▶ draft ──▶ finalizing ──▶ final
       │            │           │            │
       └────────────┴───────────┴────────────┴──▶ failed (reason, transient?, attempts)

In review mode (``[invoice] review``) an invoice stops at ``review`` after ``draft``: its checked
draft waits in iGEST for a person (``approve``), phase still ``draft``; ``approve`` carries it on
to ``finalizing`` and ``final``, ``approve --reject`` to ``failed`` (not transient).

``phase`` keeps the furthest step that may have reached iGEST (requested, draft, finalizing),
or "unverified" for work recorded while the ledger was empty: work with a phase set is looked
up by its external reference before anything is sent again.

``Ledger`` is a thin facade: it owns the ``Database`` (``state/database.py``: the connection,
the transactions and the one clock of state) and builds one store per concern over it, each with
only its own methods (``state/database.py``: ``Store``):

    ledger.meta             checkpoint, listings, run times (``state/meta.py``)
    ledger.works            orders and work (``state/work.py``)
    ledger.docs             documents, links, e-mails, credit notes (``state/documents.py``)
    ledger.checks           VIES answers, notices shown (``state/vies_and_notices.py``)
    ledger.credit_requests  credit work by request (``state/credit_requests.py``)
    ledger.inbox            serve's webhook inbox (``state/inbox.py``)
    ledger.alerts           the alerts outbox, what alerts and the digest read (``state/alerts.py``)

New code should call ``ledger.<store>.<method>`` (or take just the store it needs, as serve's
receiver takes the inbox). For every caller written before the stores, ``ledger.<method>``
still works: the facade forwards each public name to the one store that defines it (no name is
defined by two stores: the table below refuses it when the module is imported). The records
the stores return live in ``records``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Self

from igest_sync.state.alerts import AlertsStore
from igest_sync.state.credit_requests import CreditRequestsStore
from igest_sync.state.database import SHARED, Clock, Database, Store
from igest_sync.state.documents import DocumentRecord, DocumentsStore
from igest_sync.state.inbox import InboxStore
from igest_sync.state.lock import run_lock
from igest_sync.state.meta import MetaStore
from igest_sync.state.vies_and_notices import ChecksStore
from igest_sync.state.work import OrderRecord, WorkRecord, WorkStore

# Callers import the records from here, beside the Ledger that returns them.
__all__ = ["STORES", "DocumentRecord", "Ledger", "OrderRecord", "WorkRecord"]

# The facade's stores: attribute name and class, in the order the facade builds them.
STORES: tuple[tuple[str, type[Store]], ...] = (
    ("meta", MetaStore),
    ("works", WorkStore),
    ("docs", DocumentsStore),
    ("checks", ChecksStore),
    ("credit_requests", CreditRequestsStore),
    ("inbox", InboxStore),
    ("alerts", AlertsStore),
)


def own_names(store: type[Store]) -> set[str]:
    """The public names a store class defines itself (``Store``'s shared ones left out)."""
    return {name for name in dir(store) if not name.startswith("_")} - set(dir(Store))


def _owners() -> dict[str, str]:
    """Each public name of a store, to the attribute of the store that defines it."""
    owners = dict.fromkeys(SHARED, "meta")
    for attribute, store in STORES:
        for name in own_names(store):
            if name in owners:
                raise TypeError(f"{store.__name__}.{name} is also in ledger.{owners[name]}")
            owners[name] = attribute
    return owners


OWNERS = _owners()

if TYPE_CHECKING:
    # For the type checker the facade has every store's methods, with their signatures: it
    # forwards them at run time (``Ledger.__getattr__``).
    class _Forwarded(
        MetaStore,
        WorkStore,
        DocumentsStore,
        ChecksStore,
        CreditRequestsStore,
        InboxStore,
        AlertsStore,
    ): ...
else:
    _Forwarded = object


class Ledger(_Forwarded):
    """One open state file and its stores. Thread-safe: every statement takes the connection
    lock. ``clock``: the one clock of state (the times the stores write); the system's UTC
    clock when None."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.db = Database(path, clock=clock)
        self.meta = MetaStore(self.db)
        self.works = WorkStore(self.db)
        self.docs = DocumentsStore(self.db)
        self.checks = ChecksStore(self.db)
        self.credit_requests = CreditRequestsStore(self.db)
        self.inbox = InboxStore(self.db)
        self.alerts = AlertsStore(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_lock(self) -> contextlib.AbstractContextManager[None]:
        return run_lock(self.path)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> object:
            # Only names not found on the facade itself arrive here: a store's method.
            store = self.__dict__.get(OWNERS.get(name, ""))
            if store is None:
                stores = ", ".join(attribute for attribute, _ in STORES)
                raise AttributeError(
                    f"Ledger has no attribute {name!r}, nor has any of its stores ({stores})"
                )
            return getattr(store, name)
